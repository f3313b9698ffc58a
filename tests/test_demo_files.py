"""ls, find, cat and extract on the bundled demo recovery point (``fixtures/demo``, Form 2), end to end.

The demo's volumes are FAT32 (``os-p1``, the EFI system partition), NTFS (``os-p3``, Windows with a real
SOFTWARE hive) and ext4 (``lun0-p1``, in a VHDX). ``fixtures/build.py`` recorded every file it wrote (size,
SHA-256, alternate data streams) in ``fixtures/manifest.json`` and gave each the time ``EPOCH``; the round
trip compares what ``extract`` writes with that record.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from typing import TYPE_CHECKING, Any

from fixtures.build import EPOCH
from tests.conftest import FIXTURES
from tests.test_files import run

if TYPE_CHECKING:
    from pathlib import Path

DEMO = FIXTURES / "demo"
#: manifest layout -> the disk id the demo gives it
DISKS = {"demo-os": "os", "demo-data0": "lun0"}


def recorded_files() -> dict[str, dict[str, Any]]:
    """``volume:/path`` -> the manifest's record of each regular file the build wrote into the demo."""
    layouts = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))["layouts"]
    out = {}
    for layout, disk in DISKS.items():
        for part in layouts[layout]["partitions"]:
            for item in part["files"]:
                if item["type"] == "file" and not item.get("deleted"):
                    out[f"{disk}-p{part['index']}:{item['path']}"] = item
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_extract_every_volume_equals_what_the_build_wrote(tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    guard = readonly(sorted((DEMO / "disks").iterdir()))
    files = recorded_files()
    volumes = sorted({target.split(":")[0] for target in files})
    assert volumes == ["lun0-p1", "os-p1", "os-p3"]
    for volume in volumes:
        out = tmp_path / volume
        code, _out, err = run("extract", str(DEMO), f"{volume}:/", "-o", str(out), "--streams", "--verify")
        assert code == 0, err
        sums = dict(line.split("  ", 1)[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
        for target, item in files.items():
            if not target.startswith(volume + ":"):
                continue
            path = target.split(":", 1)[1]
            written = out / volume / path.lstrip("/")
            assert sha256(written.read_bytes()) == item["sha256"] == sums[f"{volume}{path}"], target
            assert written.stat().st_mtime_ns == EPOCH * 1_000_000_000, target
            for name, stream in item.get("streams", {}).items():
                assert sha256(written.with_name(f"{written.name}.{name}").read_bytes()) == stream["sha256"], target
    guard.check()


def test_ls_find_cat_on_each_file_system() -> None:
    files = recorded_files()
    code, data, _err = run("cat", str(DEMO), "os-p3:/windows/system32/CONFIG/software")
    assert code == 0 and data.startswith(b"regf")
    assert sha256(data) == files["os-p3:/Windows/System32/config/SOFTWARE"]["sha256"]
    code, data, _err = run("cat", str(DEMO), "lun0-p1:/srv/data/customers.csv")
    assert code == 0 and sha256(data) == files["lun0-p1:/srv/data/customers.csv"]["sha256"]
    code, data, _err = run("cat", str(DEMO), "os-p1:/efi/BOOT/BOOTX64.EFI")
    assert code == 0 and sha256(data) == files["os-p1:/EFI/Boot/bootx64.efi"]["sha256"]

    code, data, _err = run("find", str(DEMO), "**/*.EFI")  # every volume; FAT and NTFS ignore case
    assert data.decode().splitlines() == ["os-p1:/EFI/Boot/bootx64.efi", "os-p1:/EFI/Microsoft/Boot/bootmgfw.efi"]
    code, data, _err = run("find", str(DEMO), "**/customers.csv", "--json")
    assert [(e["volume"], e["path"], e["size"]) for e in json.loads(data)] == \
        [("lun0-p1", "/srv/data/customers.csv", 808)]

    code, data, err = run("ls", str(DEMO), "os-p1:/EFI/Microsoft/Boot", "--json")
    entries = {e["name"]: e for e in json.loads(data)}
    assert entries["BCD"]["size"] == 8192 and entries["BCD"]["attributes"] == ["archive"]
    assert entries["bootmgfw.efi"]["mtime"] == "2026-11-10T12:00:00Z"
    assert "os-p1: FAT keeps local time" in err
    code, data, _err = run("ls", str(DEMO), "os-p3:/Windows/System32/config", "-l")
    assert [line.split()[-1] for line in data.decode().splitlines()] == ["SOFTWARE", "SYSTEM"]
    # A recursive long listing names each entry by its path, so same-named files of different folders differ.
    code, data, _err = run("ls", str(DEMO), "os-p1:/EFI", "-l", "-r")
    names = [line.split()[-1] for line in data.decode().splitlines()]
    assert "/EFI/Microsoft/Boot/BCD" in names and "/EFI/Boot/" in names and "/EFI/Microsoft/Boot/" in names


def test_every_volume_the_plan_says_restorekit_reads_lists() -> None:
    """``plan --option files`` claims what the file layer can do; each claimed volume really lists its root."""
    code, data, _err = run("plan", str(DEMO), "--option", "files", "--json")
    claim = json.loads(data)["options"][0]["restorekit"]
    assert claim["canRecover"] is True
    assert sorted(claim["readableVolumes"]) == ["lun0-p1", "os-p1", "os-p3"]
    for volume in claim["readableVolumes"]:
        code, listing, err = run("ls", str(DEMO), f"{volume}:/")
        assert code == 0 and listing, (volume, err)


def test_one_run_across_volumes_one_checksum_file_and_one_tar(tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    """Paths of several volumes go into one folder (one SHA256SUMS for all) or one tar stream."""
    guard = readonly([DEMO / "recoverypoint.json", *sorted((DEMO / "disks").iterdir())])
    files = recorded_files()
    software = files["os-p3:/Windows/System32/config/SOFTWARE"]["sha256"]
    customers = files["lun0-p1:/srv/data/customers.csv"]["sha256"]
    targets = ["os-p3:/Windows/System32/config", "lun0-p1:/srv/data"]
    out = tmp_path / "out"
    code, data, err = run("extract", str(DEMO), *targets, "-o", str(out), "--verify", "--json")
    assert code == 0, err
    report = json.loads(data)
    assert report["failed"] == [] and report["files"] >= 4 and report["bytes"] > 0
    sums = dict(line.split("  ", 1)[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
    assert sums["config/SOFTWARE"] == software and sums["data/customers.csv"] == customers
    assert sha256((out / "data" / "customers.csv").read_bytes()) == customers

    tar_path = tmp_path / "both.tar"
    code, data, err = run("extract", str(DEMO), *targets, "--tar", str(tar_path), "--verify", "--json")
    assert code == 0, err
    assert json.loads(data)["files"] == report["files"]  # counted alike: files and links, not folders
    assert sorted(p.name for p in tmp_path.iterdir()) == ["both.tar", "out"]  # no partial file left
    with tarfile.open(tar_path) as tar:
        assert sha256(tar.extractfile("config/SOFTWARE").read()) == software  # type: ignore[union-attr]
        assert sha256(tar.extractfile("data/customers.csv").read()) == customers  # type: ignore[union-attr]
        listed = tar.extractfile("SHA256SUMS").read().decode()  # type: ignore[union-attr]
        assert f"{software}  config/SOFTWARE" in listed and f"{customers}  data/customers.csv" in listed
    guard.check()


def _fingerprints(paths: list[Path]) -> list[tuple[str, int]]:
    return [(sha256(p.read_bytes()), p.stat().st_mtime_ns) for p in paths]


def test_outputs_never_land_on_the_recovery_points_files(tmp_path: Path) -> None:
    """The images and the manifest are never written, replaced or given a name of an output (by inode: a hard
    link counts); writing beside them, into the recovery point's folders, is the user's choice and works."""
    demo = tmp_path / "demo"
    shutil.copytree(DEMO, demo)
    own = [demo / "recoverypoint.json", *sorted((demo / "disks").iterdir())]
    before = _fingerprints(own)
    for output, what in ((["--tar", str(demo / "disks" / "os.vhd")], "an image"),
                         (["--tar", str(demo / "recoverypoint.json")], "the JSON")):
        code, _out, err = run("extract", str(demo), "lun0-p1:/srv/data", *output, "--overwrite")
        assert code == 1 and err == (f"Error: {output[1]}: is {what} of this recovery point; it is never written "
                                     "or replaced. Choose a --tar file that is not one of its files\n"), err
    # An output folder where one file to write is (a hard link to) an image: that file fails, the rest is written.
    out = demo / "disks" / "restored"
    (out / "data").mkdir(parents=True)
    (out / "data" / "customers.csv").hardlink_to(demo / "disks" / "data0.vhdx")
    code, _out, err = run("extract", str(demo), "lun0-p1:/srv/data", "-o", str(out), "--overwrite")
    assert code == 1 and f"Error: lun0-p1:/srv/data/customers.csv: {out}/data/customers.csv: is an image " in err
    assert "0 unchanged, 0 skipped, 1 failed" in err
    assert sorted(p.name for p in (out / "data").iterdir()) == ["README.txt", "backups", "customers.csv", "logs"]
    # Beside the images: fine.
    code, _out, err = run("extract", str(demo), "lun0-p1:/srv/data", "-o", str(demo / "disks"), "--verify")
    assert code == 0, err
    assert (demo / "disks" / "data" / "customers.csv").read_bytes() != b""
    code, _out, err = run("template", str(demo), "-o", str(demo))
    assert code == 0, err
    assert _fingerprints(own) == before


def test_json_summary_needs_stdout_free() -> None:
    code, _out, err = run("extract", str(DEMO), "lun0-p1:/srv/data", "--tar", "-", "--json")
    assert code == 2 and "--tar FILE" in err


def test_cat_json_gives_each_file_and_the_sha256_of_its_bytes() -> None:
    files = recorded_files()
    code, data, err = run("cat", str(DEMO), "lun0-p1:/srv/data/customers.csv", "os-p1:/EFI/Boot/bootx64.efi", "--json")
    assert code == 0, err
    docs = {f"{d['volume']}:{d['path']}": d for d in json.loads(data)}
    for target in ("lun0-p1:/srv/data/customers.csv", "os-p1:/EFI/Boot/bootx64.efi"):
        assert docs[target]["sha256"] == files[target]["sha256"]
        assert docs[target]["size"] == files[target]["size"] and docs[target]["stream"] is None
