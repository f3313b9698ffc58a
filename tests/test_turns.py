"""A listing formatted by two processes (restore/cli/turns.py): the bytes and their order are what one process
writes, the child's reports and failures reach the parent, and no fork happens where it is not safe.

Each case runs in a fresh interpreter: the test process may run threads, and then nothing forks.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = """
import os, sys, threading, time
from restorekit.cli.turns import SERIAL, write_in_turns
from restorekit.fs.errors import RestoreKitError

class Reports:
    count = 0

reports = Reports()

def make(i):
    if i == FAIL and os.getpid() != PARENT:
        raise ValueError("broken item")
    if i == REPORT:
        reports.count += 1
    return b"" if i % 7 == 3 else f",{i}:{os.getpid()}\\n".encode()

def write(data):
    os.write(1, data)

PARENT = os.getpid()
FAIL, REPORT, THREAD = (int(a) for a in sys.argv[1:4])
if THREAD:
    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
try:
    written = write_in_turns(range(100), make, write, 1, first=lambda d: d[1:], splittable=lambda i: i >= 10,
                             reports=reports)
except RestoreKitError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(1)
print(f"end {written} {reports.count}", file=sys.stderr)
"""


def run(fail: int = -1, report: int = -1, thread: bool = False) -> tuple[list[tuple[int, int]], str, int]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), str(fail), str(report), str(int(thread))],
                          capture_output=True, text=True, check=False, timeout=60)
    lines = done.stdout.splitlines()
    assert not lines or not lines[0].startswith(","), "the first item is written through first()"
    items = [tuple(int(x) for x in line.lstrip(",").split(":")) for line in lines]
    return items, done.stderr, done.returncode  # type: ignore[return-value]


EXPECTED = [i for i in range(100) if i % 7 != 3]


def test_two_processes_write_what_one_would() -> None:
    items, err, code = run()
    assert code == 0 and "end True 0" in err
    assert [i for i, _pid in items] == EXPECTED
    pids = {pid for _i, pid in items}
    assert len(pids) == 2, "formatted by two processes"
    parent = items[0][1]
    assert all(pid == parent for i, pid in items if i < 10), "the split starts at the first splittable item"
    assert all(pid == parent for i, pid in items if i >= 10 and i % 2 == 0)


def test_what_the_child_reports_reaches_the_parent() -> None:
    items, err, code = run(report=51)  # an odd item: the child's, counted here as one report
    assert code == 0 and "end True 1" in err
    assert [i for i, _pid in items] == EXPECTED


def test_a_failing_child_makes_the_listing_fail() -> None:
    items, err, code = run(fail=31)
    assert code == 1
    assert "second process: broken item" in err and "listing is incomplete" in err
    assert [i for i, _pid in items] == [i for i in EXPECTED if i < 31], "nothing after the lost item"


def test_no_fork_while_a_thread_runs() -> None:
    items, err, code = run(thread=True)
    assert code == 0 and "end True 0" in err
    assert [i for i, _pid in items] == EXPECTED
    assert len({pid for _i, pid in items}) == 1
