"""``restorekit ls``, ``find``, ``cat`` and ``extract``: files out of a recovery point's volumes.

Each command takes the recovery point (PATH...) first, then ``VOLUME:/path`` arguments with the volume ids
``inspect`` prints; they call the Python API (:mod:`restorekit.api`) and format what it returns.
"""

from __future__ import annotations

import datetime
import functools
import math
import os
import re
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from restorekit import api
from restorekit.cli.common import (
    human_size,
    output_path_option,
    refuse_terminal_stdout,
    stderr_is_tty,
    unlock_options,
    warn,
)
from restorekit.cli.complete import complete_targets
from restorekit.cli.output import (
    ITEM_SEPARATOR,
    emit_bytes,
    emit_json,
    emit_json_array,
    emit_json_bytes,
    json_option,
    streaming_json,
    text_writer,
)
from restorekit.cli.progress import ProgressBar
from restorekit.files import split_arguments
from restorekit.fs.entry import DIRECTORY, FILE, SYMLINK, iso_time
from restorekit.jsonio import dumps

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from restorekit.extract import ExtractReport
    from restorekit.files import Found, Target
    from restorekit.fs.entry import Entry, EntryBatch
    from restorekit.fs.errors import FilesystemError
    from restorekit.fs.keys import Keys
    from restorekit.fs.table import Window


