"""Windows LDM (dynamic disks): detected, named by disk group, and reported as not read.

A dynamic disk has an MBR partition of type 0x42, or GPT "LDM metadata"/"LDM data" partitions. Its
``PRIVHEAD`` (sector 6 of an MBR disk; the last sector of the GPT metadata partition, or of the disk) names
the disk, the host and the disk group (GUID at 0xB0, name at 0xF0). The volumes themselves are described by
the VBLK database, which restorekit does not map; it lists the disk group and says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.fs.container import Pool, PoolMember, PoolVolume
from restorekit.fs.volume import Volume

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

PRIVHEAD = b"PRIVHEAD"
SECTOR = 512
LDM_KINDS = {"ldm-data", "ldm-metadata"}


def find_privhead(stream: Stream) -> bytes | None:
    """The PRIVHEAD sector for the LDM partition ``stream``: on its disk's sector 6, its own last sector, or
    its disk's last sector."""
    places: list[tuple[Stream, int]] = [(stream, stream.size - SECTOR)]
    if isinstance(stream, Volume):
        disk = stream.base
        places = [(disk, 6 * SECTOR), *places, (disk, disk.size - SECTOR)]
    for where, at in places:
        if at >= 0 and at + SECTOR <= where.size:
            raw = where.pread(SECTOR, at)
            if raw[:8] == PRIVHEAD:
                return raw
    return None


def _ascii(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


class LdmPool(Pool):
    """A dynamic disk group."""

    type_name = "ldm"

    @classmethod
    def detect(cls, stream: Stream, partition_kind: str | None = None) -> bool:
        return partition_kind in LDM_KINDS

    @classmethod
    def probe(cls, stream: Stream, volume: str) -> PoolMember:
        raw = find_privhead(stream)
        if raw is None:
            disk = volume.rsplit("-p", 1)[0]
            member = PoolMember(cls.type_name, f"disk:{disk}", "", volume, stream)
            member.warnings.append(f"{volume}: LDM partition but no PRIVHEAD found; the disk group is unknown")
            return member
        group_id, group_name = _ascii(raw[0xB0:0xF0]), _ascii(raw[0xF0:0x110])
        return PoolMember(cls.type_name, group_id or f"disk:{volume}", group_name, volume, stream,
                          {"disk": _ascii(raw[0x30:0x70]), "host": _ascii(raw[0x70:0xB0])})

    @classmethod
    def assemble(cls, members: list[PoolMember]) -> tuple[list[PoolVolume], list[str]]:
        name = members[0].pool_name or members[0].pool_id
        disks = {m.info["disk"] for m in members if m.info}
        warning = (f"LDM dynamic disk group {name}: {len(disks) or len(members)} dynamic disk(s) found; volumes on "
                   "dynamic disks (simple, spanned, striped, mirrored, RAID-5) are not read by restorekit. Convert "
                   "or attach the disks in Windows to recover files")
        return [], [warning]
