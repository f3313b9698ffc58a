"""Shrink a failing mutation (fewer operations, fewer changed bytes, a shorter file where that keeps the failure)
and write it as a reproducer folder: the inputs (gzipped), the operations, stderr, and ``repro.sh``."""

from __future__ import annotations

import gzip
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.fuzz.ops import Patch, Truncate, describe_all
from tests.fuzz.runner import Limits, Result, execute, prepare

if TYPE_CHECKING:
    from tests.fuzz.ops import Op
    from tests.fuzz.seeds import Target

MiB = 1 << 20


@dataclass
class Shrinker:
    target: Target
    command: str
    variant: int
    signature: str
    work: Path
    limits: Limits
    max_runs: int = 40
    max_seconds: float = 60.0

    def __post_init__(self) -> None:
        self.runs = 0
        self.deadline = time.monotonic() + self.max_seconds
        self.last: Result | None = None

    def fails(self, ops: list[Op]) -> bool:
        """Whether ``ops`` still gives the same failure (False once the budget is spent)."""
        if self.runs >= self.max_runs or time.monotonic() > self.deadline:
            return False
        self.runs += 1
        result = execute(self.target, self.command, self.variant, ops, self.work, self.limits)
        if result.verdict.signature == self.signature:
            self.last = result
            return True
        return False

    def shrink(self, ops: list[Op]) -> list[Op]:
        ops = self._drop(ops)
        ops = self._narrow(ops)
        return self._truncate(ops)

    def _drop(self, ops: list[Op]) -> list[Op]:
        i = len(ops) - 1
        while i >= 0 and len(ops) > 1:
            trial = ops[:i] + ops[i + 1:]
            if self.fails(trial):
                ops = trial
            i -= 1
        return ops

    def _narrow(self, ops: list[Op]) -> list[Op]:
        """Each multi-byte patch cut to the bytes that differ from the seed, then to its first half."""
        for i, op in enumerate(list(ops)):
            if not isinstance(op, Patch) or len(op.data) <= 1:
                continue
            runs = op.narrowed(self.target.files[op.file].read_bytes())
            if sum(len(r.data) for r in runs) < len(op.data) and runs:
                trial = [*ops[:i], runs[0], *ops[i + 1:]]
                if self.fails(trial):
                    ops = trial
                    op = runs[0]
            half = Patch(op.file, op.offset, op.data[:max(1, len(op.data) // 2)], op.note)
            if len(half.data) < len(op.data) and self.fails([*ops[:i], half, *ops[i + 1:]]):
                ops = [*ops[:i], half, *ops[i + 1:]]
        return ops

    def _truncate(self, ops: list[Op]) -> list[Op]:
        """A shorter file: cut just past the last changed byte (rounded up to a MiB), then to half the seed."""
        for name in self.target.mutable:
            files = {name: bytearray(self.target.files[name].read_bytes())}
            for op in ops:
                if op.file == name:
                    op.apply(files)
            size = len(files[name])
            ends = [op.offset + len(op.data) for op in ops if isinstance(op, Patch) and op.file == name]
            for cut in sorted({-(-max(ends, default=0) // MiB) * MiB, size // 2}):
                if 0 < cut < size and self.fails([*ops, Truncate(name, cut)]):
                    return [*ops, Truncate(name, cut)]
        return ops


def slug(signature: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-._" else "-" for c in signature)
    return "-".join(part for part in keep.split("-") if part)[:100]


def write_reproducer(folder: Path, target: Target, ops: list[Op], result: Result) -> Path:
    """``folder``: in/ (gzipped inputs), ops.json, stderr.txt, repro.sh (prints what the command prints)."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / "stage"
    prepare(target, ops, staging)
    for path in sorted((staging / "in").rglob("*")):
        if path.is_file():
            dest = folder / "in" / f"{path.relative_to(staging / 'in')}.gz"
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as fin, gzip.GzipFile(dest, "wb", mtime=0) as fout:
                fout.write(fin.read())
            path.chmod(0o644)
    for path in sorted((staging / "in").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (staging / "in").rmdir()
    staging.rmdir()
    (folder / "ops.json").write_text(describe_all(ops) + "\n")
    (folder / "stderr.txt").write_text(result.stderr)
    (folder / "verdict.json").write_text(json.dumps({
        "class": result.verdict.cls, "signature": result.verdict.signature, "detail": result.verdict.detail,
        "target": target.name, "argv": list(result.argv), "returncode": result.returncode,
        "seconds": round(result.seconds, 2)}, indent=1) + "\n")
    script = folder / "repro.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"# {result.verdict.signature} (target {target.name})\n"
        "# Run from anywhere with restorekit installed (PYTHON=.venv/bin/python sh repro.sh); the inputs are\n"
        "# unpacked into a fresh run/ folder beside this script, read-only, and the command runs there.\n"
        "set -e\n"
        'cd "$(dirname "$0")"\n'
        "chmod -R u+w run 2>/dev/null || true\n"
        "rm -rf run && mkdir -p run/out && cp -r in run/in && find run/in -name '*.gz' -exec gunzip {} +\n"
        "chmod -R a-w run/in\n"
        f"cd run && exec \"${{PYTHON:-python3}}\" -m restorekit {shlex.join(result.argv)}\n")
    script.chmod(0o755)
    return script
