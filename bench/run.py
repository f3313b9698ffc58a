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


def build_gpt_ntfs_vhd() -> Path:
    """A 1 GiB dynamic VHD: GPT with an EFI FAT partition and a 1000 MiB NTFS partition, made by real tools."""
    path = WORK / "gpt-ntfs-1g.vhd"
    if path.exists():
        return path
    WORK.mkdir(exist_ok=True)
    raw = WORK / "gpt-ntfs-1g.raw"
    with open(raw, "wb") as f:
        f.truncate(GiB)
    subprocess.run(["sgdisk", "-n1:2048:+16M", "-t1:EF00", "-n2:0:0", "-t2:0700", str(raw)], check=True,
                   stdout=subprocess.DEVNULL)
    ntfs_start = (2048 + 16 * 2048) * 512
    subprocess.run(["mkfs.vfat", "-F", "16", "--offset", "2048", str(raw), str(16 * 1024)], check=True,
                   stdout=subprocess.DEVNULL)
    part = WORK / "ntfs.part"
    with open(part, "wb") as f:
        f.truncate(GiB - ntfs_start - 34 * 512)
    subprocess.run(["mkntfs", "-F", "-Q", "-q", "-L", "Windows", "-p", str(ntfs_start // 512), "-H", "255",
                    "-S", "63", str(part)], check=True)
    subprocess.run(["dd", f"if={part}", f"of={raw}", "bs=1M", f"seek={ntfs_start}", "oflag=seek_bytes",
                    "conv=notrunc,sparse", "status=none"], check=True)
    part.unlink()
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=on",
                    str(raw), str(path)], check=True)
    raw.unlink()
    return path


def scan_cost(paths: list[Path]) -> tuple[int, int]:
    """Bytes read from the images by one scan, and how many volumes it found (in this process)."""
    from fs.image import open_image
    from fs.scan import Keys, ScanStats, scan

    stats = ScanStats()
    images = [open_image(p) for p in paths]
    scan([(f"d{i}", im) for i, im in enumerate(images)], Keys(), stats=stats)
    for image in images:
        image.close()
    return stats.bytes_read, stats.volumes


def bench_inspect(repeat: int) -> list[tuple[str, list[Result]]]:
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
    cases = [("1 GiB dynamic VHD, GPT: EFI FAT + 1000 MiB NTFS", [build_gpt_ntfs_vhd()], True)]
    if demo.is_dir():
        cases.append(("the demo recovery point (fixtures/demo)", [demo], False))
    tables = []
    for title, paths, with_peer in cases:
        image_paths = paths if with_peer else []
        results = []
        seconds, rss = run([sys.executable, "-m", "restore", "inspect", *map(str, paths), "--json"], repeat)
        if image_paths:
            read, volumes = scan_cost(image_paths)
            name = f"restorekit inspect ({volumes} vols, {read / 1024:.0f} KiB read)"
        else:
            name = "restorekit inspect --json"
        results.append(Result(name, seconds, rss, 0))
        if with_peer and shutil.which("mmls"):
            script = (f"mmls -i vhd {paths[0]} && fsstat -i vhd -o 2048 {paths[0]} && "
                      f"fsstat -i vhd -o 34816 {paths[0]}")
            seconds, rss = run(["sh", "-c", script + " > /dev/null"], repeat)
            results.append(Result("TSK mmls + fsstat per partition", seconds, rss, 0))
        tables.append((f"inspect: {title}", results))
    return tables


FS_LOOP = """
import sys, pyvhdi, pytsk3, pyfsntfs
class Img(pytsk3.Img_Info):
    def __init__(self, v): self.v = v; super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)
    def read(self, off, n): return self.v.read_buffer_at_offset(n, off)
    def get_size(self): return self.v.get_media_size()
v = pyvhdi.file(); v.open(sys.argv[1]); out = open(sys.argv[3], "wb")
if sys.argv[2] == "ntfs":
    f = pyfsntfs.volume(); f.open_file_object(v); e = f.get_file_entry_by_path("\\\\big.bin"); n = e.get_size()
    read = lambda off, k: e.read_buffer_at_offset(k, off)
else:
    e = pytsk3.FS_Info(Img(v)).open("/big.bin"); n = e.info.meta.size
    read = lambda off, k: e.read_random(off, k)
off = 0
while off < n:
    b = read(off, min(8 << 20, n - off)); out.write(b); off += len(b)
"""
DISSECT_CP = """
import sys
from dissect.target import container, filesystem
fs = filesystem.open(container.open(sys.argv[1]))
with fs.get("big.bin").open() as src, open(sys.argv[2], "wb") as out:
    while chunk := src.read(8 << 20):
        out.write(chunk)
"""


