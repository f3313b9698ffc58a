"""Recovery points in Azure Storage: the forms of ``spec/recovery-point.md`` given as URLs.

- A blob URL is a disk image (form 3), such as the SAS URL ``az disk grant-access --access-level Read`` or
  ``az snapshot grant-access`` prints; its format is found from its content, never its name. Local image files
  may be given beside it.
- A container URL, a virtual folder's URL (ending in ``/``), or the URL of a ``config-<vm>-<job>.json`` blob is a
  restore-disks job's output read in place (form 1): the config is read, and each ``vhd.uri`` is found by its blob
  name beside the config, with the same SAS token.
- A local ``recoverypoint.json`` (form 2) may name blob URLs as ``disks[].image``
  (:func:`restorekit.recoverypoint.open_recovery_point` handles that).

Only names and documents are read here; the images are opened later, like local ones.
"""

from __future__ import annotations

import fnmatch
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING

from restorekit.fs.errors import RecoveryPointError
from restorekit.fs.remote.auth import StorageAuth
from restorekit.fs.remote.container import list_blob_names, read_small_blob
from restorekit.fs.remote.http import Transport
from restorekit.fs.remote.url import BlobUrl, is_url
from restorekit.jsonio import parse_json_bytes
from restorekit.recoverypoint import CONFIG_GLOB, DiskRef, RecoveryPoint, config_recovery_point

if TYPE_CHECKING:
    from collections.abc import Sequence


def open_remote_recovery_point(paths: Sequence[str]) -> RecoveryPoint:
    """Open a recovery point of which at least one path is a URL."""
    auth = StorageAuth.from_environment()
    urls = {p: _parse(p) for p in paths if is_url(p)}
    if len(paths) == 1:
        url = urls[paths[0]]
        if not url.blob or url.blob.endswith("/"):
            return _open_folder(url, auth, Transport())
        if fnmatch.fnmatch(posixpath.basename(url.blob).lower(), CONFIG_GLOB):
            return _open_config(url, auth, Transport(), None)
    disks: list[DiskRef] = []
    for index, path in enumerate(paths):
        url = urls.get(path)
        if url is None:
            if not Path(path).is_file() or path.lower().endswith(".json"):
                raise RecoveryPointError("beside a blob URL, give only disk image files", path=path,
                                         hint="pass one recovery point, or only disk images (local or blob URLs)")
            disks.append(DiskRef(DiskRef.id_for(None, index), Path(path)))
        elif not url.blob or url.blob.endswith("/") or url.blob.lower().endswith(".json"):
            raise RecoveryPointError("a container, folder or JSON URL must be the only path given", path=url.display,
                                     hint="pass one recovery point, or only disk images (local or blob URLs)")
        else:
            disks.append(DiskRef(DiskRef.id_for(None, index), path))
    return RecoveryPoint("images", disks)


def _parse(text: str) -> BlobUrl:
    try:
        return BlobUrl.parse(text)
    except ValueError as exc:
        raise RecoveryPointError(f"not a blob or container URL: {exc}", path=text.split("?", 1)[0],
                                 hint="expected https://ACCOUNT.blob.core.windows.net/CONTAINER[/BLOB]?SAS") from None


def _open_folder(url: BlobUrl, auth: StorageAuth, transport: Transport) -> RecoveryPoint:
    names = list_blob_names(url, auth, transport)
    configs = sorted(n for n in names if fnmatch.fnmatch(posixpath.basename(n).lower(), CONFIG_GLOB))
    if len(configs) > 1:
        raise RecoveryPointError("holds more than one config-*.json: " + ", ".join(configs), path=url.display,
                                 hint="pass the URL of the one you mean (…/config-….json?SAS)")
    if not configs:
        raise RecoveryPointError("holds no restore-disks config-*.json", path=url.display,
                                 hint="give the container or folder a restore-disks job wrote to, or the disk's "
                                      "own blob URL")
    return _open_config(url.sibling(configs[0]), auth, transport, set(names))


def _open_config(config: BlobUrl, auth: StorageAuth, transport: Transport, names: set[str] | None) -> RecoveryPoint:
    doc = parse_json_bytes(read_small_blob(config, auth, transport), where=config.display)
    folder = posixpath.dirname(config.blob)

    def locate(name: str, disk_id: str, uri: str, field_path: str) -> str:
        blob = posixpath.join(folder, name) if folder else name
        if names is not None and blob not in names:
            raise RecoveryPointError(
                f"{field_path}.vhd.uri: disk {disk_id} image {name!r} (from {uri.split('?', 1)[0]}) is not in the "
                "container",
                path=config.display, hint="the restore job's VHD blobs must be beside its config-*.json")
        return config.sibling(blob).with_query()

    return config_recovery_point(doc, config.display, locate, config_path=config.display)
