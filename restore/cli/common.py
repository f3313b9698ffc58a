"""Options, output and error handling shared by every command."""

from __future__ import annotations

import codecs
import functools
import io
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from restorekit.fs.keys import Keys, read_keychain, read_password_file
from restorekit.fs.remote.url import is_url, redact

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


#: The az CLI's output formats: ``-o json`` there picks a format; here ``-o`` is a path, as in tar, dd and cp.
AZ_OUTPUT_FORMATS = frozenset({"json", "jsonc", "table", "tsv", "yaml", "yamlc", "none"})


class OutputPath(click.ParamType):
    """``-o``'s path (its ``inner`` type converts it); a bare az CLI format name (``-o json``) that is not an
    existing path is a usage error with a hint, not a folder named ``json`` (``./json`` is one)."""

    def __init__(self, inner: click.ParamType, what: str) -> None:
        self.inner, self.what, self.name = inner, what, inner.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value in AZ_OUTPUT_FORMATS and not os.path.lexists(value):
            self.fail(f"-o names the output {self.what} here, not a format as in the az CLI: for JSON use --json; "
                      f"for a {self.what} called {value}, write ./{value}", param, ctx)
        return self.inner.convert(value, param, ctx)


def output_path_option(*, metavar: str, help: str, type: click.ParamType = click.STRING,
                       **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """``-o/--output PATH`` of :class:`OutputPath`."""
    what = "folder" if metavar == "DIR" else "file"
    return click.option("-o", "--output", "output", metavar=metavar, help=help, type=OutputPath(type, what), **kwargs)


def _facts(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[tuple[str, Any]]:
    from restorekit.facts import parse_fact

    try:
        return [parse_fact(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def fact_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--fact KEY=VALUE`` (repeatable): a fact no ``az`` output gives, beside the manifest's ``facts``."""
    return click.option("--fact", "facts", multiple=True, callback=_facts, metavar="KEY=VALUE",
                        help="A fact the JSON does not give, by the name `show` lists under Unknown (repeatable; "
                             "wins over the manifest's \"facts\"): --fact generalized=false.")(fn)


class RecoveryPointPath(click.Path):
    """A local path that must exist, or the URL of a blob or container in Azure Storage (checked when read)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and is_url(value):
            return value
        return super().convert(value, param, ctx)


def _account_key(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    # The option is the variable's twin, as in the az CLI; the reader takes the key from the environment.
    if value:
        os.environ["AZURE_STORAGE_KEY"] = value


def account_key_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--account-key KEY`` for URLs without a SAS token (handed to the reader as ``AZURE_STORAGE_KEY``)."""
    return click.option("--account-key", metavar="KEY", expose_value=False, callback=_account_key,
                        help="Storage account key for URLs without a SAS token (or set AZURE_STORAGE_KEY; "
                             "AZURE_STORAGE_CONNECTION_STRING and `az login` work too).")(fn)


def paths_argument(fn: Callable[..., Any]) -> Callable[..., Any]:
    """PATH...: a recovery-point folder, a recoverypoint.json or config-*.json, image files, or the URLs of blobs
    and containers in Azure Storage (with ``--account-key`` for URLs without a SAS token)."""
    fn = account_key_option(fn)
    return click.argument("paths", nargs=-1, required=True, metavar="PATH...",
                          type=RecoveryPointPath(exists=True, dir_okay=True))(fn)


def escape_unencodable_output() -> None:
    """Let stdout and stderr write what their encoding cannot (a lone surrogate from a JSON ``"\\ud800"``) as a
    backslash escape instead of failing. A stream that writes undecodable file-name bytes back as they were
    (``surrogateescape``, the C locale's default) keeps doing so and escapes only the rest."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors in ("strict", "surrogateescape"):
            stream.reconfigure(errors="backslashreplace" if stream.errors == "strict" else ESCAPE_ERRORS)


def _surrogateescape_else_backslash(exc: UnicodeError) -> tuple[str | bytes, int]:
    try:
        return codecs.lookup_error("surrogateescape")(exc)
    except UnicodeError:
        return codecs.backslashreplace_errors(exc)


#: The error handler of :func:`escape_unencodable_output` for ``surrogateescape`` streams.
ESCAPE_ERRORS = "restorekit-surrogateescape-else-backslash"
codecs.register_error(ESCAPE_ERRORS, _surrogateescape_else_backslash)


def warn(message: str) -> None:
    """One line on stderr that does not stop the command."""
    click.echo(f"Warning: {redact(message)}", err=True)


def refuse_terminal_stdout(what: str, fix: str) -> None:
    """A usage error (exit 2) when stdout is a terminal: ``what`` (a disk, a tar stream) is binary."""
    if sys.stdout.isatty():
        raise click.UsageError(f"refusing to write {what} to the terminal; {fix}")


def stderr_is_tty() -> bool:
    """Whether progress bars may be drawn."""
    return sys.stderr.isatty()


def human_size(n: int | None) -> str:
    """Bytes as a short binary size: ``64.0 MiB``."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


#: The variable holding a password tried on every encrypted volume (as ``--password``, but out of ``ps``).
PASSWORD_VARIABLE = "RESTOREKIT_PASSWORD"

UNLOCK_OPTIONS = [
    click.option("--password", "passwords", multiple=True, metavar="TEXT",
                 help="BitLocker or LUKS password (shows in ps and shell history: prefer the ways below)."),
    click.option("--password-file", "password_files", multiple=True, metavar="FILE",
                 help=f"Read the password from the first line of FILE (- for stdin). Or set {PASSWORD_VARIABLE}."),
    click.option("--recovery-password", "recovery_passwords", multiple=True, metavar="DIGITS",
                 help="BitLocker 48-digit recovery password."),
    click.option("--bek", "bek_files", multiple=True, metavar="FILE", type=click.Path(dir_okay=False),
                 help="BitLocker .BEK key file (as Azure Disk Encryption keeps in Key Vault)."),
    click.option("--keys", "keychains", multiple=True, metavar="FILE",
                 help="Keychain: one key a line, `VOLUME TYPE KEY` (VOLUME as inspect prints it, or *; TYPE "
                      "password, recovery-password or bek); # comments."),
    click.option("--ask-password", is_flag=True,
                 help="Ask on the terminal (not echoed) for the key of each volume that stays locked."),
    click.option("--force-assemble", is_flag=True,
                 help="Read RAID arrays whose members disagree on their event counts (one missed the last writes) "
                      "from the freshest members, as mdadm --assemble --force; without it they are refused."),
]


def unlock_options(fn: Callable[..., Any] | None = None, *, reads_files: bool = False) -> Any:
    """The ways to give keys, turned into one ``keys`` parameter (:class:`~restorekit.fs.keys.Keys`).

    ``--password``, ``--recovery-password``, ``--bek`` (repeatable) and :data:`PASSWORD_VARIABLE` are tried on
    every encrypted volume, a ``--keys`` keychain on the volumes it names. ``--ask-password`` asks on the
    terminal for each volume that stays locked; commands that read files (``reads_files``) also ask, when
    standard input is a terminal, for a volume they need that no key was given for.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def command(*args: Any, passwords: tuple[str, ...], password_files: tuple[str, ...],
                    recovery_passwords: tuple[str, ...], bek_files: tuple[str, ...], keychains: tuple[str, ...],
                    ask_password: bool, force_assemble: bool, **kwargs: Any) -> Any:
            keys = keys_from_options(passwords, password_files, recovery_passwords, bek_files, keychains,
                                     ask_password, reads_files=reads_files)
            keys.force_assemble = force_assemble
            return fn(*args, keys=keys, **kwargs)

        for option in reversed(UNLOCK_OPTIONS):
            command = option(command)
        return command

    return decorate if fn is None else decorate(fn)


def keys_from_options(passwords: Sequence[str], password_files: Sequence[str], recovery_passwords: Sequence[str],
                      bek_files: Sequence[str], keychains: Sequence[str], ask_password: bool, *,
                      reads_files: bool = False) -> Keys:
    """The :class:`Keys` of the unlock options (see :func:`unlock_options`)."""
    keys = Keys(list(passwords), list(recovery_passwords), list(bek_files))
    keys.passwords += [read_password_file(path) for path in password_files]
    if os.environ.get(PASSWORD_VARIABLE):
        keys.passwords.append(os.environ[PASSWORD_VARIABLE])
    for keychain in keychains:
        keys.entries += read_keychain(keychain)
    terminal = sys.stdin.isatty()
    if ask_password and not terminal:
        raise click.UsageError("--ask-password needs a terminal on standard input; give the key with "
                               f"--password-file FILE, --keys FILE or {PASSWORD_VARIABLE} instead")
    if ask_password or (reads_files and terminal):
        keys.prompt, keys.prompt_after_failure = ask_key, ask_password
    return keys


def ask_key(volume: str, what: str, retry: bool) -> str | None:
    """Ask on the terminal for the key of ``volume`` (never echoed); None at end of input."""
    import getpass  # with termios, ~0.5 ms: only when a locked volume is asked for

    if retry:
        click.echo(f"That key did not unlock {volume}.", err=True)
    try:
        return getpass.getpass(f"Password or recovery password for {volume} ({what}), empty to skip: ")
    except EOFError:
        return None
