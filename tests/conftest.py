"""Shared test helpers: the real-world test data beside the checkout, and the read-only guard."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = ROOT.parent / "shared" / "testdata"
FIXTURES = ROOT / "fixtures"


def shared(relative: str) -> Path:
    """A file of ../shared/testdata; a test that needs a missing one fails naming the path."""
    path = SHARED_TESTDATA / relative
    if not path.exists():
        pytest.fail(f"missing test data {path}: put the project's shared/ folder beside the checkout")
    return path


def require_tool(program: str) -> str:
    """The path of ``program``, a tool a test builds images with; ``tests/install-tools.sh`` installs them all.

    Missing: the test is skipped on a developer's machine, and fails under CI (``CI`` set), where a skip would
    hide a missing install step.
    """
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if path is None:
        message = f"{program} is not installed: run tests/install-tools.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def fixture_file(relative: str) -> Path:
    """A committed fixture; missing means the checkout is incomplete (rebuild: python fixtures/build.py)."""
    path = FIXTURES / relative
    if not path.exists():
        pytest.fail(f"missing fixture {path}: rebuild with `python fixtures/build.py`")
    return path


def gunzip_to(src: Path, dest_dir: Path, name: str | None = None) -> Path:
    """Decompress ``src`` (``*.gz``) into ``dest_dir`` and return the new file's path."""
    dest = dest_dir / (name or src.name.removesuffix(".gz"))
    with gzip.open(src, "rb") as fin, open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return dest


class ReadOnlyGuard:
    """Snapshots files (sha256, mtime, size) and their folders' listings; :meth:`check` proves nothing changed."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = [p.resolve() for p in paths]
        self.before = self._snapshot()

    def _snapshot(self) -> dict[str, object]:
        snap: dict[str, object] = {}
        for path in self.paths:
            st = path.stat()
            snap[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_size)
            snap[f"{path.parent}/"] = sorted(os.listdir(path.parent))
        return snap

    def check(self) -> None:
        after = self._snapshot()
        for key, value in self.before.items():
            assert after[key] == value, f"{key} changed: {self.before[key]} -> {after[key]}"


@pytest.fixture
def readonly():  # type: ignore[no-untyped-def]
    """``guard = readonly([paths])``; every guard is checked when the test ends."""
    guards: list[ReadOnlyGuard] = []

    def make(paths: list[Path]) -> ReadOnlyGuard:
        guard = ReadOnlyGuard(paths)
        guards.append(guard)
        return guard

    yield make
    for guard in guards:
        guard.check()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A real Azure Storage blob endpoint (Azurite on loopback) for the whole session."""
    from tests.azurite import Azurite

    server = Azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


def on_a_terminal(*args: str, env: dict[str, str] | None = None) -> str:
    """What a terminal shows while ``restorekit ARGS`` runs on a pty (stdout and stderr together); ``env`` is
    added to the environment (``COLUMNS``, ``NO_COLOR``)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(env or {})
        os.execv(sys.executable, [sys.executable, "-m", "restorekit", *args])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode()
