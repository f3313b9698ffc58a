"""``restorekit inspect``: what a recovery point holds."""

from __future__ import annotations

import click

from restorekit.cli.common import paths_argument, unlock_options
from restorekit.cli.output import emit_json, json_option
from restorekit.cli.tree import render_tree
from restorekit.disks import opened_disks
from restorekit.fs.scan import Keys, raise_if_keys_failed, scan
from restorekit.recoverypoint import open_recovery_point


@click.command()
@paths_argument
@json_option
@unlock_options
def inspect(paths: tuple[str, ...], as_json: bool, passwords: tuple[str, ...],
            recovery_passwords: tuple[str, ...], bek_files: tuple[str, ...], force_assemble: bool) -> None:
    """Show what a recovery point holds: disks, partitions, LVM/RAID, encryption, file systems, OS.

    Only metadata is read. Encrypted volumes are listed as locked unless a key unlocks them.

    \b
    Example:
      restorekit inspect fixtures/demo
      restorekit inspect fixtures/demo -f table
      restorekit inspect fixtures/demo/disks/os.vhd --json
    """
    rp = open_recovery_point(paths)
    keys = Keys(list(passwords), list(recovery_passwords), list(bek_files), force_assemble=force_assemble)
    with opened_disks(rp) as disks:
        volumes = scan([(d.ref.id, d.image) for d in disks if d.image is not None], keys)
        if as_json:
            emit_json({"disks": [d.to_dict() for d in disks], "volumes": [v.to_dict() for v in volumes]},
                      rows=lambda doc: doc["volumes"])
        else:
            for warning in rp.warnings:
                click.echo(f"warning: {warning}")
            click.echo(render_tree(volumes, disks))
        failed = [d for d in disks if d.error is not None]
        for disk in failed:
            click.echo(f"Error: {disk.error}", err=True)
        if failed:
            raise SystemExit(1)
        raise_if_keys_failed(volumes, keys)
