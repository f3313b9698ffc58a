"""The documentation's examples run as written: the ``pycon`` blocks of ``docs/api.md`` and of the README's
"Scripting (Python API)" section as doctests, and the ``console`` blocks of the README's "Keys" section as shell
commands whose output must be what the block shows.

Each document runs in a fresh folder holding a ``fixtures`` link to the checkout's fixtures, so the examples name
``fixtures/demo`` as a user in the checkout would, and what they write lands in that folder.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(text: str, kind: str) -> list[tuple[int, str]]:
    """The ``kind`` fenced blocks of ``text``, with the line each starts on."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(2)) for m in FENCE.finditer(text) if m.group(1) == kind]


def section(text: str, title: str) -> str:
    """The README section headed ``## title``, up to the next ``## ``."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESTOREKIT_PASSWORD", raising=False)
    return tmp_path


def run_doctests(text: str, name: str) -> None:
    found = blocks(text, "pycon")
    assert found, f"{name} has no pycon examples"
    parser, globs = doctest.DocTestParser(), {"__name__": "__docs__"}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for line, code in found:  # one namespace for the whole document: each block goes on from the ones before
        test = parser.get_doctest(code, globs, name, name, line)
        runner.run(test, clear_globs=False)
        globs = test.globs
    assert runner.failures == 0, f"{runner.failures} example(s) of {name} print something else (see above)"


def test_api_md_examples(workdir: Path) -> None:
    run_doctests((ROOT / "docs" / "api.md").read_text("utf-8"), "docs/api.md")


def test_readme_scripting_examples(workdir: Path) -> None:
    run_doctests(section((ROOT / "README.md").read_text("utf-8"), "Scripting (Python API)"), "README.md")


def test_readme_keys_examples(workdir: Path) -> None:
    """Each ``$ command`` of the Keys section runs in bash (stdout and stderr together) and prints the lines that
    follow it in the block, exactly."""
    found = blocks(section((ROOT / "README.md").read_text("utf-8"), "Keys"), "console")
    assert found
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for _line, block in found:
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, expected = chunk.partition("\n")
            done = subprocess.run(["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=env, cwd=workdir, check=False)
            assert done.stdout.decode() == expected, f"$ {command}"
