"""Machine-readable output as the az CLI gives it: ``--json``, ``-f/--format json|table|tsv`` and ``--query``.

``--query`` is a JMESPath expression over the command's JSON document (the ``jmespath`` package, as az uses);
``table`` and ``tsv`` lay out a list of objects (or one object) as rows of their plain values: nested objects and
lists are left out, as az leaves them out, so a query picks what a table shows. Without a query, a command may
say which rows its table shows (``inspect``: the volumes; ``plan``: the findings). ``-o`` stays an output path.
"""

from __future__ import annotations

import codecs
import functools
import os
import re
import sys
from typing import TYPE_CHECKING, Any, TypeVar

import click

from restorekit.cli.turns import write_in_turns
from restorekit.jsonio import dumps

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from restorekit.cli.turns import Reports

FORMATS = ("json", "table", "tsv")
T = TypeVar("T")
_META = "restorekit.output"


def _compile(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(value)
    except JMESPathError as exc:
        raise click.BadParameter(f"not a JMESPath expression: {str(exc).splitlines()[0]}") from exc


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``, ``-f/--format`` and ``--query``; the command sees ``as_json`` True for any of them."""

    @functools.wraps(fn)
    def wrapper(*args: Any, output_format: str | None, query: Any, **kwargs: Any) -> Any:
        if output_format or query is not None:
            kwargs["as_json"] = True
        click.get_current_context().meta[_META] = (output_format or "json", query)
        return fn(*args, **kwargs)

    for option in reversed([
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text (field names as Azure "
                                                              "prints them)."),
        click.option("-f", "--format", "output_format", type=click.Choice(FORMATS),
                     help="json, table or tsv (as the az CLI's --output; -o here is an output path)."),
        click.option("--query", callback=_compile, metavar="JMESPATH",
                     help="A JMESPath query over the JSON output, as in the az CLI: --query \"[?size>`1000`].path\"."),
    ]):
        wrapper = option(wrapper)
    return wrapper


def _settings() -> tuple[str, Any]:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_META, ("json", None)) if ctx is not None else ("json", None)


def emit_json(doc: Any, rows: Callable[[Any], list[Any]] | None = None) -> None:
    """Write ``doc`` as the user asked: indented JSON, or the query's result, or a table/tsv (of ``rows(doc)``
    when no query picks the rows)."""
    fmt, query = _settings()
    if query is not None:
        doc = query.search(doc)
    elif rows is not None and fmt != "json":
        doc = rows(doc)
    if fmt == "json":
        click.echo(dumps(doc, indent=2))
    else:
        click.echo(render_rows(doc, tsv=fmt == "tsv"), nl=False)


def emit_json_array(items: Iterable[Any]) -> None:
    """A JSON array written as the items come, one compact item per line: flat memory for any count. A query or
    a table needs the whole list first.

    (``json.dumps`` with ``indent`` runs the pure-Python encoder; one line per item keeps the C encoder.)
    """
    fmt, query = _settings()
    if fmt != "json" or query is not None:
        emit_json(list(items))
        return
    sep = "[\n  "
    for item in items:
        sys.stdout.write(sep + dumps(item))
        sep = ",\n  "
    sys.stdout.write("[]\n" if sep.startswith("[") else "\n]\n")


def streaming_json() -> bool:
    """True when the output is plain ``--json`` (no ``--query``, no table): :func:`emit_json_bytes` can write it."""
    return _settings() == ("json", None)


#: What :func:`emit_json_bytes` wants before each item.
ITEM_SEPARATOR = b",\n  "


def emit_json_bytes(items: Iterable[T], make: Callable[[T], bytes], *, splittable: Callable[[T], bool],
                    reports: Reports, fork: bool) -> None:
    """:func:`emit_json_array` of items already encoded: ``make`` gives a chunk of items (UTF-8, each after
    :data:`ITEM_SEPARATOR`) of each of ``items``, in two processes where it can (:func:`emit_bytes`)."""
    write, _encode = text_writer()
    write(b"[")
    written = emit_bytes(items, make, first=lambda data: data[1:], splittable=splittable, reports=reports,
                         fork=fork)  # (the first item's separator without its comma)
    write(b"\n]\n" if written else b"]\n")


def emit_bytes(items: Iterable[T], make: Callable[[T], bytes], *, first: Callable[[bytes], bytes],
               splittable: Callable[[T], bool], reports: Reports, fork: bool, raw: bool = False) -> bool:
    """Write ``make(item)`` of each item (UTF-8; with ``raw`` any bytes, straight to stdout's buffer) to stdout,
    in order; with ``fork`` formatted by two processes where that is safe
    (:func:`restorekit.cli.turns.write_in_turns`: from the first ``splittable`` item, each item's making free of
    side effects; ``reports`` counts what ``make`` reports, in either process). Whether anything was written."""
    write = _raw_writer() if raw else text_writer()[0]
    fd = _stdout_fd(raw=raw) if fork else None
    return write_in_turns(items, make, write, fd, first=first, splittable=splittable, reports=reports)


def _raw_writer() -> Callable[[bytes], None]:
    sys.stdout.flush()
    buffer = sys.stdout.buffer

    def write(data: bytes) -> None:
        buffer.write(data)
        buffer.flush()

    return write


def _stdout_fd(*, raw: bool) -> int | None:
    """stdout's file descriptor when bytes go straight to it (``raw``, or :func:`text_writer` on a UTF-8
    stream); None otherwise (text that is re-encoded, or a stream with no file such as a test's capture)."""
    stream = sys.stdout
    if getattr(stream, "buffer", None) is None or not (raw or _utf8_buffer(stream)):
        return None
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError):
        return None


