"""LVM2 with PVs missing and with damaged thin-pool metadata and COW stores (the VG of tests/fs/lvm_images.py).

A redundant LV reads its files from what is left (a healthy leg, parity, the other RAID10 copy) and says which;
one that cannot be read fails in one line naming the missing PV or the damaged block, never with a traceback,
a hang or bytes read as zeros.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import crc32c
import pytest

from restorekit.fs.containers.lvm_segments import VolumeGroupMap
from restorekit.fs.stream import ExtentKind
from tests.conftest import require_tool
from tests.fs.lvm_images import EXTENT, Vg, build_all_layouts, tree_files
from tests.fs.volume_images import scan_files
from tests.test_files import run

BLOCK = 4096
THIN_MAGIC = struct.pack("<Q", 27022010)


@pytest.fixture(scope="module")
def vg(tmp_path_factory: pytest.TempPathFactory) -> Vg:
    return build_all_layouts(tmp_path_factory.mktemp("lvm"))


def without(vg: Vg, *pvs: int) -> list[str]:
    return [str(path) for i, path in enumerate(vg.paths) if i not in pvs]


def lvs(paths: list[str]) -> dict[str, Any]:
    code, data, err = run("inspect", *paths, "--json")
    assert code == 0, err
    return {v["id"].split("/")[-1]: v for v in json.loads(data)["volumes"] if "/vgall/" in v["id"]}


def extract_tree(paths: list[str], volume: str, out: Path) -> dict[str, bytes | str]:
    code, _data, err = run("extract", *paths, f"{volume}:/", "-o", str(out))
    assert code == 0, err
    (root,) = out.iterdir()
    return {k: v for k, v in tree_files(root).items() if not k.startswith("lost+found")}


def test_missing_pv_of_a_striped_lv_is_a_one_line_error_naming_it(vg: Vg, tmp_path: Path) -> None:
    paths = without(vg, 1)
    found = lvs(paths)
    assert ("LV vgall/lvstriped2: striped over 2 PVs, of which pv1 is missing: every chunk there cannot be read "
            "(files on it fail by name); add the disk that holds it") in found["lvstriped2"]["warnings"]
    volume = found["lvstriped2"]["id"]
    for command in (["ls", *paths, f"{volume}:/", "-r"], ["extract", *paths, f"{volume}:/", "-o", str(tmp_path)]):
        code, _data, err = run(*command)
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
        assert "are on PV pv1 (uuid" in err and "which is missing. Add the disk that holds it" in err, err
    # The striped LV on the other three PVs is untouched.
    assert extract_tree(paths, found["lvstriped3"]["id"], tmp_path / "s3") == tree_files(vg.tree)


@pytest.mark.parametrize("name", ["lvraid4", "lvraid5la", "lvraid5rs", "lvraid6zr", "lvraid6nr", "lvraid6n6",
                                  "lvraid6ls6", "lvraid10", "lvraid1", "lvmirror"])
def test_one_pv_missing_redundant_lvs_read_whole(vg: Vg, name: str, tmp_path: Path) -> None:
    paths = without(vg, 1)
    info = lvs(paths)[name]
    assert info["filesystem"] == "ext4", info
    assert extract_tree(paths, info["id"], tmp_path) == tree_files(vg.tree)


def test_warnings_say_which_leg_is_read_and_what_is_rebuilt(vg: Vg) -> None:
    found = lvs(without(vg, 1))
    assert found["lvmirror"]["warnings"] == [
        "LV vgall/lvmirror: mirror of 2 legs, read from leg lvmirror_mimage_1; incomplete legs: lvmirror_mimage_0 "
        "(missing PVs pv1)"]
    assert found["lvraid1"]["warnings"] == [
        "LV vgall/lvraid1: raid1 of 3 legs, read from leg lvraid1_rimage_0; incomplete legs: lvraid1_rimage_1 "
        "(missing PVs pv1)"]
    assert found["lvraid5la"]["warnings"] == [
        "LV vgall/lvraid5la: raid5_la image(s) lvraid5la_rimage_1 is incomplete (missing PVs pv1): their data is "
        "rebuilt from parity"]
    assert found["lvraid0"]["warnings"] == [
        "d0/vgall: LV vgall/lvraid0: raid0_meta has no redundancy and its image(s) lvraid0_rimage_0 are incomplete. "
        "Add the disks that hold the missing PVs"]


def test_rebuilt_chunks_are_computed_the_others_stay_file_extents(vg: Vg) -> None:
    volumes, _disks = scan_files([Path(p) for p in without(vg, 1)])
    info = next(v for k, v in volumes.items() if k.endswith("/lvraid5la"))
    kinds = {ext.source.fileno() is None for ext in info.stream.extents() if ext.kind is ExtentKind.DATA}
    assert kinds == {True, False}


@pytest.mark.parametrize("name", ["lvraid6zr", "lvraid6nr", "lvraid6nc", "lvraid6n6", "lvraid6ls6", "lvraid6ra6"])
def test_two_pvs_missing_raid6_rebuilds_with_q(vg: Vg, name: str, tmp_path: Path) -> None:
    paths = without(vg, 1, 3)
    info = lvs(paths)[name]
    (warning,) = info["warnings"]
    assert warning.endswith(f"image(s) {name}_rimage_1, {name}_rimage_3 are incomplete (missing PVs pv1, pv3): "
                            "their data is rebuilt from parity"), warning
    assert extract_tree(paths, info["id"], tmp_path) == tree_files(vg.tree)


def test_one_pv_too_many_is_one_line_naming_the_images(vg: Vg) -> None:
    paths = without(vg, 1, 3)
    found = lvs(paths)
    code, _data, err = run("ls", *paths, f"{found['lvraid5ra']['id']}:/")  # RAID5 over PVs 0-3: two lost
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "lvraid5ra_rimage_1" in err and "lvraid5ra_rimage_3" in err, err


# -- damaged thin-pool metadata and COW stores ------------------------------------------------------------------


def damaged_copy(vg: Vg, tmp_path: Path, edit: Any) -> list[str]:
    """The VG's images with PV 4 (the thin pool's and the COW store's PV) copied and edited by ``edit``."""
    copy = tmp_path / vg.paths[4].name
    shutil.copyfile(vg.paths[4], copy)
    data = bytearray(copy.read_bytes())
    edit(data)
    copy.write_bytes(bytes(data))
    return [str(p) for p in vg.paths[:4]] + [str(copy)]


