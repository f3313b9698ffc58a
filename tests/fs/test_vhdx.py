"""The VHDX reader against pyvhdi, qemu-img's log replay and the raw truth; its errors on damaged files.

Committed images (``fixtures/images/vhdx``, made by ``python fixtures/build_vhdx.py --make-source SRC
fixtures/images/vhdx --gzip``): ``fixed-vhdx/fixed.vhdx`` and ``chain-vhdx/base.vhdx`` by ``qemu-img convert
-O vhdx``; ``chain-vhdx/child1.avhdx`` <- ``child2.avhdx`` by :mod:`fixtures.vhdx_writer` from
:func:`fixtures.build_vhdx.chain_plan`; ``log/pending-log.vhdx`` holds an unapplied log transaction
(:func:`fixtures.build_vhdx.add_pending_log`) and ``log/pending-log.qemu-replayed.raw`` is qemu-img's replay of
it on a copy. Everything else is written into tmp_path by the writer, so no test needs qemu-img (those that
re-run it skip without it).

Where a differencing child's ZERO or UNMAPPED block shows, libvhdi (pyvhdi) reads the parent; MS-VHDX says a
ZERO block "MUST return zeros" and allows zeros for UNMAPPED, so there we compare with the plan, not pyvhdi.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from fixtures.build_vhdx import (
    add_pending_log,
    apply_layer,
    chain_plan,
    make_source_raw,
    zero_block_ranges,
)
from fixtures.build_vhdx import pyvhdi_read as pyvhdi_bytes
from fixtures.vhdx_writer import (
    BAT_AT,
    FULLY_PRESENT,
    LOG_AT,
    METADATA_AT,
    MIB,
    PAGE,
    PARTIALLY_PRESENT,
    UNDEFINED,
    UNMAPPED,
    ZERO,
    ParentLink,
    log_entry,
    put_log,
    region_table_bytes,
    sector_labels,
    stable_guid,
    write_vhdx,
)
from restorekit.fs.errors import CorruptImageError, ParentError, UnsupportedImageError
from restorekit.fs.image import open_image
from restorekit.fs.images import IMAGE_FORMATS
from restorekit.fs.images.bitmap import bitmap_runs
from restorekit.fs.images.vhd import vhd_checksum
from restorekit.fs.images.vhdx import VhdxImage
from restorekit.fs.images.vhdx_meta import BAT_REGION, METADATA_REGION
from restorekit.fs.stream import ExtentKind, FileSource, MemorySource
from tests.conftest import fixture_file, gunzip_to, require_tool

KIB = 1024
CHAIN = ["child2.avhdx", "child1.avhdx", "base.vhdx"]


def read_all(path: Path) -> bytes:
    with open_image(path) as image:
        return image.read()


def assert_names(error: Exception, image: Path, offset: int) -> None:
    """The one line the CLI prints names the image file and the offset, as ``(at offset 0x........)``."""
    text = str(error)
    assert text.startswith(f"{image}: "), text
    assert getattr(error, "offset", None) == offset, text
    assert f"(at offset 0x{offset:08x})" in text, text


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed VHDX fixtures, decompressed into one folder tree."""
    root = tmp_path_factory.mktemp("vhdx")
    src_root = fixture_file("images/vhdx/source.raw.gz").parent
    for gz in src_root.rglob("*.gz"):
        dest = root / gz.parent.relative_to(src_root)
        dest.mkdir(parents=True, exist_ok=True)
        gunzip_to(gz, dest)
    return root


# -- committed images: fixed, dynamic, the 3-deep chain, the log ---------------------------------------------


@pytest.mark.parametrize(("name", "variant"), [("fixed-vhdx/fixed.vhdx", "fixed"), ("chain-vhdx/base.vhdx", "dynamic")])
def test_qemu_images_read_like_source_and_pyvhdi(committed: Path, name: str, variant: str, readonly) -> None:  # type: ignore[no-untyped-def]
    path = committed / name
    readonly([path])
    source = (committed / "source.raw").read_bytes()
    with open_image(path) as image:
        assert isinstance(image, VhdxImage)
        assert image.format == f"vhdx-{variant}"
        assert image.warnings == []
        assert image.creator.startswith("QEMU")
        ours = image.read()
    assert ours == source
    assert ours == pyvhdi_bytes([path])


