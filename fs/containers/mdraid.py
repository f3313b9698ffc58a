"""Linux software RAID (mdadm) members: superblocks 1.0, 1.1, 1.2 and 0.90; RAID1 and linear arrays.

Superblock 1.x (magic ``0xa92b4efc``, little-endian) sits at the start (1.1), 4 KiB in (1.2) or 8 KiB before
the end (1.0) of a member and names the array (``host:name``, UUID), its level, the member's role and where
its data starts. 0.90 sits in the last 64 KiB-aligned 64 KiB of the member, its data at offset 0.

:meth:`MdraidPool.assemble` builds RAID1 from any one active member (a degraded mirror still reads) and a
linear array from all its members in role order; other levels are listed with the reason.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from restorekit.fs.container import Pool, PoolMember, PoolVolume
from restorekit.fs.errors import VolumeError
from restorekit.fs.volume import Segment, SegmentVolume, Volume

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

MAGIC = 0xA92B4EFC
SECTOR = 512
ROLE_SPARE, ROLE_FAULTY = 0xFFFF, 0xFFFE
SUPERBLOCK_1_SIZE = 4096  # 1.x: 256 bytes of fields and 2 bytes per device role, in one 4 KiB block
SUPERBLOCK_090_SIZE = 4096
MAX_DEVICES_1 = (SUPERBLOCK_1_SIZE - 256) // 2  # 1920: the roles must fit in the superblock's block
MAX_DEVICES_090 = 27  # MD_SB_DISKS
LEVELS = {-1: "linear", 0: "raid0", 1: "raid1", 4: "raid4", 5: "raid5", 6: "raid6", 10: "raid10"}


@dataclass
class MdSuperblock:
    """The fields of an md superblock that assembling needs."""

    version: str
    array_uuid: str
    name: str
    level: int
    raid_disks: int
    role: int | None
    data_offset: int
    data_size: int
    array_member_size: int
    chunk: int
    events: int


def superblock_1_checksum(raw: bytes) -> int:
    """The ``sb_csum`` of a 1.x superblock: 32-bit sum of its words (checksum field as zero), folded.

    ``raw`` holds the superblock's 256 bytes of fields and its ``max_dev`` roles (the caller checks both fit).
    """
    max_dev = struct.unpack_from("<I", raw, 220)[0]
    size = 256 + 2 * max_dev
    data = bytearray(raw[:size])
    data[216:220] = bytes(4)
    total = sum(struct.unpack_from(f"<{size // 4}I", data))
    if size % 4 == 2:
        total += struct.unpack_from("<H", data, size - 2)[0]
    return ((total & 0xFFFFFFFF) + (total >> 32)) & 0xFFFFFFFF


def _locations(size: int) -> list[tuple[str, int]]:
    """Where each superblock version would be on a member of ``size`` bytes."""
    out = [("1.1", 0), ("1.2", 4096)]
    sectors = size // SECTOR
    if sectors > 16:
        out.append(("1.0", ((sectors - 16) & ~7) * SECTOR))
    if size >= 128 << 10:
        out.append(("0.90", (size & ~0xFFFF) - 0x10000))
    return out


def find_superblock(stream: Stream) -> tuple[str, int] | None:
    """(version, offset) of the md superblock on ``stream``, or None."""
    for version, at in _locations(stream.size):
        if at + 4 <= stream.size and struct.unpack("<I", stream.pread(4, at))[0] == MAGIC:
            return version, at
    return None


def read_superblock(stream: Stream, volume: str) -> MdSuperblock:
    """Parse the member's superblock; raise :class:`VolumeError` when it is damaged."""
    found = find_superblock(stream)
    if found is None:
        raise VolumeError("no md superblock found", volume=volume, hint="not a Linux RAID member")
    version, at = found
    needed = SUPERBLOCK_090_SIZE if version == "0.90" else 256
    raw = stream.pread(SUPERBLOCK_1_SIZE, at)
    if len(raw) < needed:
        raise VolumeError(f"md superblock {version} at {at} is cut off by the end of the member ({stream.size} "
                          "bytes)", volume=volume, offset=at, hint="the member is truncated; another member of the "
                          "array may be intact")
    if version == "0.90":
        return _parse_090(raw, at, volume)
    major = struct.unpack_from("<I", raw, 4)[0]
    if major != 1:
        raise VolumeError(f"md superblock major version {major} is unknown", volume=volume, offset=at)
    max_dev = struct.unpack_from("<I", raw, 220)[0]
    if max_dev > MAX_DEVICES_1 or 256 + 2 * max_dev > len(raw):
        raise VolumeError(f"md superblock lists {max_dev} device roles; at most {MAX_DEVICES_1} fit "
                          f"(the member has {len(raw) - 256} bytes for them)", volume=volume, offset=at + 220,
                          hint="the member is damaged; another member of the array may be intact")
    if struct.unpack_from("<I", raw, 216)[0] != superblock_1_checksum(raw):
        raise VolumeError("md superblock checksum mismatch", volume=volume, offset=at,
                          hint="the member is damaged; another member of the array may be intact")
    set_uuid, set_name = raw[16:32], raw[32:64].split(b"\0", 1)[0].decode("utf-8", "replace")
    level, _layout, size, chunk, raid_disks = struct.unpack_from("<iIQII", raw, 72)
    data_offset, data_size = struct.unpack_from("<QQ", raw, 128)
    dev_number = struct.unpack_from("<I", raw, 160)[0]
    events = struct.unpack_from("<Q", raw, 200)[0]
    if raid_disks > MAX_DEVICES_1:
        raise VolumeError(f"md superblock says the array has {raid_disks} members; the format allows "
                          f"{MAX_DEVICES_1}", volume=volume, offset=at + 92,
                          hint="the member is damaged; another member of the array may be intact")
    role = struct.unpack_from("<H", raw, 256 + 2 * dev_number)[0] if dev_number < max_dev else ROLE_SPARE
    return MdSuperblock(version, str(uuid.UUID(bytes=set_uuid)), set_name, level, raid_disks,
                        None if role in (ROLE_SPARE, ROLE_FAULTY) else role, data_offset * SECTOR,
                        data_size * SECTOR, size * SECTOR, chunk * SECTOR, events)


