"""Azure's file recovery (R86-R104) and the metadata-vs-disk checks (C01-C05): fire and quiet.

Evidence here is what ``restorekit.fs.scan`` reports per volume (``VolumeInfo.to_dict()``); test_plan_evidence.py
runs the real scan on the shared BitLocker/LUKS images.
"""

from __future__ import annotations

from typing import Any

import pytest

from restorekit.rules import BY_ID
from tests.restore.scenario_kit import ADE, LINUX, LINUX_VOLUMES, UNMANAGED, WINDOWS_VOLUMES, by_rule, merge

ILR, NEW = "files", "create-vm"


def volume(vid: str, **fields: Any) -> dict[str, Any]:
    """One scanned volume as fs.scan reports it."""
    base = {"id": vid, "disk": vid.split("-")[0].split("/")[0], "partitionType": None, "filesystem": None,
            "encryption": None, "locked": False, "container": None, "os": None, "dedup": False}
    return {**base, **fields}


def with_volumes(*extra: dict[str, Any], linux: bool = False) -> dict[str, Any]:
    """The base (or Linux) scenario with more volumes."""
    base = LINUX if linux else {}
    return merge(base, {"evidence": (LINUX_VOLUMES if linux else WINDOWS_VOLUMES) + list(extra)})


WIN_PLAIN = {"evidence": WINDOWS_VOLUMES}
LINUX_PLAIN = merge(LINUX, {"evidence": LINUX_VOLUMES[:1]})
BITLOCKER = volume("lun0-p2", encryption="bitlocker", locked=True)

CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("R86", ILR, ADE, {}),
    ("R87", ILR, {"rp": {"properties.securityType": "TrustedLaunch"}}, {}),
    ("R88", ILR, merge(UNMANAGED, {"facts": {"networkRestrictedStorage": True}}), UNMANAGED),
    ("R89", ILR, {"vm": {"storageProfile.dataDisks.0.writeAcceleratorEnabled": True}}, {}),
    ("R90", ILR, with_volumes(volume("lun0-p2", container="storage-spaces")), WIN_PLAIN),
    ("R91", ILR, with_volumes(volume("lun0-p2", partitionType="ldm-data", container="ldm")), WIN_PLAIN),
    ("R92", ILR, with_volumes(linux=True), LINUX_PLAIN),
    ("R93", ILR, {"rp": {"properties.recoveryPointDiskConfiguration.numberOfDisksAttachedToVm": 20}}, {}),
    ("R94", ILR, {"request": {"client_os": "Windows 8.1"}}, {"request": {"client_os": "Windows Server 2019"}}),
    ("R95", ILR, merge(LINUX_PLAIN, {"request": {"client_os": "Ubuntu 10.04"}}), LINUX_PLAIN),
    ("R96", ILR, merge(LINUX_PLAIN, {"request": {"client_os": "SLES 12 SP4"}}),
     merge(LINUX_PLAIN, {"request": {"client_os": "SLES 15 SP5"}})),
    ("R97", ILR, {"facts": {"clientOutbound3260": False}}, {}),
    ("R99", ILR, with_volumes(volume("lun0-p2", encryption="veracrypt", locked=True)), WIN_PLAIN),
    ("R100", ILR, merge(with_volumes(volume("lun0-p2", filesystem="ntfs", dedup=True)),
                        {"facts": {"clientHasDedup": False}}), with_volumes(volume("lun0-p2", filesystem="ntfs",
                                                                                      dedup=True))),
    ("R101", ILR, {"facts": {"recoverySizeGB": 40}}, {}),
    ("R102", ILR, {"facts": {"clientIsBackedUp": True}}, {}),
    ("R103", ILR, {"facts": {"clientLocaleEnglish": False}}, {}),
    ("R104", ILR, with_volumes(volume("lun1", filesystem="ext4"), linux=True), LINUX_PLAIN),
    ("C01", NEW, with_volumes(BITLOCKER), {}),
    ("C02", NEW, {"rp": {"properties.osType": "Linux"}, "vm": {"storageProfile.osDisk.osType": "Linux"}}, LINUX_PLAIN),
    ("C03", NEW, {"facts": {"hyperVGeneration": "V1"}}, {"facts": {"hyperVGeneration": "V2"}}),
    ("C04", NEW, {"evidence": [volume("os-p3", filesystem="ntfs", os={"family": "windows",
                                                                     "domainController": True})]}, {}),
    ("C05", NEW, {"disk_sizes": {"os": 1 << 30}}, {}),
]


@pytest.mark.parametrize(("rule_id", "option", "fire", "quiet"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires_and_stays_quiet(rule_id: str, option: str, fire: dict[str, Any], quiet: dict[str, Any]) -> None:
    rule = BY_ID[rule_id]
    fired = by_rule(option, rule_id, fire)
    assert [f.severity for f in fired] == [rule.severity], fired
    assert fired[0].evidence, "a finding says what was seen"
    assert by_rule(option, rule_id, quiet) == []


def test_r98_is_not_decided_offline() -> None:
    assert BY_ID["R98"].coverage == "not-applicable"
    assert by_rule(ILR, "R98", {"facts": {"clientOutbound3260": False}}) == []


def test_client_os_missing_is_unknown_with_the_flag() -> None:
    (f,) = by_rule(ILR, "R94", {"request": {"client_os": None}})
    assert f.severity == "unknown" and "--client-os" in f.message and "--client-os-release" in f.message


def test_client_os_release_file_decides(tmp_path: Any) -> None:
    from restorekit.request import load_os_release

    path = tmp_path / "os-release"
    path.write_text('NAME="SLES"\nVERSION="12-SP4"\nVERSION_ID="12.4"\nID="sles"\n')
    release = load_os_release(path)
    (f,) = by_rule(ILR, "R96", merge(LINUX_PLAIN, {"request": {"client_os": None, "client_os_release": release}}))
    assert f.severity == "block" and "sles 12.4" in (f.evidence or "")


def test_layout_rules_need_a_scan() -> None:
    (f,) = by_rule(ILR, "R92", {"evidence": None})
    assert f.severity == "unknown" and "disk images" in f.message


def test_encryption_seen_but_undeclared_still_blocks_file_recovery() -> None:
    undeclared = {"rp": {"properties.isSourceVMEncrypted": None}, "drop": ("vm",)}
    (f,) = by_rule(ILR, "R86", merge(with_volumes(BITLOCKER), undeclared))
    assert f.severity == "block" and "lun0-p2 (bitlocker)" in (f.evidence or "")



def _used(*extra: int) -> dict[str, Any]:
    """The base scenario without a declared copy size; its volumes hold nothing, plus NTFS volumes holding ``extra``."""
    vols = [{**v, "used": 0} for v in WINDOWS_VOLUMES]
    vols += [volume(f"lun0-p{i}", filesystem="ntfs", used=u) for i, u in enumerate(extra, 2)]
    return {"evidence": vols, "facts": {"recoverySizeGB": None}}


def test_r101_quiet_when_the_volumes_hold_10_gb_or_less() -> None:
    assert by_rule(ILR, "R101", _used(3 << 30, 2 << 30)) == []


def test_r101_asks_for_the_size_when_the_volumes_hold_more_or_an_unknown_amount() -> None:
    (f,) = by_rule(ILR, "R101", _used(20 << 30))
    assert f.severity == "unknown" and "recoverySizeGB" in f.message and "the volumes hold 20.0 GB" in f.message
    unknown_use = _used(1 << 30)
    unknown_use["evidence"][-1]["used"] = None
    (f,) = by_rule(ILR, "R101", unknown_use)
    assert f.severity == "unknown" and "the volumes hold" not in f.message
