"""XFS: the big-endian superblock (``XFSB``) gives the geometry, size, free blocks, UUID and label; pyfsxfs
reads folders and files, and restorekit reads symbolic link targets itself (:mod:`.xfs_symlink`).

Every field the readers rely on is checked against the others before use, so a damaged or mutated
superblock is one clear :class:`FilesystemError`, never a traceback or a walk over nonsense geometry.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Any

from restorekit.fs.checksum import crc32c
from restorekit.fs.errors import FilesystemError
from restorekit.fs.filesystem import LibyalFilesystem
from restorekit.fs.filesystems.signatures import XFS_SB_SECTOR as SB_SECTOR

#: Fields up to ``sb_meta_uuid`` (the end of the v5 superblock); a v4 superblock needs those before ``sb_crc``.
SB_V5_SIZE, SB_V4_SIZE = 264, 224
SB_CRC_OFFSET = 224
INCOMPAT_META_UUID = 0x4
_SB = struct.Struct(">4sIQQQ16sQQQQIIIII HHHH12sBBBBBBBB")


@dataclass(frozen=True)
class XfsGeometry:
    """What reading an inode or a block needs from the superblock, every field checked for consistency."""

    version: int
    block_size: int
    sector_size: int
    inode_size: int
    ag_blocks: int
    ag_count: int
    ag_block_log: int
    inode_per_block_log: int
    dblocks: int
    free_blocks: int
    uuid: bytes
    meta_uuid: bytes
    label: str

    @property
    def crc(self) -> bool:
        """True on v5 (CRC-enabled) file systems: metadata blocks carry headers and checksums."""
        return self.version == 5

    def inode_location(self, ino: int) -> tuple[int, int] | None:
        """(AG number, block in the AG) of inode ``ino``, or None when the number is outside the file system."""
        agno = ino >> (self.ag_block_log + self.inode_per_block_log)
        agbno = (ino >> self.inode_per_block_log) & ((1 << self.ag_block_log) - 1)
        return (agno, agbno) if agno < self.ag_count and agbno < self.ag_blocks else None

    def block_offset(self, fsblock: int) -> int | None:
        """Byte offset in the volume of file-system block ``fsblock`` (AG number and block in the AG packed as
        XFS packs them), or None when it lies outside the file system."""
        agno, agbno = fsblock >> self.ag_block_log, fsblock & ((1 << self.ag_block_log) - 1)
        if agno >= self.ag_count or agbno >= self.ag_blocks:
            return None
        return (agno * self.ag_blocks + agbno) * self.block_size


def _power_of_two(value: int, low: int, high: int, log: int) -> bool:
    return low <= value <= high and value & (value - 1) == 0 and 1 << log == value


def parse_superblock(sb: bytes) -> tuple[XfsGeometry, list[str]]:
    """The geometry of an XFS superblock sector and warnings; :class:`FilesystemError` (offset 0) when it is
    truncated or its fields contradict each other."""

    def damaged(what: str) -> FilesystemError:
        return FilesystemError(f"XFS superblock is damaged ({what})", offset=0,
                               hint="run xfs_repair -n on a copy of the volume to see what else is damaged")

    if len(sb) < SB_V4_SIZE or sb[:4] != b"XFSB":
        raise damaged(f"{len(sb)} bytes, not a whole superblock")
    (_magic, block, dblocks, _rblocks, _rextents, fs_uuid, _logstart, rootino, _rbmino, _rsumino, _rextsize,
     agblocks, agcount, _rbmblocks, _logblocks, versionnum, sectsize, inodesize, inopblock, fname, blocklog,
     sectlog, inodelog, inopblog, agblklog, *_rest) = _SB.unpack_from(sb)
    version = versionnum & 0xF
    if version not in (4, 5):
        raise damaged(f"version {version}; XFS has versions 4 and 5")
    if version == 5 and len(sb) < SB_V5_SIZE:
        raise damaged(f"{len(sb)} bytes, short of a v5 superblock")
    checks = [
        (_power_of_two(block, 512, 65536, blocklog), f"block size {block}, log2 {blocklog}"),
        (_power_of_two(sectsize, 512, 32768, sectlog) and sectsize <= block, f"sector size {sectsize}, log2 {sectlog}"),
        (_power_of_two(inodesize, 256, 2048, inodelog) and inodesize <= block,
         f"inode size {inodesize}, log2 {inodelog}"),
        (inodesize and inopblock == block // inodesize and 1 << inopblog == inopblock,
         f"{inopblock} inodes per block, log2 {inopblog}"),
        (agcount > 0, "no allocation groups"),
        (agblocks > 0 and agblklog == (agblocks - 1).bit_length(),
         f"{agblocks} blocks per allocation group, log2 {agblklog}"),
        (0 < dblocks <= agcount * agblocks and dblocks > (agcount - 1) * agblocks,
         f"{dblocks} blocks in {agcount} allocation groups of {agblocks}"),
    ]
    for ok, what in checks:
        if not ok:
            raise damaged(what)
    incompat = struct.unpack_from(">I", sb, 216)[0] if version == 5 else 0
    geometry = XfsGeometry(
        version=version, block_size=block, sector_size=sectsize, inode_size=inodesize, ag_blocks=agblocks,
        ag_count=agcount, ag_block_log=agblklog, inode_per_block_log=inopblog, dblocks=dblocks,
        free_blocks=struct.unpack_from(">Q", sb, 144)[0], uuid=fs_uuid,
        meta_uuid=sb[248:264] if incompat & INCOMPAT_META_UUID else fs_uuid,
        label=fname.split(b"\0", 1)[0].decode("utf-8", "replace"))
    if geometry.inode_location(rootino) is None:
        raise damaged(f"root inode {rootino} lies outside the file system")
    warnings = []
    if version == 5 and len(sb) >= sectsize and not sb_crc_ok(sb[:sectsize]):
        warnings.append("XFS superblock checksum does not match: the superblock is damaged, its values are used "
                        "as read")
    return geometry, warnings


def sb_crc_ok(sector: bytes) -> bool:
    """True when a v5 superblock sector's CRC32C (little-endian, over the sector with the field zeroed) matches."""
    computed = crc32c(sector[:SB_CRC_OFFSET] + bytes(4) + sector[SB_CRC_OFFSET + 4:])
    return struct.unpack_from("<I", sector, SB_CRC_OFFSET)[0] == computed


class XfsFilesystem(LibyalFilesystem):
    """An XFS file system."""

    BACKEND = "pyfsxfs"
    type_name = "xfs"
    geometry: XfsGeometry

    def _parse(self) -> None:
        sb = self.stream.pread(SB_SECTOR, 0)
        try:
            self.geometry, self.warnings = parse_superblock(sb)
            sector = self.geometry.sector_size
            if self.geometry.crc and sector > SB_SECTOR:  # the checksum covers the whole (larger) sector
                self.geometry, self.warnings = parse_superblock(self.stream.pread(sector, 0))
        except FilesystemError as exc:
            exc.volume = self.volume
            raise
        geo = self.geometry
        self.size = geo.dblocks * geo.block_size
        self.used = max(0, geo.dblocks - geo.free_blocks) * geo.block_size
        self.uuid = str(uuid.UUID(bytes=geo.uuid))
        self.label = geo.label

    def _link_target(self, entry: Any) -> str | None:
        from restorekit.fs.filesystems.xfs_symlink import read_symlink

        if entry.get_file_mode() & 0o170000 != 0o120000:
            return None
        return read_symlink(self.stream, self.geometry, entry.get_inode_number())
