"""The VHD reader against pyvhdi and the raw truth, on real images, plus its errors on damaged copies.

The dfvfs images in ../shared/testdata were made by qemu and Windows; damaged variants are copies of them
with bytes changed in tmp_path, so every error is met on a real image.
"""

from __future__ import annotations

import itertools
import shutil
import struct
from pathlib import Path

import pytest
import pyvhdi

from restorekit.fs.errors import CorruptImageError, ParentError, UnknownFormatError
from restorekit.fs.image import open_image
from restorekit.fs.images.bitmap import bitmap_runs
from restorekit.fs.images.vhd import vhd_checksum
from restorekit.fs.stream import ExtentKind
from tests.conftest import shared

DFVFS = ["ext2.vhd", "image.vhd", "image-differential.vhd"]


def pyvhdi_bytes(path: Path, parents: list[Path]) -> bytes:
    """The whole virtual disk as libvhdi reads it, parents opened explicitly (child first)."""
    files = []
    for p in [path, *parents]:
        f = pyvhdi.file()
        f.open(str(p))
        files.append(f)
    for child, parent in itertools.pairwise(files):
        child.set_parent(parent)
    data = files[0].read_buffer_at_offset(files[0].get_media_size(), 0)
    for f in files:
        f.close()
    return data


@pytest.mark.parametrize("name", DFVFS)
def test_dfvfs_images_read_like_pyvhdi(name: str, readonly) -> None:  # type: ignore[no-untyped-def]
    path = shared(f"dfvfs/{name}")
    parents = [shared("dfvfs/image.vhd")] if name == "image-differential.vhd" else []
    readonly([path, *parents])
    with open_image(path) as image:
        assert image.read() == pyvhdi_bytes(path, parents)
        assert image.size == pyvhdi_bytes(path, parents).__len__()


def test_dfvfs_tolerated_checksums_are_warnings() -> None:
    """qemu rejects image.vhd ("Incorrect header checksum"); libvhdi opens it, and so do we, saying so."""
    with open_image(shared("dfvfs/image.vhd")) as image:
        assert image.format == "vhd-dynamic"
        assert any("footer checksum is wrong" in w for w in image.warnings)
    with open_image(shared("dfvfs/image-differential.vhd")) as child:
        assert child.format == "vhd-differencing"
        assert child.chain == [str(shared("dfvfs/image-differential.vhd")), str(shared("dfvfs/image.vhd"))]
        assert any("dynamic header checksum is wrong" in w for w in child.warnings)


def test_differential_reads_same_bytes_as_parent() -> None:
    """The README says the dfvfs chain reads back the same bytes as its parent."""
    with open_image(shared("dfvfs/image-differential.vhd")) as child, open_image(shared("dfvfs/image.vhd")) as base:
        assert child.read() == base.read()


def test_missing_parent_names_every_path_tried() -> None:
    path = shared("dfvfs/fat-differential.vhd")
    with pytest.raises(ParentError) as info:
        open_image(path)
    text = str(info.value)
    assert str(path) in text
    assert str(path.parent / "fat-parent.vhd") in text  # W2ru .\fat-parent.vhd
    assert "C:/Projects/dfvfs/test_data/fat-parent.vhd" in text  # W2ku
    assert "not found" in text


def test_parent_found_by_name_when_locators_fail(tmp_path: Path) -> None:
    """The child's folder is searched for the parent's Unicode name (here the only way to find it)."""
    child = tmp_path / "child.vhd"
    shutil.copy(shared("dfvfs/fat-differential.vhd"), child)
    # No fat-parent.vhd: still an error, but a parent id mismatch once a wrong file of that name is there.
    shutil.copy(shared("dfvfs/image.vhd"), tmp_path / "fat-parent.vhd")
    with pytest.raises(ParentError, match="not the image this child was made from"):
        open_image(child)


def test_extents_map_dynamic_blocks() -> None:
    with open_image(shared("dfvfs/ext2.vhd")) as image:
        runs = list(image.extents())
        assert sum(r.length for r in runs) == image.size
        assert {r.kind for r in runs} == {ExtentKind.DATA, ExtentKind.ZERO}
        assert image.allocated_bytes == 2 << 20
        for run in runs:  # runs tile the disk in order
            assert run.offset == sum(r.length for r in runs[: runs.index(run)])


# -- damaged copies ---------------------------------------------------------------------------------------

def damaged(tmp_path: Path, name: str, edit) -> Path:  # type: ignore[no-untyped-def]
    data = bytearray(shared(f"dfvfs/{name}").read_bytes())
    edit(data)
    out = tmp_path / name
    out.write_bytes(bytes(data))
    return out


