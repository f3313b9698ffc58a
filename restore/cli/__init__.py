"""The ``restorekit`` command line: one module per command, errors turned into one line and an exit code.

Exit codes: 0 ok, 1 error, 2 usage, 3 restore option blocked.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from fs.errors import RestoreKitError


class RestoreKitGroup(click.Group):
    """A group that turns every restorekit error into ``Error: …`` on stderr and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RestoreKitError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=RestoreKitGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="restorekit")
def cli() -> None:
    """Recover files from VM recovery points and plan restores, offline and read-only.

    PATH is a recovery point: a restore-disks staging folder (config-*.json + VHDs), a
    recoverypoint.json manifest (or its folder), or image files (raw, VHD, VHDX).
    """


def main() -> None:
    """Entry point of the ``restorekit`` script and ``python -m restore``."""
    try:
        cli.main(prog_name="restorekit")
    except BrokenPipeError:
        # The reader of our stdout went away (`restorekit dd ... -o - | head`): end quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


from restore.cli.dd import dd  # noqa: E402
from restore.cli.inspect import inspect  # noqa: E402
from restore.cli.plan import plan  # noqa: E402

cli.add_command(inspect)
cli.add_command(dd)
cli.add_command(plan)
from restore.cli.files import ls  # noqa: E402

cli.add_command(ls)
from restore.cli.files import find  # noqa: E402

cli.add_command(find)
from restore.cli.files import cat  # noqa: E402

cli.add_command(cat)
from restore.cli.files import extract  # noqa: E402

cli.add_command(extract)
