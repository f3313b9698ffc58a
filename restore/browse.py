"""A recovery point as one read-only tree, for ``restorekit mount`` and ``restorekit shell``.

The tree's root holds one folder per readable volume, named by its id as ``inspect`` prints it (``os-p3``,
``lun0-p1``), and aliases that lead to those folders: a drive letter (``C``) where the SYSTEM hive's
``MountedDevices`` maps one, and a readable name per volume under ``by-label/`` (``by-label/Windows``). Below
a volume folder, paths are the file system's own. Each NTFS volume's shadow copies are folders beside it
(``os-p3@vss1``, the oldest first). Volumes that cannot be read (locked, damaged, no file system) are left out of
the tree and listed with the reason in :attr:`Namespace.left_out`.

A drive letter is read from ``\\DosDevices\\X:`` values of ``HKLM\\SYSTEM\\MountedDevices``: 12 bytes (the MBR
disk signature, then the partition's byte offset) or ``DMIO:ID:`` and the GPT partition GUID. When no hive says
where ``C:`` is and there is exactly one Windows volume (one holding the SOFTWARE hive), ``C`` leads there.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from restorekit.files import searched_volumes, volume_filesystem
from restorekit.fs.errors import EntryNotFoundError, FilesystemError, RestoreKitError
from restorekit.fs.evidence import SOFTWARE_HIVE, SYSTEM_HIVE, hive_values
from restorekit.fs.filesystem import normalize_path
from restorekit.fs.scan import shadow_volume
from restorekit.fs.volume import Volume

if TYPE_CHECKING:
    from collections.abc import Sequence

    from restorekit.api import Session
    from restorekit.fs.filesystem import Filesystem
    from restorekit.fs.scan import VolumeInfo

#: The folder of readable volume names at the tree's root.
BY_LABEL = "by-label"
_GPT_MARK = b"DMIO:ID:"
_MBR_SIGNATURE_AT = 440


@dataclass
class Namespace:
    """The readable volumes of a recovery point as one tree (see the module docstring)."""

    #: Volume id → its file system, in ``inspect`` order.
    filesystems: dict[str, Filesystem] = field(default_factory=dict)
    #: ``(volume id, why)`` for each volume left out of the tree.
    left_out: list[tuple[str, str]] = field(default_factory=list)
    #: Drive letter → volume id.
    letters: dict[str, str] = field(default_factory=dict)
    #: How the letters were found: ``MountedDevices`` (with the hive's volume) or the fallback.
    letters_from: str | None = None
    #: Readable name (under ``by-label/``) → volume id.
    labels: dict[str, str] = field(default_factory=dict)
    #: What the scan warned about the volumes of the tree (a truncated file system, a damaged table).
    warnings: list[str] = field(default_factory=list)

    def root_names(self) -> list[str]:
        """The names in the root folder: volume folders, drive letters, then ``by-label``."""
        names = [*self.filesystems, *self.letters]
        return [*names, BY_LABEL] if self.labels else names

    def volume_of(self, name: str) -> str | None:
        """The volume id a root name (a volume id or a drive letter, any case) leads to, or None."""
        if name in self.filesystems:
            return name
        return self.letters.get(name.upper()) if len(name) == 1 else None

    def split(self, path: str) -> tuple[str | None, str]:
        """An absolute tree path as ``(volume id, path in its file system)``; ``(None, path)`` above the volumes.

        Drive letters lead to their volume (``/C/Users`` → ``("os-p3", "/Users")``); an unknown first component
        raises :class:`EntryNotFoundError` listing the volumes.
        """
        parts = [p for p in normalize_path(path).split("/") if p]
        if not parts or (parts[0] == BY_LABEL and len(parts) == 1):
            return None, normalize_path(path)
        if parts[0] == BY_LABEL:
            volume = self.labels.get(parts[1])
            rest = parts[2:]
        else:
            volume = self.volume_of(parts[0])
            rest = parts[1:]
        if volume is None:
            why = dict(self.left_out).get(parts[0])
            if why is not None:  # not in the tree, so "not found" to a mount; the shell says why
                raise EntryNotFoundError(f"the volume is not readable: {why}", path=normalize_path(path),
                                         hint="the shell's unlock command takes a key for a locked volume")
            raise EntryNotFoundError("no such volume folder", path=normalize_path(path),
                                     hint=f"the volumes are {', '.join(self.filesystems) or 'none'}")
        return volume, "/" + "/".join(rest)


def session_namespace(session: Session, only: Sequence[str] = ()) -> Namespace:
    """The tree of an API session's recovery point; the first disk that did not open is the error (a tree without
    it would look complete)."""
    for disk in session.disks:
        if disk.error is not None:
            raise disk.error
    return build_namespace({v.id: v for v in session.volumes()}, only)


def build_namespace(volumes: dict[str, VolumeInfo], only: Sequence[str] = ()) -> Namespace:
    """The tree of ``volumes`` (just the ``only`` ones when given: each must be readable, else it raises)."""
    tree = Namespace()
    for vid in only or searched_volumes(volumes):
        try:
            shadow_volume(volumes, vid)  # VOLUME@vssN named with --volume: opened now; other ids: nothing
            fs = volume_filesystem(volumes, vid)
            error = fs.root_error()
            if error is not None:
                raise error
        except RestoreKitError as exc:
            if only:
                raise
            tree.left_out.append((vid, str(exc)))
            continue
        tree.filesystems[vid] = fs
        tree.warnings += [w for w in volumes[vid].warnings if w not in tree.warnings]
    tree.labels = readable_names(volumes, list(tree.filesystems))
    tree.letters, tree.letters_from = drive_letters(volumes, tree.filesystems)
    if not only:
        _add_shadow_copies(tree, volumes)
    return tree


def _add_shadow_copies(tree: Namespace, volumes: dict[str, VolumeInfo]) -> None:
    """A folder ``VOLUME@vssN`` beside each volume for each of its shadow copies (earlier versions of it, Windows'
    hidden ones too); one that cannot be opened is left out with the reason."""
    for vid in list(tree.filesystems):
        for copy in volumes[vid].shadow_copies:
            store = copy["id"]
            try:
                info = shadow_volume(volumes, store)
                fs = info.fs if info is not None else None
                if fs is None:
                    raise FilesystemError("its file system cannot be read", volume=store)
            except RestoreKitError as exc:
                tree.left_out.append((store, str(exc)))
                continue
            tree.filesystems[store] = fs


def readable_names(volumes: dict[str, VolumeInfo], ids: Sequence[str]) -> dict[str, str]:
    """A name people recognise for each volume: its label, else its file system and id; the id is added to
    names two volumes share. ``/`` and control characters become ``_``."""
    wanted = {}
    for vid in ids:
        info = volumes[vid]
        name = (info.label or "").strip() or f"{info.filesystem or 'volume'}-{vid}"
        wanted[vid] = "".join("_" if c == "/" or ord(c) < 32 else c for c in name)
    counts: dict[str, int] = {}
    for name in wanted.values():
        counts[name] = counts.get(name, 0) + 1
    return {(name if counts[name] == 1 else f"{name} ({vid})"): vid for vid, name in wanted.items()}


def drive_letters(volumes: dict[str, VolumeInfo], filesystems: dict[str, Filesystem]) -> tuple[dict[str, str],
                                                                                                 str | None]:
    """Drive letter → volume id from the first readable SYSTEM hive's ``MountedDevices``, and where from.

    Only letters that lead to a volume of the tree are kept. When no hive maps ``C:`` and one volume alone
    holds Windows, ``C`` is that volume.
    """
    disks = _disk_signatures(volumes)
    for vid, fs in filesystems.items():
        if fs.type_name != "ntfs":
            continue
        try:
            mapping = _mounted_devices(fs)
        except RestoreKitError:
            continue
        letters = {}
        for letter, data in mapping.items():
            target = _match(data, volumes, disks)
            if target in filesystems:
                letters[letter] = target
        if letters:
            return dict(sorted(letters.items())), f"MountedDevices in {vid}:{SYSTEM_HIVE}"
    windows = [vid for vid, fs in filesystems.items() if fs.type_name == "ntfs" and _exists(fs, SOFTWARE_HIVE)]
    if len(windows) == 1:
        return {"C": windows[0]}, f"the only Windows volume ({windows[0]}); no SYSTEM hive maps C:"
    return {}, None


def _exists(fs: Filesystem, path: str) -> bool:
    try:
        return fs.exists(path)
    except RestoreKitError:
        return False


def _mounted_devices(fs: Filesystem) -> dict[str, bytes]:
    """``{"C": value bytes}`` from ``MountedDevices`` of the SYSTEM hive on ``fs`` (empty when it has none)."""
    values = hive_values(fs, SYSTEM_HIVE, "MountedDevices", lambda value: value.get_data() or b"") or {}
    return {name[12].upper(): data for name, data in values.items()
            if (name or "").upper().startswith("\\DOSDEVICES\\") and name.endswith(":") and len(name) == 14}


def _disk_signatures(volumes: dict[str, VolumeInfo]) -> dict[int, str]:
    """MBR disk signature → disk id, read from sector 0 of each disk a partition of the tree sits on."""
    found: dict[int, str] = {}
    for info in volumes.values():
        stream = info.stream
        if info.partition is None or not isinstance(stream, Volume) or info.disk in found.values():
            continue
        (signature,) = struct.unpack("<I", stream.base.pread(4, _MBR_SIGNATURE_AT))
        found.setdefault(signature, info.disk)
    return found


def _match(data: bytes, volumes: dict[str, VolumeInfo], disks: dict[int, str]) -> str | None:
    """The volume a ``MountedDevices`` value names, or None (another kind of device, or not in the recovery point)."""
    if data.startswith(_GPT_MARK) and len(data) >= len(_GPT_MARK) + 16:
        guid = str(uuid.UUID(bytes_le=data[len(_GPT_MARK):len(_GPT_MARK) + 16]))
        return next((v.id for v in volumes.values() if v.partition is not None
                     and v.partition.guid.lower() == guid), None)
    if len(data) == 12:
        signature, offset = struct.unpack("<IQ", data)
        disk = disks.get(signature)
        return next((v.id for v in volumes.values() if v.disk == disk and v.partition is not None
                     and v.offset == offset), None)
    return None


__all__ = ["BY_LABEL", "Namespace", "build_namespace", "drive_letters", "readable_names", "session_namespace"]
