"""Every LVM2 segment type restorekit reads, on a VG of five PVs built at test time (tests/fs/lvm_images.py).

Each LV holds the same ext4 (``mke2fs -d`` of one source tree); ``restorekit ls -r`` must list the tree and
``extract`` must give it back byte for byte. The LV's bytes are also compared with a second reader,
dissect.volume (its LVM2 reader for linear, mirror and thin LVs; its md RAID streams over the images it opens
itself for striped and raid LVs). PV headers are checked with ``pvck``, the metadata text with
``vgcfgrestore --list`` and the whole VG with ``lvs`` on read-only loop devices; thin metadata is written by
``thin_restore`` and read back with ``thin_dump``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dissect.volume.lvm import LVM2Device
from dissect.volume.lvm.metadata import VolumeGroup
from dissect.volume.raid.raid import PhysicalDisk, VirtualDisk

from restorekit.fs.stream import ExtentKind
from tests.conftest import require_tool
from tests.fs.lvm_images import (
    CHUNK,
    FS_SIZE,
    RAID_TYPES,
    Vg,
    build_all_layouts,
    check_pv_headers,
    lv_name,
    tree_files,
)
from tests.fs.volume_images import scan_files
from tests.test_files import run


@pytest.fixture(scope="module")
def vg(tmp_path_factory: pytest.TempPathFactory) -> Vg:
    return build_all_layouts(tmp_path_factory.mktemp("lvm"))


LAYOUTS = ["linear", "striped2", "striped3", "mirror", "raid1", "raid10", "raid0", "raid0plain", *RAID_TYPES,
           "thin"]


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
    # A thin snapshot of an external origin: the blocks it changed from the pool, the rest from the origin.
    assert extracted(vg, volumes["lvthinext"].id, tmp_path / "ext") == tree_files(vg.tree)


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
            count = seg.get("device_count", seg.get("stripe_count"))
            for key in ("device_count", "stripe_count", "region_size", "stripe_size", "writebehind",
                        "min_recovery_rate", "max_recovery_rate"):
                seg.setdefault(key, count if key.endswith("count") else 0)
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
    raid0 = dissect_array(dissect_vg, [f"lvraid0plain_rimage_{i}" for i in range(2)], 0, 0, FS_SIZE)
    assert sha(ours(volumes, "lvraid0plain")) == sha(read_all(raid0, FS_SIZE))


def test_copies_stay_in_the_kernel(volumes: dict[str, Any]) -> None:
    """Striped, raid (all images present) and thin LVs map to the PV files' own bytes: no computed extents."""
    for name in ("lvstriped2", "lvstriped3", "lvraid5ls", "lvraid6zr", "lvraid10", "lvthin", "lvthinext", "lvsnap",
                 "lvmirror"):
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


def test_lvm_itself_reads_the_vg_as_written(vg: Vg) -> None:
    """``lvs`` (LVM's full metadata import: every LV, segment and sub-LV reference) on read-only loop devices of the
    PV images. No device-mapper is needed to list; attaching loop devices needs root."""
    losetup, lvs_tool = require_tool("losetup"), require_tool("lvs")
    devices: list[str] = []
    try:
        for path in vg.paths:
            done = subprocess.run([losetup, "-f", "--show", "-r", str(path)], capture_output=True, text=True,
                                  check=False)
            if done.returncode:
                pytest.skip(f"cannot attach a loop device (root and loop support needed): {done.stderr.strip()}")
            devices.append(done.stdout.strip())
        accept = ", ".join(f'"a|^{device}$|"' for device in devices)
        config = f'devices {{ use_devicesfile = 0 filter = [ {accept}, "r|.*|" ] }}'
        done = subprocess.run([lvs_tool, "--nolocking", "--config", config, "-a", "--noheadings", "--separator", ",",
                               "-o", "lv_name,segtype,stripes", "vgall"], capture_output=True, text=True, check=False,
                              env={**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"})
    finally:
        for device in devices:
            subprocess.run([losetup, "-d", device], check=False)
    assert done.returncode == 0, done.stderr
    seen = {tuple(line.strip().split(",")) for line in done.stdout.splitlines()}
    expected = {("lvstriped2", "striped", "2"), ("lvstriped3", "striped", "3"), ("lvmirror", "mirror", "2"),
                ("lvraid1", "raid1", "3"), ("lvraid10", "raid10", "4"), ("lvraid0", "raid0_meta", "3"),
                ("lvraid0plain", "raid0", "2"), ("lvthin", "thin", "0"), ("lvthinext", "thin", "0"),
                ("pool", "thin-pool", "1"), ("lvsnap", "linear", "1"), ("lvlinear", "linear", "1")}
    expected |= {(lv_name(kind), kind, str(disks)) for kind, (_l, _y, disks, _d, _t) in RAID_TYPES.items()}
    assert expected <= seen, sorted(expected - seen)
