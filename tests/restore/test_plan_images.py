"""Evidence rules end to end on real images: a recoverypoint.json (the scenario's az JSON) over fixture disks,
planned through the CLI; each rule fires with what the disks showed, and stays quiet on a disk without it.

Images: fixtures/images/volumes (built by fixtures/build_volumes.py with sfdisk, LVM, mdadm, cryptsetup, ntfs-3g
and hivexregedit: gpt-windows holds a SOFTWARE hive of Windows Server 2022, NTDS.dit and a file with the dedup
reparse tag), the demo's OS disk (ESP + NTFS with Windows Server 2022, no NTDS, no dedup) and ../shared/testdata
(BitLocker, and ext2 written straight on a disk).
R99 (third-party encryption) has no image: the scan recognises only BitLocker and LUKS, so no real disk can show
another encryption; it stays tested on scan data in test_rules_files.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from restorekit.cli import cli
from tests.conftest import FIXTURES, gunzip_to, shared
from tests.fs.volume_images import volume_fixture
from tests.restore.scenario_kit import BASE_FACTS, load, write_manifest

NEW, DISK, ILR = "create-vm", "restore-disks", "files"


def linux_rp() -> dict[str, Any]:
    """The scenario's recovery point, declared Linux."""
    doc = load("recoverypoint-show.json")
    doc["properties"]["osType"] = "Linux"
    return doc


def undeclared_encryption() -> dict[str, Any]:
    """The scenario's recovery point without isSourceVMEncrypted."""
    doc = load("recoverypoint-show.json")
    doc["properties"].pop("isSourceVMEncrypted")
    return doc


def encrypted_rp() -> dict[str, Any]:
    doc = load("recoverypoint-show.json")
    doc["properties"]["isSourceVMEncrypted"] = True
    return doc


LINUX: dict[str, Any] = {"recoveryPoint": linux_rp(), "vm": None}
WINDOWS_NOT_DC = {"facts": {**BASE_FACTS, "domainController": None}}


def image(name: str, tmp_path: Path) -> Path:
    """A disk image by short name, decompressed into ``tmp_path`` when needed."""
    if name == "demo-os":
        return FIXTURES / "demo" / "disks" / "os.vhd"
    if name == "bitlocker":
        return gunzip_to(shared("bitlocker/recovery_key.bin.gz"), tmp_path, "bitlocker.raw")
    if name == "ext2-whole-disk":
        return shared("dfvfs/ext2.vhd")
    return volume_fixture(name, tmp_path)


def plan(tmp_path: Path, option: str, disks: dict[int, str], members: dict[str, Any], *flags: str) -> dict[str, Any]:
    """Plan ``option`` for a manifest over ``disks`` (LUN → image name); the option's JSON entry."""
    path = write_manifest(tmp_path, [(lun, image(name, tmp_path)) for lun, name in disks.items()], **members)
    result = CliRunner().invoke(cli, ["plan", str(path), "--option", option, "--json", *flags])
    assert result.exit_code in (0, 3), result.output
    (entry,) = json.loads(result.stdout)["options"]
    return entry


def fired(entry: dict[str, Any], rule_id: str) -> list[dict[str, Any]]:
    return [f for f in entry["findings"] if f["rule"] == rule_id]


#: Rules that, when the disks show nothing, still need the declared fact: an unencrypted disk does not prove
#: the recovery point is not ADE-encrypted (checks.ade asks for isSourceVMEncrypted).
UNDECIDED_WITHOUT_IT = {"R86"}