def test_truncated_dynamic_vhd(tmp_path: Path) -> None:
    path = damaged(tmp_path, "ext2.vhd", lambda d: d.__delitem__(slice(len(d) - 4096, None)))
    with pytest.raises(CorruptImageError, match="truncated") as info:
        open_image(path)
    assert str(path) in str(info.value) and "offset 0x" in str(info.value)


def test_bad_footer_checksum_with_implausible_fields(tmp_path: Path) -> None:
    def edit(d: bytearray) -> None:
        for footer in (len(d) - 512, 0):  # both the footer and its copy: disk type 9, checksums not updated
            d[footer + 60 : footer + 64] = struct.pack(">I", 9)
    path = damaged(tmp_path, "ext2.vhd", edit)
    with pytest.raises(CorruptImageError, match="footer checksum is wrong") as info:
        open_image(path)
    assert "offset 0x" in str(info.value)


def test_bad_footer_checksum_uses_valid_copy_at_start(tmp_path: Path) -> None:
    def edit(d: bytearray) -> None:
        d[-512 + 28] ^= 0xFF  # creator application byte: checksum now wrong, copy at offset 0 intact
    path = damaged(tmp_path, "ext2.vhd", edit)
    with open_image(path) as image:
        assert any("used its copy at offset 0" in w for w in image.warnings)
        assert image.read() == open_image(shared("dfvfs/ext2.vhd")).read()


def test_bat_entry_past_end_of_file(tmp_path: Path) -> None:
    def edit(d: bytearray) -> None:
        d[1536 : 1536 + 4] = struct.pack(">I", 0x00FFFFFF)  # BAT entry 0 -> sector far past the end
    path = damaged(tmp_path, "ext2.vhd", edit)
    with pytest.raises(CorruptImageError, match="entry 0 points at") as info:
        open_image(path)
    assert "offset 0x00000600" in str(info.value)


def test_bad_dynamic_header_block_size(tmp_path: Path) -> None:
    def edit(d: bytearray) -> None:
        header = 512
        d[header + 32 : header + 36] = struct.pack(">I", 3000)
        d[header + 36 : header + 40] = struct.pack(">I", vhd_checksum(bytes(d[header : header + 1024]), 36))
    path = damaged(tmp_path, "ext2.vhd", edit)
    with pytest.raises(CorruptImageError, match="block size 3000"):
        open_image(path)


def test_cyclic_chain(tmp_path: Path) -> None:
    """A child whose parent locator names the child itself."""
    src = shared("dfvfs/fat-differential.vhd").read_bytes()
    data = bytearray(src)
    # Rewrite the W2ru locator (.\fat-parent.vhd, 32 bytes at 12288) to .\loop-a.vhd, 30 bytes, zero-padded.
    name = ".\\loop-a.vhd".encode("utf-16-le")
    data[12288 : 12288 + 32] = name.ljust(32, b"\0")
    (tmp_path / "loop-a.vhd").write_bytes(bytes(data))
    with pytest.raises(ParentError, match="cyclic"):
        open_image(tmp_path / "loop-a.vhd")


def test_named_vhd_without_footer_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "disk.vhd"
    path.write_bytes(bytes(4096))
    with pytest.raises(UnknownFormatError, match="no VHD signature"):
        open_image(path)


def test_foreign_format_is_named(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    path.write_bytes(b"QFI\xfb" + bytes(4092))
    with pytest.raises(UnknownFormatError, match="qcow2"):
        open_image(path)


@pytest.mark.parametrize(
    ("bitmap", "count", "runs"),
    [
        (b"\xff\xff", 16, [(0, 16, True)]),
        (b"\x00\x00", 16, [(0, 16, False)]),
        (b"\xf0\x0f", 16, [(0, 4, True), (4, 12, False), (12, 16, True)]),
        (b"\x80\x01", 16, [(0, 1, True), (1, 15, False), (15, 16, True)]),
        (b"\xff\xff", 12, [(0, 12, True)]),
    ],
)
def test_bitmap_runs(bitmap: bytes, count: int, runs: list[tuple[int, int, bool]]) -> None:
    assert list(bitmap_runs(bitmap, count, msb_first=True)) == runs


def test_dynamic_block_bitmap_is_honoured(tmp_path: Path) -> None:
    """Sectors whose bitmap bit is clear read as zeros in a dynamic disk, as libvhdi (and Windows) read them."""
    def edit(d: bytearray) -> None:
        block0 = struct.unpack(">I", d[1536:1540])[0] * 512
        d[block0 : block0 + 1] = b"\x0f"  # sectors 0-3 of block 0 not present, 4-7 present
    path = damaged(tmp_path, "ext2.vhd", edit)
    with open_image(path) as image:
        data = image.read()
        assert data == pyvhdi_bytes(path, [])
        assert data[: 4 * 512] == bytes(4 * 512)
        assert data[4 * 512 : 8 * 512] == open_image(shared("dfvfs/ext2.vhd")).pread(4 * 512, 4 * 512)
