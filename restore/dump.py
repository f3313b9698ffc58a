"""Write a disk's whole virtual bytes to a file or pipe (``restorekit dd``)."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from restorekit.fs.copy import ExtentWriter
from restorekit.fs.errors import OutputError
from restorekit.outfile import write_whole_file

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from restorekit.fs.image import Image


def dump_to_fd(image: Image, fd: int, *, name: str, progress: Callable[[int], None] | None = None) -> None:
    """Write every byte of ``image`` to an open descriptor (file, pipe, character device)."""
    ExtentWriter(fd, name=name, progress=progress).write_all(image.extents(), image.size)


def dump_to_path(image: Image, out: Path, *, progress: Callable[[int], None] | None = None) -> None:
    """Write ``image`` to ``out``: a regular file appears only when complete, sparse where the disk is zero."""
    _refuse_chain_member(image, out)
    write_whole_file(out, lambda fd: dump_to_fd(image, fd, name=str(out), progress=progress), what="output file")


def _refuse_chain_member(image: Image, out: Path) -> None:
    """Never let an output overwrite an image of the recovery point."""
    try:
        st = out.stat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        return
    node: Image | None = image
    while node is not None:
        if node.source.identity == (st.st_dev, st.st_ino):
            raise OutputError("is an image of this recovery point; it is never written to", path=str(out),
                              hint="choose another output file")
        node = node.parent
