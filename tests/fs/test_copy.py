"""ExtentWriter: the same bytes whichever copy path an extent takes, holes kept, one read when hashing.

The extents are synthesized over a real file (pure logic: no file-system library involved): page-congruent
runs go through copy_file_range, runs 512 bytes off a page boundary (as a dynamic VHD's blocks are) through
the reused buffer after fallocate, memory runs through pwrite.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from restorekit.fs.copy import ExtentWriter, fallocate
from restorekit.fs.errors import CorruptImageError
from restorekit.fs.stream import Extent, ExtentKind, FileSource, MemorySource

MiB = 1 << 20


def layout(source: FileSource, memory: MemorySource) -> tuple[list[Extent], bytes]:
    """Extents of a 13 MiB stream mixing aligned, misaligned, zero and memory runs, and the bytes they mean."""
    data = Path(source.name).read_bytes()
    plan = [  # (kind, length, source offset)
        (ExtentKind.DATA, 2 * MiB, 4096),  # page-congruent with output offset 0
        (ExtentKind.DATA, 2 * MiB, 512 + 3 * MiB),  # 512 bytes off: the buffered path
        (ExtentKind.ZERO, 3 * MiB, 0),  # a hole
        (ExtentKind.DATA, 9 * MiB + 123, 1024),  # longer than the 8 MiB buffer, odd length
        (ExtentKind.DATA, 5000, 7),  # from memory
    ]
    extents, expected, pos = [], bytearray(), 0
    for kind, length, src in plan:
        if kind is ExtentKind.ZERO:
            extents.append(Extent(pos, length, kind))
            expected += bytes(length)
        elif length == 5000:
            extents.append(Extent(pos, length, kind, memory, src))
            expected += memory.pread(length, src)
        else:
            extents.append(Extent(pos, length, kind, source, src))
            expected += data[src : src + length]
        pos += length
    return extents, bytes(expected)


@pytest.fixture
def sources(tmp_path: Path) -> tuple[FileSource, MemorySource]:
    path = tmp_path / "image.bin"
    path.write_bytes(random.Random(3).randbytes(12 * MiB))
    return FileSource(path), MemorySource("memory", random.Random(4).randbytes(8192))


@pytest.mark.parametrize("verify", [False, True])
def test_file_output_equals_the_stream(sources: tuple[FileSource, MemorySource], tmp_path: Path,
                                       verify: bool) -> None:
    extents, expected = layout(*sources)
    out = tmp_path / "out.bin"
    hasher = hashlib.sha256() if verify else None
    moved: list[int] = []
    fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        ExtentWriter(fd, name=str(out), hasher=hasher, progress=moved.append).write_all(iter(extents),
                                                                                        len(expected))
    finally:
        os.close(fd)
    assert out.read_bytes() == expected
    assert sum(moved) == len(expected)
    if hasher is not None:
        assert hasher.hexdigest() == hashlib.sha256(expected).hexdigest()
    # The 3 MiB hole is not allocated: the file uses fewer blocks than its size (kept sparse).
    assert out.stat().st_blocks * 512 <= len(expected) - 2 * MiB


def test_pipe_output_equals_the_stream(sources: tuple[FileSource, MemorySource], tmp_path: Path) -> None:
    extents, expected = layout(*sources)
    read_end, write_end = os.pipe()
    out = tmp_path / "piped.bin"
    pid = os.fork()
    if pid == 0:  # the reader: drain the pipe into a file
        os.close(write_end)
        with open(out, "wb") as f:
            while chunk := os.read(read_end, 1 << 16):
                f.write(chunk)
        os._exit(0)
    os.close(read_end)
    try:
        ExtentWriter(write_end, name="pipe").write_all(iter(extents), 0)
    finally:
        os.close(write_end)
        os.waitpid(pid, 0)
    assert out.read_bytes() == expected


def test_a_run_past_the_end_of_the_image_is_reported(sources: tuple[FileSource, MemorySource],
                                                     tmp_path: Path) -> None:
    source, _memory = sources
    fd = os.open(tmp_path / "out.bin", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(CorruptImageError, match="truncated"):
            ExtentWriter(fd, name="out").write_all(iter([Extent(0, 2 * MiB, ExtentKind.DATA, source,
                                                                11 * MiB + 512)]), 2 * MiB)
    finally:
        os.close(fd)


def test_fallocate_reserves_blocks(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if not fallocate(fd, MiB, MiB):
            pytest.skip("this file system has no fallocate")
        st = os.fstat(fd)
        assert st.st_size == 2 * MiB and st.st_blocks * 512 >= MiB
        assert not fallocate(-1, 0, MiB)  # a bad descriptor is a refusal, not an exception
    finally:
        os.close(fd)


@pytest.fixture
def bare_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform without copy_file_range, sendfile, preadv and fallocate (as macOS lacks some of them)."""
    for name in ("copy_file_range", "sendfile", "preadv"):
        monkeypatch.delattr(os, name, raising=False)
    monkeypatch.setattr("restorekit.fs.copy._libc_fallocate", lambda: None)


@pytest.mark.parametrize("verify", [False, True])
def test_without_kernel_copy_calls_the_bytes_are_the_same(sources: tuple[FileSource, MemorySource], tmp_path: Path,
                                                           bare_platform: None, verify: bool) -> None:
    test_file_output_equals_the_stream(sources, tmp_path, verify)
    test_pipe_output_equals_the_stream(sources, tmp_path)


def test_extract_and_dd_run_without_kernel_copy_calls(tmp_path: Path) -> None:
    """The whole CLI, in a process whose os module lacks the calls, gives the bytes the normal run gives."""
    demo = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
    bare = ("import os, sys\n"
            "for name in ('copy_file_range', 'sendfile', 'preadv'):\n"
            "    delattr(os, name)\n"
            "import restorekit.fs.copy as copy\n"
            "copy._libc_fallocate = lambda: None\n"
            "from restorekit.cli import main\n"
            "sys.argv[0] = 'restorekit'\n"
            "main()\n")
    for label, prefix in (("normal", [sys.executable, "-m", "restorekit"]), ("bare", [sys.executable, "-c", bare])):
        out = tmp_path / label
        subprocess.run([*prefix, "extract", str(demo), "os-p3:/Windows/System32/config", "lun0-p1:/srv", "-o",
                        str(out), "-q", "--verify"], check=True, capture_output=True)
        subprocess.run([*prefix, "dd", str(demo), "--disk", "lun0", "-o", str(tmp_path / f"{label}.raw")],
                       check=True, capture_output=True)
    assert (tmp_path / "bare" / "SHA256SUMS").read_text() == (tmp_path / "normal" / "SHA256SUMS").read_text()
    assert (tmp_path / "bare.raw").read_bytes() == (tmp_path / "normal.raw").read_bytes()
