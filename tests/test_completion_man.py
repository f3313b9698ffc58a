"""Shell completion (bash, zsh, fish) with volume ids and paths, and the man page made from the click definitions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def restorekit(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script(shell: str) -> None:
    script = restorekit("completion", shell)
    assert "_RESTOREKIT_COMPLETE" in script


def test_bash_completes_commands_volume_ids_and_paths(tmp_path: Path) -> None:
    """Drive the bash function as bash's programmable completion would, words split at ':' as bash splits them."""
    shim = tmp_path / "restorekit"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m restorekit \"$@\"\n")
    shim.chmod(0o755)
    script = tmp_path / "try.sh"
    script.write_text(f'''PATH={tmp_path}:$PATH
eval "$(restorekit completion bash)"
try() {{
  COMP_LINE="$1"; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=(); COMPREPLY=()
  _restorekit_completion restorekit
  printf '%s|' "${{COMPREPLY[@]}}"; echo
}}
try "restorekit ext"
try "restorekit ls fixtures/demo os-p"
try "restorekit ls fixtures/demo os-p3:/Us"
try "restorekit extract fixtures/demo lun0-p1:/srv/data/c"
try "restorekit ls fixtures/demo nope:/"
''')
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.splitlines() == ["extract|", "os-p1:|os-p3:|", "/Users/|", "/srv/data/customers.csv|", "|"]


def test_the_man_page_renders_every_command_without_warnings(tmp_path: Path) -> None:
    page = tmp_path / "restorekit.1"
    restorekit("man", "-o", str(page))
    text = page.read_text()
    for name in ("inspect", "ls", "find", "extract", "plan", "template", "completion"):
        assert f".SS restorekit {name}" in text
    assert "\\-\\-query" in text and "restorekit ls fixtures/demo os\\-p3:/Users \\-l" in text
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (Debian package groff-base)")
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
