"""Run restorekit and its peers side by side; print a table per case and one summary of ratios (bench/README.md)."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from images import (
    OUT,
    PARTITION_SECTOR,
    WORK,
    GiB,
    MiB,
    big_file_sha256,
    build_fs_vhd,
    build_gpt_ntfs_vhd,
    build_tree_vhd,
    build_vhd,
)
from peers import DISSECT_CP, DISSECT_PHASES, FS_LOOP, PYVHDI_LOOP, dissect_python, restorekit_python

#: Every Python child runs with compiled bytecode cached (as an installed package has it), in one place.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
    "PYTHONPYCACHEPREFIX": str(WORK / "pycache")}
#: How restorekit runs: ``python -m restorekit`` of the installed checkout (set in main, see restorekit_python).
RESTOREKIT: list[str] = []
#: GNU time reports the peak RSS of the command alone. ``wait4`` cannot: a child made by (v)fork keeps this
#: process's peak from before its exec as its own, so every row would read at least this script's size.
RSS_FILE = WORK / "peak-rss.txt"
TIME = ["/usr/bin/time", "-f", "%M", "-o", str(RSS_FILE)] if os.path.exists("/usr/bin/time") else []
#: restorekit's own phases, timed the way DISSECT_PHASES times Dissect's: imports, open, copy.
RESTOREKIT_PHASES = """
import sys, time
t0 = time.perf_counter()
import restorekit.cli.files  # what the CLI imports for extract
from restorekit.fs.scan import Keys
from restorekit.extract import ExtractOptions, extract_to_folder, plan_outputs
from restorekit.files import open_volumes, parse_target, resolve, volume_filesystem
t1 = time.perf_counter()
target = parse_target("d0:/big.bin")
with open_volumes([sys.argv[1]], Keys(), [target]) as volumes:
    fs = volume_filesystem(volumes, "d0")
    chosen = [resolve(fs, target.path)]
    t2 = time.perf_counter()
    extract_to_folder(plan_outputs([(fs, chosen)], ExtractOptions(), tar=False), sys.argv[2])
