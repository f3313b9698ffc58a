"""XFS: the big-endian superblock (``XFSB``) gives size, free blocks, UUID and label; pyfsxfs reads files."""

from __future__ import annotations

import struct
import uuid
from typing import Any

from fs.errors import FilesystemError
from fs.filesystem import Filesystem


class XfsFilesystem(Filesystem):
    """An XFS file system."""

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

    def _open_backend(self) -> Any:
        import pyfsxfs

        volume = pyfsxfs.volume()
        volume.open_file_object(self.stream)
        return volume

    def _entry(self, path: str) -> Any:
        return self.backend.get_file_entry_by_path(path)

    def _link_target(self, entry: Any) -> str | None:
        if entry.get_file_mode() & 0o170000 != 0o120000:
            return None
        return entry.get_symbolic_link_target()
