"""Run restorekit and its peers side by side and print one table (see bench/README.md)."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"
GiB = 1 << 30
BLOCK = 2 << 20

PYVHDI_LOOP = """
import sys, pyvhdi
v = pyvhdi.file(); v.open(sys.argv[1]); n = v.get_media_size(); off = 0
out = open(sys.argv[2], "wb") if len(sys.argv) > 2 else None
while off < n:
    b = v.read_buffer(min(8 << 20, n - off)); off += len(b)
    if out: out.write(b)
"""


@dataclass
class Result:
    name: str
    seconds: float
    rss_kib: int
    bytes_: int


def run(cmd: list[str], repeat: int, out: Path | None = None) -> tuple[float, int]:
    """Best wall time of ``repeat`` runs and the largest peak RSS (KiB)."""
    best, rss = float("inf"), 0
    for _ in range(repeat):
        if out is not None and out.exists():
            out.unlink()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}")
        best, rss = min(best, elapsed), max(rss, usage.ru_maxrss)
    return best, rss


def build_vhd(virtual: int, allocated_blocks: int) -> Path:
    """A dynamic VHD of ``virtual`` bytes with ``allocated_blocks`` random 2 MiB blocks, made by qemu-img."""
    path = WORK / f"dyn-{virtual // GiB}g-{allocated_blocks * BLOCK >> 20}m.vhd"
    if path.exists():
        return path
    WORK.mkdir(exist_ok=True)
    raw = WORK / "src.raw"
    rnd = random.Random(7)
    with open(raw, "wb") as f:
        f.truncate(virtual)
        for block in sorted(rnd.sample(range(virtual // BLOCK), allocated_blocks)):
            f.seek(block * BLOCK)
            f.write(rnd.randbytes(BLOCK))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=on",
                    str(raw), str(path)], check=True)
    raw.unlink()
    return path


def bench_dd(repeat: int) -> list[tuple[str, list[Result]]]:
    tables = []
    for virtual in (GiB, 4 * GiB):
        image = build_vhd(virtual, 300)
        subprocess.run(["cat", str(image)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        out = WORK / "out.raw"
        restorekit = [sys.executable, "-m", "restore", "dd", str(image)]
        rows = [
            ("pyvhdi read loop, discard", [sys.executable, "-c", PYVHDI_LOOP, str(image)], None),
            ("pyvhdi read loop → file", [sys.executable, "-c", PYVHDI_LOOP, str(image), str(out)], out),
            ("qemu-img convert -O raw → file", ["qemu-img", "convert", "-f", "vpc", "-O", "raw", str(image),
                                                str(out)], out),
            ("restorekit dd -o /dev/null", [*restorekit, "-o", "/dev/null"], None),
            ("restorekit dd -o FILE (sparse)", [*restorekit, "-o", str(out)], out),
            ("cat IMAGE > /dev/null (bound)", ["cat", str(image)], None),
        ]
        results = []
        for name, cmd, target in rows:
            if cmd[0] == "qemu-img" and not shutil.which("qemu-img"):
                continue
            seconds, rss = run(cmd, repeat, target)
            results.append(Result(name, seconds, rss, virtual))
        (WORK / "out.raw").unlink(missing_ok=True)
        tables.append((f"dd: {virtual // GiB} GiB dynamic VHD, 600 MiB allocated, page cache warm", results))
    return tables


def print_table(title: str, results: list[Result], reference: str) -> None:
    ref = next(r for r in results if r.name.startswith(reference))
    print(f"\n{title}\n")
    print(f"| {'run':<34} | {'seconds':>8} | {'GB/s (virtual)':>14} | {'× pyvhdi':>8} | {'peak RSS':>9} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 16}|{'-' * 10}|{'-' * 11}|")
    for r in results:
        print(f"| {r.name:<34} | {r.seconds:8.3f} | {r.bytes_ / r.seconds / 1e9:14.2f} | "
              f"{ref.seconds / r.seconds:8.1f} | {r.rss_kib / 1024:6.0f} MiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for title, results in bench_dd(args.repeat):
        print_table(title, results, "pyvhdi read loop, discard")


if __name__ == "__main__":
    main()
