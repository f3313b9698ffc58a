"""Every LVM2 segment type restorekit reads, on a VG of five PVs built at test time (tests/fs/lvm_images.py).

Each LV holds the same ext4 (``mke2fs -d`` of one source tree); ``restorekit ls -r`` must list the tree and
``extract`` must give it back byte for byte. The LV's bytes are also compared with a second reader,
dissect.volume (its LVM2 reader for linear, mirror and thin LVs; its md RAID streams over the images it opens
itself for striped and raid LVs). PV headers are checked with ``pvck``, the metadata text with
``vgcfgrestore --list``, thin metadata is written by ``thin_restore`` and read back with ``thin_dump``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dissect.volume.lvm import LVM2Device
from dissect.volume.lvm.metadata import VolumeGroup
from dissect.volume.raid.raid import PhysicalDisk, VirtualDisk
from dissect.volume.raid.stream import Layout

from fixtures.lvm_writer import cow_store, parity_members, raid10_near_members, striped_members
from restorekit.fs.stream import ExtentKind
from tests.fs.lvm_images import (
    CHUNK,
    EXTENT,
    FS_SIZE,
    VgBuilder,
    check_pv_headers,
    ext4,
    source_tree,
    thin_metadata,
    thin_xml,
)
from tests.fs.volume_images import scan_files
from tests.test_files import run

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


@pytest.fixture(scope="module")
def vg(tmp_path_factory: pytest.TempPathFactory) -> Vg:
    tmp = tmp_path_factory.mktemp("lvm")
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
    for kind, (level, layout, disks, _lvl, _lay) in RAID_TYPES.items():
        images = parity_members(fs, level, layout, disks, CHUNK)
        b.raid(lv_name(kind), kind, images, list(range(disks)), FS_SIZE // EXTENT)
    # Thin: device 1 holds the tree, device 2 (its snapshot) the changed tree; equal blocks are shared, and the
    # data blocks are handed out in a shuffled order so that a reader ignoring the mapping fails.
    blocks = FS_SIZE // THIN_CHUNK
    pieces: dict[bytes, int] = {}
    devices: dict[int, dict[int, int]] = {1: {}, 2: {}}
    order = list(range(3 * blocks))
    random.Random(7).shuffle(order)
    data = bytearray(len(order) * THIN_CHUNK)
    for dev, image in ((1, fs), (2, changed)):
        for v in range(blocks):
            piece = image[v * THIN_CHUNK : (v + 1) * THIN_CHUNK]
            if piece == bytes(THIN_CHUNK):
                continue  # never written: unprovisioned
            if piece not in pieces:
                pieces[piece] = order[len(pieces)]
                at = pieces[piece] * THIN_CHUNK
                data[at : at + THIN_CHUNK] = piece
            devices[dev][v] = pieces[piece]
    meta = thin_metadata(tmp, thin_xml(THIN_CHUNK, len(order), devices, 2), 2 * EXTENT)
    b.thin_pool("pool", 4, meta, bytes(data), THIN_CHUNK, 2)
    b.thin("lvthin", "pool", 1, 2 * FS_SIZE // EXTENT)
    b.thin("lvthinsnap", "pool", 2, 2 * FS_SIZE // EXTENT, origin="lvthin")
    # Old-style snapshot: the origin now holds the changed tree; the COW store keeps the chunks as they were.
    b.linear("lvorigin", 3, changed)
    before = {i: fs[i * COW_CHUNK : (i + 1) * COW_CHUNK] for i in range(FS_SIZE // COW_CHUNK)
              if fs[i * COW_CHUNK : (i + 1) * COW_CHUNK] != changed[i * COW_CHUNK : (i + 1) * COW_CHUNK]}
    areas = -(-len(before) // (COW_CHUNK // 16))
    cow_size = -(-(1 + areas * (COW_CHUNK // 16 + 1)) * COW_CHUNK // EXTENT) * EXTENT
    b.snapshot("lvsnap", "lvorigin", 4, cow_store(COW_CHUNK, before, cow_size), COW_CHUNK)
    return Vg(b.write(), tree, changed_tree, fs, changed)


LAYOUTS = ["linear", "striped2", "striped3", "mirror", "raid1", "raid10", "raid0", *RAID_TYPES, "thin"]


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


def extracted(vg: Vg, volume: str, tmp_path: Path) -> dict[str, bytes | str]:
    out = tmp_path / "out"
    code, data, err = run("extract", *map(str, vg.paths), f"{volume}:/", "-o", str(out), "--json")
    assert code == 0, err
    summary = json.loads(data)
    assert summary["failed"] == [] and summary["skipped"] == [], summary
    (root,) = out.iterdir()  # the volume root, named after the volume id
    files = tree_files(root)
    return {k: v for k, v in files.items() if not k.startswith("lost+found")}


def test_pv_headers_pass_pvck(vg: Vg) -> None:
    for path in vg.paths:
        report = check_pv_headers(path)
        assert "metadata text at" in report


@pytest.mark.parametrize("kind", LAYOUTS)
def test_layout_lists_and_extracts_the_source_tree(vg: Vg, volumes: dict[str, Any], kind: str,
                                                   tmp_path: Path) -> None:
    volume = volumes[lv_name(kind)].id
    code, listing, err = run("ls", *map(str, vg.paths), f"{volume}:/", "-r")
    assert code == 0, err
    names = {line.rstrip("/") for line in listing.decode().split()}
    assert {"/docs/deep/er/random.bin", "/big.bin", "/empty", "/docs/readme.txt"} <= names, listing
    assert extracted(vg, volume, tmp_path) == tree_files(vg.tree)


def test_snapshots_show_the_tree_as_it_was(vg: Vg, volumes: dict[str, Any], tmp_path: Path) -> None:
    assert extracted(vg, volumes["lvsnap"].id, tmp_path / "cow") == tree_files(vg.tree)
    assert extracted(vg, volumes["lvorigin"].id, tmp_path / "origin") == tree_files(vg.changed_tree)
    assert extracted(vg, volumes["lvthinsnap"].id, tmp_path / "thin") == tree_files(vg.changed_tree)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_all(stream: Any, size: int, piece: int = 16 << 10) -> bytes:
    """``size`` bytes from the start, read a piece at a time (dissect's thin device reads a whole read as zeros
    when any block in it is unprovisioned, so its reads stay within one block)."""
    stream.seek(0)
    return b"".join(stream.read(min(piece, size - at)) for at in range(0, size, piece))


@pytest.fixture(scope="module")
def volumes(vg: Vg) -> dict[str, Any]:
    """The VG's LVs by name (each is listed under the PV its first byte is on)."""
    found, _disks = scan_files(vg.paths)
    return {volume_id.split("/")[-1]: info for volume_id, info in found.items() if "/vgall/" in volume_id}


