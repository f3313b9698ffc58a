"""A fixed-seed fuzz campaign over every target: no tracebacks, hangs, crashes, memory blow-ups, unclear errors,
writes to the inputs or escapes from the output folder.

``RESTOREKIT_FUZZ_SMOKE_SECONDS`` sets its fuzzing wall time (default 120; 0 turns it off). Seeds are prepared
first (cached in ``tests/fuzz/out/seeds/``), outside that time. A failure prints the outcome table; reproduce and
minimize with ``python -m tests.fuzz --minutes 2 --seed 1``, which writes ``tests/fuzz/out/<class>/repro.sh``.
"""

from __future__ import annotations

import os

import pytest

from tests.fuzz import campaign

SECONDS = float(os.environ.get("RESTOREKIT_FUZZ_SMOKE_SECONDS", "120"))


@pytest.mark.skipif(SECONDS <= 0, reason="RESTOREKIT_FUZZ_SMOKE_SECONDS=0 turns the fuzz smoke run off")
def test_fixed_seed_campaign_finds_nothing() -> None:
    report = campaign.run(SECONDS, seed=1, jobs=2, minimize=False)
    print(report.table())
    assert report.runs >= 20, f"only {report.runs} runs in {SECONDS:.0f} s\n{report.table()}"
    failures = sorted(report.failures)
    assert not failures, f"fuzzing found {len(failures)} failure classes:\n{report.table()}"
