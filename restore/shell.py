"""``restorekit shell``: explore a recovery point interactively, opened and unlocked once.

The shell shows the tree of :mod:`restorekit.browse` (``/os-p3/Users``, drive letters ``/C``, ``/by-label``) and
takes paths as that tree's (absolute or relative to the current folder), as ``VOLUME:/path`` like the other
commands, or as Windows paths (``C:\\Users\\alice``, ``C:/Users``). Each command is a click command parsed from
the line (so ``ls --help`` works); ``ls``, ``find``, ``cat``, ``get`` and ``stat`` call the same library
functions as ``restorekit ls``, ``find``, ``cat`` and ``extract``, and print the same way.

Errors end the command, never the shell. A command's status is 0 ok, 1 error, 2 usage, 130 interrupted; the
shell exits 0 when every command succeeded, else with the status of the last one that failed. History (a
readline file in the user's state folder) never records ``unlock`` lines, which may hold a key.
"""

from __future__ import annotations

import cmd
import difflib
import getpass
import hashlib
import os
import re
import sys
from pathlib import Path
from stat import filemode
from typing import TYPE_CHECKING, Any

import click

from restorekit import api
from restorekit.browse import BY_LABEL, session_namespace
from restorekit.cli.common import human_size, warn
from restorekit.cli.files import _long, _short, _summary, _UnreadFolders
from restorekit.cli.output import emit_json, emit_json_array
from restorekit.files import FindFilter, Target, copy_to_fd, find_entries, list_entries, resolve
from restorekit.fs.errors import EntryNotFoundError, FilesystemError, RestoreKitError, UnlockError
from restorekit.fs.filesystem import normalize_path

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from restorekit.browse import Namespace
    from restorekit.fs.entry import Entry
    from restorekit.fs.filesystem import Filesystem
    from restorekit.fs.keys import Keys

#: ``VOLUME:rest`` or ``X:rest`` (a drive letter) at the start of a path.
_PREFIXED = re.compile(r"^([A-Za-z0-9_.\-]+):(.*)$", re.DOTALL)
#: Bytes ``hexdump`` shows when no ``-n`` is given.
HEXDUMP_DEFAULT = 4096
#: Lines kept in the history file.
HISTORY_LENGTH = 2000


