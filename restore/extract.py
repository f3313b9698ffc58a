"""``extract`` into a folder: whole files only, never outside the folder, resumable, times and modes kept.

Where every file goes is decided before anything is written (:func:`plan_outputs`): each named path lands
under its own (made-safe) base name, or with ``--parents`` under ``<volume id>/<its path from the volume
root>``; a folder brings its tree. Two different sources claiming one output name (two folders called
``Boot``, ``a:b`` beside ``a_b``, an alternate data stream ``x.s`` beside a file ``x.s``) stop the run before
anything is written; the plan keeps only output names and their sources, and the files are read on a second
walk. A file is written to a short temporary name beside its final place and renamed when complete, so an
interrupted run leaves only whole files; running again skips files already there with the same size and
mtime. Names that could escape or confuse (``/``, ``\\``, ``:``, control characters, ``.``/``..``) are replaced
and reported; symbolic links are recreated as links, never followed, and not at all when their target,
followed as the system would through the links of the output folder, leads out of it. The walk and the
naming rules are shared with the tar writer (:mod:`restorekit.tarout`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

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
    from restorekit.outfile import Protected

    #: What one run extracts: for each volume, its file system and the (entry, stream) pairs named on it.
    Jobs = Sequence[tuple[Filesystem, Sequence[tuple[Entry, str | None]]]]

_UNSAFE = {ord(c): "_" for c in "/\\:"} | {i: "_" for i in range(32)} | {127: "_"}
#: Links followed while resolving one link's target before giving up, as Linux does (MAXSYMLINKS).
LINK_HOPS = 40
#: The checksum file ``--verify`` writes at the top of the output.
SUMS_NAME = "SHA256SUMS"
#: ``--verify`` hashes every byte of a file, holes included; it hashes a file larger than its volume only up
#: to this size (about half a second of hashing), so a damaged size field cannot cost hours of hashing zeros.
HASH_BEYOND_VOLUME = 1 << 30


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
    def tar_name(self) -> str:
        """The tar member name: :attr:`rel`, but an alternate data stream is ``name:stream`` (not ``name.stream``)."""
        if self.stream is None:
            return self.rel
        return "/".join([*self.parts[:-1], f"{safe_name(self.entry.name)}:{safe_name(self.stream)}"])

    @property
    def source(self) -> str:
        """``volume:/path`` (``volume:/path:stream``) of the entry, as reports name it."""
        where = f"{self.fs.volume}:{self.entry.path}"
        return f"{where}:{self.stream}" if self.stream else where

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

    @property
    def complete(self) -> bool:
        """True when every requested file was restored as asked (already identical counts): exit 0."""
        return not self.skipped and not self.failed

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary."""
        return {"files": self.files, "bytes": self.bytes, "unchanged": self.unchanged,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "failed": [{"path": p, "reason": r} for p, r in self.failed],
                "renamed": [{"from": a, "to": b} for a, b in self.renamed]}


@dataclass
class ExtractOptions:
    """``--streams``, ``--overwrite``, ``--verify``, ``--parents``, the progress sink and the recovery point's own
    files."""

    streams: bool = False
    overwrite: bool = False
    verify: bool = False
    parents: bool = False
    #: ``--tar`` only: also store the NTFS creation time and attributes (keywords GNU tar warns about).
    windows_metadata: bool = False
    progress: Progress | None = None
    #: Files no output path may be (the recovery point's images and JSON, when extracting beside them).
    protected: Protected | None = None


def unhashable(item: Item, size: int) -> str | None:
    """Why ``--verify`` does not hash the file of ``item`` (``size`` bytes), or None when it does.

    A file larger than its whole volume holds mostly holes: a very sparse file (``/var/log/lastlog``) or a damaged
    size field. Hashing it costs time in proportion to bytes the disk never held, so above
    :data:`HASH_BEYOND_VOLUME` it is restored (sparse) but not hashed, and the run says so.
    """
    volume = item.fs.stream.size
    if size <= max(volume, HASH_BEYOND_VOLUME):
        return None
    return (f"restored, but not in {SUMS_NAME}: its size ({size:,} bytes) is larger than its volume "
            f"({volume:,} bytes), "
            "so it is almost all holes (a very sparse file, or a damaged size field); hashing them would take "
            "hours. Run sha256sum on the restored copy if you need its checksum")


