"""Read-only byte streams and their extent maps: the contract every layer implements.

A :class:`Stream` is a read-only file-like object (``read``, ``seek``, ``tell``, ``size``) that can also
say *where* its bytes live: :meth:`Stream.extents` maps a logical range to runs that are either stored
plainly in an open file (:class:`FileSource`) or in memory (:class:`MemorySource`), or are all zero. A
copier can then move data with ``os.copy_file_range``/``os.sendfile`` and no Python per block, and every
layer above (partition, container, file system) maps its ranges through the layer below.

A subclass implements only :meth:`Stream._map`, which may also yield ``PARENT`` runs: bytes that come from
the stream's :attr:`Stream.parent` (a differencing image's parent). :meth:`Stream.extents` resolves those
through the parent, so consumers only ever see ``DATA`` and ``ZERO``.
"""

from __future__ import annotations

import bisect
import enum
import errno
import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from restorekit.fs.errors import CorruptImageError, ImageError, RestoreKitError

if TYPE_CHECKING:
    from collections.abc import Iterator


#: How much a small :meth:`Stream.pread` maps around itself and keeps (one window per stream).
MAP_WINDOW = 1 << 20


class Source(Protocol):
    """Where the bytes of a ``DATA`` extent are stored."""

    name: str

    def pread(self, length: int, offset: int) -> bytes:
        """Return exactly ``length`` bytes at ``offset``, or raise."""
        ...

    def fileno(self) -> int | None:
        """The OS file descriptor to copy from in the kernel, or None for bytes held in memory."""
        ...


class FileSource:
    """A file opened read-only by descriptor; never written, never locked."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fspath(path)
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
        try:
            # O_NOATIME keeps even the access time of the recovery point unchanged (owner or root only).
            self._fd = os.open(self.name, flags | getattr(os, "O_NOATIME", 0))
        except PermissionError:
            self._fd = os.open(self.name, flags)
        except FileNotFoundError as exc:
            raise ImageError("file not found", image=self.name, hint="check the path") from exc
        except IsADirectoryError as exc:
            raise ImageError("is a folder, not an image file", image=self.name) from exc
        except OSError as exc:
            hint = None
            if exc.errno == errno.EMFILE:
                hint = "raise the open-file limit (ulimit -n): each image of a differencing chain keeps one file open"
            raise ImageError(f"cannot open: {exc.strerror}", image=self.name, hint=hint) from exc
        self.size = os.lseek(self._fd, 0, os.SEEK_END)
        st = os.fstat(self._fd)
        self.identity = (st.st_dev, st.st_ino)

    def pread(self, length: int, offset: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) < length:
            # A short read at the end of a file is the classic truncated-image failure.
            while len(data) < length:
                more = os.pread(self._fd, length - len(data), offset + len(data))
                if not more:
                    raise CorruptImageError(
                        f"file ends at {self.size} bytes but {length} bytes are needed here (truncated image?)",
                        image=self.name,
                        offset=offset,
                        hint="copy the image again; the file is shorter than its own tables say",
                    )
                data += more
        return data

    def fileno(self) -> int | None:
        return self._fd

    def data_runs(self, offset: int, length: int) -> Iterator[tuple[int, int, bool]]:
        """``(start, end, holds_data)`` runs covering the range: holes the file system reports
        (``SEEK_HOLE``) are not data; a file or device without hole support is all data."""
        end = offset + length
        pos = offset
        while pos < end:
            try:
                data = os.lseek(self._fd, pos, os.SEEK_DATA)
            except OSError as exc:
                # ENXIO: only a hole from here to the end of the file; otherwise no hole support.
                yield pos, end, exc.errno != errno.ENXIO
                return
            if data > pos:
                yield pos, min(data, end), False
                pos = min(data, end)
                if pos >= end:
                    return
            hole = min(os.lseek(self._fd, pos, os.SEEK_HOLE), end)
            yield pos, hole, True
            pos = hole

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ImageSource(Source, Protocol):
    """What an image file is read from: a local file (:class:`FileSource`) or a blob in Azure Storage
    (:class:`restorekit.fs.remote.blob.BlobSource`)."""

    size: int
    #: Tells two sources apart, to find cycles in differencing chains (a file's device and inode).
    identity: tuple[object, ...]

    def data_runs(self, offset: int, length: int) -> Iterator[tuple[int, int, bool]]:
        """``(start, end, holds_data)`` runs covering ``[offset, offset + length)``; holes read as zeros."""
        ...

    def close(self) -> None:
        """Release the file or the connections."""
        ...


def stored_extents(source: ImageSource, pos: int, end: int, base: int = 0) -> Iterator[Extent]:
    """Extents of ``source``'s bytes ``[pos, end)`` stored plainly, at logical offset ``base + pos``: its holes
    (a sparse file's, a page blob's unwritten pages) as ``ZERO`` runs, so they are neither read nor fetched."""
    for start, stop, data in source.data_runs(pos, end - pos):
        if data:
            yield Extent(base + start, stop - start, ExtentKind.DATA, source, start)
        else:
            yield Extent(base + start, stop - start, ExtentKind.ZERO)


class MemorySource:
    """Bytes held in memory, e.g. sectors rebuilt by replaying a VHDX log."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self._data = data

    def pread(self, length: int, offset: int) -> bytes:
        return self._data[offset : offset + length]

    def fileno(self) -> int | None:
        return None