def text_writer() -> tuple[Callable[[bytes], None], Callable[[str], bytes]]:
    """``(write, encode)`` for output made as UTF-8 bytes: ``write`` puts bytes on stdout, ``encode`` makes bytes of
    a text as stdout would (its error handler: a lone surrogate escaped, see :mod:`restorekit.cli.common`). On a
    UTF-8 stdout the bytes go straight to its buffer; on another encoding they are decoded and written as text."""
    stream = sys.stdout
    if _utf8_buffer(stream):
        buffer = stream.buffer
        errors = stream.errors or "strict"

        def write(data: bytes) -> None:
            stream.flush()
            buffer.write(data)

        return write, lambda text: text.encode("utf-8", errors)
    return (lambda data: stream.write(data.decode("utf-8", "surrogatepass")),
            lambda text: text.encode("utf-8", "surrogatepass"))


def _utf8_buffer(stream: Any) -> bool:
    """True when ``stream`` is UTF-8 text over a byte buffer: UTF-8 bytes can go straight to the buffer."""
    return getattr(stream, "buffer", None) is not None and codecs.lookup(stream.encoding or "ascii").name == "utf-8"


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    return str(value).replace("\t", " ").replace("\n", " ")


def render_rows(data: Any, *, tsv: bool) -> str:
    """Rows of plain values: a table with a header (as az ``-o table``) or tab-separated lines (``-o tsv``)."""
    items = data if isinstance(data, list) else [data]
    rows = [item if isinstance(item, dict) else {f"Column{i + 1}": v for i, v in enumerate(item)}
            if isinstance(item, list) else {"Result": item} for item in items if item is not None]
    columns: list[str] = []  # keys whose every value is plain (a nested object or list is left out, as az does)
    nested = {key for row in rows for key, value in row.items() if not _plain(value)}
    for row in rows:
        columns += [key for key in row if key not in nested and key not in columns]
    lines = [[_cell(row.get(col)) for col in columns] for row in rows]
    if tsv:
        return "".join("\t".join(line) + "\n" for line in lines)
    if not columns:
        return ""
    widths = [max(len(col), *(len(line[i]) for line in lines)) for i, col in enumerate(columns)]
    out = ["  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return "\n".join(out) + "\n"


#: Severities and verdicts coloured on a terminal: (pattern at a line's start, colour).
_COLOURS = ((re.compile(r"^(\s*)(block(?:ed)?)\b"), "red"), (re.compile(r"^(\s*)(warn)\b"), "yellow"),
            (re.compile(r"^(\s*)(unknown)\b"), "cyan"), (re.compile(r"^(\S+\s+)(allowed-with-warnings)\b"), "yellow"),
            (re.compile(r"^(\S+\s+)(blocked)\b"), "red"), (re.compile(r"^(\S+\s+)(allowed)\b"), "green"))


def echo_text(text: str) -> None:
    """Print a text report: on a terminal, each line wrapped at its width (between words, continuation lines
    indented under the line's text) and severities coloured unless ``NO_COLOR`` is set; elsewhere as it is."""
    if not sys.stdout.isatty():
        click.echo(text)
        return
    import shutil  # (here, as textwrap: only text reports on a terminal need them; ~2 ms at every start)
    import textwrap

    width = shutil.get_terminal_size().columns
    colour = not os.environ.get("NO_COLOR")
    out = []
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        wrapped = textwrap.wrap(line, width=max(width, 40), subsequent_indent=" " * (indent + 4),
                                break_long_words=False, break_on_hyphens=False, drop_whitespace=True) or [""]
        if indent:
            wrapped[0] = " " * indent + wrapped[0].lstrip(" ")
        if colour:
            wrapped[0] = _coloured(wrapped[0])
        out += wrapped
    click.echo("\n".join(out), color=colour)


def _coloured(line: str) -> str:
    for pattern, colour in _COLOURS:
        match = pattern.match(line)
        if match:
            return match.group(1) + click.style(match.group(2), fg=colour) + line[match.end():]
    return line
