"""Outcome classes of one CLI run, and the signature that groups failures (class + exception + last frame).

``ok`` (exit 0, or 3 from ``plan``: blocked) and ``clean-error`` (exit 1/2/3 with ``Error:`` lines, one per
failed file for ``extract``, or the warnings that explain a partial result; no traceback) are fine; every
other class is a failure: ``traceback``, ``hang`` (time limit), ``memory`` (the address-space cap hit),
``crash`` (a signal or an exit status the CLI never uses), ``unclear-error`` (exit 1 or 2 with nothing on
stderr to say why), ``bad-output`` (a ``--tar`` file left behind that tar cannot read), ``wrote-input`` and
``escape``.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAILURES = ("traceback", "hang", "memory", "crash", "unclear-error", "bad-output", "wrote-input", "escape")
CLASSES = ("ok", "clean-error", *FAILURES)
TRACEBACK_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)', re.M)
FAULT_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+) in (\S+)', re.M)
MEMORY = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "unable to allocate", "out of memory")


@dataclass(frozen=True)
class Verdict:
    cls: str
    signature: str  # equal signatures are one failure class
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.cls in FAILURES


def _where(path: str, line: str, func: str) -> str:
    try:
        rel = Path(path).resolve().relative_to(ROOT)
    except ValueError:
        rel = Path(*Path(path).parts[-2:])
    return f"{rel}:{func}"


def last_frame(stderr: str) -> str:
    """The innermost frame in restorekit's own code (else the innermost at all) of a traceback or a
    faulthandler dump (innermost first there)."""
    frames = _frames(stderr)
    ours = [f for f in frames if "/restore/" in f[0] or "/fs/" in f[0]]
    return _where(*(ours or frames or [("?", "0", "?")])[0])


def loop_frame(stderr: str) -> str:
    """Where a hung run was looping: the outermost frame in the read-only layers (``fs/``), where the command
    handed over to them; the innermost frame depends on the moment it was stopped, this one does not."""
    frames = _frames(stderr)
    layers = [f for f in frames if "/fs/" in f[0]]
    return _where(*layers[-1]) if layers else last_frame(stderr)


def _frames(stderr: str) -> list[tuple[str, str, str]]:
    """(file, line, function), innermost first, of the last traceback or faulthandler dump in ``stderr``."""
    dump = stderr.rfind("most recent call first")
    return FAULT_FRAME.findall(stderr[dump:]) if dump >= 0 else TRACEBACK_FRAME.findall(stderr)[::-1]


def exception_type(stderr: str) -> str:
    """The type named on the line that ends the last traceback (``struct.error``, ``ValueError``...)."""
    tail = stderr[stderr.rfind("Traceback (most recent call last)"):].splitlines()[1:]
    for line in tail:
        if line.strip() and not line.startswith((" ", "\t")):
            return line.split(":", 1)[0].strip()
    return "?"


def classify(returncode: int | None, stderr: str, *, timed_out: bool, wrote_input: str = "", escape: str = "",
             bad_output: str = "", big_output: bool = True) -> Verdict:
    """The verdict of one run. ``big_output``: the run wrote bytes near the file-size cap (its output files and
    stdout hold that much data), so an EFBIG means output that would not end; a sparse file whose size passes
    the cap with little data in it (a damaged size field, restored as it says) is an ordinary error."""
    if wrote_input:
        return Verdict("wrote-input", "wrote-input", wrote_input)
    if escape:
        return Verdict("escape", f"escape {escape.split(':', 1)[0]}", escape)
    if timed_out:
        return Verdict("hang", f"hang @ {loop_frame(stderr)}")
    if "File too large" in stderr and big_output:  # EFBIG after writing that much: output that never ends
        return Verdict("hang", f"hang (endless output) @ {loop_frame(stderr)}")
    traceback = "Traceback (most recent call last)" in stderr
    if any(text in stderr for text in MEMORY):
        return Verdict("memory", f"memory @ {last_frame(stderr)}")
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        return Verdict("crash", f"crash {name} @ {last_frame(stderr)}")
    if traceback:
        return Verdict("traceback", f"traceback {exception_type(stderr)} @ {last_frame(stderr)}")
    if bad_output:
        return Verdict("bad-output", f"bad-output tar, exit {returncode}", bad_output)
    if returncode == 0:
        return Verdict("ok", "ok")
    if returncode not in (1, 2, 3):
        return Verdict("crash", f"crash exit {returncode}")
    if any(line.strip() for line in stderr.splitlines()):
        return Verdict("clean-error", "clean-error")  # an Error: line (one per failed file) or the warnings
    if returncode == 3:
        return Verdict("ok", "ok")  # plan: the option asked for is blocked, the verdict is on stdout
    return Verdict("unclear-error", f"unclear-error exit {returncode}, nothing on stderr")
