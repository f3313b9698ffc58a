"""``restorekit man``: the manual page (roff, section 1), generated from the click definitions, so it says exactly
what ``--help`` says: each command's usage, description, examples and options."""

from __future__ import annotations

import datetime
import importlib.metadata
import re
from pathlib import Path

import click


@click.command("man")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the page to FILE (e.g. restorekit.1) instead of stdout.")
def man(output: Path | None) -> None:
    """Print the manual page, made from the commands' own help.

    \b
    Install it for `man restorekit`:
      restorekit man -o ~/.local/share/man/man1/restorekit.1

    \b
    Example:
      restorekit man | head -5
      restorekit man -o restorekit.1
    """
    from restorekit.cli import cli

    page = render(cli)
    if output is None:
        click.echo(page, nl=False)
    else:
        output.write_text(page, encoding="utf-8")


def _escape(text: str) -> str:
    """Text safe in roff: backslashes escaped, hyphens as minus signs, other than ASCII as ``\\[uXXXX]``, no line
    starting with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)  # groff's named Unicode glyphs
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.MULTILINE)


def _paragraphs(help_text: str) -> list[str]:
    """The help text as roff: ``\\b`` blocks (examples) verbatim, other paragraphs filled."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", click.unstyle(help_text).strip()):
        lines = block.splitlines()
        if lines and lines[0].strip() == "\b":
            out += [".PP", ".nf", *(_escape(line) for line in lines[1:]), ".fi"]
        else:
            out += [".PP", _escape(" ".join(line.strip() for line in lines))]
    return out


def render(group: click.Group) -> str:
    """The whole page for ``group`` and every command it lists."""
    ctx = click.Context(group, info_name="restorekit")
    version = importlib.metadata.version("restorekit")
    today = datetime.date.today().isoformat()
    lines = [f'.TH RESTOREKIT 1 "{today}" "restorekit {version}" "User Commands"', ".SH NAME",
             "restorekit \\- recover files from VM recovery points and plan restores, offline and read\\-only",
             ".SH SYNOPSIS", ".B restorekit", "\\fICOMMAND\\fR [\\fIOPTIONS\\fR] \\fIPATH\\fR...", ".SH DESCRIPTION",
             *_paragraphs(group.help or ""), ".SH COMMANDS"]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = click.Context(command, info_name=name, parent=ctx)
        usage = " ".join(command.collect_usage_pieces(sub))
        lines += [f".SS restorekit {name}", f".B restorekit {name}", _escape(usage)]
        lines += _paragraphs(command.help or "")
        for param in command.get_params(sub):
            record = param.get_help_record(sub)
            if record is None:
                continue
            lines += [".TP", f"\\fB{_escape(record[0])}\\fR", _escape(record[1])]
    lines += [".SH EXIT STATUS", "0 ok, 1 error (anything skipped or failed is listed), 2 usage, 3 restore option "
              "blocked, 130 interrupted.", ".SH SEE ALSO", "The README of restorekit; \\fBaz\\fR(1)."]
    return "\n".join(lines) + "\n"
