"""Windows LDM (dynamic disks): simple, spanned, striped, mirrored and RAID-5 volumes across the disks.

A dynamic disk has an MBR partition of type 0x42 (its database in the last 1 MiB of the disk), or GPT "LDM
metadata" and "LDM data" partitions. :mod:`restorekit.fs.containers.ldm_db` reads the database every disk of a
group carries; :meth:`LdmPool.assemble` takes the newest copy among the disks found and builds each volume on
the disks' data areas: simple and spanned as runs of the disks, striped with :func:`restorekit.fs.raid.raid0`,
mirrored with :func:`restorekit.fs.raid.mirror` and RAID-5 with :func:`restorekit.fs.raid.parity_raid`. A volume
is listed as ``ldm/<name>`` (``ldm/Volume1``) under the member partition that holds its first bytes.

A mirror reads with one leg and RAID-5 with one member missing; other volumes missing a disk are listed with
the disks that are missing, by name (``Disk2``), and what to add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restorekit.fs.container import Pool, PoolMember, PoolVolume
from restorekit.fs.containers.ldm_db import (
    PRIVHEAD,
    PRIVHEAD_COPIES,
    SECTOR,
    ComponentRecord,
    Database,
    PartitionRecord,
    Privhead,
    Vmdb,
    VolumeRecord,
    parse_privhead,
    read_database,
    read_vmdb,
)
from restorekit.fs.errors import RestoreKitError, VolumeError
from restorekit.fs.partition import read_partition_table
from restorekit.fs.raid import mirror, parity_raid, raid0
from restorekit.fs.volume import Segment, SegmentVolume, Volume

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

#: How Windows lays out RAID-5 data and parity (found by reading the 2003 R2 and 2008 R2 test volumes).
RAID5_LAYOUT = "left-symmetric"


class LdmMember:
    """One LDM partition found on a disk: its disk's PRIVHEAD and VMDB, and where the partition is."""

    def __init__(self, privhead: Privhead, vmdb: Vmdb | None, disk: Stream, offset: int, size: int) -> None:
        self.privhead = privhead
        self.vmdb = vmdb
        self.disk = disk
        self.offset = offset
        self.size = size


def _disk_of(stream: Stream) -> tuple[Stream, int]:
    """The whole disk ``stream`` is a partition of, and where on it the partition starts."""
    if isinstance(stream, Volume):
        return stream.base, stream.offset
    return stream, 0


def find_privhead(stream: Stream, volume: str) -> tuple[Privhead, Stream, int]:
    """The PRIVHEAD for the LDM partition ``stream`` (on its disk's sector 6 for MBR, the last sector of the GPT
    "LDM metadata" partition, or the copies at the end of the database), its disk and the partition's offset."""
    disk, offset = _disk_of(stream)
    disk_id = volume.rsplit("-p", 1)[0]
    places = [6 * SECTOR, offset + stream.size - SECTOR]
    if disk is not stream:
        try:
            table = read_partition_table(disk, disk_id)
        except RestoreKitError:
            table = None
        places += [p.offset + p.size - SECTOR for p in (table.partitions if table else []) if p.kind == "ldm-metadata"]
    places.append(disk.size - SECTOR)
    damaged: VolumeError | None = None
    for at in dict.fromkeys(places):
        if not 0 <= at <= disk.size - SECTOR:
            continue
        raw = disk.pread(SECTOR, at)
        if raw[:8] != PRIVHEAD:
            continue
        try:
            return parse_privhead(raw, disk_id, at), disk, offset
        except VolumeError as exc:
            damaged = damaged or exc
            copy = _privhead_copy(disk, raw, disk_id, at)
            if copy is not None:
                return copy, disk, offset
    if damaged is not None:
        raise damaged
    raise VolumeError("LDM partition but no PRIVHEAD found (sector 6, the end of the LDM metadata partition or of "
                      "the disk)", volume=volume, hint="the dynamic disk's metadata is damaged; the disk group's "
                      "volumes can still be read from its other disks")


def _privhead_copy(disk: Stream, raw: bytes, disk_id: str, at: int) -> Privhead | None:
    """A good PRIVHEAD copy inside the database, when the damaged one still says where the database is."""
    start = int.from_bytes(raw[0x12B:0x133], "big") * SECTOR
    for sector in PRIVHEAD_COPIES:
        where = start + sector * SECTOR
        if where != at and 0 <= where <= disk.size - SECTOR:
            try:
                return parse_privhead(disk.pread(SECTOR, where), disk_id, where)
            except VolumeError:
                continue
    return None


