"""Disks read where they live: restorekit against Azurite on loopback, beside what users do today (bench/README.md).

Starts Azurite (tests/azurite.py installs it with npm), uploads the images as page blobs (only their non-zero 4 MiB
pieces, as a managed disk stores them), then measures whole ``restorekit`` processes:

- requests and bytes fetched for ``inspect`` of the demo OS disk, ``ls -r --json`` of 20,000 files, and extracting
  one 400 MiB file from a 4 GiB disk, counted by a loopback proxy in front of Azurite;
- the extract's speed against a plain parallel ranged download of the same bytes into a file (urllib3 and the
  SDK, each a whole process like every row; the best is the bound) and against downloading the whole disk with the
  SDK's
  ``download_blob(max_concurrency=8)`` and extracting locally;
- ``inspect`` of the demo with 20 ms added to every request (the proxy's delay, one round trip);
- peak RSS extracting a 2 GiB file.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import urllib3
from images import OUT, WORK, MiB, _big_file_chunks, big_file_sha256
from peers import restorekit_python
from run import ENV, RESTOREKIT, RSS_FILE, TIME, sha256_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.azurite import ACCOUNT, KEY, Azurite  # noqa: E402 - the checkout's test helpers
from tests.faultproxy import FaultProxy, Faults  # noqa: E402

GiB = 1 << 30
PARTITION = 1 * MiB


def build_disk(size_mib: int, disk_gib: int) -> Path:
    """A fixed VHD of ``disk_gib`` GiB (as a managed disk exports), GPT, one ext4 partition holding ``big.bin``."""
    path = WORK / f"remote-{disk_gib}g-{size_mib}m.vhd"
    if path.exists():
        return path
    WORK.mkdir(exist_ok=True)
    src = WORK / "remote-src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir()
    with open(src / "big.bin", "wb") as f:
        for chunk in _big_file_chunks(size_mib):
            f.write(chunk)
    big_file_sha256(size_mib)
    raw = WORK / "remote.raw"
    with open(raw, "wb") as f:
        f.truncate(disk_gib * GiB)
    subprocess.run(["sgdisk", "-n1:2048:0", "-t1:8300", str(raw)], check=True, stdout=subprocess.DEVNULL)
    part = WORK / "remote.part"
    with open(part, "wb") as f:
        f.truncate(disk_gib * GiB - 2 * MiB)
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(src), str(part)], check=True)
    subprocess.run(["dd", f"if={part}", f"of={raw}", "bs=4M", f"seek={PARTITION}", "oflag=seek_bytes",
                    "conv=notrunc,sparse", "status=none"], check=True)
    part.unlink()
    shutil.rmtree(src)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on",
                    str(raw), str(path)], check=True)
    raw.unlink()
    return path


def build_tree(kind: str) -> Path:
    from images import build_tree_vhd

    return build_tree_vhd(kind, 200, 100)


def upload(azurite: Azurite, name: str, path: Path) -> str:
    """Upload ``path`` as a page blob, writing only non-zero 4 MiB pieces; the blob's URL without a SAS."""
    client = azurite.service().get_container_client("bench")
    if not client.exists():
        client.create_container()
    blob = client.get_blob_client(name)
    size = path.stat().st_size
    blob.create_page_blob(size)
    with open(path, "rb") as f:
        for offset in range(0, size, 4 * MiB):
            piece = f.read(4 * MiB)
            if piece.count(0) != len(piece):
                blob.upload_page(piece, offset=offset, length=len(piece))
    return f"{azurite.endpoint}/bench/{name}"


def sas(url: str) -> str:
    from azure.storage.blob import generate_container_sas

    expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=6)
    return f"{url}?{generate_container_sas(ACCOUNT, 'bench', account_key=KEY, permission='rl', expiry=expiry)}"


def via(proxy: FaultProxy, url: str) -> str:
    base = url.split(f"/{ACCOUNT}/", 1)[1]
    return f"{proxy.endpoint_base}/{ACCOUNT}/{base}"


