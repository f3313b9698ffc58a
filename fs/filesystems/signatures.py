"""How each file-system format is recognised: the checks every readable volume is run past.

Kept apart from the format modules so that detection imports none of them (:mod:`restorekit.fs.registry`): an
ext volume does not pay for the NTFS, FAT and XFS readers. Each check reads the boot sector or superblock only.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from restorekit.fs.registry import has_signature

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

#: The XFS superblock is read as one 512-byte sector (the smallest XFS sector); v5 checksums its whole sector.
XFS_SB_SECTOR = 512


def ntfs(stream: Stream) -> bool:
    """The NTFS OEM id in the boot sector."""
    return has_signature(stream, ((b"NTFS    ", 3),))


def fat(stream: Stream) -> bool:
    """A FAT boot sector: jump, 55 AA, the FAT type string, and a sane geometry (sizes that are powers of two)."""
    if stream.size < 512:
        return False
    boot = stream.pread(512, 0)
    if boot[510:512] != b"\x55\xaa" or boot[0] not in (0xEB, 0xE9):
        return False
    if boot[54:57] != b"FAT" and boot[82:87] != b"FAT32":
        return False
    bps, spc, reserved, nfats = struct.unpack_from("<HBHB", boot, 11)
    return bool(bps in (512, 1024, 2048, 4096) and spc and not spc & (spc - 1) and reserved and nfats)


def ext(stream: Stream) -> bool:
    """The ext2/3/4 superblock magic (0xEF53, 1080 bytes in)."""
    return has_signature(stream, ((b"\x53\xef", 1024 + 56),))


def xfs(stream: Stream) -> bool:
    """The XFS magic, on a volume that holds at least a whole superblock sector."""
    return stream.size >= XFS_SB_SECTOR and has_signature(stream, ((b"XFSB", 0),))
