"""XFS symbolic link targets, read from the inode and its blocks by restorekit itself.

pyfsxfs returns the target of a v5 link stored outside the inode as the 4-byte magic ``XSLM`` of its block
header, so every link target is read here, from the on-disk format (XFS Algorithms & Data Structures,
"Symbolic Links"):

* the inode core (``IN`` magic; v1/v2 core 100 bytes, v3 core 176 bytes with its CRC32C and number) gives
  the size and the data fork's format; a *local* link keeps its target in the data fork itself;
* an *extents* link lists its blocks as 16-byte packed records (start offset, start block, block count);
  each extent is one buffer. On v5 (CRC) file systems each buffer starts with a 56-byte header
  (``xfs_dsymlink_hdr``: magic ``XSLM``, offset and byte count of the target piece it holds, CRC32C of the
  buffer, file-system UUID, owner inode, its own disk address, LSN); on v4 the buffer is target bytes only.

Everything is checked (magic, CRC, owner, offsets, sizes); a link that fails raises :class:`FilesystemError`
naming what is wrong and where, so no wrong target is ever written. A target is at most 1024 bytes
(``MAXPATHLEN``), so a link has at most a few blocks; one mapped by a B+tree is refused.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from restorekit.fs.checksum import crc32c
from restorekit.fs.errors import FilesystemError

if TYPE_CHECKING:
    from restorekit.fs.filesystems.xfs import XfsGeometry
    from restorekit.fs.stream import Stream

MAXPATHLEN = 1024
SYMLINK_MAGIC = b"XSLM"
#: ``xfs_dsymlink_hdr``: magic, offset, bytes, crc, uuid, owner, blkno (512-byte units), lsn.
HEADER = struct.Struct(">4sIII16sQQQ")
HEADER_CRC_OFFSET = 12
#: The inode core: magic, mode, version, data fork format (then v3 fields from byte 100 on).
CORE = struct.Struct(">2sHBB")
CORE_V2_SIZE, CORE_V3_SIZE = 100, 176
INODE_CRC_OFFSET = 100
FORMAT_LOCAL, FORMAT_EXTENTS, FORMAT_BTREE = 1, 2, 3
DIFLAG2_NREXT64 = 0x10
EXTENT_RECORD = 16
S_IFMT, S_IFLNK = 0o170000, 0o120000

_HINT = "the link's inode or blocks are damaged; recreate the link by hand (xfs_repair -n on a copy says more)"


def _damaged(message: str, offset: int | None) -> FilesystemError:
    return FilesystemError(f"symbolic link cannot be read: {message}", offset=offset, hint=_HINT)


def read_symlink(stream: Stream, geometry: XfsGeometry, ino: int) -> str:
    """The target of the symbolic link with inode number ``ino`` (bytes that are not UTF-8 kept as surrogate
    escapes, as ``os.fsdecode`` does); :class:`FilesystemError` when any structure on the way is damaged."""
    location = geometry.inode_location(ino)
    if location is None:
        raise _damaged(f"inode {ino} lies outside the file system", None)
    agno, agbno = location
    offset = ((agno * geometry.ag_blocks + agbno) * geometry.block_size
              + (ino & ((1 << geometry.inode_per_block_log) - 1)) * geometry.inode_size)
    raw = stream.pread(geometry.inode_size, offset)
    if len(raw) < geometry.inode_size:
        raise _damaged(f"inode {ino} lies past the end of the volume", offset)
    return link_target(raw, geometry, ino, offset, stream).decode("utf-8", "surrogateescape")


def link_target(raw: bytes, geometry: XfsGeometry, ino: int, offset: int, stream: Stream) -> bytes:
    """The target bytes of the link whose inode ``raw`` was read at ``offset``; remote blocks come from ``stream``."""
    magic, mode, version, fmt = CORE.unpack_from(raw)
    if magic != b"IN" or version not in (1, 2, 3):
        raise _damaged(f"inode {ino} has no valid inode core (magic {magic!r}, version {version})", offset)
    if mode & S_IFMT != S_IFLNK:
        raise _damaged(f"inode {ino} is not a symbolic link (mode 0o{mode:o})", offset)
    size = struct.unpack_from(">Q", raw, 56)[0]
    if not 0 < size <= MAXPATHLEN:
        raise _damaged(f"inode {ino} gives a target of {size} bytes (1 to {MAXPATHLEN})", offset)
    if version == 3:
        crc, number = struct.unpack_from("<I", raw, INODE_CRC_OFFSET)[0], struct.unpack_from(">Q", raw, 152)[0]
        if crc != crc32c(raw[:INODE_CRC_OFFSET] + bytes(4) + raw[INODE_CRC_OFFSET + 4:]) or number != ino:
            raise _damaged(f"inode {ino} fails its CRC32C or number check", offset)
    core = CORE_V3_SIZE if version == 3 else CORE_V2_SIZE
    forkoff = raw[82]
    fork_end = core + forkoff * 8 if forkoff else len(raw)
    if fork_end > len(raw):
        raise _damaged(f"inode {ino}'s attribute fork offset {forkoff} lies past the inode", offset)
    fork = raw[core:fork_end]
    if fmt == FORMAT_LOCAL:
        if size > len(fork):
            raise _damaged(f"inode {ino} keeps a {size}-byte target in a {len(fork)}-byte fork", offset)
        return fork[:size]
    if fmt == FORMAT_EXTENTS:
        if version == 3 and struct.unpack_from(">Q", raw, 120)[0] & DIFLAG2_NREXT64:
            count = struct.unpack_from(">Q", raw, 24)[0]
        else:
            count = struct.unpack_from(">I", raw, 76)[0]
        if count * EXTENT_RECORD > len(fork):
            raise _damaged(f"inode {ino} lists {count} extents, more than its fork holds", offset)
        return remote_target(stream, geometry, ino, size, extents(fork, count))
    if fmt == FORMAT_BTREE:
        raise _damaged(f"inode {ino} maps its target with a B+tree, which restorekit does not read for links",
                       offset)
    raise _damaged(f"inode {ino} has unknown data fork format {fmt}", offset)


def extents(fork: bytes, count: int) -> list[tuple[int, int, int]]:
    """(start offset, start block, block count) of each packed 128-bit extent record: flag 1 bit, offset 54,
    block 52, count 21."""
    out = []
    for index in range(count):
        hi, lo = struct.unpack_from(">QQ", fork, index * EXTENT_RECORD)
        record = hi << 64 | lo
        out.append(((record >> 73) & ((1 << 54) - 1), (record >> 21) & ((1 << 52) - 1), record & ((1 << 21) - 1)))
    return out


def remote_target(stream: Stream, geometry: XfsGeometry, ino: int, size: int,
                  maps: list[tuple[int, int, int]]) -> bytes:
    """``size`` target bytes from the link's extents, each one buffer (with a checked header on v5)."""
    target = b""
    next_block = 0
    most = -(-MAXPATHLEN // (geometry.block_size - (HEADER.size if geometry.crc else 0)))
    for start, block, count in maps:
        if len(target) >= size:
            break
        where = geometry.block_offset(block)
        if start != next_block or not 0 < count <= most or where is None:
            raise _damaged(f"inode {ino} has a bad extent (file block {start}, disk block {block}, {count} blocks)",
                           where)
        length = count * geometry.block_size
        buffer = stream.pread(length, where)
        if len(buffer) < length:
            raise _damaged(f"the block of inode {ino} lies past the end of the volume", where)
        target += remote_piece(buffer, geometry, ino, len(target), size - len(target), where)
        next_block = start + count
    if len(target) != size:
        raise _damaged(f"inode {ino}'s blocks hold {len(target)} of its {size} target bytes", None)
    return target


def remote_piece(buffer: bytes, geometry: XfsGeometry, ino: int, done: int, left: int, where: int) -> bytes:
    """The target bytes one buffer holds after ``done`` bytes, at most ``left`` (v4: the buffer itself)."""
    if not geometry.crc:
        return buffer[:left]
    magic, piece_offset, piece_bytes, _crc, fs_uuid, owner, blkno, _lsn = HEADER.unpack_from(buffer)
    crc = struct.unpack_from("<I", buffer, HEADER_CRC_OFFSET)[0]  # XFS stores its CRCs little-endian
    want = min(left, len(buffer) - HEADER.size)
    problems = [
        (magic == SYMLINK_MAGIC, f"magic 0x{magic.hex()}, not XSLM"),
        (crc == crc32c(buffer[:HEADER_CRC_OFFSET] + bytes(4) + buffer[HEADER_CRC_OFFSET + 4:]),
         "its CRC32C does not match"),
        (owner == ino, f"owner inode {owner}, not {ino}"),
        (fs_uuid == geometry.meta_uuid, "the UUID of another file system"),
        (blkno * 512 == where, f"it says it is at disk address {blkno}"),
        (piece_offset == done and piece_bytes == want,
         f"it holds bytes {piece_offset}+{piece_bytes} of the target, not {done}+{want}"),
    ]
    for ok, what in problems:
        if not ok:
            raise _damaged(f"the block of inode {ino} fails its header check: {what}", where)
    return buffer[HEADER.size : HEADER.size + want]
