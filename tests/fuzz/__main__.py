"""``python -m tests.fuzz --minutes N [--seed S] [--jobs J] [--out DIR] [--only NAME...]``: run a campaign and
print the outcome table and the failure classes with their reproducers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.fuzz import campaign
from tests.fuzz.runner import Limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="wall time of the fuzzing phase")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed (same seed, same cases)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out",
                        help="reproducers and the seed cache (default tests/fuzz/out/)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per run before it counts as a hang")
    parser.add_argument("--memory-mib", type=int, default=1024, help="address-space cap per run")
    parser.add_argument("--only", nargs="*", help="only targets whose name contains one of these words")
    parser.add_argument("--no-minimize", action="store_true", help="no reproducers, just the table")
    args = parser.parse_args(argv)
    report = campaign.run(args.minutes * 60, seed=args.seed, jobs=args.jobs, out=args.out,
                          limits=Limits(args.timeout, args.memory_mib << 20), minimize=not args.no_minimize,
                          only=args.only, progress=True)
    print(report.table())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
