"""``restorekit.dump``'s ``zero_unreadable``: ranges a volume cannot even map (an LV's extents on a missing disk,
which LVM's reader refuses to map rather than read as zeros) become listed zero runs between the bytes around them.

The volume is a real raw image file stitched by :class:`SegmentVolume` around :class:`Unmappable` runs, a stand-in
for those missing extents (synthesized bytes: the logic under test is the search for where reading can go on).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from restorekit.dump import SALVAGE_PROBE, dump_to_path
from restorekit.fs.errors import VolumeError
from restorekit.fs.image import open_image
from restorekit.fs.stream import Stream
from restorekit.fs.volume import Segment, SegmentVolume

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from restorekit.fs.stream import Extent

MiB = 1 << 20


class Unmappable(Stream):
    """Bytes on a disk that is not there: mapping any of them raises."""

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        raise VolumeError("bytes are on PV pv1, which is missing", volume="d0-p1/vg")


@pytest.mark.parametrize("layout", [
    [("data", 0, MiB), ("missing", 3 * MiB), ("data", MiB, MiB)],  # a gap in the middle, extent-aligned
    [("missing", 12288), ("data", 0, 20480), ("missing", 3 * SALVAGE_PROBE + 4096), ("data", 20480, 8192)],
    [("data", 0, 2 * MiB), ("missing", 5 * 4096)],  # up to the end
])
def test_unmappable_ranges_become_listed_zeros(tmp_path: Path, layout: list[tuple]) -> None:  # type: ignore[type-arg]
    raw = tmp_path / "disk.raw"
    raw.write_bytes(os.urandom(2 * MiB))
    source = raw.read_bytes()
    with open_image(raw) as image:
        segments, expected, gaps, pos = [], b"", [], 0
        for kind, *args in layout:
            if kind == "data":
                start, length = args
                segments.append(Segment(pos, length, image, start))
                expected += source[start : start + length]
            else:
                (length,) = args
                segments.append(Segment(pos, length, Unmappable(length)))
                expected += bytes(length)
                gaps.append((pos, length))
            pos += length
        volume = SegmentVolume(segments, pos, name="d0-p1/vg/lv")
        with pytest.raises(VolumeError, match="which is missing"):
            dump_to_path(volume, tmp_path / "strict.raw")
        assert not (tmp_path / "strict.raw").exists()
        result = dump_to_path(volume, tmp_path / "out.raw", zero_unreadable=True)
    assert (tmp_path / "out.raw").read_bytes() == expected
    assert [(gap.offset, gap.length) for gap in result.unreadable] == gaps
    assert {gap.reason for gap in result.unreadable} == {"bytes are on PV pv1, which is missing"}
