"""Old-style (COW) LVM2 snapshots: the origin as it was, from the COW store's persistent exception table.

The COW store (the snapshot's visible LV) is dm-snapshot's persistent format in chunks of the snapshot's
``chunk_size``: chunk 0 is the header (magic ``SnAp``, valid flag, version 1, chunk size in sectors); then come
exception areas, each one chunk of 16-byte ``(origin chunk, COW chunk)`` entries followed by the chunks those
entries copied; an entry whose COW chunk is 0 ends the table. A chunk the table names reads from the COW store,
any other from the origin, so both kinds of range are copied in the kernel.
"""

from __future__ import annotations

import bisect
import struct
from typing import TYPE_CHECKING

from restorekit.fs.errors import VolumeError
from restorekit.fs.stream import Extent, Stream

if TYPE_CHECKING:
    from collections.abc import Iterator

SECTOR = 512
MAGIC = 0x70416E53  # "SnAp"
HEADER = struct.Struct("<IIII")
EXCEPTION = struct.Struct("<QQ")


def read_exceptions(cow: Stream, chunk: int, name: str) -> dict[int, int]:
    """Origin chunk → COW chunk, from the store's exception areas; VolumeError when the store is damaged."""
    hint = "the snapshot's COW store is damaged; the origin LV itself is intact"
    if cow.size < chunk:
        raise VolumeError(f"COW store is {cow.size} bytes, smaller than one {chunk}-byte chunk", volume=name,
                          hint=hint)
    magic, valid, version, chunk_sectors = HEADER.unpack_from(cow.pread(HEADER.size, 0))
    if magic != MAGIC:
        raise VolumeError("COW store has no snapshot header (magic 'SnAp')", volume=name, offset=0, hint=hint)
    if not valid:
        raise VolumeError("the snapshot was invalidated (its COW store overflowed or failed), so it no longer "
                          "holds the origin as it was", volume=name, offset=4,
                          hint="read the origin LV instead; this snapshot cannot be restored")
    if version != 1 or chunk_sectors * SECTOR != chunk:
        raise VolumeError(f"COW store header says version {version}, chunks of {chunk_sectors} sectors; LVM "
                          f"metadata says {chunk // SECTOR}", volume=name, offset=8, hint=hint)
    per_area = chunk // EXCEPTION.size
    chunks = cow.size // chunk
    table: dict[int, int] = {}
    area = 1
    while area < chunks:
        raw = cow.pread(chunk, area * chunk)
        for i in range(per_area):
            old, new = EXCEPTION.unpack_from(raw, i * EXCEPTION.size)
            if new == 0:
                return table
            if not area < new < chunks:
                raise VolumeError(f"COW exception {i} of the area at chunk {area} points at chunk {new}, outside "
                                  f"the store's {chunks} chunks", volume=name,
                                  offset=area * chunk + i * EXCEPTION.size, hint=hint)
            table[old] = new
        area += per_area + 1
    return table


class SnapshotVolume(Stream):
    """The origin with the COW store's exceptions applied: the volume as it was when the snapshot was taken."""

    def __init__(self, origin: Stream, cow: Stream, chunk: int, size: int, *, name: str) -> None:
        super().__init__(size)
        self.name = name
        self.origin = origin
        self.cow = cow
        self.chunk = chunk
        self.table = read_exceptions(cow, chunk, name)
        self._copied = sorted(self.table)

    def _from(self, stream: Stream, pos: int, at: int, run: int) -> Iterator[Extent]:
        got = 0
        for ext in stream.extents(at, run):
            yield Extent(pos + ext.offset - at, ext.length, ext.kind, ext.source, ext.source_offset)
            got = ext.offset + ext.length - at
        if got < run:
            raise VolumeError(f"bytes {pos + got}-{pos + run} of the snapshot lie past the end of "
                              f"{'its COW store' if stream is self.cow else 'the origin'}", volume=self.name)

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        pos, end = offset, offset + length
        while pos < end:
            index, within = divmod(pos, self.chunk)
            new = self.table.get(index)
            if new is not None:
                run = min(self.chunk - within, end - pos)
                yield from self._from(self.cow, pos, new * self.chunk + within, run)
            else:
                after = bisect.bisect_right(self._copied, index)
                stop = self._copied[after] * self.chunk if after < len(self._copied) else end
                run = min(stop, end) - pos
                yield from self._from(self.origin, pos, pos, run)
            pos += run
