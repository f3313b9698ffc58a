"""A recovery point: the disks of one VM at one moment, plus what is known about it.

Opens the three input forms of ``spec/recovery-point.md``:

1. a restore-disks staging folder (``config-<vm>-<job>.json`` + the VHDs named by its ``vhd.uri``s),
2. a manifest ``recoverypoint.json`` (or a folder holding one),
3. bare image files.

Nothing here opens an image: :attr:`RecoveryPoint.disks` says which file is which disk.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from restorekit.facts import fact_warnings
from restorekit.fs.errors import RecoveryPointError
from restorekit.fs.images.raw import split_segments
from restorekit.fs.remote.url import is_url
from restorekit.jsonio import ci_get, load_json, unflatten

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from restorekit.outfile import Protected

MANIFEST = "recoverypoint.json"
CONFIG_GLOB = "config-*.json"
OS_LUN = -1


@dataclass(frozen=True)
class DiskRef:
    """One disk of the recovery point and the image file that holds it."""

    id: str
    #: A local file, or a blob's URL (a ``str``, with its SAS token, so never shown: :attr:`shown` is).
    image: Path | str
    lun: int | None = None
    name: str | None = None
    #: False when the JSON names the image but it is not there (``show``, ``plan`` and ``template`` go on
    #: from the JSON: the scan skips the disk, and the template deploys from the blob the JSON names).
    present: bool = True

    @property
    def shown(self) -> str:
        """The image as messages and JSON name it: the path, or the URL without its query."""
        return self.image.split("?", 1)[0] if isinstance(self.image, str) else str(self.image)

    @staticmethod
    def id_for(lun: int | None, index: int) -> str:
        """``os`` for LUN -1, ``lun<N>`` for data disks, ``d<index>`` when LUNs are not known."""
        if lun is None:
            return f"d{index}"
        return "os" if lun == OS_LUN else f"lun{lun}"


@dataclass
class RecoveryPoint:
    """What a user handed us, normalised."""

    form: str  # "restore-disks-folder", "manifest" or "images"
    disks: list[DiskRef]
    root: Path | None = None
    #: The protected VM, shaped like ``az vm show -o json`` (a config-*.json is unflattened into it).
    vm: dict[str, Any] | None = None
    recovery_point: dict[str, Any] | None = None
    network_interfaces: list[dict[str, Any]] = field(default_factory=list)
    vault: dict[str, Any] | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    #: The config-*.json of form 1 (its URL without the query when it was read from a container).
    config_path: Path | str | None = None
    template_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    manifest_path: Path | None = None
    _protected: Protected | None = field(default=None, init=False, repr=False, compare=False)

    def disk(self, disk_id: str) -> DiskRef:
        """The disk with this id; the error lists the ids there are."""
        for ref in self.disks:
            if ref.id == disk_id:
                return ref
        raise RecoveryPointError(
            f"no disk {disk_id!r} in this recovery point",
            hint="disks here: " + ", ".join(ref.id for ref in self.disks),
        )

    def json_files(self) -> list[Path]:
        """The recovery point's JSON files: its manifest, or the restore job's config and template."""
        return [p for p in (self.manifest_path, self.config_path, self.template_path) if isinstance(p, Path)]

    def refuse_output(self, out: Path, option: str) -> None:
        """Raise :class:`OutputError` when writing the file ``out`` would write, replace or create a file of the
        recovery point: an image of a disk's chain (or segments) or its JSON. ``option`` names the flag to change.
        Writing beside them is fine."""
        self.protected_files().check(out, option)

    def protected_files(self) -> Protected:
        """The files outputs must leave alone (the images are opened once to find their parents)."""
        if self._protected is None:
            from restorekit.disks import chain_files  # opening images is the image layer's business, not ours
            from restorekit.outfile import Protected  # only commands that write (extract, template) ask

            self._protected = Protected.of([*((p, "the JSON") for p in self.json_files()),
                                            *((p, "an image") for p in chain_files(self))])
        return self._protected


def open_recovery_point(paths: Sequence[str | Path], *, need_images: bool = True) -> RecoveryPoint:
    """Open a recovery point given as a folder, a manifest or configuration file, or image files.

    With ``need_images`` False (``show``, ``plan``, ``template``), a restore job's config-*.json whose VHDs were
    not downloaded still opens: those disks are marked not :attr:`~DiskRef.present`, with a note.
    """
    if not paths:
        raise RecoveryPointError("no recovery point given", hint="pass a folder, a recoverypoint.json or images")
    if any(is_url(str(p)) for p in paths):
        from restorekit.remote import open_remote_recovery_point

        return open_remote_recovery_point([str(p) for p in paths])
    items = [Path(p) for p in paths]
    for item in items:
        if not item.exists():
            raise RecoveryPointError("does not exist", path=str(item), hint="check the path")
    if len(items) == 1 and items[0].is_dir():
        return _open_folder(items[0], need_images)
    if len(items) == 1 and items[0].suffix.lower() == ".json":
        if re.fullmatch(r"config-.*\.json", items[0].name, re.IGNORECASE):
            return _open_config(items[0], need_images)
        return _open_manifest(items[0])
    for item in items:
        if item.is_dir() or item.suffix.lower() == ".json":
            raise RecoveryPointError("a folder or JSON file must be the only path given", path=str(item),
                                     hint="pass one recovery point folder or manifest, or only image files")
    disks = _whole_disks(items)
    return RecoveryPoint("images", [DiskRef(DiskRef.id_for(None, i), item) for i, item in enumerate(disks)])


def _whole_disks(items: list[Path]) -> list[Path]:
    """The image files given, each later segment of a split raw image dropped when its first segment is given
    too (opening the first segment reads them all)."""
    later = {Path(segment).resolve() for item in items for segment in split_segments(str(item))[1:]}
    return [item for item in items if item.resolve() not in later]


def _open_folder(folder: Path, need_images: bool) -> RecoveryPoint:
    if (folder / MANIFEST).is_file():
        return _open_manifest(folder / MANIFEST)
    configs = sorted(folder.glob(CONFIG_GLOB))
    if len(configs) > 1:
        raise RecoveryPointError(
            "holds more than one config-*.json: " + ", ".join(c.name for c in configs), path=str(folder),
            hint="pass the one you mean: restorekit inspect FOLDER/config-....json",
        )
    if configs:
        return _open_config(configs[0], need_images)
    raise RecoveryPointError(
        f"holds neither {MANIFEST} nor a restore-disks config-*.json", path=str(folder),
        hint="pass the image files themselves, or write a recoverypoint.json (see the README)",
    )


MANIFEST_HINT = ("each member of recoverypoint.json is the JSON an `az ... -o json` command prints, "
                 "facts as the README lists them")
CONFIG_HINT = "a restore job's config-*.json describes the VM as `az vm show -o json` does; was it edited?"


def _open_manifest(path: Path) -> RecoveryPoint:
    from restorekit import schema  # ~2 ms of document shapes: only a recovery point given as JSON
    from restorekit.shapes import check_shape

    doc = load_json(path)
    if not isinstance(doc, dict):
        raise RecoveryPointError("must hold a JSON object", path=str(path))
    check_shape(doc, schema.MANIFEST, where=str(path), hint=MANIFEST_HINT)
    disks_doc = ci_get(doc, "disks")
    if not isinstance(disks_doc, list) or not disks_doc:
        raise RecoveryPointError('has no "disks" list', path=str(path),
                                 hint='add "disks": [{"lun": -1, "image": "disks/os.vhd"}]')
    disks: list[DiskRef] = []
    for index, entry in enumerate(disks_doc):
        image = ci_get(entry, "image")
        if not image:
            raise RecoveryPointError(f'disks[{index}] has no "image" path', path=str(path))
        lun = ci_get(entry, "lun")
        if is_url(image):  # a disk read where it lives, beside local ones
            disks.append(DiskRef(DiskRef.id_for(lun, index), image, lun, ci_get(entry, "name")))
            continue
        image_path = path.parent / image  # as the user would write it: relative stays relative to where they are
        if not _is_file(image_path, f"disks[{index}].image", path):
            raise RecoveryPointError(f"disks[{index}].image {image!r} not found (looked at {image_path})",
                                     path=str(path), hint="paths are relative to the manifest's folder")
        disks.append(DiskRef(DiskRef.id_for(lun, index), image_path, lun, ci_get(entry, "name")))
    _check_unique(disks, path)
    vm = ci_get(doc, "vm")
    if vm is not None:
        vm = normalize_vm(vm)
        check_shape(vm, schema.VM, where=str(path), hint=MANIFEST_HINT, at="vm")
    facts = ci_get(doc, "facts", default={})
    return RecoveryPoint(
        "manifest", disks, root=path.parent, manifest_path=path, vm=vm,
        recovery_point=ci_get(doc, "recoveryPoint"),
        network_interfaces=[nic for nic in ci_get(doc, "networkInterfaces", default=[]) if nic is not None],
        vault=ci_get(doc, "vault"),
        facts=facts,
        warnings=fact_warnings(facts, f"{path.name} facts"),
    )


def _open_config(path: Path, need_images: bool) -> RecoveryPoint:
    folder = path.parent
    absent: list[str] = []

    def locate(name: str, disk_id: str, uri: str, field_path: str) -> Path | None:
        image = folder / name
        if not _is_file(image, f"{field_path}.vhd.uri", path):
            if not need_images:
                absent.append(f"{disk_id} ({name})")
                return None
            raise RecoveryPointError(
                f"disk {disk_id} image {name!r} (from vhd.uri {uri}) is not in the folder", path=str(path),
                hint="download every page blob of the restore job's staging container beside the config file",
            )
        return image

    templates = sorted(folder.glob("azuredeploy*.json"))
    rp = config_recovery_point(load_json(path), str(path), locate, root=folder, config_path=path,
                               template_path=templates[0] if templates else None)
    if absent:
        rp.warnings.append(f"the VHD of disk {', '.join(absent)} is not beside {path.name}: its scan is skipped, "
                           "and what its volumes would show stays unknown (download the staging container's page "
                           "blobs beside the config file to scan them)")
    return rp


def config_recovery_point(doc: Any, where: str, locate: Callable[[str, str, str, str], Path | str | None],
                          **fields: Any) -> RecoveryPoint:
    """Form 1 from a restore job's config document. ``locate(blob name, disk id, vhd.uri, field path)`` finds each
    disk's image: a file beside the config, or a blob beside it in its container; None when it is absent and
    may be (the disk is kept, not :attr:`~DiskRef.present`). ``where`` names the config."""
    if not isinstance(doc, dict):
        raise RecoveryPointError("must hold a JSON object", path=where)
    from restorekit import schema  # see _open_manifest
    from restorekit.shapes import check_shape

    vm = normalize_vm(doc)
    check_shape(vm, schema.VM, where=where, hint=CONFIG_HINT)
    disks: list[DiskRef] = []
    warnings: list[str] = []
    os_disk = ci_get(vm, "storageProfile", "osDisk")
    entries = ([(OS_LUN, "storageProfile.osDisk", os_disk)] if os_disk is not None else []) + [
        (ci_get(d, "lun"), f"storageProfile.dataDisks[{i}]", d)
        for i, d in enumerate(ci_get(vm, "storageProfile", "dataDisks", default=[])) if d is not None
    ]
    for lun, field_path, entry in entries:
        disk_id = DiskRef.id_for(lun, len(disks))
        uri = ci_get(entry, "vhd", "uri")
        if uri is None:
            warnings.append(f"disk {disk_id} ({ci_get(entry, 'name') or 'unnamed'}) has no vhd.uri "
                            "(a managed disk?): pass its image through a recoverypoint.json")
            continue
        name = unquote(urlparse(uri).path.rsplit("/", 1)[-1])
        if name in ("", ".", "..") or "/" in name:
            raise RecoveryPointError(f"{field_path}.vhd.uri {uri!r} does not end in a blob name", path=where,
                                     hint=CONFIG_HINT)
        image = locate(name, disk_id, uri, field_path)
        disks.append(DiskRef(disk_id, Path(name) if image is None else image, lun, ci_get(entry, "name"),
                             present=image is not None))
    if not disks:
        raise RecoveryPointError("names no disk image (no vhd.uri in storageProfile)", path=where)
    _check_unique(disks, where)
    return RecoveryPoint("restore-disks-folder", disks, vm=vm, warnings=warnings, **fields)


def _is_file(image: Path, field_path: str, source: Path) -> bool:
    """Whether the image file a JSON field names exists; an error naming the field when the name cannot even be
    looked up (too long for the file system, a NUL byte, a folder that is not one)."""
    try:
        if "\0" in str(image):
            raise ValueError("a file name cannot hold a NUL character")
        return image.is_file()
    except (OSError, ValueError) as exc:
        too_long = isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RecoveryPointError(
            f"{field_path}: cannot look up the image {str(image)[:120]!r}: {reason}", path=str(source),
            hint="give the image a shorter name (through a recoverypoint.json for a restore job's blob) and point "
            "the field at it" if too_long else "point the field at the image file",
        ) from exc


def normalize_vm(doc: dict[str, Any]) -> dict[str, Any]:
    """Shape a VM description like ``az vm show``: dot-flattened keys expanded, ``properties`` lifted."""
    vm = unflatten(doc)
    props_key = next((k for k in vm if isinstance(k, str) and k.lower() == "properties"), None)
    if props_key is not None and isinstance(vm[props_key], dict):
        props = vm.pop(props_key)
        for key, value in props.items():
            vm.setdefault(key, value)
    return vm


def _check_unique(disks: list[DiskRef], path: Path | str) -> None:
    seen: dict[str, DiskRef] = {}
    for ref in disks:
        if ref.id in seen:
            raise RecoveryPointError(f"two disks have the id {ref.id} (LUN {ref.lun})", path=str(path),
                                     hint="each LUN may appear once")
        seen[ref.id] = ref
