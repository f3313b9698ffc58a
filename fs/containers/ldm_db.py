"""The LDM database of a Windows dynamic disk: PRIVHEAD, TOCBLOCK, VMDB and the VBLK records.

Every dynamic disk of a disk group carries the whole group's database (1 MiB, big-endian):

* ``PRIVHEAD`` (sector 6 of an MBR disk; the last sector of the GPT "LDM metadata" partition; copies 1856 and
  2047 sectors into the database) names the disk, the host and the disk group, and says where the data area
  ("logical disk") and the database ("config") are, in sectors from the start of the disk.
* ``TOCBLOCK`` (sector 1 or 2 of the database, copies at 2045 and 2046) lists the database's regions; the
  ``config`` region starts with the ``VMDB``.
* ``VMDB``: the size of a VBLK slot (128 bytes), where the first one is, how many there are, the committed
  sequence number (which copy is newest) and how many volume, component, partition and disk records exist.
* ``VBLK`` slots hold the records. A record longer than one slot is split into fragments that share a record id
  and are numbered ``0 .. n-1``; their data (the slot after its 16-byte header) is joined in that order.

A record is ``status`` (2 bytes), ``flags``, ``type`` (low nibble: 1 volume, 2 component, 3 partition, 4 disk,
5 disk group; high nibble: revision) and a length, then fields, most of them of variable length: a number is a
length byte and that many big-endian bytes, a string is a length byte and that many bytes. A volume has
components (a mirror has two, everything else one); a component (spanned, striped or RAID-5) has partitions; a
partition is a run of one disk's data area (``start``) placed at ``volume_offset`` of its component, or of its
column (``index``) in a striped or RAID-5 component.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from restorekit.fs.errors import VolumeError

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

SECTOR = 512
PRIVHEAD = b"PRIVHEAD"
TOCBLOCK = b"TOCBLOCK"
VMDB = b"VMDB"
VBLK = b"VBLK"
#: Where TOCBLOCKs and PRIVHEAD copies are, in sectors from the start of the database.
TOCBLOCK_SECTORS = (1, 2, 2045, 2046)
PRIVHEAD_COPIES = (1856, 2047)
VBLK_HEADER = 16
RECORD_HEADER = struct.Struct(">HBBI")
#: Larger databases than this are damage (Windows writes 1 MiB).
MAX_CONFIG = 64 << 20
COMPONENT_KINDS = {1: "striped", 2: "spanned", 3: "raid5"}
HINT = "the disk's LDM database is damaged; another disk of the group holds a copy: add it"


@dataclass(frozen=True)
class Privhead:
    """What a disk's PRIVHEAD says; offsets and sizes in bytes from the start of the disk."""

    version: tuple[int, int]
    disk_guid: str
    host_guid: str
    group_guid: str
    group_name: str
    data_start: int
    data_size: int
    config_start: int
    config_size: int


