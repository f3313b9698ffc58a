"""The volume layer: byte ranges of a disk (partitions), of several disks (LVM, RAID), or decrypted bytes.

Every volume is a :class:`restorekit.fs.stream.Stream`, so a file system, a container or a copier treats it like any
other layer. A :class:`Volume` is a window of a base stream: its :meth:`~Volume._map` maps through the
base's extents, so a copy from a partition still runs in the kernel. A :class:`SegmentVolume` stitches
windows of several streams together (an LVM logical volume, a linear RAID array). A
:class:`DecryptedVolume` holds bytes that only exist after decryption: its extents are ``DATA`` on a
:class:`DecryptingSource`, whose ``fileno()`` is None, so a copier falls back to ``pread``.

:class:`ReadCounter` and :func:`counted` measure what a scan reads from the image files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from restorekit.fs.errors import CorruptImageError
from restorekit.fs.stream import Extent, ExtentKind, Source, Stream

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


class Volume(Stream):
    """A window ``[offset, offset + size)`` of a base stream (a partition of a disk, a PV's data area)."""

    def __init__(self, base: Stream, offset: int, size: int, *, name: str = "") -> None:
        super().__init__(max(0, min(size, base.size - offset)))
        #: The stream this volume is a window of (not :attr:`Stream.parent`, which means a differencing parent).
        self.base = base
        self.offset = offset
        self.name = name
        #: Bytes the volume's own table declares; larger than :attr:`size` when the disk ends early.
        self.declared_size = size

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        for ext in self.base.extents(self.offset + offset, length):
            yield Extent(ext.offset - self.offset, ext.length, ext.kind, ext.source, ext.source_offset)
        covered = max(0, min(length, self.base.size - self.offset - offset))
        if covered < length:  # never happens for a clipped window; kept so _map always covers its range
            yield Extent(offset + covered, length - covered, ExtentKind.ZERO)


@dataclass(frozen=True)
class Segment:
    """``length`` bytes at ``offset`` of a :class:`SegmentVolume` come from ``stream`` at ``stream_offset``.

    A segment whose ``stream`` is None reads as zeros (a missing physical volume, an unmapped range).
    """

    offset: int
    length: int
    stream: Stream | None
    stream_offset: int = 0


class SegmentVolume(Stream):
    """Runs of other streams laid end to end: an LVM logical volume, a linear RAID array."""

    def __init__(self, segments: Sequence[Segment], size: int, *, name: str = "") -> None:
        super().__init__(size)
        self.segments = sorted(segments, key=lambda seg: seg.offset)
        self.name = name

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        pos, end = offset, offset + length
        for seg in self.segments:
            if pos >= end:
                return
            seg_end = seg.offset + seg.length
            if seg_end <= pos:
                continue
            if seg.offset > pos:  # a gap between segments reads as zeros
                gap_end = min(seg.offset, end)
                yield Extent(pos, gap_end - pos, ExtentKind.ZERO)
                pos = gap_end
                if pos >= end:
                    return
            run = min(seg_end, end) - pos
            if seg.stream is None:
                yield Extent(pos, run, ExtentKind.ZERO)
            else:
                start = seg.stream_offset + pos - seg.offset
                got = 0
                for ext in seg.stream.extents(start, run):
                    yield Extent(pos + ext.offset - start, ext.length, ext.kind, ext.source, ext.source_offset)
                    got = ext.offset + ext.length - start
                if got < run:  # the member stream is shorter than the table says
                    yield Extent(pos + got, run - got, ExtentKind.ZERO)
            pos += run
        if pos < end:
            yield Extent(pos, end - pos, ExtentKind.ZERO)


class Decryptor(Protocol):
    """Reads plaintext at an offset of an encrypted volume (pybde, pyluksde or our own LUKS code)."""

    def read_plain(self, length: int, offset: int) -> bytes:
        """Return ``length`` decrypted bytes at ``offset`` of the unlocked volume."""
        ...


class DecryptingSource:
    """A :class:`restorekit.fs.stream.Source` whose bytes are decrypted on read; there is no file to copy from."""

    def __init__(self, name: str, decryptor: Decryptor, size: int) -> None:
        self.name = name
        self._decryptor = decryptor
        self.size = size

    def pread(self, length: int, offset: int) -> bytes:
        data = self._decryptor.read_plain(length, offset)
        if len(data) < length:
            data += bytes(length - len(data))
        return data

    def fileno(self) -> int | None:
        return None


def libyal_reason(exc: OSError) -> str:
    """The reason in a libyal error, which names the binding's call first and the innermost failure next."""
    text = str(exc.args[0]) if exc.args else str(exc)
    clauses = [c.strip() for c in text.split(". ") if c.strip()]
    return clauses[1] if len(clauses) > 1 else text


class LibyalDecryptor:
    """Plaintext of an unlocked libyal volume (pybde, pyluksde); read failures name the volume and offset."""

    def __init__(self, volume: Any, name: str, what: str, encrypted_size: int) -> None:
        self._volume = volume
        self._name = name
        self._what = what
        self._encrypted_size = encrypted_size

    def read_plain(self, length: int, offset: int) -> bytes:
        """Decrypt ``length`` bytes at ``offset``."""
        try:
            return self._volume.read_buffer_at_offset(length, offset)
        except OSError as exc:
            truncated = offset + length > self._encrypted_size
            raise CorruptImageError(
                f"{self._what} sectors cannot be read ({exc.args[0].split('.')[0]})", volume=self._name,
                offset=offset,
                hint="the encrypted volume is larger than its image (truncated); the missing part cannot be read"
                if truncated else "the encrypted volume is damaged",
            ) from exc


class DecryptedVolume(Stream):
    """The plaintext of an unlocked volume: one ``DATA`` extent on a :class:`DecryptingSource`."""

    def __init__(self, name: str, decryptor: Decryptor, size: int) -> None:
        super().__init__(size)
        self.name = name
        self.source = DecryptingSource(f"{name} (decrypted)", decryptor, size)

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        yield Extent(offset, length, ExtentKind.DATA, self.source, offset)


class ReadCounter:
    """Counts the bytes and reads that go to image sources through :func:`counted` streams."""

    def __init__(self) -> None:
        self.bytes_read = 0
        self.reads = 0

    def add(self, length: int) -> None:
        """Record one read of ``length`` bytes."""
        self.bytes_read += length
        self.reads += 1


class CountingSource:
    """A source that counts what is read from it and otherwise is the source it wraps (same ``fileno``)."""

    def __init__(self, inner: Source, counter: ReadCounter) -> None:
        self.name = inner.name
        self.inner = inner
        self.counter = counter

    def pread(self, length: int, offset: int) -> bytes:
        self.counter.add(length)
        return self.inner.pread(length, offset)

    def fileno(self) -> int | None:
        return self.inner.fileno()


class CountedStream(Stream):
    """A stream whose reads are counted: the same extents, each source wrapped in a :class:`CountingSource`."""

    def __init__(self, inner: Stream, counter: ReadCounter) -> None:
        super().__init__(inner.size)
        self.inner = inner
        self.counter = counter
        self._wrapped: dict[int, CountingSource] = {}
        self.name = getattr(inner, "path", getattr(inner, "name", ""))

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        for ext in self.inner.extents(offset, length):
            if ext.source is None:
                yield ext
                continue
            wrapped = self._wrapped.get(id(ext.source))
            if wrapped is None:
                wrapped = self._wrapped[id(ext.source)] = CountingSource(ext.source, self.counter)
            yield Extent(ext.offset, ext.length, ext.kind, wrapped, ext.source_offset)


def counted(stream: Stream, counter: ReadCounter) -> CountedStream:
    """Wrap ``stream`` so that every byte read from its image sources is added to ``counter``."""
    return CountedStream(stream, counter)