def timed(cmd: list[str], repeat: int, out: Path | None = None) -> tuple[float, int]:
    """Best wall time of ``repeat`` runs after one warm-up, and the largest peak RSS in MiB."""
    best, rss = float("inf"), 0
    for attempt in range(-1, repeat):
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
        os.sync()
        start = time.perf_counter()
        proc = subprocess.run([*TIME, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.decode(errors='replace')}")
        if attempt >= 0:
            best = min(best, elapsed)
            if TIME:
                rss = max(rss, int(RSS_FILE.read_text().split()[-1]) // 1024)
    return best, rss


def counted(proxy: FaultProxy, cmd: list[str], out: Path | None = None) -> tuple[int, int]:
    """Requests and bytes one run sends through ``proxy``."""
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
    proxy.reset()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, env=ENV, check=True)
    return proxy.count, proxy.bytes


def file_runs(image: Path, path: str) -> list[tuple[int, int]]:
    """(offset, length) of the stored runs of ``path`` inside the image file: the bytes a download must fetch."""
    code = (
        "import sys\n"
        "from restorekit.fs.scan import Keys\n"
        "from restorekit.files import open_volumes, parse_target, resolve, volume_filesystem\n"
        "from restorekit.fs.stream import ExtentKind\n"
        "t = parse_target(sys.argv[2])\n"
        "with open_volumes([sys.argv[1]], Keys(), [t]) as v:\n"
        "    fs = volume_filesystem(v, t.volume)\n"
        "    entry, _ = resolve(fs, t.path)\n"
        "    for e in fs.open_stream(entry).extents():\n"
        "        if e.kind is ExtentKind.DATA: print(e.source_offset, e.length)\n"
    )
    done = subprocess.run([RESTOREKIT[0], "-c", code, str(image), path], capture_output=True, text=True, check=True)
    return [(int(a), int(b)) for a, b in (line.split() for line in done.stdout.splitlines())]


def download(kind: str, url: str, runs: list[tuple[int, int]], out: Path, piece: int, workers: int) -> None:
    """A plain parallel ranged download of ``runs`` of the blob into ``out`` (the peer of ``extract``, run as a
    whole process like every row): urllib3 with ``workers`` keep-alive connections and ``piece``-byte ranges, or the
    SDK's ``download_blob(offset, length, max_concurrency=workers)`` per run."""
    ranges = [(offset + done, min(piece, length - done)) for offset, length in runs for done in range(0, length, piece)]
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if kind == "sdk":
            from azure.storage.blob import BlobClient

            client = BlobClient.from_blob_url(url, max_single_get_size=piece, max_chunk_get_size=piece)
            at = 0
            for offset, length in runs:
                data = client.download_blob(offset=offset, length=length, max_concurrency=workers).readall()
                os.pwrite(fd, data, at)
                at += length
            return
        pool = urllib3.PoolManager(maxsize=workers)
        starts = {}
        at = 0
        for offset, length in ranges:
            starts[offset] = at
            at += length

        def get(item: tuple[int, int]) -> None:
            offset, length = item
            r = pool.request("GET", url, headers={"Range": f"bytes={offset}-{offset + length - 1}",
                                                  "x-ms-version": "2021-08-06"})
            assert len(r.data) == length
            os.pwrite(fd, r.data, starts[offset])

        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            list(ex.map(get, ranges))
    finally:
        os.close(fd)


def sdk_whole_then_extract(url: str, target: str, repeat: int) -> float:
    """What users do today: download the whole disk with the SDK, then extract the file locally."""
    from azure.storage.blob import BlobClient

    best = float("inf")
    for _ in range(repeat):
        OUT.mkdir(exist_ok=True)
        local = OUT / "downloaded.vhd"
        local.unlink(missing_ok=True)
        start = time.perf_counter()
        with open(local, "wb") as f:
            BlobClient.from_blob_url(url).download_blob(max_concurrency=8).readinto(f)
        subprocess.run([*RESTOREKIT, "extract", str(local), target, "-o", str(OUT / "today")], check=True,
                       stdout=subprocess.DEVNULL, env=ENV)
        best = min(best, time.perf_counter() - start)
        shutil.rmtree(OUT / "today", ignore_errors=True)
        local.unlink()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=400, help="the big file (default 400)")
    parser.add_argument("--download", nargs=6, metavar=("KIND", "URL", "RUNS", "OUT", "PIECE", "WORKERS"),
                        help=argparse.SUPPRESS)  # one peer run, as its own process
    args = parser.parse_args()
    if args.download:
        kind, url, runs_path, out_path, piece, workers = args.download
        runs = [(int(a), int(b)) for a, b in json.loads(Path(runs_path).read_text())]
        download(kind, url, runs, Path(out_path), int(piece), int(workers))
        return
    RESTOREKIT[:] = [restorekit_python(), "-m", "restorekit"]
    rk = RESTOREKIT
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; best of {args.repeat}")
    demo = ROOT / "fixtures" / "demo" / "disks" / "os.vhd"
    disk = build_disk(args.size_mib, 4)
    rss_disk = build_disk(2048, 3)
    trees = {kind: build_tree(kind) for kind in ("ntfs", "ext4")}
    with tempfile.TemporaryDirectory() as tmp:
        azurite = Azurite(Path(tmp))
        proxy = FaultProxy(azurite.endpoint.rsplit("/", 1)[0], Faults())
        slow = FaultProxy(azurite.endpoint.rsplit("/", 1)[0], Faults(delay=0.020))
        try:
            t0 = time.perf_counter()
            urls = {"demo": sas(upload(azurite, "demo-os.vhd", demo)), "big": sas(upload(azurite, "big.vhd", disk)),
                    "rss": sas(upload(azurite, "rss.vhd", rss_disk))}
            urls |= {kind: sas(upload(azurite, f"tree-{kind}.vhd", path)) for kind, path in trees.items()}
            print(f"uploaded in {time.perf_counter() - t0:.1f} s\n")
            print(f"| {'case':<68} | {'time':>9} | {'requests':>8} | {'fetched':>12} |")
            print(f"|{'-' * 70}|{'-' * 11}|{'-' * 10}|{'-' * 14}|", flush=True)

            def row(case: str, seconds: float | None, requests: int | None, fetched: int | None) -> None:
                shown = ("" if seconds is None else f"{seconds:.3f} s", "" if requests is None else str(requests),
                         "" if fetched is None else f"{fetched / MiB:.2f} MiB")
                print(f"| {case:<68} | {shown[0]:>9} | {shown[1]:>8} | {shown[2]:>12} |", flush=True)

            inspect = [*rk, "inspect", urls["demo"], "--json"]
            n, b = counted(proxy, [*rk, "inspect", via(proxy, urls["demo"]), "--json"])
            row("inspect demo OS disk (target ≤ 15 requests)", timed(inspect, args.repeat)[0], n, b)
            slow_inspect = timed([*rk, "inspect", via(slow, urls["demo"]), "--json"], args.repeat)[0]
            row("inspect demo, +20 ms per request (target ≤ 1 s)", slow_inspect, None, None)
            for kind in trees:
                ls = [*rk, "ls", urls[kind], "d0-p1:/", "-r", "--json"]
                n, b = counted(proxy, [*rk, "ls", via(proxy, urls[kind]), "d0-p1:/", "-r", "--json"])
                row(f"ls -r --json, 20,000 files, {kind}", timed(ls, args.repeat)[0], n, b)
            size = args.size_mib * MiB
            out = OUT / "remote-extract"
            extract = [*rk, "extract", urls["big"], "d0-p1:/big.bin", "-o", str(out)]
            ours, _ = timed(extract, args.repeat, out)
            assert sha256_file(out / "big.bin") == big_file_sha256(args.size_mib), "extracted bytes differ"
            n, b = counted(proxy, [*rk, "extract", via(proxy, urls["big"]), "d0-p1:/big.bin", "-o", str(out)], out)
            row(f"extract {args.size_mib} MiB file, 4 GiB disk (target ≤ size + 2 MiB)", ours, n, b)
            runs = file_runs(disk, "d0-p1:/big.bin")
            runs_file = WORK / "big-runs.json"
            runs_file.write_text(json.dumps(runs))
            peers = {}
            for kind, piece, workers in (("urllib3", 4, 8), ("urllib3", 8, 8), ("urllib3", 8, 4), ("sdk", 8, 8)):
                name = (f"plain urllib3, {piece} MiB ranges x {workers}" if kind == "urllib3"
                        else f"SDK download_blob(max_concurrency={workers}) per run")
                peer_out = OUT / "peer.bin"
                peers[name], _ = timed([sys.executable, __file__, "--download", kind, urls["big"], str(runs_file),
                                        str(peer_out), str(piece * MiB), str(workers)], args.repeat)
                assert sha256_file(peer_out) == big_file_sha256(args.size_mib), f"{name}: bytes differ"
                peer_out.unlink()
            for name, seconds in peers.items():
                row(f"  download the same bytes: {name}", seconds, None, None)
            today = sdk_whole_then_extract(urls["big"], "d0-p1:/big.bin", max(1, args.repeat // 2))
            row("  today: SDK download of the whole disk, then extract", today, None, None)
            _, rss = timed([*rk, "extract", urls["rss"], "d0-p1:/big.bin", "-o", str(out)], 1, out)
            best = min(peers.values())
            print(f"\nextract speed: {size / ours / 1e6:.0f} MB/s; vs the best plain download of the same bytes: "
                  f"{best / ours:.2f}× (target ≥ 0.8×); vs today's download-then-extract: {today / ours:.1f}× "
                  f"(target ≥ 10×)")
            print(f"peak RSS extracting a 2 GiB file remotely: {rss} MiB (target < 150 MiB)")
        finally:
            proxy.stop()
            slow.stop()
            azurite.stop()
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
