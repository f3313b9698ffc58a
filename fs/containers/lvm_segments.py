"""The bytes of LVM2 logical volumes: each segment type mapped to the PVs or sub-LVs that hold it.

Segment types and what they read (``lvmraid(7)``, the kernel's ``dm-raid``, ``dm-thin`` and ``dm-snapshot``):

* ``striped`` (linear is one stripe): ``stripes = [PV, first extent, ...]``, ``stripe_size`` sectors per chunk,
  read with :func:`restorekit.fs.raid.raid0`;
* ``mirror`` (``mirrors = [LV_mimage_N, first extent, ...]``) and ``raid1`` (``raids = [LV_rmeta_N, LV_rimage_N,
  ...]``): one complete leg, which the warnings name;
* ``raid4`` (dm-raid puts its parity on the first image), ``raid5_la/ra/ls/rs`` (md's left/right,
  asymmetric/symmetric), ``raid5_n`` (parity on the last image), ``raid6_zr`` (LVM's ``raid6``), ``raid6_nr``,
  ``raid6_nc`` (md's DDF layouts), ``raid6_n_6`` and ``raid6_la/ra/ls/rs_6`` (a RAID5 layout with Q on the last
  image), ``raid10`` (md "near" copies) and ``raid0``/``raid0_meta``: the images are the ``rimage`` sub-LVs, data from
  ``data_offset`` (sectors) in each, read with :func:`restorekit.fs.raid.parity_raid` / ``raid10`` / ``raid0``;
* ``thin``: blocks of the pool's data LV as its metadata LV maps them (:mod:`.lvm_thin`);
* ``snapshot`` (old-style COW, on a hidden ``snapshotN`` LV): the COW store's visible LV is shown as the origin
  as it was (:mod:`.lvm_snapshot`).

A range that cannot be read (a missing PV, a type restorekit does not read) is an :class:`Unavailable` stream:
reading it raises an error that says why, so a file there fails by name instead of reading as zeros.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.fs import raid
from restorekit.fs.containers.lvm_snapshot import SnapshotVolume
from restorekit.fs.containers.lvm_text import number, sections
from restorekit.fs.containers.lvm_thin import ThinMetadata, ThinVolume
from restorekit.fs.errors import RestoreKitError, VolumeError
from restorekit.fs.stream import Extent, ExtentKind, Stream
from restorekit.fs.volume import Segment, SegmentVolume

if TYPE_CHECKING:
    from collections.abc import Iterator

    from restorekit.fs.container import PoolMember

SECTOR = 512
SEGMENT_KEY = re.compile(r"segment(\d+)", re.ASCII)
#: How deep LVs may stack on LVs (a thin volume on a pool on raid images on PVs is 3 deep).
MAX_STACK = 32
#: dm-raid's parity segment types and md's level and layout for each (dm-raid.c's table): raid4 keeps its parity
#: on the first image; raid6_zr (LVM's "raid6"), _nr and _nc are md's DDF layouts; the "_6" ones a RAID5 layout
#: with Q on the last image.
PARITY_LAYOUTS = {"raid4": (4, "parity-first"), "raid5_n": (5, "parity-last"), "raid5_la": (5, "left-asymmetric"),
                  "raid5_ra": (5, "right-asymmetric"), "raid5_ls": (5, "left-symmetric"),
                  "raid5_rs": (5, "right-symmetric"), "raid5": (5, "left-symmetric"),
                  "raid6_zr": (6, "ddf-zero-restart"), "raid6": (6, "ddf-zero-restart"),
                  "raid6_nr": (6, "ddf-n-restart"), "raid6_nc": (6, "ddf-n-continue"), "raid6_n_6": (6, "parity-last"),
                  "raid6_la_6": (6, "left-asymmetric-6"), "raid6_ra_6": (6, "right-asymmetric-6"),
                  "raid6_ls_6": (6, "left-symmetric-6"), "raid6_rs_6": (6, "right-symmetric-6")}
RAID_TYPES = {*PARITY_LAYOUTS, "raid10", "raid0", "raid0_meta"}


class Unavailable(Stream):
    """Bytes that cannot be read; mapping any of them raises :attr:`error`."""

    def __init__(self, size: int, error: VolumeError) -> None:
        super().__init__(size)
        self.error = error

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        raise self.error


class Zeros(Stream):
    """An LVM ``zero`` segment: reads as zeros, stored nowhere."""

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        yield Extent(offset, length, ExtentKind.ZERO)


@dataclass
class LvMap:
    """What an LV reads from, and what the user should know about it."""

    stream: Stream | None
    warnings: list[str] = field(default_factory=list)
    #: The PVs it needs that are missing.
    missing: list[str] = field(default_factory=list)
    #: The member (PV) its first byte is on, and the offset there.
    holder: PoolMember | None = None
    offset: int = 0
    size: int = 0

    @property
    def complete(self) -> bool:
        """True when every byte is readable (no missing PV, no unread segment type)."""
        return self.stream is not None and not self.missing and not isinstance(self.stream, Unavailable)


class VolumeGroupMap:
    """Builds the stream of each LV of one VG, from the PVs that are present."""

    def __init__(self, vg_name: str, vg: dict[str, Any], pvs: dict[str, PoolMember | None], volume: str) -> None:
        self.vg_name = vg_name
        self.volume = volume
        self.extent = number(vg, "extent_size", f"VG {vg_name}", volume) * SECTOR
        self.pvs = pvs
        self.pv_sections = sections(vg, "physical_volumes")
        self.lvs = sections(vg, "logical_volumes")
        self._done: dict[str, LvMap] = {}
        self._stack: list[str] = []
        self._thin: dict[str, ThinMetadata] = {}
        #: COW store LV → its snapshot segment (on the hidden ``snapshotN`` LV).
        self.snapshots: dict[str, dict[str, Any]] = {}
        for lv in self.lvs.values():
            for seg in self._segments(lv):
                if seg.get("type") == "snapshot" and isinstance(seg.get("cow_store"), str):
                    self.snapshots[seg["cow_store"]] = seg

    def visible(self) -> list[str]:
        """The LVs users see: VISIBLE ones, less thin pools (their thin volumes are listed instead)."""
        out = []
        for name, lv in self.lvs.items():
            status = lv.get("status", [])
            if not isinstance(status, list) or "VISIBLE" not in status:
                continue
            if any(seg.get("type") == "thin-pool" for seg in self._segments(lv)):
                continue
            out.append(name)
        return out

    def _segments(self, lv: dict[str, Any]) -> list[dict[str, Any]]:
        numbered = [(int(match[1]), seg) for key, seg in lv.items()
                    if isinstance(seg, dict) and (match := SEGMENT_KEY.fullmatch(key))]
        return [seg for _index, seg in sorted(numbered, key=lambda pair: pair[0])]

    def error(self, message: str, hint: str | None = None) -> VolumeError:
        return VolumeError(message, volume=f"{self.volume}/{self.vg_name}", hint=hint)

    # -- LVs -------------------------------------------------------------------------------------------------

    def lv(self, name: str) -> LvMap:
        """The map of LV ``name`` (built once); an LV the metadata does not have is unreadable."""
        done = self._done.get(name)
        if done is not None:
            return done
        where = f"LV {self.vg_name}/{name}"
        if name in self._stack or len(self._stack) >= MAX_STACK:
            chain = " -> ".join([*self._stack, name])
            raise self.error(f"LVM2 metadata: LVs refer to each other in a loop or too deep ({chain})",
                             hint="the VG's metadata is damaged")
        lv = self.lvs.get(name)
        if lv is None:
            return LvMap(None, [f"{where}: the VG's metadata has no such LV (referred to by another LV)"])
        self._stack.append(name)
        try:
            result = self._snapshot(name) if name in self.snapshots else self._build(name, lv)
        finally:
            self._stack.pop()
        self._done[name] = result
        return result

    def _build(self, name: str, lv: dict[str, Any]) -> LvMap:
        where = f"LV {self.vg_name}/{name}"
        segments: list[Segment] = []
        result = LvMap(None)
        size = 0
        for seg in self._segments(lv):
            start = number(seg, "start_extent", where, self.volume) * self.extent
            count = number(seg, "extent_count", where, self.volume) * self.extent
            size = max(size, start + count)
            try:
                part = self._segment(name, seg, start, count)
            except RestoreKitError as exc:  # damaged metadata of one segment (thin pool, COW store, geometry)
                part = LvMap(Unavailable(count, exc if isinstance(exc, VolumeError) else self.error(str(exc))),
                             [f"{where}: {exc}" if exc.volume is None else str(exc)])
            result.warnings += part.warnings
            result.missing += [pv for pv in part.missing if pv not in result.missing]
            if result.holder is None and part.holder is not None:
                result.holder, result.offset = part.holder, part.offset
            if part.stream is None:
                reason = "; ".join(part.warnings) or f"{where}: bytes {start}-{start + count} cannot be read"
                part.stream = Unavailable(count, self.error(reason))
            segments.append(Segment(start, count, part.stream))
        result.size = size
        if not segments:
            result.warnings.append(f"{where} has no segments")
            return result
        if all(isinstance(seg.stream, Unavailable) for seg in segments):
            return result  # nothing readable: listed with its warnings, no stream
        result.stream = (segments[0].stream if len(segments) == 1 and segments[0].offset == 0
                         else SegmentVolume(segments, size, name=f"{self.vg_name}/{name}"))
        return result

    def _segment(self, name: str, seg: dict[str, Any], start: int, count: int) -> LvMap:
        where = f"LV {self.vg_name}/{name}"
        kind = str(seg.get("type", "?")).split("+", 1)[0]
        if kind in ("striped", "linear"):
            return self._striped(name, seg, start, count)
        if kind == "mirror":
            legs = self._pairs(seg.get("mirrors"), where, "mirrors")
            return self._mirror(name, "mirror", [(leg, first * self.extent) for leg, first in legs], count)
        if kind == "raid1":
            offset = number(seg, "data_offset", where, self.volume) * SECTOR
            return self._mirror(name, "raid1", [(image, offset) for image in self._images(seg, where)], count)
        if kind in RAID_TYPES:
            return self._raid(name, kind, seg, count)
        if kind == "thin":
            return self._thin_volume(name, seg, count)
        if kind == "zero":
            return LvMap(Zeros(count))
        if kind == "thin-pool":
            return LvMap(None, [f"{where} is a thin pool; its thin volumes are listed, not the pool itself"])
        return LvMap(None, [f"{where}: {kind} segments are not read by restorekit (it reads linear, striped, "
                            "mirror, raid0/1/4/5/6/10, thin and snapshot); bytes "
                            f"{start}-{start + count} cannot be read"])

    def _pairs(self, value: Any, where: str, key: str) -> list[tuple[str, int]]:
        """``[name, number, name, number, ...]`` as pairs; VolumeError when the list is not that."""
        if (not isinstance(value, list) or not value or len(value) % 2
                or not all(isinstance(n, str) and isinstance(i, int) and i >= 0
                           for n, i in zip(value[::2], value[1::2], strict=True))):
            raise self.error(f"LVM2 metadata: {where}: {key} = {value!r} is not a list of names and extents",
                             hint="the VG's metadata is damaged")
        return list(zip(value[::2], value[1::2], strict=True))

    def _images(self, seg: dict[str, Any], where: str) -> list[str]:
        """The data images of a raid segment: every second name of ``raids`` (rmeta, rimage pairs), or
        ``raid0_lvs``."""
        raids, plain = seg.get("raids"), seg.get("raid0_lvs")
        if isinstance(plain, list) and plain and all(isinstance(n, str) for n in plain):
            return list(plain)
        if (not isinstance(raids, list) or not raids or len(raids) % 2
                or not all(isinstance(n, str) for n in raids)):
            raise self.error(f"LVM2 metadata: {where}: raids = {raids!r} is not a list of rmeta and rimage LVs",
                             hint="the VG's metadata is damaged")
        return raids[1::2]

    def _area(self, name: str, area: str, first: int, length: int) -> LvMap:
        """``length`` bytes of a PV or sub-LV from its extent ``first``."""
        if area in self.pv_sections:
            member = self.pvs.get(area)
            pv = self.pv_sections[area]
            if member is None:
                error = self.error(f"bytes of LV {self.vg_name}/{name} are on PV {area} (uuid {pv.get('id')}, last "
                                   f"seen as {pv.get('device', '?')}), which is missing",
                                   hint="add the disk that holds it")
                return LvMap(Unavailable(length, error), missing=[area])
            pe_start = number(pv, "pe_start", f"PV {area}", self.volume) * SECTOR
            at = pe_start + first * self.extent
            window = SegmentVolume([Segment(0, length, member.stream, at)], length, name=f"{area}")
            return LvMap(window, holder=member, offset=at)
        sub = self.lv(area)
        if sub.stream is None:
            return LvMap(None, list(sub.warnings), list(sub.missing))
        window = SegmentVolume([Segment(0, length, sub.stream, first * self.extent)], length, name=area)
        return LvMap(window, [], list(sub.missing), sub.holder, sub.offset + first * self.extent)

    def _striped(self, name: str, seg: dict[str, Any], start: int, count: int) -> LvMap:
        where = f"LV {self.vg_name}/{name}"
        stripes = self._pairs(seg.get("stripes"), where, "stripes")
        if len(stripes) != number(seg, "stripe_count", where, self.volume):
            raise self.error(f"LVM2 metadata: {where}: stripe_count = {seg.get('stripe_count')!r} but "
                             f"{len(stripes)} stripes are listed", hint="the VG's metadata is damaged")
        if count % len(stripes):
            raise self.error(f"LVM2 metadata: {where}: {count // self.extent} extents do not divide over "
                             f"{len(stripes)} stripes", hint="the VG's metadata is damaged")
        per = count // len(stripes)
        parts = [self._area(name, area, first, per) for area, first in stripes]
        result = LvMap(None, [w for p in parts for w in p.warnings], [m for p in parts for m in p.missing],
                       parts[0].holder, parts[0].offset)
        if len(parts) == 1:
            result.stream = parts[0].stream
            if result.missing:
                result.warnings.append(f"{where}: bytes {start}-{start + count} are on missing PV {result.missing[0]}")
            return result
        chunk = number(seg, "stripe_size", where, self.volume) * SECTOR
        if chunk == 0 or chunk & (chunk - 1) or per % chunk:
            raise self.error(f"LVM2 metadata: {where}: stripe_size = {seg.get('stripe_size')!r} sectors is not a "
                             f"power of two dividing the {per}-byte stripes", hint="the VG's metadata is damaged")
        members = [p.stream if p.stream is not None else Unavailable(per, self.error("; ".join(p.warnings)))
                   for p in parts]
        result.stream = raid.raid0(members, chunk, name=f"{self.vg_name}/{name}")
        if result.missing:
            result.warnings.append(f"{where}: striped over {len(parts)} PVs, of which {', '.join(result.missing)} "
                                   f"{'is' if len(result.missing) == 1 else 'are'} missing: every chunk there "
                                   "cannot be read (files on it fail by name); add the disk that holds it")
        return result

    def _mirror(self, name: str, kind: str, legs: list[tuple[str, int]], count: int) -> LvMap:
        where = f"LV {self.vg_name}/{name}"
        parts = [self._area(name, leg, 0, count) if offset == 0 else self._window(leg, offset, count)
                 for leg, offset in legs]
        healthy = [i for i, part in enumerate(parts) if part.complete]
        if not healthy:
            reasons = "; ".join(dict.fromkeys(w for p in parts for w in p.warnings)) or "no leg is readable"
            missing = sorted({m for p in parts for m in p.missing})
            return LvMap(None, [f"{where}: no leg of the {kind} is complete"
                                + (f" (missing PVs {', '.join(missing)})" if missing else "") + f": {reasons}"],
                         missing)
        chosen = parts[healthy[0]]
        others = [f"{legs[i][0]} (missing PVs {', '.join(parts[i].missing) or 'none'})"
                  for i in range(len(parts)) if i not in healthy]
        note = f"{where}: {kind} of {len(legs)} legs, read from leg {legs[healthy[0]][0]}"
        note += f"; incomplete legs: {', '.join(others)}" if others else " (every leg is present)"
        stream = raid.mirror([p.stream if p.complete else None for p in parts], count,
                             name=f"{self.vg_name}/{name}", member_names=[leg for leg, _offset in legs])
        return LvMap(stream, [note], [], chosen.holder, chosen.offset)

    def _window(self, leg: str, offset: int, count: int) -> LvMap:
        """``count`` bytes of sub-LV ``leg`` from byte ``offset`` (a raid image's data offset)."""
        sub = self.lv(leg)
        if sub.stream is None:
            return LvMap(None, list(sub.warnings), list(sub.missing))
        window = SegmentVolume([Segment(0, count, sub.stream, offset)], count, name=leg)
        return LvMap(window, [], list(sub.missing), sub.holder, sub.offset + offset)

    def _raid(self, name: str, kind: str, seg: dict[str, Any], count: int) -> LvMap:
        where = f"LV {self.vg_name}/{name}"
        images = self._images(seg, where)
        offset = number(seg, "data_offset", where, self.volume) * SECTOR
        chunk = number(seg, "stripe_size", where, self.volume) * SECTOR
        if chunk == 0 or chunk & (chunk - 1):
            raise self.error(f"LVM2 metadata: {where}: stripe_size = {seg.get('stripe_size')!r} sectors is not a "
                             "power of two", hint="the VG's metadata is damaged")
        parity = {4: 1, 5: 1, 6: 2}[PARITY_LAYOUTS[kind][0]] if kind in PARITY_LAYOUTS else 0
        copies = 1
        if kind == "raid10":
            copies = number(seg, "data_copies", where, self.volume) or 2
        data_images = len(images) - parity
        if data_images < 1 or ((count * copies) % len(images) and kind == "raid10"):
            raise self.error(f"LVM2 metadata: {where}: {kind} with {len(images)} images cannot hold "
                             f"{count} bytes", hint="the VG's metadata is damaged")
        per = count * copies // len(images) if kind == "raid10" else -(-count // data_images)
        parts = [self._window(image, offset, per) for image in images]
        missing_pvs = sorted({m for p in parts for m in p.missing})
        absent = [i for i, p in enumerate(parts) if not p.complete]
        members = [p.stream if p.complete else None for p in parts]
        label = f"{self.vg_name}/{name}"
        stream = self._raid_stream(where, kind, members, chunk, count, copies, label, images)
        holder = next((p for p in parts if p.complete), parts[0])
        warnings = []
        if absent:
            warnings.append(f"{where}: {kind} image(s) {', '.join(images[i] for i in absent)} "
                            f"{'are' if len(absent) > 1 else 'is'} incomplete"
                            + (f" (missing PVs {', '.join(missing_pvs)})" if missing_pvs else "")
                            + (": their data is rebuilt from parity" if parity else
                               ": read from the other copy" if kind == "raid10" else ""))
        return LvMap(stream, warnings, [], holder.holder, holder.offset)

    def _raid_stream(self, where: str, kind: str, members: list[Stream | None], chunk: int, size: int,
                     copies: int, label: str, images: list[str]) -> Stream:
        """The array over ``members`` (None: an incomplete image, named in ``images``) for dm-raid's segment type
        ``kind``."""
        absent = [i for i, m in enumerate(members) if m is None]
        lost = ", ".join(images[i] for i in absent)
        if kind in ("raid0", "raid0_meta"):
            if absent:
                raise self.error(f"{where}: {kind} has no redundancy and its image(s) {lost} are incomplete",
                                 hint="add the disks that hold the missing PVs")
            return raid.raid0([m for m in members if m is not None], chunk, name=label, member_names=images)
        if kind == "raid10":
            return raid.raid10(members, chunk, size, near=copies, name=label, member_names=images)
        level, layout = PARITY_LAYOUTS[kind]
        return raid.parity_raid(level, members, chunk, size, layout=layout, name=label, member_names=images)

    def _thin_volume(self, name: str, seg: dict[str, Any], count: int) -> LvMap:
        where = f"LV {self.vg_name}/{name}"
        pool_name = seg.get("thin_pool")
        pool = self.lvs.get(pool_name) if isinstance(pool_name, str) else None
        pool_seg = next((s for s in self._segments(pool) if s.get("type") == "thin-pool"), None) if pool else None
        if pool_seg is None:
            raise self.error(f"LVM2 metadata: {where}: thin_pool = {pool_name!r} is not a thin pool of the VG",
                             hint="the VG's metadata is damaged")
        meta_name, data_name = pool_seg.get("metadata"), pool_seg.get("pool")
        if not isinstance(meta_name, str) or not isinstance(data_name, str):
            raise self.error(f"LVM2 metadata: thin pool {pool_name} names no metadata or data LV",
                             hint="the VG's metadata is damaged")
        meta, data = self.lv(meta_name), self.lv(data_name)
        for part, role in ((meta, "metadata"), (data, "data")):
            if not part.complete:
                reasons = "; ".join(part.warnings) or "it cannot be read"
                return LvMap(None, [f"{where}: the thin pool's {role} LV cannot be read whole: {reasons}"],
                             part.missing)
        assert meta.stream is not None and data.stream is not None
        metadata = self._thin.get(pool_name)
        if metadata is None:
            metadata = self._thin[pool_name] = ThinMetadata(meta.stream, f"{self.volume}/{self.vg_name}/{meta_name}")
        warnings = []
        chunk = number(pool_seg, "chunk_size", f"LV {self.vg_name}/{pool_name}", self.volume) * SECTOR
        if chunk != metadata.data_block:
            raise self.error(f"thin pool {pool_name}: LVM says chunks of {chunk} bytes, its metadata "
                             f"{metadata.data_block}", hint="the thin pool's metadata LV is damaged")
        lvm_transaction = number(pool_seg, "transaction_id", f"LV {self.vg_name}/{pool_name}", self.volume)
        if lvm_transaction != metadata.transaction:
            warnings.append(f"{where}: thin pool {pool_name}'s metadata is at transaction {metadata.transaction}, "
                            f"LVM's at {lvm_transaction}: the pool was changed after LVM last wrote its metadata")
        origin = None
        external = seg.get("external_origin")
        if isinstance(external, str):
            base = self.lv(external)
            if not base.complete:
                return LvMap(None, [f"{where}: its external origin {external} cannot be read whole", *base.warnings],
                             base.missing)
            origin = base.stream
        device = number(seg, "device_id", where, self.volume)
        stream = ThinVolume(metadata, data.stream, device, count, name=f"{self.vg_name}/{name}", origin=origin)
        return LvMap(stream, warnings, [], data.holder, data.offset)

    def _snapshot(self, name: str) -> LvMap:
        """The visible COW store LV ``name``, shown as its origin as it was when the snapshot was taken."""
        seg = self.snapshots[name]
        where = f"LV {self.vg_name}/{name}"
        origin_name = seg.get("origin")
        cow = self._build(name, self.lvs[name])
        origin = self.lv(origin_name) if isinstance(origin_name, str) else LvMap(None, ["no origin named"])
        for part, role in ((cow, "COW store"), (origin, f"origin {origin_name}")):
            if not part.complete:
                reasons = "; ".join(part.warnings) or "it cannot be read"
                return LvMap(None, [f"{where}: snapshot of {origin_name}: its {role} cannot be read whole: {reasons}"],
                             part.missing)
        assert cow.stream is not None and origin.stream is not None
        chunk = number(seg, "chunk_size", where, self.volume) * SECTOR
        if chunk == 0 or chunk & (chunk - 1):
            raise self.error(f"LVM2 metadata: {where}: snapshot chunk_size = {seg.get('chunk_size')!r} sectors is "
                             "not a power of two", hint="the VG's metadata is damaged")
        size = number(seg, "extent_count", where, self.volume) * self.extent
        try:
            stream = SnapshotVolume(origin.stream, cow.stream, chunk, size, name=f"{self.vg_name}/{name}")
        except VolumeError as exc:
            return LvMap(None, [str(exc)])
        note = f"{where}: snapshot of {origin_name} ({len(stream.table)} chunks of {chunk} bytes changed since)"
        return LvMap(stream, [note], [], origin.holder, origin.offset, size)
