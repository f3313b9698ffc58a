"""Run one CLI command on a mutated, read-only copy of a target, under a time limit and a memory cap, and
check that nothing but the output folder changed.

Layout of a run folder: ``in/`` (the inputs, mode 0444), ``out/`` (the only place the command may write).
stdout and stderr go to files beside the run folder, so the run folder's own listing must stay as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.fuzz.classify import Verdict, classify
from tests.fuzz.seeds import materialize

if TYPE_CHECKING:
    from tests.fuzz.ops import Op
    from tests.fuzz.seeds import Target

TAIL = 64 * 1024
IMAGE_COMMANDS = ("inspect", "ls", "find", "cat", "extract", "tar")
JSON_COMMANDS = ("show", "plan", "template", "inspect")


@dataclass(frozen=True)
class Limits:
    seconds: float = 20.0
    memory: int = 1 << 30
    file_size: int = 1 << 30  # no seed holds a file near this: a bigger one was made up by a mutated field


@dataclass(frozen=True)
class Result:
    verdict: Verdict
    returncode: int | None
    seconds: float
    argv: tuple[str, ...]
    stderr: str


def commands(target: Target) -> tuple[str, ...]:
    if target.kind == "json":
        return ("plan",) if target.plan_options else JSON_COMMANDS
    return IMAGE_COMMANDS if target.volumes else ("inspect",)


def argv(target: Target, command: str, variant: int) -> list[str]:
    """The command line (relative to the run folder); ``variant`` picks the volume for ls/extract."""
    volume = target.volumes[variant % len(target.volumes)] if target.volumes else "d0"
    args, keys = target.args, target.keys
    match command:
        case "inspect":
            return ["inspect", *args, "--json", *keys]
        case "ls":
            return ["ls", *args, f"{volume}:/", "-r", "-l", "--json", *keys]
        case "find":
            return ["find", *args, "**", "--json", *keys]
        case "cat":
            return ["cat", *args, target.sample or f"{volume}:/", *keys]
        case "extract":
            return ["extract", *args, f"{volume}:/", "-o", "out/files", "-q", "--verify", *keys]
        case "tar":
            return ["extract", *args, f"{volume}:/", "--tar", "out/files.tar", "-q", *keys]
        case "show":
            return ["show", *args, "--json"]
        case "plan":
            return ["plan", *args, "--json", *target.plan_options]
        case "template":
            return ["template", *args, "-o", "out/template", "--json"]
    raise ValueError(command)


def _limit(limits: Limits) -> None:
    """In the child before exec: cap the address space and the size of any file written, no core files."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _snapshot(folder: Path) -> dict[str, tuple[str, int, int] | None]:
    """Every path under ``folder`` except ``out/``: files with (sha256, mtime, size), others as None."""
    snap: dict[str, tuple[str, int, int] | None] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d != "out"]
        for name in dirnames:
            snap[os.path.join(rel, name)] = None
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if not os.path.islink(path) else "link"
            snap[os.path.join(rel, name)] = (digest, st.st_mtime_ns, st.st_size)
    return snap


def _changed(before: dict[str, tuple[str, int, int] | None], after: dict[str, tuple[str, int, int] | None]) -> str:
    for path in sorted(set(before) | set(after)):
        if path not in after:
            return f"{path} removed"
        if path not in before:
            return f"{path} appeared beside the inputs"
        if before[path] != after[path]:
            return f"{path} changed (sha256/mtime/size)"
    return ""


def _allocated(path: Path, limit: int = 200_000) -> int:
    """Bytes of data (not holes) in the file ``path``, or in the files below the folder ``path`` (the first
    ``limit`` entries)."""
    if path.is_file():
        return path.stat().st_blocks * 512
    total = 0
    for count, (dirpath, _dirs, files) in enumerate(os.walk(path)):
        if count > limit:
            break
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def remove_tree(path: Path) -> None:
    """``rm -rf``: a run may leave a folder nested thousands deep (a directory cycle extracted), deeper than
    Python's recursive walks go."""
    subprocess.run(["rm", "-rf", "--", str(path)], check=False)


