"""Run restorekit and its peers side by side; print a table per case and one summary of ratios (bench/README.md)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from images import (
    LV_ID,
    OUT,
    PARTITION_SECTOR,
    WALK_FILES_PER_FOLDER,
    WORK,
    GiB,
    MiB,
    big_file_sha256,
    build_fs_raw,
    build_fs_vhd,
    build_gpt_ntfs_vhd,
    build_lvm_disks,
    build_lvm_striped,
    build_md_members,
    build_tree_vhd,
    build_vhd,
    build_walk_images,
    lv_chunks,
    walk_image,
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
    #: Values of the table's extra ``columns``, already formatted.
    extra: tuple[str, ...] = ()

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
    #: Headers of extra columns, after the standard ones (each row's ``extra`` fills them).
    columns: tuple[str, ...] = ()
    #: Show each row's time divided by the reference's (a slowdown) instead of the reference's divided by it.
    time_ratio: bool = False


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


# -- dd --volume ----------------------------------------------------------------------------------------


def _gnu_dd(src: Path, out: Path, skip: int, count: int, seek: int = 0) -> str:
    """A GNU dd command line copying ``count`` bytes at ``skip`` of ``src`` to ``seek`` of ``out``, sparse."""
    return (f"dd if={src} of={out} bs=8M iflag=skip_bytes,count_bytes oflag=seek_bytes skip={skip} count={count} "
            f"seek={seek} conv=sparse,notrunc status=none")


def _first_partition(disk: Path) -> tuple[int, int]:
    """Offset and size in bytes of partition 1, as sgdisk reads the GPT."""
    info = subprocess.run(["sgdisk", "-i", "1", str(disk)], capture_output=True, text=True, check=True).stdout
    first = int(re.search(r"First sector: (\d+)", info).group(1))  # type: ignore[union-attr]
    sectors = int(re.search(r"Partition size: (\d+) sectors", info).group(1))  # type: ignore[union-attr]
    return first * 512, sectors * 512


def bench_ddvol(repeat: int) -> tuple[list[Table], list[Goal]]:
    """``dd --volume`` of a partition and of a linear LV spanning two disks, against GNU dd of the same raw ranges."""
    disk_a, disk_b, halves = build_lvm_disks()
    for disk in (disk_a, disk_b):
        warm(disk)
    OUT.mkdir(exist_ok=True)
    out = OUT / "volume.raw"
    part_start, part_size = _first_partition(disk_a)
    lv_size = sum(length for _, length in halves)
    lv_dd = " && ".join(_gnu_dd(disk, out, start, length, seek) for disk, (start, length), seek in
                        zip((disk_a, disk_b), halves, (0, halves[0][1]), strict=True))
    cases = [
        (f"partition d0-p1 ({part_size / MiB:.0f} MiB, 400 MiB of data) of a raw disk", "d0-p1", part_size,
         _gnu_dd(disk_a, out, part_start, part_size)),
        (f"linear LV {LV_ID} (800 MiB, half on each of two raw disks)", LV_ID, lv_size, lv_dd),
    ]
    lv_digest = hashlib.sha256()
    for chunk in lv_chunks():
        lv_digest.update(chunk)
    tables, goals = [], []
    for title, volume, size, gnu in cases:
        rows = [
            ("GNU dd of the raw range(s) → file", ["sh", "-c", gnu], out),
            ("restorekit dd --volume -o FILE", [*RESTOREKIT, "dd", str(disk_a), str(disk_b), "--volume", volume, "-o",
                                                str(out)], out),
            ("restorekit dd --volume -o /dev/null", [*RESTOREKIT, "dd", str(disk_a), str(disk_b), "--volume", volume,
                                                     "-o", "/dev/null"], None),
        ]
        results, digests = [], set()
        for name, cmd, target in rows:
            seconds, rss, _ = run(cmd, repeat, target)
            if target is not None:
                digests.add(sha256_file(target))
            results.append(Result(name, seconds, rss, size))
        out.unlink(missing_ok=True)
        if len(digests) != 1 or (volume == LV_ID and digests != {lv_digest.hexdigest()}):
            raise SystemExit(f"dd --volume {volume}: the bytes written differ from the raw range's")
        tables.append(Table(f"dd --volume: {title}, page cache warm (both outputs identical)", results,
                            "GNU dd of the raw range(s) → file"))
        ratio = results[0].seconds / results[1].seconds
        goals.append(Goal(f"dd --volume {volume.split('/')[-1]} vs GNU dd", f"{results[1].seconds:.3f} s", ratio,
                          "GNU dd", results[0].seconds, "≥ 1× (as fast)", ratio >= 1.0))
    return tables, goals


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


# -- RAID: striped and rebuilt reads -------------------------------------------------------------------

#: For the extents of /big.bin on the md array made of the member files argv[1:]: the bytes a copy moves in the
#: kernel (DATA in a file, page-congruent with the output, as fs/copy.py decides), the bytes that go through
#: Python, and the seconds taken to rebuild the bytes no member holds (read as the copier reads them).
RAID_PHASES = """
import mmap, sys, time
from restorekit.files import open_volumes, parse_target, volume_filesystem
from restorekit.fs.scan import Keys
target = parse_target("d0/md/data:/big.bin")
with open_volumes(sys.argv[1:], Keys(), [target]) as volumes:
    fs = volume_filesystem(volumes, "d0/md/data")
    extents = list(fs.open_stream(fs.stat("/big.bin")).extents())
    kernel = sum(e.length for e in extents if e.source is not None and e.source.fileno() is not None
                 and (e.source_offset - e.offset) % mmap.PAGESIZE == 0)
    data = sum(e.length for e in extents if e.source is not None)
    rebuilt = [e for e in extents if e.source is not None and e.source.fileno() is None]
    start = time.perf_counter()
    for e in rebuilt:
        for at in range(0, e.length, 8 << 20):
            e.source.pread(min(8 << 20, e.length - at), e.source_offset + at)
    seconds = time.perf_counter() - start