def safe_name(name: str) -> str:
    """``name`` with path separators, ``:`` and control characters replaced; never ``.``, ``..`` or empty."""
    safe = name.translate(_UNSAFE)
    if safe in ("", ".", ".."):
        safe = safe.replace(".", "_") or "_"
    return safe


class _Claim(NamedTuple):
    """Who is written under one output name: the source, which file it is, and which named path brought it."""

    source: str
    key: tuple[str, int, str | None]
    shared: bool  #: a hard-linked file: another name of the same inode is the same file, not a collision
    target: int


@dataclass
class Plan:
    """Where every item goes, decided before anything is written (see :func:`plan_outputs`).

    ``outputs`` maps each output name (the path below the folder, or the tar member name) to its claim;
    ``repeated`` holds the names that the same file reaches more than once (a path named twice, a folder
    and a path inside it with ``--parents``): written once. ``links`` are the symbolic links' targets, by output
    name, for the folder writer's check. ``report`` already holds the renamed names and unreadable folders.
    """

    jobs: Jobs
    options: ExtractOptions
    tar: bool
    report: ExtractReport
    outputs: dict[str, _Claim] = field(default_factory=dict)
    repeated: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)
    #: Bytes of the files' main data, each file once (alternate data streams are not counted): the progress total.
    size: int = 0

    def name(self, item: Item) -> str:
        """The output name of ``item``: its tar member name or its path below the folder."""
        return item.tar_name if self.tar else item.rel

    def items(self) -> Iterator[Item]:
        """The items again, in the same order, each output name once (the second walk reads the files)."""
        emitted: set[str] = set()
        for _target, item in _walk(self.jobs, self.options.parents, self.tar or self.options.streams, self.report,
                                   first=False):
            name = self.name(item)
            if name in self.repeated:
                if name in emitted:
                    continue
                emitted.add(name)
            yield item

    def temp_name(self, parts: Sequence[str]) -> str:
        """A short temporary name for writing ``parts`` (fits any legal final name; never a name the plan
        writes, so a partial file can never clobber a restored one)."""
        digest = hashlib.sha256("/".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:16]
        for n in range(len(self.outputs) + 1):
            name = f"{PARTIAL_PREFIX}{digest}{f'-{n}' if n else ''}.part"
            if "/".join([*parts[:-1], name]) not in self.outputs:
                return name
        raise AssertionError("unreachable: more candidates than planned names")


def plan_outputs(jobs: Jobs, options: ExtractOptions, *, tar: bool) -> Plan:
    """Walk every named path once and decide each output name, before anything is written.

    Raises :class:`OutputError` when two different sources claim one output name, naming both (and how many
    more there are). The same file reached twice is written once; two names of one hard-linked file are
    not a collision.
    """
    plan = Plan(jobs, options, tar, ExtractReport())
    if options.verify:
        plan.outputs[SUMS_NAME] = _Claim(f"the {SUMS_NAME} file of --verify", ("", -1, None), False, -1)
    collisions: list[tuple[str, _Claim, _Claim]] = []
    for target, item in _walk(jobs, options.parents, tar or options.streams, plan.report, first=True):
        name = plan.name(item)
        entry = item.entry
        claim = _Claim(item.source, (item.fs.volume, entry.inode, item.stream),
                       not entry.is_dir and entry.nlink > 1, target)
        first = plan.outputs.setdefault(name, claim)
        if first is not claim:
            if first.key == claim.key and (first.source == claim.source or claim.shared):
                plan.repeated.add(name)
            else:
                collisions.append((name, first, claim))
            continue
        if entry.type == SYMLINK and not tar:
            plan.links[name] = entry.link_target or ""
        elif entry.type == FILE and item.stream is None:
            plan.size += entry.size
    if collisions:
        name, first, second = collisions[0]
        more = f" (and {len(collisions) - 1} more names claimed twice)" if len(collisions) > 1 else ""
        if first.target < 0:
            hint = "extract it without --verify, or into a folder of its own"
        elif first.target != second.target and not options.parents:
            hint = "add --parents to keep each path from its volume root (<volume id>/path), or extract them " \
                   "in separate runs into different folders"
        else:
            hint = "extract one of them in a separate run into a different folder"
        raise OutputError(f"{first.source} and {second.source} would both be written as {name!r}{more}; "
                          "nothing was written", hint=hint)
    return plan