t3 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.4f} {t3 - t2:.4f}", file=sys.stderr)
"""


@dataclass
class Result:
    name: str
    seconds: float
    rss_kib: int
    bytes_: int

    @property
    def rate(self) -> float:
        """GB/s of the bytes this row moved (0 for rows that move none)."""
        return self.bytes_ / self.seconds / 1e9 if self.bytes_ else 0.0


@dataclass
class Table:
    title: str
    results: list[Result]
    reference: str
    note: str = ""


@dataclass
class Goal:
    """One line of the summary: a restorekit row against a peer row (or a bound), and the target."""

    case: str
    ours: str
    value: float
    peer: str
    peer_value: float | None
    target: str
    met: bool


def run(cmd: list[str], repeat: int, out: Path | None = None, *, warmup: bool = True) -> tuple[float, int, str]:
    """Best wall time of ``repeat`` runs after an untimed warm-up, the largest peak RSS (KiB), the last stderr.

    Before each run the output file is deleted and dirty pages are written back (``sync``), so no run pays for
    the writeback of the one before; a run ends when the process has exited with its output closed.
    """
    best, rss, err = float("inf"), 0, ""
    for attempt in range(-1 if warmup else 0, repeat):
        if out is not None:
            out.unlink(missing_ok=True)
        os.sync()
        start = time.perf_counter()
        proc = subprocess.Popen([*TIME, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
        if attempt >= 0:
            peak = int(RSS_FILE.read_text().split()[-1]) if TIME else usage.ru_maxrss
            best, rss = min(best, elapsed), max(rss, peak)
    return best, rss, err


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def warm(path: Path) -> None:
    """Read the image once so every run finds it in the page cache."""
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)


# -- dd ------------------------------------------------------------------------------------------------


def bench_dd(repeat: int) -> tuple[list[Table], list[Goal]]:
    tables = []
    for virtual in (GiB, 4 * GiB):
        image = build_vhd(virtual, 300)
        warm(image)
        OUT.mkdir(exist_ok=True)
        out = OUT / "out.raw"
        rows = [
            ("pyvhdi read loop, discard", [sys.executable, "-c", PYVHDI_LOOP, str(image)], None),
            ("pyvhdi read loop → file", [sys.executable, "-c", PYVHDI_LOOP, str(image), str(out)], out),
            ("qemu-img convert -O raw → file", ["qemu-img", "convert", "-f", "vpc", "-O", "raw", str(image),
                                                str(out)], out),
            ("restorekit dd -o /dev/null", [*RESTOREKIT, "dd", str(image), "-o", "/dev/null"], None),
            ("restorekit dd -o FILE (sparse)", [*RESTOREKIT, "dd", str(image), "-o", str(out)], out),
            ("cat IMAGE > /dev/null (bound)", ["cat", str(image)], None),
        ]
        results, digests = [], set()
        for name, cmd, target in rows:
            if cmd[0] == "qemu-img" and not shutil.which("qemu-img"):
                continue
            seconds, rss, _ = run(cmd, repeat, target)
            if target is not None:
                digests.add(sha256_file(target))
            results.append(Result(name, seconds, rss, virtual))
        out.unlink(missing_ok=True)
        if len(digests) != 1:
            raise SystemExit("dd: the raw images written differ")
        tables.append(Table(f"dd: {virtual // GiB} GiB dynamic VHD, 600 MiB allocated, page cache warm "
                            "(every file written is identical)", results, "pyvhdi read loop, discard"))
    return tables, []


# -- inspect -------------------------------------------------------------------------------------------


def scan_cost(paths: list[Path]) -> tuple[int, int]:
    """Bytes read from the images by one scan, and how many volumes it found (in this process)."""
    from restorekit.fs.image import open_image
    from restorekit.fs.scan import Keys, ScanStats, scan

    stats = ScanStats()
    images = [open_image(p) for p in paths]
    scan([(f"d{i}", im) for i, im in enumerate(images)], Keys(), stats=stats)
    for image in images:
        image.close()
    return stats.bytes_read, stats.volumes


def bench_inspect(repeat: int) -> tuple[list[Table], list[Goal]]:
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    cases = [("1 GiB dynamic VHD, GPT: EFI FAT + 1000 MiB NTFS", [build_gpt_ntfs_vhd()], True)]
    if demo.is_dir():
        cases.append(("the demo recovery point (fixtures/demo)", [demo], False))
    tables = []
    for title, paths, with_peer in cases:
        results = []
        seconds, rss, _ = run([*RESTOREKIT, "inspect", *map(str, paths), "--json"], repeat)
        if with_peer:
            read, volumes = scan_cost(paths)
            name = f"restorekit inspect ({volumes} vols, {read / 1024:.0f} KiB read)"
        else:
            name = "restorekit inspect --json"
        results.append(Result(name, seconds, rss, 0))
        if with_peer and shutil.which("mmls"):
            script = (f"mmls -i vhd {paths[0]} && fsstat -i vhd -o 2048 {paths[0]} && "
                      f"fsstat -i vhd -o 34816 {paths[0]}")
            seconds, rss, _ = run(["sh", "-c", script + " > /dev/null"], repeat)
            results.append(Result("TSK mmls + fsstat per partition", seconds, rss, 0))
        tables.append(Table(f"inspect: {title}", results, results[-1].name))
    return tables, []


# -- extract one big file ------------------------------------------------------------------------------


def _extract_rows(kind: str, image: Path, out: Path, verify: bool = False) -> list[tuple[str, list[str]]]:
    peer = "pyfsntfs" if kind == "ntfs" else "pytsk3"
    rows = [(f"{peer} over pyvhdi → file", [sys.executable, "-c", FS_LOOP, str(image), kind, str(out)])]
    dissect = dissect_python()
    if dissect is not None:
        rows.append(("Dissect (dissect.target) → file", [dissect, "-c", DISSECT_CP, str(image), str(out)]))
    rows.append(("restorekit extract -o DIR", [*RESTOREKIT, "extract", str(image), "d0:/big.bin", "-o",
                                               str(out.parent), "--quiet"]))
    if verify:
        rows.append(("restorekit extract -o DIR --verify", [*rows[-1][1], "--verify"]))
    return rows


def _extract_table(kind: str, size_mib: int, repeat: int, verify: bool = False) -> Table:
    image = build_fs_vhd(kind, size_mib)
    expected = big_file_sha256(size_mib)
    warm(image)
    out = _out_folder() / "big.bin"
    results = []
    for name, cmd in _extract_rows(kind, image, out, verify):
        seconds, rss, _ = run(cmd, repeat, out, warmup=not verify)
        if sha256_file(out) != expected:
            raise SystemExit(f"{name}: the file written differs from big.bin")
        results.append(Result(name, seconds, rss, size_mib * MiB))
    seconds, rss, _ = run(["cp", str(image), str(out)], repeat, out, warmup=not verify)
    results.append(Result("cp IMAGE FILE (kernel copy, the bound)", seconds, rss, image.stat().st_size))
    shutil.rmtree(out.parent)
    return Table(f"extract: a {size_mib} MiB file from {kind} in a dynamic VHD, page cache warm "
                 "(output on the same file system, bytes verified)", results, results[0].name)


def _out_folder() -> Path:
    folder = OUT / "extract-out"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _phases(script: list[str], image: Path, out: Path, repeat: int) -> list[float]:
    """Seconds per phase (imports, open, copy) of the best of ``repeat`` runs of a phase script."""
    best: list[float] = []
    for _ in range(repeat):
        _, _, err = run([*script, str(image), str(out)], 1, out / "big.bin" if out.is_dir() else out)
        phases = [float(x) for x in err.split()[-3:]]
        if not best or sum(phases) < sum(best):
            best = phases
    return best


def bench_files(repeat: int, size_mib: int = 400) -> tuple[list[Table], list[Goal]]:
    """Extract one file from NTFS and ext4 in a dynamic VHD: restorekit vs Dissect vs pytsk3/pyfsntfs."""
    tables, goals = [], []
    start, _, _ = run([sys.executable, "-c", "pass"], repeat)
    for kind in ("ntfs", "ext4"):
        table = _extract_table(kind, size_mib, repeat)
        case = f"extract {size_mib} MiB, {kind} in dynamic VHD"
        ours = next(r for r in table.results if r.name.startswith("restorekit"))
        table.note = f"Python start-up alone (python -c pass): {start:.3f} s."
        dissect = next((r for r in table.results if r.name.startswith("Dissect")), None)
        if dissect is not None:
            image, folder = build_fs_vhd(kind, size_mib), _out_folder()
            theirs = _phases([str(dissect_python()), "-c", DISSECT_PHASES], image, folder / "big.bin", repeat)
            mine = _phases([RESTOREKIT[0], "-c", RESTOREKIT_PHASES], image, folder, repeat)
            shutil.rmtree(folder)
            table.note += ("\nIn-process phases, best run (imports / open image, file system and file / copy): "
                           f"Dissect {theirs[0]:.3f} / {theirs[1]:.3f} / {theirs[2]:.3f} s, "
                           f"restorekit {mine[0]:.3f} / {mine[1]:.3f} / {mine[2]:.3f} s.")
            ratio = dissect.seconds / ours.seconds
            goals.append(Goal(case, f"{ours.seconds:.3f} s", ratio, "Dissect", dissect.seconds, "≥ 2×", ratio >= 2))
        peer = table.results[0]
        ratio = peer.seconds / ours.seconds
        goals.append(Goal(case, f"{ours.seconds:.3f} s", ratio, peer.name.split(" ")[0], peer.seconds, "≥ 15×",
                          ratio >= 15))
        tables.append(table)
    return tables, goals


# -- memory: a 2 GiB file -------------------------------------------------------------------------------


def bench_rss(repeat: int) -> tuple[list[Table], list[Goal]]:
    """Peak RSS while extracting a 2 GiB file (NTFS and ext4 in a dynamic VHD), beside the peers'."""
    tables, goals = [], []
    for kind in ("ntfs", "ext4"):
        table = _extract_table(kind, 2048, min(repeat, 1), verify=True)
        for r in table.results:
            if r.name.startswith("restorekit"):
                peers = [p for p in table.results if not p.name.startswith(("restorekit", "cp "))]
                worst = max(peers, key=lambda p: p.rss_kib, default=None)
                goals.append(Goal(f"peak RSS, 2 GiB {kind}{' --verify' if 'verify' in r.name else ''}",
                                  f"{r.rss_kib / 1024:.0f} MiB", r.rss_kib / 1024,
                                  worst.name.split(" ")[0] if worst else "-",
                                  worst.rss_kib / 1024 if worst else None, "< 150 MiB", r.rss_kib < 150 * 1024))
        table.title = table.title.replace("extract:", "memory:")
        tables.append(table)
    return tables, goals


