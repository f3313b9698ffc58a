"""Write a disk's whole virtual bytes to a file or pipe (``restorekit dd``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.fs.copy import ExtentWriter
from restorekit.outfile import write_whole_file

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from restorekit.fs.image import Image


def dump_to_fd(image: Image, fd: int, *, name: str, progress: Callable[[int], None] | None = None) -> None:
    """Write every byte of ``image`` to an open descriptor (file, pipe, character device)."""
    ExtentWriter(fd, name=name, progress=progress).write_all(image.extents(), image.size)


def dump_to_path(image: Image, out: Path, *, overwrite: bool = False,
                 progress: Callable[[int], None] | None = None) -> None:
    """Write ``image`` to ``out``: a regular file appears only when complete, sparse where the disk is zero; an
    existing one is replaced only with ``overwrite``."""
    write_whole_file(out, lambda fd: dump_to_fd(image, fd, name=str(out), progress=progress), what="output file",
                     overwrite=overwrite)
