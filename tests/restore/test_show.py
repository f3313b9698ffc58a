"""``restorekit show``: what is known and what is not, for the three recovery-point forms, in text and JSON."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from restorekit.cli import cli
from tests.conftest import FIXTURES, fixture_file, gunzip_to, shared
from tests.fs.volume_images import volume_fixture
from tests.restore.scenario_kit import write_manifest

MiB = 1 << 20
DEMO = FIXTURES / "demo"
FORM1_CONFIG = "demo-form1/config-demo-vm-3f6e1c2a-8b4d-4e7f-9a1c-5d2b8e7f6a90.json"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["show", *args])


def show_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def unknown(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["fact"]: u for u in doc["unknown"]}


def test_a_manifest_under_another_name_is_named_as_given(tmp_path: Path) -> None:
    doc = json.loads((DEMO / "recoverypoint.json").read_text("utf-8"))
    for disk in doc["disks"]:
        disk["image"] = str((DEMO / disk["image"]).resolve())
    manifest = tmp_path / "tuesday.json"
    manifest.write_text(json.dumps(doc), "utf-8")
    assert show_json(str(manifest), "--no-scan")["files"]["manifest"] == str(manifest)


def test_demo_form2_json() -> None:
    doc = show_json(str(DEMO))
    assert (doc["form"], doc["formName"]) == (2, "manifest")
    assert doc["files"]["manifest"].endswith("fixtures/demo/recoverypoint.json")
    assert doc["vm"]["name"] == "demo-vm" and doc["vm"]["resourceGroup"] == "demo-rg"
    assert doc["vm"]["location"] == "westeurope" and doc["vm"]["subscription"] == "7d3c2a10-5b8e-4f21-9c64-2e1f0a9b8c7d"
    assert doc["os"]["osType"] == "Windows" and doc["os"]["agrees"] is True
    assert doc["os"]["imageReference"].startswith("MicrosoftWindowsServer:WindowsServer:2022-datacenter-g2")
    (found,) = doc["os"]["found"]
    assert (found["volume"], found["name"], found["edition"], found["build"]) == (
        "os-p3", "Windows Server 2022 Datacenter", "ServerDatacenter", "20348")
    hw = doc["hardware"]
    assert (hw["vmSize"], hw["hyperVGeneration"], hw["generationFromDisks"], hw["efiSystemPartition"]) == (
        "Standard_D2s_v5", None, "V2", "os-p1")
    os_disk, data = doc["disks"]
    assert (os_disk["id"], os_disk["lun"], os_disk["format"], os_disk["virtualSize"]) == ("os", -1, "vhd-dynamic",
                                                                                        64 * MiB)
    assert (os_disk["diskSizeGb"], os_disk["storageAccountType"], os_disk["managed"]) == (127, "Premium_LRS", True)
    assert os_disk["encryption"] == {"ade": False, "diskEncryptionSet": None, "seen": []}
    assert (data["id"], data["format"], data["included"]) == ("lun0", "vhdx-dynamic", True)
    assert doc["recoveryPoint"]["tiers"] == ["snapshot", "vault"]
    assert doc["recoveryPoint"]["recoveryPointType"] == "AppConsistent"
    assert doc["vault"]["name"] == "demo-vault" and doc["vault"]["storageRedundancy"] is None
    (nic,) = doc["networkInterfaces"]
    assert nic["name"] == "demo-vm-nic" and nic["ipConfigurations"] is None
    missing = unknown(doc)
    assert "az backup vault show" in missing["vaultRedundancy"]["how"]
    assert "az network nic show" in missing["staticIps"]["how"]
    assert missing["domainController"]["disksShow"] is False and missing["hyperVGeneration"]["disksShow"] == "V2"
    assert "vmSize" not in missing and "osType" not in missing


def test_demo_text() -> None:
    result = run(str(DEMO))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Recovery point (form 2, manifest): ") and lines[0].endswith("recoverypoint.json")
    text = result.output
    assert "generation ? (disks: V2: EFI system partition os-p1)" in text
    assert "on the disks Windows Server 2022 Datacenter build 20348 (ServerDatacenter, 21H2) on os-p3" in text
    assert "vhd-dynamic 64.0 MiB  encryption: ADE no, seen none" in text
    assert "demo-vm-nic: addresses unknown" in text
    assert any(line.startswith("  staticIps, lbPools, publicIps: add \"networkInterfaces\"") for line in lines)
    assert "domainController (disks show no)" in text
    assert "Traceback" not in text


def test_no_scan_reads_json_only() -> None:
    doc = show_json(str(DEMO), "--no-scan")
    assert doc["evidence"]["scanned"] is False and doc["os"]["found"] == []
    assert doc["disks"][0]["format"] is None and doc["disks"][0]["encryption"]["seen"] is None
    assert unknown(doc)["hyperVGeneration"]["disksShow"] is None
    assert "on the disks not scanned" in run(str(DEMO), "--no-scan").output
    assert doc["shadowCopies"] is None
    assert "  earlier      not scanned (shadow copies inside the disks are found by a scan)\n" in run(
        str(DEMO), "--no-scan").output


def test_form1_staging_folder(tmp_path: Path) -> None:
    config = shutil.copy(fixture_file(FORM1_CONFIG), tmp_path)
    for image in sorted((FIXTURES / "images" / "demo-form1").glob("*.vhd.gz")):
        gunzip_to(image, tmp_path)
    doc = show_json(str(tmp_path))
    assert (doc["form"], doc["files"]["config"]) == (1, str(config))
    assert doc["vm"]["name"] == "demo-vm" and doc["vm"]["vmId"]
    os_disk = doc["disks"][0]
    assert os_disk["managed"] is False and os_disk["vhdUri"].endswith("demo-vm-osdisk-20261117-020000.vhd")
    assert os_disk["format"].startswith("vhd-") and doc["os"]["found"][0]["name"].startswith("Windows Server")
    assert doc["recoveryPoint"]["recoveryPointTime"] is None  # a config file has no recovery point document
    assert "az backup recoverypoint show" in unknown(doc)["tiers"]["how"]


def test_form3_bare_image_says_what_would_tell_the_rest(tmp_path: Path) -> None:
    image = volume_fixture("gpt-windows", tmp_path)
    doc = show_json(str(image))
    assert doc["form"] == 3 and doc["vm"]["name"] is None and doc["disks"][0]["id"] == "d0"
    missing = unknown(doc)
    assert missing["osType"]["disksShow"] == "Windows" and "az vm show" in missing["osType"]["how"]
    assert missing["domainController"]["disksShow"] is True
    assert doc["os"]["found"][0]["domainController"] is True and doc["os"]["agrees"] is None
    text = run(str(image)).output
    assert "declared ?" in text and "domain controller on d0-p3" in text


def test_scenario_json_with_nic_vault_and_a_declared_disk_without_image(tmp_path: Path) -> None:
    image = volume_fixture("gpt-windows", tmp_path)
    nic = json.loads((Path(__file__).parent / "scenarios" / "nic-show.json").read_text())
    nic["ipConfigurations"][0]["privateIPAllocationMethod"] = "Static"
    nic["ipConfigurations"][0]["loadBalancerBackendAddressPools"] = [{"id": "/subscriptions/x/lb/pools/web"}]
    doc = show_json(str(write_manifest(tmp_path, [(-1, image)], networkInterfaces=[nic])))
    assert doc["vm"]["vmId"] == "3c1f2a9e-7d4b-4f1a-9e2c-5b8d0a6e4f13" and doc["vm"]["resourceGroup"] == "rg-app"
    (cfg,) = doc["networkInterfaces"][0]["ipConfigurations"]
    assert (cfg["privateIPAddress"], cfg["privateIPAllocationMethod"]) == ("10.20.1.4", "Static")
    assert cfg["loadBalancerBackendAddressPools"] == ["/subscriptions/x/lb/pools/web"]
    assert doc["vault"]["name"] == "rsv-weu" and doc["vault"]["storageRedundancy"]
    lun0 = doc["disks"][1]
    assert (lun0["id"], lun0["image"], lun0["diskSizeGb"], lun0["included"]) == ("lun0", None, 256, True)
    assert doc["os"]["agrees"] is True  # declared Windows, Windows on the disk
    assert "10.20.1.4 (Static), 1 load balancer pool(s)" in run(str(tmp_path)).output


def test_declared_linux_but_windows_on_the_disk(tmp_path: Path) -> None:
    image = volume_fixture("gpt-windows", tmp_path)
    rp = json.loads((Path(__file__).parent / "scenarios" / "recoverypoint-show.json").read_text())
    rp["properties"]["osType"] = "Linux"
    path = write_manifest(tmp_path, [(-1, image)], recoveryPoint=rp, vm=None)
    assert show_json(str(path))["os"]["agrees"] is False
    assert "! declared and found disagree" in run(str(path)).output


def test_bitlocker_seen_and_unlocked_with_the_bek(tmp_path: Path) -> None:
    image = gunzip_to(shared("bitlocker/recovery_key.bin.gz"), tmp_path, "os.raw")
    path = write_manifest(tmp_path, [(-1, image)])
    locked = show_json(str(path))
    assert locked["disks"][0]["encryption"]["seen"] == ["bitlocker"] and locked["evidence"]["volumes"][0]["locked"]
    assert unknown(locked).get("ade") is None  # declared (not encrypted); the plan's C01 reports the mismatch
    opened = show_json(str(path), "--bek", str(shared("bitlocker/recovery_key.bek")))
    assert opened["evidence"]["volumes"][0]["locked"] is False


def test_errors_and_exit_codes(tmp_path: Path) -> None:
    assert run(str(tmp_path / "missing")).exit_code == 2  # usage: the path does not exist
    bad = tmp_path / "recoverypoint.json"
    bad.write_text('{"disks": []}')
    result = run(str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and 'has no "disks" list' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_has_an_example() -> None:
    result = run("--help")
    assert result.exit_code == 0 and "Example:" in result.output and "restorekit show fixtures/demo" in result.output


@pytest.fixture(scope="module")
def ntfs_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ntfs.raw`` of the shared ``vss/ntfs-samples.tgz``: a 64 GiB sparse disk whose NTFS volume has 2 shadow
    copies, the newer one offline (not listed by Windows)."""
    folder = tmp_path_factory.mktemp("ntfs-samples")
    with tarfile.open(shared("vss/ntfs-samples.tgz")) as tar:
        tar.extractall(folder, filter="data")
    return folder / "ntfs.raw"


