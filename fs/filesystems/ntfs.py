"""NTFS: boot sector (``NTFS    `` at offset 3) for size and serial; pyfsntfs for the label and files.

Used bytes come from ``$Bitmap`` (one bit per cluster) when it is small enough to read cheaply.
A ``$DATA`` attribute's valid data length (VDL, the "initialized size") can be less than its data size, e.g.
after ``SetFileValidData``, ``fallocate`` or ``ntfsfallocate``: Windows reads zeros past the VDL whatever
the clusters hold, so the file's runs map to ``ZERO`` from the VDL on (see :func:`zero_past`).
:meth:`NtfsFilesystem.reparse_tags` walks raw MFT records, which pyfsntfs does not expose the reparse tag
of, to find deduplicated files (tag ``0x80000013``).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from restorekit.fs.entry import (
    DIRECTORY,
    FILE,
    REPARSE_TAG_DEDUP,
    SYMLINK,
    BackendSource,
    Entry,
    FileStream,
    Run,
    runs_from_extents,
)
from restorekit.fs.errors import EntryNotFoundError, FilesystemError
from restorekit.fs.filesystem import Filesystem, LibyalFile

if TYPE_CHECKING:
    from collections.abc import Iterator

    from restorekit.fs.table import FileTable

#: Read ``$Bitmap`` for used bytes only up to this size (a 128 GiB volume with 4 KiB clusters).
MAX_BITMAP = 4 << 20
MFT_BITMAP_ENTRY = 6
MFT_ENTRY_MFT = 0
ATTR_REPARSE_POINT = 0xC0
ATTR_END = 0xFFFFFFFF
ATTR_FILE_NAME = 0x30
ATTR_DATA = 0x80
NAMESPACE_DOS = 2
#: MFT entries below this number are NTFS's own metadata files ($MFT, $Bitmap, ...), hidden from listings.
FIRST_USER_ENTRY = 24
FILETIME_1970 = 116444736000000000
REPARSE_SYMLINK, REPARSE_JUNCTION = 0xA000000C, 0xA0000003
#: An Interix (SFU / ntfs-3g) symbolic link: a system file holding this magic and the UTF-16 target.
INTERIX_LINK = b"IntxLNK\x01"
ATTR_SYSTEM, ATTR_SPARSE, ATTR_REPARSE, ATTR_COMPRESSED, ATTR_ENCRYPTED = 0x4, 0x200, 0x400, 0x800, 0x4000
ATTRIBUTE_NAMES = ((0x1, "readonly"), (0x2, "hidden"), (0x4, "system"), (0x20, "archive"), (0x100, "temporary"),
                   (0x200, "sparse"), (0x400, "reparse"), (0x800, "compressed"), (0x1000, "offline"),
                   (0x2000, "notIndexed"), (0x4000, "encrypted"))
EXTENT_SPARSE = 0x1
#: MFT record sizes a boot sector may give (Windows writes 1024, or 4096 on 4Kn disks).
MFT_RECORD_SIZES = (1024, 4096)


class NtfsFilesystem(Filesystem):
    """An NTFS volume."""

    type_name = "ntfs"
    case_insensitive = True

    def _parse(self) -> None:
        boot = self.stream.pread(512, 0)
        bps, spc_raw = struct.unpack_from("<HB", boot, 11)
        total_sectors, _mft_lcn, _mirr, clusters_per_record = struct.unpack_from("<QQQb", boot, 40)
        serial = struct.unpack_from("<Q", boot, 72)[0]
        if bps not in (512, 1024, 2048, 4096) or spc_raw == 0 or boot[510:512] != b"\x55\xaa":
            raise FilesystemError("NTFS boot sector is damaged (bytes per sector or cluster size invalid)",
                                  volume=self.volume, offset=0,
                                  hint="the backup boot sector is in the volume's last sector; try a repair copy")
        spc = spc_raw if spc_raw <= 0x80 else 1 << (256 - spc_raw)
        self.cluster_size = bps * spc
        self.record_size = (clusters_per_record * self.cluster_size if clusters_per_record > 0
                            else 1 << -clusters_per_record)
        if self.record_size not in MFT_RECORD_SIZES:
            raw = clusters_per_record & 0xFF
            raise FilesystemError(f"NTFS boot sector is damaged (MFT record size byte 0x{raw:02x} gives "
                                  f"{self.record_size} bytes; NTFS uses 1024 or 4096)", volume=self.volume,
                                  offset=0x40, hint="the backup boot sector is in the volume's last sector; "
                                  "try a repair copy")
        self.size = total_sectors * bps
        self.uuid = f"{serial:016X}"
        try:
            self.label = self.backend.get_name() or ""
            self.used = self._used_bytes()
        except FilesystemError as exc:
            self.warnings.append(str(exc))

    def _open_backend(self) -> Any:
        import pyfsntfs

        volume = pyfsntfs.volume()
        volume.open_file_object(self.stream)
        return volume

    def _used_bytes(self) -> int | None:
        clusters = self.size // self.cluster_size
        if (clusters + 7) // 8 > MAX_BITMAP:
            return None
        with self._errors("$Bitmap"):
            bitmap = LibyalFile(self.backend.get_file_entry(MFT_BITMAP_ENTRY)).read((clusters + 7) // 8)
        return int.from_bytes(bitmap, "little").bit_count() * self.cluster_size

    def _entry(self, path: str) -> Any:
        return self.backend.get_file_entry_by_path(path.replace("/", "\\"))

    def _link_target(self, entry: Any) -> str | None:
        return None  # NTFS symbolic links and junctions are not followed: evidence paths never need them

    def _entry_by_inode(self, inode: int) -> Any:
        return self.backend.get_file_entry(inode)

    def _build_table(self) -> FileTable:
        from restorekit.fs.filesystems.ntfs_table import build_table

        return build_table(self, ATTRIBUTE_NAMES)

    def _children(self, handle: Any) -> Iterator[tuple[str, Any]]:
        for index in range(handle.get_number_of_sub_file_entries()):
            sub = handle.get_sub_file_entry(index)
            name = sub.get_name()
            if name and name.startswith("$") and (sub.get_file_reference() or 0) & 0xFFFFFFFFFFFF < FIRST_USER_ENTRY:
                continue
            yield name, sub

    def _make_entry(self, path: str, name: str, handle: Any) -> Entry:
        # pyfsntfs answers None for what a damaged record lacks ($STANDARD_INFORMATION: flags and times; $DATA:
        # size): such an entry is listed with what is there, never dropped and never a TypeError.
        flags = handle.get_file_attribute_flags() or 0
        kind = DIRECTORY if handle.has_directory_entries_index() else FILE
        entry = Entry(
            path=path, name=name, type=kind, size=(handle.get_size() or 0) if kind == FILE else 0,
            inode=(handle.get_file_reference() or 0) & 0xFFFFFFFFFFFF, mtime=_filetime(handle, "modification_time"),
            atime=_filetime(handle, "access_time"), ctime=_filetime(handle, "entry_modification_time"),
            crtime=_filetime(handle, "creation_time"),
            attributes=[label for bit, label in ATTRIBUTE_NAMES if flags & bit],
            sparse=bool(flags & ATTR_SPARSE), compressed=bool(flags & ATTR_COMPRESSED),
            encrypted=bool(flags & ATTR_ENCRYPTED), handle=handle,
        )
        names = 0
        for attr in handle.attributes:
            atype = attr.get_attribute_type()
            if atype == ATTR_FILE_NAME and attr.get_name_space() != NAMESPACE_DOS:
                names += 1
            elif atype == ATTR_REPARSE_POINT:
                entry.reparse_tag = attr.get_tag()
        entry.nlink = max(1, names)
        entry.streams = [stream for s in handle.alternate_data_streams if (stream := s.get_name())]
        if entry.reparse_tag == REPARSE_TAG_DEDUP:
            entry.dedup = True
        elif entry.reparse_tag in (REPARSE_SYMLINK, REPARSE_JUNCTION):
            entry.type, entry.link_target = SYMLINK, _reparse_target(handle)
        elif kind == FILE and flags & ATTR_SYSTEM and 8 < entry.size <= 4096:
            head = handle.read_buffer_at_offset(entry.size, 0)
            if head.startswith(INTERIX_LINK):
                entry.type, entry.link_target = SYMLINK, head[8:].decode("utf-16-le", "replace")
        return entry

    def _open_stream(self, entry: Entry, stream: str | None) -> FileStream:
        data = entry.handle
        name = f"{self.volume}:{entry.path}"
        if stream:
            wanted = stream.lower()
            data = next((s for s in entry.handle.alternate_data_streams if (s.get_name() or "").lower() == wanted),
                        None)
            if data is None:
                raise EntryNotFoundError("no such alternate data stream", volume=self.volume,
                                         path=f"{entry.path}:{stream}")
            name += f":{stream}"
        size = data.get_size()
        runs = None
        if not entry.compressed and not entry.encrypted:
            runs = runs_from_extents((data.get_extent(i) for i in range(data.get_number_of_extents())), size,
                                     EXTENT_SPARSE)
            valid = _valid_data_size(entry.handle, stream or "")
            if runs is not None and valid is not None and valid < size:
                runs = zero_past(runs, valid)
        return FileStream(size, self.stream, runs, BackendSource(name, data.read_buffer_at_offset))

    def reparse_tags(self, max_records: int) -> Iterator[tuple[int, int]]:
        """(MFT entry, reparse tag) for files carrying a reparse point, in the first ``max_records`` records."""
        with self._errors("$MFT"):
            mft = LibyalFile(self.backend.get_file_entry(MFT_ENTRY_MFT))
            count = min(max_records, mft.get_size() // self.record_size)
            chunk = 256
            for first in range(0, count, chunk):
                data = mft.read(min(chunk, count - first) * self.record_size)
                for index in range(len(data) // self.record_size):
                    tag = _record_reparse_tag(data[index * self.record_size : (index + 1) * self.record_size])
                    if tag is not None:
                        yield first + index, tag


def _valid_data_size(handle: Any, stream: str) -> int | None:
    """The valid data length of the ``$DATA`` attribute named ``stream`` ("" = the file's own data).

    The first such attribute is the one starting at VCN 0, the only one whose size fields are meaningful.
    """
    for attr in handle.attributes:
        if attr.get_attribute_type() == ATTR_DATA and (attr.get_attribute_name() or "").lower() == stream.lower():
            return attr.get_valid_data_size()
    return None


def zero_past(runs: list[Run], valid: int) -> list[Run]:
    """The runs with every byte from ``valid`` on turned into a hole (a run that straddles it is split)."""
    out: list[Run] = []
    for run in runs:
        keep = min(run.length, max(0, valid - run.offset)) if run.volume_offset is not None else 0
        if keep:
            out.append(Run(run.offset, keep, run.volume_offset))
        if keep < run.length:
            out.append(Run(run.offset + keep, run.length - keep, None))
    return out


def _filetime(handle: Any, name: str) -> int | None:
    value = getattr(handle, f"get_{name}_as_integer")()
    return (value - FILETIME_1970) * 100 if value else None


def _reparse_target(handle: Any) -> str | None:
    """The target of an NTFS symbolic link or junction, with the ``\\??\\`` prefix removed, ``/``-separated."""
    target = handle.get_symbolic_link_target()
    if target is None:
        for attr in handle.attributes:
            if attr.get_attribute_type() == ATTR_REPARSE_POINT:
                target = attr.get_print_name() or attr.get_substitute_name()
    if target is None:
        return None
    return target.removeprefix("\\??\\").replace("\\", "/")


def _record_reparse_tag(record: bytes) -> int | None:
    """The reparse tag in one raw MFT record, if it has a resident ``$REPARSE_POINT`` attribute."""
    if record[:4] != b"FILE":
        return None
    usa_offset, usa_count = struct.unpack_from("<HH", record, 4)
    flags = struct.unpack_from("<H", record, 22)[0]
    if not flags & 1:  # not in use
        return None
    fixed = bytearray(record)
    for i in range(1, usa_count):  # undo the update sequence fixups at the end of each 512-byte sector
        end = i * 512 - 2
        if end + 2 > len(fixed) or usa_offset + 2 * i + 2 > len(fixed):
            break
        fixed[end : end + 2] = fixed[usa_offset + 2 * i : usa_offset + 2 * i + 2]
    for atype, pos in record_attributes(fixed):
        if atype == ATTR_REPARSE_POINT and fixed[pos + 8] == 0:  # resident
            content = pos + struct.unpack_from("<H", fixed, pos + 20)[0]
            return struct.unpack_from("<I", fixed, content)[0]
    return None


def record_attributes(record: bytes | bytearray) -> Iterator[tuple[int, int]]:
    """``(type, offset)`` of each attribute of one MFT record whose fixups are undone, up to the end marker (or an
    attribute too short to be one: a damaged record)."""
    pos = struct.unpack_from("<H", record, 20)[0]
    while pos + 16 <= len(record):
        atype, alen = struct.unpack_from("<II", record, pos)
        if atype == ATTR_END or alen < 16:
            return
        yield atype, pos
        pos += alen