def _ascii(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def parse_privhead(raw: bytes, where: str, offset: int) -> Privhead:
    """Parse the PRIVHEAD sector ``raw`` read at byte ``offset`` of disk ``where``."""
    if raw[:8] != PRIVHEAD or len(raw) < SECTOR:
        raise VolumeError("no LDM PRIVHEAD here", volume=where, offset=offset, hint="not a dynamic disk")
    major, minor = struct.unpack_from(">HH", raw, 0x0C)
    data_start, data_size, config_start, config_size = struct.unpack_from(">QQQQ", raw, 0x11B)
    if major != 2:
        raise VolumeError(f"LDM PRIVHEAD version {major}.{minor} is unknown (Windows writes 2.11 or 2.12)",
                          volume=where, offset=offset, hint=HINT)
    if not 0 < config_size * SECTOR <= MAX_CONFIG:
        raise VolumeError(f"LDM PRIVHEAD gives the database {config_size} sectors (Windows writes 2048)",
                          volume=where, offset=offset + 0x133, hint=HINT)
    return Privhead((major, minor), _ascii(raw[0x30:0x70]).lower(), _ascii(raw[0x70:0xB0]).lower(),
                    _ascii(raw[0xB0:0xF0]).lower(), _ascii(raw[0xF0:0x110]), data_start * SECTOR,
                    data_size * SECTOR, config_start * SECTOR, config_size * SECTOR)


@dataclass(frozen=True)
class Vmdb:
    """The VMDB header: where the VBLK slots are and which copy of the database is newest."""

    #: Byte offset of the VMDB on the disk; the slots are counted from here.
    offset: int
    vblk_size: int
    first_vblk: int
    vblk_count: int
    committed: int
    #: How many committed volume, component, partition and disk records the database says it holds.
    counts: tuple[int, int, int, int]


def read_vmdb(disk: Stream, ph: Privhead, where: str) -> Vmdb:
    """Find the database's VMDB through a TOCBLOCK (any of the four copies) and parse its header."""
    if ph.config_start + ph.config_size > disk.size:
        raise VolumeError(f"the LDM database ({ph.config_size} bytes at {ph.config_start}) lies past the end of "
                          f"the disk ({disk.size} bytes)", volume=where, offset=ph.config_start,
                          hint="the image is truncated, or " + HINT)
    problems = []
    for sector in TOCBLOCK_SECTORS:
        at = ph.config_start + sector * SECTOR
        if at + SECTOR > ph.config_start + ph.config_size:
            continue
        raw = disk.pread(SECTOR, at)
        if raw[:8] != TOCBLOCK:
            continue
        for entry in (0x24, 0x46):
            if _ascii(raw[entry : entry + 8]) != "config":
                continue
            start = struct.unpack_from(">Q", raw, entry + 10)[0]
            if start * SECTOR + SECTOR > ph.config_size:
                problems.append(f"TOCBLOCK at sector {sector} puts the VMDB at sector {start}, outside the database")
                continue
            vmdb = _parse_vmdb(disk.pread(SECTOR, ph.config_start + start * SECTOR),
                               ph.config_start + start * SECTOR, ph, where, problems)
            if vmdb is not None:
                return vmdb
    reason = "; ".join(dict.fromkeys(problems)) or "no TOCBLOCK in sectors 1, 2, 2045 or 2046 of the database"
    raise VolumeError(f"LDM database cannot be found: {reason}", volume=where, offset=ph.config_start, hint=HINT)


def _parse_vmdb(raw: bytes, at: int, ph: Privhead, where: str, problems: list[str]) -> Vmdb | None:
    if raw[:4] != VMDB:
        problems.append(f"no VMDB at byte {at}")
        return None
    last, size, first = struct.unpack_from(">III", raw, 4)
    committed = struct.unpack_from(">Q", raw, 0x75)[0]
    counts = struct.unpack_from(">IIII", raw, 0x85)
    room = ph.config_start + ph.config_size - at
    if size < VBLK_HEADER + RECORD_HEADER.size or size > SECTOR or SECTOR % size:
        problems.append(f"VMDB gives VBLK slots of {size} bytes (Windows writes 128)")
    elif first % size or not 0 < first < room:
        problems.append(f"VMDB puts the first VBLK at byte {first}, not a slot inside the database")
    elif last * size > room:
        problems.append(f"VMDB counts {last} VBLK slots of {size} bytes; the database has room for {room // size}")
    else:
        return Vmdb(at, size, first, last, committed, counts)
    return None


# -- records -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskRecord:
    """A disk of the group: its name (``Disk1``) and GUID (as in its PRIVHEAD)."""

    id: int
    name: str
    guid: str


@dataclass(frozen=True)
class PartitionRecord:
    """A run of one disk's data area; bytes."""

    id: int
    name: str
    start: int
    volume_offset: int
    size: int
    component: int
    disk: int
    index: int


@dataclass(frozen=True)
class ComponentRecord:
    """A plex of a volume: ``spanned``, ``striped`` or ``raid5``; chunk in bytes."""

    id: int
    name: str
    kind: str
    partitions: int
    volume: int
    chunk: int
    columns: int


@dataclass(frozen=True)
class VolumeRecord:
    """A volume as Windows shows it; size in bytes; ``kind`` is ``gen`` or ``raid5``."""

    id: int
    name: str
    kind: str
    components: int
    size: int
    partition_type: int
    guid: str
    hint: str


@dataclass
class Database:
    """The records of a disk group's database."""

    group_name: str = ""
    committed: int = 0
    disks: dict[int, DiskRecord] = field(default_factory=dict)
    partitions: dict[int, PartitionRecord] = field(default_factory=dict)
    components: dict[int, ComponentRecord] = field(default_factory=dict)
    volumes: dict[int, VolumeRecord] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class _Fields:
    """Reads a record's fields in order; running past its end is a :class:`VolumeError` naming the record."""

    def __init__(self, data: bytes, what: str, where: str, offset: int) -> None:
        self.data, self.pos, self.what, self.where, self.offset = data, 0, what, where, offset

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise VolumeError(f"LDM {self.what} ends after {len(self.data)} bytes, inside a field that needs "
                              f"{self.pos + n}", volume=self.where, offset=self.offset, hint=HINT)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "big")

    def num(self) -> int:
        length = self.u8()
        if length > 8:
            raise VolumeError(f"LDM {self.what} has a {length}-byte number (at most 8)", volume=self.where,
                              offset=self.offset, hint=HINT)
        return int.from_bytes(self.take(length), "big")

    def text(self) -> str:
        """A length-prefixed string; characters that are not printable (a damaged name) become ``?``."""
        return "".join(c if c.isprintable() else "?" for c in self.take(self.u8()).decode("utf-8", "replace"))


