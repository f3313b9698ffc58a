"""``extract`` into a folder: whole files only, never outside the folder, resumable, times and modes kept.

Each named path lands in the output folder under its own (made-safe) base name; a folder brings its tree.
A file is written to a temporary name beside its final place and renamed when complete, so an interrupted
run leaves only whole files; running again skips files already there with the same size and mtime.
Names that could escape or confuse (``/``, ``\\``, ``:``, control characters, ``.``/``..``) are replaced
and reported; symbolic links are recreated as links, never followed, and not at all when their target
is absolute or climbs out of the output folder. The walk (:func:`items`) and the naming rules are shared
with the tar writer (:mod:`restorekit.tarout`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from restorekit.files import DEDUP_REASON
from restorekit.fs.copy import ExtentWriter
from restorekit.fs.entry import DIRECTORY, FILE, SYMLINK
from restorekit.fs.errors import FilesystemError, OutputError, RestoreKitError
from restorekit.outfile import PARTIAL_PREFIX

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from restorekit.fs.entry import Entry
    from restorekit.fs.filesystem import Filesystem

    #: What one run extracts: for each volume, its file system and the (entry, stream) pairs named on it.
    Jobs = Sequence[tuple[Filesystem, Sequence[tuple[Entry, str | None]]]]

_UNSAFE = {ord(c): "_" for c in "/\\:"} | {i: "_" for i in range(32)} | {127: "_"}


class Progress(Protocol):
    """What the CLI's progress bar is told."""

    def file_done(self, path: str) -> None:
        """One more file (or link, or folder) is complete."""

    def add_bytes(self, n: int) -> None:
        """``n`` more bytes were copied."""


@dataclass
class Item:
    """One thing to write: ``parts`` are the made-safe path components below the output folder."""

    fs: Filesystem
    parts: list[str]
    entry: Entry
    stream: str | None = None

    @property
    def rel(self) -> str:
        """The path below the output folder, ``/``-separated."""
        return "/".join(self.parts)

    @property
    def source(self) -> str:
        """``volume:/path`` of the entry, as reports name it."""
        return f"{self.fs.volume}:{self.entry.path}"

    @property
    def link_key(self) -> tuple[str, int]:
        """Which names are one file: the same inode of the same volume."""
        return (self.fs.volume, self.entry.inode)


