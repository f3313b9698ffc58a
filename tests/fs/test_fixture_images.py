"""Every fixture image in fixtures/manifest.json read through our image layer, byte for byte.

Each image's virtual bytes must hash to the manifest's ``sha256`` (the raw it was made from, or the expected
raw of a differencing chain computed from its writes), and equal what pyvhdi reads — except where the
manifest records that libvhdi is wrong (``pyvhdi_differs``: libvhdi misreads sector bitmaps, see
fixtures/README.md). The CLI's ``dd`` gives the same bytes, and no image changes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import pyvhdi

from restorekit.fs.image import open_image
from tests.conftest import FIXTURES, gunzip_to

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
IMAGES = {entry["path"]: entry for entry in MANIFEST["images"]}


def materialise(entry: dict, tmp_path: Path) -> Path:
    """The image (and its chain, decompressed beside it under their original names)."""
    paths = []
    for rel in [entry["path"], *entry["chain"]]:
        src = FIXTURES / rel
        paths.append(gunzip_to(src, tmp_path) if rel.endswith(".gz") else src)
    return paths[0]


def sha256_stream(image) -> str:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256()
    for offset in range(0, image.size, 8 << 20):
        digest.update(image.pread(min(8 << 20, image.size - offset), offset))
    return digest.hexdigest()


def pyvhdi_sha256(path: Path) -> str:
    files = []
    current = path
    while True:
        f = pyvhdi.file()
        f.open(str(current))
        files.append(f)
        if not f.parent_identifier:
            break
        current = current.parent / f.parent_filename.replace("\\", "/").rsplit("/", 1)[-1]
    for child, parent in itertools.pairwise(files):
        child.set_parent(parent)
    digest = hashlib.sha256(files[0].read_buffer_at_offset(files[0].get_media_size(), 0)).hexdigest()
    for f in files:
        f.close()
    return digest


@pytest.mark.parametrize("rel", sorted(IMAGES))
def test_image_reads_as_its_raw(rel: str, tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    entry = IMAGES[rel]
    path = materialise(entry, tmp_path)
    readonly([path])
    with open_image(path) as image:
        assert image.format == entry["format"]
        assert image.size == entry["virtual_size"]
        assert len(image.chain) == 1 + len(entry["chain"])
        assert sha256_stream(image) == entry["sha256"]
    if entry["format"] != "raw":
        reference = pyvhdi_sha256(path)
        if "pyvhdi_differs" in entry:
            assert reference != entry["sha256"], "libvhdi was fixed: drop pyvhdi_differs from the manifest"
        else:
            assert reference == entry["sha256"]


def test_three_deep_chain_through_dd(tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    """child2 ← child1 ← base: `restorekit dd` on a pipe gives the expected raw of the whole chain."""
    entry = IMAGES["images/chain-vhd/child2.vhd.gz"]
    path = materialise(entry, tmp_path)
    readonly(sorted(tmp_path.iterdir()))
    proc = subprocess.run([sys.executable, "-m", "restorekit", "dd", str(path), "-o", "-"], capture_output=True,
                          check=True)
    assert hashlib.sha256(proc.stdout).hexdigest() == entry["sha256"]
    out = tmp_path.parent / f"{tmp_path.name}-out.raw"
    subprocess.run([sys.executable, "-m", "restorekit", "dd", str(path), "-o", str(out)], check=True)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == entry["sha256"]
    out.unlink()


def test_demo_is_read_in_place_without_changes(readonly) -> None:  # type: ignore[no-untyped-def]
    disks = sorted((FIXTURES / "demo" / "disks").iterdir())
    readonly([*disks, FIXTURES / "demo" / "recoverypoint.json"])
    for command in (["inspect", "--json"], ["dd", "--disk", "os", "-o", "/dev/null"], ["plan", "--json"]):
        subprocess.run([sys.executable, "-m", "restorekit", command[0], str(FIXTURES / "demo"), *command[1:]],
                       capture_output=True, check=True)
