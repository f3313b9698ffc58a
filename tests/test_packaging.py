"""restorekit installs under one import name, so another project's ``fs`` or ``restore`` package cannot shadow it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT


def test_every_package_folder_is_installed() -> None:
    """Each folder with an ``__init__.py`` under restore/ and fs/ is listed in pyproject's packages."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    folders = {"restorekit": ROOT / "restore", "restorekit.fs": ROOT / "fs"}
    assert setuptools["package-dir"] == {name: folder.name for name, folder in folders.items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            found.add(".".join((name, *parts)))
    assert found == set(setuptools["packages"])


def test_pyfilesystem2_beside_restorekit(tmp_path: Path) -> None:
    """``pip install`` of restorekit and PyFilesystem2 (import name ``fs``) into one venv: both work."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT), "fs"], check=True, capture_output=True)
    probe = (
        "import fs.memoryfs\n"
        "m = fs.memoryfs.MemoryFS(); m.writetext('a.txt', 'pyfs2')\n"
        "assert m.readtext('a.txt') == 'pyfs2'\n"
        "import restorekit.fs.stream, restorekit.cli\n"
        "assert restorekit.fs.stream.__file__ != fs.__file__\n"
    )
    subprocess.run([str(python), "-c", probe], check=True, cwd=tmp_path)
    demo = subprocess.run([str(venv / "bin" / "restorekit"), "inspect", str(ROOT / "fixtures" / "demo"), "--json"],
                          capture_output=True, check=False, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr.decode()
    assert b'"ntfs"' in demo.stdout
