"""VHDX (Hyper-V) images: fixed, dynamic and differencing (``.avhdx``), with the log replayed in memory.

Layout (Microsoft "[MS-VHDX] Virtual Hard Disk v2 (VHDX) File Format" and libyal's libvhdi notes), all
little-endian and 1 MiB aligned:

* 0: the file type identifier ``vhdxfile``; 64 KiB and 128 KiB: two 4 KiB headers (``head``, CRC-32C with
  the checksum field zeroed); the valid one with the higher sequence number is current. It gives the
  DataWriteGuid (what a child's ``parent_linkage`` names) and where the log is.
* 192 KiB and 256 KiB: two copies of the region table (``regi``) locating the BAT and the metadata region.
* The metadata region: a 64 KiB table (``metadata``) of items: file parameters (block size, "leave blocks
  allocated", "has parent"), virtual disk size, sector sizes, the virtual disk id and the parent locator.
* The BAT: one 64-bit entry per payload block (state in bits 0-2, file offset in MiB in bits 20-63), with a
  sector-bitmap entry after every *chunk ratio* payload entries (chunk ratio = 2^23 * logical sector size /
  block size). In a differencing image a partially present block's sector bitmap (1 bit per logical sector,
  least significant bit first) tells which sectors are stored here; the rest come from the parent.
* The log: a ring of entries (``loge``) holding 4 KiB page writes (``desc`` + ``data`` sectors) and zero
  ranges (``zero``) that must be applied before the file is read. Hyper-V leaves a non-empty log when the
  host stops abruptly. We never write the image: the active sequence is replayed into an in-memory overlay
  of the file, and region tables, metadata, BAT and sector bitmaps are read through that overlay.

Block states and what they read as: FULLY_PRESENT is stored here; ZERO reads as zeros; NOT_PRESENT and
UNDEFINED read as zeros, or in a differencing image come from the parent; UNMAPPED (the guest discarded the
block) reads as zeros, which the specification allows for every image type (the parent's bytes are not
always "the contents before the unmap", so they would be wrong for a block the child had written).
"""

from __future__ import annotations

import bisect
import functools
import os
import struct
import sys
import uuid
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, NoReturn

import crc32c

from fs.errors import CorruptImageError, ParentError, UnsupportedImageError
from fs.image import Image
from fs.stream import Extent, ExtentKind, MemorySource, Stream

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fs.image import Identity
    from fs.stream import FileSource

KIB = 1024
MIB = 1024 * KIB
PAGE = 4 * KIB  # the log's unit of writing
HEADER_OFFSETS = (64 * KIB, 128 * KIB)
HEADER_SIZE = 4 * KIB
REGION_TABLE_OFFSETS = (192 * KIB, 256 * KIB)
TABLE_SIZE = 64 * KIB  # region table and metadata table alike
HEADER_SECTION = 1 * MIB
LOG_MAY_WRITE_FROM = 192 * KIB  # the file identifier and headers are never written through the log
MAX_DISK_SIZE = 64 << 40
MAX_TABLE_ENTRIES = 2047
MAX_FILE_OFFSET = 2 * MAX_DISK_SIZE  # a 64 TiB disk and all its metadata fit well below this

HEADER = struct.Struct("<4sIQ16s16s16sHHIQ")
REGION_TABLE_HEADER = struct.Struct("<4sII4x")
REGION_TABLE_ENTRY = struct.Struct("<16sQII")
METADATA_TABLE_HEADER = struct.Struct("<8s2xH20x")
METADATA_TABLE_ENTRY = struct.Struct("<16sIII4x")
LOCATOR_HEADER = struct.Struct("<16s2xH")
LOCATOR_ENTRY = struct.Struct("<IIHH")
LOG_ENTRY_HEADER = struct.Struct("<4sIIIQI4x16sQQ")
LOG_DESCRIPTOR = struct.Struct("<4s4s8sQQ")  # signature, trailing bytes, leading bytes or zero length, offset, seq
LOG_DATA_SECTOR = struct.Struct("<4sI4084sI")


def _guid(text: str) -> bytes:
    """A GUID in its on-disk (mixed-endian) form."""
    return uuid.UUID(text).bytes_le


