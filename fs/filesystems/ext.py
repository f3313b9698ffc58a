"""ext2/ext3/ext4: the superblock at byte 1024 (magic 0xEF53) gives size, free blocks, UUID and label.

The variant follows the feature flags: a journal makes ext3; extents, 64-bit or flex_bg make ext4.
Files are read with pyfsext. pyfsext gives no name (None) for a legal 255-byte name and for a damaged entry
(name length past its record): the folder's raw directory entries (:func:`raw_dir_entries`) then give the name,
or say what is damaged.
"""

from __future__ import annotations

import struct
import uuid
from typing import TYPE_CHECKING, Any

from restorekit.fs.errors import FilesystemError
from restorekit.fs.filesystem import LibyalFilesystem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from restorekit.fs.table import FileTable

COMPAT_HAS_JOURNAL = 0x4
INCOMPAT_EXTENTS, INCOMPAT_64BIT, INCOMPAT_FLEX_BG = 0x40, 0x80, 0x200
RO_COMPAT_HUGE_FILE, RO_COMPAT_GDT_CSUM, RO_COMPAT_DIR_NLINK, RO_COMPAT_EXTRA_ISIZE = 0x8, 0x10, 0x20, 0x40
EXT4_RO_COMPAT = RO_COMPAT_HUGE_FILE | RO_COMPAT_GDT_CSUM | RO_COMPAT_DIR_NLINK | RO_COMPAT_EXTRA_ISIZE
INCOMPAT_FILETYPE = 0x2
DIRENT_HEADER = 8
ROOT_INODE = 2


class ExtFilesystem(LibyalFilesystem):
    """An ext2, ext3 or ext4 file system."""

    BACKEND = "pyfsext"
    type_name = "ext"

    def _parse(self) -> None:
        sb = self.stream.pread(1024, 1024)
        blocks_lo, _r, free_lo = struct.unpack_from("<III", sb, 4)
        log_block = struct.unpack_from("<I", sb, 24)[0]
        compat, incompat, ro_compat = struct.unpack_from("<III", sb, 92)
        if log_block > 6:
            raise FilesystemError(f"ext superblock is damaged (block size 2^{10 + log_block})",
                                  volume=self.volume, offset=1024, hint="try a backup superblock with e2fsck")
        block = self.block_size = 1024 << log_block
        self.name_len_bytes = 1 if incompat & INCOMPAT_FILETYPE else 2
        blocks, free = blocks_lo, free_lo
        if incompat & INCOMPAT_64BIT:
            blocks |= struct.unpack_from("<I", sb, 0x150)[0] << 32
            free |= struct.unpack_from("<I", sb, 0x158)[0] << 32
        self.size = blocks * block
        self.used = (blocks - free) * block
        self.uuid = str(uuid.UUID(bytes=sb[104:120]))
        self.label = sb[120:136].split(b"\0", 1)[0].decode("utf-8", "replace")
        if incompat & (INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG) or ro_compat & EXT4_RO_COMPAT:
            self.variant = "ext4"
        elif compat & COMPAT_HAS_JOURNAL:
            self.variant = "ext3"
        else:
            self.variant = "ext2"

    def _build_table(self) -> FileTable:
        from restorekit.fs.filesystems.ext_table import build_table  # numpy: only when a walk needs the table

        return build_table(self)

    def _entry(self, path: str) -> Any:
        try:
            entry = self.backend.get_file_entry_by_path(path)
        except OSError:
            entry = None  # pyfsext cannot compare with a 255-byte name in a folder on the way
        return entry if entry is not None else self._entry_by_listing(path)

    def _entry_by_listing(self, path: str) -> Any:
        """The entry at ``path`` found by listing each folder on the way (names pyfsext cannot look up)."""
        node = self.backend.get_file_entry_by_inode(ROOT_INODE)
        for part in path.split("/"):
            if not part:
                continue
            node = next((sub for name, sub in self._children(node) if name == part), None)
            if node is None:
                return None
        return node

    def _children(self, handle: Any) -> Iterator[tuple[str | None, Any]]:
        try:
            count = handle.get_number_of_sub_file_entries()
        except OSError:
            # pyfsext refuses the whole folder for one damaged entry: list the others from the raw entries
            raw = self._raw_entries(handle)
            if all(name is not None for _inode, name, _why in raw):
                raise  # the entries are not what is damaged
            for inode, name, why in raw:
                yield (name, self.backend.get_file_entry_by_inode(inode)) if name is not None else (
                    None, self._damaged(inode, why))
            return
        raw_names: list[tuple[int, str | None, str]] | None = None
        for index in range(count):
            sub = handle.get_sub_file_entry(index)
            name = sub.get_name()
            if name is not None:
                yield name, sub
                continue
            if raw_names is None:
                raw_names = self._raw_entries(handle)
            inode = sub.get_inode_number()
            found = raw_names[index] if index < len(raw_names) and raw_names[index][0] == inode else None
            if found is None:  # not in on-disk order: the inode's one raw entry
                same = [entry for entry in raw_names if entry[0] == inode]
                found = same[0] if len(same) == 1 else (inode, None, "")
            yield (found[1], sub) if found[1] is not None else (None, self._damaged(inode, found[2]))

    def _damaged(self, inode: int, why: str) -> FilesystemError:
        return FilesystemError(f"the folder's entry for inode {inode} is damaged ({why or 'its name cannot be read'});"
                               " that entry is left out", volume=self.volume,
                               hint="check it with e2fsck -n on a copy (restorekit dd)")

    def _raw_entries(self, handle: Any) -> list[tuple[int, str | None, str]]:
        """The folder's live entries in on-disk order (as pyfsext lists them), ``.`` and ``..`` left out."""
        out: list[tuple[int, str | None, str]] = []
        for index in range(handle.get_number_of_extents()):
            offset, length, flags = handle.get_extent(index)
            if flags:
                continue  # a hole or unwritten extent holds no entries
            data = self.stream.pread(length, offset)
            for start in range(0, len(data), self.block_size):
                out += raw_dir_entries(data[start : start + self.block_size], offset + start, self.name_len_bytes)
        return out


def raw_dir_entries(block: bytes, at: int, name_len_bytes: int = 1) -> Iterator[tuple[int, str | None, str]]:
    """(inode, name or None, why not) of each live entry of one linear directory block at volume offset ``at``.

    htree folders keep their index in entries of inode 0 (skipped like deleted ones), so their leaf blocks
    read the same way; ``.`` and ``..`` are left out. A name that runs past its record is damaged.
    """
    pos = 0
    while pos + DIRENT_HEADER <= len(block):
        inode, rec_len = struct.unpack_from("<IH", block, pos)
        name_len = block[pos + 6] if name_len_bytes == 1 else struct.unpack_from("<H", block, pos + 6)[0]
        if rec_len < DIRENT_HEADER or pos + rec_len > len(block):
            if inode:
                yield inode, None, f"record length {rec_len} at volume offset {at + pos}"
            return
        name = block[pos + DIRENT_HEADER : pos + DIRENT_HEADER + name_len]
        if inode and name not in (b".", b".."):
            if DIRENT_HEADER + name_len > rec_len:
                yield inode, None, (f"name length {name_len} is more than its record of {rec_len} bytes holds, at "
                                    f"volume offset {at + pos}")
            else:
                yield inode, name.decode("utf-8", "replace"), ""
        pos += rec_len
