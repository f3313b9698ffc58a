"""pytsk3 glue: serve The Sleuth Kit from a :class:`fs.stream.Stream`, and read its files as file objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytsk3

from fs.filesystem import BackendFile

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


class TskFile(BackendFile):
    """A read-only file object over a pytsk3 file."""

    def __init__(self, entry: Any) -> None:
        super().__init__(entry, entry.info.meta.size if entry.info.meta else 0)

    def _read_at(self, size: int, offset: int) -> bytes:
        return self._entry.read_random(offset, size)
