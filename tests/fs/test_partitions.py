"""Partition tables on real sfdisk images, and damaged tables: loops, overlaps, a corrupt GPT primary."""

from __future__ import annotations

import shutil
import struct
import time
import zlib
from typing import TYPE_CHECKING

import pytest

from restorekit.fs.errors import PartitionTableError
from restorekit.fs.image import open_image
from restorekit.fs.partition import read_partition_table
from tests.fs.volume_images import scan_files, volume_fixture

if TYPE_CHECKING:
    from pathlib import Path

MiB = 1 << 20


def test_mbr_with_logical_partitions(tmp_path: Path) -> None:
    disk = open_image(volume_fixture("mbr-logical", tmp_path))
    table = read_partition_table(disk, "d0")
    assert table is not None and table.type_name == "mbr"
    assert [(p.number, p.offset // 512, p.size // 512, p.type_id) for p in table.partitions] == [
        (1, 2048, 4096, "0x06"), (5, 8192, 8192, "0x83"), (6, 18432, 4096, "0x83"), (7, 24576, 32768, "0x83")]


def test_gpt_names_windows_partition_types(tmp_path: Path) -> None:
    disk = open_image(volume_fixture("gpt-windows", tmp_path))
    table = read_partition_table(disk, "os")
    assert table is not None and table.type_name == "gpt" and table.warnings == []
    assert [(p.type_name, p.kind) for p in table.partitions] == [
        ("EFI system", "efi"), ("Microsoft reserved", "msr"), ("Microsoft basic data", "data"),
        ("Windows recovery", "recovery")]
    assert table.partitions[0].name == "EFI system partition"


def test_gpt_primary_corrupt_uses_backup_with_warning(tmp_path: Path) -> None:
    path = volume_fixture("gpt-windows", tmp_path)
    with open(path, "r+b") as fh:  # damage the primary header's disk GUID: its CRC32 no longer matches
        fh.seek(512 + 56)
        fh.write(b"\xff" * 16)
    volumes, _ = scan_files([path])
    assert volumes["d0-p3"].filesystem == "ntfs"
    warning = volumes["d0-p3"].warnings[0]
    assert "GPT primary header is damaged (primary header CRC32 mismatch)" in warning
    assert "backup header" in warning


def test_gpt_both_headers_corrupt_is_an_error(tmp_path: Path) -> None:
    path = volume_fixture("gpt-windows", tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        for at in (512 + 56, size - 512 + 56):
            fh.seek(at)
            fh.write(b"\xff" * 16)
    with pytest.raises(PartitionTableError, match="GPT is damaged: primary header CRC32 mismatch"):
        read_partition_table(open_image(path), "d0")
    volumes, _ = scan_files([path])
    assert list(volumes) == ["d0"] and "GPT is damaged" in volumes["d0"].warnings[0]


def _mbr_entry(ptype: int, lba: int, count: int) -> bytes:
    return struct.pack("<B3sB3sII", 0, b"\0\0\0", ptype, b"\0\0\0", lba, count)


def _boot_record(*entries: bytes) -> bytes:
    body = b"".join(entries).ljust(64, b"\0")
    return bytes(446) + body + b"\x55\xaa"


def _write_disk(path: Path, records: dict[int, bytes], size: int = 8 * MiB) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
        for sector, record in records.items():
            fh.seek(sector * 512)
            fh.write(record)
    return path


def test_mbr_extended_chain_loop_is_a_warning_not_a_hang(tmp_path: Path) -> None:
    # Extended partition at sector 2048; its first EBR's "next" entry points back at itself.
    path = _write_disk(tmp_path / "loop.img", {
        0: _boot_record(_mbr_entry(0x83, 63, 1985), _mbr_entry(0x05, 2048, 8192)),
        2048: _boot_record(_mbr_entry(0x83, 63, 1000), _mbr_entry(0x05, 0, 2048)),
    })
    start = time.monotonic()
    table = read_partition_table(open_image(path), "lun0")
    assert time.monotonic() - start < 1
    assert table is not None
    assert [(p.number, p.offset // 512) for p in table.partitions] == [(1, 63), (5, 2048 + 63)]
    assert table.warnings == [
        "lun0: the chain of logical partitions loops back to the EBR at sector 2048; the 1 logical partition(s) "
        "before it are listed (at offset 0x00100000). The extended partition's chain is damaged; partitions after "
        "the damage can be read with an explicit offset"]
    volumes, _ = scan_files([path])  # the partitions before the loop are scanned, each with the warning
    assert list(volumes) == ["d0-p1", "d0-p5"]
    assert "loops back" in volumes["d0-p5"].warnings[0]


def test_mbr_overlapping_partitions_are_listed_with_a_warning(tmp_path: Path) -> None:
    path = _write_disk(tmp_path / "overlap.img", {
        0: _boot_record(_mbr_entry(0x83, 2048, 4096), _mbr_entry(0x07, 4096, 4096)),
    })
    table = read_partition_table(open_image(path), "d0")
    assert table is not None and [p.number for p in table.partitions] == [1, 2]
    assert table.warnings == [
        "d0: MBR partitions 1 and 2 overlap (1048576+2097152 runs past 2097152); both are listed (at offset "
        "0x00200000). The partition table is damaged: at most one of them holds the shared bytes, so check what "
        "each shows"]


def test_mbr_with_two_extended_partitions_lists_the_first_ones_logicals_with_a_warning(tmp_path: Path) -> None:
    path = _write_disk(tmp_path / "two.img", {
        0: _boot_record(_mbr_entry(0x83, 63, 1985), _mbr_entry(0x05, 2048, 4096), _mbr_entry(0x0F, 6144, 4096)),
        2048: _boot_record(_mbr_entry(0x83, 63, 1000)),
        6144: _boot_record(_mbr_entry(0x83, 63, 1000)),
    })
    table = read_partition_table(open_image(path), "d0")
    assert table is not None and [(p.number, p.offset // 512) for p in table.partitions] == [(1, 63), (5, 2111)]
    assert table.warnings[0].startswith("d0: MBR has 2 extended partitions; a valid table has at most one, so only "
                                        "the logical partitions of the first (at sector 2048) are listed")


def test_ebr_outside_extended_partition_is_a_warning(tmp_path: Path) -> None:
    path = _write_disk(tmp_path / "stray.img", {
        0: _boot_record(_mbr_entry(0x05, 2048, 4096)),
        2048: _boot_record(_mbr_entry(0x83, 63, 100), _mbr_entry(0x05, 9000, 100)),
    })
    table = read_partition_table(open_image(path), "d0")
    assert table is not None and [p.number for p in table.partitions] == [5]
    assert "an EBR points to sector 11048, outside the extended partition" in table.warnings[0]


def test_gpt_entry_ending_before_it_starts_is_skipped_with_a_warning(tmp_path: Path) -> None:
    # The real sfdisk GPT disk; entry 2's last LBA set below its first, both CRCs made right again.
    path = volume_fixture("gpt-windows", tmp_path)
    raw = bytearray(path.read_bytes())
    entries, count, size = struct.unpack_from("<QII", raw, 512 + 72)
    entry = entries * 512 + size
    first = struct.unpack_from("<Q", raw, entry + 32)[0]
    struct.pack_into("<Q", raw, entry + 40, first - 1)
    struct.pack_into("<I", raw, 512 + 88, zlib.crc32(bytes(raw[entries * 512 : entries * 512 + count * size])))
    struct.pack_into("<I", raw, 512 + 16, 0)
    struct.pack_into("<I", raw, 512 + 16, zlib.crc32(bytes(raw[512 : 512 + 92])))
    path.write_bytes(raw)
    table = read_partition_table(open_image(path), "d0")
    assert table is not None and [p.number for p in table.partitions] == [1, 3, 4]
    assert table.warnings == [f"d0: GPT entry 2 ends (sector {first - 1}) before it starts (sector {first}); "
                              "skipped, the other partitions are listed"]


def test_partition_past_end_of_disk_warns(tmp_path: Path) -> None:
    path = _write_disk(tmp_path / "short.img", {0: _boot_record(_mbr_entry(0x83, 2048, 1 << 20))})
    table = read_partition_table(open_image(path), "d0")
    assert table is not None and "past the end of the disk; the image is truncated" in table.warnings[0]


def test_gpt_header_crc_is_checked_on_synthesized_header(tmp_path: Path) -> None:
    src = volume_fixture("gpt-windows", tmp_path)
    copy = shutil.copy(src, tmp_path / "copy.img")
    with open(copy, "r+b") as fh:  # a consistent edit: new header CRC32, so the primary stays valid
        fh.seek(512)
        header = bytearray(fh.read(92))
        header[16:20] = bytes(4)
        header[56:72] = b"\x11" * 16
        struct.pack_into("<I", header, 16, zlib.crc32(header))
        fh.seek(512)
        fh.write(header)
    table = read_partition_table(open_image(copy), "d0")
    assert table is not None and table.warnings == []