def _volume(f: _Fields, flags: int) -> VolumeRecord:
    oid, name, kind = f.num(), f.text(), f.text()
    f.text()  # a string of unknown use ("", or "8000000000000000")
    f.take(14)  # state: "ACTIVE"
    f.take(6)  # type byte (3 gen, 4 raid5), unknown, volume number, zeros
    f.u8()  # flags
    children = f.num()
    f.take(16)  # commit id, id
    size = f.num() * SECTOR
    f.take(4)
    partition_type = f.u8()
    guid = str(uuid.UUID(bytes=f.take(16)))
    if flags & 0x08:
        f.text()
    if flags & 0x20:
        f.text()
    if flags & 0x80:
        f.num()
    hint = f.text() if flags & 0x02 else ""
    return VolumeRecord(oid, name, kind, children, size, partition_type, guid, hint)


def _component(f: _Fields, flags: int) -> ComponentRecord:
    oid, name = f.num(), f.text()
    f.text()  # state
    code = f.u8()
    f.take(4)
    parts = f.num()
    f.take(16)  # log commit id, zeros
    volume = f.num()
    f.take(1)
    chunk = columns = 0
    if flags & 0x10:
        chunk, columns = f.num() * SECTOR, f.num()
    kind = COMPONENT_KINDS.get(code)
    if kind is None:
        raise VolumeError(f"LDM component {name} has type {code}, not one Windows writes (1 striped, 2 spanned, "
                          "3 RAID-5)", volume=f.where, offset=f.offset, hint=HINT)
    return ComponentRecord(oid, name, kind, parts, volume, chunk, columns)


def _partition(f: _Fields, flags: int) -> PartitionRecord:
    oid, name = f.num(), f.text()
    f.take(12)  # zeros, commit id
    start, offset = f.u64() * SECTOR, f.u64() * SECTOR
    size, component, disk = f.num() * SECTOR, f.num(), f.num()
    index = f.num() if flags & 0x08 else 0
    return PartitionRecord(oid, name, start, offset, size, component, disk, index)


def _disk(f: _Fields, revision: int) -> DiskRecord:
    oid, name = f.num(), f.text()
    if revision == 3:
        guid = f.text().lower()
    elif revision == 4:
        guid = str(uuid.UUID(bytes=f.take(16)))
    else:
        raise VolumeError(f"LDM disk record {name} has revision {revision} (3 and 4 are known)", volume=f.where,
                          offset=f.offset, hint=HINT)
    return DiskRecord(oid, name, guid)