# -- listing 20,000 files --------------------------------------------------------------------------------


def bench_ls(repeat: int, folders: int = 200, files: int = 100) -> tuple[list[Table], list[Goal]]:
    """``ls -r --json`` of 20,000 files against TSK's ``fls -r`` on the same partition (NTFS and ext4)."""
    tables, goals = [], []
    for kind in ("ntfs", "ext4"):
        image = build_tree_vhd(kind, folders, files)
        warm(image)
        fls = ["fls", "-i", "vhd", "-o", str(PARTITION_SECTOR), "-r"]
        rows = [
            ("TSK fls -r", [*fls, str(image)]),
            ("TSK fls -r -p -l (paths, times, sizes)", [*fls, "-p", "-l", str(image)]),
            ("restorekit ls -r", [*RESTOREKIT, "ls", str(image), "d0-p1:/", "-r"]),
            ("restorekit ls -r --json", [*RESTOREKIT, "ls", str(image), "d0-p1:/", "-r", "--json"]),
        ]
        results = []
        for name, cmd in rows:
            if cmd[0] == "fls" and not shutil.which("fls"):
                continue
            seconds, rss, _ = run(cmd, repeat)
            results.append(Result(name, seconds, rss, 0))
        table = Table(f"ls: {folders * files:,} files in {folders} folders, {kind} partition in a dynamic VHD",
                      results, results[0].name)
        tables.append(table)
        fls_row = next((r for r in results if r.name == "TSK fls -r"), None)
        ours = results[-1]
        if fls_row is not None:
            goals.append(Goal(f"ls -r --json, {folders * files:,} files, {kind}", f"{ours.seconds:.3f} s",
                              ours.seconds / fls_row.seconds, "fls -r", fls_row.seconds, "≤ 2× fls's time",
                              ours.seconds <= 2 * fls_row.seconds))
    return tables, goals


