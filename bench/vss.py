"""Extract a file out of a Volume Shadow Copy: restorekit against the same file on the live volume, and against
pyfsntfs reading through pyvshadow (libvshadow), each a whole process, best of ``--repeat`` after a warm-up.

    python bench/vss.py [--size-mib 400] [--repeat 3]

The image (``bench/.work/vss/vss.img``, reused): a 1 GiB NTFS volume from ``mkntfs``, a file of random bytes put
in by ``ntfscp``, and one shadow copy whose store holds a copy of every 16 KiB block of that file in the volume's
free end (the metadata as ``tests/fs/vss_images.py`` writes it). The shadow copy then reads as the live volume
does, but every block of the file comes from the store's copy, so the row measures the store's block map.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restorekit.fs.image import open_image  # noqa: E402
from restorekit.fs.scan import Keys, scan  # noqa: E402
from tests.fs.vss_images import BLOCK, Store, write_shadow_copies  # noqa: E402

WORK = ROOT / "bench" / ".work" / "vss"
VOLUME = 1 << 30


def build(size: int) -> tuple[Path, str]:
    """The image and the SHA-256 of its file."""
    WORK.mkdir(parents=True, exist_ok=True)
    image, data = WORK / "vss.img", WORK / "big.bin"
    if not data.exists() or data.stat().st_size != size:
        with open(data, "wb") as f:
            for _ in range(size >> 20):
                f.write(os.urandom(1 << 20))
        image.unlink(missing_ok=True)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    if image.exists():
        return image, digest
    part = WORK / "vss.img.part"
    with open(part, "wb") as f:
        f.truncate(VOLUME)
    subprocess.run(["mkntfs", "-q", "-F", "-f", "-L", "bench", str(part)], check=True, capture_output=True)
    subprocess.run(["ntfscp", "-f", str(part), str(data), "big.bin"], check=True, capture_output=True)
    (info,) = scan([("d0", open_image(part))], Keys(), evidence=False)
    assert info.fs is not None
    runs = [e for e in info.fs.extents(info.fs.stat("/big.bin")) if e.source is not None]
    first = min(e.source_offset for e in runs) // BLOCK
    last = (max(e.source_offset + e.length for e in runs) + BLOCK - 1) // BLOCK
    count = last - first
    meta = VOLUME // BLOCK - 2 - 8 - 3 - (count + 507) // 508  # the catalog, then the store's metadata
    copies = meta - count  # the store's copies of the file's blocks, just before
    assert copies > last, "the volume is too small for the file and its copies"
    with open(part, "r+b") as f:
        image_bytes = bytearray(f.read())
        for i, block in enumerate(range(first, last)):
            image_bytes[(copies + i) * BLOCK : (copies + i + 1) * BLOCK] = image_bytes[block * BLOCK : (block + 1)
                                                                                         * BLOCK]
        store = Store([(block, 0, copies + i, 0, 0) for i, block in enumerate(range(first, last))])
        write_shadow_copies(image_bytes, [store], meta)
        f.seek(0)
        f.write(image_bytes)
    part.rename(image)
    return image, digest


PEER = """
import sys, pyvshadow, pyfsntfs
v = pyvshadow.volume(); v.open(sys.argv[1])
fs = pyfsntfs.volume(); fs.open_file_object(v.get_store(0))
entry = fs.get_file_entry_by_path("\\\\big.bin")
with open(sys.argv[2], "wb") as out:
    left = entry.size
    while left:
        chunk = entry.read(min(left, 8 << 20)); out.write(chunk); left -= len(chunk)
"""


def timed(cmd: list[str], out: Path, digest: str, repeat: int) -> float:
    best = float("inf")
    for run in range(repeat + 1):
        shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
        subprocess.run(["sync"], check=True)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        elapsed = time.perf_counter() - start
        written = out / "big.bin" if out.is_dir() else out
        assert hashlib.sha256(written.read_bytes()).hexdigest() == digest, cmd
        if run:
            best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib << 20
    image, digest = build(size)
    restorekit = [sys.executable, "-m", "restorekit"]
    rows = [
        ("restorekit extract d0@vss1:/big.bin (shadow copy)", [*restorekit, "extract", str(image),
                                                               "d0@vss1:/big.bin", "-o", str(WORK / "out")],
         WORK / "out"),
        ("restorekit extract d0:/big.bin (live volume)", [*restorekit, "extract", str(image), "d0:/big.bin", "-o",
                                                         str(WORK / "out")], WORK / "out"),
        ("pyfsntfs over pyvshadow, 8 MiB reads", [sys.executable, "-c", PEER, str(image), str(WORK / "peer.bin")],
         WORK / "peer.bin"),
    ]
    print(f"load average {os.getloadavg()[0]:.2f}; {args.size_mib} MiB file, best of {args.repeat}")
    for name, cmd, out in rows:
        seconds = timed(cmd, out, digest, args.repeat)
        print(f"{name:<55} {seconds:7.3f} s  {size / seconds / 1e9:5.2f} GB/s", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
