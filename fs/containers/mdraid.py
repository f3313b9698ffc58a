"""Linux software RAID (mdadm): superblocks 0.90, 1.0, 1.1 and 1.2; linear, RAID0/1/4/5/6/10 arrays.

Superblock 1.x (magic ``0xa92b4efc``, little-endian) sits at the start (1.1), 4 KiB in (1.2) or 8 KiB before
the end (1.0) of a member and names the array (``host:name``, UUID), its level, layout, chunk size, the
per-member size used, where the member's data starts, its event count and, in a table indexed by device number,
the role of every device. 0.90 sits in the last 64 KiB-aligned 64 KiB of the member, its data at offset 0, its
disks described in a table of 27 entries.

:meth:`MdraidPool.assemble` puts the members in role order (as the freshest superblock assigns roles) and reads
the array through :mod:`restorekit.fs.raid`. Members whose event counts disagree (one missed the last writes)
are refused unless ``force`` is given (``--force-assemble``, as ``mdadm --assemble --force``): then the
freshest members are used, and older ones only as far as the array needs them to run. A degraded array
missing what its redundancy allows is read by rebuilding, and says so.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from restorekit.fs.container import Pool, PoolMember, PoolVolume
from restorekit.fs.containers.signatures import SECTOR, md_superblock
from restorekit.fs.errors import VolumeError
from restorekit.fs.raid import PARITY_LAYOUTS, mirror, parity_raid, raid0, raid10
from restorekit.fs.volume import Segment, SegmentVolume, Volume

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

ROLE_SPARE, ROLE_FAULTY, ROLE_JOURNAL = 0xFFFF, 0xFFFE, 0xFFFD
SUPERBLOCK_1_SIZE = 4096  # 1.x: 256 bytes of fields and 2 bytes per device role, in one 4 KiB block
SUPERBLOCK_090_SIZE = 4096
MAX_DEVICES_1 = (SUPERBLOCK_1_SIZE - 256) // 2  # 1920: the roles must fit in the superblock's block
MAX_DEVICES_090 = 27  # MD_SB_DISKS
LEVELS = {-1: "linear", 0: "raid0", 1: "raid1", 4: "raid4", 5: "raid5", 6: "raid6", 10: "raid10"}
#: How many members each level can lose and still be read.
REDUNDANCY = {-1: 0, 0: 0, 4: 1, 5: 1, 6: 2}
FEATURE_RECOVERY_OFFSET, FEATURE_RESHAPE_ACTIVE = 2, 4
DISK_ACTIVE = 1 << 1  # 0.90 disk descriptor state: MD_DISK_ACTIVE
RAID0_LAYOUTS = {1: "original", 2: "alternate"}


@dataclass
class MdSuperblock:
    """The fields of an md superblock that assembling needs."""

    version: str
    array_uuid: str
    name: str
    level: int
    raid_disks: int
    #: The member's role as its own superblock says (None: spare, faulty or journal).
    role: int | None
    data_offset: int
    data_size: int
    #: The bytes of each member the array uses (levels with redundancy; 0 for linear and RAID0 in 1.x).
    array_member_size: int
    chunk: int
    events: int
    layout: int = 0
    #: This device's index in :attr:`roles` (1.x) or in the disk table (0.90).
    dev_number: int = 0
    device_uuid: str | None = None
    #: The role of every device number, as this superblock records them (``ROLE_*`` for no role).
    roles: list[int] = field(default_factory=list)
    feature_map: int = 0
    #: Bytes of this member already rebuilt, when it is being recovered (``FEATURE_RECOVERY_OFFSET``).
    recovery_offset: int = 0


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


def superblock_090_checksum(raw: bytes) -> int:
    """The ``sb_csum`` of a 0.90 superblock: its 1024 words summed (checksum word as zero), folded."""
    words = list(struct.unpack_from("<1024I", raw))
    words[38] = 0
    total = sum(words)
    return ((total & 0xFFFFFFFF) + (total >> 32)) & 0xFFFFFFFF


def read_superblock(stream: Stream, volume: str) -> MdSuperblock:
    """Parse the member's superblock; raise :class:`VolumeError` when it is damaged."""
    found = md_superblock(stream)
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
    feature_map = struct.unpack_from("<I", raw, 8)[0]
    set_uuid, set_name = raw[16:32], raw[32:64].split(b"\0", 1)[0].decode("utf-8", "replace")
    level, layout, size, chunk, raid_disks = struct.unpack_from("<iIQII", raw, 72)
    data_offset, data_size, _super_offset, recovery_offset, dev_number = struct.unpack_from("<QQQQI", raw, 128)
    events = struct.unpack_from("<Q", raw, 200)[0]
    if raid_disks > MAX_DEVICES_1:
        raise VolumeError(f"md superblock says the array has {raid_disks} members; the format allows "
                          f"{MAX_DEVICES_1}", volume=volume, offset=at + 92,
                          hint="the member is damaged; another member of the array may be intact")
    roles = list(struct.unpack_from(f"<{max_dev}H", raw, 256))
    role = roles[dev_number] if dev_number < max_dev else ROLE_SPARE
    return MdSuperblock(version, str(uuid.UUID(bytes=set_uuid)), set_name, level, raid_disks,
                        None if role >= ROLE_JOURNAL else role, data_offset * SECTOR,
                        data_size * SECTOR, size * SECTOR, chunk * SECTOR, events, layout, dev_number,
                        str(uuid.UUID(bytes=raw[168:184])), roles, feature_map, recovery_offset * SECTOR)


