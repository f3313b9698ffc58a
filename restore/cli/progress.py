"""The one progress bar of long commands (``extract``, ``dd``): a single stderr line of at most 80 columns.

``extract  42% [########.........] 12 entries  1.2 GiB / 2.9 GiB  310 MiB/s  ETA 6s`` (entries: files, links
and folders done). The total is known
before the first byte moves (``extract`` counts it from the walk of every named folder, ``dd`` from the disk's
size); each redraw erases the rest of the line, so a shorter line leaves nothing behind. At most ten redraws a
second.
"""

from __future__ import annotations

import shutil
import sys
import time

from restorekit.cli.common import human_size

#: The widest the line gets, whatever the terminal's width.
MAX_WIDTH = 80


class ProgressBar:
    """Bytes (and files, when counted) against a known total, with rate and ETA."""

    def __init__(self, label: str, total: int, *, count_files: bool = False) -> None:
        self.label, self.total, self.count_files = label, total, count_files
        self.files = self.done = 0
        self.start = self.last = time.monotonic()

    def file_done(self, path: str) -> None:
        """One more file (or link, or folder) is complete."""
        self.files += 1
        self._draw()

    def add_bytes(self, n: int) -> None:
        """``n`` more bytes were copied."""
        self.done += n
        self._draw()

    def line(self, now: float, width: int) -> str:
        """The bar's text for ``width`` columns (never more than :data:`MAX_WIDTH`)."""
        width = min(width, MAX_WIDTH) - 1  # the last column stays free: some terminals wrap on it
        rate = self.done / max(now - self.start, 1e-6)
        eta = (self.total - self.done) / rate if rate and self.total > self.done else 0.0
        fraction = min(1.0, self.done / self.total) if self.total else 1.0
        files = f"{self.files} entries  " if self.count_files else ""
        tail = (f" {files}{human_size(self.done)} / {human_size(self.total)}  {human_size(int(rate))}/s  "
                f"ETA {eta:.0f}s")
        head = f"{self.label[:20]} {fraction * 100:3.0f}% "
        room = width - len(head) - len(tail) - 2
        bar = f"[{'#' * round(fraction * room)}{'.' * (room - round(fraction * room))}]" if room >= 10 else ""
        return (head + bar + tail)[:width]

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        sys.stderr.write("\r" + self.line(now, shutil.get_terminal_size().columns) + "\x1b[K")
        sys.stderr.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._draw(force=True)
        sys.stderr.write("\n")
        sys.stderr.flush()