@pytest.fixture(scope="module")
def dissect_vg(vg: Vg) -> Any:
    """dissect.volume's view of the VG. Its raid segment class wants fields LVM writes only when they are not zero
    (``stripe_count`` is even refused beside ``device_count``), so they are added to its copy of the metadata."""
    handles = [open(path, "rb") for path in vg.paths]  # noqa: SIM115 (kept open for the module's tests)
    devices = [LVM2Device(handle) for handle in handles]
    meta = devices[0].metadata["vgall"]
    for lv in meta["logical_volumes"].values():
        seg = lv["segment1"]
        if seg["type"].startswith("raid"):
            for key in ("stripe_count", "stripe_size", "writebehind", "min_recovery_rate", "max_recovery_rate"):
                seg.setdefault(key, seg["device_count"] if key == "stripe_count" else 0)
    group = VolumeGroup.from_dict(meta, name="vgall")
    group.attach({device.id: device for device in devices})
    yield group
    for handle in handles:
        handle.close()


def ours(volumes: dict[str, Any], name: str) -> bytes:
    info = volumes[name]
    assert info.stream is not None, info.warnings
    return read_all(info.stream, info.size)


@pytest.mark.parametrize("name", ["lvlinear", "lvmirror", "lvorigin", "lvthin", "lvthinsnap"])
def test_same_bytes_as_dissect_lvm(volumes: dict[str, Any], dissect_vg: Any, name: str) -> None:
    lv = dissect_vg.logical_volumes[name]
    size = volumes[name].size
    assert sha(ours(volumes, name)) == sha(read_all(lv.open(), size))