# -- mount: cp -a through FUSE against extract -------------------------------------------------------------


def _mounted_cp(image: Path, out: Path, repeat: int) -> tuple[float, float]:
    """Best seconds of ``cp -a`` of ``big.bin`` through a fresh ``restorekit mount`` (nothing of the file in the
    kernel's cache: the first read of it through FUSE), and of a second ``cp -a`` on the same mount (its pages
    cached by the kernel). The mount's start-up is not timed: it is made once per run and then used."""
    mountpoint = OUT / "mnt"
    mountpoint.mkdir(parents=True, exist_ok=True)
    first, again = float("inf"), float("inf")
    for _ in range(repeat):
        proc = subprocess.Popen([*RESTOREKIT, "mount", str(image), str(mountpoint)], stderr=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, env=ENV, text=True)
        assert proc.stderr is not None
        while not (line := proc.stderr.readline()).startswith("Mounted read-only"):
            if not line:
                raise SystemExit(f"restorekit mount {image} did not mount")
        try:
            for attempt in range(2):
                out.unlink(missing_ok=True)
                os.sync()
                start = time.perf_counter()
                subprocess.run(["cp", "-a", str(mountpoint / "d0" / "big.bin"), str(out)], check=True)
                elapsed = time.perf_counter() - start
                if attempt == 0:
                    first = min(first, elapsed)
                else:
                    again = min(again, elapsed)
        finally:
            subprocess.run(["fusermount3", "-u", str(mountpoint)], check=True)
            proc.wait(60)
            proc.stderr.close()
    return first, again


