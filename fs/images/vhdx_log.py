"""The VHDX log, replayed in memory: the file as it should be, without ever writing it.

Hyper-V leaves a non-empty log when the host stops abruptly. The active sequence of log entries (``loge``,
each holding 4 KiB page writes as ``desc`` + ``data`` sectors and ``zero`` ranges) is found as the
specification describes, and applied to an in-memory overlay of the file; :class:`FileView` then reads
the file through that overlay, giving replayed pages as extents on a :class:`~restorekit.fs.stream.MemorySource`.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from restorekit.fs.errors import CorruptImageError, UnsupportedImageError
from restorekit.fs.images.vhdx_meta import HEADER_SECTION, KIB, MAX_FILE_OFFSET, MIB, PAGE, Header, crc_ok
from restorekit.fs.stream import Extent, ExtentKind, MemorySource, Stream

if TYPE_CHECKING:
    from collections.abc import Iterator

    from restorekit.fs.stream import FileSource

LOG_ENTRY_HEADER = struct.Struct("<4sIIIQI4x16sQQ")
LOG_DESCRIPTOR = struct.Struct("<4s4s8sQQ")  # signature, trailing bytes, leading bytes or zero length, offset, seq
LOG_DATA_SECTOR = struct.Struct("<4sI4084sI")
LOG_MAY_WRITE_FROM = 192 * KIB  # the file identifier and headers are never written through the log
MAX_LOG_LENGTH = 256 * MIB  # the whole log is read into memory; Hyper-V and qemu-img make 1 MiB logs
REPLAY_HINT = (
    "replay the log on a COPY of the image, never the original: `qemu-img check -r all COPY.vhdx` "
    "(or attach the copy in Hyper-V), then read the copy"
)

# -- the file as the log says it should be ------------------------------------------------------------------


class Segment(NamedTuple):
    """A stretch ``[start, end)`` of the file that the log replaced: zeros, or pages held in memory."""

    start: int
    end: int
    memory_offset: int | None  # where in the replay buffer; None for zeros


class FileView(Stream):
    """The image file with the replayed log laid over it; without a log it is the file itself.

    Its extents are ``DATA`` in the file, ``DATA`` in memory for pages the log rewrote, and ``ZERO`` for
    ranges the log zeroed or past the end of the file (a replayed log may extend it).
    """

    def __init__(
        self, source: FileSource, size: int | None = None, segments: tuple[Segment, ...] = (), memory: bytes = b""
    ) -> None:
        super().__init__(source.size if size is None else size)
        self.source = source
        self.segments = segments
        self._starts = [seg.start for seg in segments]
        self.memory = MemorySource(f"{source.name} (log replayed in memory)", memory)

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        return self.place(offset, offset, length)

    def place(self, logical: int, offset: int, length: int) -> Iterator[Extent]:
        """Extents for the file range ``[offset, offset + length)``, placed at ``logical`` in the disk."""
        end = offset + length
        if not self.segments:
            yield from self._plain(logical, offset, end)
            return
        index = bisect.bisect_right(self._starts, offset) - 1
        if index < 0 or self.segments[index].end <= offset:
            index += 1
        pos = offset
        for seg in self.segments[index:]:
            if seg.start >= end:
                break
            if seg.start > pos:
                yield from self._plain(logical + pos - offset, pos, seg.start)
                pos = seg.start
            stop = min(end, seg.end)
            if seg.memory_offset is None:
                yield Extent(logical + pos - offset, stop - pos, ExtentKind.ZERO)
            else:
                at = seg.memory_offset + pos - seg.start
                yield Extent(logical + pos - offset, stop - pos, ExtentKind.DATA, self.memory, at)
            pos = stop
        if pos < end:
            yield from self._plain(logical + pos - offset, pos, end)

    def _plain(self, logical: int, start: int, end: int) -> Iterator[Extent]:
        stored = min(end, self.source.size)
        if start < stored:
            yield Extent(logical, stored - start, ExtentKind.DATA, self.source, start)
        if max(start, stored) < end:
            yield Extent(logical + max(start, stored) - start, end - max(start, stored), ExtentKind.ZERO)


class _Overlay:
    """Page writes and zero ranges replayed from the log, later ones replacing earlier ones.

    The writes are kept in log order and resolved once, newest first: each keeps the bytes that no newer write
    has claimed. That costs a bisection per write, so a log of tens of thousands of descriptors replays at
    once (applying each write to the state so far cost time in the number of earlier writes).
    """

    def __init__(self) -> None:
        self._writes: list[tuple[int, int, bytes | None]] = []  # (file offset, length, 4 KiB page or None: zeros)

    @property
    def end(self) -> int:
        return max((offset + length for offset, length, _data in self._writes), default=0)

    def write(self, offset: int, data: bytes) -> None:
        self._writes.append((offset, PAGE, data))

    def zero(self, offset: int, length: int) -> None:
        self._writes.append((offset, length, None))

    def view(self, source: FileSource, size: int) -> FileView:
        """The file with this overlay on top; consecutive pages share one run of the memory buffer."""
        # Newest first: the stretches of each write that no newer one covers, as (start, end, page, page offset).
        pieces: list[tuple[int, int, bytes | None, int]] = []
        claimed_starts: list[int] = []  # disjoint and sorted: the file ranges newer writes decided
        claimed_ends: list[int] = []
        for offset, length, data in reversed(self._writes):
            end = offset + length
            first = last = bisect.bisect_right(claimed_ends, offset)  # the first claimed range ending after offset
            pos = offset
            while last < len(claimed_starts) and claimed_starts[last] < end:
                if claimed_starts[last] > pos:
                    pieces.append((pos, claimed_starts[last], data, pos - offset))
                pos = max(pos, claimed_ends[last])
                last += 1
            if pos < end:
                pieces.append((pos, end, data, pos - offset))
            if first < last:
                offset, end = min(offset, claimed_starts[first]), max(end, claimed_ends[last - 1])
            claimed_starts[first:last] = [offset]
            claimed_ends[first:last] = [end]
        segments: list[Segment] = []
        chunks: list[bytes] = []
        used = 0
        for start, stop, data, within in sorted(pieces, key=lambda piece: piece[0]):
            if data is None:
                segments.append(Segment(start, stop, None))
                continue
            last_segment = segments[-1] if segments else None
            if (last_segment is not None and last_segment.memory_offset is not None and last_segment.end == start
                    and last_segment.memory_offset + last_segment.end - last_segment.start == used):
                segments[-1] = Segment(last_segment.start, stop, last_segment.memory_offset)
            else:
                segments.append(Segment(start, stop, used))
            chunks.append(data[within : within + stop - start])
            used += stop - start
        return FileView(source, size, tuple(segments), b"".join(chunks))


# -- the log ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """One valid log entry: its place in the ring and the writes it describes."""

    position: int
    length: int
    tail: int
    sequence: int
    flushed_file_offset: int
    last_file_offset: int
    writes: tuple[tuple[int, int, bytes | None], ...]  # (file offset, length, 4 KiB page or None for zeros)


def _ring(log: bytes, position: int, length: int) -> bytes:
    """``length`` bytes of the circular log from ``position``, wrapping at its end."""
    first = log[position : position + length]
    return first + log[: length - len(first)] if len(first) < length else first


def parse_log_entry(log: bytes, position: int, log_guid: bytes) -> LogEntry | None:
    """The entry at ``position`` if every field, descriptor, data sector and the checksum are valid."""
    (sig, _crc, length, tail, seq, count, guid, flushed, last) = LOG_ENTRY_HEADER.unpack_from(log, position)
    if sig != b"loge" or guid != log_guid or seq == 0:
        return None
    descriptor_pages = (count + 2 + 127) // 128  # the first page holds the 64-byte header and 126 descriptors
    if not length or length % PAGE or length > len(log) or tail % PAGE or tail >= len(log):
        return None
    if descriptor_pages * PAGE > length:
        return None
    raw = _ring(log, position, length)
    if not crc_ok(raw):
        return None
    writes: list[tuple[int, int, bytes | None]] = []
    data_at = descriptor_pages * PAGE
    for i in range(count):
        kind, trailing, leading, file_offset, desc_seq = LOG_DESCRIPTOR.unpack_from(raw, 64 + 32 * i)
        if desc_seq != seq or file_offset % PAGE:
            return None
        if kind == b"zero":
            zero_length = int.from_bytes(leading, "little")
            if zero_length % PAGE:
                return None
            writes.append((file_offset, zero_length, None))
        elif kind == b"desc":
            if data_at + PAGE > length:
                return None
            data_sig, high, middle, low = LOG_DATA_SECTOR.unpack_from(raw, data_at)
            if data_sig != b"data" or (high << 32 | low) != seq:
                return None
            writes.append((file_offset, PAGE, leading + middle + trailing))
            data_at += PAGE
        else:
            return None
    return LogEntry(position, length, tail, seq, flushed, last, tuple(writes))


def find_active_sequence(log: bytes, log_guid: bytes) -> list[LogEntry]:
    """The newest valid, complete log sequence (MS-VHDX 2.3.3), tail entry first; empty if there is none.

    A sequence is a run of valid entries, each following the previous one in the ring with the next sequence
    number; it is complete when its head (newest) entry's tail points at one of its entries.
    """
    size = len(log)
    cache: dict[int, LogEntry | None] = {}

    def entry_at(position: int) -> LogEntry | None:
        if position not in cache:
            cache[position] = parse_log_entry(log, position, log_guid)
        return cache[position]

    best: list[LogEntry] = []
    tail = old_tail = 0
    while True:
        sequence: list[LogEntry] = []
        head, covered = tail, 0
        while covered < size:
            entry = entry_at(head)
            if entry is None or (sequence and entry.sequence != sequence[-1].sequence + 1):
                break
            sequence.append(entry)
            covered += entry.length
            head = (head + entry.length) % size
        start = None
        if sequence:
            start = next((i for i, e in enumerate(sequence) if e.position == sequence[-1].tail), None)
        if start is not None and (not best or sequence[-1].sequence > best[-1].sequence):
            best = sequence[start:]
        # An empty or incomplete sequence: try the next page; a complete one: continue after its head.
        tail = (tail + PAGE) % size if start is None else head
        if tail <= old_tail:
            return best
        old_tail = tail


def replay_log(source: FileSource, header: Header) -> tuple[FileView, list[str]]:
    """Replay the active log sequence into memory and return the file as it should be, with a warning."""
    name = source.name
    if header.log_version != 0:
        raise UnsupportedImageError(
            f"the log has format version {header.log_version} and holds pending updates; only version 0 is defined",
            image=name,
            offset=header.offset + 64,
            hint=REPLAY_HINT,
        )
    offset, length = header.log_offset, header.log_length
    if (offset < HEADER_SECTION or offset % MIB or not length or length % MIB or offset + length > source.size
            or length > MAX_LOG_LENGTH):
        raise CorruptImageError(
            f"the header places the log at {offset:#x} with {length} bytes, outside the file ({source.size} bytes), "
            f"not aligned to 1 MiB or longer than {MAX_LOG_LENGTH >> 20} MiB",
            image=name,
            offset=header.offset + 68,
            hint="the header is damaged or the file truncated; copy it again",
        )
    entries = find_active_sequence(source.pread(length, offset), header.log_guid.bytes_le)
    if not entries:
        raise UnsupportedImageError(
            f"the header says the log (LogGuid {header.log_guid}) holds updates not yet applied to the file, "
            "but no valid log sequence was found, so they cannot be replayed",
            image=name,
            offset=offset,
            hint=REPLAY_HINT,
        )
    head = entries[-1]
    if head.last_file_offset > MAX_FILE_OFFSET:
        raise UnsupportedImageError(
            f"log entry {head.sequence} says the file ends at {head.last_file_offset:#x}, beyond any VHDX",
            image=name,
            offset=offset + head.position + 56,
            hint=REPLAY_HINT,
        )
    if source.size < head.flushed_file_offset:
        raise CorruptImageError(
            f"the file has {source.size} bytes but its log says it had at least {head.flushed_file_offset}: "
            "the image is truncated",
            image=name,
            offset=source.size,
            hint="copy the image again; the end of the file is missing",
        )
    overlay = _Overlay()
    for entry in entries:
        for at, size, data in entry.writes:
            if at < LOG_MAY_WRITE_FROM or at + size > MAX_FILE_OFFSET or (at < offset + length and offset < at + size):
                raise UnsupportedImageError(
                    f"log entry {entry.sequence} writes {size} bytes at file offset {at:#x}, where the log must "
                    "never write (the file identifier, the headers or the log itself)",
                    image=name,
                    offset=offset + entry.position,
                    hint=REPLAY_HINT,
                )
            if data is None:
                overlay.zero(at, size)
            else:
                overlay.write(at, data)
    size = max(source.size, head.last_file_offset, overlay.end)
    count = len(entries)
    warning = (
        f"the log held {count} pending entr{'y' if count == 1 else 'ies'} (sequence {entries[0].sequence}-"
        f"{head.sequence}); they were replayed in memory only, the file was not changed"
    )
    return overlay.view(source, size), [warning]


