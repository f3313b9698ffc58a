"""Stream.pread: reads served from the mapped window equal reads of the mapping itself (pure logic)."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from restorekit.fs.errors import CorruptImageError
from restorekit.fs.stream import MAP_WINDOW, Extent, ExtentKind, FileSource, Stream

KiB = 1 << 10


class Shuffled(Stream):
    """64 KiB pieces of a file in a scrambled order, every fifth piece a hole; mapping past ``bad`` fails."""

    PIECE = 64 * KiB

    def __init__(self, source: FileSource, pieces: int, bad: int | None = None) -> None:
        super().__init__(pieces * self.PIECE)
        self.source = source
        self.order = random.Random(5).sample(range(pieces), pieces)
        self.bad = bad
        self.maps = 0

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        self.maps += 1
        pos, end = offset, offset + length
        while pos < end:
            if self.bad is not None and pos >= self.bad:
                raise CorruptImageError("block table entry points past the end of the file", image="test")
            index, within = divmod(pos, self.PIECE)
            step = min(self.PIECE - within, end - pos)
            if index % 5 == 4:
                yield Extent(pos, step, ExtentKind.ZERO)
            else:
                yield Extent(pos, step, ExtentKind.DATA, self.source, self.order[index] * self.PIECE + within)
            pos += step

    @functools.cached_property
    def plain(self) -> bytes:
        """What the stream's bytes should be, put together without the mapping."""
        data = Path(self.source.name).read_bytes()
        return b"".join(bytes(self.PIECE) if index % 5 == 4 else
                        data[self.order[index] * self.PIECE : (self.order[index] + 1) * self.PIECE]
                        for index in range(len(self.order)))

    def expected(self, length: int, offset: int) -> bytes:
        return self.plain[offset : offset + length]


@pytest.fixture
def source(tmp_path: Path) -> FileSource:
    path = tmp_path / "image.bin"
    path.write_bytes(random.Random(1).randbytes(48 * 64 * KiB))
    return FileSource(path)


def test_window_reads_equal_the_mapping(source: FileSource) -> None:
    stream = Shuffled(source, 48)  # 3 MiB: three windows
    rnd = random.Random(2)
    for _ in range(300):
        offset = rnd.randrange(stream.size + 100)
        length = rnd.choice([1, 512, 1024, 4096, 70 * KiB, 1 << 20, 2 << 20])
        assert stream.pread(length, offset) == stream.expected(length, offset), (offset, length)


def test_small_reads_in_one_window_map_once(source: FileSource) -> None:
    stream = Shuffled(source, 48)
    for offset in range(0, MAP_WINDOW, 1024):
        stream.pread(1024, offset)
    assert stream.maps == 1


def test_a_damaged_neighbour_does_not_fail_a_good_read(source: FileSource) -> None:
    stream = Shuffled(source, 48, bad=100 * KiB)
    assert stream.pread(4096, 0) == stream.expected(4096, 0)
    with pytest.raises(CorruptImageError):
        stream.pread(4096, 200 * KiB)
