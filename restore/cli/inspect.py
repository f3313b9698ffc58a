"""``restorekit inspect``: what a recovery point holds."""

from __future__ import annotations

import click

from restore.cli.common import emit_json, human_size, json_option, paths_argument
from restore.disks import OpenedDisk, opened_disks
from restore.recoverypoint import open_recovery_point


@click.command()
@paths_argument
@json_option
def inspect(paths: tuple[str, ...], as_json: bool) -> None:
    """Show the disks of a recovery point: image format, size, differencing chain.

    \b
    Example:
      restorekit inspect fixtures/demo
      restorekit inspect restore-job-folder/ --json
      restorekit inspect disk-child.avhdx disk-data.vhd
    """
    rp = open_recovery_point(paths)
    with opened_disks(rp) as disks:
        doc = {"disks": [disk.to_dict() for disk in disks], "volumes": []}
        if as_json:
            emit_json(doc)
        else:
            click.echo(_text(rp.form, rp.warnings, disks))
    failed = [disk for disk in disks if disk.error is not None]
    for disk in failed:
        click.echo(f"Error: {disk.error}", err=True)
    if failed:
        raise SystemExit(1)


def _text(form: str, warnings: list[str], disks: list[OpenedDisk]) -> str:
    rows = [("DISK", "FORMAT", "SIZE", "ALLOCATED", "BLOCK", "IMAGE")]
    notes: list[str] = [f"warning: {w}" for w in warnings]
    for disk in disks:
        d = disk.to_dict()
        rows.append((d["id"], d["format"] or "unreadable", human_size(d["virtualSize"]),
                     human_size(d["allocatedBytes"]), human_size(d["blockSize"]) if d["blockSize"] else "-",
                     d["image"]))
        for parent in d["chain"][1:]:
            rows.append(("", "", "", "", "", f"└ parent {parent}"))
        notes += [f"{d['id']}: warning: {w}" for w in d["warnings"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [f"Recovery point ({form}), {len(disks)} disk(s)"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in rows]
    return "\n".join([*lines, *notes])
