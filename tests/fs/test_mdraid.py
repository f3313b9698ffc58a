"""mdadm arrays of every level and layout, superblocks 0.90/1.0/1.1/1.2, built at test time by
:mod:`fixtures.build_raid` (this kernel has no md driver, so members are written as files and each superblock
is checked with ``mdadm --examine``): files listed and read byte-identical to the source tree, every layout
read the same by dissect.volume's md reader, degraded arrays rebuilt, stale members refused unless forced,
damaged members named in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from fixtures.build_files import MTIME, ext4_from_tree, make_tree, tree_files
from fixtures.build_raid import MdArray, build_md_array, examine
from restorekit.cli import cli
from restorekit.fs.errors import CorruptImageError
from restorekit.fs.scan import Keys
from tests.conftest import require_tool
from tests.fs.volume_images import scan_files

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.fs.scan import VolumeInfo

KiB, MiB = 1 << 10, 1 << 20
SPARSE = bytes(512 << 10) + b"S" * 4096 + bytes((512 << 10) - 4096)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """The common source tree (fixtures.build_files.make_tree) and an ext4 image of it (mke2fs -d)."""
    require_tool("mke2fs")
    require_tool("mdadm")
    work = tmp_path_factory.mktemp("md-source")
    src = work / "src"
    src.mkdir()
    make_tree(src, hostile=False)
    image = work / "ext4.img"
    ext4_from_tree(src, image, 6 * MiB)
    return src, image.read_bytes()


def build(tmp_path: Path, data: bytes, spec: MdArray) -> list[Path]:
    """The members, each checked by mdadm --examine against the geometry asked for."""
    paths = build_md_array(tmp_path, data, spec)
    for role, path in enumerate(paths):
        out = examine(path)
        level = {-1: "linear"}.get(spec.level, f"raid{spec.level}")
        assert f"Raid Level : {level}" in out and f"Raid Devices : {spec.raid_disks}" in out, out
        assert f"Version : {spec.version if spec.version != '0.90' else '0.90.00'}" in out, out
        if spec.version != "0.90":
            assert f"Active device {role}" in out, out
    return paths


def array_of(volumes: dict[str, VolumeInfo]) -> VolumeInfo:
    (array,) = [v for k, v in volumes.items() if "/md/" in k]
    return array


def assert_tree(array: VolumeInfo) -> None:
    """Every file of the source tree reads byte for byte from the array's ext4."""
    fs = array.fs
    assert fs is not None, array.warnings
    for rel, data in tree_files().items():
        assert fs.read_file("/" + rel) == data, rel
    assert fs.read_file("/sparse.bin") == SPARSE


def dissect_agrees(paths: list[Path], array: VolumeInfo, limit: int | None = None) -> None:
    """dissect.volume's md reader gives the same bytes, chunk by chunk, over the part it maps (it sizes parity and
    RAID10 arrays by one member's size, 0.90 ones by half that, and reads past a chunk wrongly, so only whole
    aligned chunks are asked); at least two full rotations of the layout over the members are compared."""
    from dissect.volume.md import MD

    handles = [open(p, "rb") for p in paths]  # noqa: SIM115 - closed below
    try:
        disk = MD(handles).configurations[0].virtual_disks[0]
        theirs = disk.open()
        step = disk.stripe_size or 64 * KiB
        assert array.stream is not None
        size = min(disk.size, array.stream.size, limit or array.stream.size)
        assert size >= min(array.stream.size, 2 * step * len(paths))
        for at in range(0, size, step):
            theirs.seek(at)
            assert theirs.read(step)[: size - at] == array.stream.pread(min(step, size - at), at), at
    finally:
        for fh in handles:
            fh.close()


