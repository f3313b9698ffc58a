"""scan() end to end: the JSON fields, OS evidence, the tree view, one bad volume never hiding the others,
and what a scan costs (bytes read from the images, wall time)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from restorekit.fs.errors import FilesystemError
from restorekit.fs.evidence import parse_os_release
from restorekit.fs.image import open_image
from restorekit.fs.scan import Keys, ScanStats, scan
from tests.fs.volume_images import LUKS1_PASSWORD, scan_files, shared_image, volume_fixture

if TYPE_CHECKING:
    from pathlib import Path

MiB = 1 << 20
FIELDS = ["id", "disk", "offset", "size", "partitionType", "partitionKind", "filesystem", "label", "encryption",
          "locked", "container", "parent", "pool", "poolName", "layout", "uuid", "used", "fileAccess", "os", "dedup",
          "keysFailed", "shadowCopies", "warnings"]


def test_windows_os_disk_json(tmp_path: Path) -> None:
    disks = [("os", open_image(volume_fixture("gpt-windows", tmp_path)))]
    volumes = scan(disks, Keys())
    out = json.loads(json.dumps([v.to_dict() for v in volumes]))
    assert [list(v) for v in out] == [FIELDS] * 4
    assert out[2] == {
        "id": "os-p3", "disk": "os", "offset": 8192 * 512, "size": 16 * MiB, "partitionType": "Microsoft basic data",
        "partitionKind": "data", "filesystem": "ntfs", "label": "Windows", "encryption": None, "locked": False,
        "container": None, "parent": None, "pool": None, "poolName": None, "layout": None, "uuid": "4CAAF1463E80FC42",
        "used": out[2]["used"], "fileAccess": True, "dedup": True, "keysFailed": False, "shadowCopies": [],
        "warnings": [],
        "os": {"family": "windows", "name": "Windows Server 2022 Datacenter", "edition": "ServerDatacenter",
               "build": "20348", "ubr": 2700, "displayVersion": "21H2", "installationType": "Server",
               "server": True, "domainController": True, "efiSystemPartition": "os-p1"},
    }
    assert 0 < out[2]["used"] < 16 * MiB
    assert (out[0]["filesystem"], out[0]["label"], out[0]["partitionType"]) == ("fat", "SYSTEM", "EFI system")
    assert out[0]["partitionKind"] == "efi" and out[1]["partitionKind"] == "msr"
    assert out[1]["partitionType"] == "Microsoft reserved" and out[1]["warnings"] == []  # an MSR has no fs by design
    assert out[3]["warnings"] == ["os-p4: no file system recognised (restorekit reads NTFS, ext2/3/4, FAT and XFS)"]


def test_linux_disk_with_logical_partitions(tmp_path: Path) -> None:
    volumes, _ = scan_files([volume_fixture("mbr-logical", tmp_path)])
    assert list(volumes) == ["d0-p1", "d0-p5", "d0-p6", "d0-p7"]
    data = volumes["d0-p5"]
    assert (data.filesystem, data.label, data.uuid) == ("ext4", "data", "f4f7414a-ec92-5a2b-9337-d91dbea94786")
    assert data.os == {"family": "linux", "id": "ubuntu", "name": "Ubuntu", "version": "22.04",
                       "prettyName": "Ubuntu 22.04.4 LTS", "efiSystemPartition": None}
    assert (volumes["d0-p7"].filesystem, volumes["d0-p7"].label, volumes["d0-p7"].size) == ("xfs", "xdata", 16 * MiB)
    assert volumes["d0-p7"].used is not None and 0 < volumes["d0-p7"].used < 16 * MiB
    assert (volumes["d0-p1"].filesystem, volumes["d0-p1"].label) == ("fat", "BOOT")
    assert volumes["d0-p6"].filesystem is None and "no file system recognised" in volumes["d0-p6"].warnings[0]


def test_bare_ext2_disk_is_volume_d0() -> None:
    from tests.conftest import shared

    volumes, _ = scan_files([shared("dfvfs/ext2.vhd")])
    assert list(volumes) == ["d0"]
    assert (volumes["d0"].partition_type, volumes["d0"].filesystem) == (None, "ext2")


def test_locked_and_unknown_volumes_never_hide_readable_ones(tmp_path: Path) -> None:
    paths = [volume_fixture("gpt-windows", tmp_path), shared_image("bitlocker/aes-xts_128.bin.gz", tmp_path),
             volume_fixture("spaces", tmp_path), volume_fixture("luks1", tmp_path)]
    volumes, _ = scan_files(paths, Keys(passwords=[LUKS1_PASSWORD]))
    assert volumes["d0-p3"].os is not None and volumes["d0-p3"].os["name"] == "Windows Server 2022 Datacenter"
    assert volumes["d1"].locked and volumes["d1"].warnings
    assert volumes["d2-p1"].filesystem == "ntfs" and volumes["d2-p2"].container == "storage-spaces"
    assert volumes["d3"].filesystem == "ext2" and not volumes["d3"].locked


def test_scan_reads_metadata_only(tmp_path: Path) -> None:
    names = ["gpt-windows", "mbr-logical", "lvm-a", "lvm-b", "md-a", "md-b", "spaces", "ldm", "luks1"]
    disks = [(f"d{i}", open_image(volume_fixture(name, tmp_path))) for i, name in enumerate(names)]
    stats = ScanStats()
    volumes = scan(disks, Keys(passwords=[LUKS1_PASSWORD]), stats=stats)
    assert stats.volumes == len(volumes) == 22
    assert stats.bytes_read < 16 * MiB * len(volumes) and stats.bytes_read / len(volumes) < 64 << 10
    assert stats.seconds > 0  # wall time is measured for the benchmark (bench/run.py), not judged here


def test_parse_os_release_quoting() -> None:
    assert parse_os_release('# c\nNAME="Red Hat Enterprise Linux"\nID=rhel\nVERSION_ID=\'9.3\'\nBAD\n') == {
        "NAME": "Red Hat Enterprise Linux", "ID": "rhel", "VERSION_ID": "9.3"}


def test_pool_ids_in_json(tmp_path: Path) -> None:
    """Members and the volumes assembled from them carry the pool's id: VG UUID, array UUID, pool/group GUID."""
    names = ["lvm-a", "lvm-b", "md-a", "md-b", "spaces", "ldm"]
    disks = [(f"d{i}", open_image(volume_fixture(name, tmp_path))) for i, name in enumerate(names)]
    out = {v["id"]: v for v in json.loads(json.dumps([v.to_dict() for v in scan(disks, Keys())]))}
    vg = out["d0-p1"]["pool"]
    assert vg and [out[v]["pool"] for v in ("d1-p1", "d0-p1/vgdata/lvhome")] == [vg, vg]
    assert out["d0-p1"]["poolName"] == "vgdata" and out["d0-p1/vgdata/lvhome"]["used"] > 0
    assert out["d2-p1"]["pool"] == out["d3-p1"]["pool"] != out["d2-p2"]["pool"]  # RAID1 pair vs linear pair
    assert out["d2-p1"]["poolName"] == "vm:mirror"
    assert out["d4-p2"]["pool"] == "5AD6E2C1-0C1B-4C1E-9F8D-2F5D7A9B0C11" and out["d4-p2"]["poolName"] is None
    assert out["d5-p1"]["poolName"] == "WIN-DG0" and out["d5-p1"]["pool"]
    assert out["d4-p1"]["pool"] is None and out["d4-p1"]["fileAccess"] is True


