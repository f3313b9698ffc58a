"""Options, output and error handling shared by every command."""

from __future__ import annotations

import codecs
import io
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from restorekit.fs.remote.url import is_url, redact
from restorekit.jsonio import dumps

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``: machine-readable output on stdout, field names as Azure prints them."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(fn)


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


def emit_json(doc: Any) -> None:
    """Write ``doc`` as indented JSON to stdout (lone surrogates escaped, see :func:`restorekit.jsonio.dumps`)."""
    click.echo(dumps(doc, indent=2))


def emit_json_array(items: Iterable[Any]) -> None:
    """Write a JSON array to stdout as the items come, one compact item per line: flat memory for any count.

    (``json.dumps`` with ``indent`` runs the pure-Python encoder; one line per item keeps the C encoder.)
    """
    sep = "[\n  "
    for item in items:
        sys.stdout.write(sep + dumps(item))
        sep = ",\n  "
    sys.stdout.write("[]\n" if sep.startswith("[") else "\n]\n")


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


def unlock_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--password``, ``--recovery-password``, ``--bek``: keys tried on every encrypted volume (repeatable)."""
    fn = click.option("--bek", "bek_files", multiple=True, metavar="FILE", type=click.Path(dir_okay=False),
                      help="BitLocker .BEK key file (as Azure Disk Encryption keeps in Key Vault).")(fn)
    fn = click.option("--recovery-password", "recovery_passwords", multiple=True, metavar="DIGITS",
                      help="BitLocker 48-digit recovery password.")(fn)
    return click.option("--password", "passwords", multiple=True, metavar="TEXT",
                        help="BitLocker or LUKS password.")(fn)
