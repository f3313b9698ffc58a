"""The ``restorekit`` command line: one module per command, errors turned into one line and an exit code.

Exit codes: 0 ok, 1 error, 2 usage, 3 restore option blocked, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from restorekit.cli.common import escape_unencodable_output
from restorekit.fs.errors import RestoreKitError
from restorekit.fs.remote.url import redact

#: The exit code shells give a command ended by SIGINT (128 + 2).
INTERRUPTED = 130

#: Every command, in the order ``--help`` lists them: name → "module:function". A command's module (and the
#: backends it needs) is imported only when that command runs, so ``dd`` does not pay for the planner.
COMMANDS = {
    "inspect": "restorekit.cli.inspect:inspect",
    "show": "restorekit.cli.show:show",
    "dd": "restorekit.cli.dd:dd",
    "ls": "restorekit.cli.files:ls",
    "find": "restorekit.cli.files:find",
    "cat": "restorekit.cli.files:cat",
    "extract": "restorekit.cli.files:extract",
    "mount": "restorekit.cli.mount:mount",
    "shell": "restorekit.cli.shell:shell",
    "plan": "restorekit.cli.plan:plan",
    "template": "restorekit.cli.template:template",
    "completion": "restorekit.cli.complete:completion",
    "man": "restorekit.cli.manpage:man",
}


class RestoreKitGroup(click.Group):
    """Loads commands from :data:`COMMANDS` on demand; turns restorekit errors into ``Error: …`` and exit 1, and
    Ctrl-C into ``Interrupted`` and exit 130 (outputs clean up after themselves: only whole files are left)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                             list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.list_commands(ctx):
            import difflib  # ~1 ms: only for a mistyped command

            close = difflib.get_close_matches(name.lower(), self.list_commands(ctx), n=1, cutoff=0.5)
            if close:
                ctx.fail(f"No such command {name!r}. Did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, name = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        escape_unencodable_output()
        try:
            return super().invoke(ctx)
        except RestoreKitError as exc:
            # Messages name blobs by their URL without the query; redact() is the net under any other path.
            raise click.ClickException(redact(str(exc))) from exc
        except KeyboardInterrupt:
            click.echo("\nInterrupted" if sys.stderr.isatty() else "Interrupted", err=True)  # after a progress bar
            raise click.exceptions.Exit(INTERRUPTED) from None


@click.group(cls=RestoreKitGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="restorekit")
def cli() -> None:
    """Recover files from VM recovery points and plan restores, offline and read-only.

    PATH is a recovery point: a restore-disks staging folder (config-*.json + VHDs), a
    recoverypoint.json manifest (or its folder), or image files (raw, VHD, VHDX).
    """


def main() -> None:
    """Entry point of the ``restorekit`` script and ``python -m restorekit``."""
    try:
        cli.main(prog_name="restorekit")
    except BrokenPipeError:
        # The reader of our stdout went away (`restorekit dd ... -o - | head`): end quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