def test_keys_failed_in_json(tmp_path: Path) -> None:
    disks = [("d0", open_image(volume_fixture("luks1", tmp_path)))]
    (locked,) = [v.to_dict() for v in scan(disks, Keys(passwords=["wrong"]))]
    assert (locked["locked"], locked["keysFailed"], locked["fileAccess"]) == (True, True, False)
    (plain,) = [v.to_dict() for v in scan(disks, Keys(passwords=[LUKS1_PASSWORD]))]
    assert (plain["locked"], plain["keysFailed"], plain["filesystem"], plain["fileAccess"]) == (
        False, False, "ext2", True)


def test_file_access_scan_opens_only_the_named_volume(tmp_path: Path) -> None:
    disks = [("os", open_image(volume_fixture("gpt-windows", tmp_path)))]
    full = scan(disks, Keys())
    named = scan(disks, Keys(), filesystems={"os-p3"}, evidence=False)
    assert [v.id for v in named] == [v.id for v in full]  # every volume listed, under the same id
    assert [v.id for v in named if v.fs is not None] == ["os-p3"]
    assert named[2].filesystem == "ntfs" and named[2].os is None and named[2].dedup is False


def test_file_commands_name_the_readable_volumes_when_one_is_unknown(tmp_path: Path) -> None:
    from restorekit.files import Target, open_volumes, volume_filesystem

    image = str(volume_fixture("gpt-windows", tmp_path))
    with open_volumes([image], Keys(), [Target("d0-p3", "/")]) as volumes:
        assert [v for v, info in volumes.items() if info.fs is not None] == ["d0-p3"]
    with open_volumes([image], Keys(), [Target("d0-p9", "/")]) as volumes, \
            pytest.raises(FilesystemError, match=r"(?i)readable volumes: d0-p1, d0-p3"):
        volume_filesystem(volumes, "d0-p9")


def test_each_registry_entry_names_the_class_it_loads() -> None:
    """The registries name their formats without importing them (restorekit.fs.registry): each name is the
    ``type_name`` of the class its entry loads, so a scan reports the same names either way."""
    from restorekit.fs.containers import ENCRYPTIONS, POOLS
    from restorekit.fs.filesystem import FILESYSTEMS
    from restorekit.fs.images import IMAGE_FORMATS

    for entry in [*IMAGE_FORMATS, *ENCRYPTIONS, *POOLS, *FILESYSTEMS]:
        assert entry.load().type_name == entry.name, entry
