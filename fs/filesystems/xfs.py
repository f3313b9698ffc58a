"""XFS: the big-endian superblock (``XFSB``) gives size, free blocks, UUID and label; pyfsxfs reads files."""

from __future__ import annotations

import struct
import uuid

from restorekit.fs.errors import FilesystemError
from restorekit.fs.filesystem import LibyalFilesystem


class XfsFilesystem(LibyalFilesystem):
    """An XFS file system."""

    BACKEND = "pyfsxfs"
    type_name = "xfs"
    SIGNATURES = ((b"XFSB", 0),)

    def _parse(self) -> None:
        sb = self.stream.pread(512, 0)
        block, dblocks = struct.unpack_from(">IQ", sb, 4)
        if block < 512 or block > 65536 or block & (block - 1):
            raise FilesystemError(f"XFS superblock is damaged (block size {block})", volume=self.volume,
                                  offset=0, hint="xfs_repair -n on a copy says more")
        fdblocks = struct.unpack_from(">Q", sb, 144)[0]
        self.size = dblocks * block
        self.used = max(0, dblocks - fdblocks) * block
        self.uuid = str(uuid.UUID(bytes=sb[32:48]))
        self.label = sb[108:120].split(b"\0", 1)[0].decode("utf-8", "replace")
