"""The progress bar of extract (and dd): within 80 columns, a total counted from the walk, no leftovers."""

from __future__ import annotations

import re
from pathlib import Path

from restorekit.cli.common import human_size
from restorekit.cli.progress import ProgressBar
from tests.conftest import on_a_terminal

#: A terminal wider than the bar ever gets.
WIDE = {"COLUMNS": "200"}
DEMO = str(Path(__file__).resolve().parents[1] / "fixtures" / "demo")


def test_the_line_fits_80_columns_at_any_width_and_size() -> None:
    for width in (40, 80, 200):
        for total, done in ((0, 0), (1, 0), (10**15, 10**14), (5, 5)):
            bar = ProgressBar("a label far longer than twenty characters", total, count_files=True)
            bar.done, bar.files = done, 123456
            line = bar.line(bar.start + 3, width)
            assert len(line) <= min(width, 80) - 1, (width, line)
    bar = ProgressBar("dd", 1000)
    bar.done = 1000
    assert " 100% [" in bar.line(bar.start + 1, 80) and "files" not in bar.line(bar.start + 1, 80)


def test_dd_draws_the_same_bar(tmp_path: Path) -> None:
    text = on_a_terminal("dd", DEMO, "--disk", "lun0", "-o", str(tmp_path / "lun0.raw"), env=WIDE)
    draws = [d for d in re.split(r"[\r\n]", text) if d.startswith("dd lun0") and "%" in d]
    assert draws and " 100% [" in draws[-1] and "32.0 MiB / 32.0 MiB" in draws[-1], text
    assert all(len(d.replace("\x1b[K", "")) <= 79 for d in draws)


def test_extract_of_a_folder_counts_its_whole_tree(tmp_path: Path) -> None:
    """Run as a terminal would see it: the last redraw says 100% of the bytes of every file under the folder."""
    text = on_a_terminal("extract", DEMO, "lun0-p1:/srv", "-o", str(tmp_path / "out"), env=WIDE)
    draws = [d for d in re.split(r"[\r\n]", text) if "extract" in d and "%" in d]
    assert draws and all(len(d.replace("\x1b[K", "")) <= 79 for d in draws), draws
    assert all(d.endswith("\x1b[K") for d in draws)  # each redraw erases what a longer line left
    total = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file() and not p.is_symlink())
    assert total > 1024  # the folder's files, not the named folder's own size
    last = draws[-1]
    assert " 100% [" in last and f"{human_size(total)} / {human_size(total)}" in last, last
