"""The CLI end to end: output shapes, exit codes, error lines, and that nothing is ever written to an image."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from restorekit.cli import COMMANDS, cli
from tests.conftest import shared

DFVFS = ["ext2.vhd", "image.vhd", "image-differential.vhd"]


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the real console entry point (``python -m restorekit``), as a user would."""
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, check=False)


def test_inspect_json_fields(readonly) -> None:  # type: ignore[no-untyped-def]
    child, parent = shared("dfvfs/image-differential.vhd"), shared("dfvfs/image.vhd")
    readonly([child, parent])
    result = CliRunner().invoke(cli, ["inspect", str(child), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [(v["id"], v["filesystem"]) for v in doc["volumes"]] == [("d0", "ext2")]  # ext2 on the bare disk
    (disk,) = doc["disks"]
    assert set(disk) == {"id", "image", "format", "virtualSize", "chain", "blockSize", "allocatedBytes", "warnings"}
    assert disk["id"] == "d0"
    assert disk["format"] == "vhd-differencing"
    assert disk["chain"] == [str(child), str(parent)]
    assert disk["virtualSize"] == 104448 and disk["blockSize"] == 2 << 20


def test_inspect_text_shows_chain() -> None:
    result = CliRunner().invoke(cli, ["inspect", str(shared("dfvfs/image-differential.vhd"))])
    assert result.exit_code == 0
    assert "vhd-differencing" in result.output
    assert f"\n    parent {shared('dfvfs/image.vhd')}\n" in result.output


def test_inspect_missing_parent_keeps_other_disks() -> None:
    proc = run("inspect", str(shared("dfvfs/ext2.vhd")), str(shared("dfvfs/fat-differential.vhd")), "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["disks"][0]["format"] == "vhd-dynamic"
    assert doc["disks"][1]["format"] is None and "not found" in doc["disks"][1]["error"]
    err = proc.stderr.decode()
    assert err.startswith("Error: ") and "fat-parent.vhd" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_dd_to_file_matches_and_is_sparse(tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    image = shared("dfvfs/ext2.vhd")
    readonly([image])
    out = tmp_path / "disk.raw"
    proc = run("dd", str(image), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size == 4212736
    assert out.stat().st_blocks * 512 < out.stat().st_size  # the unallocated block stays a hole
    assert sorted(os.listdir(tmp_path)) == ["disk.raw"]  # no partial file left
    from restorekit.fs.image import open_image
    with open_image(image) as disk:
        assert out.read_bytes() == disk.read()


def test_dd_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "disk.raw"
    proc = run("dd", str(shared("dfvfs/ext2.vhd")), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["disk"] == "d0" and doc["format"] == "vhd-dynamic" and doc["output"] == str(out)
    assert doc["virtualSize"] == out.stat().st_size == 4212736
    assert 0 < doc["allocatedBytes"] < doc["virtualSize"]
    # The summary owns stdout, so the disk cannot go there too.
    proc = run("dd", str(shared("dfvfs/ext2.vhd")), "-o", "-", "--json")
    assert proc.returncode == 2 and b"-o FILE" in proc.stderr and proc.stdout == b""


def test_dd_to_stdout_pipe(readonly) -> None:  # type: ignore[no-untyped-def]
    child = shared("dfvfs/image-differential.vhd")
    readonly([child, shared("dfvfs/image.vhd")])
    proc = run("dd", str(child), "-o", "-")
    assert proc.returncode == 0
    assert hashlib.sha256(proc.stdout).hexdigest() == hashlib.sha256(
        run("dd", str(shared("dfvfs/image.vhd"))).stdout).hexdigest()


def test_dd_to_dev_null() -> None:
    assert run("dd", str(shared("dfvfs/ext2.vhd")), "-o", os.devnull).returncode == 0


def test_dd_never_writes_an_image_but_may_write_beside_it(tmp_path: Path) -> None:
    """Only the recovery point's own files are refused, by inode: the image, a hard link and a symbolic link to
    it; a new file in the image's folder is fine (the folder used to be refused whole, so with an image in
    $HOME nothing could be written under $HOME)."""
    image = tmp_path / "ext2.vhd"
    image.write_bytes(shared("dfvfs/ext2.vhd").read_bytes())
    (tmp_path / "hard.raw").hardlink_to(image)
    (tmp_path / "soft.raw").symlink_to(image)
    before = (image.read_bytes(), image.stat().st_mtime_ns)
    for out in (image, tmp_path / "hard.raw", tmp_path / "soft.raw", tmp_path / "sub" / ".." / "ext2.vhd"):
        proc = run("dd", str(image), "-o", str(out), "--overwrite")
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.decode() == (f"Error: {out}: is an image of this recovery point; it is never written or "
                                        "replaced. Choose an -o file that is not one of its files\n")
    assert sorted(os.listdir(tmp_path)) == ["ext2.vhd", "hard.raw", "soft.raw"]
    proc = run("dd", str(image), "-o", str(tmp_path / "ext2.raw"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ext2.raw").stat().st_size == 4212736
    assert (image.read_bytes(), image.stat().st_mtime_ns) == before


def test_dd_never_overwrites_a_parent_kept_elsewhere(tmp_path: Path) -> None:
    """A parent outside the recovery point's folders (reached here through a link) is still never written."""
    (tmp_path / "rp").mkdir()
    (tmp_path / "store").mkdir()
    child = tmp_path / "rp" / "image-differential.vhd"
    child.write_bytes(shared("dfvfs/image-differential.vhd").read_bytes())
    parent = tmp_path / "store" / "image.vhd"
    parent.write_bytes(shared("dfvfs/image.vhd").read_bytes())
    (tmp_path / "rp" / "image.vhd").symlink_to(parent)
    before = parent.read_bytes()
    proc = run("dd", str(child), "-o", str(parent))
    assert proc.returncode == 1 and b"is an image of this recovery point" in proc.stderr
    assert parent.read_bytes() == before


def test_dd_needs_disk_choice_with_several_disks() -> None:
    proc = run("dd", str(shared("dfvfs/ext2.vhd")), str(shared("dfvfs/image.vhd")), "-o", os.devnull)
    assert proc.returncode == 2
    assert b"--disk d0|d1" in proc.stderr


def test_dd_unknown_disk_lists_ids() -> None:
    proc = run("dd", str(shared("dfvfs/ext2.vhd")), "--disk", "lun3", "-o", os.devnull)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == "Error: no disk 'lun3' in this recovery point. Disks here: d0"


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "broken.vhdx"
    bad.write_bytes(b"\0" * 4096)
    proc = run("inspect", str(bad))
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    assert proc.stderr.decode().startswith(f"Error: {bad}: named like a VHDX image but has no VHDX signature")


def test_usage_error_exits_2() -> None:
    assert run("inspect").returncode == 2
    assert run("dd", str(shared("dfvfs/ext2.vhd")), "--bogus").returncode == 2


def test_every_command_has_help_with_example() -> None:
    names = cli.list_commands(click.Context(cli))
    assert names == list(COMMANDS)
    for name in names:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output, name
        assert f"restorekit {name}" in result.output, name


def test_a_mistyped_command_gets_the_closest_name() -> None:
    proc = run("extrac")
    assert proc.returncode == 2 and "No such command 'extrac'. Did you mean 'extract'?" in proc.stderr.decode()
    proc = run("xyzzy")
    assert proc.returncode == 2 and "Did you mean" not in proc.stderr.decode()


def test_o_with_an_az_output_format_is_a_hint_not_a_folder(tmp_path: Path) -> None:
    demo = str(Path(__file__).resolve().parents[1] / "fixtures" / "demo")
    for args in (["extract", demo, "os-p3:/Users", "-o", "json"], ["template", demo, "-o", "table"],
                 ["dd", demo, "--disk", "lun0", "-o", "tsv"]):
        proc = subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, check=False,
                              cwd=tmp_path)
        assert proc.returncode == 2, args
        assert "not a format as in the az CLI: for JSON use --json" in proc.stderr.decode(), args
    assert list(tmp_path.iterdir()) == []
    # ./json is a folder called json
    proc = subprocess.run([sys.executable, "-m", "restorekit", "extract", demo, "os-p3:/Users", "-o", "./json"],
                          capture_output=True, check=False, cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "json" / "Users").is_dir(), proc.stderr


def test_inspect_of_a_text_or_compressed_file_says_what_it_is(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("these are not the disks you are looking for\n" * 200)
    packed = tmp_path / "disk.raw.gz"
    subprocess.run(["gzip", "-k", str(text)], check=True)
    (tmp_path / "notes.txt.gz").rename(packed)
    proc = run("inspect", str(text))
    assert "d0: the file is text, not a disk image" in proc.stdout.decode()
    proc = run("inspect", str(packed))
    out = proc.stdout.decode()
    assert "gzip-compressed file, not a disk image" in out and f"gunzip -k {packed}" in out
    proc = run("ls", str(packed), "d0:/")
    assert proc.returncode == 1 and "gzip-compressed file, not a disk image" in proc.stderr.decode()
    # A raw disk may begin with anything: printable bytes at its start are no reason to refuse it.
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"Z" * 8192)
    proc = run("dd", str(disk), "-o", str(tmp_path / "copy.raw"))
    assert proc.returncode == 0 and (tmp_path / "copy.raw").read_bytes() == b"Z" * 8192


def help_examples(name: str) -> list[str]:
    """The example command lines of ``restorekit NAME --help`` (continuation lines joined, comments dropped)."""
    text = CliRunner().invoke(cli, [name, "--help"], terminal_width=200).output
    block = text.split("Example:", 1)[1].split("\nOptions:", 1)[0]
    lines: list[str] = []
    for raw in block.strip().splitlines():
        line = raw.strip()
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + " " + line
        elif line:
            lines.append(line)
    return [line.split("  #", 1)[0].strip() for line in lines]


#: Commands whose examples keep running until stopped (tested in their own modules).
LONG_RUNNING = {"mount", "shell"}


@pytest.mark.parametrize("name", [n for n in COMMANDS if n not in LONG_RUNNING])
def test_help_examples_run_verbatim_on_the_demo(name: str, tmp_path: Path) -> None:
    """Each example, copied from --help into a shell in a folder beside the checkout's fixtures, works."""
    (tmp_path / "fixtures").symlink_to(Path(__file__).resolve().parents[1] / "fixtures")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "restorekit").write_text(f"#!/bin/sh\nexec {sys.executable} -m restorekit \"$@\"\n")
    (bin_dir / "restorekit").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    examples = help_examples(name)
    assert examples
    for i, line in enumerate(examples):
        assert line.startswith(f"restorekit {name} "), line
        cwd = tmp_path / f"run{i}"
        cwd.mkdir()
        (cwd / "fixtures").symlink_to(tmp_path / "fixtures")
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=cwd, env=env,
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
