"""GPT (GUID partition table), with the protective MBR and the backup header at the end of the disk.

The primary header (``EFI PART``) is at LBA 1 and points at the entry array (usually LBA 2); a backup
header sits in the disk's last sector with its own copy of the entries before it. Both carry CRC32s of the
header and of the entries. When the primary fails its checks the backup is used, with a warning; when both
fail the table is :class:`restorekit.fs.errors.PartitionTableError`. 512- and 4096-byte sectors are recognised.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from typing import TYPE_CHECKING

from restorekit.fs.errors import PartitionTableError
from restorekit.fs.partition import Partition, PartitionTable, check_overlaps, clip_to_disk

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
ENTRY = struct.Struct("<16s16sQQQ72s")
SIGNATURE = b"EFI PART"
SECTOR_SIZES = (512, 4096)
MAX_ENTRIES_BYTES = 1 << 20

#: Type GUID → (name, kind).
GPT_TYPES: dict[str, tuple[str, str]] = {
    "C12A7328-F81F-11D2-BA4B-00A0C93EC93B": ("EFI system", "efi"),
    "E3C9E316-0B5C-4DB8-817D-F92DF00215AE": ("Microsoft reserved", "msr"),
    "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": ("Microsoft basic data", "data"),
    "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC": ("Windows recovery", "recovery"),
    "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3": ("LDM metadata", "ldm-metadata"),
    "AF9B60A0-1431-4F62-BC68-3311714A69AD": ("LDM data", "ldm-data"),
    "E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D": ("Storage Spaces", "storage-spaces"),
    "21686148-6449-6E6F-744E-656564454649": ("BIOS boot", "bios-boot"),
    "0FC63DAF-8483-4772-8E79-3D69D8477DE4": ("Linux filesystem", "data"),
    "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": ("Linux swap", "swap"),
    "E6D6D379-F507-44C2-A23C-238F2A3DF928": ("Linux LVM", "lvm"),
    "A19D880F-05FC-4D3B-A006-743F0F84911E": ("Linux RAID", "raid"),
    "CA7D7CCB-63ED-4C53-861C-1742536059CC": ("Linux LUKS", "luks"),
    "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": ("Linux root (x86-64)", "data"),
    "BC13C2FF-59E6-4262-A352-B275FD6F7172": ("Linux extended boot", "data"),
    "933AC7E1-2EB4-4F13-B844-0E14E2AEF915": ("Linux home", "data"),
}


def gpt_type(type_guid: str) -> tuple[str, str]:
    """The name and kind of a GPT partition type GUID."""
    return GPT_TYPES.get(type_guid, (f"unknown ({type_guid})", "unknown"))


def _guid(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw)).upper()


class GptPartitionTable(PartitionTable):
    """A GPT partition table."""

    type_name = "gpt"

    @classmethod
    def detect(cls, disk: Stream) -> bool:
        if disk.size < 1024:
            return False
        head = disk.pread(1024, 0)
        if head[510:512] == b"\x55\xaa" and any(head[446 + 16 * i + 4] == 0xEE for i in range(4)):
            return True
        return head[512:520] == SIGNATURE or (disk.size >= 4104 and disk.pread(8, 4096) == SIGNATURE)

    @classmethod
    def read(cls, disk: Stream, disk_name: str) -> PartitionTable:
        problems: list[str] = []
        for sector in SECTOR_SIZES:
            if disk.size < 2 * sector:
                continue
            found = _read_header(disk, sector, sector, "primary")
            if isinstance(found, tuple):
                return cls._build(disk, disk_name, sector, *found, warnings=[])
            if found is not None:
                problems.append(found)
        for sector in SECTOR_SIZES:
            last = (disk.size // sector - 1) * sector
            if last < 2 * sector:
                continue
            found = _read_header(disk, last, sector, "backup")
            if isinstance(found, tuple):
                why = problems[0] if problems else "the primary header is missing"
                warning = (f"{disk_name}: GPT primary header is damaged ({why}); using the backup header at "
                           f"offset {last}")
                return cls._build(disk, disk_name, sector, *found, warnings=[warning])
            if found is not None:
                problems.append(found)
        raise PartitionTableError(
            "GPT is damaged: " + ("; ".join(problems) or "neither the primary nor the backup header was found"),
            volume=disk_name, offset=512,
            hint="the partition table is unreadable; read partitions with an explicit offset",
        )

    @classmethod
    def _build(cls, disk: Stream, disk_name: str, sector: int, header: tuple, entries: bytes, *,
               warnings: list[str]) -> PartitionTable:
        entry_size = header[12]
        first_usable, last_usable = header[7], header[8]
        partitions: list[Partition] = []
        for index in range(len(entries) // entry_size):
            type_raw, unique, first, last, _attrs, name_raw = ENTRY.unpack_from(entries, index * entry_size)
            if type_raw == bytes(16):
                continue
            if last < first:
                warnings.append(f"{disk_name}: GPT entry {index + 1} ends (sector {last}) before it starts (sector "
                                f"{first}); skipped, the other partitions are listed")
                continue
            if first < first_usable or last > last_usable:
                warnings.append(f"{disk_name}: GPT partition {index + 1} lies outside the usable area")
            type_guid = _guid(type_raw)
            name, kind = gpt_type(type_guid)
            label = name_raw.decode("utf-16-le", "replace").split("\0", 1)[0]
            partitions.append(Partition(index + 1, first * sector, (last - first + 1) * sector, type_guid, name,
                                        kind, label, _guid(unique)))
        check_overlaps(partitions, disk_name, "GPT", warnings)
        clip_to_disk(partitions, disk, disk_name, warnings)
        return cls(partitions, warnings)


def _read_header(disk: Stream, at: int, sector: int, which: str) -> tuple[tuple, bytes] | str | None:
    """(header fields, entry array) when the header at ``at`` is valid; a reason when not; None if absent."""
    raw = disk.pread(sector, at)
    if raw[:8] != SIGNATURE:
        return None
    fields = HEADER.unpack_from(raw)
    header_size, header_crc = fields[2], fields[3]
    if not 92 <= header_size <= sector:
        return f"{which} header size {header_size} is invalid"
    check = bytearray(raw[:header_size])
    check[16:20] = bytes(4)
    if zlib.crc32(check) != header_crc:
        return f"{which} header CRC32 mismatch"
    entries_lba, count, entry_size, entries_crc = fields[10], fields[11], fields[12], fields[13]
    if entry_size < 128 or entry_size % 8 or count * entry_size > MAX_ENTRIES_BYTES:
        return f"{which} header declares {count} entries of {entry_size} bytes"
    length = count * entry_size
    if entries_lba * sector + length > disk.size:
        return f"{which} entry array lies past the end of the disk"
    entries = disk.pread(length, entries_lba * sector)
    if zlib.crc32(entries) != entries_crc:
        return f"{which} partition entries CRC32 mismatch"
    return fields, entries
