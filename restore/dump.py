"""Write a disk's or a volume's whole bytes to a file or pipe (``restorekit dd``).

A disk is its image; a volume is any stream the scan found (:class:`restorekit.fs.scan.VolumeInfo`): a partition,
a logical volume or array assembled from several disks, the plaintext of an unlocked volume, a shadow copy. Either
way the bytes go through :meth:`restorekit.fs.stream.Stream.extents`, so what is stored plainly in an image file is
copied in the kernel and what is zero stays a hole in a regular output file.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from restorekit.fs.copy import ExtentWriter
from restorekit.fs.errors import CorruptImageError, VolumeError
from restorekit.fs.scan import locked_error, shadow_volume
from restorekit.fs.stream import Extent, ExtentKind
from restorekit.fs.volume import Volume
from restorekit.outfile import write_whole_file

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from restorekit.fs.scan import VolumeInfo
    from restorekit.fs.stream import Source, Stream


#: What ``--zero-unreadable`` reads or maps at a time once a range fails: the page size most formats' sectors divide.
SALVAGE_BLOCK = 4096
#: The widest step ``--zero-unreadable`` takes through a range that cannot even be mapped (an LV's extents on a
#: missing disk, LVM's smallest common extent) looking for where it becomes readable; the edge is then found to a
#: SALVAGE_BLOCK. A readable island narrower than this inside such a range is written as zeros with it.
SALVAGE_PROBE = 1 << 20
#: What a byte that cannot be had raises: a truncated or damaged image, a pool's range on a missing disk.
_UNREADABLE = (CorruptImageError, VolumeError)


@dataclass(frozen=True)
class Unreadable:
    """``length`` bytes at ``offset`` of the stream that could not be read (written as zeros), and why."""

    offset: int
    length: int
    reason: str

    def to_dict(self) -> dict[str, object]:
        """For ``--json``."""
        return {"offset": self.offset, "length": self.length, "reason": self.reason}


@dataclass
class DumpResult:
    """What a dump wrote: the bytes that were stored somewhere (the rest is zeros: holes in a regular file), and
    with ``zero_unreadable`` the ranges that could not be read."""

    stored: int = 0
    unreadable: list[Unreadable] = field(default_factory=list)

    def add_unreadable(self, offset: int, length: int, reason: str) -> None:
        """Record a range, merged with the one before when it continues it for the same reason."""
        last = self.unreadable[-1] if self.unreadable else None
        if last is not None and last.offset + last.length == offset and last.reason == reason:
            self.unreadable[-1] = Unreadable(last.offset, last.length + length, reason)
        else:
            self.unreadable.append(Unreadable(offset, length, reason))


class _SalvagingSource:
    """One ``DATA`` extent's source whose unreadable blocks read as zeros and are recorded: a truncated or damaged
    image, a pool's range on a missing disk or that parity cannot rebuild, EIO. Every other failure (a denied or
    changed blob, say) still stops the copy."""

    def __init__(self, source: Source, base: int, result: DumpResult) -> None:
        self.name = source.name
        self._source = source
        self._base = base  # stream offset minus source offset, over this extent
        self._result = result
        prefetch = getattr(source, "prefetch", None)
        if prefetch is not None:
            self.prefetch = prefetch

    def fileno(self) -> int | None:
        return self._source.fileno()

    def pread(self, length: int, offset: int) -> bytes:
        try:
            return self._source.pread(length, offset)
        except (*_UNREADABLE, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno != errno.EIO:
                raise
        parts = []
        for at in range(offset, offset + length, SALVAGE_BLOCK):
            n = min(SALVAGE_BLOCK, offset + length - at)
            try:
                parts.append(self._source.pread(n, at))
            except (*_UNREADABLE, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno != errno.EIO:
                    raise
                reason = str(exc.strerror) if isinstance(exc, OSError) else exc.message
                self._result.add_unreadable(self._base + at, n, reason)
                parts.append(bytes(n))
        return b"".join(parts)


def _maps(stream: Stream, offset: int, length: int) -> bool:
    """Whether ``[offset, offset + length)`` of ``stream`` can be mapped to extents."""
    try:
        for _ext in stream.extents(offset, length):
            pass
    except _UNREADABLE:
        return False
    return True


def _salvaged_extents(stream: Stream, result: DumpResult) -> Iterator[Extent]:
    """``stream.extents()``, with the ranges that cannot even be mapped (a missing disk's extents) as ``ZERO`` runs
    recorded in ``result``."""
    pos, end = 0, stream.size
    while pos < end:
        try:
            for ext in stream.extents(pos, end - pos):
                yield ext
                pos = ext.offset + ext.length
            return
        except _UNREADABLE as exc:
            reason = exc.message
        # The map failed at or after pos (an extent before the failure may be held back, unmerged): find the first
        # block that fails, bisecting on "[ok, x) maps"; then gallop to where it maps again.
        ok, failing = pos, end
        while failing - ok > SALVAGE_BLOCK:
            mid = ok + max(SALVAGE_BLOCK, (failing - ok) // 2 // SALVAGE_BLOCK * SALVAGE_BLOCK)
            ok, failing = (mid, failing) if _maps(stream, ok, mid - ok) else (ok, mid)
        yield from stream.extents(pos, ok - pos)
        bad, step, probe = ok, SALVAGE_BLOCK, ok + SALVAGE_BLOCK
        while probe < end and not _maps(stream, probe, min(SALVAGE_BLOCK, end - probe)):
            bad, step = probe, min(2 * step, SALVAGE_PROBE)
            probe = bad + step
        good = min(probe, end)
        while good - bad > SALVAGE_BLOCK:  # the block at bad fails, the one at good maps (or good is the end)
            mid = bad + max(SALVAGE_BLOCK, (good - bad) // 2 // SALVAGE_BLOCK * SALVAGE_BLOCK)
            bad, good = (bad, mid) if _maps(stream, mid, min(SALVAGE_BLOCK, end - mid)) else (mid, good)
        result.add_unreadable(ok, good - ok, reason)
        yield Extent(ok, good - ok, ExtentKind.ZERO)
        pos = good


def dump_to_fd(stream: Stream, fd: int, *, name: str, progress: Callable[[int], None] | None = None,
               zero_unreadable: bool = False) -> DumpResult:
    """Write every byte of ``stream`` to an open descriptor (file, pipe, character device).

    With ``zero_unreadable``, bytes that cannot be read (a truncated or damaged image, a pool's range on a missing
    disk) are written as zeros and listed in the result, instead of stopping the copy.
    """
    result = DumpResult()

    def counted(extents: Iterator[Extent]) -> Iterator[Extent]:
        for ext in extents:
            if ext.kind is ExtentKind.DATA:
                result.stored += ext.length
                if zero_unreadable and ext.source is not None:
                    salvaging = _SalvagingSource(ext.source, ext.offset - ext.source_offset, result)
                    ext = Extent(ext.offset, ext.length, ext.kind, salvaging, ext.source_offset)
            yield ext

    extents = _salvaged_extents(stream, result) if zero_unreadable else stream.extents()
    ExtentWriter(fd, name=name, progress=progress).write_all(counted(extents), stream.size)
    return result


def dump_to_path(stream: Stream, out: Path, *, overwrite: bool = False,
                 progress: Callable[[int], None] | None = None, zero_unreadable: bool = False) -> DumpResult:
    """Write ``stream`` to ``out``: a regular file appears only when complete, sparse where the stream is zero; an
    existing one is replaced only with ``overwrite``. See :func:`dump_to_fd`."""
    return write_whole_file(out, lambda fd: dump_to_fd(stream, fd, name=str(out), progress=progress,
                                                       zero_unreadable=zero_unreadable),
                            what="output file", overwrite=overwrite)


@dataclass
class VolumeDump:
    """What ``dd --volume`` writes: the volume's readable bytes, and what keeps them from being all it declares."""

    info: VolumeInfo
    stream: Stream
    #: The bytes the volume's table says it has (a partition running past the end of its disk has more than
    #: ``stream.size``); the stream's size otherwise.
    declared_size: int
    #: Why the bytes written are not the whole volume (each one line); ``dd`` exits 1 when there are any. (Bytes of a
    #: pool volume on a missing disk are not among them: reading them fails by name, or with ``zero_unreadable``
    #: they are written as zeros and listed.)
    incomplete: list[str] = field(default_factory=list)


def volume_to_dump(volumes: dict[str, VolumeInfo], volume_id: str) -> VolumeDump:
    """The bytes of volume ``volume_id`` (as ``inspect`` names it) among the scanned ``volumes``; a shadow copy
    ``VOLUME@vssN`` is opened here.

    Raises :class:`VolumeError` naming the volumes there are when the id is unknown, the key options that would
    open a locked volume, and the reason when a volume inside a pool could not be assembled.
    """
    info = volumes.get(volume_id) or shadow_volume(volumes, volume_id, filesystem=False)
    if info is None:
        raise VolumeError(f"no volume {volume_id!r} in this recovery point",
                          hint="volumes here: " + (", ".join(volumes) or "none")
                          + " (see restorekit inspect, which also lists shadow copies as VOLUME@vssN; a whole disk "
                          "is --disk ID)")
    if info.locked:
        raise locked_error(info)
    if info.stream is None:
        reason = "; ".join(info.warnings) or "its bytes cannot be read"
        raise VolumeError(f"cannot be read ({reason})", volume=volume_id,
                          hint="add the missing disks of its pool to the recovery point" if info.parent else None)
    incomplete = []
    stream = info.stream
    declared = stream.declared_size if isinstance(stream, Volume) else stream.size
    if declared > stream.size:  # a partition past the end of its disk
        incomplete.append(f"{volume_id}: its table declares {declared} bytes but the disk ends after "
                          f"{stream.size} of them; wrote the {stream.size} bytes there are")
    return VolumeDump(info, stream, declared, incomplete)


def output_name(volume_id: str) -> str:
    """The file name ``dd`` gives a volume in an output folder: its id with ``/`` as ``_`` (``d0-p1_vg_lv.raw``)."""
    return volume_id.replace("/", "_") + ".raw"