def _walk(jobs: Jobs, parents: bool, with_streams: bool, report: ExtractReport,
          first: bool) -> Iterator[tuple[int, Item]]:
    """Everything to write for the named entries, parents before children, each with the index of the named
    path that brought it. Unreadable folders go to ``report`` once; renamed names on the ``first`` walk."""
    index = 0
    for fs, targets in jobs:
        for entry, stream in targets:
            for item in _target_items(fs, entry, stream, parents, with_streams, report, first):
                yield index, item
            index += 1


def _target_items(fs: Filesystem, entry: Entry, stream: str | None, parents: bool, with_streams: bool,
                  report: ExtractReport, first: bool) -> Iterator[Item]:
    renamed = report if first else None
    volume = safe_name(fs.volume)
    parent: list[str] = []
    if parents and entry.path != "/":  # the volume root and each folder above the entry, as `cp --parents` does
        parent = [volume]
        yield Item(fs, parent, fs.stat("/"))
        above = entry.path.split("/")[1:-1]
        for depth, name in enumerate(above):
            path = "/" + "/".join(above[: depth + 1])
            parent = [*parent, _safe(name, path, renamed)]
            yield Item(fs, parent, fs.stat(path))
    base = entry.name if entry.path != "/" else volume
    if stream:
        yield Item(fs, [*parent, _safe(base + "." + stream, entry.path + ":" + stream, renamed)], entry, stream)
        return
    top = Item(fs, [*parent, _safe(base, entry.path, renamed)], entry)
    yield top
    yield from _streams(top, with_streams, renamed)
    if not entry.is_dir:
        return
    # Each folder's made-safe parts, by the folder object the walk lists it with (kept alive, so ids stay unique).
    folders: dict[int, tuple[Entry, list[str]]] = {id(entry): (entry, top.parts)}

    def failed(exc: FilesystemError) -> None:
        failure = (f"{fs.volume}:{exc.path or '?'}", exc.message)
        if failure not in report.failed:  # the second walk meets the same folders
            report.failed.append(failure)

    for folder, child in fs.walk_tree(entry, onerror=failed):
        item = Item(fs, [*folders[id(folder)][1], _safe(child.name, child.path, renamed)], child)
        if child.type == DIRECTORY:
            folders[id(child)] = (child, item.parts)
        yield item
        yield from _streams(item, with_streams, renamed)


def _streams(item: Item, with_streams: bool, report: ExtractReport | None) -> Iterator[Item]:
    entry = item.entry
    if not with_streams or entry.type not in (FILE, DIRECTORY):  # NTFS folders carry named streams too
        return
    for stream in entry.streams:
        name = _safe(f"{entry.name}.{stream}", f"{entry.path}:{stream}", report)
        yield Item(item.fs, [*item.parts[:-1], name], entry, stream)


def _safe(name: str, path: str, report: ExtractReport | None) -> str:
    safe = safe_name(name)
    if safe != name and report is not None:
        report.renamed.append((path, safe))
    return safe


def skip_reason(entry: Entry, stream: str | None) -> str | None:
    """Why ``entry`` is not written at all (dedup, devices, FIFOs), or None."""
    if entry.dedup and not stream:
        return DEDUP_REASON
    if entry.type not in (FILE, DIRECTORY, SYMLINK):
        return f"{entry.type} not extracted (special files are never created)"
    return None