class ExtentKind(enum.Enum):
    """What an extent's bytes are."""

    DATA = "data"  # stored in ``source`` at ``source_offset``
    ZERO = "zero"  # all zero bytes, stored nowhere
    PARENT = "parent"  # the same range of the parent stream (only from ``Stream._map``)


@dataclass(frozen=True, slots=True)
class Extent:
    """A run of ``length`` bytes at logical ``offset`` of a stream."""

    offset: int
    length: int
    kind: ExtentKind
    source: Source | None = None
    source_offset: int = 0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"offset": self.offset, "length": self.length, "kind": self.kind.value}
        if self.source is not None:
            out["source"] = self.source.name
            out["sourceOffset"] = self.source_offset
        return out


def coalesce(extents: Iterator[Extent]) -> Iterator[Extent]:
    """Merge neighbouring runs that continue each other (same kind, same source, contiguous)."""
    pending: Extent | None = None
    for ext in extents:
        if ext.length == 0:
            continue
        if pending is not None and _continues(pending, ext):
            pending = Extent(pending.offset, pending.length + ext.length, pending.kind, pending.source,
                             pending.source_offset)
            continue
        if pending is not None:
            yield pending
        pending = ext
    if pending is not None:
        yield pending


def _continues(a: Extent, b: Extent) -> bool:
    if a.kind is not b.kind or a.offset + a.length != b.offset:
        return False
    if a.kind is ExtentKind.DATA:
        return a.source is b.source and a.source_offset + a.length == b.source_offset
    return True


class Stream(io.RawIOBase):
    """A read-only, seekable byte stream of known size whose bytes can be mapped to extents."""

    #: The stream whose bytes ``PARENT`` extents refer to.
    parent: Stream | None = None

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._pos = 0
        self._window: list[Extent] = []  # the extents of the last range pread mapped, and their offsets
        self._window_starts: list[int] = []

    # -- what a subclass implements ------------------------------------------------------------------

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        """Yield extents covering exactly ``[offset, offset + length)``, in order, inside the stream."""
        raise NotImplementedError

    # -- extents ---------------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The stream's size in bytes."""
        return self._size

    def get_size(self) -> int:
        """The size, under the name libyal's file-object bindings ask for."""
        return self._size

    def extents(self, offset: int = 0, length: int | None = None) -> Iterator[Extent]:
        """Map ``[offset, offset + length)`` (clipped to the stream) to ``DATA`` and ``ZERO`` runs."""
        if offset < 0:
            raise ValueError("negative offset")
        if length is None:
            length = self._size - offset
        length = max(0, min(length, self._size - offset))
        if length == 0:
            return iter(())
        return coalesce(self._resolved(offset, length))

    def _resolved(self, offset: int, length: int) -> Iterator[Extent]:
        """The runs of :meth:`_map`, with ``PARENT`` runs mapped down the chain of parents.

        A differencing chain can be hundreds of images deep, so the parents are walked with a stack of
        pending maps, never by recursion (each nested generator would cost a Python frame per image).
        """
        pending: list[tuple[Stream, Iterator[Extent]]] = [(self, self._map(offset, length))]
        while pending:
            stream, runs = pending[-1]
            ext = next(runs, None)
            if ext is None:
                pending.pop()
            elif ext.kind is not ExtentKind.PARENT:
                yield ext
            elif stream.parent is None:
                yield Extent(ext.offset, ext.length, ExtentKind.ZERO)
            else:
                # A parent shorter than the child reads as zeros past its end: queue those after its runs.
                parent = stream.parent
                inside = max(0, min(ext.length, parent.size - ext.offset))
                if inside < ext.length:
                    tail = Extent(ext.offset + inside, ext.length - inside, ExtentKind.ZERO)
                    pending.append((stream, iter((tail,))))
                if inside:
                    pending.append((parent, parent._map(ext.offset, inside)))

    # -- reading ---------------------------------------------------------------------------------------

    def pread(self, length: int, offset: int) -> bytes:
        """Read up to ``length`` bytes at ``offset`` without moving the position.

        Backends read metadata in many small pieces (an MFT record, an inode table block), and mapping a
        range walks every layer below; so a read maps the whole :data:`MAP_WINDOW` around it once and the
        reads that follow inside it only look the window up. Maps never change once a stream is open.
        """
        if offset >= self._size or length <= 0:
            return b""
        end = min(offset + length, self._size)
        window, starts = self._window, self._window_starts
        if not window or offset < starts[0] or end > window[-1].offset + window[-1].length:
            first = offset - offset % MAP_WINDOW
            try:
                window = list(self.extents(first, max(end, first + MAP_WINDOW) - first))
            except (RestoreKitError, OSError):  # a damaged neighbour (truncated image) must not fail this read
                window = list(self.extents(offset, end - offset))
            self._window = window
            starts = self._window_starts = [ext.offset for ext in window]
        parts = []
        for ext in window[max(0, bisect.bisect_right(starts, offset) - 1) :]:
            if ext.offset >= end:
                break
            lo, hi = max(offset, ext.offset), min(end, ext.offset + ext.length)
            if ext.kind is ExtentKind.DATA:
                assert ext.source is not None
                parts.append(ext.source.pread(hi - lo, ext.source_offset + lo - ext.offset))
            else:
                parts.append(bytes(hi - lo))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.pread(len(buffer), self._pos)
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self._size - self._pos)
        data = self.pread(size, self._pos)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos
