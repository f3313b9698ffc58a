"""FAT12/16/32 file access on images built by ``python -m fixtures.build_fat`` (mkfs.fat + mtools).

The same tree is in each width (see the builder's docstring): unicode and 90-character long names, 8.3-only
and lower-case 8.3 names, a deep folder, a folder over several clusters, a fragmented file, an empty file and
folder, hidden / read-only system files and a deleted one. pytsk3 reads every file as a second opinion. Records
that mtools cannot write (a name outside the BMP, a broken long-name sequence) are synthesized with ``struct``.
"""

from __future__ import annotations

import datetime
import json
import os
import struct
import subprocess
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest
import pytsk3

from fixtures.build_fat import DEEP, DELETED, FOLDERS, FRAGMENTED, HIDDEN, LONG, SYSTEM, fat_files
from restorekit.fs.entry import ExtentKind, Run
from restorekit.fs.errors import FilesystemError
from restorekit.fs.filesystems.fat import FatChains
from restorekit.fs.filesystems.fat_dir import fat_time, lfn_checksum, parse_directory
from tests.conftest import fixture_file, gunzip_to
from tests.fs.volume_images import scan_files
from tests.test_files import run

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.fs.filesystems.fat import FatFilesystem
    from restorekit.fs.stream import Stream

WIDTHS = (12, 16, 32)


