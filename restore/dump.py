"""Write a disk's or a volume's whole bytes to a file or pipe (``restorekit dd``).

A disk is its image; a volume is any stream the scan found (:class:`restorekit.fs.scan.VolumeInfo`): a partition,
a logical volume or array assembled from several disks, the plaintext of an unlocked volume. Either way the
bytes go through :meth:`restorekit.fs.stream.Stream.extents`, so what is stored plainly in an image file is
copied in the kernel and what is zero stays a hole in a regular output file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from restorekit.fs.copy import ExtentWriter
from restorekit.fs.errors import VolumeError
from restorekit.fs.scan import locked_error
from restorekit.fs.stream import ExtentKind
from restorekit.fs.volume import Volume
from restorekit.outfile import write_whole_file

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from restorekit.fs.scan import VolumeInfo
    from restorekit.fs.stream import Extent, Stream


def dump_to_fd(stream: Stream, fd: int, *, name: str, progress: Callable[[int], None] | None = None) -> int:
    """Write every byte of ``stream`` to an open descriptor (file, pipe, character device); returns the bytes that
    were stored somewhere (the rest is zeros: holes in a regular file)."""
    stored = 0

    def counted(extents: Iterator[Extent]) -> Iterator[Extent]:
        nonlocal stored
        for ext in extents:
            if ext.kind is ExtentKind.DATA:
                stored += ext.length
            yield ext

    ExtentWriter(fd, name=name, progress=progress).write_all(counted(stream.extents()), stream.size)
    return stored


def dump_to_path(stream: Stream, out: Path, *, overwrite: bool = False,
                 progress: Callable[[int], None] | None = None) -> int:
    """Write ``stream`` to ``out``: a regular file appears only when complete, sparse where the stream is zero; an
    existing one is replaced only with ``overwrite``. Returns the bytes stored (see :func:`dump_to_fd`)."""
    return write_whole_file(out, lambda fd: dump_to_fd(stream, fd, name=str(out), progress=progress),
                            what="output file", overwrite=overwrite)


@dataclass
class VolumeDump:
    """What ``dd --volume`` writes: the volume's readable bytes, and what keeps them from being all it declares."""

    info: VolumeInfo
    stream: Stream
    #: Why the bytes written are not the whole volume (each one line); ``dd`` exits 1 when there are any.
    incomplete: list[str] = field(default_factory=list)


def volume_to_dump(volumes: dict[str, VolumeInfo], volume_id: str) -> VolumeDump:
    """The bytes of volume ``volume_id`` (as ``inspect`` names it) among the scanned ``volumes``.

    Raises :class:`VolumeError` naming the volumes there are when the id is unknown, the key options that would
    open a locked volume, and the reason when a volume inside a pool could not be assembled.
    """
    info = volumes.get(volume_id)
    if info is None:
        raise VolumeError(f"no volume {volume_id!r} in this recovery point",
                          hint="volumes here: " + (", ".join(volumes) or "none")
                          + " (see restorekit inspect; a whole disk is --disk ID)")
    if info.locked:
        raise locked_error(info)
    if info.stream is None:
        reason = "; ".join(info.warnings) or "its bytes cannot be read"
        raise VolumeError(f"cannot be read ({reason})", volume=volume_id,
                          hint="add the missing disks of its pool to the recovery point" if info.parent else None)
    incomplete = []
    stream = info.stream
    if isinstance(stream, Volume) and stream.declared_size > stream.size:  # a partition past the end of its disk
        incomplete.append(f"{volume_id}: its table declares {stream.declared_size} bytes but the disk ends after "
                          f"{stream.size} of them; wrote the {stream.size} bytes there are")
    if info.parent is not None:  # what its pool's assembly said about it: ranges read as missing
        incomplete += info.warnings
    return VolumeDump(info, stream, incomplete)


def output_name(volume_id: str) -> str:
    """The file name ``dd`` gives a volume in an output folder: its id with ``/`` as ``_`` (``d0-p1_vg_lv.raw``)."""
    return volume_id.replace("/", "_") + ".raw"
