"""ext2/ext3/ext4: the superblock at byte 1024 (magic 0xEF53) gives size, free blocks, UUID and label.

The variant follows the feature flags: a journal makes ext3; extents, 64-bit or flex_bg make ext4.
Files are read with pyfsext.
"""

from __future__ import annotations

import struct
import uuid

from restorekit.fs.errors import FilesystemError
from restorekit.fs.filesystem import LibyalFilesystem

COMPAT_HAS_JOURNAL = 0x4
INCOMPAT_EXTENTS, INCOMPAT_64BIT, INCOMPAT_FLEX_BG = 0x40, 0x80, 0x200
RO_COMPAT_HUGE_FILE, RO_COMPAT_GDT_CSUM, RO_COMPAT_DIR_NLINK, RO_COMPAT_EXTRA_ISIZE = 0x8, 0x10, 0x20, 0x40
EXT4_RO_COMPAT = RO_COMPAT_HUGE_FILE | RO_COMPAT_GDT_CSUM | RO_COMPAT_DIR_NLINK | RO_COMPAT_EXTRA_ISIZE


class ExtFilesystem(LibyalFilesystem):
    """An ext2, ext3 or ext4 file system."""

    BACKEND = "pyfsext"
    type_name = "ext"
    SIGNATURES = ((b"\x53\xef", 1024 + 56),)

    def _parse(self) -> None:
        sb = self.stream.pread(1024, 1024)
        blocks_lo, _r, free_lo = struct.unpack_from("<III", sb, 4)
        log_block = struct.unpack_from("<I", sb, 24)[0]
        compat, incompat, ro_compat = struct.unpack_from("<III", sb, 92)
        if log_block > 6:
            raise FilesystemError(f"ext superblock is damaged (block size 2^{10 + log_block})",
                                  volume=self.volume, offset=1024, hint="try a backup superblock with e2fsck")
        block = 1024 << log_block
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