BAT_REGION = _guid("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA_REGION = _guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")
FILE_PARAMETERS = _guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE = _guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
VIRTUAL_DISK_ID = _guid("BECA12AB-B2E6-4523-93EF-C309E000C746")
LOGICAL_SECTOR_SIZE = _guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR_SIZE = _guid("CDA348C7-445D-4471-9CC9-E9885251C556")
PARENT_LOCATOR = _guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
VHDX_PARENT_LOCATOR_TYPE = _guid("B04AEFB7-D19E-4A81-B789-25B8E9445913")
KNOWN_REGIONS = {BAT_REGION: "BAT", METADATA_REGION: "metadata"}
KNOWN_METADATA = {
    FILE_PARAMETERS: "file parameters",
    VIRTUAL_DISK_SIZE: "virtual disk size",
    VIRTUAL_DISK_ID: "virtual disk id",
    LOGICAL_SECTOR_SIZE: "logical sector size",
    PHYSICAL_SECTOR_SIZE: "physical sector size",
    PARENT_LOCATOR: "parent locator",
}

# Payload block states (BAT entry bits 0-2); 4 and 5 are reserved.
NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED, FULLY_PRESENT, PARTIALLY_PRESENT = 0, 1, 2, 3, 6, 7
PAYLOAD_STATES = {
    0: "NOT_PRESENT",
    1: "UNDEFINED",
    2: "ZERO",
    3: "UNMAPPED",
    6: "FULLY_PRESENT",
    7: "PARTIALLY_PRESENT",
}
SB_BLOCK_PRESENT = 6
#: Parent locator keys that locate the parent, in the order MS-VHDX says to try them.
PATH_KEYS = ("relative_path", "volume_path", "absolute_win32_path")

NEWER_FEATURE_HINT = (
    "the image uses a VHDX feature newer than this reader; on a Hyper-V host, convert a COPY (Convert-VHD) and "
    "read the converted copy"
)
REPLAY_HINT = (
    "replay the log on a COPY of the image, never the original: `qemu-img check -r all COPY.vhdx` "
    "(or attach the copy in Hyper-V), then read the copy"
)


def _crc_ok(raw: bytes) -> bool:
    """True when the CRC-32C at byte 4 matches ``raw`` with those four bytes taken as zero."""
    stored = int.from_bytes(raw[4:8], "little")
    return crc32c.crc32c(raw[8:], crc32c.crc32c(raw[:4] + b"\0\0\0\0")) == stored


# -- headers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """The current VHDX header."""

    offset: int
    sequence: int
    file_write_guid: uuid.UUID
    data_write_guid: uuid.UUID
    log_guid: uuid.UUID
    log_version: int
    version: int
    log_length: int
    log_offset: int

    @classmethod
    def parse(cls, raw: bytes, offset: int) -> Header | str:
        """The header in ``raw``, or why it is not valid."""
        if raw[:4] != b"head":
            return "no 'head' signature"
        if not _crc_ok(raw):
            return "checksum mismatch"
        _sig, _crc, seq, file_write, data_write, log_guid, log_version, version, log_length, log_offset = (
            HEADER.unpack_from(raw)
        )
        return cls(
            offset,
            seq,
            uuid.UUID(bytes_le=file_write),
            uuid.UUID(bytes_le=data_write),
            uuid.UUID(bytes_le=log_guid),
            log_version,
            version,
            log_length,
            log_offset,
        )