print(kernel, data - kernel, sum(e.length for e in rebuilt), f"{seconds:.4f}", file=sys.stderr)
"""


def _timed_extracts(rows: list[tuple[str, list[Path], str]], expected: str, size_mib: int,
                    repeat: int) -> list[Result]:
    """``restorekit extract`` of each row's target (name, images, volume:/big.bin), its bytes checked against
    ``expected``, then ``cp`` of the first row's image as the kernel-copy bound."""
    out = _out_folder() / "big.bin"
    results = []
    for name, images, target in rows:
        cmd = [*RESTOREKIT, "extract", *map(str, images), target, "-o", str(out.parent), "--quiet"]
        seconds, rss, _ = run(cmd, repeat, out)
        if sha256_file(out) != expected:
            raise SystemExit(f"{name}: the file written differs from big.bin")
        results.append(Result(name, seconds, rss, size_mib * MiB))
    single = rows[0][1][0]
    seconds, rss, _ = run(["cp", str(single), str(out)], repeat, out)
    results.append(Result("cp IMAGE FILE (kernel copy, the bound)", seconds, rss, single.stat().st_size))
    shutil.rmtree(out.parent)
    return results


def bench_raid(repeat: int, size_mib: int = 400) -> tuple[list[Table], list[Goal]]:
    """Extract one file from ext4 on one raw disk, on a 3-member md RAID0, and on a 4-member RAID5 whole and
    missing a member (rebuilt from parity); how much of each copy stays in the kernel; the rebuild rate."""
    chunk = 512 << 10  # mdadm's default chunk
    single = build_fs_raw("ext4", size_mib)
    striped = build_md_members("ext4", size_mib, 0, 3, chunk)
    parity = build_md_members("ext4", size_mib, 5, 4, chunk)
    degraded = [parity[0], *parity[2:]]
    expected = big_file_sha256(size_mib)
    for path in [single, *striped, *parity]:
        warm(path)
    rows = [("restorekit extract, one raw disk", [single], "d0:/big.bin"),
            ("restorekit extract, md RAID0 of 3", striped, "d0/md/data:/big.bin"),
            ("restorekit extract, md RAID5 of 4", parity, "d0/md/data:/big.bin"),
            ("restorekit extract, RAID5 missing role 1", degraded, "d0/md/data:/big.bin")]
    results = _timed_extracts(rows, expected, size_mib, repeat)
    notes, rebuild_rate = [], 0.0
    for label, images in (("RAID0 of 3", striped), ("RAID5 missing role 1", degraded)):
        best = None
        for _ in range(repeat):
            _, _, err = run([RESTOREKIT[0], "-c", RAID_PHASES, *map(str, images)], 1, warmup=False)
            kernel, python, rebuilt, took = err.split()[-4:]
            if best is None or float(took) < float(best[3]):
                best = (int(kernel), int(python), int(rebuilt), float(took))
        assert best is not None
        kernel_b, python_b, rebuilt_b, took_s = best
        notes.append(f"{label}: {kernel_b / MiB:.1f} MiB of big.bin copied in the kernel (copy_file_range), "
                     f"{python_b / MiB:.1f} MiB through Python" + (
                         f", of which {rebuilt_b / MiB:.1f} MiB rebuilt from parity in {took_s:.3f} s "
                         f"({rebuilt_b / took_s / 1e6:.0f} MB/s, numpy XOR of whole chunks)" if rebuilt_b else ""))
        if rebuilt_b:
            rebuild_rate = rebuilt_b / took_s / 1e6
    table = Table(f"RAID: a {size_mib} MiB file from ext4, one raw disk vs md arrays of raw member files "
                  f"({chunk >> 10} KiB chunks, superblock 1.2), page cache warm", results, results[0].name,
                  "\n".join(notes))
    by_name = {r.name: r for r in results}
    one, raid0 = by_name[rows[0][0]], by_name[rows[1][0]]
    ratio = one.seconds / raid0.seconds
    goals = [Goal("extract 400 MiB, RAID0 of 3 vs 1 disk", f"{raid0.seconds:.3f} s", ratio, "one disk",
                  one.seconds, "≥ 0.9×", ratio >= 0.9),
             Goal("RAID5 rebuild of a missing member", f"{rebuild_rate:.0f} MB/s", rebuild_rate, "-", None,
                  "≥ 300 MB/s", rebuild_rate >= 300)]
    return [table], goals


