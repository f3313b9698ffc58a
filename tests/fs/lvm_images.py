"""LVM2 volume groups built at test time, one LV per segment type, on PV image files.

PV labels and metadata come from :mod:`fixtures.lvm_writer` (checked with ``pvck`` and ``vgcfgrestore --list``);
every LV holds the same ext4 (``mke2fs -d`` of :func:`source_tree`), laid out per the segment's geometry here.
Thin-pool metadata is made by ``thin_restore`` from XML (and read back with ``thin_dump``).
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from dissect.volume.raid.stream import Layout

from fixtures.lvm_writer import (
    cow_store,
    metadata_text,
    parity_members,
    pv_header,
    raid10_near_members,
    striped_members,
)
from tests.conftest import require_tool

SECTOR = 512
EXTENT = 128 << 10
PE_START = 1 << 20
FS_SIZE = 3 << 20  # 24 extents
FS_EXTENTS = FS_SIZE // EXTENT
CHUNK = 16 << 10  # stripe_size of the striped and raid LVs (32 sectors)
LVM_TIME = "1764000000"


def lvm_id(name: str) -> str:
    """A stable LVM-style id (6-4-4-4-4-4-6 letters and digits) for ``name``."""
    digest = hashlib.sha256(name.encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    chars = "".join(alphabet[b % len(alphabet)] for b in digest)[:32]
    cuts = [6, 4, 4, 4, 4, 4, 6]
    out, at = [], 0
    for n in cuts:
        out.append(chars[at : at + n])
        at += n
    return "-".join(out)


def source_tree(root: Path, variant: str = "") -> Path:
    """The files every LV's ext4 holds: a few KiB to 700 KiB, nested folders, an empty file, a symlink."""
    rng = random.Random(f"lvm-tree{variant}")
    (root / "docs" / "deep" / "er").mkdir(parents=True)
    (root / "docs" / "readme.txt").write_bytes(f"restorekit LVM fixture {variant}\n".encode())
    (root / "docs" / "deep" / "er" / "random.bin").write_bytes(rng.randbytes(700 << 10))
    (root / "docs" / "deep" / "small.bin").write_bytes(rng.randbytes(5000))
    (root / "big.bin").write_bytes(rng.randbytes(900 << 10))
    (root / "empty").write_bytes(b"")
    (root / "link").symlink_to("docs/readme.txt")
    if variant:
        (root / f"only-in-{variant}.txt").write_bytes(rng.randbytes(40000))
    return root


def ext4(tmp: Path, tree: Path, name: str) -> bytes:
    """An ext4 of ``tree``, FS_SIZE bytes, made by mke2fs -d (times and ids fixed so that two builds share most
    blocks); labelled "lvmtree", kept as ``tmp/<name>.ext4``."""
    require_tool("mke2fs")
    image = tmp / f"{name}.ext4"
    with open(image, "wb") as f:
        f.truncate(FS_SIZE)
    env = {**os.environ, "E2FSPROGS_FAKE_TIME": LVM_TIME}
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", "-U", "6c766d2d-6669-7874-7572-652d65787434",
                    "-E", "hash_seed=6c766d2d-6669-7874-7572-652d65787434,lazy_itable_init=0", "-L", "lvmtree",
                    "-d", str(tree), str(image)], check=True, env=env)
    return image.read_bytes()


@dataclass
class PV:
    name: str
    data: bytearray = field(default_factory=bytearray)

    def allocate(self, extents: int) -> int:
        first = len(self.data) // EXTENT
        self.data += bytes(extents * EXTENT)
        return first

    def put(self, first: int, payload: bytes) -> None:
        at = first * EXTENT
        self.data[at : at + len(payload)] = payload


