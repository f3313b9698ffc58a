"""Damaged fields of real images that once raised struct.error, RecursionError or read without bound (issue #13).

Each test takes a real image (LVM2 by vgcfgrestore, md superblocks checked by ``mdadm --examine``, from
``fixtures/build_volumes.py``; VHD and VHDX by the project's writers and qemu-img), damages one field, and checks
the scan ends with the reason as a warning on the volume, or opening ends with one clear error.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

import pytest

from fixtures.vhd_writer import Parent, write_vhd
from restorekit.fs.containers.lvm_text import MAX_NESTING, parse_lvm_text
from restorekit.fs.containers.mdraid import superblock_1_checksum
from restorekit.fs.errors import CorruptImageError, VolumeError
from restorekit.fs.image import open_image
from restorekit.fs.images.vhd import MAX_LOCATOR
from restorekit.fs.images.vhdx_log import MAX_LOG_LENGTH
from tests.conftest import fixture_file, gunzip_to
from tests.fs.test_parser_mutations import vhdx_fixup
from tests.fs.volume_images import scan_files, volume_fixture

if TYPE_CHECKING:
    from pathlib import Path

PART = 2048 * 512  # the fixtures' first partition
LABEL = PART + 512  # the LVM label (sector 1 of the PV)
MDA = PART + 4096  # the PV's metadata area, and the md 1.2 superblock
MiB = 1 << 20


def _patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


# -- LVM2 -----------------------------------------------------------------------------------------------------


def test_lvm_text_nested_2000_deep_is_malformed_not_a_recursion_error() -> None:
    with pytest.raises(VolumeError, match=f"sections are nested more than {MAX_NESTING} deep"):
        parse_lvm_text("vg {" + " a {" * 2000 + " }" * 2001, volume="d0-p1")
    with pytest.raises(VolumeError, match="unexpected '\\[' in a list"):
        parse_lvm_text("a = " + "[" * 2000 + "]" * 2000)


def test_lvm_pv_with_metadata_nested_2000_deep_is_a_warning(tmp_path: Path) -> None:
    path = volume_fixture("lvm-a", tmp_path)
    text_at = struct.unpack_from("<Q", path.read_bytes(), MDA + 40)[0]
    nested = ("vgdata {" + " a {" * 2000 + " }" * 2001).encode()
    _patch(path, MDA + text_at, nested + b"\0")
    _patch(path, MDA + 48, struct.pack("<Q", len(nested)))
    volumes, _ = scan_files([path])
    assert volumes["d0-p1"].container == "lvm2"
    assert volumes["d0-p1"].warnings == [
        f"d0-p1: LVM2 metadata area is damaged: LVM2 metadata text is malformed: sections are nested more than "
        f"{MAX_NESTING} deep (LVM writes 4) (at offset 0x00000200). Another PV of the same VG may hold a good copy"]


def test_lvm_label_whose_header_offset_points_past_its_sector_is_a_warning(tmp_path: Path) -> None:
    path = volume_fixture("lvm-a", tmp_path)
    _patch(path, LABEL + 20, struct.pack("<I", 4096))
    volumes, _ = scan_files([path])
    assert volumes["d0-p1"].warnings == [
        "d0-p1: LVM2 label places its PV header at byte 4096 of the label sector, outside it (at offset 0x00000214). "
        "The PV label is damaged; another PV of the same VG may hold the VG's metadata"]


def test_lvm_pv_truncated_inside_its_metadata_area_header_is_a_warning(tmp_path: Path) -> None:
    path = volume_fixture("lvm-a", tmp_path)
    os.truncate(path, MDA + 100)
    volumes, _ = scan_files([path])
    assert volumes["d0-p1"].container == "lvm2"
    assert any("metadata area header at 4096 lies past the end of the PV (4196 bytes); the PV is truncated" in w
               for w in volumes["d0-p1"].warnings), volumes["d0-p1"].warnings


# -- mdadm ----------------------------------------------------------------------------------------------------


def _md_field(path: Path, at: int, fmt: str, value: int, *, checksum: bool = True) -> None:
    raw = bytearray(path.read_bytes()[MDA : MDA + 4096])
    struct.pack_into(fmt, raw, at, value)
    if checksum:
        struct.pack_into("<I", raw, 216, superblock_1_checksum(bytes(raw)))
    _patch(path, MDA, bytes(raw))


def test_md_superblock_with_a_huge_device_count_is_a_warning(tmp_path: Path) -> None:
    path = volume_fixture("md-a", tmp_path)
    _md_field(path, 220, "<I", 0x7FFFFFFF, checksum=False)  # max_dev: the checksum would span 4 GiB
    volumes, _ = scan_files([path])
    assert volumes["d0-p1"].warnings[0].startswith(
        "d0-p1: md superblock lists 2147483647 device roles; at most 1920 fit")


def test_md_superblock_with_4_billion_members_is_a_warning_not_a_hang(tmp_path: Path) -> None:
    path = volume_fixture("md-a", tmp_path)
    _md_field(path, 92, "<I", 0xFFFFFFFF)  # raid_disks, with a correct checksum
    volumes, _ = scan_files([path])
    assert volumes["d0-p1"].warnings[0].startswith(
        "d0-p1: md superblock says the array has 4294967295 members; the format allows 1920")


def test_md_member_truncated_inside_its_superblock_is_a_warning(tmp_path: Path) -> None:
    path = volume_fixture("md-a", tmp_path)
    os.truncate(path, MDA + 100)
    volumes, _ = scan_files([path])
    assert any("md superblock 1.2 at 4096 is cut off by the end of the member (4196 bytes)" in w
               for w in volumes["d0-p1"].warnings), volumes["d0-p1"].warnings


# -- VHD and VHDX ---------------------------------------------------------------------------------------------


def test_vhd_parent_locator_longer_than_a_path_is_ignored_with_a_warning(tmp_path: Path) -> None:
    base = tmp_path / "base.vhd"
    write_vhd(base, size=4 * MiB, writes=[(0, b"b" * 512)])
    child = tmp_path / "child.vhd"
    write_vhd(child, size=4 * MiB, writes=[(512, b"c" * 512)], parent=Parent.from_file(base))
    raw = bytearray(child.read_bytes())
    header = struct.unpack_from(">Q", raw, 16)[0]
    struct.pack_into(">I", raw, header + 576 + 8, len(raw) - 1536)  # the W2ru locator's data length
    child.write_bytes(raw)  # its checksum is now wrong: tolerated, as the fields are plausible
    with open_image(child) as image:
        assert image.parent is not None  # found by the absolute locator and the name
        assert f"is longer than a path ({MAX_LOCATOR} bytes)" in image.warnings[-1]
        assert image.pread(1024, 0) == b"b" * 512 + b"c" * 512


def test_vhdx_log_longer_than_the_reader_holds_is_a_clear_error(tmp_path: Path) -> None:
    path = gunzip_to(fixture_file("images/vhdx/log/pending-log.vhdx.gz"), tmp_path)
    raw = bytearray(path.read_bytes())
    for header in (64 << 10, 128 << 10):
        struct.pack_into("<I", raw, header + 68, 2 * MAX_LOG_LENGTH)
    vhdx_fixup(raw)
    path.write_bytes(raw)
    os.truncate(path, 3 * MAX_LOG_LENGTH)  # sparse: the log fits in the file
    with pytest.raises(CorruptImageError, match=f"longer than {MAX_LOG_LENGTH >> 20} MiB"):
        open_image(path)