# -- LVM striped ----------------------------------------------------------------------------------------------

#: Prints how many extents the LV's file has and how many can be copied in the kernel (a descriptor to copy from).
KERNEL_EXTENTS = """
import sys
from restorekit.fs.scan import Keys
from restorekit.files import open_volumes, parse_target, resolve, volume_filesystem
target = parse_target(sys.argv[1])
with open_volumes(sys.argv[2:], Keys(), [target]) as volumes:
    fs = volume_filesystem(volumes, target.volume)
    entry, stream = resolve(fs, target.path)
    extents = [e for e in fs.extents(entry, stream) if e.source is not None]
    print(len(extents), sum(e.source.fileno() is not None for e in extents))
"""


def bench_lvm(repeat: int, size_mib: int = 400) -> tuple[list[Table], list[Goal]]:
    """Extract one file from ext4 on a 2-PV striped LV and from the same ext4 on one raw disk."""
    single = build_fs_raw("ext4", size_mib)
    pvs = build_lvm_striped(size_mib)
    expected = big_file_sha256(size_mib)
    for path in (single, *pvs):
        warm(path)
    rows = [("restorekit extract, ext4 on one raw disk", [single], "d0:/big.bin"),
            ("restorekit extract, ext4 on 2-PV striped LV", pvs, "d0/vgbench/lvstriped:/big.bin")]
    results = _timed_extracts(rows, expected, size_mib, repeat)
    done = subprocess.run([RESTOREKIT[0], "-c", KERNEL_EXTENTS, rows[1][2], *map(str, pvs)], capture_output=True,
                          text=True, check=True, env=ENV)
    extents, on_files = done.stdout.split()
    table = Table(f"extract: a {size_mib} MiB file from ext4 on a 2-PV striped LV (64 KiB stripes) vs one disk, "
                  "page cache warm", results, results[0].name,
                  f"The striped file's data extents: {extents}, {on_files} of them on a file descriptor (copied in "
                  "the kernel).")
    ratio = results[0].seconds / results[1].seconds
    goals = [Goal(f"extract {size_mib} MiB, LVM striped", f"{results[1].seconds:.3f} s", ratio, "one disk",
                  results[0].seconds, "≥ 0.9×", ratio >= 0.9 and extents == on_files)]
    return [table], goals


