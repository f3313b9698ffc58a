"""``restorekit inspect``: what a recovery point holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from restorekit import api
from restorekit.cli.common import paths_argument, unlock_options
from restorekit.cli.output import emit_json, json_option
from restorekit.cli.tree import render_tree

if TYPE_CHECKING:
    from restorekit.fs.keys import Keys


@click.command()
@paths_argument
@json_option
@unlock_options
def inspect(paths: tuple[str, ...], as_json: bool, keys: Keys) -> None:
    """Show what a recovery point holds: disks, partitions, LVM/RAID, encryption, file systems, OS.

    Only metadata is read. Encrypted volumes are listed as locked unless a key unlocks them. NTFS volumes
    list their shadow copies (VSS) as VOLUME@vssN, 1 = the oldest, also those Windows does not list.

    \b
    Example:
      restorekit inspect fixtures/demo
      restorekit inspect fixtures/demo -f table
      restorekit inspect fixtures/demo/disks/os.vhd --json
    """
    with api.open(*paths, keys=keys) as rp:
        disks, volumes = rp.disks, rp.volumes()
        if as_json:
            emit_json({"disks": [d.to_dict() for d in disks], "volumes": [v.to_dict() for v in volumes]},
                      rows=lambda doc: doc["volumes"])
        else:
            for warning in rp.recovery_point.warnings:
                click.echo(f"warning: {warning}")
            click.echo(render_tree(volumes, disks))
        failed = [d for d in disks if d.error is not None]
        for disk in failed:
            click.echo(f"Error: {disk.error}", err=True)
        if failed:
            raise SystemExit(1)
        rp.check_keys()