#: rule, option, (disks, manifest members, flags) that fire it, what the evidence names, the same for quiet.
CASES: list[tuple[str, str, tuple[Any, ...], str, tuple[Any, ...]]] = [
    ("R15", DISK, ({-1: "mbr-logical", 0: "lvm-a", 1: "lvm-b"}, LINUX, ["--diskslist", "0"]),
     "lvm2 vgdata: restoring lun0-p1 (lvm2) without lun1-p1 (lvm2)",
     ({-1: "mbr-logical", 0: "lvm-a", 1: "lvm-b"}, LINUX, ["--diskslist", "0,1"])),
    ("R28", NEW, ({-1: "gpt-windows"}, WINDOWS_NOT_DC, []), "ntds.dit (os-p3)", ({-1: "demo-os"}, WINDOWS_NOT_DC, [])),
    ("R86", ILR, ({-1: "bitlocker"}, {"recoveryPoint": undeclared_encryption(), "vm": None}, []),
     "the disks show os (bitlocker)", ({-1: "demo-os"}, {"recoveryPoint": undeclared_encryption(), "vm": None}, [])),
    ("R89", ILR, ({-1: "gpt-windows"}, {}, []), "deduplicated os-p3 (ntfs)", ({-1: "demo-os"}, {}, [])),
    ("R90", ILR, ({-1: "demo-os", 0: "spaces"}, {}, []), "lun0-p2 (storage-spaces)", ({-1: "demo-os"}, {}, [])),
    ("R91", ILR, ({-1: "demo-os", 0: "ldm"}, {}, []), "lun0-p1 (ldm)", ({-1: "demo-os"}, {}, [])),
    ("R92", ILR, ({-1: "mbr-logical", 0: "lvm-a", 1: "lvm-b"}, LINUX, ["--client-os", "Ubuntu 22.04"]),
     "lun0-p1 (lvm2)", ({-1: "mbr-logical"}, LINUX, ["--client-os", "Ubuntu 22.04"])),
    ("R92", ILR, ({-1: "mbr-logical", 0: "md-a", 1: "md-b"}, LINUX, ["--client-os", "Ubuntu 22.04"]),
     "lun0-p1 (mdraid)", ({-1: "mbr-logical"}, LINUX, ["--client-os", "Ubuntu 22.04"])),
    ("R94", ILR, ({-1: "gpt-windows"}, {}, ["--client-os", "Windows Server 2019"]),
     "backed-up VM: Windows Server 2022", ({-1: "gpt-windows"}, {}, ["--client-os", "Windows 11"])),
    ("R100", ILR, ({-1: "gpt-windows"}, {"facts": {**BASE_FACTS, "clientHasDedup": False}}, []),
     "os-p3 (ntfs) deduplicated", ({-1: "gpt-windows"}, {}, [])),
    ("R104", ILR, ({-1: "demo-os", 0: "ext2-whole-disk"}, {}, []), "lun0 (ext2): file system on the whole disk",
     ({-1: "demo-os"}, {}, [])),
    ("C01", NEW, ({-1: "bitlocker"}, {}, []), "metadata says not encrypted; the disks show os (bitlocker)",
     ({-1: "demo-os"}, {}, [])),
    ("C01", NEW, ({-1: "demo-os"}, {"recoveryPoint": encrypted_rp()}, []),
     "metadata says ADE-encrypted; no BitLocker/LUKS volume on the disks", ({-1: "bitlocker"},
                                                                             {"recoveryPoint": encrypted_rp()}, [])),
    ("C01", NEW, ({-1: "luks1"}, {}, []), "the disks show os (luks1)", ({-1: "mbr-logical"}, LINUX, [])),
    ("C02", NEW, ({-1: "gpt-windows"}, LINUX, []), "metadata says Linux; disks hold windows",
     ({-1: "gpt-windows"}, {}, [])),
    ("C03", NEW, ({-1: "demo-os"}, {"facts": {**BASE_FACTS, "hyperVGeneration": "V1"}}, []),
     "metadata says Gen1 (BIOS); the OS disk has an EFI system partition",
     ({-1: "demo-os"}, {"facts": {**BASE_FACTS, "hyperVGeneration": "V2"}}, [])),
    ("C03", NEW, ({-1: "mbr-logical"}, {**LINUX, "facts": {**BASE_FACTS, "hyperVGeneration": "V2"}}, []),
     "the OS disk has no EFI system partition",
     ({-1: "mbr-logical"}, {**LINUX, "facts": {**BASE_FACTS, "hyperVGeneration": "V1"}}, [])),
    ("C04", NEW, ({-1: "gpt-windows"}, {}, []), "facts say not a domain controller; os-p3 (ntfs) holds NTDS.dit",
     ({-1: "demo-os"}, {}, [])),
]


@pytest.mark.parametrize(("rule_id", "option", "fire", "seen", "quiet"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_fires_on_the_image_and_stays_quiet_without(tmp_path: Path, rule_id: str, option: str,
                                                        fire: tuple[Any, ...], seen: str,
                                                        quiet: tuple[Any, ...]) -> None:
    disks, members, flags = fire
    found = fired(plan(tmp_path / "fire", option, disks, members, *flags), rule_id)
    assert [f["severity"] for f in found] in (["block"], ["warn"]), found
    assert seen in (found[0]["evidence"] or ""), found[0]
    disks, members, flags = quiet
    quiet_found = fired(plan(tmp_path / "quiet", option, disks, members, *flags), rule_id)
    assert [f for f in quiet_found if f["severity"] != "unknown"] == []
    assert quiet_found == [] or rule_id in UNDECIDED_WITHOUT_IT


@pytest.fixture(autouse=True)
def _folders(tmp_path: Path) -> None:
    (tmp_path / "fire").mkdir()
    (tmp_path / "quiet").mkdir()


def test_restorekit_reads_what_azure_file_recovery_cannot(tmp_path: Path) -> None:
    entry = plan(tmp_path, ILR, {-1: "mbr-logical", 0: "lvm-a", 1: "lvm-b"}, LINUX, "--client-os", "Ubuntu 22.04")
    assert entry["verdict"] == "blocked"
    rk = entry["restorekit"]
    assert rk["canRecover"] is True and "lun0-p1/vgdata/lvhome" in rk["readableVolumes"]
    assert "restorekit assembles lvm2 itself" in rk["note"]


def test_readable_volumes_follow_the_file_layer(tmp_path: Path) -> None:
    """The demo's EFI partition is FAT: listed as readable exactly when the FAT adapter gives file access."""
    from restorekit.fs.filesystems.fat import FatFilesystem

    rk = plan(tmp_path, ILR, {-1: "demo-os"}, {})["restorekit"]
    assert ("os-p1" in rk["readableVolumes"]) is FatFilesystem.file_access()
    assert "os-p3" in rk["readableVolumes"]
    assert ("os-p1 (fat)" in rk["note"]) is not FatFilesystem.file_access()


def test_storage_spaces_and_ldm_are_not_claimed(tmp_path: Path) -> None:
    rk = plan(tmp_path, ILR, {-1: "demo-os", 0: "spaces", 1: "ldm"}, {})["restorekit"]
    assert not any(v.startswith(("lun0-p2", "lun1-p1")) for v in rk["readableVolumes"])
