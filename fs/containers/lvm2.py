"""LVM2 physical volumes, read with our own metadata reader (no device-mapper, no pyvslvm needed).

On disk (LVM2 "text" format): a label sector ``LABELONE`` in one of the first four sectors, whose PV header
gives the PV UUID and the data and metadata areas. A metadata area starts with a header (magic
`` LVM2 x[5A%r0N*>``) whose first location points at the current metadata text in a circular buffer. The
text describes the whole volume group: every PV (by UUID, with the device name it last had), the extent
size, and each logical volume's segments (``stripes = ["pv0", 0]``: PV and first physical extent).

A VG may span PVs on several disks: :meth:`Lvm2Pool.assemble` names the PVs that are missing and builds each
visible LV with :class:`restorekit.fs.containers.lvm_segments.VolumeGroupMap` (every segment type, the sub-LVs
they stack on, thin pools and snapshots); a byte on a missing PV fails by name when read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restorekit.fs.container import Pool, PoolMember, PoolVolume
from restorekit.fs.containers.lvm_segments import LvMap, VolumeGroupMap
from restorekit.fs.containers.lvm_text import number, parse_lvm_text, sections
from restorekit.fs.containers.signatures import SECTOR, lvm_label
from restorekit.fs.errors import VolumeError

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

LABEL = struct.Struct("<8sQII8s")
MDA_MAGIC = b" LVM2 x[5A%r0N*>"
MDA_HEADER = struct.Struct("<I16sIQQ")
RAW_LOCN = struct.Struct("<QQII")
MAX_METADATA = 16 << 20
PV_HEADER_MIN = 40  # the PV UUID and the device size, before the lists of areas


@dataclass
class PhysicalVolume:
    """What a PV's label and metadata area say."""

    uuid: str
    device_size: int
    data_areas: list[tuple[int, int]]
    metadata: dict[str, Any] | None
    seqno: int


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
    found = lvm_label(stream)
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
            seqno = number(vg[1], "seqno", vg[0], volume) if vg else 0
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


def _plain_uuid(text: str) -> str:
    return text.replace("-", "")


class Lvm2Pool(Pool):
    """LVM2 volume groups and their logical volumes."""

    type_name = "lvm2"

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
        by_uuid = {_plain_uuid(m.info.uuid): m for m in members}
        pvs: dict[str, PoolMember | None] = {}
        warnings = []
        for pv_name, pv in sections(vg, "physical_volumes").items():
            pvs[pv_name] = by_uuid.get(_plain_uuid(str(pv.get("id", ""))))
            if pvs[pv_name] is None:
                warnings.append(f"VG {vg_name}: PV {pv_name} (uuid {pv.get('id')}, last seen as "
                                f"{pv.get('device', '?')}) is missing; add the disk that holds it")
        vgmap = VolumeGroupMap(vg_name, vg, pvs, newest.volume)
        fallback = next((m for m in pvs.values() if m is not None), newest)
        volumes = []
        for lv_name in vgmap.visible():
            try:
                lv = vgmap.lv(lv_name)
            except VolumeError as exc:
                lv = LvMap(None, [str(exc)])
            holder = lv.holder or fallback
            volumes.append(PoolVolume(f"{vg_name}/{lv_name}", holder.volume, lv.size, lv.stream, lv.warnings,
                                      lv.offset))
        return volumes, warnings
