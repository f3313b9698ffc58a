"""The README's "Browse (mount, shell)" examples, run as written on the demo (``/tmp/rp`` becomes a temporary
folder): each ``console`` command must print exactly what follows it, each ``sh`` block must run to the end."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, require_tool


def section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("### Browse (mount, shell)")
    return text[start : text.index("\n### ", start + 1)]


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", section(), re.DOTALL)


def sh(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["sh", "-eu", "-c", script.replace("/tmp/rp", str(tmp_path / "rp"))], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=300)


def test_the_console_examples_print_what_the_readme_says(tmp_path: Path) -> None:
    examples = [part for block in blocks("console") for part in block.split("$ ")[1:]]
    assert len(examples) >= 2
    for example in examples:
        command, _nl, expected = example.partition("\n")
        done = sh(command + " 2>&1", tmp_path)
        assert done.stdout == expected, command


def test_the_mount_example_runs(tmp_path: Path) -> None:
    require_tool("fusermount3")
    (script,) = blocks("sh")
    done = sh(script, tmp_path)
    assert done.returncode == 0, done.stderr
    data = subprocess.run([sys.executable, "-m", "restorekit", "cat", str(ROOT / "fixtures/demo"),
                           "lun0-p1:/srv/data/customers.csv"], capture_output=True, check=True).stdout
    assert f"{hashlib.sha256(data).hexdigest()}  {tmp_path}/rp/lun0-p1/srv/data/customers.csv" in done.stdout
    assert "Administrator" in done.stdout and "README.txt" in done.stdout  # ls of C/Users, grep -rl
    assert "Mounted read-only at" in done.stderr and f"Unmounted {tmp_path}/rp" in done.stderr
    assert not os.path.ismount(tmp_path / "rp")


def help_examples(command: str) -> list[str]:
    from click.testing import CliRunner

    from restorekit.cli import cli

    text = CliRunner().invoke(cli, [command, "--help"]).output
    return [line.strip() for line in text.split("Example:\n", 1)[1].split("\n\n", 1)[0].splitlines()]


def test_the_help_examples_run_on_the_demo(tmp_path: Path) -> None:
    require_tool("fusermount3")
    mount = [line for line in help_examples("mount") if "rp/ " not in line]
    done = sh("\n".join(mount) + "\nwait", tmp_path)
    assert done.returncode == 0 and "Administrator" in done.stdout and "customers.csv" in done.stdout, done.stderr
    for line in help_examples("shell"):
        done = sh(line.replace("restored/", f"{tmp_path}/restored/") + " < /dev/null", tmp_path)
        assert done.returncode == 0 and "Error" not in done.stderr, (line, done.stderr)
    assert (tmp_path / "restored" / "data" / "customers.csv").is_file()