def history_file() -> Path:
    """``$XDG_STATE_HOME/restorekit/shell_history`` (``~/.local/state/...``): never beside the images."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "restorekit" / "shell_history"


class Shell(cmd.Cmd):
    """The interactive shell over one opened recovery point (see the module docstring)."""

    def __init__(self, paths: Sequence[str], keys: Keys, *, as_json: bool = False, interactive: bool = False) -> None:
        super().__init__()
        self.as_json, self.interactive = as_json, interactive
        #: The API session: the recovery point opened once, one scan for listing and files, keys kept.
        self.session = api.open(*paths, keys=keys)
        try:
            self.tree: Namespace = self._tree()
        except BaseException:
            self.session.close()
            raise
        self.cwd = "/"
        self.failed_status = 0
        self.prompt = "restorekit:/> " if interactive else ""

    # -- the recovery point ----------------------------------------------------------------------------------

    def _tree(self) -> Namespace:
        """The tree of the session's volumes (again after ``unlock``)."""
        return session_namespace(self.session)

    def close(self) -> None:
        """Close the images."""
        self.session.close()

    def to_tree(self, text: str) -> str:
        """A path as the user wrote it, as an absolute tree path (``VOLUME:/p``, ``C:\\p``, relative, absolute)."""
        match = _PREFIXED.match(text)
        if match and self.tree.volume_of(match.group(1)) is not None:
            volume = self.tree.volume_of(match.group(1))
            return normalize_path(f"/{volume}/{match.group(2).replace(chr(92), '/')}")
        return normalize_path(text if text.startswith("/") else f"{self.cwd}/{text}")

    def locate(self, text: str) -> tuple[Filesystem | None, str, str]:
        """``(file system or None above the volumes, path in it, tree path)`` of a path the user wrote."""
        path = self.to_tree(text)
        volume, inner = self.tree.split(path)
        if volume is None:
            return None, inner, path
        return self.tree.filesystems[volume], inner, f"/{volume}{inner.rstrip('/')}" if inner != "/" else f"/{volume}"

    def entry(self, text: str) -> tuple[Filesystem, Entry, str | None]:
        """The file system, entry and alternate data stream a path inside a volume names."""
        fs, inner, _path = self.locate(text)
        if fs is None:
            raise FilesystemError("names the top of the tree, not a file or folder in a volume", path=text,
                                  hint="name a path inside a volume, e.g. /os-p3/Users or os-p3:/Users")
        entry, stream = resolve(fs, inner)
        return fs, entry, stream

    # -- running commands -------------------------------------------------------------------------------------

    def emptyline(self) -> bool:
        return False

    def onecmd(self, line: str) -> bool:
        if line == "EOF":  # cmd's word for the end of the input
            return self.do_EOF(line)
        try:
            args = split_line(line)
        except ValueError as exc:
            return self._done(2, f"{exc} (quote names with spaces: 'Program Files' or Program\\ Files)")
        if not args:
            return False
        name = args[0]
        if name in ("exit", "quit"):
            return True
        command = COMMANDS.get(name)
        if command is None:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return self._done(2, f"unknown command {name!r}{hint} (help lists the commands)")
        try:
            status = command.main(args[1:], prog_name=name, standalone_mode=False, obj=self)
            return self._done(status if isinstance(status, int) else 0)
        except click.exceptions.Exit as exc:  # --help
            return self._done(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            return self._done(exc.exit_code)
        except RestoreKitError as exc:
            return self._done(1, str(exc))
        except SystemExit as exc:  # a summary that said "not everything was done"
            return self._done(exc.code if isinstance(exc.code, int) else 1)
        except (KeyboardInterrupt, click.Abort):
            click.echo("Interrupted", err=True)
            return self._done(130)
        except OSError as exc:
            return self._done(1, f"{exc.strerror or exc}")
        except Exception as exc:  # a backend's unexpected error ends this command, not the shell
            return self._done(1, f"{line.strip()}: {type(exc).__name__}: {exc}")

    def _done(self, status: int, error: str | None = None) -> bool:
        sys.stdout.flush()  # what the command printed comes before its error, also through one pipe
        if error is not None:
            click.echo(f"Error: {error}", err=True)
        if status:
            self.failed_status = status
        return False

    def postcmd(self, stop: bool, line: str) -> bool:
        if self.interactive:
            self.prompt = f"restorekit:{self.cwd}> "
        return stop

    def do_EOF(self, line: str) -> bool:
        if self.interactive:
            click.echo()
        return True

    def cmdloop_safely(self) -> None:
        """:meth:`cmdloop`, where Ctrl-C at the prompt starts a new line instead of ending the shell."""
        while True:
            try:
                self.cmdloop()
                return
            except KeyboardInterrupt:
                click.echo("^C")

    # -- completion -------------------------------------------------------------------------------------------

    def completenames(self, text: str, *ignored: Any) -> list[str]:
        return [f"{name} " for name in [*COMMANDS, "exit"] if name.startswith(text)]

    def completedefault(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        start = _word_start(line, endidx)
        raw = line[start:endidx]
        if raw.startswith("-"):
            command = COMMANDS.get(line.split(maxsplit=1)[0]) if line.strip() else None
            options = [o for p in (command.params if command else []) for o in p.opts if o.startswith("--")]
            return [o[begidx - start:] + " " for o in options if o.startswith(raw)]
        try:
            word = "".join(split_line(raw))
        except ValueError:  # an open quote: complete what is inside it
            word = raw.lstrip("'\"")
        matches = [escape_word(m) for m in self.complete_path(word)]
        if begidx == start:  # readline replaces the whole word: any spelling of it will do
            return matches
        return [m[begidx - start:] for m in matches if m.startswith(raw)]

    def complete_path(self, word: str) -> list[str]:
        """Completions of a partial path (as written: tree path, ``VOLUME:/...``, ``C:\\...``, relative)."""
        match = _PREFIXED.match(word)
        if match and self.tree.volume_of(match.group(1)) is not None and not match.group(2):
            return [f"{word}/"]
        sep = "\\" if match and "\\" in match.group(2) and "/" not in match.group(2) else "/"
        head, _sep, prefix = word.rpartition(sep)
        folder = head + sep if _sep else ""
        try:
            names = self.names(folder or ".")
        except RestoreKitError:
            return []
        return [f"{folder}{name}{'/' if is_dir else ''}" for name, is_dir in names if name.startswith(prefix)]

    def names(self, text: str) -> list[tuple[str, bool]]:
        """``(name, is a folder)`` in the folder ``text`` names (the tree's own folders included)."""
        fs, inner, path = self.locate(text)
        if fs is None:
            if path == f"/{BY_LABEL}":
                return [(name, True) for name in self.tree.labels]
            return [(name, True) for name in self.tree.root_names()]
        return [(e.name, e.is_dir) for e in fs.listdir(fs.stat(inner))]


#: What a backslash escapes; before anything else it is itself, so ``C:\\Windows\\System32`` needs no quoting.
_ESCAPED = " \t'\"\\"


def split_line(line: str) -> list[str]:
    """A command line as words: ``'...'`` and ``"..."`` quote, a backslash escapes a space, a quote or a
    backslash and is kept before anything else (Windows paths), ``#`` at a word's start comments out the rest."""
    words: list[str] = []
    word: list[str] | None = None
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote is not None:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"' and line[i + 1 : i + 2] in ('"', "\\"):
                i += 1
                word.append(line[i])  # type: ignore[union-attr]
            else:
                word.append(c)  # type: ignore[union-attr]
        elif c in " \t\n":
            if word is not None:
                words.append("".join(word))
            word = None
        elif c == "#" and word is None:
            break
        else:
            word = word if word is not None else []
            if c in "'\"":
                quote = c
            elif c == "\\" and i + 1 < len(line) and line[i + 1] in _ESCAPED:
                i += 1
                word.append(line[i])
            else:
                word.append(c)
        i += 1
    if quote is not None:
        raise ValueError("No closing quotation")
    if word is not None:
        words.append("".join(word))
    return words


def escape_word(text: str) -> str:
    """``text`` written so that :func:`split_line` reads it back as one word."""
    out = []
    for i, c in enumerate(text):
        if c in " \t'\"" or (c == "\\" and (i + 1 == len(text) or text[i + 1] in _ESCAPED)):
            out.append("\\")
        out.append(c)
    return "".join(out)


def _word_start(line: str, end: int) -> int:
    """Where the word that ends at ``end`` starts (after the last space no backslash escapes)."""
    start, i = 0, 0
    while i < end:
        if line[i] == "\\" and line[i + 1 : i + 2] in (" ", "\t"):
            i += 2
            continue
        if line[i] in " \t":
            start = i + 1
        i += 1
    return start


# -- the commands ------------------------------------------------------------------------------------------------


def _shell() -> Shell:
    shell = click.get_current_context().obj
    assert isinstance(shell, Shell)
    return shell


@click.command()
@click.argument("paths", nargs=-1)
@click.option("-l", "long_format", is_flag=True, help="Long listing: type, size, mtime, mode or attributes.")
@click.option("-R", "-r", "recursive", is_flag=True, help="List whole trees.")
def ls(paths: tuple[str, ...], long_format: bool, recursive: bool) -> int:
    """List folders (the current one without PATH); at the top, the volumes and their aliases."""
    shell = _shell()
    unread = _UnreadFolders()
    for text in paths or (".",):
        fs, inner, path = shell.locate(text)
        if fs is None:
            _list_top(shell, path, long_format)
            continue
        entries = unread.links(fs.volume, list_entries(fs, inner, recursive, unread))
        if shell.as_json:
            emit_json_array({"volume": fs.volume, **e.to_dict()} for e in entries)
            continue
        for entry in entries:
            name = _short(entry, recursive)
            click.echo(_long(entry, name, False) if long_format else name)
    return 1 if unread.count else 0


def _list_top(shell: Shell, path: str, long_format: bool) -> None:
    tree = shell.tree
    if path == f"/{BY_LABEL}":
        rows = [(name, f"../{volume}") for name, volume in tree.labels.items()]
    else:
        rows = [(name, None) for name in tree.filesystems] + list(tree.letters.items())
        rows += [(BY_LABEL, None)] if tree.labels else []
    if shell.as_json:
        emit_json([{"name": name, "type": "symlink" if target else "dir", "linkTarget": target}
                   for name, target in rows])
        return
    for name, target in rows:
        fs = tree.filesystems.get(name)
        detail = f"  {fs.variant} {fs.label or ''} {human_size(fs.size)}".rstrip() if long_format and fs else ""
        click.echo(f"{name} -> {target}" if target else f"{name}/{detail}")


@click.command()
@click.argument("path", required=False, default="/")
def cd(path: str) -> int:
    """Change the current folder (`cd` alone: the top; `cd C:`, `cd os-p3:/Users`, `cd ..` work)."""
    shell = _shell()
    fs, inner, tree_path = shell.locate(path)
    if fs is not None:
        entry, _stream = resolve(fs, inner)
        if not entry.is_dir:
            raise FilesystemError("not a folder", volume=fs.volume, path=inner)
    shell.cwd = tree_path
    return 0


@click.command()
def pwd() -> int:
    """Print the current folder."""
    click.echo(_shell().cwd)
    return 0


@click.command()
@click.argument("paths", nargs=-1, required=True)
def cat(paths: tuple[str, ...]) -> int:
    """Write files (or `file:stream`, an NTFS alternate data stream) to the output, byte for byte."""
    shell = _shell()
    for text in paths:
        fs, entry, stream = shell.entry(text)
        sys.stdout.flush()
        copy_to_fd(fs, entry, stream, sys.stdout.fileno())
    return 0


@click.command()
@click.argument("pattern", required=False, default="*")
@click.option("--min-size", type=int, metavar="BYTES", help="Files of at least BYTES.")
def find(pattern: str, min_size: int | None) -> int:
    """Find by glob (`**` spans folders) below the current folder, or in every volume from the top."""
    shell = _shell()
    unread = _UnreadFolders()
    fs, inner, _path = shell.locate(".")
    jobs = [(fs, inner)] if fs is not None else [(f, "/") for f in shell.tree.filesystems.values()]
    found = _found(jobs, pattern, FindFilter(min_size=min_size), unread)
    if shell.as_json:
        emit_json_array({"volume": vol, **entry.to_dict()} for vol, entry in found)
    else:
        for vol, entry in found:
            click.echo(f"/{vol}{entry.path}")
    return 1 if unread.count else 0


def _found(jobs: list[tuple[Filesystem, str]], pattern: str, condition: FindFilter,
           unread: _UnreadFolders) -> Iterator[tuple[str, Entry]]:
    for fs, top in jobs:
        rooted = pattern if pattern.startswith("/") else f"{top.rstrip('/')}/**/{pattern}"
        for entry in find_entries(fs, rooted, condition, unread):
            yield fs.volume, entry


@click.command()
@click.argument("paths", nargs=-1, required=True)
def stat(paths: tuple[str, ...]) -> int:
    """Show everything known about files or folders: times (UTC), size, mode or attributes, streams, links."""
    shell = _shell()
    docs = []
    for text in paths:
        fs, entry, stream = shell.entry(text)
        doc = {"volume": fs.volume, **entry.to_dict(), **({"stream": stream} if stream else {})}
        if shell.as_json:
            docs.append(doc)
            continue
        for key, value in doc.items():
            shown = f"{value:o} ({filemode(value)})" if key == "mode" else value
            shown = ", ".join(map(str, shown)) if isinstance(shown, list) else shown
            click.echo(f"{key:>12}: {shown}")
    if shell.as_json:
        emit_json(docs)
    return 0


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", "output", default=".", show_default=True, metavar="DIR",
              help="Write into this folder (created if missing).")
@click.option("--parents", is_flag=True, help="Keep each path from its volume root: DIR/<volume id>/...")
@click.option("--streams", is_flag=True, help="Also write NTFS alternate data streams as name.stream files.")
@click.option("--overwrite", is_flag=True, help="Replace files that exist and differ.")
@click.option("--verify", is_flag=True, help="Write SHA256SUMS, computed while copying.")
def get(paths: tuple[str, ...], output: str, parents: bool, streams: bool, overwrite: bool, verify: bool) -> int:
    """Copy files and folders out, as `restorekit extract -o DIR` does (same names, checks and exit status)."""
    shell = _shell()
    sources = []
    for text in paths:
        fs, inner, _path = shell.locate(text)
        if fs is None:
            raise FilesystemError("names the top of the tree, not a file or folder in a volume", path=text,
                                  hint="name a path inside a volume, e.g. /os-p3/Users or os-p3:/Users")
        sources.append(Target(fs.volume, inner))
    report = shell.session.extract(sources, output, parents=parents, streams=streams, overwrite=overwrite,
                                   verify=verify)
    _summary(report, quiet=False, as_json=shell.as_json)
    return 0


@click.command()
def volumes() -> int:
    """The volumes: id, file system, label, size, drive letter; and those left out, with why."""
    shell = _shell()
    tree = shell.tree
    letters = {volume: letter for letter, volume in tree.letters.items()}
    rows = [{"id": vid, "filesystem": fs.variant, "label": fs.label, "size": fs.size, "driveLetter":
             letters.get(vid)} for vid, fs in tree.filesystems.items()]
    if shell.as_json:
        emit_json({"volumes": rows, "leftOut": [{"volume": v, "reason": why} for v, why in tree.left_out]})
        return 0
    for row in rows:
        letter = f"  {row['driveLetter']}:" if row["driveLetter"] else ""
        click.echo(f"{row['id']:<10} {row['filesystem']:<6} {human_size(row['size']):>10}  {row['label'] or ''}"
                   f"{letter}")
    for vid, why in tree.left_out:
        click.echo(f"{vid:<10} not readable: {why}")
    return 0


@click.command()
@click.option("--password", "passwords", multiple=True, metavar="TEXT", help="BitLocker or LUKS password.")
@click.option("--recovery-password", "recovery_passwords", multiple=True, metavar="DIGITS",
              help="BitLocker 48-digit recovery password.")
@click.option("--bek", "bek_files", multiple=True, metavar="FILE", help="BitLocker .BEK key file.")
def unlock(passwords: tuple[str, ...], recovery_passwords: tuple[str, ...], bek_files: tuple[str, ...]) -> int:
    """Unlock encrypted volumes with more keys (no option: asks for a password, not echoed)."""
    shell = _shell()
    if not (passwords or recovery_passwords or bek_files):
        passwords = (getpass.getpass("Password: "),)
    given = [{"password": p} for p in passwords] + [{"recovery_password": r} for r in recovery_passwords]
    opened, errors = [], []
    for key in given + [{"bek": b} for b in bek_files]:
        try:
            opened += [v.id for v in shell.session.unlock("*", **key)]
        except UnlockError as exc:  # the session keeps no key that opened nothing
            errors.append(str(exc))
    shell.tree = shell._tree()
    if opened:
        click.echo(f"Unlocked: {', '.join(opened)}")
        return 0
    warn(f"no volume was unlocked ({'; '.join(errors)})")
    return 1


@click.command()
@click.argument("path")
@click.option("-s", "--skip", "offset", type=click.IntRange(min=0), default=0, help="Start at this byte.")
@click.option("-n", "--length", "length", type=click.IntRange(min=0), default=None,
              help=f"Show this many bytes (default {HEXDUMP_DEFAULT}).")
def hexdump(path: str, offset: int, length: int | None) -> int:
    """Show a file's bytes as `hexdump -C` does: offset, 16 bytes in hex, the printable ones."""
    shell = _shell()
    fs, entry, stream = shell.entry(path)
    data = fs.open_stream(entry, stream)
    count = min(length if length is not None else HEXDUMP_DEFAULT, max(0, data.size - offset))
    chunk = data.pread(count, offset)
    previous = None
    starred = False
    for at in range(0, len(chunk), 16):
        row = chunk[at:at + 16]
        if row == previous and at + 16 < len(chunk):
            if not starred:
                click.echo("*")
                starred = True
            continue
        previous, starred = row, False
        hexes = " ".join(f"{b:02x}" for b in row[:8]) + "  " + " ".join(f"{b:02x}" for b in row[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        click.echo(f"{offset + at:08x}  {hexes:<48}  |{text}|")
    click.echo(f"{offset + len(chunk):08x}")
    rest = data.size - offset - len(chunk)
    if rest > 0 and length is None:
        click.echo(f"({rest} more bytes: hexdump -s {offset + len(chunk)} -n N {path})", err=True)
    return 0


@click.command(name="sha256")
@click.argument("paths", nargs=-1, required=True)
def sha256(paths: tuple[str, ...]) -> int:
    """The SHA-256 of files, as `sha256sum` prints it (compare with a copy without writing one out)."""
    shell = _shell()
    for text in paths:
        fs, entry, stream = shell.entry(text)
        digest = hashlib.sha256()
        with open(os.devnull, "wb") as null:
            copy_to_fd(fs, entry, stream, null.fileno(), hasher=digest)
        click.echo(f"{digest.hexdigest()}  {text}")
    return 0


@click.command(name="help")
@click.argument("command", required=False)
def help_(command: str | None) -> int:
    """List the commands, or show one's options (`help get`, or `get --help`)."""
    if command:
        found = COMMANDS.get(command)
        if found is None:
            raise EntryNotFoundError(f"no command {command!r}", hint=f"the commands are {', '.join(COMMANDS)}")
        with click.Context(found, info_name=command) as ctx:
            click.echo(found.get_help(ctx))
        return 0
    for name, found in COMMANDS.items():
        click.echo(f"  {name:<9} {found.get_short_help_str(90)}")
    click.echo("  exit      Leave the shell (also Ctrl-D).")
    click.echo("Paths: /os-p3/Users, os-p3:/Users, C:\\Users, relative to the current folder; Tab completes.")
    return 0


#: The shell's commands, in the order ``help`` lists them.
COMMANDS: dict[str, click.Command] = {c.name or "": c for c in (ls, cd, pwd, cat, find, stat, get, hexdump, sha256,
                                                                 volumes, unlock, help_)}


def run_lines(shell: Shell, lines: Sequence[str]) -> int:
    """Run command lines (``-c``) and return the shell's exit status."""
    for line in lines:
        if shell.onecmd(line):
            break
    return shell.failed_status


__all__ = ["COMMANDS", "HEXDUMP_DEFAULT", "Shell", "history_file", "run_lines"]