@pytest.mark.parametrize("depth", [1, 2])
def test_chain_reads_like_plan_and_pyvhdi(committed: Path, depth: int, readonly) -> None:  # type: ignore[no-untyped-def]
    """child1 (depth 1) and child2 (depth 2): every byte equals the plan; pyvhdi agrees outside ZERO blocks."""
    folder = committed / "chain-vhdx"
    chain = [folder / name for name in CHAIN[2 - depth :]]
    readonly(chain)
    source = (committed / "source.raw").read_bytes()
    layers = chain_plan(len(source))[:depth]
    expected = bytearray(source)
    for layer in layers:
        apply_layer(expected, layer)
    with open_image(chain[0]) as image:
        assert image.format == "vhdx-differencing"
        assert image.chain == [str(p) for p in chain]
        assert image.warnings == []
        ours = image.read()
    assert ours == bytes(expected)
    theirs = pyvhdi_bytes(chain)
    zero_ranges = zero_block_ranges(len(source), layers)
    assert zero_ranges or len(source) < 4 * MIB, "the plan puts a ZERO block in child1 of a disk >= 4 MiB"
    start = 0
    for lo, hi in [*zero_ranges, (len(ours), len(ours))]:
        assert ours[start:lo] == theirs[start:lo], f"differs from pyvhdi in {start:#x}..{lo:#x}"
        assert ours[lo:hi] == bytes(hi - lo)  # MS-VHDX: a ZERO block reads as zeros (libvhdi reads the parent)
        start = hi


def test_chain_extents_point_into_all_three_files(committed: Path) -> None:
    folder = committed / "chain-vhdx"
    with open_image(folder / CHAIN[0]) as image:
        extents = list(image.extents())
        kinds = {ext.kind for ext in extents}
        sources = {Path(ext.source.name).name for ext in extents if ext.source is not None}
        assert kinds <= {ExtentKind.DATA, ExtentKind.ZERO}
        assert sources == set(CHAIN)
        assert sum(ext.length for ext in extents) == image.size
        # Reading through the extents gives the same bytes as read().
        stitched = b"".join(
            ext.source.pread(ext.length, ext.source_offset) if ext.source else bytes(ext.length) for ext in extents
        )
        assert stitched == image.pread(image.size, 0)