def bench_mount(repeat: int, size_mib: int = 400) -> tuple[list[Table], list[Goal]]:
    """``cp -a`` of a 400 MiB file through ``restorekit mount`` against ``restorekit extract`` of it (issue #15)."""
    tables, goals = [], []
    for kind in ("ntfs", "ext4"):
        image = build_fs_vhd(kind, size_mib)
        expected = big_file_sha256(size_mib)
        warm(image)
        out = _out_folder() / "big.bin"
        extract, rss, _ = run([*RESTOREKIT, "extract", str(image), "d0:/big.bin", "-o", str(out.parent), "--quiet"],
                              repeat, out)
        results = [Result("restorekit extract -o DIR", extract, rss, size_mib * MiB)]
        first, again = _mounted_cp(image, out, repeat)
        if sha256_file(out) != expected:
            raise SystemExit("cp -a through the mount wrote other bytes than big.bin")
        results.append(Result("cp -a MOUNT/d0/big.bin (first read)", first, 0, size_mib * MiB))
        results.append(Result("cp -a again (pages cached by the kernel)", again, 0, size_mib * MiB))
        shutil.rmtree(out.parent)
        tables.append(Table(f"mount: a {size_mib} MiB file from {kind} in a dynamic VHD, page cache warm (output on "
                            "the same file system, bytes verified; mount start-up not timed)", results,
                            results[0].name))
        ratio = extract / first
        goals.append(Goal(f"mount cp -a {size_mib} MiB, {kind}", f"{first:.3f} s", ratio, "extract", extract,
                          "≥ 0.5×", ratio >= 0.5))
    return tables, goals


# -- output ----------------------------------------------------------------------------------------------


def print_table(table: Table) -> None:
    ref = next(r for r in table.results if r.name == table.reference)
    moves = any(r.bytes_ for r in table.results)
    print(f"\n{table.title}\n")
    label = f"× {table.reference.split(' ')[0]}"
    head = f"| {'run':<42} | {'seconds':>8} |"
    rule = f"|{'-' * 44}|{'-' * 10}|"
    if moves:
        head, rule = head + f" {'GB/s':>6} |", rule + f"{'-' * 8}|"
    print(f"{head} {label:>12} | {'peak RSS':>9} |")
    print(f"{rule}{'-' * 14}|{'-' * 11}|")
    for r in table.results:
        speed = r.rate / ref.rate if moves and r.bytes_ and ref.bytes_ else ref.seconds / r.seconds
        line = f"| {r.name:<42} | {r.seconds:8.3f} |"
        if moves:
            line += f" {r.rate:6.2f} |"
        print(f"{line} {speed:12.2f} | {r.rss_kib / 1024:5.0f} MiB |")
    if table.note:
        print(f"\n{table.note}")


def print_summary(goals: list[Goal]) -> None:
    print("\nsummary: restorekit against its peers, and the targets of issues #4 and #15\n")
    print(f"| {'case':<36} | {'restorekit':>10} | {'peer':<10} | {'peer':>9} | {'ratio':>7} | {'target':<15} | met |")
    print(f"|{'-' * 38}|{'-' * 12}|{'-' * 12}|{'-' * 11}|{'-' * 9}|{'-' * 17}|-----|")
    for g in goals:
        rss = "RSS" in g.case
        peer = "-" if g.peer_value is None else (f"{g.peer_value:5.0f} MiB" if rss else f"{g.peer_value:7.3f} s")
        ratio = "" if rss else f"{g.value:6.2f}×"
        print(f"| {g.case:<36} | {g.ours:>10} | {g.peer:<10} | {peer:>9} | {ratio:>7} | {g.target:<15} | "
              f"{'yes' if g.met else 'NO':<3} |")


SECTIONS = {"dd": bench_dd, "inspect": bench_inspect, "files": bench_files, "rss": bench_rss, "ls": bench_ls,
            "mount": bench_mount}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row (best is shown); default 3")
    parser.add_argument("--only", choices=list(SECTIONS), action="append", help="run these sections only")
    args = parser.parse_args()
    RESTOREKIT[:] = [restorekit_python(), "-m", "restorekit"]
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} at start; best of {args.repeat}")
    goals: list[Goal] = []
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        tables, section_goals = section(args.repeat)
        for table in tables:
            print_table(table)
        goals += section_goals
    if goals:
        print_summary(goals)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