@pytest.fixture(params=WIDTHS, ids=[f"fat{b}" for b in WIDTHS])
def image(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    folder = tmp_path / "img"
    folder.mkdir()
    return gunzip_to(fixture_file(f"images/files/fat{request.param}.img.gz"), folder)


def open_fat(path: Path) -> FatFilesystem:
    volumes, _disks = scan_files([path])
    fs = volumes["d0"].fs
    assert fs is not None and fs.type_name == "fat"
    return fs  # type: ignore[return-value]


def stored_mtime(seconds: int) -> int:
    """What FAT keeps of a UTC mtime: the even second at or below it, in ns."""
    return (seconds - seconds % 2) * 1_000_000_000


# -- real images --------------------------------------------------------------------------------------------


def test_every_file_reads_back_with_its_time(image: Path) -> None:
    fs = open_fat(image)
    assert fs.fat_bits == int(image.stem.removeprefix("fat"))
    for rel, (data, mtime) in fat_files().items():
        entry = fs.stat("/" + rel)
        assert entry.type == "file" and entry.size == len(data), rel
        assert fs.open_stream(entry).read() == data, rel
        assert entry.mtime == stored_mtime(mtime), rel
        assert entry.crtime == stored_mtime(mtime), rel  # mtools sets the creation time to the mtime too
        assert entry.atime == stored_mtime(mtime - mtime % 86_400), rel  # a date only


def test_listing_names_attributes_and_what_is_skipped(image: Path) -> None:
    fs = open_fat(image)
    root = {e.name: e for e in fs.listdir(fs.stat("/"))}
    assert sorted(root) == sorted(["README.TXT", "hello.txt", "MixedCase.Txt", "Ünïcödé 日本語 ✓.txt", LONG, "deep",
                                   "docs", "empty.txt", "emptydir", FRAGMENTED, HIDDEN, "many", SYSTEM])
    assert DELETED not in root and "filler.bin" not in root  # deleted entries, volume label, . and .. skipped
    assert root["README.TXT"].short_name == "README.TXT"
    assert root["hello.txt"].short_name == "hello.txt"  # lower case by the NT case bits, no long name
    assert root["MixedCase.Txt"].short_name == "MIXEDC~1.TXT"
    assert root[HIDDEN].attributes == ["hidden", "archive"]
    assert root[SYSTEM].attributes == ["readonly", "system", "archive"]
    assert root["deep"].type == "dir" and root["deep"].size == 0
    assert fs.listdir(root["emptydir"]) == []
    many = fs.listdir(root["many"])
    assert [e.name for e in many] == [f"file number {n:02d}.txt" for n in range(40)]
    assert len({e.inode for e in many}) == 40
    walked = {e.path for e in fs.walk(fs.stat("/"))}
    assert walked == {"/" + rel for rel in [*fat_files(), *FOLDERS]}


def test_names_match_without_case_and_by_8_3_name(image: Path) -> None:
    fs = open_fat(image)
    assert fs.stat("/readme.txt").name == "readme.txt"
    assert fs.stat("/MIXEDC~1.TXT").handle == fs.stat("/mixedcase.txt").handle
    assert fs.stat("/DEEP/A/b/C/d/e/f/g/h/i/J/BOTTOM.TXT").size == 5
    assert fs.stat("/ünïcödé 日本語 ✓.TXT").size == len("grüße\n".encode())
    assert not fs.exists("/" + DELETED)
    assert fs.read_file("/Docs/RÉSUMÉ.txt") == b"resume\n" * 100


def test_fragmented_file_maps_to_runs_in_the_image_file(image: Path) -> None:
    fs = open_fat(image)
    data = fat_files()[FRAGMENTED][0]
    stream = fs.open_stream(fs.stat("/" + FRAGMENTED))
    assert stream.runs is not None and len(stream.runs) == 4
    extents = list(stream.extents())
    assert len(extents) == 4
    assert all(e.kind is ExtentKind.DATA and e.source is not None and e.source.fileno() is not None for e in extents)
    raw = image.read_bytes()
    assert b"".join(raw[e.source_offset : e.source_offset + e.length] for e in extents) == data
    assert list(fs.extents(fs.stat("/empty.txt"))) == []


class TskImage(pytsk3.Img_Info):  # type: ignore[misc]
    """The Sleuth Kit reading a volume stream (it asks ``read(offset, size)``)."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset: int, size: int) -> bytes:
        return self.stream.pread(size, offset)

    def get_size(self) -> int:
        return self.stream.size


def test_pytsk3_reads_the_same_bytes(image: Path) -> None:
    fs = open_fat(image)
    tsk = pytsk3.FS_Info(TskImage(fs.stream))
    for rel, (data, _mtime) in fat_files().items():
        theirs = tsk.open("/" + rel)
        assert theirs.info.meta.size == len(data), rel
        assert (theirs.read_random(0, len(data)) if data else b"") == data, rel
        assert fs.open_stream(fs.stat("/" + rel)).read() == data, rel


def test_round_trip_folder_and_tar(image: Path, tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    guard = readonly([image])
    out = tmp_path / "out"
    code, _out, err = run("extract", str(image), "d0:/", "-o", str(out), "--verify")
    assert code == 0, err
    for rel, (data, mtime) in fat_files().items():
        path = out / "d0" / rel
        assert path.read_bytes() == data, rel
        assert 0 <= mtime * 1_000_000_000 - path.stat().st_mtime_ns < 2_000_000_000, rel  # FAT's 2 s steps
    assert (out / "d0" / "emptydir").is_dir()
    assert not (out / "d0" / DELETED).exists()
    code, tar, _err = run("extract", str(image), "d0:/many", "--tar", "-")
    assert code == 0 and b"file number 39.txt" in tar
    guard.check()


def test_cli_ls_find_cat(image: Path) -> None:
    code, out, err = run("ls", str(image), "d0:/", "-l")
    assert code == 0
    line = next(t for t in out.decode().splitlines() if t.endswith(SYSTEM))
    assert line.startswith("-R-SA") and " 2020-09-13 12:26:56 " in line
    assert "shown as if UTC" in err
    # FAT times are read as UTC whatever the host's zone is
    proc = subprocess.run([sys.executable, "-m", "restorekit", "ls", str(image), "d0:/README.TXT", "--json"],
                          capture_output=True, check=True, env={**os.environ, "TZ": "America/New_York"})
    assert json.loads(proc.stdout)[0]["mtime"] == "2020-09-13T12:26:40Z"
    code, out, _err = run("find", str(image), "**/BOTTOM.txt")
    assert out.decode().splitlines() == [f"d0:/{DEEP}"]
    code, out, _err = run("cat", str(image), "d0:/FRAG.BIN")
    assert code == 0 and out == fat_files()[FRAGMENTED][0]
    code, _out, err = run("cat", str(image), "d0:/hello.txt:stream")
    assert code == 1 and "no such file" in err


def test_a_broken_cluster_chain_fails_that_file_only(tmp_path: Path) -> None:
    (tmp_path / "rp").mkdir()
    image = gunzip_to(fixture_file("images/files/fat16.img.gz"), tmp_path / "rp")
    fs = open_fat(image)
    first = fs.stat("/" + FRAGMENTED).handle.cluster
    fat_entry = fs.stream.extents(fs.fat_offset + first * 2, 2)
    offset = next(iter(fat_entry)).source_offset
    with open(image, "r+b") as f:  # the first cluster's FAT entry now says "free"
        f.seek(offset)
        f.write(b"\0\0")
    fs = open_fat(image)
    with pytest.raises(FilesystemError, match="free cluster entry 0"):
        fs.open_stream(fs.stat("/" + FRAGMENTED))
    out = tmp_path / "out"
    code, _out, err = run("extract", str(image), "d0:/", "-o", str(out))
    assert code == 1 and "frag.bin" in err and "1 failed" in err
    assert (out / "d0" / "hello.txt").read_bytes() == b"hello, world\n"


# -- synthesized records ---------------------------------------------------------------------------------------


def short_record(name: bytes, attr: int = 0x20, *, case: int = 0, cluster: int = 5, size: int = 3,
                 wdate: int = 0, wtime: int = 0, cdate: int = 0, ctime: int = 0, hundredths: int = 0) -> bytes:
    return struct.pack("<11sBBBHHHHHHHI", name, attr, case, hundredths, ctime, cdate, 0, cluster >> 16, wtime,
                       wdate, cluster & 0xFFFF, size)


def long_records(text: str, short: bytes) -> bytes:
    units = text.encode("utf-16-le")
    units += b"\0\0" if len(units) % 26 else b""
    units += b"\xff" * (-len(units) % 26)
    parts = [units[i : i + 26] for i in range(0, len(units), 26)]
    out = b""
    for order in range(len(parts), 0, -1):
        piece = parts[order - 1]
        first = order | (0x40 if order == len(parts) else 0)
        out += struct.pack("<B10sBBB12sH4s", first, piece[:10], 0x0F, 0, lfn_checksum(short), piece[10:22], 0,
                           piece[22:26])
    return out


def names(data: bytes) -> list[str]:
    return [node.name for node in parse_directory(data, lambda at: at)]


def test_long_name_outside_the_bmp_and_checksum_rules() -> None:
    short = b"EMOJI~1 TXT"
    assert names(long_records("emoji 📦 box.txt", short) + short_record(short)) == ["emoji 📦 box.txt"]
    wrong = long_records("stale name.txt", b"OTHER   TXT")  # checksum of another 8.3 name: ignored
    assert names(wrong + short_record(short)) == ["EMOJI~1.TXT"]
    broken = long_records("a name over thirteen units.txt", short)
    assert names(broken[32:] + short_record(short)) == ["EMOJI~1.TXT"]  # first (last-part) record missing
    exact = long_records("thirteen char", b"THIRTE~1   ")  # 13 units: no terminator, no padding
    assert names(exact + short_record(b"THIRTE~1   ")) == ["thirteen char"]


def test_records_skipped_and_end_of_directory() -> None:
    live = short_record(b"KEEP    TXT")
    deleted = b"\xe5" + short_record(b"GONE    TXT")[1:]
    label = short_record(b"VOLUMELABEL", 0x08)
    dots = short_record(b".          ", 0x10) + short_record(b"..         ", 0x10)
    after_end = bytes(32) + short_record(b"LOST    TXT")
    assert names(dots + label + deleted + live + after_end) == ["KEEP.TXT"]
    kanji = b"\x05" + short_record(b"XYZ     TXT")[1:]  # 0x05 stands for a first byte 0xE5 (in cp850: Õ)
    assert names(kanji) == ["ÕYZ.TXT"]
    assert names(short_record(b"LOWER   TXT", case=0x08) + short_record(b"EXT     TXT", case=0x10)) == \
        ["lower.TXT", "EXT.txt"]


def test_times_are_wall_clock_read_as_utc() -> None:
    date = (2024 - 1980) << 9 | 2 << 5 | 29
    time = 23 << 11 | 59 << 5 | 29  # 23:59:58
    expected = datetime.datetime(2024, 2, 29, 23, 59, 58, tzinfo=datetime.UTC).timestamp()
    assert fat_time(date, time) == int(expected) * 1_000_000_000
    assert fat_time(date, time, 199) == int(expected) * 1_000_000_000 + 1_990_000_000
    assert fat_time(date, time, 200) == int(expected) * 1_000_000_000  # out of range: ignored
    assert fat_time(0, time) is None
    assert fat_time((2023 - 1980) << 9 | 2 << 5 | 29) is None  # 29 February 2023 does not exist
    node = next(parse_directory(short_record(b"T       TXT", wdate=date, wtime=time, cdate=date, ctime=time,
                                             hundredths=150), lambda at: at))
    assert node.mtime == int(expected) * 1_000_000_000
    assert node.crtime == int(expected) * 1_000_000_000 + 1_500_000_000
    assert node.atime is None


# -- cluster chains over a synthesized FAT32 table ----------------------------------------------------------------


class TableBytes:
    """A FAT32 table in memory, read the way the file system reads its volume (``pread``)."""

    def __init__(self, entries: dict[int, int], clusters: int) -> None:
        self.data = bytearray(4 * (clusters + 2))
        for cluster, value in entries.items():
            struct.pack_into("<I", self.data, 4 * cluster, value)

    def pread(self, length: int, offset: int) -> bytes:
        return bytes(self.data[offset : offset + length])


def chains(entries: dict[int, int], clusters: int = 70_000) -> FatChains:
    stream = TableBytes(entries, clusters)
    fs = SimpleNamespace(fat_bits=32, clusters=clusters, stream=stream, fat_offset=0, fat_length=len(stream.data),
                         cluster_size=512, data_offset=1 << 20, volume="d0")
    return FatChains(fs)  # type: ignore[arg-type]


def linked(first: int, last: int, end: int = 0x0FFFFFFF) -> dict[int, int]:
    """Clusters ``first``..``last`` each pointing to the next, the last to ``end``."""
    return {**{n: n + 1 for n in range(first, last)}, last: end}


def spans(runs: list[Run]) -> list[tuple[int, int]]:
    """(first cluster, cluster count) of each run."""
    return [((r.volume_offset - (1 << 20)) // 512 + 2, r.length // 512) for r in runs]  # type: ignore[operator]


def test_chain_across_fat_pieces_is_one_run() -> None:
    table = chains(linked(2, 40_000))  # 16,384 FAT32 entries per 64 KiB piece: crosses two piece boundaries
    assert spans(table.runs(2, 1 << 30)) == [(2, 39_999)]
    assert spans(table.runs(2, 512 * 20_000 - 1)) == [(2, 20_000)]  # only the clusters the size needs


def test_jumps_reserved_bits_and_order() -> None:
    entries = {**linked(2, 100, 300), **linked(300, 1000, 150), **linked(150, 160)}
    entries[500] |= 0xF0000000  # FAT32's top four bits are reserved: ignored
    assert spans(chains(entries).runs(2, 1 << 30)) == [(2, 99), (300, 701), (150, 11)]


@pytest.mark.parametrize(("entries", "message"), [
    ({**linked(2, 10), 10: 0}, "free cluster entry 0"),
    ({**linked(2, 10), 10: 0x0FFFFFF7}, "marked bad"),
    ({**linked(2, 10), 10: 90_000}, "outside the volume"),
    ({**linked(2, 10), 10: 5}, "loops back on itself"),
])
def test_damaged_chains_are_errors(entries: dict[int, int], message: str) -> None:
    with pytest.raises(FilesystemError, match=message):
        chains(entries).runs(2, 1 << 30)


def test_ls_and_find_report_an_unreadable_folder_and_go_on(tmp_path: Path) -> None:
    """A folder whose cluster chain is broken is warned about; the rest is listed; exit 1 says it is incomplete."""
    image = gunzip_to(fixture_file("images/files/fat16.img.gz"), tmp_path)
    fs = open_fat(image)
    first = fs.stat("/deep/a").handle.cluster
    offset = next(iter(fs.stream.extents(fs.fat_offset + first * 2, 2))).source_offset
    with open(image, "r+b") as f:  # /deep/a's first cluster is now "free" in the FAT
        f.seek(offset)
        f.write(b"\0\0")
    code, out, err = run("ls", str(image), "d0:/", "-r", "--json")
    listed = {e["path"] for e in json.loads(out)}  # the array is whole: the walk went on
    assert code == 1 and "/deep/a" in err and "left out" in err
    assert "/deep/a" in listed and "/many" in listed and "/deep/a/b" not in listed
    code, out, err = run("find", str(image), "d0:/**/*.txt")
    found = out.decode().splitlines()
    assert code == 1 and "/deep/a" in err and "d0:/hello.txt" in found
    assert not any(line.startswith("d0:/deep/a/") for line in found)