@dataclass
class ExtractReport:
    """What an extraction did: counts for the summary, and every file skipped, failed or renamed, with why."""

    files: int = 0
    bytes: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    checksums: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary."""
        return {"files": self.files, "bytes": self.bytes, "unchanged": self.unchanged,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "failed": [{"path": p, "reason": r} for p, r in self.failed],
                "renamed": [{"from": a, "to": b} for a, b in self.renamed]}


@dataclass
class ExtractOptions:
    """``--streams``, ``--overwrite``, ``--verify`` and the progress sink."""

    streams: bool = False
    overwrite: bool = False
    verify: bool = False
    progress: Progress | None = None


def safe_name(name: str) -> str:
    """``name`` with path separators, ``:`` and control characters replaced; never ``.``, ``..`` or empty."""
    safe = name.translate(_UNSAFE)
    if safe in ("", ".", ".."):
        safe = safe.replace(".", "_") or "_"
    return safe


def items(jobs: Jobs, report: ExtractReport, with_streams: bool) -> Iterator[Item]:
    """Everything to write for the named entries: each under its base name, folders with their trees."""
    for fs, targets in jobs:
        for entry, stream in targets:
            yield from _target_items(fs, entry, stream, report, with_streams)


def _target_items(fs: Filesystem, entry: Entry, stream: str | None, report: ExtractReport,
                  with_streams: bool) -> Iterator[Item]:
    base = entry.name if entry.path != "/" else (fs.volume.replace("/", "_") or "root")
    if stream:
        yield Item(fs, [_safe(base + "." + stream, entry.path + ":" + stream, report)], entry, stream)
        return
    top = Item(fs, [_safe(base, entry.path, report)], entry)
    yield top
    yield from _streams(top, with_streams, report)
    if not entry.is_dir:
        return
    prefixes = {entry.path: top.parts}

    def failed(exc: FilesystemError) -> None:
        report.failed.append((f"{fs.volume}:{exc.path or '?'}", exc.message))

    for child in fs.walk(entry, onerror=failed):
        parent = prefixes[posixpath.dirname(child.path)]
        item = Item(fs, [*parent, _safe(child.name, child.path, report)], child)
        if child.is_dir:
            prefixes[child.path] = item.parts
        yield item
        yield from _streams(item, with_streams, report)


def _streams(item: Item, with_streams: bool, report: ExtractReport) -> Iterator[Item]:
    entry = item.entry
    if not with_streams or entry.type not in (FILE, DIRECTORY):  # NTFS folders carry named streams too
        return
    for stream in entry.streams:
        name = _safe(f"{entry.name}.{stream}", f"{entry.path}:{stream}", report)
        yield Item(item.fs, [*item.parts[:-1], name], entry, stream)


def _safe(name: str, path: str, report: ExtractReport) -> str:
    safe = safe_name(name)
    if safe != name:
        report.renamed.append((path, safe))
    return safe


def skip_reason(entry: Entry, stream: str | None) -> str | None:
    """Why ``entry`` is not written at all (dedup, devices, FIFOs), or None."""
    if entry.dedup and not stream:
        return DEDUP_REASON
    if entry.type not in (FILE, DIRECTORY, SYMLINK):
        return f"{entry.type} not extracted (special files are never created)"
    return None


def extract_to_folder(jobs: Jobs, dest: Path | str, options: ExtractOptions) -> ExtractReport:
    """Write the targets of every volume under ``dest`` in one run (one report, one ``SHA256SUMS``);
    per-file problems go to the report, a full disk stops the run."""
    report = ExtractReport()
    os.makedirs(dest, exist_ok=True)
    writer = _FolderWriter(os.path.realpath(dest), options, report)
    for item in items(jobs, report, options.streams):
        reason = skip_reason(item.entry, item.stream)
        if reason is not None:
            report.skipped.append((item.source, reason))
            continue
        try:
            writer.write(item)
        except OutputError as exc:
            if getattr(exc.__cause__, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
                raise  # the output disk is full: stop; temp files are already removed
            report.failed.append((item.source, str(exc)))
        except (RestoreKitError, OSError) as exc:
            report.failed.append((item.source, str(getattr(exc, "message", exc))))
    writer.finish()
    return report


class _FolderWriter:
    """Writes items below ``root``: temp name + rename, times and modes, hard links, resume."""

    def __init__(self, root: str, options: ExtractOptions, report: ExtractReport) -> None:
        self.root, self.options, self.report = root, options, report
        self.links: dict[tuple[str, int], str] = {}
        self.folders: list[tuple[str, Entry]] = []

    def _path(self, item: Item) -> str:
        path = os.path.join(self.root, *item.parts)
        parent = os.path.dirname(path)
        real = os.path.realpath(parent)
        if real != self.root and not real.startswith(self.root + os.sep):
            raise OutputError("would be written outside the output folder (a link in the way)", path=path)
        return path

    def write(self, item: Item) -> None:
        """Write one item; raises on failure (the caller reports it)."""
        path = self._path(item)
        entry = item.entry
        if entry.is_dir and item.stream is None:  # a folder's named stream (NTFS) is written as a file
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o755)
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise OutputError("exists and is not a folder", path=path)
            self.folders.append((path, entry))
            self._done(item)
        elif entry.type == SYMLINK:
            self._symlink(item, path)
        else:
            self._file(item, path)

    def _done(self, item: Item) -> None:
        if self.options.progress is not None:
            self.options.progress.file_done(item.rel)

    def _symlink(self, item: Item, path: str) -> None:
        target = item.entry.link_target or ""
        depth = len(item.parts) - 1
        climbed = posixpath.normpath(posixpath.join(*(["d"] * depth or ["."]), target)) if target else ".."
        if not target or target.startswith("/") or climbed == ".." or climbed.startswith("../"):
            self.report.skipped.append((item.source,
                                        f"symbolic link to {target!r} not created: it points outside the output"))
            return
        if os.path.lexists(path):
            if os.path.islink(path) and os.readlink(path) == target:
                self.report.unchanged += 1
                return
            if not self.options.overwrite:
                self.report.skipped.append((item.rel, "exists (use --overwrite to replace)"))
                return
            os.unlink(path)
        os.symlink(target, path)
        _set_times(path, item.entry, follow=False)
        self.report.files += 1
        self._done(item)

    def _file(self, item: Item, path: str) -> None:
        entry = item.entry
        if item.stream is None and entry.nlink > 1 and item.link_key in self.links:
            if not os.path.lexists(path):
                os.link(self.links[item.link_key], path)
            self.report.files += 1
            self._done(item)
            return
        data = item.fs.open_stream(entry, item.stream)
        if os.path.lexists(path) and not self._replace(item, path, data.size):
            return
        tmp = os.path.join(os.path.dirname(path), PARTIAL_PREFIX + item.parts[-1][:200] + ".part")
        hasher = hashlib.sha256() if self.options.verify else None
        progress = self.options.progress.add_bytes if self.options.progress is not None else None
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            try:
                ExtentWriter(fd, name=path, progress=progress, hasher=hasher).write_all(data.extents(), data.size)
            finally:
                os.close(fd)
            if entry.mode is not None:
                os.chmod(tmp, stat.S_IMODE(entry.mode) & 0o777)
            else:
                os.chmod(tmp, 0o644)
            _set_times(tmp, entry, follow=True)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if hasher is not None:
            self.report.checksums[item.rel] = hasher.hexdigest()
        if item.stream is None and entry.nlink > 1:
            self.links[item.link_key] = path
        self.report.files += 1
        self.report.bytes += data.size
        self._done(item)

    def _replace(self, item: Item, path: str, size: int) -> bool:
        """True to write over an existing ``path``; False when it is kept (identical, or no --overwrite)."""
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and not self.options.overwrite:
            if st.st_size == size and (item.entry.mtime is None or st.st_mtime_ns == item.entry.mtime):
                self.report.unchanged += 1
                if self.options.verify:
                    self.report.checksums[item.rel] = _sha256_file(path)
                if item.stream is None and item.entry.nlink > 1:
                    self.links[item.link_key] = path
                return False
            self.report.skipped.append((item.rel, "exists and differs (use --overwrite to replace)"))
            return False
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
            raise OutputError("exists and is not a file", path=path)
        return self.options.overwrite

    def finish(self) -> None:
        """Set folder times (deepest first) and write ``SHA256SUMS`` when verifying."""
        for path, entry in reversed(self.folders):
            with contextlib.suppress(OSError):
                _set_times(path, entry, follow=False)
        if self.options.verify:
            lines = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(self.report.checksums.items()))
            tmp = os.path.join(self.root, PARTIAL_PREFIX + "SHA256SUMS.part")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(lines)
            os.replace(tmp, os.path.join(self.root, "SHA256SUMS"))


def _set_times(path: str, entry: Entry, *, follow: bool) -> None:
    if entry.mtime is None:
        return
    os.utime(path, ns=(entry.atime or entry.mtime, entry.mtime), follow_symlinks=follow)


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["ExtractOptions", "ExtractReport", "FilesystemError", "Item", "extract_to_folder", "items", "safe_name",
           "skip_reason"]