def _args(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.argument("args", nargs=-1, required=True, metavar="PATH... VOLUME:PATH...",
                          shell_complete=complete_targets)(fn)


def _split(args: tuple[str, ...], *, need_volume: bool = True) -> tuple[list[str], list[Target]]:
    paths, targets = split_arguments(args)
    if not paths:
        raise click.UsageError("give the recovery point first: a folder, a recoverypoint.json or image files")
    if not targets:
        raise click.UsageError("give VOLUME:/path after the recovery point (volume ids as `restorekit inspect`)")
    for target in targets:
        if need_volume and target.volume is None:
            raise click.UsageError(f"{target.path!r} names no volume: write VOLUME:/path, e.g. os-p3:/Users")
    return paths, targets


@click.command()
@_args
@click.option("-l", "--long", "long_format", is_flag=True, help="Long listing: type, size, mtime (UTC), mode or "
                                                                 "attributes.")
@click.option("-r", "-R", "--recursive", "recursive", is_flag=True, help="List whole trees.")
@click.option("--human", is_flag=True, help="With -l: sizes as 1.5K, 12M, 3.1G (as ls -h; -h is help here).")
@json_option
@unlock_options(reads_files=True)
def ls(args: tuple[str, ...], long_format: bool, recursive: bool, human: bool, as_json: bool, keys: Keys) -> None:
    """List a folder of a volume (NTFS and FAT paths are case-insensitive; `/` separates, and Windows paths
    work: 'C:\\Users', C:/Users, 'os-p3:\\Windows', with drive letters from the SYSTEM hive).

    Names holding control characters (a newline, an escape) are shown escaped (\\n, \\x1b), and a
    backslash as \\\\; --json gives them as they are. Times are UTC. -h is --help, as in the az CLI:
    use --human for short sizes. VOLUME@vssN reads shadow copy N of an NTFS volume (1 = the oldest;
    inspect lists them).

    \b
    Example:
      restorekit ls fixtures/demo os-p3:/Users -l
      restorekit ls fixtures/demo lun0-p1:/ -R --long --human
      restorekit ls fixtures/demo lun0-p1:/ -r --json
    """
    paths, targets = _split(args)
    unread = _UnreadFolders()
    with api.open(*paths, keys=keys) as rp:
        rp.prepare(targets)
        for target in targets:
            fs = rp.filesystem(target.volume or "")
            if fs.time_note:
                warn(f"{fs.volume}: {fs.time_note}")
            batches = rp.ls_batches(target, recursive=recursive, onerror=unread)
            fork = not rp.remote
            if as_json and streaming_json():
                emit_json_bytes(batches, functools.partial(_json_chunk, fs.volume, unread), splittable=_made_in_bulk,
                                reports=unread, fork=fork)
            elif as_json:
                entries = unread.links(fs.volume, _entries(batches))
                emit_json_array({"volume": fs.volume, **e.to_dict()} for e in entries)
            elif long_format:
                for entry in unread.links(fs.volume, _entries(batches)):
                    click.echo(_long(entry, _short(entry, recursive), human))
            else:
                make = functools.partial(_text_chunk, fs.volume, unread, text_writer()[1], recursive)
                emit_bytes(batches, make, first=lambda data: data, splittable=_made_in_bulk, reports=unread,
                           fork=fork)
    unread.exit_if_any()


def _entries(batches: Iterator[EntryBatch | Window]) -> Iterator[Entry]:
    for batch in batches:
        yield from batch.entries()


def _json_chunk(volume: str, unread: _UnreadFolders, batch: EntryBatch | Window) -> bytes:
    """A batch's ``ls --json`` items; a window of a table is formatted in bulk, without an Entry per line."""
    unread.links_of(volume, batch.special())
    return batch.json_bytes(volume, dumps, ITEM_SEPARATOR)


def _text_chunk(volume: str, unread: _UnreadFolders, encode: Callable[[str], bytes], recursive: bool,
                batch: EntryBatch | Window) -> bytes:
    """A batch's ``ls`` (not long) lines."""
    unread.links_of(volume, batch.special())
    return batch.text_bytes(escape_name, encode, paths=recursive)


def _made_in_bulk(batch: EntryBatch | Window) -> bool:
    """True for a window of a file table, whose making read nothing and reported nothing (a batch read folder
    by folder may warn of a folder it cannot read): from there, a listing can be formatted by two processes."""
    return batch.bulk


class _UnreadFolders:
    """A walk's ``onerror``: each folder that cannot be read is warned about as it happens, the walk goes on,
    and the command exits 1 at the end, so a listing or search never looks complete when it is not. Symbolic
    links whose target cannot be read count the same (:meth:`links`)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, exc: FilesystemError) -> None:
        self.count += 1
        warn(str(exc))

    def links(self, volume: str, entries: Iterator[Entry]) -> Iterator[Entry]:
        """``entries``, each link whose target could not be read warned about as it passes."""
        for entry in entries:
            if entry.link_error is not None:
                self.count += 1
                warn(f"{volume}: {entry.path}: {entry.link_error}")
            yield entry

    def links_of(self, volume: str, entries: list[Entry]) -> None:
        """:meth:`links` of a list, at once."""
        for _entry in self.links(volume, iter(entries)):
            pass

    def exit_if_any(self) -> None:
        if self.count:
            raise SystemExit(1)


def _short(entry: Entry, recursive: bool) -> str:
    """The name (the whole path in a recursive listing, so entries of different folders can be told apart),
    escaped for a terminal."""
    name = escape_name(entry.path if recursive else entry.name)
    return name + "/" if entry.is_dir else name


#: Control characters (C0, DEL, C1) as printed in text output: \n, \t, \r, or \xHH; a backslash doubles.
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(32), *range(127, 160))} | {
    ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r", ord("\\"): "\\\\"}


def escape_name(name: str) -> str:
    """``name`` with control characters escaped, so one entry is one line and cannot drive the terminal."""
    return name.translate(_ESCAPES)


def _long(entry: Entry, name: str, human: bool) -> str:
    perms = stat.filemode(entry.mode) if entry.mode is not None else _ntfs_mode(entry)
    flags = [f for f in ("dedup", "sparse", "compressed", "encrypted") if getattr(entry, f)]
    mtime = iso_time(entry.mtime) if entry.mtime else "-"
    if mtime.endswith("Z"):
        mtime = mtime[:19].replace("T", " ") + " UTC"
    size = short_size(entry.size) if human else str(entry.size)
    text = f"{perms:<14} {size:>12} {mtime} {name}"
    if entry.type == SYMLINK:
        text += f" -> {'?' if entry.link_error is not None else escape_name(entry.link_target or '')}"
    if entry.streams:
        text += f"  [streams: {', '.join(escape_name(s) for s in entry.streams)}]"
    if flags:
        text += f"  ({', '.join(flags)})"
    return text


def short_size(n: int) -> str:
    """A size as ``ls -h`` prints it: 1023, 1.0K, 1.5M, 12G (powers of 1024, rounded up)."""
    value, unit = float(n), ""
    for next_unit in "KMGTPE":
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    if not unit:
        return str(n)
    tenths = math.ceil(value * 10) / 10
    return f"{tenths:.1f}{unit}" if tenths < 10 else f"{math.ceil(value)}{unit}"


def _ntfs_mode(entry: Entry) -> str:
    """``d`` / ``l`` / ``-`` then the NTFS attribute letters R H S A (as ``attrib`` prints them)."""
    kind = {"dir": "d", "symlink": "l"}.get(entry.type, "-")
    names = set(entry.attributes or [])
    return kind + "".join(letter if name in names else "-" for letter, name in
                          (("R", "readonly"), ("H", "hidden"), ("S", "system"), ("A", "archive")))


def _date(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2024-05-01 or 2024-05-01T12:00") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return int(parsed.timestamp()) * 1_000_000_000


#: ``find --type`` letters, as GNU find's -type, and the entry types they mean.
FIND_TYPES = {"f": FILE, "d": DIRECTORY, "l": SYMLINK}


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``--min-size``/``--max-size``: bytes, or a number with K, M, G, T (powers of 1024, as GNU find)."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?", value.strip(), re.IGNORECASE)
    if match is None:
        raise click.BadParameter(f"{value!r} is not a size like 1000, 64K, 1.5M or 2G")
    return int(float(match.group(1)) * 1024 ** " kmgtp".index(match.group(2).lower() or " "))


def _types(ctx: click.Context, param: click.Parameter, value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    letters = [t for t in value.split(",") if t]
    wrong = [t for t in letters if t not in FIND_TYPES]
    if wrong or not letters:
        raise click.BadParameter(f"{value!r}: give f (files), d (folders) or l (symbolic links), or several as f,l")
    return frozenset(FIND_TYPES[t] for t in letters)


@click.command()
@_args
@click.option("--newer", metavar="DATE", help="Modified after DATE (ISO 8601, UTC unless it says otherwise).")
@click.option("--older", metavar="DATE", help="Modified before DATE.")
@click.option("--min-size", callback=_size, metavar="SIZE", help="Files of at least SIZE: bytes, or 64K, 1.5M, 2G.")
@click.option("--max-size", callback=_size, metavar="SIZE", help="Files of at most SIZE.")
@click.option("--type", "types", callback=_types, metavar="f|d|l", help="Only files, folders or links (f,l: both).")
@click.option("-l", "--long", "long_format", is_flag=True, help="Long lines, as ls -l.")
@click.option("--human", is_flag=True, help="With -l: sizes as 1.5K, 12M, 3.1G.")
@click.option("-0", "--print0", is_flag=True, help="End each VOLUME:PATH with a NUL, not a newline, and leave names "
                                                      "unescaped (for xargs -0).")
@json_option
@unlock_options(reads_files=True)
def find(args: tuple[str, ...], newer: str | None, older: str | None, min_size: int | None, max_size: int | None,
         types: frozenset[str] | None, long_format: bool, human: bool, print0: bool, as_json: bool, keys: Keys) -> None:
    """Find files by glob (`**` spans folders, `{a,b}` alternatives) in one volume, or in every readable volume.

    Names holding control characters are shown escaped, as by ls (not with -0 or --json).

    VOLUME@vssN searches shadow copy N of an NTFS volume (1 = the oldest; inspect lists them); a search of
    every volume leaves shadow copies out.

    \b
    Example:
      restorekit find fixtures/demo 'os-p3:/Users/**/*.{docx,xlsx}' --newer 2024-01-01
      restorekit find fixtures/demo '**/*.csv' --min-size 1K -l --human
      restorekit find fixtures/demo 'lun0-p1:/srv/**' --type f -0 | xargs -0 -n1 echo
      restorekit find fixtures/demo '**/*.csv' --json
    """
    if print0 and (long_format or as_json):
        raise click.UsageError("-0 prints bare VOLUME:PATH names: leave out -l and --json")
    paths, targets = _split(args, need_volume=False)
    unread = _UnreadFolders()
    with api.open(*paths, keys=keys) as rp:
        rp.prepare(targets)
        # searching every volume, one that cannot be read is warned about and skipped: it hides nothing
        batches = (batch for target in targets for batch in rp.find_batches(
            target, newer=_date(newer), older=_date(older), min_size=min_size, max_size=max_size, types=types,
            onerror=unread))
        # two processes only for a search of one volume (each walks the batches: the next volume's opening and
        # its warnings would happen in both)
        fork = not rp.remote and len(targets) == 1 and targets[0].volume is not None
        if as_json and not streaming_json():
            emit_json_array({"volume": vid, **entry.to_dict()} for vid, found in batches for entry in found.entries())
        elif as_json:
            emit_json_bytes(batches, _found_json, splittable=_found_in_bulk, reports=unread, fork=fork)
        else:
            encode = text_writer()[1]
            make = functools.partial(_found_lines, encode, long_format, human) if not print0 else _found_names
            emit_bytes(batches, make, first=lambda data: data, splittable=_found_in_bulk, reports=unread, fork=fork,
                       raw=print0)
    unread.exit_if_any()


def _found_in_bulk(batch: tuple[str, Found]) -> bool:
    return batch[1].bulk


def _found_json(batch: tuple[str, Found]) -> bytes:
    vid, found = batch
    return b"".join(ITEM_SEPARATOR + dumps({"volume": vid, **entry.to_dict()}).encode() for entry in found.entries())


def _found_names(batch: tuple[str, Found]) -> bytes:
    """``find -0``: ``VOLUME:PATH`` and a NUL each, the path's bytes as they are."""
    vid, found = batch
    return b"".join(f"{vid}:{entry.path}".encode("utf-8", "surrogateescape") + b"\0" for entry in found.entries())


def _found_lines(encode: Callable[[str], bytes], long_format: bool, human: bool, batch: tuple[str, Found]) -> bytes:
    vid, found = batch
    names = [(entry, f"{vid}:{escape_name(entry.path)}") for entry in found.entries()]
    return encode("".join((_long(entry, name, human) if long_format else name) + "\n" for entry, name in names))


@click.command()
@_args
@json_option
@unlock_options(reads_files=True)
def cat(args: tuple[str, ...], as_json: bool, keys: Keys) -> None:
    """Write a file (or `file:stream`, an NTFS alternate data stream) to stdout, byte for byte.

    --json prints instead, for each file, its entry (as ls --json) and the SHA-256 of its bytes,
    to compare a file of the recovery point with a copy elsewhere without writing it out.

    VOLUME@vssN reads shadow copy N of an NTFS volume (1 = the oldest; inspect lists them).

    \b
    Example:
      restorekit cat fixtures/demo os-p3:/Windows/System32/drivers/etc/hosts
      restorekit cat fixtures/demo lun0-p1:/srv/data/backups/db-2026-11-16.sql.gz | gunzip | head
      restorekit cat fixtures/demo lun0-p1:/srv/data/customers.csv --json
    """
    paths, targets = _split(args)
    docs = []
    with api.open(*paths, keys=keys) as rp:
        rp.prepare(targets)
        sys.stdout.flush()
        for target in targets:
            fs, entry, stream = rp.resolve(target)  # an error names the file before stdout is touched
            if not as_json:
                rp.copy(target, sys.stdout.fileno())
                continue
            import hashlib  # (here: only cat --json hashes, and its import costs ~3 ms at every start)

            digest = hashlib.sha256()
            with open(os.devnull, "wb") as null:
                rp.copy(target, null.fileno(), hasher=digest)
            docs.append({"volume": fs.volume, **entry.to_dict(), "stream": stream, "sha256": digest.hexdigest()})
    if as_json:
        emit_json(docs)


@click.command()
@_args
@output_path_option(type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
                    help="Write into this folder (created if missing).")
@click.option("--tar", "tar_path", metavar="FILE|-", help="Write a tar stream to FILE, or to stdout with -.")
@click.option("--streams", is_flag=True, help="Also write NTFS alternate data streams as name.stream files.")
@click.option("--parents", is_flag=True,
              help="Keep each path from its volume root: DIR/<volume id>/home/alice/... (as cp --parents).")
@click.option("--overwrite", is_flag=True, help="Replace files that exist and differ (or the --tar FILE).")
@click.option("--verify", is_flag=True, help="Write SHA256SUMS, computed while copying.")
@click.option("--windows-metadata", is_flag=True,
              help="With --tar: also store NTFS creation times (LIBARCHIVE.creationtime, restored by bsdtar) and "
                   "attributes (RESTOREKIT.attributes). GNU tar warns about both keywords, so they are off by default.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no list of renamed names.")
@json_option
@unlock_options(reads_files=True)
def extract(args: tuple[str, ...], output: Path | None, tar_path: str | None, streams: bool, parents: bool,
            overwrite: bool, verify: bool, windows_metadata: bool, quiet: bool, as_json: bool, keys: Keys) -> None:
    """Copy files and folders out, with their times and modes, into DIR or a tar stream.

    Each named path lands under its own base name (with --parents, under <volume id>/ and its whole
    path); paths of several volumes go into one folder or one tar stream. Where every file goes is decided
    before anything is written: two sources that would get one name stop the run. Files are written whole
    (temp name, then rename); running again skips files already there; nothing is written outside DIR or
    inside the recovery point. Exit 0 only when every file was restored as asked; each file skipped or
    failed is listed, and the exit code is 1. --json prints the summary (files, bytes, skipped, failed,
    renamed) on stdout. VOLUME@vssN copies from shadow copy N of an NTFS volume (1 = the oldest; inspect
    lists them).

    \b
    Example:
      restorekit extract fixtures/demo os-p3:/Users/Administrator/Documents -o restored/
      restorekit extract fixtures/demo os-p3:/Windows/System32/config lun0-p1:/srv/data -o out/ --verify
      restorekit extract fixtures/demo os-p3:/Users lun0-p1:/srv -o out/ --parents
      restorekit extract fixtures/demo lun0-p1:/srv/data --tar - | tar -tv
    """
    if (output is None) == (tar_path is None):
        raise click.UsageError("give exactly one of -o DIR or --tar FILE|-")
    if as_json and tar_path == "-":
        raise click.UsageError("--json prints a summary on stdout, so the tar stream needs --tar FILE")
    if windows_metadata and tar_path is None:
        raise click.UsageError("--windows-metadata goes with --tar: a folder on this system has no place for "
                               "NTFS creation times and attributes")
    if tar_path == "-":
        refuse_terminal_stdout("a tar stream", "use --tar FILE or a pipe")
    paths, targets = _split(args)
    with api.open(*paths, keys=keys) as rp:
        if tar_path not in (None, "-"):
            rp.recovery_point.refuse_output(Path(tar_path or ""), "a --tar file")
        rp.prepare(targets)
        # every output name, before anything is written
        plan = rp.plan_extract(targets, tar=output is None, streams=streams, parents=parents, overwrite=overwrite,
                               verify=verify, windows_metadata=windows_metadata)
        show = stderr_is_tty() and not quiet and not as_json
        bar = ProgressBar("extract", plan.size, count_files=True) if show else None
        plan.options.progress = bar
        report = rp.write(plan, output, tar=sys.stdout.fileno() if tar_path == "-" else tar_path)
        if bar is not None:
            bar.close()
    _summary(report, quiet, as_json)


def _summary(report: ExtractReport, quiet: bool, as_json: bool) -> None:
    """Each file not restored on stderr (even with --quiet), the counts, and exit 1 unless all was restored."""
    if as_json:
        emit_json(report.to_dict())
    elif not quiet:
        for path, safe in report.renamed:
            warn(f"{path!r}: unsafe name written as {safe!r}")
    for path, reason in report.skipped:
        click.echo(f"Skipped: {path}: {reason}", err=True)
    for path, reason in report.failed:
        click.echo(f"Error: {path}: {reason}", err=True)
    if not as_json:
        tail = "" if report.complete else "; not everything was restored"
        click.echo(f"{report.files} files, {human_size(report.bytes)} extracted; {report.unchanged} unchanged, "
                   f"{len(report.skipped)} skipped, {len(report.failed)} failed{tail}", err=True)
    if not report.complete:
        raise SystemExit(1)


__all__ = ["cat", "extract", "find", "ls"]
