"""A long listing formatted by two processes, written in order.

Formatting a window of a file table's walk (:meth:`restorekit.fs.table.Window.json_bytes`) is independent of every
other window, and costs more than making the windows. :func:`write_in_turns` formats the first few items itself,
then forks: from the first item ``splittable`` accepts on, the parent formats the even items and the child the odd
ones, each while the other writes. A one-byte *token* passes between them through two pipes and says whose turn
it is to write, and whether anything was written yet (a JSON array's first item has no comma before it). Both
write to the same open file, so the output is exactly what one process would write.

Both processes walk the items (making a window is cheap next to formatting it), so an item's making must have no
side effects: the walk's table windows have none (only their formatting reports an entry that cannot be read,
and the process formatting it does). The child reports through its exit status: 0, 1 when it reported something
(:data:`CHILD_REPORTED`: the parent adds one to the count of reports, so the command exits 1), and others when it
failed. The fork happens only where it is safe: Linux, a real output file, no thread running (a remote disk's
readers are threads).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
from typing import TYPE_CHECKING, NoReturn, Protocol, TypeVar

from restorekit.fs.errors import RestoreKitError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

T = TypeVar("T")


class Reports(Protocol):
    """What counts the warnings a listing gave (an entry or folder it could not read): a non-zero count makes
    the command exit 1."""

    count: int

#: Items formatted before a second process starts: a short listing does not pay for the fork.
SERIAL = 2
#: The child's exit statuses: it reported an entry or folder it could not read; it stopped on an interrupt; the
#: output was closed (``| head``); anything else is a failure.
CHILD_REPORTED, CHILD_INTERRUPTED, CHILD_CLOSED = 1, 130, 141


def can_fork(fd: int | None) -> bool:
    """True when formatting in two processes is safe here: ``fd`` is a real file, the system is Linux (macOS's
    system libraries are not safe to use after a fork; Python spawns there too) and no other thread runs (a
    forked child would hold its locks and share its connections)."""
    return fd is not None and sys.platform.startswith("linux") and threading.active_count() == 1


def write_in_turns(items: Iterable[T], make: Callable[[T], bytes], write: Callable[[bytes], None], fd: int | None,
                   *, first: Callable[[bytes], bytes], splittable: Callable[[T], bool], reports: Reports) -> bool:
    """Write ``make(item)`` of each item in order (the first non-empty one through ``first``) with ``write``; when
    :func:`can_fork` to ``fd`` (the file ``write`` writes to, flushed before a fork), in two processes from the
    first ``splittable`` item after :data:`SERIAL`. ``reports`` counts what ``make`` reports; what the child
    reported adds one to it here. Returns whether anything was written."""
    written = False
    iterator = iter(items)
    for index, item in enumerate(iterator):
        if fd is not None and index >= SERIAL and splittable(item) and can_fork(fd):
            return _split(itertools.chain([item], iterator), make, fd, first, reports, written)
        written = _write(write, make(item), written, first)
    return written


def _write(write: Callable[[bytes], None], data: bytes, written: bool, first: Callable[[bytes], bytes]) -> bool:
    """Write ``data`` (through ``first`` when nothing was written yet); whether anything is written now."""
    if not data:
        return written
    write(data if written else first(data))
    return True


def _fd_writer(fd: int) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    return write


def _split(items: Iterator[T], make: Callable[[T], bytes], fd: int, first: Callable[[bytes], bytes],
           reports: Reports, written: bool) -> bool:
    to_parent, to_child = os.pipe(), os.pipe()
    os.write(to_parent[1], _token(written))  # the parent's turn first
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    write = _fd_writer(fd)  # (no buffer of this process's own: each turn's bytes are out before the next turn)
    if pid == 0:
        os.close(to_parent[0])
        os.close(to_child[1])
        _child(items, make, write, first, reports, to_child[0], to_parent[1])
    os.close(to_parent[1])
    os.close(to_child[0])
    mine, theirs = to_parent[0], to_child[1]
    lost = False
    try:
        for index, item in enumerate(items):
            if index % 2:
                continue
            data = make(item)
            token = os.read(mine, 1)
            if not token:  # the child ended before its turn: it failed (its status says how)
                lost = True
                break
            written = _write(write, data, token == b"\1", first)
            _pass(theirs, written)
        else:
            token = os.read(mine, 1)  # the child's last turn is over (or it has ended)
            written = token == b"\1" if token else written
    finally:
        os.close(mine)
        os.close(theirs)  # a child waiting for its turn ends
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if status == CHILD_CLOSED:
        raise BrokenPipeError
    if status == CHILD_INTERRUPTED:
        raise KeyboardInterrupt
    if lost or status not in (0, CHILD_REPORTED):
        raise RestoreKitError(f"the listing's second process failed (exit status {status}), so the listing is "
                              "incomplete", hint="run it again; if it fails again, report it")
    if status == CHILD_REPORTED:
        reports.count += 1
    return written


def _child(items: Iterator[T], make: Callable[[T], bytes], write: Callable[[bytes], None],
           first: Callable[[bytes], bytes], reports: Reports, mine: int, theirs: int) -> NoReturn:
    """The child's half: the odd items, each written in its turn; then it ends with its status (never returning
    into the parent's code)."""
    before = reports.count
    status = 1
    try:
        for index, item in enumerate(items):
            if not index % 2:
                continue
            data = make(item)
            token = os.read(mine, 1)
            if not token:  # the parent has stopped
                break
            _pass(theirs, _write(write, data, token == b"\1", first))
        status = CHILD_REPORTED if reports.count > before else 0
    except KeyboardInterrupt:
        status = CHILD_INTERRUPTED
    except BrokenPipeError:
        status = CHILD_CLOSED
    except BaseException as exc:  # whatever it is, the parent reports the listing incomplete
        print(f"restorekit: the listing's second process: {exc}", file=sys.stderr)
        status = 2
    finally:
        sys.stderr.flush()
        os._exit(status)


def _token(written: bool) -> bytes:
    return b"\1" if written else b"\0"


def _pass(fd: int, written: bool) -> None:
    """Hand the turn over; the other process may have ended already (its last turn was before this one)."""
    with contextlib.suppress(BrokenPipeError):
        os.write(fd, _token(written))