def parse_vblks(raw: bytes, vblk_size: int, where: str, base: int = 0) -> Database:
    """The records in ``raw``, a run of VBLK slots of ``vblk_size`` bytes (``base``: its byte offset on the disk,
    for messages). Fragments are joined by record id in fragment order; a record whose fragments disagree,
    repeat or are missing is a :class:`VolumeError` naming it."""
    fragments: dict[int, dict[int, tuple[int, bytes]]] = {}
    totals: dict[int, int] = {}
    for at in range(0, len(raw) - vblk_size + 1, vblk_size):
        slot = raw[at : at + vblk_size]
        if slot[:4] != VBLK:
            continue
        record, entry, total = struct.unpack_from(">IHH", slot, 8)
        if record == 0 or total == 0:
            continue  # a free slot
        if entry >= total:
            raise VolumeError(f"LDM VBLK at byte {base + at} is fragment {entry} of record {record}, which has "
                              f"{total} fragments", volume=where, offset=base + at, hint=HINT)
        if totals.setdefault(record, total) != total:
            raise VolumeError(f"LDM record {record}: its fragments disagree on how many there are ({totals[record]} "
                              f"and {total})", volume=where, offset=base + at, hint=HINT)
        seen = fragments.setdefault(record, {})
        if entry in seen:
            raise VolumeError(f"LDM record {record} has fragment {entry} twice (bytes {base + seen[entry][0]} and "
                              f"{base + at}): its fragment chain is damaged", volume=where, offset=base + at,
                              hint=HINT)
        seen[entry] = (at, slot[VBLK_HEADER:])
    db = Database()
    for record, parts in fragments.items():
        first = base + min(at for at, _ in parts.values())
        if len(parts) != totals[record]:
            missing = sorted(set(range(totals[record])) - set(parts))
            shown = ", ".join(map(str, missing[:8])) + (", ..." if len(missing) > 8 else "")
            raise VolumeError(f"LDM record {record} lacks {len(missing)} of its {totals[record]} fragments ({shown})",
                              volume=where, offset=first, hint=HINT)
        data = b"".join(parts[i][1] for i in range(len(parts)))
        _add_record(db, data, where, first)
    return db


def _add_record(db: Database, data: bytes, where: str, offset: int) -> None:
    _status, flags, code, length = RECORD_HEADER.unpack_from(data)
    if length > len(data) - RECORD_HEADER.size:
        raise VolumeError(f"LDM record declares {length} bytes but its fragments hold "
                          f"{len(data) - RECORD_HEADER.size}", volume=where, offset=offset, hint=HINT)
    kind, revision = code & 0x0F, code >> 4
    names = {1: "volume", 2: "component", 3: "partition", 4: "disk", 5: "disk group"}
    if kind not in names:
        if kind:
            db.warnings.append(f"{where}: LDM record of unknown type {code:#x} at byte {offset} is ignored")
        return
    f = _Fields(data[RECORD_HEADER.size : RECORD_HEADER.size + length], f"{names[kind]} record", where, offset)
    if kind == 1:
        _put(db.volumes, _volume(f, flags), where, offset)
    elif kind == 2:
        _put(db.components, _component(f, flags), where, offset)
    elif kind == 3:
        _put(db.partitions, _partition(f, flags), where, offset)
    elif kind == 4:
        _put(db.disks, _disk(f, revision), where, offset)
    else:
        f.num()
        db.group_name = f.text()


def _put(table: dict[int, object], record: VolumeRecord | ComponentRecord | PartitionRecord | DiskRecord,
         where: str, offset: int) -> None:
    if record.id in table:
        raise VolumeError(f"LDM object id {record.id} is used twice ({record.name} and "
                          f"{getattr(table[record.id], 'name', '?')})", volume=where, offset=offset, hint=HINT)
    table[record.id] = record


def read_database(disk: Stream, vmdb: Vmdb, where: str) -> Database:
    """Read and parse every VBLK slot of the database whose VMDB is ``vmdb``; check the VMDB's counts."""
    start = vmdb.offset + vmdb.first_vblk
    raw = disk.pread(vmdb.vblk_count * vmdb.vblk_size - vmdb.first_vblk, start)
    db = parse_vblks(raw, vmdb.vblk_size, where, start)
    db.committed = vmdb.committed
    found = (len(db.volumes), len(db.components), len(db.partitions), len(db.disks))
    if found != vmdb.counts:
        db.warnings.append(f"{where}: the LDM VMDB counts {vmdb.counts[0]} volume(s), {vmdb.counts[1]} component(s), "
                           f"{vmdb.counts[2]} partition(s) and {vmdb.counts[3]} disk(s); the VBLKs hold {found[0]}, "
                           f"{found[1]}, {found[2]} and {found[3]}")
    return db
