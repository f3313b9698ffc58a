"""The committed fixtures are complete, intact and within the size budget (no reader is tested here).

Everything under ``fixtures/images/`` (base.raw, its VHD/VHDX conversions, the VHD chain, the Form 1 disks),
``fixtures/demo/`` and ``fixtures/demo-form1/`` is made by ``python fixtures/build.py``; ``fixtures/manifest.json``
says what each image must read as. See ``fixtures/README.md``.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from fixtures.vhd_writer import Parent, apply_writes, write_vhd
from tests.conftest import FIXTURES, fixture_file

# What the repository stores (gzip files as they are, other files as git's zlib would) and what a checkout
# occupies. The demo images are uncompressed so `restorekit inspect fixtures/demo` works: a VHDX made by
# qemu-img is at least 8 MiB and a dynamic VHD's blocks are 2 MiB, so the checkout is larger than the store.
COMMITTED_BUDGET = 10_000_000
CHECKOUT_BUDGET = 32 << 20


def manifest() -> dict[str, Any]:
    return json.loads(fixture_file("manifest.json").read_text(encoding="utf-8"))


IMAGES = manifest()["images"]


def digest_and_size(path: Path) -> tuple[str, int]:
    """sha256 and length of a file's content, decompressed if it is ``*.gz``."""
    h = hashlib.sha256()
    size = 0
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_every_manifest_image_and_its_chain_exist() -> None:
    assert {i["format"] for i in IMAGES} == {"raw", "vhd-fixed", "vhd-dynamic", "vhd-differencing", "vhdx-fixed",
                                             "vhdx-dynamic"}
    for image in IMAGES:
        fixture_file(image["path"])
        for parent in image["chain"]:
            assert any(i["path"] == parent for i in IMAGES), f"{image['path']}: parent {parent} not in manifest"
        if "expected_raw" in image:
            fixture_file(image["expected_raw"])
        assert image["layout"] in manifest()["layouts"]


@pytest.mark.parametrize("image", IMAGES, ids=[i["path"] for i in IMAGES])
def test_image_file_is_intact(image: dict[str, Any]) -> None:
    """Each file decompresses to the bytes the build recorded; a raw image is its own virtual disk."""
    digest, size = digest_and_size(fixture_file(image["path"]))
    assert (digest, size) == (image["file_sha256"], image["file_size"])
    if image["format"] == "raw":
        assert (digest, size) == (image["sha256"], image["virtual_size"])
    if "expected_raw" in image:
        assert digest_and_size(fixture_file(image["expected_raw"])) == (image["sha256"], image["virtual_size"])


def test_every_gzip_file_under_fixtures_decompresses() -> None:
    gz = [p for p in fixture_files() if p.suffix == ".gz"]
    assert gz
    for path in gz:
        digest_and_size(path)  # raises on a truncated or corrupt stream


def test_fixtures_fit_the_size_budget() -> None:
    committed = checkout = 0
    for path in fixture_files():
        data = path.read_bytes()
        checkout += len(data)
        committed += len(data) if path.suffix == ".gz" else len(zlib.compress(data, 6))
    assert committed <= COMMITTED_BUDGET, f"fixtures store {committed} bytes compressed; budget {COMMITTED_BUDGET}"
    assert checkout <= CHECKOUT_BUDGET, f"fixtures occupy {checkout} bytes in a checkout; budget {CHECKOUT_BUDGET}"


def test_demo_manifest_parses() -> None:
    path = fixture_file("demo/recoverypoint.json")
    rp = json.loads(path.read_text(encoding="utf-8"))
    assert [(d["lun"], d["image"]) for d in rp["disks"]] == [(-1, "disks/os.vhd"), (0, "disks/data0.vhdx")]
    for disk in rp["disks"]:
        assert (path.parent / disk["image"]).is_file()
    assert rp["vm"]["name"] == "demo-vm"
    assert rp["vm"]["hardwareProfile"]["vmSize"] == "Standard_D2s_v5"
    assert rp["vm"]["storageProfile"]["osDisk"]["osType"] == "Windows"
    assert [d["lun"] for d in rp["vm"]["storageProfile"]["dataDisks"]] == [0]
    props = rp["recoveryPoint"]["properties"]
    assert props["objectType"] == "IaasVMRecoveryPoint"
    assert props["recoveryPointType"] == "AppConsistent"
    when = datetime.datetime.fromisoformat(props["recoveryPointTime"])
    assert when == datetime.datetime(2026, 11, 17, 2, tzinfo=datetime.UTC)
    assert when.strftime("%A") == "Tuesday"
    assert rp["facts"] == {}


def test_form1_config_is_utf16_with_nuls_and_names_the_committed_disks() -> None:
    configs = list((FIXTURES / "demo-form1").glob("config-demo-vm-*.json"))
    assert len(configs) == 1
    raw = configs[0].read_bytes()
    assert raw.startswith(b"\xff\xfe")
    body = raw[2:].decode("utf-16-le")
    assert body.endswith("\0") and not body.rstrip("\0").endswith("\0")
    config = json.loads(body.rstrip("\0"))
    storage = config["properties.storageProfile"]
    uris = [storage["osDisk"]["vhd"]["uri"]] + [d["vhd"]["uri"] for d in storage["dataDisks"]]
    for uri in uris:
        fixture_file(f"images/demo-form1/{uri.rsplit('/', 1)[1]}.gz")
    assert config["plan"] is None and config["Location"] == "westeurope"


def test_vhd_writer_child_reads_through_pyvhdi(tmp_path: Path) -> None:
    """The test-only writer's differencing output links to its parent (whole 4 KiB pages; see README)."""
    pyvhdi = pytest.importorskip("pyvhdi")
    size = 4 << 20
    base = bytes(range(256)) * (size // 256)
    write_vhd(tmp_path / "parent.vhd", size=size, writes=[(0, base)])
    writes = [(4096, b"a" * 8192), (2 * 1024 * 1024 - 4096, b"b" * 8192)]
    write_vhd(tmp_path / "child.vhd", size=size, writes=writes,
              parent=Parent.from_file(tmp_path / "parent.vhd"))
    parent, child = pyvhdi.file(), pyvhdi.file()
    parent.open(str(tmp_path / "parent.vhd"))
    child.open(str(tmp_path / "child.vhd"))
    child.set_parent(parent)
    assert child.get_parent_filename() == "parent.vhd"
    assert child.read_buffer_at_offset(size, 0) == bytes(apply_writes(bytearray(base), writes))
    child.close()
    parent.close()