class LdmPool(Pool):
    """A dynamic disk group."""

    type_name = "ldm"

    @classmethod
    def probe(cls, stream: Stream, volume: str) -> PoolMember:
        privhead, disk, offset = find_privhead(stream, volume)
        vmdb: Vmdb | None = None
        problem = None
        try:
            vmdb = read_vmdb(disk, privhead, volume.rsplit("-p", 1)[0])
        except VolumeError as exc:  # the disk still names its group; another disk may hold the database
            problem = str(exc)
        member = PoolMember(cls.type_name, privhead.group_guid, privhead.group_name, volume, stream,
                            LdmMember(privhead, vmdb, disk, offset, stream.size))
        if problem:
            member.warnings.append(problem)
        return member

    @classmethod
    def assemble(cls, members: list[PoolMember]) -> tuple[list[PoolVolume], list[str]]:
        db, warnings = _newest_database(members)
        group = db.group_name or members[0].pool_name or members[0].pool_id
        present: dict[str, list[PoolMember]] = {}
        for member in members:
            present.setdefault(member.info.privhead.disk_guid, []).append(member)
        known = {disk.guid for disk in db.disks.values()}
        for guid, found in present.items():
            if guid not in known:
                warnings.append(f"LDM disk group {group}: {found[0].volume} (disk {guid}) is not in the group's "
                                "database; its data is not used")
        builder = _Builder(db, present, members[0])
        volumes, names = [], set()
        for record in sorted(db.volumes.values(), key=lambda v: v.id):
            name = _safe_name(record.name)
            if name in names:  # two volumes of one name (a damaged database): the object id tells them apart
                name = f"{name}-{record.id}"
            names.add(name)
            volumes.append(builder.build(record, name))
        return volumes, warnings


def _newest_database(members: list[PoolMember]) -> tuple[Database, list[str]]:
    """The database with the highest committed sequence that parses; warnings name older or damaged copies."""
    ordered = sorted((m for m in members if m.info.vmdb is not None), key=lambda m: -m.info.vmdb.committed)
    failures: list[VolumeError] = []
    seen: set[str] = set()
    for member in ordered:
        info: LdmMember = member.info
        if info.privhead.disk_guid in seen or info.vmdb is None:
            continue  # a GPT disk's metadata and data partitions share one database
        seen.add(info.privhead.disk_guid)
        try:
            db = read_database(info.disk, info.vmdb, member.volume.rsplit("-p", 1)[0])
        except VolumeError as exc:
            failures.append(exc)
            continue
        warnings = [*db.warnings, *(str(exc) for exc in failures)]
        older = sorted({m.volume for m in ordered if m.info.vmdb.committed < db.committed})
        if older:
            warnings.append(f"LDM disk group {db.group_name}: {', '.join(older)} hold(s) an older copy of the "
                            f"database than {member.volume} (sequence {db.committed}); the newest copy is used")
        return db, warnings
    if failures:
        raise failures[0]
    group = members[0].pool_name or members[0].pool_id
    raise VolumeError(f"LDM disk group {group}: no disk found has a readable database, so its volumes are unknown",
                      volume=members[0].volume, hint="add another disk of the group")


