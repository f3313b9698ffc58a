"""``restorekit plan`` end to end: JSON shape, text view, exit codes, bad input, evidence from real images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from restorekit.cli import cli
from tests.conftest import gunzip_to, shared
from tests.restore.scenario_kit import SCENARIOS, write_manifest

KEYS = {"rule", "severity", "message", "source", "evidence"}
BEK = "bitlocker/recovery_key.bek"


def manifest(tmp_path: Path, image: Path, **members: Any) -> Path:
    """A Form 2 recovery point: the scenario's az JSON and one OS disk image."""
    return write_manifest(tmp_path, [(-1, image)], **members)


def bitlocker_rp(tmp_path: Path) -> Path:
    image = gunzip_to(shared("bitlocker/recovery_key.bin.gz"), tmp_path, "os.raw")
    return manifest(tmp_path, image)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["plan", *args])


def test_json_shape_and_all_exits_0(tmp_path: Path) -> None:
    result = invoke(str(bitlocker_rp(tmp_path)), "--json", "--storage-account",
                    str(SCENARIOS / "storage-account-show.json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"recoveryPoint", "options"}
    assert [o["option"] for o in doc["options"]] == ["create-vm", "restore-disks", "replace-disks", "files"]
    for entry in doc["options"]:
        assert entry["verdict"] in ("allowed", "allowed-with-warnings", "blocked")
        for finding in entry["findings"]:
            keys = KEYS if finding["rule"] else KEYS | {"check"}  # a check without a rule id names itself
            assert set(finding) == keys and finding["severity"] in ("block", "warn", "info", "unknown")
    files = doc["options"][3]
    assert set(files["restorekit"]) == {"canRecover", "readableVolumes", "shadowCopies", "needs", "note"}
    assert doc["recoveryPoint"]["vm"] == "vm-app01" and doc["recoveryPoint"]["evidence"]["scanned"] is True


def test_disagreement_and_bek_need_from_a_real_bitlocker_image(tmp_path: Path) -> None:
    doc = json.loads(invoke(str(bitlocker_rp(tmp_path)), "--json", "--option", "files").stdout)
    (files,) = doc["options"]
    c01 = [f for f in files["findings"] if f["rule"] == "C01"]
    assert c01 and "metadata says not encrypted" in c01[0]["evidence"] and "bitlocker" in c01[0]["evidence"]
    rk = files["restorekit"]
    assert rk["canRecover"] is False and "--bek" in rk["needs"][0]


def test_bek_unlocks_but_the_cut_off_ntfs_is_not_recoverable(tmp_path: Path) -> None:
    # The shared BitLocker images hold an NTFS whose MFT is cut off: unlocking works, listing does not, so
    # restorekit must not claim it can recover files (fileAccess means the root folder was listed).
    rp = bitlocker_rp(tmp_path)
    doc = json.loads(invoke(str(rp), "--json", "--option", "files", "--bek", str(shared(BEK))).stdout)
    rk = doc["options"][0]["restorekit"]
    assert rk["needs"] == [] and "unlocked" in rk["note"]
    assert rk["canRecover"] is False and rk["readableVolumes"] == [] and "cannot list the files of os" in rk["note"]


def test_undeclared_luks_blocks_azure_file_recovery(tmp_path: Path) -> None:
    image = gunzip_to(shared("luks/aes-xts-plain64.bin.gz"), tmp_path, "os.raw")
    rp = manifest(tmp_path, image, recoveryPoint=None, vm=None)
    result = invoke(str(rp), "--json", "--option", "files", "--client-os", "Ubuntu 22.04")
    assert result.exit_code == 3
    (files,) = json.loads(result.stdout)["options"]
    r86 = next(f for f in files["findings"] if f["rule"] == "R86")
    assert r86["severity"] == "block" and "luks2" in r86["evidence"]
    assert files["restorekit"]["needs"][0].startswith("os (luks2): --password")


def test_exit_3_when_the_option_is_blocked_and_text_lists_block_first(tmp_path: Path) -> None:
    rp = bitlocker_rp(tmp_path)
    result = invoke(str(rp), "--option", "replace-disks", "--use-secondary-region", "--target-zone", "2",
                    "--no-scan")
    assert result.exit_code == 3, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("replace-disks") and lines[1].endswith("blocked")
    severities = [line.split()[0] for line in lines[2:] if line.startswith("  ")]
    assert severities[:2] == ["block", "block"] and severities == sorted(
        severities, key=["block", "warn", "unknown", "info"].index)
    assert any(" R10 " in line for line in lines) and any(" R11 " in line for line in lines)


def test_exit_0_when_allowed(tmp_path: Path) -> None:
    rp = bitlocker_rp(tmp_path)
    result = invoke(str(rp), "--option", "replace-disks", "--no-scan", "--target-vm",
                    str(SCENARIOS / "target-vm-show-d.json"), "--storage-account",
                    str(SCENARIOS / "storage-account-show.json"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split()[-1] == "allowed"


def test_bad_target_vm_json_is_one_error_line(tmp_path: Path) -> None:
    rp = bitlocker_rp(tmp_path)
    bad = tmp_path / "vm.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(cli, ["plan", str(rp), "--target-vm", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: --target-vm {bad}: is not valid JSON")
    assert "az vm show -d" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_storage_account_file_is_an_error(tmp_path: Path) -> None:
    result = invoke(str(bitlocker_rp(tmp_path)), "--storage-account", str(tmp_path / "nope.json"))
    assert result.exit_code == 1 and result.stderr.startswith("Error: --storage-account")
    assert "Traceback" not in result.output


def test_bad_lun_is_an_error(tmp_path: Path) -> None:
    result = invoke(str(bitlocker_rp(tmp_path)), "--diskslist", "zero", "--no-scan")
    assert result.exit_code == 1 and "--diskslist: 'zero' is not a LUN number" in result.stderr


def test_form3_bare_image_plans_with_unknowns(tmp_path: Path) -> None:
    image = shutil.copy(shared("dfvfs/ext2.vhd"), tmp_path / "disk.vhd")
    result = invoke(str(image), "--json", "--option", "replace-disks")
    assert result.exit_code == 0
    (entry,) = json.loads(result.stdout)["options"]
    unknown = {f["rule"]: f["message"] for f in entry["findings"] if f["severity"] == "unknown"}
    assert "isManagedVirtualMachine" in unknown["R02"] and entry["verdict"] == "allowed-with-warnings"
