"""LVM2 physical volumes, read with our own metadata reader (no device-mapper, no pyvslvm needed).

On disk (LVM2 "text" format): a label sector ``LABELONE`` in one of the first four sectors, whose PV header
gives the PV UUID and the data and metadata areas. A metadata area starts with a header (magic
`` LVM2 x[5A%r0N*>``) whose first location points at the current metadata text in a circular buffer. The
text describes the whole volume group: every PV (by UUID, with the device name it last had), the extent
size, and each logical volume's segments (``stripes = ["pv0", 0]``: PV and first physical extent).

A VG may span PVs on several disks: :meth:`Lvm2Pool.assemble` maps each linear segment to the PV that holds
it, reads a missing PV's range as absent (and names that PV), and lists LV types it does not map.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restorekit.fs.container import Pool, PoolMember, PoolVolume
from restorekit.fs.containers.lvm_text import parse_lvm_text
from restorekit.fs.errors import VolumeError
from restorekit.fs.volume import Segment, SegmentVolume, Volume

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

SECTOR = 512
LABEL = struct.Struct("<8sQII8s")
MDA_MAGIC = b" LVM2 x[5A%r0N*>"
MDA_HEADER = struct.Struct("<I16sIQQ")
RAW_LOCN = struct.Struct("<QQII")
MAX_METADATA = 16 << 20
SEGMENT_KEY = re.compile(r"segment(\d+)", re.ASCII)
PV_HEADER_MIN = 40  # the PV UUID and the device size, before the lists of areas


@dataclass
class PhysicalVolume:
    """What a PV's label and metadata area say."""

    uuid: str
    device_size: int
    data_areas: list[tuple[int, int]]
    metadata: dict[str, Any] | None
    seqno: int


def _find_label(stream: Stream) -> tuple[int, bytes] | None:
    head = stream.pread(4 * SECTOR, 0)
    for sector in range(4):
        raw = head[sector * SECTOR : (sector + 1) * SECTOR]
        if raw[:8] == b"LABELONE" and raw[24:32] == b"LVM2 001":
            return sector, raw
    return None


def _disk_locns(raw: bytes, pos: int) -> tuple[list[tuple[int, int]], int]:
    out = []
    while pos + 16 <= len(raw):
        offset, size = struct.unpack_from("<QQ", raw, pos)
        pos += 16
        if offset == 0 and size == 0:
            break
        out.append((offset, size))
    return out, pos


def read_pv(stream: Stream, volume: str) -> PhysicalVolume:
    """Parse the PV label, header and the newest metadata text on ``stream``."""
    found = _find_label(stream)
    if found is None:
        raise VolumeError("no LVM2 label in the first four sectors", volume=volume, hint="not an LVM2 PV")
    sector, raw = found
    _magic, _sector_xl, _crc, offset_xl, _type = LABEL.unpack_from(raw)
    if not LABEL.size <= offset_xl <= SECTOR - PV_HEADER_MIN:
        raise VolumeError(f"LVM2 label places its PV header at byte {offset_xl} of the label sector, outside it",
                          volume=volume, offset=sector * SECTOR + 20,
                          hint="the PV label is damaged; another PV of the same VG may hold the VG's metadata")
    header = raw[offset_xl:]
    uuid = header[:32].decode("ascii", "replace")
    device_size = struct.unpack_from("<Q", header, 32)[0]
    data_areas, pos = _disk_locns(header, 40)
    metadata_areas, _ = _disk_locns(header, pos)
    best: tuple[int, dict[str, Any]] | None = None
    problems = []
    for mda_offset, mda_size in metadata_areas:
        try:
            text = _metadata_text(stream, mda_offset, mda_size, volume)
            if text is None:
                continue
            meta = parse_lvm_text(text, volume=volume)
            vg = _vg_section(meta)
            seqno = _number(vg[1], "seqno", vg[0], volume) if vg else 0
        except VolumeError as exc:
            problems.append(exc.message)
            continue
        if best is None or seqno > best[0]:
            best = (seqno, meta)
    if best is None and problems:
        raise VolumeError("LVM2 metadata area is damaged: " + "; ".join(problems), volume=volume,
                          offset=sector * SECTOR, hint="another PV of the same VG may hold a good copy")
    return PhysicalVolume(uuid, device_size, data_areas, best[1] if best else None, best[0] if best else -1)


def _metadata_text(stream: Stream, mda_offset: int, mda_size: int, volume: str) -> str | None:
    if mda_offset + SECTOR > stream.size:
        raise VolumeError(f"metadata area header at {mda_offset} lies past the end of the PV ({stream.size} bytes); "
                          "the PV is truncated", volume=volume, offset=mda_offset)
    header = stream.pread(SECTOR, mda_offset)
    _checksum, magic, _version, _start, size = MDA_HEADER.unpack_from(header)
    if magic != MDA_MAGIC:
        raise VolumeError("metadata area header has no LVM2 magic", volume=volume, offset=mda_offset)
    offset, length, _csum, _flags = RAW_LOCN.unpack_from(header, MDA_HEADER.size)
    if length == 0:
        return None  # an empty metadata area (e.g. pvcreate --metadatacopies 0 on another PV)
    if length > MAX_METADATA or offset >= size:
        raise VolumeError(f"metadata location {offset}+{length} is outside its area", volume=volume,
                          offset=mda_offset)
    first = min(length, size - offset)
    text = stream.pread(first, mda_offset + offset)
    if first < length:  # the circular buffer wraps to just after the header sector
        text += stream.pread(length - first, mda_offset + SECTOR)
    return text.split(b"\0", 1)[0].decode("utf-8", "replace")


