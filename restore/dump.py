"""Write a disk's whole virtual bytes to a file or pipe (``restorekit dd``)."""

from __future__ import annotations

import contextlib
import os
import stat
from typing import TYPE_CHECKING

from fs.copy import ExtentWriter
from fs.errors import OutputError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fs.image import Image


def dump_to_fd(image: Image, fd: int, *, name: str, progress: Callable[[int], None] | None = None) -> None:
    """Write every byte of ``image`` to an open descriptor (file, pipe, character device)."""
    ExtentWriter(fd, name=name, progress=progress).write_all(image.extents(), image.size)


def dump_to_path(image: Image, out: Path, *, progress: Callable[[int], None] | None = None) -> None:
    """Write ``image`` to ``out``: a regular file appears only when complete, sparse where the disk is zero."""
    _refuse_chain_member(image, out)
    if out.exists() and not out.is_file():
        # /dev/null, a FIFO or a block device the user chose: write straight into it.
        fd = os.open(out, os.O_WRONLY)
        try:
            dump_to_fd(image, fd, name=str(out), progress=progress)
        finally:
            os.close(fd)
        return
    partial = out.with_name(f".{out.name}.restorekit-partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        raise OutputError(f"cannot create the output file: {exc.strerror}", path=str(out)) from exc
    try:
        dump_to_fd(image, fd, name=str(out), progress=progress)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    os.close(fd)
    partial.replace(out)


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