class VgBuilder:
    """A VG over ``count`` PVs: LVs are added with their bytes, then :meth:`write` makes one image per PV."""

    def __init__(self, tmp: Path, vg_name: str, count: int) -> None:
        self.tmp = tmp
        self.vg_name = vg_name
        self.pvs = [PV(f"pv{i}") for i in range(count)]
        self.lvs: dict[str, Any] = {}

    def _lv(self, name: str, segment: dict[str, Any], *, visible: bool = True, start: int = 0,
            extents: int) -> None:
        status = ["READ", "WRITE", "VISIBLE"] if visible else ["READ", "WRITE"]
        seg = {"start_extent": start, "extent_count": extents, **segment}
        if name in self.lvs:
            lv = self.lvs[name]
            lv["segment_count"] += 1
            lv[f"segment{lv['segment_count']}"] = seg
            return
        self.lvs[name] = {"id": lvm_id(name), "status": status, "flags": [], "creation_time": int(LVM_TIME),
                          "creation_host": "restorekit-tests", "segment_count": 1, "segment1": seg}

    def linear(self, name: str, pv: int, payload: bytes, *, visible: bool = True, extents: int = 0) -> None:
        """A linear LV (or sub-LV) on PV ``pv`` holding ``payload``."""
        extents = extents or -(-len(payload) // EXTENT)
        first = self.pvs[pv].allocate(extents)
        self.pvs[pv].put(first, payload)
        self._lv(name, {"type": "striped", "stripe_count": 1, "stripes": [f"pv{pv}", first]}, visible=visible,
                 extents=extents)

    def spanned(self, name: str, pvs: list[int], payload: bytes) -> None:
        """A linear LV of one segment per PV in ``pvs``, each an equal share of ``payload``."""
        share = len(payload) // len(pvs) // EXTENT
        for i, pv in enumerate(pvs):
            first = self.pvs[pv].allocate(share)
            self.pvs[pv].put(first, payload[i * share * EXTENT : (i + 1) * share * EXTENT])
            self._lv(name, {"type": "striped", "stripe_count": 1, "stripes": [f"pv{pv}", first]},
                     start=i * share, extents=share)

    def striped(self, name: str, pvs: list[int], payload: bytes, chunk: int) -> None:
        parts = striped_members(payload, len(pvs), chunk)
        stripes: list[Any] = []
        for pv, part in zip(pvs, parts, strict=True):
            first = self.pvs[pv].allocate(len(part) // EXTENT)
            self.pvs[pv].put(first, part)
            stripes += [f"pv{pv}", first]
        self._lv(name, {"type": "striped", "stripe_count": len(pvs), "stripe_size": chunk // SECTOR,
                        "stripes": stripes}, extents=len(payload) // EXTENT)

    def raid(self, name: str, kind: str, images: list[bytes], pvs: list[int], extents: int, **extra: Any) -> None:
        """A raid LV whose image ``i`` (on PV ``pvs[i]``) holds ``images[i]``; rmeta sub-LVs of one extent
        (``raid0`` has none: LVM lists its images as ``raid0_lvs`` and counts them in ``stripe_count``)."""
        raids: list[str] = []
        for i, (pv, image) in enumerate(zip(pvs, images, strict=True)):
            if kind != "raid0":
                self.linear(f"{name}_rmeta_{i}", pv, b"", visible=False, extents=1)
                raids.append(f"{name}_rmeta_{i}")
            self.linear(f"{name}_rimage_{i}", pv, image, visible=False)
            raids.append(f"{name}_rimage_{i}")
        if kind == "raid0":
            self._lv(name, {"type": kind, "stripe_count": len(images), "stripe_size": CHUNK // SECTOR,
                            "raid0_lvs": raids}, extents=extents)
            return
        seg: dict[str, Any] = {"type": kind, "device_count": len(images)}
        if kind != "raid1":
            seg["stripe_size"] = CHUNK // SECTOR
        seg.update(extra)
        if kind != "raid0_meta":  # lvm refuses a region size on raid0_meta (no bitmap to keep)
            seg["region_size"] = 1024
        seg["raids"] = raids
        self._lv(name, seg, extents=extents)

    def mirror(self, name: str, pvs: list[int], payload: bytes) -> None:
        legs: list[Any] = []
        for i, pv in enumerate(pvs):
            self.linear(f"{name}_mimage_{i}", pv, payload, visible=False)
            legs += [f"{name}_mimage_{i}", 0]
        self.linear(f"{name}_mlog", pvs[-1], b"", visible=False, extents=1)
        self._lv(name, {"type": "mirror", "mirror_count": len(pvs), "mirror_log": f"{name}_mlog",
                        "region_size": 1024, "mirrors": legs}, extents=len(payload) // EXTENT)

    def thin_pool(self, pool: str, pv: int, meta: bytes, data: bytes, chunk: int, transaction: int) -> None:
        self.linear(f"{pool}_tmeta", pv, meta, visible=False)
        self.linear(f"{pool}_tdata", pv, data, visible=False)
        self._lv(pool, {"type": "thin-pool", "metadata": f"{pool}_tmeta", "pool": f"{pool}_tdata",
                        "transaction_id": transaction, "chunk_size": chunk // SECTOR, "discards": "passdown",
                        "zero_new_blocks": 1}, extents=len(data) // EXTENT)

    def thin(self, name: str, pool: str, device: int, extents: int, origin: str | None = None,
             external_origin: str | None = None) -> None:
        seg: dict[str, Any] = {"type": "thin", "thin_pool": pool, "transaction_id": device - 1, "device_id": device}
        if origin:
            seg["origin"] = origin
        if external_origin:
            seg["external_origin"] = external_origin
        self._lv(name, seg, extents=extents)

    def snapshot(self, name: str, origin: str, pv: int, cow: bytes, chunk: int, number: int = 0) -> None:
        """An old-style snapshot: the visible COW LV ``name`` and the hidden ``snapshotN`` LV joining it."""
        self.linear(name, pv, cow)
        origin_extents = self.lvs[origin]["segment1"]["extent_count"]
        self._lv(f"snapshot{number}", {"type": "snapshot", "chunk_size": chunk // SECTOR, "origin": origin,
                                       "cow_store": name}, visible=False, extents=origin_extents)
        self.lvs[f"snapshot{number}"]["status"] = ["READ"]

    def text(self, pv_size: dict[str, int]) -> str:
        pvs = {}
        for pv in self.pvs:
            pvs[pv.name] = {"id": lvm_id(f"{self.vg_name}-{pv.name}"), "device": f"/dev/vd{chr(97 + int(pv.name[2:]))}",
                            "status": ["ALLOCATABLE"], "flags": [], "dev_size": pv_size[pv.name] // SECTOR,
                            "pe_start": PE_START // SECTOR, "pe_count": len(pv.data) // EXTENT}
        vg = {"id": lvm_id(self.vg_name), "seqno": 7, "format": "lvm2", "status": ["RESIZEABLE", "READ", "WRITE"],
              "flags": [], "extent_size": EXTENT // SECTOR, "max_lv": 0, "max_pv": 0, "metadata_copies": 0,
              "physical_volumes": pvs, "logical_volumes": self.lvs}
        return metadata_text(self.vg_name, vg)

    def write(self) -> list[Path]:
        """One image per PV (label, metadata, data area); the metadata text is checked by vgcfgrestore first."""
        sizes = {pv.name: PE_START + len(pv.data) for pv in self.pvs}
        text = self.text(sizes)
        text_file = self.tmp / f"{self.vg_name}.vg"
        text_file.write_text(text)
        check_metadata_text(text_file, self.vg_name)
        paths = []
        for pv in self.pvs:
            path = self.tmp / f"{self.vg_name}-{pv.name}.img"
            path.write_bytes(pv_header(lvm_id(f"{self.vg_name}-{pv.name}"), sizes[pv.name], PE_START, text.encode())
                             + bytes(pv.data))
            paths.append(path)
        return paths


def check_metadata_text(path: Path, vg_name: str) -> None:
    """LVM's own parser must read the VG from the text (``vgcfgrestore --list``)."""
    tool = require_tool("vgcfgrestore")
    done = subprocess.run([tool, "--list", "-f", str(path), vg_name], capture_output=True, text=True, check=False,
                          env={**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"})
    assert f"VG name:    \t{vg_name}" in done.stdout and "Couldn't" not in done.stderr, done.stdout + done.stderr


def check_pv_headers(path: Path) -> str:
    """``pvck --dump headers``: every checksum and field as LVM checks them; returns its report."""
    tool = require_tool("pvck")
    done = subprocess.run([tool, "--dump", "headers", str(path)], capture_output=True, text=True, check=False,
                          env={**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"})
    assert done.returncode == 0 and "CHECK" not in done.stdout, done.stdout + done.stderr
    return done.stdout


def thin_metadata(tmp: Path, xml: str, size: int) -> bytes:
    """Thin-pool metadata of ``size`` bytes made by ``thin_restore`` from ``xml``, checked with ``thin_dump``."""
    restore = require_tool("thin_restore")
    dump = require_tool("thin_dump")
    source, meta = tmp / "thin.xml", tmp / "thin.meta"
    source.write_text(xml)
    with open(meta, "wb") as f:
        f.truncate(size)
    subprocess.run([restore, "-i", str(source), "-o", str(meta)], check=True, capture_output=True)
    dumped = subprocess.run([dump, str(meta)], check=True, capture_output=True, text=True).stdout
    assert thin_mappings(dumped) == thin_mappings(xml), dumped
    return meta.read_bytes()


def thin_mappings(xml: str) -> dict[int, dict[int, int]]:
    """device id → {virtual block: data block} of thin_dump's XML (single and range mappings)."""
    out: dict[int, dict[int, int]] = {}
    for device in ElementTree.fromstring(xml).iter("device"):
        mapping = out.setdefault(int(device.get("dev_id", "0")), {})
        for single in device.iter("single_mapping"):
            mapping[int(single.get("origin_block", "0"))] = int(single.get("data_block", "0"))
        for run in device.iter("range_mapping"):
            origin, data = int(run.get("origin_begin", "0")), int(run.get("data_begin", "0"))
            for i in range(int(run.get("length", "0"))):
                mapping[origin + i] = data + i
    return out


def thin_xml(chunk: int, data_blocks: int, devices: dict[int, dict[int, int]], transaction: int) -> str:
    """thin_dump's XML for ``devices``: device id → {virtual block: data block}."""
    lines = [f'<superblock uuid="" time="1" transaction="{transaction}" flags="0" version="2" '
             f'data_block_size="{chunk // SECTOR}" nr_data_blocks="{data_blocks}">']
    for dev, mapping in devices.items():
        lines.append(f'  <device dev_id="{dev}" mapped_blocks="{len(mapping)}" transaction="{dev - 1}" '
                     'creation_time="0" snap_time="1">')
        lines += [f'    <single_mapping origin_block="{v}" data_block="{d}" time="0"/>'
                  for v, d in sorted(mapping.items())]
        lines.append("  </device>")
    lines.append("</superblock>")
    return "\n".join(lines) + "\n"


#: LVM raid type → (md level, layout name for the fixture writer, image count, dissect level, dissect layout).
RAID_TYPES: dict[str, tuple[int, str, int, int, Layout]] = {
    "raid4": (4, "parity-first", 3, 5, Layout.PARITY_0),
    "raid5_la": (5, "left-asymmetric", 3, 5, Layout.LEFT_ASYMMETRIC),
    "raid5_ra": (5, "right-asymmetric", 4, 5, Layout.RIGHT_ASYMMETRIC),
    "raid5_ls": (5, "left-symmetric", 3, 5, Layout.LEFT_SYMMETRIC),
    "raid5_rs": (5, "right-symmetric", 4, 5, Layout.RIGHT_SYMMETRIC),
    "raid5_n": (5, "parity-last", 3, 5, Layout.PARITY_N),
    "raid6_zr": (6, "rotating-zero-restart", 5, 6, Layout.ROTATING_ZERO_RESTART),
    "raid6_nr": (6, "rotating-n-restart", 5, 6, Layout.ROTATING_N_RESTART),
    "raid6_nc": (6, "rotating-n-continue", 5, 6, Layout.ROTATING_N_CONTINUE),
    "raid6_n_6": (6, "parity-last", 5, 6, Layout.PARITY_N),
    "raid6_ls_6": (6, "left-symmetric-6", 5, 6, Layout.LEFT_SYMMETRIC_6),
    "raid6_ra_6": (6, "right-asymmetric-6", 5, 6, Layout.RIGHT_ASYMMETRIC_6),
}
THIN_CHUNK = 64 << 10
COW_CHUNK = 4 << 10


@dataclass
class Vg:
    paths: list[Path]
    tree: Path
    changed_tree: Path
    fs: bytes
    changed_fs: bytes


def lv_name(kind: str) -> str:
    """The LV holding layout ``kind`` (``raid5_ls`` → ``lvraid5ls``)."""
    return "lv" + kind.replace("_", "")


def build_all_layouts(tmp: Path) -> Vg:
    """The VG ``vgall`` over five PVs: one LV per layout, each holding the ext4 of :func:`source_tree`."""
    tree = source_tree(tmp / "tree")
    changed_tree = source_tree(tmp / "changed", "changed")
    fs, changed = ext4(tmp, tree, "tree"), ext4(tmp, changed_tree, "changed")
    b = VgBuilder(tmp, "vgall", 5)
    b.spanned("lvlinear", [0, 1], fs)
    b.striped("lvstriped2", [0, 1], fs, 64 << 10)
    b.striped("lvstriped3", [2, 3, 4], fs, 4 << 10)
    b.mirror("lvmirror", [1, 2], fs)
    b.raid("lvraid1", "raid1", [fs, fs, fs], [0, 1, 2], FS_SIZE // EXTENT)
    b.raid("lvraid10", "raid10", raid10_near_members(fs, 4, 2, CHUNK), [0, 1, 2, 3], FS_SIZE // EXTENT,
           data_copies=2)
    b.raid("lvraid0", "raid0_meta", striped_members(fs, 3, CHUNK), [1, 2, 3], FS_SIZE // EXTENT)
    b.raid("lvraid0plain", "raid0", striped_members(fs, 2, CHUNK), [3, 4], FS_SIZE // EXTENT)
    for kind, (level, layout, disks, _lvl, _lay) in RAID_TYPES.items():
        images = parity_members(fs, level, layout, disks, CHUNK)
        b.raid(lv_name(kind), kind, images, list(range(disks)), FS_SIZE // EXTENT)
    # Thin: device 1 holds the tree, device 2 (its snapshot) the changed tree; equal blocks are shared, and the
    # data blocks are handed out in a shuffled order so that a reader ignoring the mapping fails. Device 3 is a
    # snapshot of the external origin lvorigin (the changed tree): only the blocks where the tree differs are
    # mapped, the others read from lvorigin.
    b.linear("lvorigin", 3, changed)
    blocks = FS_SIZE // THIN_CHUNK
    pieces: dict[bytes, int] = {}
    devices: dict[int, dict[int, int]] = {1: {}, 2: {}, 3: {}}
    order = list(range(4 * blocks))
    random.Random(7).shuffle(order)
    data = bytearray(len(order) * THIN_CHUNK)

    def store(piece: bytes) -> int:
        if piece not in pieces:
            pieces[piece] = order[len(pieces)]
            data[pieces[piece] * THIN_CHUNK : (pieces[piece] + 1) * THIN_CHUNK] = piece
        return pieces[piece]

    for v in range(blocks):
        ours, theirs = (image[v * THIN_CHUNK : (v + 1) * THIN_CHUNK] for image in (fs, changed))
        for dev, piece in ((1, ours), (2, theirs)):
            if piece != bytes(THIN_CHUNK):  # a block of zeros was never written: unprovisioned
                devices[dev][v] = store(piece)
        if ours != theirs:
            devices[3][v] = store(ours)
    meta = thin_metadata(tmp, thin_xml(THIN_CHUNK, len(order), devices, 3), 2 * EXTENT)
    b.thin_pool("pool", 4, meta, bytes(data), THIN_CHUNK, 3)
    b.thin("lvthin", "pool", 1, 2 * FS_SIZE // EXTENT)
    b.thin("lvthinsnap", "pool", 2, 2 * FS_SIZE // EXTENT, origin="lvthin")
    b.thin("lvthinext", "pool", 3, FS_SIZE // EXTENT, external_origin="lvorigin")
    # Old-style snapshot: the origin now holds the changed tree; the COW store keeps the chunks as they were.
    before = {i: fs[i * COW_CHUNK : (i + 1) * COW_CHUNK] for i in range(FS_SIZE // COW_CHUNK)
              if fs[i * COW_CHUNK : (i + 1) * COW_CHUNK] != changed[i * COW_CHUNK : (i + 1) * COW_CHUNK]}
    areas = -(-len(before) // (COW_CHUNK // 16))
    cow_size = -(-(1 + areas * (COW_CHUNK // 16 + 1)) * COW_CHUNK // EXTENT) * EXTENT
    b.snapshot("lvsnap", "lvorigin", 4, cow_store(COW_CHUNK, before, cow_size), COW_CHUNK)
    return Vg(b.write(), tree, changed_tree, fs, changed)


def tree_files(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = path.read_bytes()
        else:
            out[rel] = "dir"
    return out