def _vg_section(meta: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    for name, value in meta.items():
        if isinstance(value, dict) and "physical_volumes" in value:
            return name, value
    return None


def _number(section: dict[str, Any], key: str, where: str, volume: str) -> int:
    """The non-negative integer ``key`` of a metadata section (0 when absent); VolumeError when it is not one."""
    value = section.get(key, 0)
    if not isinstance(value, int) or value < 0:
        raise VolumeError(f"LVM2 metadata: {where}: {key} = {value!r} is not a non-negative integer", volume=volume,
                          hint="the PV's metadata area is damaged; another PV of the VG may hold a good copy")
    return value


def _sections(section: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    """The subsections of ``section[key]`` (PVs, LVs), ignoring values that are not sections."""
    value = section.get(key)
    if not isinstance(value, dict):
        return {}
    return {name: sub for name, sub in value.items() if isinstance(sub, dict)}


def _plain_uuid(text: str) -> str:
    return text.replace("-", "")


class Lvm2Pool(Pool):
    """LVM2 volume groups and their logical volumes."""

    type_name = "lvm2"

    @classmethod
    def detect(cls, stream: Stream, partition_kind: str | None = None) -> bool:
        return stream.size >= 4 * SECTOR and _find_label(stream) is not None

    @classmethod
    def probe(cls, stream: Stream, volume: str) -> PoolMember:
        pv = read_pv(stream, volume)
        found = _vg_section(pv.metadata) if pv.metadata else None
        if found is None:
            member = PoolMember(cls.type_name, f"orphan:{pv.uuid}", "", volume, stream, pv)
            member.warnings.append(f"{volume}: LVM2 PV {pv.uuid} belongs to no volume group (no metadata)")
            return member
        vg_name, vg = found
        return PoolMember(cls.type_name, str(vg.get("id", vg_name)), vg_name, volume, stream, pv)

    @classmethod
    def assemble(cls, members: list[PoolMember]) -> tuple[list[PoolVolume], list[str]]:
        newest = max(members, key=lambda m: m.info.seqno)
        if newest.info.metadata is None:
            return [], []
        vg_name, vg = _vg_section(newest.info.metadata) or ("", {})
        extent = _number(vg, "extent_size", f"VG {vg_name}", newest.volume) * SECTOR
        by_uuid = {_plain_uuid(m.info.uuid): m for m in members}
        pvs: dict[str, PoolMember | None] = {}
        warnings = []
        for pv_name, pv in _sections(vg, "physical_volumes").items():
            pvs[pv_name] = by_uuid.get(_plain_uuid(str(pv.get("id", ""))))
            if pvs[pv_name] is None:
                warnings.append(f"VG {vg_name}: PV {pv_name} (uuid {pv.get('id')}, last seen as "
                                f"{pv.get('device', '?')}) is missing; add the disk that holds it")
        volumes = []
        for lv_name, lv in _sections(vg, "logical_volumes").items():
            status = lv.get("status", [])
            if not isinstance(status, list) or "VISIBLE" not in status:
                continue  # internal LVs (thin pool metadata, mirror images) are not listed
            volumes.append(_logical_volume(vg_name, vg, lv_name, lv, extent, pvs, newest))
        return volumes, warnings


def _logical_volume(vg_name: str, vg: dict[str, Any], lv_name: str, lv: dict[str, Any], extent: int,
                    pvs: dict[str, PoolMember | None], fallback: PoolMember) -> PoolVolume:
    segments: list[Segment] = []
    warnings: list[str] = []
    parent: PoolMember | None = None
    first_offset = 0
    size = 0
    where = f"LV {vg_name}/{lv_name}"
    numbered = [(int(match[1]), seg) for key, seg in lv.items()
                if isinstance(seg, dict) and (match := SEGMENT_KEY.fullmatch(key))]
    for _index, seg in sorted(numbered, key=lambda pair: pair[0]):
        start = _number(seg, "start_extent", where, fallback.volume) * extent
        count = _number(seg, "extent_count", where, fallback.volume) * extent
        size = max(size, start + count)
        kind, stripes = seg.get("type"), seg.get("stripes", [])
        if (kind != "striped" or seg.get("stripe_count", 1) != 1 or not isinstance(stripes, list) or len(stripes) != 2
                or not isinstance(stripes[1], int) or stripes[1] < 0):
            warnings.append(f"LV {vg_name}/{lv_name}: {kind} segment with {seg.get('stripe_count', '?')} stripe(s) "
                            "is not mapped by restorekit (linear LVs only); that range reads as missing")
            segments.append(Segment(start, count, None))
            continue
        pv_name, pv_extent = str(stripes[0]), stripes[1]
        member = pvs.get(pv_name)
        pv_section = _sections(vg, "physical_volumes").get(pv_name, {})
        pe_start = _number(pv_section, "pe_start", where, fallback.volume) * SECTOR
        if member is None:
            warnings.append(f"LV {vg_name}/{lv_name}: bytes {start}-{start + count} are on missing PV {pv_name}")
            segments.append(Segment(start, count, None))
            continue
        if parent is None:
            parent, first_offset = member, pe_start + pv_extent * extent
        data = Volume(member.stream, pe_start, member.stream.size - pe_start)
        segments.append(Segment(start, count, data, pv_extent * extent))
    holder = parent or next((m for m in pvs.values() if m is not None), fallback)
    stream = SegmentVolume(segments, size, name=f"{vg_name}/{lv_name}") if parent is not None else None
    if stream is None and not warnings:
        warnings.append(f"LV {vg_name}/{lv_name} has no segments")
    return PoolVolume(f"{vg_name}/{lv_name}", holder.volume, size, stream, warnings, first_offset)
