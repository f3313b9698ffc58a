"""Opening the three recovery-point forms, with JSON shaped as Azure writes it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from restorekit.fs.errors import RecoveryPointError
from restorekit.jsonio import ci_get, decode_json_bytes, unflatten
from restorekit.recoverypoint import open_recovery_point
from tests.conftest import shared

STAGING = "https://acct.blob.core.windows.net/vm1-3f2a"
CONFIG = {
    "name": "vm1",
    "Location": "westeurope",
    "properties.hardwareProfile": {"vmSize": "Standard_D2as_v5"},
    "properties.StorageProfile": {
        "osDisk": {"osType": "Linux", "name": "vm1_OsDisk", "vhd": {"uri": f"{STAGING}/vm1-osdisk-20240826-184151.vhd"},
                   "createOption": "Attach", "caching": "ReadWrite", "managedDisk": None, "encryptionSettings": None},
        "dataDisks": [{"lun": 0, "name": "vm1_data0",
                       "vhd": {"uri": f"{STAGING}/vm1-datadisk-000-20240826-184151.vhd"}}],
    },
    "plan": None,
}


def staging_folder(tmp_path: Path, encoding: str = "utf-16") -> Path:
    """A restore-disks staging folder: UTF-16 config with trailing NULs, VHDs named by their URIs."""
    raw = json.dumps(CONFIG).encode(encoding) + "\0\0".encode("utf-16-le")
    (tmp_path / "config-vm1-7d3c1a2e-0000-4000-8000-000000000001.json").write_bytes(raw)
    shutil.copy(shared("dfvfs/ext2.vhd"), tmp_path / "vm1-osdisk-20240826-184151.vhd")
    shutil.copy(shared("dfvfs/image.vhd"), tmp_path / "vm1-datadisk-000-20240826-184151.vhd")
    return tmp_path


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8", "utf-8-sig"])
def test_form1_staging_folder(tmp_path: Path, encoding: str) -> None:
    rp = open_recovery_point([staging_folder(tmp_path, encoding)])
    assert rp.form == "restore-disks-folder"
    assert [(d.id, d.lun, d.image.name) for d in rp.disks] == [
        ("os", -1, "vm1-osdisk-20240826-184151.vhd"),
        ("lun0", 0, "vm1-datadisk-000-20240826-184151.vhd"),
    ]
    assert ci_get(rp.vm, "hardwareProfile", "vmSize") == "Standard_D2as_v5"
    assert ci_get(rp.vm, "storageProfile", "osDisk", "osType") == "Linux"


def test_form1_missing_vhd_names_the_uri(tmp_path: Path) -> None:
    folder = staging_folder(tmp_path)
    (folder / "vm1-datadisk-000-20240826-184151.vhd").unlink()
    with pytest.raises(RecoveryPointError, match=r"lun0 image 'vm1-datadisk-000-20240826-184151\.vhd'"):
        open_recovery_point([folder])


def test_form2_manifest(tmp_path: Path) -> None:
    (tmp_path / "disks").mkdir()
    shutil.copy(shared("dfvfs/ext2.vhd"), tmp_path / "disks" / "os.vhd")
    manifest = {"vm": {"name": "vm1", "storageProfile": {"osDisk": {"osType": "Linux"}}},
                "facts": {"generalized": False, "somethingNew": 1},
                "disks": [{"lun": -1, "image": "disks/os.vhd"}]}
    (tmp_path / "recoverypoint.json").write_text(json.dumps(manifest))
    for given in (tmp_path, tmp_path / "recoverypoint.json"):
        rp = open_recovery_point([given])
        assert rp.form == "manifest"
        assert [(d.id, d.image) for d in rp.disks] == [("os", (tmp_path / "disks/os.vhd").resolve())]
        assert rp.facts == {"generalized": False, "somethingNew": 1}


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({}, 'has no "disks" list'),
        ({"disks": [{"lun": -1}]}, 'disks\\[0\\] has no "image"'),
        ({"disks": [{"lun": "zero", "image": "x.vhd"}]}, r"disks\[0\]\.lun: expected a LUN from 0 to 63"),
        ({"disks": [{"lun": 0, "image": "nothere.vhd"}]}, "'nothere.vhd' not found"),
    ],
)
def test_form2_bad_manifest(tmp_path: Path, manifest: dict, message: str) -> None:
    (tmp_path / "recoverypoint.json").write_text(json.dumps(manifest))
    with pytest.raises(RecoveryPointError, match=message):
        open_recovery_point([tmp_path])


def test_form2_duplicate_lun(tmp_path: Path) -> None:
    shutil.copy(shared("dfvfs/ext2.vhd"), tmp_path / "a.vhd")
    (tmp_path / "recoverypoint.json").write_text(json.dumps(
        {"disks": [{"lun": 0, "image": "a.vhd"}, {"lun": 0, "image": "a.vhd"}]}))
    with pytest.raises(RecoveryPointError, match=r"two disks have the id lun0"):
        open_recovery_point([tmp_path])


def test_broken_json_names_line(tmp_path: Path) -> None:
    (tmp_path / "recoverypoint.json").write_text('{"disks": [\n  {"lun": 0,,}\n]}')
    with pytest.raises(RecoveryPointError, match="line 2"):
        open_recovery_point([tmp_path])


def test_form3_images_in_argument_order() -> None:
    rp = open_recovery_point([shared("dfvfs/image.vhd"), shared("dfvfs/ext2.vhd")])
    assert rp.form == "images"
    assert [(d.id, d.image.name) for d in rp.disks] == [("d0", "image.vhd"), ("d1", "ext2.vhd")]


def test_folder_without_recovery_point(tmp_path: Path) -> None:
    with pytest.raises(RecoveryPointError, match=r"neither recoverypoint\.json nor"):
        open_recovery_point([tmp_path])


def test_unflatten_merges_case_insensitively() -> None:
    doc = unflatten({"properties.storageProfile": {"osDisk": {"a": 1}}, "Properties.hardwareProfile": {"x": 2}})
    assert doc == {"properties": {"storageProfile": {"osDisk": {"a": 1}}, "hardwareProfile": {"x": 2}}}


def test_decode_utf16_trailing_nuls() -> None:
    assert decode_json_bytes('{"a": 1}'.encode("utf-16") + b"\0\0\0\0") == '{"a": 1}'
