"""A fuzzing campaign: round-robin over targets and their commands, J runs at a time, for a given wall time;
then one minimized reproducer per new failure class.

Case ``i`` is fully determined by the campaign seed and ``i`` (target, command, volume, mutation), so a
campaign with the same seed replays the same cases in the same order (outcomes that depend on time aside).
"""

from __future__ import annotations

import multiprocessing
import random
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tests.fuzz import seeds
from tests.fuzz.classify import CLASSES
from tests.fuzz.layout import mutate
from tests.fuzz.minimize import Shrinker, slug, write_reproducer
from tests.fuzz.mutators import jsondoc, layout_for
from tests.fuzz.runner import Limits, Result, commands, execute, remove_tree

if TYPE_CHECKING:
    from tests.fuzz.layout import Layout
    from tests.fuzz.ops import Op
    from tests.fuzz.seeds import Target

_LAYOUTS: dict[tuple[str, str], Layout] = {}  # per worker process


@dataclass(frozen=True)
class Case:
    index: int
    target: Target
    command: str
    variant: int
    ops: tuple[Op, ...]


@dataclass
class Failure:
    case: Case
    result: Result
    count: int = 1
    reproducer: Path | None = None


@dataclass
class Report:
    runs: int = 0
    seconds: float = 0.0
    by_class: Counter[str] = field(default_factory=Counter)
    by_target: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failures: dict[str, Failure] = field(default_factory=dict)

    def table(self) -> str:
        shown = [c for c in CLASSES if self.by_class[c]]
        width = max([len(t) for t in self.by_target] + [6])
        lines = [f"{'target':<{width}} " + " ".join(f"{c:>13}" for c in shown)]
        for target, counts in sorted(self.by_target.items()):
            lines.append(f"{target:<{width}} " + " ".join(f"{counts[c]:>13}" for c in shown))
        lines.append(f"{'total':<{width}} " + " ".join(f"{self.by_class[c]:>13}" for c in shown))
        rate = self.runs / self.seconds if self.seconds else 0.0
        lines.append(f"{self.runs} runs in {self.seconds:.0f} s ({rate:.1f} runs/s); "
                     f"{len(self.failures)} failure classes")
        for signature, failure in sorted(self.failures.items()):
            where = f"  repro: {failure.reproducer}" if failure.reproducer else ""
            lines.append(f"  {failure.count:>5}x {signature}  [{failure.case.target.name} "
                         f"{failure.case.command}]{where}")
        return "\n".join(lines)


def _layout(target: Target, name: str) -> Layout:
    key = (target.name, name)
    if key not in _LAYOUTS:
        _LAYOUTS[key] = layout_for(name, target.files[name].read_bytes(), target.names)
    return _LAYOUTS[key]


def make_case(targets: list[Target], seed: int, index: int) -> Case:
    """Case ``index``: targets in turn, each target's commands in turn, a mutation drawn from (seed, index)."""
    target = targets[index % len(targets)]
    rounds = index // len(targets)
    names = commands(target)
    rng = random.Random(f"{seed}:{index}")
    name = rng.choice(target.mutable)
    data = target.files[name].read_bytes()
    ops = jsondoc.mutate(name, data, rng) if target.kind == "json" else mutate(_layout(target, name), rng, data)
    return Case(index, target, names[rounds % len(names)], rounds // len(names), tuple(ops))


def _run_case(targets: list[Target], seed: int, index: int, work: Path, limits: Limits) -> tuple[Case, Result]:
    """Run case ``index``; a hang is confirmed with twice the time (a loaded machine can make a run slow)."""
    case = make_case(targets, seed, index)
    result = execute(case.target, case.command, case.variant, list(case.ops), work, limits)
    if result.verdict.cls == "hang":
        longer = Limits(2 * limits.seconds, limits.memory, limits.file_size)
        result = execute(case.target, case.command, case.variant, list(case.ops), work, longer)
    return case, result


def _shrink(failure: Failure, work: Path, limits: Limits, out: Path) -> Path:
    case = failure.case
    shrinker = Shrinker(case.target, case.command, case.variant, failure.result.verdict.signature, work, limits,
                        max_runs=12 if failure.result.verdict.cls == "hang" else 40)
    ops = shrinker.shrink(list(case.ops))
    return write_reproducer(out / slug(failure.result.verdict.signature), case.target, ops,
                            shrinker.last or failure.result)


def run(seconds: float, *, seed: int = 0, jobs: int = 2, out: Path | None = None, limits: Limits | None = None,
        minimize: bool = True, only: list[str] | None = None, progress: bool = False) -> Report:
    """Fuzz for ``seconds`` of wall time, then (``minimize``) write a reproducer per failure class into ``out``."""
    out = out or Path(__file__).parent / "out"
    limits = limits or Limits()
    targets = seeds.load(out / "seeds")
    if only:
        targets = [t for t in targets if any(word in t.name for word in only)]
    report = Report()
    work = Path(tempfile.mkdtemp(prefix="restorekit-fuzz-"))
    try:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            _fuzz(pool, report, targets, seed, seconds, jobs, work, limits, progress)
            if progress:
                print(report.table(), flush=True)
            if minimize and report.failures:
                shrinks = {sig: pool.submit(_shrink, failure, work, limits, out)
                           for sig, failure in report.failures.items()}
                for sig, future in shrinks.items():
                    report.failures[sig].reproducer = future.result()
                    if progress:
                        print(f"reproducer: {report.failures[sig].reproducer}", flush=True)
    finally:
        remove_tree(work)
    return report


def _fuzz(pool: ProcessPoolExecutor, report: Report, targets: list[Target], seed: int, seconds: float, jobs: int,
          work: Path, limits: Limits, progress: bool) -> None:
    """Keep ``2 * jobs`` cases in flight until ``seconds`` have passed, counting each outcome."""
    started = time.monotonic()
    deadline = started + seconds
    pending: set[Future[tuple[Case, Result]]] = set()
    index = 0
    while pending or time.monotonic() < deadline:
        while time.monotonic() < deadline and len(pending) < 2 * jobs:
            pending.add(pool.submit(_run_case, targets, seed, index, work, limits))
            index += 1
        done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
        for future in done:
            case, result = future.result()
            _count(report, case, result, progress)
    report.seconds = time.monotonic() - started


def _count(report: Report, case: Case, result: Result, progress: bool) -> None:
    verdict = result.verdict
    report.runs += 1
    report.by_class[verdict.cls] += 1
    report.by_target[case.target.name][verdict.cls] += 1
    if not verdict.failed:
        return
    if verdict.signature in report.failures:
        report.failures[verdict.signature].count += 1
        return
    report.failures[verdict.signature] = Failure(case, result)
    if progress:
        print(f"new: {verdict.signature}  [{case.target.name} {case.command} #{case.index}]", flush=True)
