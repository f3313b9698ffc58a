"""Output files of dd, extract --tar and template: into a folder, one overwrite policy, and Ctrl-C (exit 130,
only whole files left)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import FIXTURES, shared

DEMO = FIXTURES / "demo"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, text=True, check=False,
                          timeout=120)


def test_dd_into_a_folder_writes_disk_id_raw(tmp_path: Path) -> None:
    proc = run("dd", str(DEMO), "--disk", "lun0", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "lun0.raw"
    assert proc.stderr == f"Wrote lun0 (32.0 MiB) to {out}\n"
    assert sorted(os.listdir(tmp_path)) == ["lun0.raw"] and out.stat().st_size == 32 << 20
    assert out.read_bytes() == run_bytes("dd", str(DEMO), "--disk", "lun0", "-o", "-")
    proc = run("dd", str(DEMO), "--disk", "lun0", "-o", f"{tmp_path}/missing/")
    assert proc.returncode == 1
    assert proc.stderr == f"Error: {tmp_path}/missing/: is not an existing folder. Create it first, or name a file\n"


def run_bytes(*args: str) -> bytes:
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, check=True).stdout


def test_dd_never_replaces_a_file_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "disk.raw"
    out.write_bytes(b"keep me")
    image = str(shared("dfvfs/ext2.vhd"))
    for target in (out, tmp_path):  # named, or reached as FOLDER/d0.raw
        if target == tmp_path:
            out = tmp_path / "d0.raw"
            out.write_bytes(b"keep me")
        proc = run("dd", image, "-o", str(target))
        assert proc.returncode == 1
        assert proc.stderr == (f"Error: {out}: the output file already exists. Pass --overwrite to replace it, or "
                               "choose another name\n")
        assert out.read_bytes() == b"keep me"
    proc = run("dd", image, "-o", str(out), "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size == 4212736
    assert sorted(os.listdir(tmp_path)) == ["d0.raw", "disk.raw"]
    assert run("dd", image, "-o", os.devnull).returncode == 0  # devices are not files to keep


def test_extract_tar_file_never_replaced_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "data.tar"
    out.write_bytes(b"keep me")
    proc = run("extract", str(DEMO), "lun0-p1:/srv/data", "--tar", str(out))
    assert proc.returncode == 1
    assert proc.stderr == (f"Error: {out}: the tar file already exists. Pass --overwrite to replace it, or choose "
                           "another name\n")
    assert out.read_bytes() == b"keep me"
    proc = run("extract", str(DEMO), "lun0-p1:/srv/data", "--tar", str(out), "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[257:262] == b"ustar"


def test_template_writes_neither_file_when_one_exists(tmp_path: Path) -> None:
    (tmp_path / "azuredeploy.parameters.json").write_text("{}")
    proc = run("template", str(DEMO), "-o", str(tmp_path), "--no-scan")
    assert proc.returncode == 1 and "azuredeploy.parameters.json: the template file already exists" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["azuredeploy.parameters.json"]


def test_ctrl_c_exits_130_and_leaves_no_partial_file(tmp_path: Path) -> None:
    """A 32 GiB sparse raw image with 4 KiB of data every MiB: 32768 runs take dd a second or two to copy."""
    image = tmp_path / "big.raw"
    with image.open("wb") as f:
        block = b"\x5a" * 4096
        for i in range(32768):
            f.seek(i << 20)
            f.write(block)
        f.truncate(32 << 30)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    partial = out_dir / ".restorekit-big-copy.raw.part"
    proc = subprocess.Popen([sys.executable, "-m", "restorekit", "dd", str(image), "-o", str(out_dir / "big-copy.raw")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert partial.exists(), "dd finished or never started writing"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err == "Interrupted\n"
    assert os.listdir(out_dir) == []
