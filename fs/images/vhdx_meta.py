"""VHDX on-disk structures: headers, region table, metadata items and the parent locator.

Field layouts follow Microsoft's "[MS-VHDX] Virtual Hard Disk v2 (VHDX) File Format"; see
:mod:`restorekit.fs.images.vhdx` for how they fit together. Every structure is read through a :class:`FileView`, so a
pending log (:mod:`restorekit.fs.images.vhdx_log`) is applied before anything is parsed.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from restorekit.fs.checksum import crc32c
from restorekit.fs.errors import CorruptImageError, UnsupportedImageError

if TYPE_CHECKING:
    from restorekit.fs.images.vhdx_log import FileView
    from restorekit.fs.stream import FileSource

KIB = 1024
MIB = 1024 * KIB
PAGE = 4 * KIB  # the log's unit of writing
HEADER_OFFSETS = (64 * KIB, 128 * KIB)
HEADER_SIZE = 4 * KIB
REGION_TABLE_OFFSETS = (192 * KIB, 256 * KIB)
TABLE_SIZE = 64 * KIB  # region table and metadata table alike
HEADER_SECTION = 1 * MIB
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


def crc_ok(raw: bytes) -> bool:
    """True when the CRC-32C at byte 4 matches ``raw`` with those four bytes taken as zero."""
    stored = int.from_bytes(raw[4:8], "little")
    return crc32c(raw[8:], crc32c(raw[:4] + b"\0\0\0\0")) == stored


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
        if not crc_ok(raw):
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


# -- region table and metadata ------------------------------------------------------------------------------


def read_through(view: FileView, offset: int, length: int, what: str) -> bytes:
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
        raw = read_through(view, table_offset, TABLE_SIZE, "region table")
        sig, _crc, count = REGION_TABLE_HEADER.unpack_from(raw)
        why = None
        if sig != b"regi":
            why = "no 'regi' signature"
        elif not crc_ok(raw):
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
    raw = read_through(view, base, TABLE_SIZE, "metadata table")
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
            read_through(view, base + item_offset, length, f"{KNOWN_METADATA[item_id]} metadata item"),
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


