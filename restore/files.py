"""Files of a recovery point: open its volumes, resolve ``VOLUME:/path[:stream]``, list, find and read files.

The library behind ``restorekit ls``, ``find`` and ``cat`` (``extract`` is :mod:`restorekit.extract` and
:mod:`restorekit.tarout`). Everything goes through the file-system adapters' entry API
(:meth:`restorekit.fs.filesystem.Filesystem.stat`, ``listdir``, ``walk``, ``open_stream``), so nothing here knows
which file system it reads.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import re
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restorekit.disks import opened_disks
from restorekit.fs.entry import FILE, EntryBatch
from restorekit.fs.errors import EntryNotFoundError, FilesystemError, RestoreKitError
from restorekit.fs.filesystem import normalize_path
from restorekit.fs.remote.url import is_url
from restorekit.fs.scan import (
    NO_FILESYSTEM_KINDS,
    Keys,
    VolumeInfo,
    locked_error,
    open_volume_filesystem,
    scan,
    shadow_volume,
    split_store_id,
)
from restorekit.recoverypoint import open_recovery_point

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from restorekit.disks import OpenedDisk
    from restorekit.fs.entry import Entry, FileStream
    from restorekit.fs.filesystem import Filesystem
    from restorekit.fs.table import Window

_VOLUME_ID = re.compile(r"^[A-Za-z0-9_.\-/@]+$")


@dataclass(frozen=True)
class Target:
    """``VOLUME:/path[:stream]`` as the user wrote it; ``volume`` is None for a bare glob."""

    volume: str | None
    path: str


def split_arguments(args: Sequence[str]) -> tuple[list[str], list[Target]]:
    """Split command arguments into recovery-point paths (existing files/folders) and ``VOLUME:PATH`` targets."""
    paths: list[str] = []
    targets: list[Target] = []
    for arg in args:
        if (os.path.exists(arg) or is_url(arg)) and not targets:
            paths.append(arg)
        else:
            targets.append(parse_target(arg))
    return paths, targets


def parse_target(text: str) -> Target:
    """``os-p3:/Users`` → Target("os-p3", "/Users"); a text without a volume prefix is a bare path or glob.

    Windows spellings work too: ``os-p3:\\Windows\\System32`` (a path written with backslashes and no ``/`` has
    them as separators) and drive letters, ``C:\\Users\\alice``, ``C:/Users`` or ``C:`` (a one-letter volume:
    :func:`is_drive_letter`; the session maps it to a volume).
    """
    head, sep, rest = text.partition(":")
    if sep and head and _VOLUME_ID.match(head) and not head.startswith("/"):
        path = rest.replace("\\", "/") if "\\" in rest and "/" not in rest else rest
        return Target(head.upper() if is_drive_letter(head) else head, path or "/")
    return Target(None, text)


def is_drive_letter(volume: str) -> bool:
    """A volume named like a Windows drive (``C``): no volume id is a single letter."""
    return len(volume) == 1 and volume.isascii() and volume.isalpha()


@contextlib.contextmanager
def open_volumes(paths: Sequence[str], keys: Keys,
                 targets: Sequence[Target] | None = None) -> Iterator[dict[str, VolumeInfo]]:
    """The recovery point's volumes by id (as ``inspect`` names them), open while the block runs.

    Only the file systems the ``targets`` name are opened (all of them when one names no volume, or without
    targets); no OS evidence is read. A named volume that turns out missing or unreadable opens them all, so
    the error can list the readable ones. A shadow copy a target names (``VOLUME@vssN``) is opened too, and
    only then: its VOLUME's file system is opened in its place, and a shadow copy that cannot be opened is
    listed with the reason as its warning.
    """
    rp = open_recovery_point(paths)
    with opened_disks(rp) as disks:
        yield file_volumes(disks, keys, targets)


def file_volumes(disks: Sequence[OpenedDisk], keys: Keys,
                 targets: Sequence[Target] | None = None) -> dict[str, VolumeInfo]:
    """The volumes of the opened ``disks`` by id, for file access (see :func:`open_volumes`); the first disk that
    did not open is the error."""
    named = [] if targets is None else [t.volume for t in targets if t.volume is not None]
    stores = [v for v in named if split_store_id(v) is not None]
    wanted = None if targets is None or any(t.volume is None for t in targets) else {
        _base_volume(v) for v in named}
    for disk in disks:
        if disk.error is not None:
            raise disk.error
    pairs = [(d.ref.id, d.image) for d in disks if d.image is not None]
    volumes = {v.id: v for v in scan(pairs, keys, filesystems=wanted, evidence=False)}
    if wanted is not None and any(volumes.get(v) is None or volumes[v].fs is None for v in wanted):
        for info in volumes.values():  # for the error's list of readable volumes, without unlocking again
            if info.fs_deferred:
                open_volume_filesystem(info)
    for store in stores:
        try:
            shadow_volume(volumes, store)
        except RestoreKitError as exc:
            base = volumes.get(_base_volume(store))
            volumes[store] = VolumeInfo(store, base.disk if base else "", 0, 0, warnings=[str(exc)])
    return volumes


def _base_volume(volume_id: str) -> str:
    """The volume a shadow copy id ``VOLUME@vssN`` belongs to; other ids are their own."""
    split = split_store_id(volume_id)
    return split[0] if split else volume_id


def volume_filesystem(volumes: dict[str, VolumeInfo], volume_id: str) -> Filesystem:
    """The file system of one volume; an error that says why it cannot be read and lists the readable ones."""
    info = volumes.get(volume_id)
    readable = ", ".join(v.id for v in volumes.values() if v.fs is not None) or "none"
    if info is None:
        raise FilesystemError(f"no volume {volume_id!r} in this recovery point", volume=volume_id,
                              hint=f"readable volumes: {readable} (see restorekit inspect)")
    if info.locked:
        raise locked_error(info)
    if info.fs is None and info.warnings and split_store_id(volume_id) is not None:
        raise FilesystemError(info.warnings[0])  # why the shadow copy could not be opened, as said
    if info.fs is None:
        reason = "; ".join(info.warnings) or "no file system recognised"
        raise FilesystemError(f"no readable file system ({reason})", volume=volume_id,
                              hint=f"readable volumes: {readable}")
    return info.fs


def searched_volumes(volumes: dict[str, VolumeInfo]) -> list[str]:
    """The volumes a search of every volume covers: those with a file system, and those that may hold files but
    cannot be read (locked, or a file system that is damaged or unknown), so the search names them as skipped.

    Pool members (their volumes are listed on their own) and partitions that hold no file system by design (MSR,
    BIOS boot, swap, LDM metadata) are left out.
    """
    return [v.id for v in volumes.values() if v.fs is not None or (
        not v.container and (v.locked or v.warnings)
        and (v.partition is None or v.partition.kind not in NO_FILESYSTEM_KINDS))]


def resolve(fs: Filesystem, path: str) -> tuple[Entry, str | None]:
    """The entry at ``path``, and the alternate data stream named after a last ``:`` (NTFS) when there is one."""
    try:
        return fs.stat(path), None
    except EntryNotFoundError:
        base, sep, stream = path.rpartition(":")
        if not sep or "/" in stream or not stream:
            raise
        entry = fs.stat(base)
        if not any(s.lower() == stream.lower() for s in entry.streams):
            raise EntryNotFoundError("no such file, folder or alternate data stream", volume=fs.volume,
                                     path=path) from None
        return entry, stream


def list_entries(fs: Filesystem, path: str, recursive: bool = False,
                 onerror: Callable[[FilesystemError], None] | None = None) -> Iterator[Entry]:
    """The entries of the folder at ``path`` (all below it with ``recursive``); a file lists itself.

    A folder below ``path`` that cannot be read goes to ``onerror`` and the walk goes on (without it, raises).
    """
    entry, _stream = resolve(fs, path)
    if not entry.is_dir:
        yield entry
        return
    if recursive:
        yield from fs.walk(entry, onerror)
    else:
        yield from fs.listdir(entry, onerror)


def list_batches(fs: Filesystem, path: str, recursive: bool = False,
                 onerror: Callable[[FilesystemError], None] | None = None) -> Iterator[EntryBatch | Window]:
    """:func:`list_entries` a batch at a time, in the same order: an :class:`restorekit.fs.entry.EntryBatch` of
    entries read one by one, or a window of the volume's file table (:class:`restorekit.fs.table.Window`) when a
    recursive walk reads the table. Both give ``paths``, ``names``, ``is_dir()``, ``entries()``, ``select()`` and
    ``json_lines()``; a window builds entries and JSON lines in bulk."""
    entry, _stream = resolve(fs, path)
    if not entry.is_dir:
        yield EntryBatch([entry])
    elif not recursive:
        yield EntryBatch(fs.listdir(entry, onerror))
    else:
        for batch in fs.walk_batches(entry, onerror):
            yield EntryBatch([child for _folder, child in batch]) if isinstance(batch, list) else batch


@dataclass
class FindFilter:
    """``find``'s conditions besides the glob: mtime bounds (ns since 1970), size bounds (files only) and the
    entry types wanted (``file``, ``dir``, ``symlink``; None for any)."""

    newer: int | None = None
    older: int | None = None
    min_size: int | None = None
    max_size: int | None = None
    types: frozenset[str] | None = None

    def accepts(self, entry: Entry) -> bool:
        """True when ``entry`` passes every condition given."""
        if self.types is not None and entry.type not in self.types:
            return False
        sized = self.min_size is not None or self.max_size is not None
        if sized and entry.type != FILE:
            return False
        if self.min_size is not None and entry.size < self.min_size:
            return False
        if self.max_size is not None and entry.size > self.max_size:
            return False
        if self.newer is not None and (entry.mtime is None or entry.mtime <= self.newer):
            return False
        return not (self.older is not None and (entry.mtime is None or entry.mtime >= self.older))


#: Glob characters: a path part holding one is matched, not looked up.
GLOB_CHARS = "*?[{"


def glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """A glob (``*``, ``?``, ``[...]``, ``**`` across folders, ``{a,b}`` alternatives, nested) as a regex on
    absolute paths. A brace without its partner is a plain character, as in bash."""
    return re.compile(_glob_source("/" + pattern.lstrip("/"), any_char="[^/]") + r"\Z",
                      re.IGNORECASE if ignore_case else 0)


def _glob_source(pattern: str, any_char: str) -> str:
    """The regex of a glob (:func:`glob_regex`), ``*`` and ``?`` standing for ``any_char``."""
    pairs = _brace_pairs(pattern)
    groups: list[int] = []  # the closing positions of the braces open at this point
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("/**/", i):
            out.append("(?:/.*)?/")
            i += 4
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "{" and i in pairs:
            groups.append(pairs[i])
            out.append("(?:")
        elif c == "}" and groups and groups[-1] == i:
            groups.pop()
            out.append(")")
        elif c == "," and groups:
            out.append("|")
        elif c == "*":
            out.append(any_char + "*")
        elif c == "?":
            out.append(any_char)
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append(f"[{'^' + body[1:] if body.startswith('!') else body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def name_filter(pattern: str, ignore_case: bool) -> Callable[[list[str]], list[int]] | None:
    """Which of a list of names can end a path the glob matches (its last part, as a glob on the name alone), so
    a search can look at names before making paths: one regex search over the names joined by newlines; None
    when the last part cannot be told apart (``**``, braces, or a ``[...]`` holding a ``/``)."""
    last = pattern.rsplit("/", 1)[-1]
    brackets = re.findall(r"\[[^\]]*\]", pattern)
    if not last or "**" in last or "{" in pattern or any("/" in b for b in brackets):
        return None
    flags = re.IGNORECASE if ignore_case else 0
    one = re.compile(_glob_source(last, "[^/]") + r"\Z", flags).match
    # on joined names a match must stay within its line: * and ? take no newline, and a [!...] (which could) is
    # left to the name-by-name test
    in_line = "[^/\n]"
    lines = None if re.search(r"\[[!^]", last) else re.compile(f"^(?:{_glob_source(last, in_line)})$",
                                                              flags | re.MULTILINE)

    def pick(names: list[str]) -> list[int]:
        text = "\n".join(names)
        if lines is None or text.count("\n") != len(names) - 1:  # (a name holding a newline)
            return [i for i, name in enumerate(names) if one(name)]
        starts = list(itertools.accumulate((len(name) + 1 for name in names), initial=0))
        return [bisect.bisect_right(starts, match.start()) - 1 for match in lines.finditer(text)]

    return pick


def _brace_pairs(pattern: str) -> dict[int, int]:
    """Opening brace position -> its closing brace, for braces that pair up and hold a comma (``{a,b}``; a
    ``{x}`` alone is literal, as in bash). Braces inside ``[...]`` do not count."""
    pairs: dict[int, int] = {}
    stack: list[tuple[int, bool]] = []  # (position, saw a comma at this level)
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[" and (end := pattern.find("]", i + 1)) >= 0:
            i = end
        elif c == "{":
            stack.append((i, False))
        elif c == "," and stack:
            stack[-1] = (stack[-1][0], True)
        elif c == "}" and stack:
            start, comma = stack.pop()
            if comma:
                pairs[start] = i
        i += 1
    return pairs


def find_entries(fs: Filesystem, pattern: str, condition: FindFilter,
                 onerror: Callable[[FilesystemError], None]) -> Iterator[Entry]:
    """Entries whose path matches ``pattern``; the walk starts at the pattern's fixed leading folders.

    A folder that cannot be read goes to ``onerror`` and the search goes on.
    """
    for found in find_batches(fs, pattern, condition, onerror):
        yield from found.entries()


def find_batches(fs: Filesystem, pattern: str, condition: FindFilter,
                 onerror: Callable[[FilesystemError], None]) -> Iterator[Found]:
    """:func:`find_entries` a batch of the walk at a time; a batch's matches are picked when asked for
    (:meth:`Found.entries`)."""
    parts = [p for p in pattern.split("/") if p]
    fixed = []
    for part in parts[:-1]:
        if any(c in part for c in GLOB_CHARS):
            break
        fixed.append(part)
    regex = glob_regex(pattern if pattern.startswith(("/", "**")) else "**/" + pattern, fs.case_insensitive)
    pick_names = name_filter(pattern, fs.case_insensitive)
    try:
        top = fs.stat(normalize_path("/".join(fixed)))
    except EntryNotFoundError:
        return
    for batch in fs.walk_batches(top, onerror):
        yield Found(batch, regex.match, pick_names, condition)


class Found:
    """A batch of a search's walk, and how to pick its matches (:meth:`entries`). ``bulk`` as its batch's: a
    window of a file table, whose making read and reported nothing."""

    def __init__(self, batch: list[tuple[Entry, Entry]] | Window, match: Callable[[str], Any],
                 pick_names: Callable[[list[str]], list[int]] | None, condition: FindFilter) -> None:
        self._batch = batch
        self._match = match
        self._pick_names = pick_names
        self._condition = condition
        self.bulk = not isinstance(batch, list)

    def entries(self) -> list[Entry]:
        """The batch's entries that match: on a table's window the glob runs on the paths (after the names, where
        the glob's last part allows) and the filters on the columns, and an Entry is made only for a match."""
        batch, match, condition = self._batch, self._match, self._condition
        if isinstance(batch, list):
            entries = [entry for _folder, entry in batch if match(entry.path)]
        else:
            window = batch.select(self._pick_names(batch.names)) if self._pick_names is not None else batch
            window = window.select([i for i, path in enumerate(window.paths) if match(path)])
            if len(window) and condition != FindFilter():
                window = window.select(window.candidates(condition.newer, condition.older, condition.min_size,
                                                         condition.max_size, condition.types))
            entries = window.entries() if len(window) else []
        return [entry for entry in entries if condition.accepts(entry)]


def open_data(fs: Filesystem, entry: Entry, stream: str | None) -> FileStream:
    """The bytes of a file (or of one alternate data stream); an error for a deduplicated file or a non-file."""
    if entry.dedup and not stream:
        raise FilesystemError(DEDUP_REASON, volume=fs.volume, path=entry.path)
    if entry.type != FILE and not stream:  # an NTFS folder's named streams read like a file's
        raise FilesystemError(f"is a {entry.type}, not a file", volume=fs.volume, path=entry.path)
    return fs.open_stream(entry, stream)


def copy_to_fd(fs: Filesystem, entry: Entry, stream: str | None, out_fd: int, hasher: Any = None) -> int:
    """Write the file's bytes (or one alternate data stream) to ``out_fd``, feeding ``hasher`` as they go;
    returns the byte count."""
    from restorekit.fs.copy import ExtentWriter  # the copier (mmap, ctypes' fallocate): only cat copies

    data = open_data(fs, entry, stream)
    regular = stat.S_ISREG(os.fstat(out_fd).st_mode)
    pos = os.lseek(out_fd, 0, os.SEEK_CUR) if regular else 0  # `cat ... > file` writes where the shell is
    writer = ExtentWriter(out_fd, name="stdout", base=-pos, hasher=hasher)
    writer.write_all(data.extents(), pos + data.size if regular else 0)
    if regular:
        os.lseek(out_fd, pos + data.size, os.SEEK_SET)
    return data.size


#: Why a deduplicated NTFS file cannot be restored from its volume alone.
DEDUP_REASON = ("deduplicated by Windows Data Deduplication (reparse tag 0x80000013): its data lives in the "
                "volume's chunk store, which restorekit cannot read yet; not restorable from this volume alone")

__all__ = ["DEDUP_REASON", "FindFilter", "Found", "Target", "copy_to_fd", "file_volumes", "find_batches",
           "find_entries", "list_batches", "list_entries", "open_data", "open_volumes", "parse_target", "resolve",
           "searched_volumes", "split_arguments", "volume_filesystem"]