def _parse_090(raw: bytes, at: int, volume: str) -> MdSuperblock:
    """The 0.90 superblock: 32-bit words, the member's own descriptor at word 992."""
    words = struct.unpack_from("<32I", raw, 0)
    if words[10] > MAX_DEVICES_090:
        raise VolumeError(f"md 0.90 superblock says the array has {words[10]} members; the format allows "
                          f"{MAX_DEVICES_090}", volume=volume, offset=at + 40,
                          hint="the member is damaged; another member of the array may be intact")
    level = struct.unpack_from("<i", raw, 28)[0]
    set_uuid = struct.pack("<I", words[5]) + struct.pack("<III", words[13], words[14], words[15])
    chunk = struct.unpack_from("<I", raw, 35 * 4)[0]
    this_disk_raid_role = struct.unpack_from("<I", raw, 992 * 4 + 12)[0]
    state = struct.unpack_from("<I", raw, 992 * 4 + 16)[0]
    active = state & (1 << 1)  # MD_DISK_ACTIVE
    # 0.90 keeps no data offset (data starts at 0) and no name (the array is known by its minor number).
    return MdSuperblock("0.90", str(uuid.UUID(bytes=set_uuid)), f"md{words[11]}", level, words[10],
                        this_disk_raid_role if active else None, 0, at, words[8] * 1024, chunk, 0)


class MdraidPool(Pool):
    """Linux md RAID arrays."""

    type_name = "mdraid"

    @classmethod
    def detect(cls, stream: Stream, partition_kind: str | None = None) -> bool:
        return find_superblock(stream) is not None

    @classmethod
    def probe(cls, stream: Stream, volume: str) -> PoolMember:
        sb = read_superblock(stream, volume)
        return PoolMember(cls.type_name, sb.array_uuid, sb.name, volume, stream, sb)

    @classmethod
    def assemble(cls, members: list[PoolMember]) -> tuple[list[PoolVolume], list[str]]:
        newest = max(members, key=lambda m: m.info.events)
        sb: MdSuperblock = newest.info
        name = "md/" + (sb.name.split(":", 1)[-1] or sb.array_uuid[:8])
        level = LEVELS.get(sb.level, f"level {sb.level}")
        active = {m.info.role: m for m in members if m.info.role is not None}
        warnings = []
        missing = sorted(set(range(sb.raid_disks)) - set(active))
        if missing:
            warnings.append(f"md array {sb.name or sb.array_uuid} ({level}): {len(active)} of {sb.raid_disks} "
                            f"members present; missing roles {', '.join(map(str, missing))}")
        holder = active[min(active)] if active else newest
        if sb.level == 1 and active:
            stream = Volume(holder.stream, holder.info.data_offset, sb.array_member_size, name=name)
            return [PoolVolume(name, holder.volume, stream.size, stream, [], holder.info.data_offset)], warnings
        if sb.level == -1 and not missing:
            segments, pos = [], 0
            for role in range(sb.raid_disks):
                member = active[role].info
                length = member.data_size - member.data_size % member.chunk if member.chunk else member.data_size
                segments.append(Segment(pos, length, Volume(active[role].stream, member.data_offset, length)))
                pos += length
            stream = SegmentVolume(segments, pos, name=name)
            return [PoolVolume(name, holder.volume, pos, stream, [], holder.info.data_offset)], warnings
        reason = (f"a {level} array cannot be assembled with members missing" if missing and sb.level in (-1, 1)
                  else f"{level} arrays are not assembled by restorekit (RAID1 and linear are)")
        return [PoolVolume(name, holder.volume, 0, None, [f"{name}: {reason}"])], warnings