def build_fs_vhd(kind: str, size_mib: int) -> Path:
    """A dynamic VHD holding one ``kind`` (ntfs/ext4) file system with a random ``big.bin`` of ``size_mib``."""
    path = WORK / f"{kind}-{size_mib}m.vhd"
    if path.exists():
        return path
    WORK.mkdir(exist_ok=True)
    raw, src = WORK / f"{kind}.raw", WORK / "fs-src"
    src.mkdir(exist_ok=True)
    with open(src / "big.bin", "wb") as f:
        rnd = random.Random(9)
        for _ in range(size_mib):
            f.write(rnd.randbytes(1 << 20))
    with open(raw, "wb") as f:
        f.truncate((size_mib + 200) << 20)
    if kind == "ext4":
        subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(src), str(raw)], check=True)
    else:
        subprocess.run(["mkntfs", "-q", "-F", "-f", str(raw)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        mnt = WORK / "mnt"
        mnt.mkdir(exist_ok=True)
        subprocess.run(["ntfs-3g", str(raw), str(mnt)], check=True)
        try:
            shutil.copyfile(src / "big.bin", mnt / "big.bin")
        finally:
            subprocess.run(["fusermount", "-u", str(mnt)], check=True)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", str(raw),
                    str(path)], check=True)
    raw.unlink()
    shutil.rmtree(src)
    return path


def dissect_python() -> str | None:
    """The Python of a venv under bench/.work with dissect.target installed (made on first use), or None."""
    venv = WORK / "dissect-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        packages = ["dissect.target", "dissect.ntfs", "dissect.extfs"]  # the file systems are separate packages
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=False)
        if done.returncode != 0:
            shutil.rmtree(venv)
            return None
    return str(python)


def bench_files(repeat: int, size_mib: int = 400) -> list[tuple[str, list[Result]]]:
    """Extract one file from NTFS and ext4 in a dynamic VHD: restorekit vs Dissect vs pytsk3/pyfsntfs."""
    tables = []
    dissect = dissect_python()
    for kind in ("ntfs", "ext4"):
        image = build_fs_vhd(kind, size_mib)
        subprocess.run(["cat", str(image)], stdout=subprocess.DEVNULL, check=True)
        out = WORK / "extract-out"
        rows = [
            (f"{'pyfsntfs' if kind == 'ntfs' else 'pytsk3'} over pyvhdi → file",
             [sys.executable, "-c", FS_LOOP, str(image), kind, str(out / "big.bin")]),
            ("restorekit extract -o DIR", [sys.executable, "-m", "restore", "extract", str(image), "d0:/big.bin",
                                           "-o", str(out), "--quiet"]),
        ]
        if dissect is not None:
            rows.insert(1, ("dissect.target read → file", [dissect, "-c", DISSECT_CP, str(image),
                                                          str(out / "big.bin")]))
        results = []
        for name, cmd in rows:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            seconds, rss = run(cmd, repeat, out / "big.bin")
            results.append(Result(name, seconds, rss, size_mib << 20))
        shutil.rmtree(out, ignore_errors=True)
        tables.append((f"extract: a {size_mib} MiB file from {kind} in a dynamic VHD, page cache warm", results))
    return tables


def print_table(title: str, results: list[Result], reference: str) -> None:
    ref = next(r for r in results if r.name.startswith(reference))
    print(f"\n{title}\n")
    print(f"| {'run':<34} | {'seconds':>8} | {'GB/s (virtual)':>14} | {'× pyvhdi':>8} | {'peak RSS':>9} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 16}|{'-' * 10}|{'-' * 11}|")
    for r in results:
        print(f"| {r.name:<34} | {r.seconds:8.3f} | {r.bytes_ / r.seconds / 1e9:14.2f} | "
              f"{ref.seconds / r.seconds:8.1f} | {r.rss_kib / 1024:6.0f} MiB |")


def print_times(title: str, results: list[Result]) -> None:
    print(f"\n{title}\n")
    print(f"| {'run':<50} | {'seconds':>8} | {'peak RSS':>9} |")
    print(f"|{'-' * 52}|{'-' * 10}|{'-' * 11}|")
    for r in results:
        print(f"| {r.name:<50} | {r.seconds:8.3f} | {r.rss_kib / 1024:6.0f} MiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["dd", "inspect", "files"], help="run one section")
    args = parser.parse_args()
    if args.only in (None, "dd"):
        for title, results in bench_dd(args.repeat):
            print_table(title, results, "pyvhdi read loop, discard")
    if args.only in (None, "inspect"):
        for title, results in bench_inspect(args.repeat):
            print_times(title, results)
    if args.only in (None, "files"):
        for title, results in bench_files(args.repeat):
            print_table(title, results, "py")


if __name__ == "__main__":
    main()
