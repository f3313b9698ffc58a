"""NTFS valid data length: bytes past a ``$DATA`` attribute's VDL read as zeros, whatever the clusters hold.

``fixtures/images/files/ntfs-vdl.img.gz`` is made by ``python -m fixtures.build_vdl`` (mkntfs, ntfs-3g,
``ntfsfallocate``, ``ntfstruncate``): ``/vdl.bin`` is 65,536 bytes with a VDL of 5,000 over clusters that hold
0xAA from a deleted file; the stream ``/ads.txt:stream`` is 65,536 bytes with a VDL of 3,000.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fixtures.build_vdl import GROWN, STALE, WRITTEN
from restorekit.fs.entry import Run
from restorekit.fs.filesystems.ntfs import zero_past
from restorekit.fs.stream import ExtentKind
from tests.conftest import fixture_file, gunzip_to
from tests.fs.volume_images import scan_files
from tests.test_files import run

if TYPE_CHECKING:
    from pathlib import Path


def expected(name: str) -> bytes:
    data = WRITTEN[name]
    return data + bytes(GROWN - len(data))


def test_past_the_vdl_is_zero_not_what_the_clusters_hold(tmp_path: Path) -> None:
    image = gunzip_to(fixture_file("images/files/ntfs-vdl.img.gz"), tmp_path)
    volumes, _disks = scan_files([image])
    fs = volumes["d0"].fs
    assert fs is not None
    entry = fs.stat("/vdl.bin")
    extents = list(fs.extents(entry))
    assert [(e.kind, e.length) for e in extents] == [(ExtentKind.DATA, 5000), (ExtentKind.ZERO, GROWN - 5000)]
    raw = image.read_bytes()  # the volume starts at offset 0 of the image
    clusters = b"".join(raw[offset : offset + length] for offset, length, _flags in
                        (entry.handle.get_extent(i) for i in range(entry.handle.get_number_of_extents())))
    assert clusters[8192:GROWN] == bytes([STALE]) * (GROWN - 8192)  # what a copy of the clusters would leak
    assert fs.open_stream(entry).read() == expected("/vdl.bin")
    ads = fs.open_stream(fs.stat("/ads.txt"), "stream")
    assert ads.read() == expected("/ads.txt:stream")


def test_cat_and_extract_write_zeros_past_the_vdl(tmp_path: Path) -> None:
    (tmp_path / "rp").mkdir()
    image = gunzip_to(fixture_file("images/files/ntfs-vdl.img.gz"), tmp_path / "rp")
    code, out, _err = run("cat", str(image), "d0:/vdl.bin")
    assert code == 0 and out == expected("/vdl.bin")
    code, out, _err = run("cat", str(image), "d0:/ads.txt:stream")
    assert code == 0 and out == expected("/ads.txt:stream")
    code, _out, err = run("extract", str(image), "d0:/vdl.bin", "d0:/ads.txt", "-o", str(tmp_path / "out"),
                          "--streams")
    assert code == 0, err
    assert (tmp_path / "out" / "vdl.bin").read_bytes() == expected("/vdl.bin")
    assert (tmp_path / "out" / "ads.txt.stream").read_bytes() == expected("/ads.txt:stream")


def test_zero_past_splits_the_run_that_holds_the_vdl() -> None:
    runs = [Run(0, 4096, 1000), Run(4096, 4096, None), Run(8192, 8192, 50000)]
    assert zero_past(runs, 10000) == [Run(0, 4096, 1000), Run(4096, 4096, None), Run(8192, 1808, 50000),
                                      Run(10000, 6384, None)]
    assert zero_past(runs, 0) == [Run(0, 4096, None), Run(4096, 4096, None), Run(8192, 8192, None)]
    assert zero_past(runs, 1 << 20) == runs