def test_shadow_copies_are_earlier_points_in_time(ntfs_samples: Path) -> None:
    doc = show_json(str(ntfs_samples))
    assert doc["shadowCopies"] == [
        {"id": "d0-p1@vss1", "volume": "d0-p1", "created": "2020-07-25T12:26:04.398924Z", "listed": True,
         "hiddenReason": None},
        {"id": "d0-p1@vss2", "volume": "d0-p1", "created": "2020-07-25T12:27:05.336448Z", "listed": False,
         "hiddenReason": "offline"}]
    lines = run(str(ntfs_samples)).output.splitlines()
    at = lines.index("  earlier      2 shadow copies on the disks, oldest first; read their files as "
                     "VOLUME@vssN:/path, or the whole volume with dd --volume VOLUME@vssN")
    assert lines[at + 1 : at + 3] == ["    d0-p1@vss1    2020-07-25T12:26:04.398924Z",
                                      "    d0-p1@vss2    2020-07-25T12:27:05.336448Z  not listed by Windows (offline)"]


def test_plan_names_the_shadow_copies_restorekit_reads(ntfs_samples: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(ntfs_samples), "--option", "files", "--json"])
    rk = json.loads(result.stdout)["options"][0]["restorekit"]
    assert rk["shadowCopies"] == ["d0-p1@vss1", "d0-p1@vss2"] and rk["readableVolumes"] == ["d0-p1"]
    assert rk["note"].endswith("earlier versions too: 2 shadow copies (2020-07-25, 1 of them not listed by Windows) "
                               "of d0-p1; restorekit reads their files as VOLUME@vssN:/path (d0-p1@vss1 is the oldest)")
    assert CliRunner().invoke(cli, ["plan", str(DEMO), "--option", "files", "--json"]).exit_code == 0


def test_no_shadow_copies_and_volumes_not_searched(tmp_path: Path) -> None:
    assert show_json(str(DEMO))["shadowCopies"] == []
    assert "  earlier      no shadow copies on the disks\n" in run(str(DEMO)).output
    image = volume_fixture("luks1", tmp_path)
    assert "  earlier      no shadow copies on the disks (d0 locked: not searched)\n" in run(str(image)).output