# (level, members, layout, version): each level and layout md has, each superblock version at least twice.
CASES = {
    "raid0-0.90": MdArray(0, 3, version="0.90"),
    "raid0-1.0": MdArray(0, 3, version="1.0"),
    "raid0-1.1-chunk512k": MdArray(0, 2, chunk=512 * KiB, version="1.1"),
    "raid4-1.2": MdArray(4, 3, layout=5),
    "raid5-left-asymmetric": MdArray(5, 4, layout=0),
    "raid5-right-asymmetric-1.1": MdArray(5, 4, layout=1, version="1.1"),
    "raid5-left-symmetric-0.90": MdArray(5, 3, layout=2, version="0.90"),
    "raid5-right-symmetric-1.0": MdArray(5, 4, layout=3, version="1.0"),
    "raid5-parity-first": MdArray(5, 4, layout=4),
    "raid5-parity-last": MdArray(5, 4, layout=5),
    "raid6-left-asymmetric": MdArray(6, 5, layout=0),
    "raid6-right-asymmetric": MdArray(6, 5, layout=1),
    "raid6-left-symmetric-0.90": MdArray(6, 4, layout=2, version="0.90"),
    "raid6-right-symmetric-1.1": MdArray(6, 6, layout=3, version="1.1"),
    "raid6-parity-first": MdArray(6, 5, layout=4),
    "raid6-parity-last-1.0": MdArray(6, 5, layout=5, version="1.0"),
    "raid6-ddf-zero-restart": MdArray(6, 5, layout=8),  # lvm's raid6 (raid6_zr)
    "raid6-ddf-n-continue-1.1": MdArray(6, 4, layout=10, version="1.1"),
    "raid6-left-symmetric-6": MdArray(6, 5, layout=18),  # a raid5 converted to raid6
    "raid10-near2": MdArray(10, 4, layout=0x102),
    "raid10-near2-3members-0.90": MdArray(10, 3, layout=0x102, version="0.90"),
    "raid10-far2": MdArray(10, 4, layout=0x201),
    "raid10-offset2-1.0": MdArray(10, 4, layout=0x10201, version="1.0"),
    "raid10-far2-3members": MdArray(10, 3, layout=0x201),
    "raid1-0.90": MdArray(1, 2, version="0.90"),
    "linear-1.0": MdArray(-1, 3, version="1.0"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_level_and_layout_reads_the_source_tree(case: str, source: tuple[Path, bytes], tmp_path: Path) -> None:
    spec = CASES[case]
    paths = build(tmp_path, source[1], spec)
    volumes, _ = scan_files(paths)
    array = array_of(volumes)
    assert array.warnings == [] and array.filesystem == "ext4" and array.container is None
    assert array.pool == str(spec.array_uuid) and volumes["d0"].container == "mdraid"
    assert_tree(array)
    dissect_agrees(paths, array)
    cli_round_trip(paths, array.id, source[0], tmp_path / "out")
    # Plain chunks map into the member files, so copies run in the kernel.
    assert all(ext.source is not None and ext.source.fileno() is not None
               for ext in array.stream.extents() if ext.source is not None)  # type: ignore[union-attr]


def test_raid0_zones_of_unequal_members_in_both_layouts(source: tuple[Path, bytes], tmp_path: Path) -> None:
    data = source[1]
    # 3 members of 3, 1 and 2 MiB (plus a bit): zone 0 over all three, zone 1 over members 0 and 2, zone 2 over 0.
    sizes = [3 * MiB, 1 * MiB + 64 * KiB, 2 * MiB]
    for layout in (1, 2):
        folder = tmp_path / f"layout{layout}"
        folder.mkdir()
        spec = MdArray(0, 3, layout=layout, member_data=sizes)
        paths = build(folder, data, spec)
        volumes, _ = scan_files(paths)
        array = array_of(volumes)
        assert array.size == sum(sizes)
        assert_tree(array)
        # dissect reads the zones after the first from the start of each member: compare the first zone
        dissect_agrees(paths, array, limit=3 * sizes[1] // (64 * KiB) * 64 * KiB)


def test_degraded_raid5_reads_byte_identical_and_says_so(source: tuple[Path, bytes], tmp_path: Path) -> None:
    paths = build(tmp_path, source[1], MdArray(5, 4, layout=2))
    whole = array_of(scan_files(paths)[0])
    assert whole.stream is not None
    for lost in range(4):
        volumes, _ = scan_files([p for i, p in enumerate(paths) if i != lost])
        array = array_of(volumes)
        assert array.warnings == [f"md/data: degraded raid5, missing role {lost}; its data is rebuilt from parity"]
        assert volumes["d0"].warnings == [f"md array vm:data (raid5): 3 of 4 members present; missing role {lost}"]
        assert array.stream is not None and array.stream.size == whole.stream.size
        assert array.stream.pread(array.stream.size, 0) == whole.stream.pread(whole.stream.size, 0)
        assert_tree(array)
    volumes, _ = scan_files(paths[:2])
    array = array_of(volumes)
    assert array.stream is None and array.fs is None
    assert array.warnings == ["md/data: raid5 array is missing 2 members (role 2 (missing) and role 3 (missing)); "
                              "parity can rebuild one, so its files cannot be read. Add the disks that hold the "
                              "missing members"]


@pytest.mark.parametrize("lost", [(0, 1), (1, 3), (2, 4), (0, 4)])
def test_raid6_rebuilds_two_lost_members(source: tuple[Path, bytes], tmp_path: Path, lost: tuple[int, int]) -> None:
    # left-symmetric on 5 members: every pair kind comes up across the stripes (two data, data + P, data + Q)
    paths = build(tmp_path, source[1], MdArray(6, 5, layout=2))
    volumes, _ = scan_files([p for i, p in enumerate(paths) if i not in lost])
    array = array_of(volumes)
    assert array.warnings == [f"md/data: degraded raid6, missing role {lost[0]}, role {lost[1]}; its data is "
                              "rebuilt from parity"]
    assert_tree(array)


@pytest.mark.parametrize(("layout", "lost"), [(0x102, 1), (0x201, 2), (0x10201, 3)])
def test_degraded_raid10_and_raid1_read_the_other_copy(source: tuple[Path, bytes], tmp_path: Path, layout: int,
                                                       lost: int) -> None:
    paths = build(tmp_path, source[1], MdArray(10, 4, layout=layout))
    array = array_of(scan_files([p for i, p in enumerate(paths) if i != lost])[0])
    assert array.warnings == [f"md/data: degraded raid10, missing role {lost}; its data is read from the other "
                              "copies"]
    assert_tree(array)
    both = array_of(scan_files([paths[0], paths[1]])[0])  # near 2: roles 0 and 1 hold the same chunks
    if layout == 0x102:
        assert both.stream is None
        assert "raid10 array is missing role 2 (missing) and role 3 (missing), which hold every copy" in \
            both.warnings[0]


def test_raid0_and_linear_with_a_member_missing_name_it(source: tuple[Path, bytes], tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "l").mkdir()
    striped = build(tmp_path / "s", source[1], MdArray(0, 3))
    array = array_of(scan_files([striped[0], striped[2]])[0])
    assert array.stream is None and array.warnings == [
        "md/data: striped array is missing role 1 (missing); striping keeps no second copy, so its files cannot "
        "be read without it. Add the disk that holds the missing member"]
    linear = build(tmp_path / "l", source[1], MdArray(-1, 3))
    array = array_of(scan_files(linear[1:])[0])
    assert array.warnings == ["md/data: a linear array cannot be read with members missing (role 0); add the disks "
                              "that hold them"]


def test_stale_member_is_refused_unless_forced(source: tuple[Path, bytes], tmp_path: Path) -> None:
    # role 2 missed the last writes (events 9 against 10): refused, named with every count
    paths = build(tmp_path, source[1], MdArray(5, 4, layout=2, events=[10, 10, 9, 10]))
    array = array_of(scan_files(paths)[0])
    assert array.stream is None
    assert array.warnings == [
        "md array vm:data (raid5): members disagree on their event counts (d0 (role 0, device "
        f"{_device(0)}): 10, d1 (role 1, device {_device(1)}): 10, d3 (role 3, device {_device(3)}): 10, "
        f"d2 (role 2, device {_device(2)}): 9); d2 missed the array's last writes (stale). Pass --force-assemble to "
        "read the array from its freshest members, as mdadm --assemble --force does"]
    # forced: raid5 runs without the stale member, rebuilding its chunks from the fresh ones
    volumes, _ = scan_files(paths, Keys(force_assemble=True))
    array = array_of(volumes)
    assert array.warnings == [f"md/data: degraded raid5, missing role 2 (d2 (role 2, device {_device(2)}) is stale "
                              "(events 9, array 10) and left out); its data is rebuilt from parity"]
    assert_tree(array)


def test_forced_raid0_uses_the_stale_member_and_warns(source: tuple[Path, bytes], tmp_path: Path) -> None:
    paths = build(tmp_path, source[1], MdArray(0, 2, events=[7, 6]))
    assert array_of(scan_files(paths)[0]).stream is None
    array = array_of(scan_files(paths, Keys(force_assemble=True))[0])
    assert array.warnings == [f"md array vm:data: forced: d1 (role 1, device {_device(1)}) is read though its event "
                              "count 6 is below the array's 7; files written last may be old or damaged"]
    assert_tree(array)


def test_member_failed_out_of_the_array_is_not_read(source: tuple[Path, bytes], tmp_path: Path) -> None:
    # md failed role 2 out (events 11 on the others, whose device tables mark it faulty): not stale, just gone
    spec = MdArray(5, 4, layout=2, events=[11, 11, 10, 11], faulty=[2])
    volumes, _ = scan_files(build(tmp_path, source[1], spec))
    array = array_of(volumes)
    assert array.warnings == [f"md/data: degraded raid5, missing role 2 (d2 (role 2, device {_device(2)}) is marked "
                              "faulty by the newest superblock); its data is rebuilt from parity"]
    assert_tree(array)


def test_truncated_linear_member_fails_by_name_never_zeros(source: tuple[Path, bytes], tmp_path: Path) -> None:
    paths = build(tmp_path, source[1], MdArray(-1, 2))
    os.truncate(paths[1], MiB + MiB // 2)
    volumes, _ = scan_files(paths)  # each member gives 3 MiB; the second keeps 0.5 MiB
    assert any("ends 2621440 bytes before the end of its data area (truncated?); files whose data lies past its end "
               "cannot be read" in w for w in volumes["d0"].warnings)
    with pytest.raises(CorruptImageError, match=r"md/data: d1 \(role 1, device .*\) ends at 524288 bytes but the "
                                                r"array needs its byte"):
        array_of(volumes).stream.pread(MiB, 3 * MiB + MiB // 2)  # type: ignore[union-attr]


def _device(role: int) -> str:
    import uuid

    from fixtures.build_raid import ARRAY_UUID

    return str(uuid.uuid5(ARRAY_UUID, f"member-{role}"))


def test_truncated_and_damaged_members(source: tuple[Path, bytes], tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "s").mkdir()
    paths = build(tmp_path / "p", source[1], MdArray(5, 4, layout=2))
    os.truncate(paths[1], os.path.getsize(paths[1]) - 3 * MiB // 2)  # its second half is gone
    volumes, _ = scan_files(paths)
    array = array_of(volumes)
    assert_tree(array)  # what lies past its end is rebuilt from parity
    assert any("d1 (role 1, device" in w and "ends 1572864 bytes before the end of its data area (truncated?)" in w
               for w in volumes["d1"].warnings)
    # a damaged superblock: that member is not joined (one line naming it), the array reads degraded
    (tmp_path / "d").mkdir()
    paths = build(tmp_path / "d", source[1], MdArray(5, 4, layout=2))
    raw = bytearray(paths[2].read_bytes())
    raw[4096 + 100] ^= 0xFF
    paths[2].write_bytes(bytes(raw))
    volumes, _ = scan_files(paths)
    assert volumes["d2"].warnings == ["d2: md superblock checksum mismatch (at offset 0x00001000). The member is "
                                      "damaged; another member of the array may be intact"]
    assert_tree(array_of(volumes))
    # RAID0 keeps no other copy: a file past a truncated member's end fails by name, in one line
    striped = build(tmp_path / "s", source[1], MdArray(0, 2))
    fs = array_of(scan_files(striped)[0]).fs
    assert fs is not None
    end = max(ext.source_offset + ext.length for ext in fs.open_stream(fs.stat("/big.bin")).extents()
              if ext.source is not None and ext.source.name == str(striped[1]))
    cut = (end - 1) // (64 * KiB) * 64 * KiB - MiB  # member 1 loses big.bin's last chunk on it
    os.truncate(striped[1], MiB + cut)
    code, _out, err = run("cat", str(striped[0]), str(striped[1]), "d0/md/data:/big.bin")
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith("Error: md/data: d1 (role 1, device") and "(truncated member?)" not in err
    assert f"ends at {cut} bytes but the array needs its byte" in err and "copy its disk again" in err


def cli_round_trip(paths: list[Path], volume: str, src: Path, out: Path) -> None:
    """``restorekit ls -r`` lists the source tree and ``extract`` writes its files byte for byte (in-process)."""
    runner = CliRunner()
    members = [str(p) for p in paths]
    listed = runner.invoke(cli, ["ls", *members, f"{volume}:/", "-r"])
    assert listed.exit_code == 0, listed.output
    assert {line.rstrip("/") for line in listed.stdout.splitlines()} == \
        {"/" + str(p.relative_to(src)) for p in src.rglob("*")} | {"/lost+found"}
    done = runner.invoke(cli, ["extract", *members, f"{volume}:/", "-o", str(out), "--quiet"])
    assert done.exit_code == 1 and f"Skipped: {volume}:/abs-link" in done.stderr  # an absolute link: not made
    root = out / volume.replace("/", "_")  # a volume root is written under its id, made a safe name
    for rel, data in tree_files().items():
        assert (root / rel).read_bytes() == data and (root / rel).stat().st_mtime == MTIME, rel
    assert (root / "sparse.bin").read_bytes() == SPARSE


def run(*args: str) -> tuple[int, bytes, str]:
    proc = subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr.decode()


def test_cli_lists_extracts_and_reports_a_degraded_array(source: tuple[Path, bytes], tmp_path: Path) -> None:
    src = source[0]
    (tmp_path / "m").mkdir()
    paths = [str(p) for p in build(tmp_path / "m", source[1], MdArray(6, 5, layout=2, version="1.1"))]
    present = paths[:1] + paths[2:]
    code, out, err = run("ls", *present, "d0/md/data:/", "-r")
    assert code == 0, err
    listed = {line.rstrip("/") for line in out.decode().splitlines()}
    expected = {"/" + str(p.relative_to(src)) for p in src.rglob("*")} | {"/lost+found"}
    assert listed == expected
    code, out, err = run("extract", *present, "d0/md/data:/", "-o", str(tmp_path / "out"), "--json")
    assert code == 1 and "abs-link" in err  # the absolute link is not created (exit 1, named); all else is
    root = tmp_path / "out" / "d0_md_data"  # a volume root is written under its id, made a safe name
    for rel, data in tree_files().items():
        assert (root / rel).read_bytes() == data and (root / rel).stat().st_mtime == MTIME
    assert (root / "sparse.bin").read_bytes() == SPARSE
    code, out, err = run("inspect", *present, "--json")
    assert code == 0
    array = next(v for v in json.loads(out)["volumes"] if v["id"] == "d0/md/data")
    assert array["fileAccess"] and array["warnings"] == [
        "md/data: degraded raid6, missing role 1; its data is rebuilt from parity"]
    code, out, err = run("inspect", *present)
    assert "degraded raid6, missing role 1" in out.decode()


def test_cli_force_assemble(source: tuple[Path, bytes], tmp_path: Path) -> None:
    paths = [str(p) for p in build(tmp_path, source[1], MdArray(1, 2, events=[5, 4]))]
    code, _out, err = run("cat", *paths, "d0/md/data:/hello.txt")
    assert code == 1 and "members disagree on their event counts" in err and "--force-assemble" in err
    assert len(err.splitlines()) == 1
    code, out, err = run("cat", *paths, "d0/md/data:/hello.txt", "--force-assemble")
    assert (code, out) == (0, b"hello, world\n"), err