class _Builder:
    """Builds the volumes of one database on the disks present."""

    def __init__(self, db: Database, present: dict[str, list[PoolMember]], fallback: PoolMember) -> None:
        self.db = db
        self.present = present
        self.fallback = fallback
        #: Warnings found while building the current volume (a disk image cut short inside a partition).
        self.notes: list[str] = []

    def build(self, vol: VolumeRecord, shown: str) -> PoolVolume:
        """The volume ``ldm/<shown>``: its stream, or why it cannot be read."""
        name = f"ldm/{shown}"
        components = sorted((c for c in self.db.components.values() if c.volume == vol.id), key=lambda c: c.id)
        parts = {c.id: sorted((p for p in self.db.partitions.values() if p.component == c.id),
                              key=lambda p: (p.index, p.volume_offset)) for c in components}
        kind = _kind(vol, components, parts)
        layout: dict[str, Any] = {"type": kind, "disks": []}
        self.notes = []
        try:
            self._check(vol, components, parts)
            on = dict.fromkeys(p.disk for c in components for p in parts[c.id])
            missing = [self._disk_name(disk) for disk in on if self._member(disk) is None]
            layout["disks"] = [{"name": self._disk_name(disk), "guid": self.db.disks[disk].guid,
                                "volume": m.volume if (m := self._member(disk)) else None} for disk in on]
            if components[0].chunk:
                layout["chunk"] = components[0].chunk
            stream, warnings = self._stream(vol, name, kind, components, parts, missing)
        except VolumeError as exc:
            stream, warnings = None, [f"{name}: cannot be read: {exc.message}"]
        parent, offset = self._parent(components, parts)
        warnings += [f"{name}: {note}" for note in dict.fromkeys(self.notes)]
        return PoolVolume(name, parent.volume, vol.size, stream, warnings, offset, layout=layout)

    def _check(self, vol: VolumeRecord, components: list[ComponentRecord],
               parts: dict[int, list[PartitionRecord]]) -> None:
        if len(components) != vol.components or not components:
            raise VolumeError(f"the database lists {len(components)} of its {vol.components} component(s)")
        for comp in components:
            if len(parts[comp.id]) != comp.partitions or not parts[comp.id]:
                raise VolumeError(f"component {comp.name} has {len(parts[comp.id])} of its {comp.partitions} "
                                  "partition(s) in the database")
            for part in parts[comp.id]:
                if part.disk not in self.db.disks:
                    raise VolumeError(f"partition {part.name} is on disk object {part.disk}, which the database "
                                      "does not list")
                if comp.kind != "spanned" and part.index >= max(comp.columns, 1):
                    raise VolumeError(f"partition {part.name} is column {part.index} of a {comp.columns}-column "
                                      f"component")
                if comp.kind != "spanned" and not comp.chunk:
                    raise VolumeError(f"{comp.kind} component {comp.name} has no stripe size")

    def _disk_name(self, disk: int) -> str:
        """The disk's name (``Disk2``) as shown: made safe like a volume name (it may come from a damaged record)."""
        return _safe_name(self.db.disks[disk].name)

    def _member(self, disk: int) -> PoolMember | None:
        """The member standing for the disk with object id ``disk``, or None when the disk is missing."""
        found = self.present.get(self.db.disks[disk].guid, [])
        # A GPT disk has two members (LDM metadata and LDM data): the one holding the data area stands for it.
        data = [m for m in found if m.info.offset <= m.info.privhead.data_start < m.info.offset + m.info.size]
        return (data or found or [None])[0]

    def _run(self, part: PartitionRecord) -> Volume | None:
        """The partition's bytes on its disk, or None when the disk is missing."""
        member = self._member(part.disk)
        if member is None:
            return None
        info: LdmMember = member.info
        if part.start + part.size > info.privhead.data_size:
            raise VolumeError(f"partition {part.name} ({part.size} bytes at {part.start}) runs past the end of "
                              f"{self._disk_name(part.disk)}'s data area ({info.privhead.data_size} bytes)")
        run = Volume(info.disk, info.privhead.data_start + part.start, part.size, name=part.name)
        if run.size < part.size:
            self.notes.append(f"{self._disk_name(part.disk)}'s image ends {part.size - run.size} bytes before the end "
                              f"of its partition {part.name}: those bytes of the volume are missing (they read as "
                              "zeros, and a file system past its volume's end is named); copy the disk again")
        return run

    def _column(self, parts: list[PartitionRecord]) -> Stream | None:
        """The partitions of one column (or of a spanned component) laid end to end; None when one is missing."""
        runs = [self._run(part) for part in parts]
        if any(run is None for run in runs):
            return None
        if len(runs) == 1 and parts[0].volume_offset == 0:
            return runs[0]
        pos = 0
        for part in sorted(parts, key=lambda p: p.volume_offset):
            if part.volume_offset != pos:
                raise VolumeError(f"partition {part.name} starts at byte {part.volume_offset} of its component, "
                                  f"where the partitions before it end at {pos}")
            pos += part.size
        return SegmentVolume([Segment(p.volume_offset, p.size, run) for p, run in zip(parts, runs, strict=True)],
                             pos, name=parts[0].name)

    def _columns(self, comp: ComponentRecord, parts: list[PartitionRecord]) -> tuple[list[Stream | None], list[str]]:
        """The columns of a striped or RAID-5 component, and each one's disk name(s) for messages."""
        by_index: dict[int, list[PartitionRecord]] = {}
        for part in parts:
            by_index.setdefault(part.index, []).append(part)
        if sorted(by_index) != list(range(comp.columns)):
            raise VolumeError(f"component {comp.name} has {comp.columns} columns, but its partitions are in "
                              f"column(s) {', '.join(map(str, sorted(by_index)))}")
        names = ["+".join(dict.fromkeys(self._disk_name(p.disk) for p in by_index[i])) for i in range(comp.columns)]
        return [self._column(by_index[i]) for i in range(comp.columns)], names

    def _legs(self, components: list[ComponentRecord],
              parts: dict[int, list[PartitionRecord]]) -> tuple[list[Stream | None], list[str]]:
        """The legs of a mirror, and each one's disk name(s) for messages."""
        names = ["+".join(dict.fromkeys(self._disk_name(p.disk) for p in parts[c.id])) for c in components]
        return [self._column(parts[c.id]) for c in components], names

    def _stream(self, vol: VolumeRecord, name: str, kind: str, components: list[ComponentRecord],
                parts: dict[int, list[PartitionRecord]], missing: list[str]) -> tuple[Stream, list[str]]:
        lacking = f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing"
        if kind == "mirrored":
            legs, names = self._legs(components, parts)
            if all(leg is None for leg in legs):
                raise VolumeError(f"every leg of the mirror is missing ({lacking}); add one of its disks")
            warnings = [f"{name}: mirror reads from its remaining leg; {lacking}"] if missing else []
            return mirror(legs, vol.size, name=name, member_names=names), warnings
        comp = components[0]
        if kind in ("simple", "spanned"):
            stream = self._column(parts[comp.id])
            if stream is None:
                raise VolumeError(f"{lacking}; add the disk(s) that hold it")
            return _sized(stream, vol, name), []
        columns, names = self._columns(comp, parts[comp.id])
        present = [column for column in columns if column is not None]
        if kind == "striped":
            if len(present) < len(columns):
                raise VolumeError(f"{lacking}; a striped volume needs every disk")
            return _sized(raid0(present, comp.chunk, name=name, member_names=names), vol, name), []
        if len(present) < len(columns) - 1:
            raise VolumeError(f"{lacking}; RAID-5 reads with one disk missing at most")
        stream = parity_raid(5, columns, comp.chunk, vol.size, layout=RAID5_LAYOUT, name=name, member_names=names)
        return stream, [f"{name}: RAID-5 rebuilds the missing member from parity; {lacking}"] if missing else []

    def _parent(self, components: list[ComponentRecord],
                parts: dict[int, list[PartitionRecord]]) -> tuple[PoolMember, int]:
        """The member partition holding the volume's first bytes on a present disk, and where they are in it."""
        for comp in components:
            for part in parts[comp.id]:
                member = self._member(part.disk) if part.disk in self.db.disks else None
                if member is None:
                    continue
                at = member.info.privhead.data_start + part.start
                found = self.present[member.info.privhead.disk_guid]
                holder = next((m for m in found if m.info.offset <= at < m.info.offset + m.info.size), member)
                return holder, max(0, at - holder.info.offset)
        return self.fallback, 0


def _safe_name(name: str) -> str:
    """A volume name fit for an id: what is not a letter, digit, ``-``, ``_`` or ``.`` (a damaged name's ``/``,
    ``:``, control characters) becomes ``_``."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name) or "_"


def _kind(vol: VolumeRecord, components: list[ComponentRecord], parts: dict[int, list[PartitionRecord]]) -> str:
    """What Windows calls the volume: simple, spanned, striped, mirrored or raid5."""
    if vol.kind == "raid5" or any(c.kind == "raid5" for c in components):
        return "raid5"
    if len(components) > 1:
        return "mirrored"
    if components and components[0].kind == "striped":
        return "striped"
    return "spanned" if components and len(parts[components[0].id]) > 1 else "simple"


def _sized(stream: Stream, vol: VolumeRecord, name: str) -> Stream:
    """The volume's own size of ``stream`` (its partitions may hold more than the volume uses; a disk image cut
    short leaves it shorter, and the file system then says it runs past its volume)."""
    declared = getattr(stream, "declared_size", stream.size)
    if declared < vol.size:
        raise VolumeError(f"its partitions hold {declared} bytes, less than its size ({vol.size} bytes)")
    return stream if stream.size == vol.size == declared else Volume(stream, 0, vol.size, name=name)
