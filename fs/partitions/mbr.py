"""MBR (DOS) partition tables, with extended partitions and their chains of logical partitions.

Sector 0 ends in ``55 AA`` and holds four 16-byte entries at 446 (status, CHS, type, CHS, first LBA, sector
count). An extended partition (type 0x05, 0x0F or 0x85) holds a chain of extended boot records (EBRs): each
EBR's first entry is a logical partition relative to that EBR, its second the next EBR relative to the start
of the extended partition. A chain that loops or leaves the extended partition is damage, never followed
forever: the partitions before the damage are listed, with a warning naming where the chain breaks.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from restorekit.fs.errors import PartitionTableError
from restorekit.fs.partition import SECTOR, Partition, PartitionTable, check_overlaps, clip_to_disk

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

ENTRY = struct.Struct("<B3sB3sII")
EXTENDED_TYPES = {0x05, 0x0F, 0x85}
PROTECTIVE = 0xEE
MAX_LOGICAL = 256

#: MBR type byte → (name, kind).
MBR_TYPES: dict[int, tuple[str, str]] = {
    0x01: ("FAT12", "data"),
    0x04: ("FAT16 <32M", "data"),
    0x06: ("FAT16", "data"),
    0x07: ("NTFS/exFAT (Microsoft basic data)", "data"),
    0x0B: ("FAT32 (CHS)", "data"),
    0x0C: ("FAT32 (LBA)", "data"),
    0x0E: ("FAT16 (LBA)", "data"),
    0x27: ("Windows recovery", "recovery"),
    0x42: ("LDM data (dynamic disk)", "ldm-data"),
    0x82: ("Linux swap", "swap"),
    0x83: ("Linux", "data"),
    0x8E: ("Linux LVM", "lvm"),
    0xEF: ("EFI system", "efi"),
    0xFD: ("Linux RAID autodetect", "raid"),
    0xE8: ("Linux LUKS", "luks"),
}


def mbr_type(code: int) -> tuple[str, str]:
    """The name and kind of an MBR type byte."""
    return MBR_TYPES.get(code, (f"unknown (0x{code:02X})", "unknown"))


def _entries(sector: bytes) -> list[tuple[int, int, int, int]]:
    """(status, type, first LBA, sectors) of the four entries of a boot record."""
    out = []
    for i in range(4):
        status, _chs1, ptype, _chs2, lba, count = ENTRY.unpack_from(sector, 446 + 16 * i)
        out.append((status, ptype, lba, count))
    return out


#: Boot sectors of file systems also end in 55 AA; these say "a file system, not a partition table".
FILESYSTEM_BOOT_MARKS: tuple[tuple[bytes, int], ...] = ((b"NTFS    ", 3), (b"FAT", 54), (b"FAT32", 82), (b"EXFAT", 3))


class MbrPartitionTable(PartitionTable):
    """An MBR partition table (primary, extended and logical partitions)."""

    type_name = "mbr"
    SIGNATURES = ((b"\x55\xaa", 510),)

    @classmethod
    def detect(cls, disk: Stream) -> bool:
        if disk.size < SECTOR:
            return False
        sector = disk.pread(SECTOR, 0)
        if sector[510:512] != b"\x55\xaa":
            return False
        if any(sector[at : at + len(mark)] == mark for mark, at in FILESYSTEM_BOOT_MARKS):
            return False
        entries = _entries(sector)
        if any(status not in (0x00, 0x80) for status, *_ in entries):
            return False
        return any(ptype != 0 and count for _s, ptype, _l, count in entries)

    @classmethod
    def read(cls, disk: Stream, disk_name: str) -> PartitionTable:
        sector = disk.pread(SECTOR, 0)
        partitions: list[Partition] = []
        warnings: list[str] = []
        extended: list[tuple[int, int]] = []
        for index, (_status, ptype, lba, count) in enumerate(_entries(sector), start=1):
            if ptype == 0 or count == 0:
                continue
            if ptype in EXTENDED_TYPES:
                extended.append((lba, count))
                continue
            name, kind = mbr_type(ptype)
            partitions.append(Partition(index, lba * SECTOR, count * SECTOR, f"0x{ptype:02X}", name, kind))
        if len(extended) > 1:
            warnings.append(str(PartitionTableError(
                f"MBR has {len(extended)} extended partitions; a valid table has at most one, so only the logical "
                f"partitions of the first (at sector {extended[0][0]}) are listed",
                volume=disk_name, offset=0,
                hint="the partition table is damaged; read the others' partitions with an explicit offset",
            )))
        if extended:
            partitions += _logical_chain(disk, disk_name, *extended[0], warnings)
        check_overlaps(partitions, disk_name, "MBR", warnings)
        clip_to_disk(partitions, disk, disk_name, warnings)
        return cls(sorted(partitions, key=lambda p: p.number), warnings)


def _logical_chain(disk: Stream, disk_name: str, ext_lba: int, ext_count: int,
                   warnings: list[str]) -> list[Partition]:
    """Follow the EBR chain of the extended partition at ``ext_lba``; where it breaks, warn and stop there."""
    logicals: list[Partition] = []
    seen: set[int] = set()
    ebr = ext_lba
    number = 5

    def broken(message: str, sector: int) -> list[Partition]:
        found = f"; the {len(logicals)} logical partition(s) before it are listed" if logicals else ""
        warnings.append(str(PartitionTableError(
            message + found, volume=disk_name, offset=sector * SECTOR,
            hint="the extended partition's chain is damaged; partitions after the damage can be read with an "
                 "explicit offset",
        )))
        return logicals

    while True:
        if ebr in seen:
            return broken(f"the chain of logical partitions loops back to the EBR at sector {ebr}", ebr)
        if not ext_lba <= ebr < ext_lba + ext_count or (ebr + 1) * SECTOR > disk.size:
            return broken(f"an EBR points to sector {ebr}, outside the extended partition (sectors {ext_lba}-"
                          f"{ext_lba + ext_count - 1}) or past the end of the disk", ebr)
        if len(seen) >= MAX_LOGICAL:
            return broken(f"more than {MAX_LOGICAL} logical partitions", ebr)
        seen.add(ebr)
        record = disk.pread(SECTOR, ebr * SECTOR)
        if record[510:512] != b"\x55\xaa":
            return broken("an EBR in the chain of logical partitions has no 55 AA signature", ebr)
        entries = _entries(record)
        _status, ptype, lba, count = entries[0]
        if ptype and count:
            name, kind = mbr_type(ptype)
            start = ebr + lba
            if start + count > ext_lba + ext_count:
                warnings.append(f"{disk_name}: logical partition {number} runs past the end of its extended "
                                "partition (the extended partition's chain is damaged); it is listed as its EBR says")
            logicals.append(Partition(number, start * SECTOR, count * SECTOR, f"0x{ptype:02X}", name, kind))
            number += 1
        _status, ntype, nlba, ncount = entries[1]
        if ntype not in EXTENDED_TYPES or not ncount:
            return logicals
        ebr = ext_lba + nlba