def test_log_replayed_in_memory_equals_qemu_replay(committed: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    """qemu-img check -r all replays the log in place (on a copy, at build time); we replay it in memory."""
    path = committed / "log/pending-log.vhdx"
    readonly([path])
    qemu = (committed / "log/pending-log.qemu-replayed.raw").read_bytes()
    source = (committed / "source.raw").read_bytes()
    with open_image(path) as image:
        assert image.log_replayed
        assert image.warnings == [
            "the log held 3 pending entries (sequence 10-12); they were replayed in memory only, the file was not "
            "changed"
        ]
        ours = image.read()
        memory = [ext for ext in image.extents() if isinstance(ext.source, MemorySource)]
    assert ours == qemu
    assert ours != source  # the transaction changes the disk
    assert memory, "pages the log wrote should be served from memory"


def test_log_replay_equals_qemu_and_pyvhdi_now(committed: Path, tmp_path: Path) -> None:
    """Re-run qemu's replay on a copy, and read the replayed copy with pyvhdi too (pyvhdi ignores logs)."""
    require_tool("qemu-img")
    copy = tmp_path / "copy.vhdx"
    shutil.copyfile(committed / "log/pending-log.vhdx", copy)
    subprocess.run(["qemu-img", "check", "-r", "all", "-f", "vhdx", str(copy)], check=True, capture_output=True)
    raw = tmp_path / "replayed.raw"
    subprocess.run(["qemu-img", "convert", "-f", "vhdx", "-O", "raw", str(copy), str(raw)], check=True)
    ours = read_all(committed / "log/pending-log.vhdx")
    assert ours == raw.read_bytes()
    assert ours == pyvhdi_bytes([copy])
    assert read_all(copy) == ours  # the replayed copy has an empty log and reads the same


def test_log_fixture_rebuilt_from_writer(tmp_path: Path) -> None:
    """The same transaction logged into a writer-made base (no qemu): replayed bytes equal the plan."""
    make_source_raw(tmp_path / "source.raw", 4 * MIB)
    source = (tmp_path / "source.raw").read_bytes()
    path = tmp_path / "base.vhdx"
    write_vhdx(path, len(source), [(0, source)])
    expected = add_pending_log(path, source)
    assert read_all(path) == expected


# -- block states, sector sizes, parents --------------------------------------------------------------------


def _base(tmp_path: Path, size: int = 4 * MIB, sector: int = 512, name: str = "base.vhdx") -> tuple[Path, bytes]:
    data = sector_labels("base", 0, size // sector, sector)
    path = tmp_path / name
    write_vhdx(path, size, [(0, data)], logical_sector_size=sector)
    return path, data


def test_differencing_block_states(tmp_path: Path) -> None:
    """NOT_PRESENT and UNDEFINED read the parent; ZERO and UNMAPPED read zeros (MS-VHDX 2.5.1.1)."""
    base, data = _base(tmp_path, 6 * MIB)
    child = tmp_path / "child.avhdx"
    states = {1: ZERO, 2: UNMAPPED, 3: UNDEFINED}
    write_vhdx(child, 6 * MIB, [(4 * MIB, b"x" * 512)], parent=ParentLink.to(base, child), states=states)
    with open_image(child) as image:
        ours = image.read()
    expected = bytearray(data)
    expected[MIB : 3 * MIB] = bytes(2 * MIB)
    expected[4 * MIB : 4 * MIB + 512] = b"x" * 512
    assert ours == bytes(expected)
    theirs = pyvhdi_bytes([child, base])
    assert theirs[3 * MIB :] == ours[3 * MIB :]  # UNDEFINED, NOT_PRESENT and the partial block agree
    assert theirs[MIB : 3 * MIB] == data[MIB : 3 * MIB]  # libvhdi reads the parent for ZERO and UNMAPPED


def test_dynamic_block_states_read_zeros(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.vhdx"
    states = {0: ZERO, 1: UNMAPPED, 2: UNDEFINED}
    write_vhdx(path, 4 * MIB, [(3 * MIB, b"y" * 1024)], states=states)
    with open_image(path) as image:
        assert image.format == "vhdx-dynamic"
        assert image.read() == bytes(3 * MIB) + b"y" * 1024 + bytes(MIB - 1024)
        assert image.allocated_bytes == MIB
    assert read_all(path) == pyvhdi_bytes([path])


def test_4096_byte_sectors_chain(tmp_path: Path) -> None:
    """4 KiB logical sectors: the sector bitmap has one bit per 4 KiB, the chunk ratio is 8x larger."""
    base, data = _base(tmp_path, 4 * MIB, 4096)
    child = tmp_path / "child.avhdx"
    writes = [(4096, sector_labels("c", 1, 2, 4096)), (3 * MIB - 4096, sector_labels("c", 767, 3, 4096))]
    write_vhdx(child, 4 * MIB, writes, logical_sector_size=4096, parent=ParentLink.to(base, child))
    expected = bytearray(data)
    for offset, chunk in writes:
        expected[offset : offset + len(chunk)] = chunk
    with open_image(child) as image:
        ours = image.read()
    assert ours == bytes(expected)
    assert ours == pyvhdi_bytes([child, base])


def test_fixed_writer_image_and_partial_last_block(tmp_path: Path) -> None:
    """A fixed VHDX whose size is not a multiple of the block size."""
    size = 3 * MIB + 512 * 3
    data = sector_labels("fixed", 0, size // 512)
    path = tmp_path / "fixed.vhdx"
    write_vhdx(path, size, [(0, data)], fixed=True, block_size=2 * MIB)
    with open_image(path) as image:
        assert image.format == "vhdx-fixed"
        assert image.block_size == 2 * MIB
        assert image.read() == data
    assert pyvhdi_bytes([path]) == data


def test_parent_found_by_absolute_path_then_by_name(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    base, data = _base(elsewhere)
    folder = tmp_path / "children"
    folder.mkdir()
    child = folder / "child.avhdx"
    guid = ParentLink.to(base, child).data_write_guid
    # relative_path is stale, absolute_win32_path holds a path valid here: found there.
    write_vhdx(child, 4 * MIB, parent=ParentLink(guid, "..\\moved\\base.vhdx", str(base)))
    with open_image(child) as image:
        assert image.chain == [str(child), str(base)]
        assert image.read() == data
    # Both stale (a Windows path), but the parent sits beside the child under its name: found there.
    beside = folder / "base.vhdx"
    shutil.copyfile(base, beside)
    write_vhdx(child, 4 * MIB, parent=ParentLink(guid, "..\\moved\\base.vhdx", "\\\\?\\D:\\vms\\base.vhdx"))
    with open_image(child) as image:
        assert image.chain == [str(child), str(beside)]


def test_missing_parent_names_every_path_tried(tmp_path: Path) -> None:
    base, _ = _base(tmp_path)
    child = tmp_path / "sub" / "child.avhdx"
    child.parent.mkdir()
    link = ParentLink.to(base, child, absolute_win32_path="\\\\?\\C:\\RecoveryPoints\\base.vhdx")
    write_vhdx(child, 4 * MIB, parent=link)
    base.unlink()
    with pytest.raises(ParentError) as info:
        open_image(child)
    text = str(info.value)
    assert str(base) in text  # relative_path ..\base.vhdx, resolved
    assert str(child.parent / "base.vhdx") in text  # the name beside the child
    assert "C:\\RecoveryPoints\\base.vhdx" in text  # what the locator recorded
    # The parent locator item: after file parameters (8), size (8), disk id (16) and the sector sizes (4 + 4).
    assert_names(info.value, child, METADATA_AT + 64 * KIB + 40)


def test_parent_guid_mismatch(tmp_path: Path) -> None:
    base, _ = _base(tmp_path)
    child = tmp_path / "child.avhdx"
    wrong = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
    write_vhdx(child, 4 * MIB, parent=ParentLink(wrong, "base.vhdx"))
    with pytest.raises(ParentError) as info:
        open_image(child)
    text = str(info.value)
    real = ParentLink.to(base, child).data_write_guid
    assert str(wrong) in text and str(real) in text
    assert "same recovery point" in text
    assert info.value.offset is not None
    assert_names(info.value, child, info.value.offset)  # the parent_linkage value in the locator


def test_vhd_parent_of_vhdx_child_is_refused(tmp_path: Path) -> None:
    size = 2 * MIB
    footer = bytearray(
        struct.pack(
            ">8sIIQI4sIIQQIII16sB",
            b"conectix",
            2,
            0x10000,
            2**64 - 1,
            0,
            b"test",
            0,
            0,
            size,
            size,
            0,
            2,
            0,
            b"\x11" * 16,
            0,
        ).ljust(512, b"\0")
    )
    struct.pack_into(">I", footer, 64, vhd_checksum(bytes(footer), 64))
    (tmp_path / "base.vhd").write_bytes(bytes(size) + bytes(footer))
    child = tmp_path / "child.avhdx"
    write_vhdx(child, size, parent=ParentLink(stable_guid("x"), "base.vhd"))
    with pytest.raises(ParentError, match="vhd-fixed image, but a VHDX differencing disk needs a VHDX parent"):
        open_image(child)


# -- damaged files ------------------------------------------------------------------------------------------


def _poke(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _small(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "small.vhdx"
    data = sector_labels("small", 0, 3 * MIB // 512)
    write_vhdx(path, 3 * MIB, [(0, data)])
    return path, data


def test_one_bad_header_is_a_warning_both_are_corrupt(tmp_path: Path) -> None:
    path, data = _small(tmp_path)
    _poke(path, 128 * KIB + 100, b"\xff")  # the current header (sequence 2)
    with open_image(path) as image:
        assert image.read() == data
        assert image.header.offset == 64 * KIB
        assert image.warnings == ["header at offset 0x20000: checksum mismatch; the other header was used"]
    _poke(path, 64 * KIB, b"HEAD")
    with pytest.raises(CorruptImageError) as info:
        open_image(path)
    assert_names(info.value, path, 64 * KIB)
    assert "both VHDX headers are damaged" in str(info.value)


def test_bad_region_tables(tmp_path: Path) -> None:
    path, data = _small(tmp_path)
    _poke(path, 192 * KIB + 40, b"\x01")
    with open_image(path) as image:
        assert image.read() == data
        assert "region table at offset 0x30000: checksum mismatch; the other copy was used" in image.warnings
    _poke(path, 256 * KIB, b"REGI")
    with pytest.raises(CorruptImageError) as info:
        open_image(path)
    assert_names(info.value, path, 192 * KIB)


def test_unknown_required_region(tmp_path: Path) -> None:
    path, _ = _small(tmp_path)
    odd = uuid.UUID("11111111-2222-3333-4444-555555555555").bytes_le
    table = region_table_bytes(
        [(BAT_REGION, BAT_AT, MIB, True), (METADATA_REGION, METADATA_AT, MIB, True), (odd, 5 * MIB, MIB, True)]
    )
    _poke(path, 192 * KIB, table)
    _poke(path, 256 * KIB, table)
    with pytest.raises(UnsupportedImageError) as info:
        open_image(path)
    assert "11111111-2222-3333-4444-555555555555" in str(info.value)
    assert_names(info.value, path, 192 * KIB + 16 + 2 * 32)  # the third entry


def test_unknown_metadata_items(tmp_path: Path) -> None:
    odd = uuid.UUID("99999999-8888-7777-6666-555555555555").bytes_le
    optional = tmp_path / "optional.vhdx"
    write_vhdx(optional, MIB, extra_metadata=[(odd, b"hello", 0)])
    with open_image(optional) as image:
        assert image.read() == bytes(MIB)
    required = tmp_path / "required.vhdx"
    write_vhdx(required, MIB, extra_metadata=[(odd, b"hello", 4)])
    with pytest.raises(UnsupportedImageError) as info:
        open_image(required)
    assert "99999999-8888-7777-6666-555555555555" in str(info.value) and "required" in str(info.value)
    assert_names(info.value, required, METADATA_AT + 32 + 5 * 32)  # the sixth table entry


def test_bat_entry_past_end_of_file(tmp_path: Path) -> None:
    path, _ = _small(tmp_path)
    _poke(path, BAT_AT + 8, struct.pack("<Q", FULLY_PRESENT | 4096 << 20))  # block 1 at 4 GiB
    with pytest.raises(CorruptImageError) as info:
        open_image(path)
    text = str(info.value)
    assert "BAT entry 1 places a payload block at 0x100000000, past the end of the file" in text
    assert_names(info.value, path, BAT_AT + 8)


def test_partially_present_without_bitmap_is_corrupt(tmp_path: Path) -> None:
    base, _ = _base(tmp_path)
    child = tmp_path / "child.avhdx"
    write_vhdx(child, 4 * MIB, parent=ParentLink.to(base, child), states={1: PARTIALLY_PRESENT})
    with pytest.raises(CorruptImageError) as info:
        open_image(child)
    ratio = (1 << 23) * 512 // MIB
    assert f"BAT entry {ratio}" in str(info.value) and "sector bitmap" in str(info.value)
    assert_names(info.value, child, BAT_AT + 8 * ratio)


def test_truncated_files(tmp_path: Path) -> None:
    path, _ = _small(tmp_path)
    size = path.stat().st_size
    os.truncate(path, size - MIB // 2)  # the last payload block loses its second half
    with pytest.raises(CorruptImageError) as info:
        open_image(path)
    assert "BAT entry 2" in str(info.value) and "past the end of the file" in str(info.value)
    assert_names(info.value, path, BAT_AT + 16)
    os.truncate(path, 200 * KIB)  # not even a header section
    with pytest.raises(CorruptImageError) as info:
        open_image(path)
    assert "1 MiB header section" in str(info.value)
    assert_names(info.value, path, 200 * KIB)


# -- the log ------------------------------------------------------------------------------------------------


def _logged(tmp_path: Path, entries: list[tuple[int, bytes]], guid: uuid.UUID) -> tuple[Path, bytes]:
    path, data = _small(tmp_path)
    put_log(path, entries, guid)
    return path, data


def test_log_sequence_wrapping_around_the_ring(tmp_path: Path) -> None:
    """Entry 7 starts in the log's last page and continues at its start; entry 8 follows; both tail at 7."""
    guid = stable_guid("wrap")
    size = 3 * MIB + 4 * MIB  # LastFileOffset: the replay may extend the file
    block0 = 4 * MIB  # write_vhdx puts block 0 right after the BAT
    seven = log_entry(
        7, [(block0, b"7" * PAGE)], log_guid=guid, tail=MIB - PAGE, flushed_file_offset=0, last_file_offset=size
    )
    eight = log_entry(
        8,
        [(block0 + PAGE, b"8" * PAGE), (block0 + 2 * PAGE, PAGE)],
        log_guid=guid,
        tail=MIB - PAGE,
        flushed_file_offset=0,
        last_file_offset=size,
    )
    assert len(seven) == 2 * PAGE
    path, data = _logged(tmp_path, [(MIB - PAGE, seven), (PAGE, eight)], guid)
    expected = b"7" * PAGE + b"8" * PAGE + bytes(PAGE) + data[3 * PAGE :]
    with open_image(path) as image:
        assert image.read() == expected
        assert image.view.size == size
        assert "sequence 7-8" in image.warnings[0]


def test_log_newest_complete_sequence_wins(tmp_path: Path) -> None:
    """A newer entry whose tail points outside its sequence is incomplete; the older complete one is replayed."""
    guid = stable_guid("newest")
    common = {"log_guid": guid, "flushed_file_offset": 0, "last_file_offset": 0}
    old = log_entry(20, [(4 * MIB, b"o" * PAGE)], tail=0, **common)
    dangling = log_entry(40, [(4 * MIB, b"d" * PAGE)], tail=300 * KIB, **common)
    path, data = _logged(tmp_path, [(0, old), (400 * KIB, dangling)], guid)
    assert read_all(path) == b"o" * PAGE + data[PAGE:]


def test_unreplayable_logs(tmp_path: Path) -> None:
    guid = stable_guid("broken")
    path, _ = _logged(tmp_path, [], guid)  # LogGuid set, but no entry at all
    with pytest.raises(UnsupportedImageError) as info:
        open_image(path)
    text = str(info.value)
    assert "no valid log sequence" in text and str(guid) in text
    assert "qemu-img check -r all" in text and "COPY" in text
    assert_names(info.value, path, LOG_AT)

    header_write = log_entry(
        1, [(64 * KIB, bytes(PAGE))], log_guid=guid, tail=0, flushed_file_offset=0, last_file_offset=0
    )
    (tmp_path / "header-write").mkdir()
    path, _ = _logged(tmp_path / "header-write", [(0, header_write)], guid)
    with pytest.raises(UnsupportedImageError) as info:
        open_image(path)
    assert "file offset 0x10000" in str(info.value) and "qemu-img check -r all" in str(info.value)
    assert_names(info.value, path, LOG_AT)

    torn = bytearray(
        log_entry(1, [(4 * MIB, b"t" * PAGE)], log_guid=guid, tail=0, flushed_file_offset=0, last_file_offset=0)
    )
    torn[PAGE + 10] ^= 1  # a data sector byte: the checksum no longer matches
    (tmp_path / "torn").mkdir()
    path, _ = _logged(tmp_path / "torn", [(0, bytes(torn))], guid)
    with pytest.raises(UnsupportedImageError, match="no valid log sequence"):
        open_image(path)


def test_log_says_file_is_truncated(tmp_path: Path) -> None:
    guid = stable_guid("short")
    entry = log_entry(
        1, [(4 * MIB, b"t" * PAGE)], log_guid=guid, tail=0, flushed_file_offset=64 * MIB, last_file_offset=64 * MIB
    )
    path, _ = _logged(tmp_path, [(0, entry)], guid)
    with pytest.raises(CorruptImageError) as info:
        open_image(path)
    assert "truncated" in str(info.value)
    assert_names(info.value, path, path.stat().st_size)


def test_log_of_20000_zero_descriptors_replays_at_once(tmp_path: Path) -> None:
    """Each write was applied to the state so far, at a cost growing with every earlier write: minutes here."""
    guid = stable_guid("many")
    block0 = 4 * MIB  # write_vhdx puts the 3 payload blocks right after the BAT
    zeros: list[tuple[int, bytes | int]] = [(block0 + 2 * PAGE * i, PAGE) for i in range(20_000)]
    entry = log_entry(1, [*zeros, (block0, b"w" * PAGE)], log_guid=guid, tail=0, flushed_file_offset=0,
                      last_file_offset=0)
    assert len(entry) < MIB  # one entry in the writer's 1 MiB log
    path, data = _logged(tmp_path, [(0, entry)], guid)
    expected = bytearray(data)
    for page in range(0, len(data) // PAGE, 2):
        expected[page * PAGE : (page + 1) * PAGE] = bytes(PAGE)
    expected[:PAGE] = b"w" * PAGE  # the page write after the zero range wins
    start = time.monotonic()
    with open_image(path) as image:
        assert image.read() == expected
    assert time.monotonic() - start < 5


def test_log_rewritten_region_table_and_bat_are_read_through_the_log(tmp_path: Path) -> None:
    """The committed fixture moves the BAT through the log; here the same happens on a writer-made image,
    and a raw file read (what the log does not cover) shows the old, unreplayed state."""
    make_source_raw(tmp_path / "source.raw", 3 * MIB)
    source = (tmp_path / "source.raw").read_bytes()
    path = tmp_path / "base.vhdx"
    write_vhdx(path, len(source), [(0, source)])
    old_bat = path.read_bytes()[BAT_AT : BAT_AT + 64]
    expected = add_pending_log(path, source)
    assert path.read_bytes()[BAT_AT : BAT_AT + 64] == old_bat  # the file itself was not replayed
    with open_image(path) as image:
        assert image._bat_offset != BAT_AT  # the BAT the replayed region table names
        assert image.read() == expected


# -- read-only, helpers, speed ------------------------------------------------------------------------------


def test_reading_never_changes_any_image(committed: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    images = sorted(p for p in committed.rglob("*") if p.suffix in (".vhdx", ".avhdx"))
    assert len(images) == 5
    readonly(images)
    atimes = {p: p.stat().st_atime_ns for p in images}
    for path in images:
        with open_image(path) as image:
            image.read()
            list(image.extents())
    for path in images:  # O_NOATIME where the OS allows it (owner or root)
        assert path.stat().st_atime_ns == atimes[path] or os.geteuid() not in (0, path.stat().st_uid)


def test_lsb_runs() -> None:
    assert bitmap_runs(b"\x00\x00", 16) == ((0, 16, False),)
    assert bitmap_runs(b"\xff\xff", 16) == ((0, 16, True),)
    assert bitmap_runs(b"\x0f\xf0", 16) == ((0, 4, True), (4, 12, False), (12, 16, True))
    assert bitmap_runs(b"\x01\x80", 12) == ((0, 1, True), (1, 12, False))  # bits past ``count`` are ignored
    assert bitmap_runs(b"\xaa", 8) == tuple((i, i + 1, bool(i % 2)) for i in range(8))


def test_map_of_a_1_gib_dynamic_image_is_metadata_only(tmp_path: Path) -> None:
    """1 GiB, 1 MiB blocks, every other block allocated: 1024 BAT entries, no work per 4 KiB page."""
    path = tmp_path / "big.vhdx"
    size = 1 << 30
    write_vhdx(path, size, states={i: FULLY_PRESENT for i in range(0, 1024, 2)})
    with open_image(path) as image:
        start = time.perf_counter()
        extents = list(image.extents())
        elapsed = time.perf_counter() - start
        assert len(extents) == 1024  # one DATA and one ZERO run per pair of blocks: nothing finer
        assert sum(e.length for e in extents if e.kind is ExtentKind.DATA) == size // 2
    assert elapsed < 0.5, f"mapping 1 GiB took {elapsed:.3f} s"


def test_detection_and_file_source(committed: Path) -> None:
    source = FileSource(committed / "chain-vhdx/base.vhdx")
    try:
        assert IMAGE_FORMATS[0].name == "vhdx" and IMAGE_FORMATS[0].detect(source)
    finally:
        source.close()
