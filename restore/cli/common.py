"""Options, output and error handling shared by every command."""

from __future__ import annotations

import codecs
import io
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from restorekit.fs.remote.url import is_url, redact

if TYPE_CHECKING:
    from collections.abc import Callable


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


def paths_argument(fn: Callable[..., Any]) -> Callable[..., Any]:
    """PATH...: a recovery-point folder, a recoverypoint.json or config-*.json, image files, or the URLs of blobs
    and containers in Azure Storage (with ``--account-key`` for URLs without a SAS token)."""
    fn = click.option("--account-key", metavar="KEY", expose_value=False, callback=_account_key,
                      help="Storage account key for URLs without a SAS token (or set AZURE_STORAGE_KEY; "
                           "AZURE_STORAGE_CONNECTION_STRING and `az login` work too).")(fn)
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


def unlock_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--password``, ``--recovery-password``, ``--bek``: keys tried on every encrypted volume (repeatable); and
    ``--force-assemble``: read RAID arrays whose members are out of step, from the freshest."""
    fn = click.option("--force-assemble", is_flag=True,
                      help="Read RAID arrays whose members disagree on their event counts (one missed the last "
                           "writes) from the freshest members, as mdadm --assemble --force; without it they are "
                           "refused.")(fn)
    fn = click.option("--bek", "bek_files", multiple=True, metavar="FILE", type=click.Path(dir_okay=False),
                      help="BitLocker .BEK key file (as Azure Disk Encryption keeps in Key Vault).")(fn)
    fn = click.option("--recovery-password", "recovery_passwords", multiple=True, metavar="DIGITS",
                      help="BitLocker 48-digit recovery password.")(fn)
    return click.option("--password", "passwords", multiple=True, metavar="TEXT",
                        help="BitLocker or LUKS password.")(fn)
