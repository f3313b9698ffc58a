"""LVM2, mdraid, Storage Spaces and LDM on fixtures from fixtures/build_volumes.py; metadata parsing units."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fixtures.volume_parts import md_superblock_1
from restorekit.fs.containers.lvm_text import parse_lvm_text
from restorekit.fs.containers.mdraid import superblock_1_checksum
from restorekit.fs.errors import VolumeError
from tests.fs.volume_images import scan_files, volume_fixture

if TYPE_CHECKING:
    from pathlib import Path

MiB = 1 << 20


def test_lvm_volume_group_across_two_disks(tmp_path: Path) -> None:
    volumes, _ = scan_files([volume_fixture("lvm-a", tmp_path), volume_fixture("lvm-b", tmp_path)])
    assert (volumes["d0-p1"].container, volumes["d1-p1"].container) == ("lvm2", "lvm2")
    assert (volumes["d0-p1"].partition_type, volumes["d1-p1"].partition_type) == ("Linux LVM", "Linux LVM")
    home = volumes["d0-p1/vgdata/lvhome"]
    assert (home.parent, home.filesystem, home.label, home.size) == ("d0-p1", "ext4", "home", 6 * MiB)
    assert home.warnings == []
    assert home.fs is not None and home.fs.read_file("/notes.txt") == b"on two disks\n"  # crosses into disk 2
    logs = volumes["d0-p1/vgdata/lvlogs"]
    assert (logs.filesystem, logs.label, logs.size) == ("fat", "LOGS", 2 * MiB)
    assert logs.offset == 2048 * 512 + MiB + 3 * MiB  # partition, pe_start, 3 extents in
    assert not any(v.warnings for v in volumes.values())


def test_lvm_missing_pv_is_named(tmp_path: Path) -> None:
    volumes, _ = scan_files([volume_fixture("lvm-a", tmp_path)])
    assert volumes["d0-p1"].warnings == [
        "VG vgdata: PV pv1 (uuid BBBBBB-BBBB-BBBB-BBBB-BBBB-BBBB-BBBBBB, last seen as /dev/loop1) is missing; "
        "add the disk that holds it"]
    assert volumes["d0-p1/vgdata/lvhome"].warnings == ["LV vgdata/lvhome: bytes 3145728-6291456 are on missing PV pv1"]
    assert volumes["d0-p1/vgdata/lvlogs"].filesystem == "fat"  # the LV wholly on the present PV still reads


def test_md_raid1_and_linear_across_two_disks(tmp_path: Path) -> None:
    volumes, _ = scan_files([volume_fixture("md-a", tmp_path), volume_fixture("md-b", tmp_path)])
    for member in ("d0-p1", "d1-p1", "d0-p2", "d1-p2"):
        assert volumes[member].container == "mdraid"
        assert volumes[member].warnings == []
    mirror = volumes["d0-p1/md/mirror"]
    assert (mirror.filesystem, mirror.label, mirror.parent) == ("ext4", "mirror", "d0-p1")
    assert mirror.fs is not None and mirror.fs.read_file("/hello.txt") == b"mirrored\n"
    span = volumes["d0-p2/md/span"]
    assert (span.filesystem, span.label, span.size) == ("ext2", "span", 2 * MiB)
    assert span.fs is not None and span.fs.read_file("/big.bin") == bytes(range(256)) * 4096  # crosses members


def test_md_degraded_raid1_reads_and_linear_says_why_not(tmp_path: Path) -> None:
    volumes, _ = scan_files([volume_fixture("md-b", tmp_path)])
    assert volumes["d0-p1"].warnings == ["md array vm:mirror (raid1): 1 of 2 members present; missing role 0"]
    assert volumes["d0-p1/md/mirror"].filesystem == "ext4"
    assert volumes["d0-p1/md/mirror"].warnings == [
        "md/mirror: degraded raid1, missing role 0; its data is read from the other copies"]
    span = volumes["d0-p2/md/span"]
    assert span.stream is None
    assert span.warnings == ["md/span: a linear array cannot be read with members missing (role 0); add the disks "
                             "that hold them"]


def test_storage_spaces_listed_with_reason_and_ntfs_beside_it_reads(tmp_path: Path) -> None:
    volumes, _ = scan_files([volume_fixture("spaces", tmp_path)])
    assert (volumes["d0-p1"].filesystem, volumes["d0-p1"].label, volumes["d0-p1"].warnings) == ("ntfs", "Data", [])
    pool = volumes["d0-p2"]
    assert (pool.partition_type, pool.container, pool.filesystem) == ("Storage Spaces", "storage-spaces", None)
    assert len(pool.warnings) == 1
    assert pool.warnings[0].startswith("Storage Spaces pool 5AD6E2C1-0C1B-4C1E-9F8D-2F5D7A9B0C11: 1 member disk(s)")
    assert "cannot be read by restorekit" in pool.warnings[0]


def test_ldm_dynamic_disk_named_by_disk_group(tmp_path: Path) -> None:
    """The fixture has a PRIVHEAD but no database: the disk still names its group, and says what is missing."""
    volumes, _ = scan_files([volume_fixture("ldm", tmp_path)])
    v = volumes["d0-p1"]
    assert (v.partition_type, v.container, v.pool_name) == ("LDM data (dynamic disk)", "ldm", "WIN-DG0")
    assert v.warnings[0].startswith("d0: LDM database cannot be found: no TOCBLOCK")
    assert "no disk found has a readable database" in v.warnings[1]


def test_lvm_text_parser() -> None:
    text = 'vg { id = "abc" # comment\n extent_size = 8192\n pvs { pv0 { stripes = [ "pv0", 0, "pv1", 10 ] } } }'
    assert parse_lvm_text(text) == {"vg": {"id": "abc", "extent_size": 8192,
                                           "pvs": {"pv0": {"stripes": ["pv0", 0, "pv1", 10]}}}}
    with pytest.raises(VolumeError, match="LVM2 metadata text is malformed"):
        parse_lvm_text("vg { id = ")


def test_md_superblock_checksum_matches_mdadm_layout() -> None:
    import uuid

    sb = md_superblock_1(array_uuid=uuid.UUID(int=7), name="h:x", level=1, raid_disks=2, role=0,
                          member_sectors=4096, data_offset=2048, array_sectors=2048)
    assert superblock_1_checksum(sb) == int.from_bytes(sb[216:220], "little")
    damaged = bytearray(sb)
    damaged[100] ^= 1
    assert superblock_1_checksum(bytes(damaged)) != int.from_bytes(sb[216:220], "little")