def _parse_090(raw: bytes, at: int, volume: str) -> MdSuperblock:
    """The 0.90 superblock: 32-bit words (host order, little-endian here); the disk table at word 128, the
    member's own descriptor at word 992 (number, major, minor, raid_disk, state)."""
    words = struct.unpack_from("<1024I", raw, 0)
    if words[38] != superblock_090_checksum(raw):
        raise VolumeError("md 0.90 superblock checksum mismatch", volume=volume, offset=at,
                          hint="the member is damaged; another member of the array may be intact")
    if words[10] > MAX_DEVICES_090:
        raise VolumeError(f"md 0.90 superblock says the array has {words[10]} members; the format allows "
                          f"{MAX_DEVICES_090}", volume=volume, offset=at + 40,
                          hint="the member is damaged; another member of the array may be intact")
    level = struct.unpack_from("<i", raw, 28)[0]
    # mdadm prints the UUID as the four words in hex: keep that order of digits.
    set_uuid = struct.pack(">IIII", words[5], words[13], words[14], words[15])
    number, _major, _minor, raid_disk, state = words[992:997]
    roles = []
    for i in range(MAX_DEVICES_090):
        entry = words[128 + 32 * i : 128 + 32 * i + 5]
        roles.append(entry[3] if entry[4] & DISK_ACTIVE else ROLE_SPARE)
    # 0.90 keeps no data offset (data starts at 0) and no name (the array is known by its minor number); a
    # member's data ends where the superblock's 64 KiB begin.
    return MdSuperblock("0.90", str(uuid.UUID(bytes=set_uuid)), f"md{words[11]}", level, words[10],
                        raid_disk if state & DISK_ACTIVE else None, 0, at, words[8] * 1024, words[65],
                        (words[40] << 32) | words[39], words[64], number, None, roles)


class MdraidPool(Pool):
    """Linux md RAID arrays."""

    type_name = "mdraid"
    FORCEABLE: ClassVar[bool] = True

    @classmethod
    def probe(cls, stream: Stream, volume: str) -> PoolMember:
        sb = read_superblock(stream, volume)
        return PoolMember(cls.type_name, sb.array_uuid, sb.name, volume, stream, sb)

    @classmethod
    def assemble(cls, members: list[PoolMember], *,  # type: ignore[override]
                 force: bool = False) -> tuple[list[PoolVolume], list[str]]:
        return _Assembly(members, force).volumes()