def extract_to_folder(plan: Plan, dest: Path | str) -> ExtractReport:
    """Write the planned items of every volume under ``dest`` in one run (one report, one ``SHA256SUMS``);
    per-file problems go to the report, a full disk stops the run."""
    report = plan.report
    os.makedirs(dest, exist_ok=True)
    writer = _FolderWriter(os.path.realpath(dest), plan)
    for item in plan.items():
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
    """Writes items below ``root``: temp name + rename, times and modes, hard links, safe links, resume."""

    def __init__(self, root: str, plan: Plan) -> None:
        self.root, self.plan, self.options, self.report = root, plan, plan.options, plan.report
        self.links: dict[tuple[str, int], tuple[str, str]] = {}
        self.folders: list[tuple[str, Entry]] = []
        self.unsafe_links = _unsafe_links(root, plan.links, overwrite=self.options.overwrite)

    def _path(self, item: Item) -> str:
        path = os.path.join(self.root, *item.parts)
        parent = os.path.dirname(path)
        real = os.path.realpath(parent)
        if real != self.root and not real.startswith(self.root + os.sep):
            raise OutputError("would be written outside the output folder (a link in the way)", path=path)
        if self.options.protected is not None:
            self.options.protected.check(path, "an -o folder")
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
        if item.entry.link_error is not None:
            raise FilesystemError(item.entry.link_error)
        target = item.entry.link_target or ""
        reason = self.unsafe_links.get(item.rel)
        if reason is not None:
            self.report.skipped.append((item.source, f"symbolic link to {target!r} not created: {reason}"))
            return
        if os.path.lexists(path):
            if os.path.islink(path) and os.readlink(path) == target:
                self.report.unchanged += 1
                return
            if not self.options.overwrite:
                self.report.skipped.append((item.source, f"{path} exists (use --overwrite to replace)"))
                return
            os.unlink(path)
        os.symlink(target, path)
        _set_times(path, item.entry, follow=False)
        self.report.files += 1
        self._done(item)

    def _file(self, item: Item, path: str) -> None:
        entry = item.entry
        hard_link = item.stream is None and entry.nlink > 1
        if hard_link and item.link_key in self.links:
            self._hard_link(item, path)
            return
        data = item.fs.open_stream(entry, item.stream)
        if os.path.lexists(path) and not self._replace(item, path, data.size):
            return
        tmp = os.path.join(os.path.dirname(path), self.plan.temp_name(item.parts))
        hasher = self._hasher(item, data.size)
        progress = self.options.progress.add_bytes if self.options.progress is not None else None
        try:
            # Inside the try: a Ctrl-C that lands during open() is raised as open() returns, file made, fd not kept.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
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
        if hard_link:
            self.links[item.link_key] = (path, item.rel)
        self.report.files += 1
        self.report.bytes += data.size
        self._done(item)

    def _hasher(self, item: Item, size: int) -> Any:
        """A sha256 object when ``--verify`` hashes this file; None otherwise (a refusal is reported)."""
        if not self.options.verify:
            return None
        why = unhashable(item, size)
        if why is not None:
            self.report.skipped.append((item.source, why))
            return None
        return hashlib.sha256()

    def _hard_link(self, item: Item, path: str) -> None:
        """Another name of a file written (or found identical) in this run: a hard link to it."""
        first, first_rel = self.links[item.link_key]
        if os.path.lexists(path):
            if os.path.samestat(os.lstat(path), os.lstat(first)):
                self.report.unchanged += 1
                self._same_sum(item, first_rel)
                return
            if not self._replace(item, path, item.entry.size):
                return
            os.unlink(path)
        os.link(first, path)
        self._same_sum(item, first_rel)
        self.report.files += 1
        self._done(item)

    def _same_sum(self, item: Item, first_rel: str) -> None:
        if first_rel in self.report.checksums:
            self.report.checksums[item.rel] = self.report.checksums[first_rel]

    def _replace(self, item: Item, path: str, size: int) -> bool:
        """True to write over an existing ``path``; False when it is kept (identical, or no --overwrite)."""
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and not self.options.overwrite:
            if st.st_size == size and (item.entry.mtime is None or st.st_mtime_ns == item.entry.mtime):
                self.report.unchanged += 1
                if self._hasher(item, size) is not None:
                    self.report.checksums[item.rel] = _sha256_file(path)
                if item.stream is None and item.entry.nlink > 1:
                    self.links.setdefault(item.link_key, (path, item.rel))
                return False
            self.report.skipped.append((item.source, f"{path} exists and differs (use --overwrite to replace)"))
            return False
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
            raise OutputError("exists and is not a file", path=path)
        if not self.options.overwrite:
            self.report.skipped.append((item.source, f"{path} exists (use --overwrite to replace)"))
        return self.options.overwrite

    def finish(self) -> None:
        """Set folder times (deepest first) and write ``SHA256SUMS`` when verifying."""
        for path, entry in reversed(self.folders):
            with contextlib.suppress(OSError):
                _set_times(path, entry, follow=False)
        if self.options.verify:
            lines = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(self.report.checksums.items()))
            if self.options.protected is not None:
                self.options.protected.check(os.path.join(self.root, SUMS_NAME), "an -o folder")
            tmp = os.path.join(self.root, self.plan.temp_name([SUMS_NAME]))
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(lines)
            os.replace(tmp, os.path.join(self.root, SUMS_NAME))


