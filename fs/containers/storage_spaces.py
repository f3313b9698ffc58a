"""Windows Storage Spaces pool members: detected, named by pool GUID, and reported as unreadable.

A member is a GPT partition of type ``E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D`` that starts with the disk header
``SPACEDB `` (pool GUID at 0x20, physical disk GUID at 0x30) and keeps the pool database (``SDBC``) at 0x1000.
The virtual disks ("spaces") inside are mapped in 256 MiB slabs by that database, whose format Microsoft
does not document; restorekit lists the pool and says plainly that its spaces cannot be read.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from restorekit.fs.container import Pool, PoolMember, PoolVolume
from restorekit.fs.containers.signatures import SPACES_HEADER

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

DATABASE = b"SDBC    "
DATABASE_OFFSET = 0x1000


class StorageSpacesPool(Pool):
    """A Storage Spaces pool."""

    type_name = "storage-spaces"

    @classmethod
    def probe(cls, stream: Stream, volume: str) -> PoolMember:
        head = stream.pread(0x40, 0) if stream.size >= 0x40 else b""
        if head[:8] != SPACES_HEADER:
            member = PoolMember(cls.type_name, f"unknown:{volume}", "", volume, stream)
            member.warnings.append(f"{volume}: Storage Spaces partition without a SPACEDB header (the pool "
                                   "metadata is damaged or was never written)")
            return member
        pool_guid = str(uuid.UUID(bytes_le=head[0x20:0x30])).upper()
        disk_guid = str(uuid.UUID(bytes_le=head[0x30:0x40])).upper()
        has_db = stream.size >= DATABASE_OFFSET + 8 and stream.pread(8, DATABASE_OFFSET) == DATABASE
        return PoolMember(cls.type_name, pool_guid, "", volume, stream, {"disk": disk_guid, "database": has_db})

    @classmethod
    def assemble(cls, members: list[PoolMember]) -> tuple[list[PoolVolume], list[str]]:
        pool = members[0].pool_id
        copies = sum(1 for m in members if m.info and m.info.get("database"))
        warning = (f"Storage Spaces pool {pool}: {len(members)} member disk(s) found here "
                   f"({copies} with a copy of the pool database); the virtual disks in the pool cannot be read "
                   "by restorekit (the slab layout is undocumented). Restore the disks and attach them to a Windows "
                   "VM, which assembles the pool, to recover files")
        return [], [warning]