def _who(member: PoolMember, role: int | None = None) -> str:
    """A member as users can find it: its volume, role and device UUID."""
    sb: MdSuperblock = member.info
    shown = sb.role if role is None else role
    parts = [f"role {shown}" if shown is not None else "no role"]
    if sb.device_uuid:
        parts.append(f"device {sb.device_uuid}")
    return f"{member.volume} ({', '.join(parts)})"


class _Assembly:
    """One array: its members in role order, what is missing, stale or forced, and the stream that reads it."""

    def __init__(self, members: list[PoolMember], force: bool) -> None:
        self.force = force
        self.newest = max(members, key=lambda m: m.info.events)
        self.sb: MdSuperblock = self.newest.info
        sb = self.sb
        self.label = f"md array {sb.name or sb.array_uuid}"
        self.name = "md/" + (sb.name.split(":", 1)[-1] or sb.array_uuid[:8])
        self.level = LEVELS.get(sb.level, f"level {sb.level}")
        self.warnings: list[str] = []  # for every member volume
        self.notes: list[str] = []  # for the array volume only
        self.error: str | None = None
        self.by_role: dict[int, PoolMember] = {}
        self.stale: list[PoolMember] = []
        self.roles: dict[int, int | None] = {}  # by id() of the member
        #: Why a member seen on a volume is not read, by the role it had: the missing roles' known devices.
        self.unused: dict[int, str] = {}
        for member in sorted(members, key=lambda m: -m.info.events):
            self._place(member)

    def _role(self, member: PoolMember) -> int | None:
        """The member's role as the freshest superblock's device table records it (a member failed out of the
        array after it last wrote its own superblock still says it is active)."""
        info: MdSuperblock = member.info
        roles = self.sb.roles
        role = roles[info.dev_number] if info.dev_number < len(roles) else ROLE_SPARE
        if info.role is not None and role >= ROLE_JOURNAL and info.events < self.sb.events:
            state = "faulty" if role == ROLE_FAULTY else "no longer a member"
            self.unused[info.role] = f"{_who(member)} is marked {state} by the newest superblock"
        return None if role >= ROLE_JOURNAL else role

    def _place(self, member: PoolMember) -> None:
        info: MdSuperblock = member.info
        role = self.roles[id(member)] = self._role(member)
        if role is None:
            return
        if role >= self.sb.raid_disks:
            self.warnings.append(f"{self.label}: {_who(member, role)} has a role beyond the array's "
                                 f"{self.sb.raid_disks} members; it is not read")
            return
        if role in self.by_role:  # the same member twice (a disk given twice, a copy of a disk): the freshest
            self.warnings.append(f"{self.label}: {_who(member, role)} and {self.by_role[role].volume} both hold "
                                 f"role {role}; {self.by_role[role].volume} (events "
                                 f"{self.by_role[role].info.events}) is read")
            return
        if info.events < self.sb.events:
            self.stale.append(member)
            return
        if info.feature_map & FEATURE_RECOVERY_OFFSET:
            self.unused[role] = (f"{_who(member, role)} was being rebuilt (up to byte {info.recovery_offset}) and "
                                 "is read as missing")
            return
        self.by_role[role] = member

    # -- deciding -----------------------------------------------------------------------------------------

    def _missing(self) -> list[int]:
        return [r for r in range(self.sb.raid_disks) if r not in self.by_role]

    def _can_lose(self) -> int:
        """How many members the array can run without (RAID10: at most; which ones matters, see raid10())."""
        if self.sb.level in (1, 10):
            return self.sb.raid_disks - 1
        return REDUNDANCY.get(self.sb.level, 0)

    def _decide_stale(self) -> None:
        if not self.stale:
            return
        counts = ", ".join(f"{_who(m, self.roles[id(m)])}: {m.info.events}" for m in
                           [*sorted(self.by_role.values(), key=lambda m: self.roles[id(m)] or 0), *self.stale])
        stale = ", ".join(m.volume for m in self.stale)
        if not self.force:
            self.error = (f"{self.label} ({self.level}): members disagree on their event counts ({counts}); "
                          f"{stale} missed the array's last writes (stale). Pass --force-assemble to read the "
                          "array from its freshest members, as mdadm --assemble --force does")
            return
        # As mdadm --force: the freshest members, plus the most recent stale ones while the array cannot run.
        for member in sorted(self.stale, key=lambda m: -m.info.events):
            role = self.roles[id(member)]
            assert role is not None
            if len(self._missing()) > self._can_lose() or (self.sb.level == 10 and not self._raid10_readable()):
                self.by_role[role] = member
                self.notes.append(f"{self.label}: forced: {_who(member, role)} is read though its event count "
                                  f"{member.info.events} is below the array's {self.sb.events}; files written last "
                                  "may be old or damaged")
            else:
                self.unused[role] = (f"{_who(member, role)} is stale (events {member.info.events}, array "
                                     f"{self.sb.events}) and left out")

    def _raid10_readable(self) -> bool:
        try:
            self._stream()
        except VolumeError:
            return False
        return True

    def _missing_names(self) -> list[str]:
        """The missing roles, with what is known of each (a stale, faulty or half-rebuilt member seen)."""
        return [f"role {r}" + (f" ({self.unused[r]})" if r in self.unused else "") for r in self._missing()]

    # -- reading ------------------------------------------------------------------------------------------

    def _member_stream(self, role: int, size: int) -> Stream:
        member = self.by_role[role]
        stream = Volume(member.stream, member.info.data_offset, size, name=f"{member.volume} (role {role})")
        if stream.size < size:
            past = ("files whose data lies past its end cannot be read" if self.sb.level in (0, -1) else
                    "what lies past its end is read from the other members")
            note = (f"{self.label}: {_who(member, role)} ends {size - stream.size} bytes before the end of its "
                    f"data area (truncated?); {past}")
            if note not in self.warnings:
                self.warnings.append(note)
        return stream

    def _names(self) -> list[str]:
        return [_who(self.by_role[r], r) if r in self.by_role else f"role {r} (missing)"
                for r in range(self.sb.raid_disks)]

    def _stream(self) -> Stream:
        sb = self.sb
        n, chunk, level = sb.raid_disks, sb.chunk, sb.level
        per_member = sb.array_member_size
        if level in (0, -1) or per_member == 0:
            per_member = min(m.info.data_size for m in self.by_role.values())
        if level == -1:
            return self._linear()
        if level == 1:
            legs = [self._member_stream(r, per_member) if r in self.by_role else None for r in range(n)]
            return mirror(legs, per_member, name=self.name, member_names=self._names())
        if level not in (0, 4, 5, 6, 10):
            raise VolumeError(f"{self.level} arrays are not read by restorekit (linear, raid0/1/4/5/6/10 are)",
                              volume=self.name)
        if chunk <= 0 or chunk % SECTOR:
            raise VolumeError(f"chunk size {chunk} in the superblock is not a positive number of sectors",
                              volume=self.name, hint="the member's superblock is damaged")
        if level == 0:
            sizes = [self.by_role[r].info.data_size if r in self.by_role else 0 for r in range(n)]
            members = [self._member_stream(r, sizes[r]) if r in self.by_role else None for r in range(n)]
            layout = RAID0_LAYOUTS.get(sb.layout, "original")
            striped = raid0(members, chunk, name=self.name, layout=layout,  # type: ignore[arg-type]
                            member_names=self._names(), sizes=sizes)
            zones = striped.zones  # type: ignore[attr-defined]
            if sb.layout not in RAID0_LAYOUTS and len(zones) > 1 and len(zones[1][2]) > 1:
                self.notes.append(f"{self.name}: members of unequal size, and the superblock does not say which "
                                  "multi-zone layout the array was written in (made before Linux 5.4); read in "
                                  "the original layout of kernels before 3.14. If files read damaged, the "
                                  "array was written by Linux 3.14 to 5.3 in the alternate layout")
            return striped
        used = per_member - per_member % chunk
        members = [self._member_stream(r, used) if r in self.by_role else None for r in range(n)]
        if level == 10:
            near, far, offset, sets = sb.layout & 0xFF, (sb.layout >> 8) & 0xFF, bool(sb.layout & 0x10000), \
                sb.layout >> 17
            if sets > 2:
                raise VolumeError(f"raid10 layout 0x{sb.layout:x} is unknown", volume=self.name)
            size = ((used // chunk // max(far, 1)) * n // max(near, 1)) * chunk
            set_size = (0, n // max(far, 1), far * near)[sets]
            return raid10(members, chunk, size, near=near, far=far, offset=offset, far_set_size=set_size,
                          name=self.name, member_names=self._names())
        names = {number: name for name, number in PARITY_LAYOUTS.items()}
        if level == 4:
            layout = "parity-last"  # md keeps RAID4 parity on the last member whatever the layout field says
        elif sb.layout in names and (level == 6 or sb.layout <= 5):
            layout = names[sb.layout]
        else:
            raise VolumeError(f"{self.level} layout {sb.layout} is not one md defines", volume=self.name,
                              hint="the member's superblock is damaged")
        data_disks = n - (2 if level == 6 else 1)
        return parity_raid(level, members, chunk, used * data_disks, layout=layout, name=self.name,
                           member_names=self._names())

    def _linear(self) -> Stream:
        segments, pos = [], 0
        for role in range(self.sb.raid_disks):
            member = self.by_role[role].info
            length = member.data_size - member.data_size % member.chunk if member.chunk else member.data_size
            stream = self._member_stream(role, length)
            if stream.size < length:  # cut short: reads past its end fail naming it, never read as zeros
                stream = raid0([stream], length, name=self.name, member_names=[_who(self.by_role[role], role)],
                               sizes=[length])
            segments.append(Segment(pos, length, stream))
            pos += length
        return SegmentVolume(segments, pos, name=self.name)

    def volumes(self) -> tuple[list[PoolVolume], list[str]]:
        sb = self.sb
        if sb.feature_map & FEATURE_RESHAPE_ACTIVE:
            self.error = (f"{self.label} ({self.level}) is in the middle of a reshape; restorekit does not read "
                          "half-reshaped arrays. Assemble it with mdadm on a Linux machine to finish the reshape")
        else:
            self._decide_stale()
        missing = self._missing()
        if missing and self.error is None:
            present = sb.raid_disks - len(missing)
            self.warnings.append(f"{self.label} ({self.level}): {present} of {sb.raid_disks} members present; "
                                 f"missing {', '.join(self._missing_names())}")
        holder = self.by_role[min(self.by_role)] if self.by_role else self.newest
        stream = None
        if self.error is None:
            try:
                if sb.level == -1 and missing:
                    raise VolumeError(f"a linear array cannot be read with members missing "
                                      f"({', '.join(self._missing_names())}); add the disks that hold them",
                                      volume=self.name)
                if not self.by_role:
                    raise VolumeError("no member of the array is present", volume=self.name)
                stream = self._stream()
            except VolumeError as exc:
                self.error = str(exc)
        notes = list(self.notes)
        if self.error is not None:
            notes.append(self.error)
        elif missing:
            how = "rebuilt from parity" if sb.level in (4, 5, 6) else "read from the other copies"
            notes.append(f"{self.name}: degraded {self.level}, missing {', '.join(self._missing_names())}; "
                         f"its data is {how}")
        size = stream.size if stream is not None else 0
        return [PoolVolume(self.name, holder.volume, size, stream, notes, holder.info.data_offset)], self.warnings