def _unsafe_links(root: str, links: dict[str, str], *, overwrite: bool) -> dict[str, str]:
    """The links (output name -> target) not to create, each with why: followed as the kernel follows them,
    component by component through the links of the output folder (those this run creates and those already
    there), their target leads out of ``root``, or takes more than :data:`LINK_HOPS` hops.

    A refused link is not created, which can change where others lead, so the check repeats until no more
    are refused.
    """
    refused: dict[str, str] = {}
    while True:
        kept = {name: target for name, target in links.items() if name not in refused}
        resolver = _LinkResolver(root, kept, overwrite)
        more = {name: why for name, target in kept.items()
                if (why := resolver.escapes(name.split("/")[:-1], target)) is not None}
        if not more:
            return refused
        refused.update(more)


class _LinkResolver:
    """Follows link targets inside the output folder as the system would once ``links`` are created."""

    def __init__(self, root: str, links: dict[str, str], overwrite: bool) -> None:
        self.root, self.links, self.overwrite = root, links, overwrite
        self.hops, self.why = 0, ""

    def escapes(self, folder: list[str], target: str) -> str | None:
        """Why ``target``, read in ``folder`` (parts below the root), leads outside the root, or None."""
        self.hops, self.why = 0, ""
        if not target:
            return "it has no target"
        return None if self._follow(folder, target) is not None else self.why

    def _follow(self, folder: list[str], target: str) -> list[str] | None:
        """The folder parts ``target`` resolves to, every link on the way followed (missing names count as
        folders, the strictest reading); None, with :attr:`why` set, when it leaves the root."""
        if target.startswith("/"):
            self.why = "it points outside the output (an absolute target)"
            return None
        here: list[str] | None = list(folder)
        for part in target.split("/"):
            if here is None:
                return None
            if part in ("", "."):
                continue
            if part == "..":
                if not here:
                    through = " through the links it passes" if self.hops else ""
                    self.why = f"it leads outside the output folder{through}"
                    return None
                here.pop()
                continue
            link = self._link_at([*here, part])
            if link is None:
                here.append(part)
                continue
            self.hops += 1
            if self.hops > LINK_HOPS:
                self.why = f"following it takes more than {LINK_HOPS} links"
                return None
            here = self._follow(here, link)
        return here

    def _link_at(self, parts: list[str]) -> str | None:
        """The target of the link ``parts`` will be after this run, or None when it is not a link."""
        name = "/".join(parts)
        try:
            st = os.lstat(os.path.join(self.root, *parts))
        except OSError:
            st = None
        planned = self.links.get(name)
        if planned is not None and (st is None or self.overwrite):
            return planned
        if st is not None and stat.S_ISLNK(st.st_mode):
            return os.readlink(os.path.join(self.root, *parts))
        return None


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


__all__ = ["ExtractOptions", "ExtractReport", "FilesystemError", "Item", "Plan", "extract_to_folder", "plan_outputs",
           "safe_name", "skip_reason"]
