"""pytsk3 glue: serve The Sleuth Kit from a :class:`fs.stream.Stream`, and read its files as file objects."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pytsk3

if TYPE_CHECKING:
    from fs.stream import Stream


class StreamImg(pytsk3.Img_Info):  # type: ignore[misc]
    """A pytsk3 image whose bytes come from a stream (TSK asks ``read(offset, size)``)."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def close(self) -> None:
        """Nothing to close: the stream belongs to the caller."""

    def read(self, offset: int, size: int) -> bytes:
        return self._stream.pread(size, offset)

    def get_size(self) -> int:
        return self._stream.size


def open_tsk(stream: Stream) -> Any:
    """A pytsk3 ``FS_Info`` over the stream."""
    return pytsk3.FS_Info(StreamImg(stream))


class TskFile(io.RawIOBase):
    """A read-only file object over a pytsk3 file."""

    def __init__(self, entry: Any) -> None:
        super().__init__()
        self._entry = entry
        self._size = entry.info.meta.size if entry.info.meta else 0
        self._pos = 0

    def readable(self) -> bool:
        return True

    def get_size(self) -> int:
        """The file's size."""
        return self._size

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        size = max(0, min(size, self._size - self._pos))
        if not size:
            return b""
        data = self._entry.read_random(self._pos, size)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos
