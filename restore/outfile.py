"""Output files that appear under their name only when complete (``dd -o FILE``, ``extract --tar FILE``)."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, TypeVar

from restorekit.fs.errors import OutputError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

T = TypeVar("T")
PARTIAL_PREFIX = ".restorekit-"


def write_whole_file(out: Path, write: Callable[[int], T], *, what: str) -> T:
    """Run ``write(fd)`` on a temporary file beside ``out`` and rename it to ``out`` once ``write`` returns.

    On any failure (a full disk, Ctrl-C) the temporary file is removed and ``out`` is left as it was. An
    existing non-regular ``out`` (``/dev/null``, a FIFO, a block device the user chose) is written directly.
    """
    if out.exists() and not out.is_file():
        fd = os.open(out, os.O_WRONLY)
        try:
            return write(fd)
        finally:
            os.close(fd)
    partial = out.with_name(f"{PARTIAL_PREFIX}{out.name}.part")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot create the {what}: {exc.strerror}", path=str(out)) from exc
    try:
        result = write(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    os.close(fd)
    partial.replace(out)
    return result