def read_header(source: FileSource) -> tuple[Header, list[str]]:
    """The current header (the valid one with the higher sequence number), and warnings."""
    found: list[Header] = []
    problems: list[str] = []
    for offset in HEADER_OFFSETS:
        parsed = Header.parse(source.pread(HEADER_SIZE, offset), offset)
        if isinstance(parsed, Header):
            found.append(parsed)
        else:
            problems.append(f"header at offset {offset:#x}: {parsed}")
    if not found:
        raise CorruptImageError(
            "both VHDX headers are damaged (" + "; ".join(problems) + ")",
            image=source.name,
            offset=HEADER_OFFSETS[0],
            hint="the image cannot be opened without a valid header; copy it again from the recovery point",
        )
    header = max(found, key=lambda h: h.sequence)
    warnings = [f"{problem}; the other header was used" for problem in problems]
    if header.version != 1:
        raise UnsupportedImageError(
            f"VHDX format version {header.version} (only version 1 is defined)",
            image=source.name,
            offset=header.offset + 66,
            hint=NEWER_FEATURE_HINT,
        )
    return header, warnings


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
    """Page writes and zero ranges replayed from the log, later ones replacing earlier ones."""

    def __init__(self) -> None:
        self.pages: dict[int, bytes] = {}
        self.zeros: list[tuple[int, int]] = []  # sorted, disjoint, not touching a page in ``pages``

    @property
    def end(self) -> int:
        ends = [page + PAGE for page in self.pages] + [end for _start, end in self.zeros]
        return max(ends, default=0)

    def write(self, offset: int, data: bytes) -> None:
        self._unzero(offset, offset + PAGE)
        self.pages[offset] = data

    def zero(self, offset: int, length: int) -> None:
        end = offset + length
        for page in [page for page in self.pages if offset <= page < end]:
            del self.pages[page]
        self._unzero(offset, end)
        bisect.insort(self.zeros, (offset, end))
        merged: list[tuple[int, int]] = []
        for start, stop in self.zeros:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
            else:
                merged.append((start, stop))
        self.zeros = merged

    def _unzero(self, start: int, end: int) -> None:
        kept: list[tuple[int, int]] = []
        for lo, hi in self.zeros:
            if hi <= start or lo >= end:
                kept.append((lo, hi))
                continue
            if lo < start:
                kept.append((lo, start))
            if hi > end:
                kept.append((end, hi))
        self.zeros = kept

    def view(self, source: FileSource, size: int) -> FileView:
        """The file with this overlay on top; consecutive pages share one run of the memory buffer."""
        segments: list[Segment] = [Segment(lo, hi, None) for lo, hi in self.zeros]
        chunks: list[bytes] = []
        used = 0
        run_start = run_end = -1
        run_memory = 0
        for page in sorted(self.pages):
            if page != run_end:
                if run_start >= 0:
                    segments.append(Segment(run_start, run_end, run_memory))
                run_start, run_memory = page, used
            chunks.append(self.pages[page])
            used += PAGE
            run_end = page + PAGE
        if run_start >= 0:
            segments.append(Segment(run_start, run_end, run_memory))
        segments.sort()
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
    if not _crc_ok(raw):
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
    if offset < HEADER_SECTION or offset % MIB or not length or length % MIB or offset + length > source.size:
        raise CorruptImageError(
            f"the header places the log at {offset:#x} with {length} bytes, outside the file ({source.size} bytes) "
            "or not aligned to 1 MiB",
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


# -- region table and metadata ------------------------------------------------------------------------------


def _read(view: FileView, offset: int, length: int, what: str) -> bytes:
    """``length`` bytes at ``offset`` of the file (through the log), or a CorruptImageError naming ``what``."""
    if offset < 0 or offset + length > view.size:
        raise CorruptImageError(
            f"{what} at {offset:#x} ({length} bytes) runs past the end of the file ({view.size} bytes)",
            image=view.source.name,
            offset=offset,
            hint="the image is truncated or its tables are damaged; copy it again",
        )
    return view.pread(length, offset)


def read_region_table(view: FileView) -> tuple[dict[bytes, tuple[int, int]], list[str]]:
    """Regions by GUID as (file offset, length), from the first valid region table copy, and warnings."""
    name = view.source.name
    problems: list[str] = []
    for table_offset in REGION_TABLE_OFFSETS:
        raw = _read(view, table_offset, TABLE_SIZE, "region table")
        sig, _crc, count = REGION_TABLE_HEADER.unpack_from(raw)
        why = None
        if sig != b"regi":
            why = "no 'regi' signature"
        elif not _crc_ok(raw):
            why = "checksum mismatch"
        elif count > MAX_TABLE_ENTRIES:
            why = f"{count} entries, more than the {MAX_TABLE_ENTRIES} allowed"
        if why:
            problems.append(f"region table at offset {table_offset:#x}: {why}")
            continue
        regions: dict[bytes, tuple[int, int]] = {}
        for i in range(count):
            entry_at = table_offset + 16 + 32 * i
            guid, file_offset, length, required = REGION_TABLE_ENTRY.unpack_from(raw, 16 + 32 * i)
            if guid not in KNOWN_REGIONS:
                if required & 1:
                    raise UnsupportedImageError(
                        f"the region table lists a region {uuid.UUID(bytes_le=guid)} marked required that this "
                        "reader does not know, so the image cannot be read safely",
                        image=name,
                        offset=entry_at,
                        hint=NEWER_FEATURE_HINT,
                    )
                continue
            if file_offset < HEADER_SECTION or file_offset + length > view.size:
                raise CorruptImageError(
                    f"the {KNOWN_REGIONS[guid]} region ({length} bytes at {file_offset:#x}) is not inside the file "
                    f"({view.size} bytes)",
                    image=name,
                    offset=entry_at,
                    hint="the image is truncated or its region table is damaged; copy it again",
                )
            regions[guid] = (file_offset, length)
        for guid, what in KNOWN_REGIONS.items():
            if guid not in regions:
                raise CorruptImageError(
                    f"the region table has no {what} region",
                    image=name,
                    offset=table_offset,
                    hint="the region table is damaged; copy the image again",
                )
        return regions, [f"{problem}; the other copy was used" for problem in problems]
    raise CorruptImageError(
        "both region tables are damaged (" + "; ".join(problems) + ")",
        image=name,
        offset=REGION_TABLE_OFFSETS[0],
        hint="the image cannot be opened without a region table; copy it again from the recovery point",
    )


@dataclass(frozen=True)
class Metadata:
    """The known metadata items of a VHDX."""

    block_size: int
    leave_blocks_allocated: bool
    has_parent: bool
    virtual_size: int
    logical_sector_size: int
    physical_sector_size: int
    virtual_disk_id: uuid.UUID | None
    parent_locator: dict[str, str]
    parent_locator_offset: int | None  # where the parent locator item is in the file
    parent_locator_values: dict[str, int]  # key -> file offset of its value


def read_metadata(view: FileView, region: tuple[int, int]) -> tuple[Metadata, list[str]]:
    """Parse the metadata table and its known items; refuse unknown required items."""
    name = view.source.name
    base, region_length = region
    raw = _read(view, base, TABLE_SIZE, "metadata table")
    sig, count = METADATA_TABLE_HEADER.unpack_from(raw)
    if sig != b"metadata" or count > MAX_TABLE_ENTRIES:
        why = "no 'metadata' signature" if sig != b"metadata" else f"{count} entries, more than {MAX_TABLE_ENTRIES}"
        raise CorruptImageError(
            f"the metadata table is damaged ({why})",
            image=name,
            offset=base,
            hint="copy the image again from the recovery point",
        )
    items: dict[bytes, tuple[bytes, int]] = {}
    warnings: list[str] = []
    for i in range(count):
        entry_at = base + 32 + 32 * i
        item_id, item_offset, length, flags = METADATA_TABLE_ENTRY.unpack_from(raw, 32 + 32 * i)
        is_user, required = bool(flags & 1), bool(flags & 4)
        if is_user or item_id not in KNOWN_METADATA:
            if required:
                raise UnsupportedImageError(
                    f"metadata item {uuid.UUID(bytes_le=item_id)} is marked required but this reader does not know "
                    "it, so the image cannot be read safely",
                    image=name,
                    offset=entry_at,
                    hint=NEWER_FEATURE_HINT,
                )
            continue
        if length and (item_offset < TABLE_SIZE or item_offset + length > region_length or length > MIB):
            raise CorruptImageError(
                f"the {KNOWN_METADATA[item_id]} metadata item ({length} bytes at {item_offset:#x}) is not inside "
                f"the metadata region ({region_length} bytes)",
                image=name,
                offset=entry_at,
                hint="the metadata table is damaged; copy the image again",
            )
        items[item_id] = (
            _read(view, base + item_offset, length, f"{KNOWN_METADATA[item_id]} metadata item"),
            base + item_offset,
        )

    def item(guid: bytes, size: int) -> bytes:
        value = items.get(guid)
        if value is None or len(value[0]) < size:
            raise CorruptImageError(
                f"the {KNOWN_METADATA[guid]} metadata item is missing or too short",
                image=name,
                offset=base,
                hint="the metadata region is damaged; copy the image again",
            )
        return value[0]

    block_size, bits = struct.unpack_from("<II", item(FILE_PARAMETERS, 8))
    virtual_size = struct.unpack_from("<Q", item(VIRTUAL_DISK_SIZE, 8))[0]
    logical = struct.unpack_from("<I", item(LOGICAL_SECTOR_SIZE, 4))[0]
    physical = struct.unpack_from("<I", item(PHYSICAL_SECTOR_SIZE, 4))[0]
    raw_id = items.get(VIRTUAL_DISK_ID, (b"", 0))[0]
    disk_id = uuid.UUID(bytes_le=raw_id[:16]) if len(raw_id) >= 16 else None
    where = items[FILE_PARAMETERS][1]
    if block_size < MIB or block_size > 256 * MIB or block_size & (block_size - 1):
        raise CorruptImageError(
            f"block size {block_size} is not a power of two from 1 MiB to 256 MiB",
            image=name,
            offset=where,
            hint="the metadata region is damaged; copy the image again",
        )
    if logical not in (512, 4096):
        raise CorruptImageError(
            f"logical sector size {logical} is neither 512 nor 4096",
            image=name,
            offset=items[LOGICAL_SECTOR_SIZE][1],
            hint="the metadata region is damaged; copy the image again",
        )
    if virtual_size > MAX_DISK_SIZE:
        raise CorruptImageError(
            f"virtual disk size {virtual_size} is larger than the 64 TiB VHDX allows",
            image=name,
            offset=items[VIRTUAL_DISK_SIZE][1],
            hint="the metadata region is damaged; copy the image again",
        )
    if virtual_size % logical:
        warnings.append(f"virtual disk size {virtual_size} is not a multiple of the {logical}-byte sector")
    if physical not in (512, 4096):
        warnings.append(f"physical sector size {physical} is neither 512 nor 4096; ignored")
    locator: dict[str, str] = {}
    values: dict[str, int] = {}
    locator_at = None
    if bits & 2:
        raw_locator, locator_at = items.get(PARENT_LOCATOR, (b"", None))
        if locator_at is None:
            raise CorruptImageError(
                "the image is a differencing disk but has no parent locator",
                image=name,
                offset=where,
                hint="the metadata region is damaged; copy the image again",
            )
        locator, values = parse_parent_locator(raw_locator, locator_at, name)
    metadata = Metadata(
        block_size,
        bool(bits & 1),
        bool(bits & 2),
        virtual_size,
        logical,
        physical,
        disk_id,
        locator,
        locator_at,
        values,
    )
    return metadata, warnings


def parse_parent_locator(raw: bytes, at: int, name: str) -> tuple[dict[str, str], dict[str, int]]:
    """The key/value pairs of a VHDX parent locator, and where each value is in the file."""
    if len(raw) < LOCATOR_HEADER.size:
        raise CorruptImageError(
            "the parent locator is too short",
            image=name,
            offset=at,
            hint="the metadata region is damaged; copy the image again",
        )
    locator_type, count = LOCATOR_HEADER.unpack_from(raw)
    if locator_type != VHDX_PARENT_LOCATOR_TYPE:
        raise UnsupportedImageError(
            f"the parent locator has type {uuid.UUID(bytes_le=locator_type)}, not a VHDX parent",
            image=name,
            offset=at,
            hint="the parent is not a VHDX file; convert the chain with the tool that made it",
        )
    pairs: dict[str, str] = {}
    where: dict[str, int] = {}
    for i in range(count):
        entry_at = LOCATOR_HEADER.size + LOCATOR_ENTRY.size * i
        if entry_at + LOCATOR_ENTRY.size > len(raw):
            raise CorruptImageError(
                f"the parent locator lists {count} entries but has room for {i}",
                image=name,
                offset=at,
                hint="the metadata region is damaged; copy the image again",
            )
        key_at, value_at, key_length, value_length = LOCATOR_ENTRY.unpack_from(raw, entry_at)
        if key_at + key_length > len(raw) or value_at + value_length > len(raw):
            raise CorruptImageError(
                f"parent locator entry {i} points outside the locator",
                image=name,
                offset=at + entry_at,
                hint="the metadata region is damaged; copy the image again",
            )
        key = raw[key_at : key_at + key_length].decode("utf-16-le", "replace")
        pairs[key] = raw[value_at : value_at + value_length].decode("utf-16-le", "replace")
        where[key] = at + value_at
    return pairs, where


def lsb_runs(bitmap: bytes, count: int) -> tuple[tuple[int, int, bool], ...]:
    """Runs of (first bit, end bit, bit set) of a least-significant-bit-first bitmap, over ``count`` bits.

    Works on 8192-bit pieces so that each shift stays short: an all-clear or all-set piece costs one
    comparison, a mixed one a few big-integer operations per run.
    """
    runs: list[tuple[int, int, bool]] = []

    def add(start: int, end: int, present: bool) -> None:
        if runs and runs[-1][2] == present:
            runs[-1] = (runs[-1][0], end, present)
        else:
            runs.append((start, end, present))

    piece_bits = 8192
    for base in range(0, count, piece_bits):
        n = min(piece_bits, count - base)
        full = (1 << n) - 1
        bits = int.from_bytes(bitmap[base // 8 : (base + n + 7) // 8], "little") & full
        if bits in (0, full):
            add(base, base + n, bits == full)
            continue
        pos = 0
        while pos < n:
            rest = bits >> pos
            present = bool(rest & 1)
            flips = ~rest if present else rest  # the lowest set bit of ``flips`` is where the run ends
            length = min((flips & -flips).bit_length() - 1 if flips else n - pos, n - pos)
            add(base + pos, base + pos + length, present)
            pos += length
    return tuple(runs)


# -- the image ----------------------------------------------------------------------------------------------


class VhdxImage(Image):
    """A VHDX image of any type; the log, when not empty, is replayed in memory."""

    type_name = "vhdx"
    SIGNATURES = ((b"vhdxfile", 0),)

    header: Header
    metadata: Metadata
    view: FileView
    creator: str
    #: True when the image had a non-empty log, replayed in memory.
    log_replayed: bool
    _bat: array[int]
    _bat_offset: int
    _chunk_ratio: int

    @classmethod
    def open(cls, source: FileSource, *, chain: tuple[Identity, ...] = ()) -> Image:
        if source.size < HEADER_SECTION:
            raise CorruptImageError(
                f"the file has only {source.size} bytes; a VHDX needs at least its 1 MiB header section",
                image=source.name,
                offset=source.size,
                hint="the image is truncated; copy it again",
            )
        header, warnings = read_header(source)
        if header.log_guid.int:
            view, more = replay_log(source, header)
            warnings += more
        else:
            view = FileView(source)
        regions, more = read_region_table(view)
        warnings += more
        metadata, more = read_metadata(view, regions[METADATA_REGION])
        warnings += more
        image = cls(source, metadata.virtual_size, chain=chain)
        image.header, image.metadata, image.view = header, metadata, view
        image.log_replayed = bool(header.log_guid.int)
        image.creator = source.pread(512, 8).decode("utf-16-le", "replace").split("\0", 1)[0]
        image.warnings += warnings
        image.block_size = metadata.block_size
        if metadata.has_parent:
            image.format = "vhdx-differencing"
        else:
            image.format = "vhdx-fixed" if metadata.leave_blocks_allocated else "vhdx-dynamic"
        image._load_bat(regions[BAT_REGION])
        if metadata.has_parent:
            image._open_differencing_parent()
        return image

    # -- opening ---------------------------------------------------------------------------------------

    def _load_bat(self, region: tuple[int, int]) -> None:
        """Read the BAT and check every entry that reading will use."""
        meta = self.metadata
        bs = meta.block_size
        self._chunk_ratio = ratio = (1 << 23) * meta.logical_sector_size // bs
        blocks = -(-self.size // bs)
        if meta.has_parent:
            entries = -(-blocks // ratio) * (ratio + 1)
        else:
            entries = blocks + (blocks - 1) // ratio if blocks else 0
        self._bat_offset, region_length = region
        if entries * 8 > region_length:
            raise CorruptImageError(
                f"the BAT region has room for {region_length // 8} entries but the disk needs {entries}",
                image=self.path,
                offset=self._bat_offset,
                hint="the region table or metadata is damaged; copy the image again",
            )
        bat = array("Q", _read(self.view, self._bat_offset, entries * 8, "BAT"))
        if sys.byteorder != "little":  # pragma: no cover - the on-disk format is little-endian
            bat.byteswap()
        self._bat = bat
        for index in range(blocks):
            self._check_block(index, min(bs, self.size - index * bs))

    def _check_block(self, index: int, needed: int) -> None:
        ratio = self._chunk_ratio
        entry_index = index + index // ratio
        entry = self._bat[entry_index]
        state = entry & 7
        if state in (NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED):
            return
        if state not in PAYLOAD_STATES:
            self._bad_entry(entry_index, f"has the reserved state {state}")
        if state == PARTIALLY_PRESENT and not self.metadata.has_parent:
            self._bad_entry(entry_index, "is PARTIALLY_PRESENT, which only a differencing disk may use")
        self._check_location(entry_index, entry >> 20 << 20, needed, "payload block")
        if state == PARTIALLY_PRESENT:
            bitmap_index = (index // ratio) * (ratio + 1) + ratio
            bitmap = self._bat[bitmap_index]
            if bitmap & 7 != SB_BLOCK_PRESENT:
                self._bad_entry(
                    bitmap_index,
                    f"(the sector bitmap of payload block {index}) is not present but the block is PARTIALLY_PRESENT",
                )
            self._check_location(bitmap_index, bitmap >> 20 << 20, MIB, "sector bitmap block")

    def _check_location(self, entry_index: int, at: int, needed: int, what: str) -> None:
        if at < HEADER_SECTION:
            self._bad_entry(entry_index, f"places a {what} at {at:#x}, inside the header section")
        if at + needed > self.view.size:
            self._bad_entry(
                entry_index, f"places a {what} at {at:#x}, past the end of the file ({self.view.size} bytes)"
            )

    def _bad_entry(self, entry_index: int, problem: str) -> NoReturn:
        raise CorruptImageError(
            f"BAT entry {entry_index} {problem}",
            image=self.path,
            offset=self._bat_offset + 8 * entry_index,
            hint="the image is truncated or its BAT is damaged; copy it again",
        )

    def _open_differencing_parent(self) -> None:
        meta = self.metadata
        locator = meta.parent_locator
        recorded = {key: locator[key] for key in PATH_KEYS if locator.get(key)}
        what = f"'{_windows_name(next(iter(recorded.values()), ''))}'"
        if recorded:
            what += " (recorded as " + ", ".join(f'{key} "{value}"' for key, value in recorded.items()) + ")"
        try:
            parent = self._open_parent(self._parent_candidates(), what)
        except ParentError as exc:
            if exc.image != self.path or exc.offset is not None:
                raise
            raise ParentError(exc.message, image=self.path, offset=meta.parent_locator_offset, hint=exc.hint) from exc
        self.parent = parent
        expected = [locator[key] for key in ("parent_linkage", "parent_linkage2") if key in locator]
        problem = None
        if not isinstance(parent, VhdxImage):
            problem = (
                f"parent {parent.path} is a {parent.format} image, but a VHDX differencing disk needs a VHDX parent"
            )
        elif not expected:
            problem = "the parent locator has no parent_linkage, so the parent cannot be verified"
        elif str(parent.header.data_write_guid) not in {_parse_guid_text(text) for text in expected}:
            problem = (
                f"parent {parent.path} is not the image this child was made from: child expects "
                f"DataWriteGuid {expected[0]}, parent has {{{parent.header.data_write_guid}}}"
            )
        elif parent.metadata.logical_sector_size != meta.logical_sector_size:
            problem = (
                f"parent {parent.path} has {parent.metadata.logical_sector_size}-byte sectors, the child "
                f"{meta.logical_sector_size}-byte ones"
            )
        if problem:
            self.parent = None
            parent.close()
            raise ParentError(
                problem,
                image=self.path,
                offset=meta.parent_locator_values.get("parent_linkage", meta.parent_locator_offset),
                hint="find the parent image of the same recovery point; a parent that was opened read-write "
                "(mounted, merged or compacted) after the child was made has a new DataWriteGuid and no longer fits",
            )
        if parent.size < self.size:
            self.warnings.append(
                f"parent {parent.path} is smaller ({parent.size} bytes) than the child; the rest reads as zeros"
            )

    def _parent_candidates(self) -> list[str]:
        """relative_path beside the child, then volume_path and absolute_win32_path, then the name beside it."""
        locator = self.metadata.parent_locator
        here = os.path.dirname(os.path.abspath(self.path))
        candidates: list[str] = []
        relative = locator.get("relative_path")
        if relative:
            candidates.append(os.path.normpath(os.path.join(here, relative.replace("\\", "/"))))
        for key in PATH_KEYS[1:]:
            local = _local_path(locator.get(key, ""))
            if local:
                candidates.append(local)
        for key in PATH_KEYS:
            name = _windows_name(locator.get(key))
            if name:
                candidates.append(os.path.join(here, name))
        return candidates

    # -- mapping ---------------------------------------------------------------------------------------

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        bs = self.metadata.block_size
        ratio = self._chunk_ratio
        bat = self._bat
        place = self.view.place
        differencing = self.metadata.has_parent
        end = offset + length
        pos = offset
        while pos < end:
            index, within = divmod(pos, bs)
            step = min(bs - within, end - pos)
            entry = bat[index + index // ratio]
            state = entry & 7
            if state == FULLY_PRESENT:
                yield from place(pos, (entry >> 20 << 20) + within, step)
            elif state == PARTIALLY_PRESENT:
                yield from self._map_partial(index, entry >> 20 << 20, pos, within, step)
            elif differencing and state in (NOT_PRESENT, UNDEFINED):
                yield Extent(pos, step, ExtentKind.PARENT)
            else:
                yield Extent(pos, step, ExtentKind.ZERO)
            pos += step

    def _map_partial(self, index: int, data: int, pos: int, within: int, length: int) -> Iterator[Extent]:
        """Split a range of a partially present block into sectors stored here and sectors of the parent."""
        sector = self.metadata.logical_sector_size
        first, stop = within // sector, -(-(within + length) // sector)
        base = pos - within
        for lo, hi, present in self._block_runs(index):
            lo, hi = max(lo, first), min(hi, stop)
            if lo >= hi:
                continue
            run_start = max(within, lo * sector)
            run_end = min(within + length, hi * sector)
            if present:
                yield from self.view.place(base + run_start, data + run_start, run_end - run_start)
            else:
                yield Extent(base + run_start, run_end - run_start, ExtentKind.PARENT)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - bounded; the image lives as long as its cache
    def _block_runs(self, index: int) -> tuple[tuple[int, int, bool], ...]:
        """Runs of (first sector, end sector, stored here) of one block, from its chunk's sector bitmap."""
        ratio = self._chunk_ratio
        bitmap_entry = self._bat[(index // ratio) * (ratio + 1) + ratio]
        size = MIB // ratio
        at = (bitmap_entry >> 20 << 20) + (index % ratio) * size
        return lsb_runs(self.view.pread(size, at), self.metadata.block_size // self.metadata.logical_sector_size)


def _parse_guid_text(text: str) -> str | None:
    try:
        return str(uuid.UUID(text.strip().strip("{}")))
    except ValueError:
        return None


def _windows_name(path: str | None) -> str:
    """The file name at the end of a Windows (or POSIX) path."""
    return (path or "").replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _local_path(path: str) -> str | None:
    """A locator path usable on this machine: POSIX-absolute ones here, anything absolute on Windows."""
    if not path:
        return None
    text = path.removeprefix("\\\\?\\")
    if os.name == "nt":  # pragma: no cover - we test on POSIX
        return text
    text = text.replace("\\", "/")
    return text if text.startswith("/") else None