# -- walk: whole trees of 200,000 and 1,000,000 files (issue #12) ------------------------------------------

#: The tree sizes (files) of the walk section, set by --walk-sizes.
WALK_SIZES: list[int] = [200_000, 1_000_000]
#: What the find rows look for: file00000.txt and file00001.txt of every folder, 1% of the files.
WALK_GLOB = "/**/file0000[01].txt"
#: The read calls counted on the image file, as strace names them.
READ_CALLS = ("read(", "pread64(", "preadv(", "preadv2(")


def warm_data(path: Path) -> None:
    """Read the data of a sparse image once (holes skipped) so every run finds it in the page cache."""
    buffer = bytearray(8 * MiB)
    with open(path, "rb", buffering=0) as f:
        fd, end, at = f.fileno(), os.fstat(f.fileno()).st_size, 0
        while at < end:
            try:
                at = os.lseek(fd, at, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after at
                break
            hole = os.lseek(fd, at, os.SEEK_HOLE)
            while at < hole:
                f.seek(at)
                at += f.readinto(memoryview(buffer)[:min(len(buffer), hole - at)]) or hole - at


def _walk_volume(image: Path, kind: str) -> str:
    """The id restorekit inspect gives the one ``kind`` volume of ``image`` (d0-p1 for these disks)."""
    done = subprocess.run([*RESTOREKIT, "inspect", str(image), "--json"], capture_output=True, text=True, check=True,
                          env=ENV)
    ids = [v["id"] for v in json.loads(done.stdout)["volumes"] if v["filesystem"] == kind]
    if len(ids) != 1:
        raise SystemExit(f"restorekit inspect {image}: {len(ids)} {kind} volumes, expected 1")
    return ids[0]


def image_reads(log: Path, image: Path) -> tuple[int, int]:
    """Bytes read from ``image`` and read calls on it in an ``strace -f -y`` log (a call split in an unfinished
    and a resumed line by another thread counts once, with the resumed line's result)."""
    tag = f"<{image.resolve()}>"
    pending: set[str] = set()
    total = calls = 0
    with open(log, errors="replace") as f:
        for line in f:
            pid, _, call = line.rstrip("\n").partition(" ")
            call = call.lstrip()
            if call.startswith("<... "):
                if pid not in pending:
                    continue
                pending.discard(pid)
            elif call.startswith(READ_CALLS) and call.partition(",")[0].endswith(tag):
                if call.endswith("<unfinished ...>"):
                    pending.add(pid)
                    continue
            else:
                continue
            calls += 1
            result = re.search(r"\) += (-?\d+)", call)
            if result and int(result.group(1)) > 0:
                total += int(result.group(1))
    return total, calls


def _traced(cmd: list[str], image: Path) -> tuple[int, tuple[int, int] | None]:
    """One untimed run of ``cmd``: the entries it printed (lines; a JSON array's items), and under strace (when
    installed) the bytes it read from ``image`` and its read calls on it."""
    OUT.mkdir(exist_ok=True)
    listing, log = OUT / "walk-listing.txt", OUT / "walk-strace.log"
    strace = shutil.which("strace")
    trace = [strace, "-f", "-qq", "-s", "0", "-y", "-e", "trace=read,pread64,preadv,preadv2", "-o", str(log)]
    with open(listing, "wb") as out:
        subprocess.run([*(trace if strace else []), *cmd], stdout=out, stderr=subprocess.DEVNULL, env=ENV, check=True)
    with open(listing, "rb") as f:
        printed = sum(1 for line in f if line.strip() not in (b"", b"[", b"]"))
    reads = image_reads(log, image) if strace else None
    listing.unlink()
    log.unlink(missing_ok=True)
    return printed, reads


def _size(count: int) -> str:
    return f"{count // 1_000_000}M" if count % 1_000_000 == 0 else f"{count // 1000}k"


def bench_walk(repeat: int) -> tuple[list[Table], list[Goal]]:
    """``ls -r``, ``ls -r --json`` and ``find`` of whole trees (200,000 and 1,000,000 files, ext4 and NTFS, raw and
    dynamic VHD) against TSK's ``fls -r -p`` (issue #12): time, µs per entry, peak RSS, bytes read and reads."""
    if not shutil.which("fls"):
        raise SystemExit("walk: needs TSK's fls (Debian: sleuthkit)")
    built: dict[str, float] = {}
    build_walk_images(WALK_SIZES, timings=built)
    tables, goals = [], []
    per_entry: dict[tuple[str, str, str], dict[int, float]] = {}
    for count in WALK_SIZES:  # the smaller trees first: a run cut short still has whole sizes
        for kind in ("ext4", "ntfs"):
            folders = count // WALK_FILES_PER_FOLDER
            entries = count + folders
            for container in ("raw", "vhd"):
                image = walk_image(kind, count, container)
                warm_data(image)
                volume = _walk_volume(image, kind)
                fls = ["fls", "-r", "-p", *(["-i", "vhd"] if container == "vhd" else []), "-o", str(PARTITION_SECTOR)]
                ls = [*RESTOREKIT, "ls", str(image), f"{volume}:/", "-r"]
                rows = [(f"TSK {' '.join(fls[:-2])} -o {PARTITION_SECTOR}", [*fls, str(image)]),
                        ("restorekit ls -r", ls),
                        ("restorekit ls -r --json", [*ls, "--json"]),
                        (f"restorekit find 'VOL:{WALK_GLOB}'", [*RESTOREKIT, "find", str(image),
                                                                  f"{volume}:{WALK_GLOB}"])]
                results = []
                for name, cmd in rows:
                    seconds, rss, _ = run(cmd, repeat)
                    printed, reads = _traced(cmd, image)
                    micros = seconds / entries * 1e6
                    per_entry.setdefault((kind, container, name), {})[count] = micros
                    read, calls = (f"{reads[0] / MiB:.1f}", f"{reads[1]:,}") if reads else ("-", "-")
                    results.append(Result(name, seconds, rss, 0, (f"{micros:.2f}", f"{printed:,}", read, calls)))
                    # Rows of 1M files take minutes: each shows as it comes (a run cut short keeps them).
                    print(f"walk {kind} {_size(count)} {container}: {name}: {seconds:.3f} s, {micros:.2f} µs/entry, "
                          f"{rss / 1024:.0f} MiB, {printed:,} printed, {read} MiB read in {calls} reads",
                          file=sys.stderr, flush=True)
                tables.append(Table(
                    f"walk: {count:,} files in {folders:,} folders ({entries:,} entries), {kind} partition at sector "
                    f"{PARTITION_SECTOR} of a GPT disk, {'raw image' if container == 'raw' else 'dynamic VHD'} (VOL: "
                    f"{volume}), page cache warm", results, results[0].name,
                    columns=("µs/entry", "printed", "MiB read", "reads"), time_ratio=True))
                goals += _walk_goals(results, f"{kind} {_size(count)} {container}")
    notes = []
    if built:
        notes.append("Images built in this run: " + ", ".join(f"{k} {v:.0f} s" for k, v in built.items()) + ".")
    if len(WALK_SIZES) > 1:
        sizes = " / ".join(_size(c) for c in WALK_SIZES)
        notes.append(f"µs per entry at {sizes} files (flat: the cost per entry does not grow with the tree):")
        for (kind, container, name), by_count in per_entry.items():
            values = " / ".join(f"{by_count[c]:6.2f}" for c in WALK_SIZES)
            growth = by_count[WALK_SIZES[-1]] / by_count[WALK_SIZES[0]]
            notes.append(f"  {kind:<4} {container:<3} {name:<42} {values}  ({growth:.2f}×)")
    tables[-1].note = "\n".join(notes)
    return tables, goals


def _walk_goals(results: list[Result], tag: str) -> list[Goal]:
    """Issue #12's targets for one walk table: each restorekit row ≤ 1.5× fls's time, find ≤ 1.2× ls -r's, and
    restorekit's peak RSS ≤ 100 MiB."""
    fls, ls, ls_json, find = results
    goals = [Goal(f"walk {label}, {tag}", f"{r.seconds:.3f} s", r.seconds / fls.seconds, "fls -r -p", fls.seconds,
                  "≤ 1.5× fls", r.seconds <= 1.5 * fls.seconds)
             for label, r in (("ls -r", ls), ("ls -r --json", ls_json), ("find", find))]
    goals.append(Goal(f"walk find vs ls -r, {tag}", f"{find.seconds:.3f} s", find.seconds / ls.seconds, "ls -r",
                      ls.seconds, "≤ 1.2× ls -r", find.seconds <= 1.2 * ls.seconds))
    peak = max(r.rss_kib for r in results[1:]) / 1024
    goals.append(Goal(f"walk peak RSS, {tag}", f"{peak:.0f} MiB", peak, "fls -r -p", fls.rss_kib / 1024,
                      "≤ 100 MiB", peak <= 100))
    return goals


# -- output ----------------------------------------------------------------------------------------------


def print_table(table: Table) -> None:
    ref = next(r for r in table.results if r.name == table.reference)
    moves = any(r.bytes_ for r in table.results)
    print(f"\n{table.title}\n")
    label = f"{'time ÷' if table.time_ratio else '×'} {table.reference.split(' ')[0]}"
    head = f"| {'run':<42} | {'seconds':>8} |"
    rule = f"|{'-' * 44}|{'-' * 10}|"
    if moves:
        head, rule = head + f" {'GB/s':>6} |", rule + f"{'-' * 8}|"
    widths = [max(len(c), *(len(r.extra[i]) for r in table.results)) for i, c in enumerate(table.columns)]
    print(f"{head} {label:>12} | {'peak RSS':>9} |" + "".join(f" {c:>{w}} |" for c, w in zip(table.columns, widths,
                                                                                                  strict=True)))
    print(f"{rule}{'-' * 14}|{'-' * 11}|" + "".join(f"{'-' * (w + 2)}|" for w in widths))
    for r in table.results:
        speed = r.rate / ref.rate if moves and r.bytes_ and ref.bytes_ else ref.seconds / r.seconds
        if table.time_ratio:
            speed = r.seconds / ref.seconds
        line = f"| {r.name:<42} | {r.seconds:8.3f} |"
        if moves:
            line += f" {r.rate:6.2f} |"
        print(f"{line} {speed:12.2f} | {r.rss_kib / 1024:5.0f} MiB |" + "".join(f" {x:>{w}} |" for x, w in zip(
            r.extra, widths, strict=True)))
    if table.note:
        print(f"\n{table.note}")


def print_summary(goals: list[Goal]) -> None:
    print("\nsummary: restorekit against its peers, and the targets of issues #4, #12 and #15\n")
    print(f"| {'case':<36} | {'restorekit':>10} | {'peer':<10} | {'peer':>9} | {'ratio':>7} | {'target':<15} | met |")
    print(f"|{'-' * 38}|{'-' * 12}|{'-' * 12}|{'-' * 11}|{'-' * 9}|{'-' * 17}|-----|")
    for g in goals:
        rss = "RSS" in g.case
        peer = "-" if g.peer_value is None else (f"{g.peer_value:5.0f} MiB" if rss else f"{g.peer_value:7.3f} s")
        ratio = "" if rss or g.peer_value is None else f"{g.value:6.2f}×"
        print(f"| {g.case:<36} | {g.ours:>10} | {g.peer:<10} | {peer:>9} | {ratio:>7} | {g.target:<15} | "
              f"{'yes' if g.met else 'NO':<3} |")


SECTIONS = {"dd": bench_dd, "ddvol": bench_ddvol, "inspect": bench_inspect, "files": bench_files, "rss": bench_rss,
            "ls": bench_ls, "raid": bench_raid, "lvm": bench_lvm, "mount": bench_mount,
            "walk": bench_walk}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row (best is shown); default 3")
    parser.add_argument("--only", choices=list(SECTIONS), action="append", help="run these sections only")
    parser.add_argument("--walk-sizes", default=",".join(map(str, WALK_SIZES)), metavar="N,N",
                        help="files per tree of the walk section (multiples of 200); default %(default)s")
    args = parser.parse_args()
    WALK_SIZES[:] = sorted(int(n) for n in args.walk_sizes.split(","))
    if any(n <= 0 or n % WALK_FILES_PER_FOLDER for n in WALK_SIZES):
        parser.error(f"--walk-sizes: multiples of {WALK_FILES_PER_FOLDER}")
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
