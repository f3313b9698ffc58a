"""FAT directory entries: 32-byte records with VFAT long names, 8.3 names, times and attributes.

Pure parsing of a directory's bytes (no I/O), after Microsoft's "FAT32 File System Specification"
(FAT: General Overview of On-Disk Format, v1.03):

* A long name is a run of ``attr == 0x0F`` records just before its 8.3 record, last part first (the first
  record carries ``0x40 | N``), 13 UTF-16 code units each; it counts only when the sequence is complete and
  its checksum matches the 8.3 name, else the 8.3 name is used, as Windows does.
* 8.3 names are in the OEM code page; we decode them as code page 850 (what mtools writes by default and what
  Western European Windows uses). Windows NT marks an all-lower-case base or extension in byte 12
  (``0x08`` / ``0x10``), and so does mtools; those names are shown in lower case.
* Deleted records (first byte ``0xE5``), the volume label, ``.`` and ``..`` are skipped; ``0x00`` ends the
  directory.
* Times: FAT stores the writer's local wall-clock time with no time zone. **We read it as UTC** (Azure sets
  its Windows and Linux VMs to UTC unless the owner changes it). Modification time has 2-second resolution,
  creation time 10 ms (a hundredths byte of 0-199 added to its 2-second time), access time is a date only
  (read as midnight). A zero or impossible date gives no time.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ATTR_READONLY, ATTR_HIDDEN, ATTR_SYSTEM, ATTR_VOLUME, ATTR_DIRECTORY, ATTR_ARCHIVE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
ATTR_LONG_NAME, ATTR_LONG_NAME_MASK = 0x0F, 0x3F
ATTRIBUTE_NAMES = ((ATTR_READONLY, "readonly"), (ATTR_HIDDEN, "hidden"), (ATTR_SYSTEM, "system"),
                   (ATTR_ARCHIVE, "archive"))
DELETED, KANJI_E5, END = 0xE5, 0x05, 0x00
LAST_LONG_PART, LONG_ORDER_MASK = 0x40, 0x1F
CASE_LOWER_BASE, CASE_LOWER_EXT = 0x08, 0x10
RECORD = 32
OEM_CODEPAGE = "cp850"
#: What ``ls`` says about FAT times.
TIME_NOTE = "FAT keeps local time without a time zone; its times are shown as if UTC (Azure VMs run in UTC)"


@dataclass(frozen=True, slots=True)
class FatNode:
    """One live directory entry: its names, attributes, first cluster, size and times (ns since 1970, UTC).

    ``position`` is the volume offset of the 8.3 record (0 for the root folder, which has none).
    """

    name: str
    short_name: str
    attr: int
    cluster: int
    size: int
    position: int
    mtime: int | None = None
    crtime: int | None = None
    atime: int | None = None

    @property
    def is_dir(self) -> bool:
        """True for a folder."""
        return bool(self.attr & ATTR_DIRECTORY)

    @property
    def attributes(self) -> list[str]:
        """readonly / hidden / system / archive, as set."""
        return [label for bit, label in ATTRIBUTE_NAMES if self.attr & bit]


def lfn_checksum(short: bytes) -> int:
    """The checksum a long name's records carry of the 11-byte 8.3 name they belong to."""
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def short_name(record: bytes) -> str:
    """The 8.3 name of a record as ``NAME.EXT`` (lower-cased where byte 12 says so)."""
    base = bytearray(record[0:8])
    if base[0] == KANJI_E5:
        base[0] = DELETED
    name = bytes(base).rstrip(b" ").decode(OEM_CODEPAGE, "replace")
    ext = record[8:11].rstrip(b" ").decode(OEM_CODEPAGE, "replace")
    if record[12] & CASE_LOWER_BASE:
        name = name.lower()
    if record[12] & CASE_LOWER_EXT:
        ext = ext.lower()
    return f"{name}.{ext}" if ext else name


def _long_part(record: bytes) -> bytes:
    return record[1:11] + record[14:26] + record[28:32]


def _long_name(parts: list[bytes]) -> str:
    """Long-name records (in disk order, last part first) as text, up to the 0x0000 terminator."""
    raw = b"".join(reversed(parts))
    for at in range(0, len(raw), 2):
        if raw[at : at + 2] == b"\0\0":
            raw = raw[:at]
            break
    return raw.decode("utf-16-le", "replace")


def fat_time(date: int, time: int = 0, hundredths: int = 0) -> int | None:
    """A FAT date (and time, and 10 ms count) as ns since 1970, reading the wall clock as UTC."""
    if not date:
        return None
    try:
        stamp = datetime.datetime(1980 + (date >> 9), (date >> 5) & 0xF, date & 0x1F, time >> 11,
                                  (time >> 5) & 0x3F, (time & 0x1F) * 2, tzinfo=datetime.UTC)
    except ValueError:
        return None
    extra = hundredths * 10_000_000 if hundredths < 200 else 0
    return int(stamp.timestamp()) * 1_000_000_000 + extra


def parse_directory(data: bytes, locate: Callable[[int], int]) -> Iterator[FatNode]:
    """The live entries of a directory's bytes; ``locate`` maps an index in ``data`` to its volume offset."""
    parts: list[bytes] = []
    expect = checksum = 0
    for at in range(0, len(data) - RECORD + 1, RECORD):
        record = data[at : at + RECORD]
        first, attr = record[0], record[11]
        if first == END:
            return
        if first == DELETED:
            parts = []
            continue
        if attr & ATTR_LONG_NAME_MASK == ATTR_LONG_NAME:
            order = first & LONG_ORDER_MASK
            if first & LAST_LONG_PART and order:
                parts, expect, checksum = [_long_part(record)], order - 1, record[13]
            elif parts and order and order == expect and record[13] == checksum:
                parts.append(_long_part(record))
                expect -= 1
            else:
                parts = []
            continue
        complete = bool(parts) and expect == 0 and checksum == lfn_checksum(record[:11])
        long = _long_name(parts) if complete else None
        parts = []
        if attr & ATTR_VOLUME:
            continue
        short = short_name(record)
        if short in (".", ".."):
            continue
        yield FatNode(
            name=long or short, short_name=short, attr=attr,
            cluster=int.from_bytes(record[20:22], "little") << 16 | int.from_bytes(record[26:28], "little"),
            size=int.from_bytes(record[28:32], "little"), position=locate(at),
            mtime=fat_time(int.from_bytes(record[24:26], "little"), int.from_bytes(record[22:24], "little")),
            crtime=fat_time(int.from_bytes(record[16:18], "little"), int.from_bytes(record[14:16], "little"),
                            record[13]),
            atime=fat_time(int.from_bytes(record[18:20], "little")),
        )