def dissect_array(dissect_vg: Any, images: list[str], level: int, layout: int, size: int) -> Any:
    disks = {}
    for i, image in enumerate(images):
        stream = dissect_vg.logical_volumes[image].open()
        stream.seek(0, os.SEEK_END)
        disks[i] = (0, PhysicalDisk(stream, 0, stream.tell()))
    return VirtualDisk("lv", "lv", size, level, layout, CHUNK, len(images), disks).open()


@pytest.mark.parametrize("kind", list(RAID_TYPES))
def test_raid_same_bytes_as_dissect_md_streams(volumes: dict[str, Any], dissect_vg: Any, kind: str) -> None:
    _level, _layout, disks, level, layout = RAID_TYPES[kind]
    name = lv_name(kind)
    images = [f"{name}_rimage_{i}" for i in range(disks)]
    theirs = read_all(dissect_array(dissect_vg, images, level, layout, FS_SIZE), FS_SIZE)
    assert sha(ours(volumes, name)) == sha(theirs)


def test_striped_and_raid0_and_raid10_same_bytes_as_dissect(volumes: dict[str, Any], dissect_vg: Any) -> None:
    raid10 = dissect_array(dissect_vg, [f"lvraid10_rimage_{i}" for i in range(4)], 10, 0x102, FS_SIZE)
    assert sha(ours(volumes, "lvraid10")) == sha(read_all(raid10, FS_SIZE))
    raid0 = dissect_array(dissect_vg, [f"lvraid0_rimage_{i}" for i in range(3)], 0, 0, FS_SIZE)
    assert sha(ours(volumes, "lvraid0")) == sha(read_all(raid0, FS_SIZE))


def test_copies_stay_in_the_kernel(volumes: dict[str, Any]) -> None:
    """Striped, raid (all images present) and thin LVs map to the PV files' own bytes: no computed extents."""
    for name in ("lvstriped2", "lvstriped3", "lvraid5ls", "lvraid6zr", "lvraid10", "lvthin", "lvsnap", "lvmirror"):
        info = volumes[name]
        for ext in info.stream.extents():
            assert ext.kind is ExtentKind.ZERO or ext.source.fileno() is not None, (name, ext)


def test_thin_unprovisioned_blocks_are_zero_extents(volumes: dict[str, Any]) -> None:
    info = volumes["lvthin"]
    assert info.size == 2 * FS_SIZE
    tail = list(info.stream.extents(FS_SIZE))
    assert [(e.offset, e.length, e.kind) for e in tail] == [(FS_SIZE, FS_SIZE, ExtentKind.ZERO)]


def test_inspect_lists_visible_lvs_only_and_names_the_mirror_leg(vg: Vg) -> None:
    code, data, err = run("inspect", *map(str, vg.paths), "--json")
    assert code == 0, err
    ids = {v["id"].split("/")[-1]: v for v in json.loads(data)["volumes"] if "/vgall/" in v["id"]}
    lvs = sorted(ids)
    assert "pool" not in lvs and not any("rimage" in n or "rmeta" in n or "mimage" in n or "_t" in n for n in lvs)
    assert "snapshot0" not in lvs and {"lvsnap", "lvthin", "lvraid6nc", "lvmirror"} <= set(lvs)
    for lv in lvs:
        assert ids[lv]["filesystem"] == "ext4", ids[lv]
    assert ids["lvmirror"]["warnings"] == [
        "LV vgall/lvmirror: mirror of 2 legs, read from leg lvmirror_mimage_0 (every leg is present)"]
    assert ids["lvsnap"]["warnings"][0].startswith("LV vgall/lvsnap: snapshot of lvorigin (")