def thin_superblock(data: bytearray) -> int:
    """Where the thin pool's metadata starts in the PV image (its superblock's magic at byte 32)."""
    found = [at for at in range(0, len(data), BLOCK) if data[at + 32 : at + 40] == THIN_MAGIC]
    assert len(found) == 1
    return found[0]


def seal(data: bytearray, at: int, xor: int) -> None:
    """Recompute the dm-persistent-data checksum of the 4 KiB block at ``at``."""
    struct.pack_into("<I", data, at, (~crc32c.crc32c(bytes(data[at + 4 : at + BLOCK])) & 0xFFFFFFFF) ^ xor)


def thin_check_fails(data: bytes, tmp_path: Path) -> None:
    """thin_check (thin-provisioning-tools) finds the same metadata damaged."""
    tool = require_tool("thin_check")
    meta = tmp_path / "meta.bin"
    meta.write_bytes(data)
    assert subprocess.run([tool, str(meta)], capture_output=True, check=False).returncode != 0


def assert_one_line_failure(paths: list[str], name: str, message: str) -> None:
    found = lvs(paths)
    info = found[name]
    assert info["filesystem"] is None and any(message in w for w in info["warnings"]), info
    code, _data, err = run("ls", *paths, f"{info['id']}:/", "-r")
    assert code == 1 and err.count("\n") == 1 and message in err and "Traceback" not in err, err


def test_thin_superblock_checksum(vg: Vg, tmp_path: Path) -> None:
    def edit(data: bytearray) -> None:
        at = thin_superblock(data)
        data[at + 100] ^= 0xFF
        thin_check_fails(bytes(data[at : at + 2 * EXTENT]), tmp_path)

    paths = damaged_copy(vg, tmp_path, edit)
    for name in ("lvthin", "lvthinsnap"):
        assert_one_line_failure(paths, name, "thin pool metadata superblock checksum mismatch")


def test_thin_btree_loop_is_an_error_not_a_hang(vg: Vg, tmp_path: Path) -> None:
    """The device → mapping tree's root made an internal node whose only child is itself (checksum valid)."""

    def edit(data: bytearray) -> None:
        sb = thin_superblock(data)
        root = struct.unpack_from("<Q", data, sb + 320)[0]
        at = sb + root * BLOCK
        max_entries = (BLOCK - 32) // 16
        data[at : at + BLOCK] = bytes(BLOCK)
        struct.pack_into("<IIQIIII", data, at, 0, 1, root, 1, max_entries, 8, 0)
        struct.pack_into("<Q", data, at + 32, 0)
        struct.pack_into("<Q", data, at + 32 + 8 * max_entries, root)
        seal(data, at, 121107)

    paths = damaged_copy(vg, tmp_path, edit)
    assert_one_line_failure(paths, "lvthin", "thin pool metadata B-tree loops back to block")


def test_invalidated_cow_snapshot_says_so(vg: Vg, tmp_path: Path) -> None:
    def edit(data: bytearray) -> None:
        at = data.find(b"SnAp")  # the magic 0x70416e53, little-endian
        assert at % BLOCK == 0 and struct.unpack_from("<I", data, at + 4)[0] == 1
        struct.pack_into("<I", data, at + 4, 0)

    paths = damaged_copy(vg, tmp_path, edit)
    assert_one_line_failure(paths, "lvsnap", "the snapshot was invalidated (its COW store overflowed or failed)")
    assert lvs(paths)["lvorigin"]["filesystem"] == "ext4"


def test_lvs_referring_to_each_other_in_a_loop() -> None:
    """Pure metadata: a mirror whose leg is the mirror itself is refused, not recursed into."""
    seg = {"start_extent": 0, "extent_count": 1, "type": "mirror", "mirror_count": 1, "mirrors": ["a", 0]}
    vg = {"extent_size": 8, "physical_volumes": {}, "logical_volumes": {"a": {"status": ["VISIBLE"],
                                                                              "segment1": seg}}}
    lv = VolumeGroupMap("vg", vg, {}, "d0").lv("a")
    assert lv.stream is None
    assert lv.warnings == ["d0/vg: LVM2 metadata: LVs refer to each other in a loop or too deep (a -> a). The VG's "
                           "metadata is damaged"]
