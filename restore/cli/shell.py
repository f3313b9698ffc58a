"""``restorekit shell``: explore a recovery point interactively (the shell itself is :mod:`restorekit.shell`)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from restorekit.cli.common import paths_argument, unlock_options, warn
from restorekit.cli.output import json_option

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.fs.keys import Keys
    from restorekit.shell import Shell


@click.command()
@paths_argument
@click.option("-c", "commands", multiple=True, metavar="COMMAND",
              help="Run this command line instead of reading commands (repeatable, run in order).")
@json_option
@unlock_options
def shell(paths: tuple[str, ...], commands: tuple[str, ...], as_json: bool, keys: Keys) -> None:
    """Explore a recovery point interactively: ls, cd, pwd, cat, find, stat, get, hexdump, sha256,
    volumes, unlock, help, exit.

    The recovery point is opened (and unlocked) once. The top folder holds one folder per volume
    (os-p3/, lun0-p1/), drive letters (C -> os-p3) and by-label/; paths are written as there
    (/os-p3/Users, relative ones), as os-p3:/Users, or as Windows paths (C:\\Users). Tab completes
    commands, options, volumes and paths; history is kept in $XDG_STATE_HOME/restorekit/shell_history
    (~/.local/state/...), without unlock lines. Commands are read from the terminal, from piped
    standard input (one per line), or from -c. An error ends the command, never the shell; the exit
    status is 0 when every command succeeded, else that of the last command that failed (1 error,
    2 usage, 130 interrupted). --json makes ls, find, stat, volumes and get print JSON.

    \b
    Example:
      restorekit shell fixtures/demo
      restorekit shell fixtures/demo -c 'ls /os-p3/Users' -c 'get lun0-p1:/srv/data -o restored/'
      printf 'cd C:\\\\Windows\\nfind *.log\\n' | restorekit shell fixtures/demo
    """
    from restorekit.shell import Shell, run_lines

    interactive = not commands and sys.stdin.isatty()
    session = Shell(paths, keys, as_json=as_json, interactive=interactive)
    for warning in session.tree.warnings:
        warn(warning)
    try:
        if commands:
            status = run_lines(session, commands)
        elif interactive:
            status = _interactive(session)
        else:
            session.use_rawinput = False
            session.cmdloop()
            status = session.failed_status
    finally:
        session.close()
    if status:
        raise SystemExit(status)


def _interactive(session: Shell) -> int:
    """The terminal loop: readline completion (names with '-' and '/' are one word) and history."""
    import readline

    from restorekit.shell import HISTORY_LENGTH, history_file

    readline.set_completer_delims(" \t\n")
    history = history_file()
    if history.exists():
        readline.read_history_file(history)
    readline.set_history_length(HISTORY_LENGTH)
    tree = session.tree
    folders = " ".join(f"{v}/" for v in tree.filesystems) or "no readable volumes"
    letters = ", ".join(f"{k}: {v}" for k, v in tree.letters.items())
    click.echo(f"restorekit shell: {folders}{f' ({letters})' if letters else ''}. Type help, or exit.", err=True)
    try:
        session.cmdloop_safely()
    finally:
        _save_history(readline, history)
    return session.failed_status


def _save_history(readline: object, history: Path) -> None:
    """Write the history without ``unlock`` lines (a key may be on them), readable by the user alone."""
    lines = [readline.get_history_item(i) for i in range(1, readline.get_current_history_length() + 1)]  # type: ignore[attr-defined]
    readline.clear_history()  # type: ignore[attr-defined]
    for line in lines:
        if line and not line.lstrip().startswith("unlock"):
            readline.add_history(line)  # type: ignore[attr-defined]
    history.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    readline.write_history_file(history)  # type: ignore[attr-defined]
    os.chmod(history, 0o600)


__all__ = ["shell"]
