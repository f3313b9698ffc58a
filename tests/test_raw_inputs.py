"""Raw inputs other tools make: split raw images (dfVFS, TSK naming), non-ASCII names, and paths that are
not image files at all (a FIFO, a character device), which must be refused before they are opened."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared

SPLIT = ["peers/dfvfs/test_data/ext2.splitraw.000", "peers/dfvfs/test_data/ext2.splitraw.001"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, text=True, check=False,
                          timeout=timeout)


@pytest.mark.parametrize("named", [SPLIT[:1], SPLIT, SPLIT[::-1]], ids=["first", "both", "both-reversed"])
def test_split_raw_is_one_disk(named: list[str], readonly) -> None:  # type: ignore[no-untyped-def]
    segments = [shared(s) for s in SPLIT]
    readonly(segments)
    paths = [str(shared(s)) for s in named]
    proc = run("inspect", *paths, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    (disk,) = doc["disks"]
    assert disk["format"] == "raw-split" and disk["image"] == str(segments[0])
    assert disk["chain"] == [str(s) for s in segments]
    assert disk["virtualSize"] == sum(s.stat().st_size for s in segments) == 4 << 20
    (volume,) = doc["volumes"]
    assert volume["filesystem"] == "ext2" and volume["label"] == "ext2_test"

    text = run("inspect", *paths).stdout
    assert f"\n    segment {segments[1]}\n" in text
    listing = run("ls", *paths, "d0:/", "-r")
    assert listing.returncode == 0, listing.stderr
    assert "/a_directory/another_file" in listing.stdout.splitlines()
    cat = run("cat", *paths, "d0:/a_directory/another_file")
    assert cat.returncode == 0 and cat.stdout == "This is another file.\n"


def test_dd_of_split_raw_is_the_concatenation(tmp_path: Path) -> None:
    segments = [shared(s) for s in SPLIT]
    out = tmp_path / "whole.raw"
    proc = run("dd", str(segments[0]), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == b"".join(s.read_bytes() for s in segments)


def test_split_raw_segments_found_by_tsk_naming(tmp_path: Path) -> None:
    """``image.001``, ``image.002``, ``image.003`` (numbering from 1, three segments)."""
    whole = b"".join(shared(s).read_bytes() for s in SPLIT)
    for i, start in enumerate(range(0, len(whole), 3 << 19), 1):
        (tmp_path / f"image.{i:03d}").write_bytes(whole[start:start + (3 << 19)])
    out = tmp_path / "out.raw"
    proc = run("dd", str(tmp_path / "image.001"), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["chain"] == [str(tmp_path / f"image.{i:03d}") for i in (1, 2, 3)]
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(whole).digest()


def test_a_later_segment_alone_warns(tmp_path: Path) -> None:
    proc = run("inspect", str(shared(SPLIT[1])), "--json")
    (disk,) = json.loads(proc.stdout)["disks"]
    assert disk["format"] == "raw" and disk["virtualSize"] == 2 << 20
    assert any(f"starts with {shared(SPLIT[0])}" in w and "larger than this segment" in w for w in disk["warnings"])
    # A lone numbered file is an ordinary raw image.
    alone = tmp_path / "disk.000"
    shutil.copyfile(shared(SPLIT[0]), alone)
    (disk,) = json.loads(run("inspect", str(alone), "--json").stdout)["disks"]
    assert disk["format"] == "raw" and disk["chain"] == [str(alone)] and not disk["warnings"]


def test_non_ascii_image_name(tmp_path: Path) -> None:
    image = shared("peers/dfvfs/test_data/ímynd.dd")
    proc = run("inspect", str(image), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["disks"][0]["image"] == str(image) and doc["volumes"][0]["filesystem"] == "ext2"
    out = tmp_path / "ímynd.raw"
    assert run("dd", str(image), "-o", str(out)).returncode == 0
    assert out.read_bytes() == image.read_bytes()


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "disk.raw"
    os.mkfifo(fifo)
    for command in (["inspect", str(fifo)], ["dd", str(fifo), "-o", os.devnull], ["ls", str(fifo), "d0:/"]):
        proc = run(*command, timeout=30)  # opening a FIFO would block until a writer came
        assert proc.returncode == 1, (command, proc.stderr)
        assert f"{fifo}: is a FIFO (named pipe), not an image file or block device" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_character_device_is_refused() -> None:
    proc = run("dd", "/dev/zero", "-o", os.devnull, timeout=30)  # /dev/zero never ends
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: /dev/zero: is a character device, not an image file or block device")
    assert len(proc.stderr.splitlines()) == 1
