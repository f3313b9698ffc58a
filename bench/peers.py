"""The peers restorekit is measured against: small scripts over pyvhdi/pytsk3/pyfsntfs, and Dissect."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from images import WORK

ROOT = Path(__file__).resolve().parent.parent

#: Read a whole VHD through pyvhdi in 8 MiB reads; write it to argv[2] when given.
PYVHDI_LOOP = """
import sys, pyvhdi
v = pyvhdi.file(); v.open(sys.argv[1]); n = v.get_media_size(); off = 0
out = open(sys.argv[2], "wb") if len(sys.argv) > 2 else None
while off < n:
    b = v.read_buffer(min(8 << 20, n - off)); off += len(b)
    if out: out.write(b)
"""

#: Copy /big.bin out of the whole-disk file system (argv[2]: ntfs through pyfsntfs, ext4 through pytsk3).
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

#: Dissect's own way to copy a file out of a disk image: open the container, the file system, read 8 MiB chunks.
DISSECT_CP = """
import sys
from dissect.target import container, filesystem
fs = filesystem.open(container.open(sys.argv[1]))
with fs.get("big.bin").open() as src, open(sys.argv[2], "wb") as out:
    while chunk := src.read(8 << 20):
        out.write(chunk)
"""

#: The same, timing its phases (imports, opening the image and file system, copying) on stderr.
DISSECT_PHASES = """
import sys, time
t0 = time.perf_counter()
from dissect.target import container, filesystem
t1 = time.perf_counter()
f = filesystem.open(container.open(sys.argv[1])).get("big.bin").open()
t2 = time.perf_counter()
with f as src, open(sys.argv[2], "wb") as out:
    while chunk := src.read(8 << 20):
        out.write(chunk)
t3 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.4f} {t3 - t2:.4f}", file=sys.stderr)
"""


def _venv(name: str) -> tuple[Path, bool]:
    """The Python of the venv ``bench/.work/<name>``, and whether it was just made."""
    python = WORK / name / "bin" / "python"
    fresh = not python.exists()
    if fresh:
        subprocess.run([sys.executable, "-m", "venv", str(python.parent.parent)], check=True)
    return python, fresh


def dissect_python() -> str | None:
    """The Python of a venv under bench/.work with dissect.target installed (made on first use), or None."""
    python, fresh = _venv("dissect-venv")
    if fresh:
        packages = ["dissect.target", "dissect.ntfs", "dissect.extfs"]  # the file systems are separate packages
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=False)
        if done.returncode != 0:
            shutil.rmtree(python.parent.parent)
            return None
    return str(python)


def restorekit_python() -> str:
    """The Python of a venv with this checkout installed as users install it (``pip install .``, not editable,
    so no editable-install finder runs at start-up, as none runs for Dissect's wheels); reinstalled on every
    bench run, so what is measured is the code in the checkout."""
    python, fresh = _venv("restorekit-venv")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # An existing venv: reinstall the checkout, then add the dependencies it gained since (none: a quick no-op).
    for args in [[str(ROOT)]] if fresh else [["--no-deps", "--force-reinstall", str(ROOT)], [str(ROOT)]]:
        done = subprocess.run([*pip, *args], capture_output=True, text=True, check=False)  # quiet unless it fails
        if done.returncode != 0:
            raise SystemExit(f"installing restorekit into {python.parent.parent} failed:\n{done.stdout}{done.stderr}")
    return str(python)
