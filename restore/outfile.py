"""Output files: one overwrite policy for all of them, each appears under its name only when complete
(``dd -o FILE``, ``extract --tar FILE``, ``template``'s two files), and none lands on the recovery point's files."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from restorekit.fs.errors import OutputError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

T = TypeVar("T")
PARTIAL_PREFIX = ".restorekit-"


def refuse_existing(out: Path, *, what: str, overwrite: bool) -> None:
    """Raise :class:`OutputError` when ``out`` is an existing regular file and ``overwrite`` is not set.
    Devices and FIFOs (``/dev/null``) are always writable."""
    if not overwrite and out.is_file():
        raise OutputError(f"the {what} already exists", path=str(out),
                          hint="pass --overwrite to replace it, or choose another name")


def write_whole_file(out: Path, write: Callable[[int], T], *, what: str, overwrite: bool = False) -> T:
    """Run ``write(fd)`` on a temporary file beside ``out`` and rename it to ``out`` once ``write`` returns.

    An existing regular ``out`` is replaced only with ``overwrite`` (checked before writing and again before the
    rename). On any failure (a full disk, Ctrl-C) the temporary file is removed and ``out`` is left as it was. An
    existing non-regular ``out`` (``/dev/null``, a FIFO, a block device the user chose) is written directly.
    """
    if out.exists() and not out.is_file():
        with _as_output_error(out, what):
            fd = os.open(out, os.O_WRONLY)
        try:
            return write(fd)
        finally:
            os.close(fd)
    refuse_existing(out, what=what, overwrite=overwrite)
    partial = out.with_name(f"{PARTIAL_PREFIX}{out.name}.part")
    try:
        # Inside the try: a Ctrl-C that lands during open() is raised as open() returns, file made, fd not kept.
        with _as_output_error(out, what):
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            result = write(fd)
        finally:
            os.close(fd)
        refuse_existing(out, what=what, overwrite=overwrite)  # made meanwhile by someone else
        with _as_output_error(out, what):
            partial.replace(out)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return result


@contextlib.contextmanager
def _as_output_error(out: Path, what: str) -> Iterator[None]:
    """Turn an OSError of creating or renaming the output into one line naming it."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write the {what}: {exc.strerror}", path=str(out)) from exc


@dataclass(frozen=True)
class Protected:
    """The files no output may write, replace or sit at: a recovery point's images (every file of each disk's
    differencing chain or split segments) and its JSON. Compared by inode, so hard and symbolic links to them
    count; by resolved path too, for a file that is missing."""

    #: (st_dev, st_ino) → what the file is ("an image", "the JSON").
    identities: dict[tuple[int, int], str]
    #: resolved path → what the file is.
    paths: dict[str, str]

    @classmethod
    def of(cls, files: Iterable[tuple[str | os.PathLike[str], str]]) -> Protected:
        """Protect each ``(path, what)``."""
        identities: dict[tuple[int, int], str] = {}
        paths: dict[str, str] = {}
        for path, what in files:
            paths[os.path.realpath(path)] = what
            with contextlib.suppress(OSError):
                st = os.stat(path)
                identities[(st.st_dev, st.st_ino)] = what
        return cls(identities, paths)

    def check(self, out: str | os.PathLike[str], option: str) -> None:
        """Raise :class:`OutputError` when writing ``out`` would write, replace or create one of these files.
        ``option`` names the flag to change."""
        what = self.paths.get(os.path.realpath(out))
        with contextlib.suppress(OSError):
            st = os.stat(out)
            what = what or self.identities.get((st.st_dev, st.st_ino))
        if what is not None:
            raise OutputError(f"is {what} of this recovery point; it is never written or replaced",
                              path=os.fspath(out), hint=f"choose {option} that is not one of its files")