def _escapes(out: Path, limit: int = 200_000) -> str:
    """A symlink under ``out`` that resolves outside it (among the first ``limit`` entries, walked without
    recursion), or a member of ``out/files.tar`` that would land outside."""
    root = out.resolve()
    stack, seen = [out], 0
    while stack and seen < limit:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                seen += 1
                if entry.is_symlink():
                    target = (Path(entry.path).parent / os.readlink(entry.path)).resolve()
                    if target != root and root not in target.parents:
                        return f"symlink: {Path(entry.path).relative_to(out)} -> {os.readlink(entry.path)}"
                elif entry.is_dir():
                    stack.append(Path(entry.path))
    tar = out / "files.tar"
    if tar.is_file():
        try:
            with tarfile.open(tar) as archive:
                for member in archive:
                    for name in (member.name, member.linkname if member.islnk() else ""):
                        parts = Path(name).parts
                        if name.startswith("/") or ".." in parts:
                            return f"tar member: {member.name!r} ({name!r})"
        except (tarfile.TarError, OSError):
            return ""  # not a tar at all: _bad_tar says so
    return ""


def _bad_tar(out: Path, returncode: int | None) -> str:
    """``extract --tar`` left a file that tar cannot read (the README: it appears only when complete)."""
    tar = out / "files.tar"
    if returncode is None or not tar.is_file():
        return ""
    try:
        with tarfile.open(tar) as archive:
            for _ in archive:
                pass
    except (tarfile.TarError, OSError) as exc:
        return f"{tar.name} is not a readable tar ({exc}), exit {returncode}"
    return ""


def _tail(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - TAIL))
        return f.read().decode("utf-8", "replace")


def _write_sparse(path: Path, data: bytearray) -> None:
    """``data`` into ``path``, all-zero MiBs left as holes (a seed of 300 MiB may hold a few MiB)."""
    chunk = 1 << 20
    zeros = bytes(chunk)
    view = memoryview(data)
    with open(path, "wb") as f:
        for at in range(0, len(data), chunk):
            piece = view[at:at + chunk]
            if piece != zeros[:len(piece)]:
                f.seek(at)
                f.write(piece)
        f.truncate(len(data))


def prepare(target: Target, ops: list[Op], folder: Path) -> None:
    """``folder/in``: the target's files with ``ops`` applied, read-only."""
    inputs = folder / "in"
    materialize(target, inputs)
    touched = {op.file for op in ops}
    files = {name: bytearray((inputs / name).read_bytes()) for name in touched}
    for op in ops:
        op.apply(files)
    for name, data in files.items():
        _write_sparse(inputs / name, data)
    for name in target.files:
        (inputs / name).chmod(0o444)


def execute(target: Target, command: str, variant: int, ops: list[Op], work: Path, limits: Limits) -> Result:
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=work))
    try:
        prepare(target, ops, folder)
        (folder / "out").mkdir()
        before = _snapshot(folder)
        line = argv(target, command, variant)
        env = {**os.environ, "PYTHONFAULTHANDLER": "1", "COLUMNS": "120"}
        started = time.monotonic()
        with open(f"{folder}.stdout", "wb") as stdout, open(f"{folder}.stderr", "wb") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "restorekit", *line], cwd=folder, stdin=subprocess.DEVNULL,
                                    stdout=stdout, stderr=stderr, env=env, start_new_session=True,
                                    preexec_fn=lambda: _limit(limits))
            timed_out = False
            try:
                returncode: int | None = proc.wait(limits.seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGABRT)  # faulthandler prints where it hung
                try:
                    proc.wait(3)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                returncode = None
        seconds = time.monotonic() - started
        _kill_session(proc.pid)
        text = _tail(Path(f"{folder}.stderr"))
        written = _allocated(folder / "out") + _allocated(Path(f"{folder}.stdout"))
        verdict = classify(returncode, text, timed_out=timed_out, wrote_input=_changed(before, _snapshot(folder)),
                           escape=_escapes(folder / "out"), bad_output=_bad_tar(folder / "out", returncode),
                           big_output=written >= limits.file_size // 2)
        return Result(verdict, returncode, seconds, tuple(line), text)
    finally:
        for suffix in (".stdout", ".stderr"):
            Path(f"{folder}{suffix}").unlink(missing_ok=True)
        remove_tree(folder)


def _kill_session(pgid: int) -> None:
    """Children the command left behind in its session are killed too."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
