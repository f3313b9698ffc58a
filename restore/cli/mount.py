"""``restorekit mount``: browse a recovery point with ordinary tools, through a read-only FUSE mount."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from restorekit import api
from restorekit.cli.common import account_key_option, unlock_options, warn
from restorekit.cli.output import json_option
from restorekit.files import split_arguments
from restorekit.jsonio import dumps

if TYPE_CHECKING:
    from restorekit.browse import Namespace
    from restorekit.fs.keys import Keys


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="PATH... MOUNTPOINT")
@account_key_option
@click.option("--volume", "only", multiple=True, metavar="ID",
              help="Mount only this volume (repeatable; ids as `restorekit inspect` prints them).")
@json_option
@unlock_options
def mount(args: tuple[str, ...], only: tuple[str, ...], as_json: bool, keys: Keys) -> None:
    """Mount a recovery point read-only at MOUNTPOINT (an empty folder), one folder per volume.

    MOUNTPOINT/os-p3/, MOUNTPOINT/lun0-p1/... hold the volumes (ids as inspect prints them);
    MOUNTPOINT/C -> os-p3 where the Windows registry (SYSTEM hive, MountedDevices) maps a drive
    letter; MOUNTPOINT/by-label/<label> -> ../<volume> names each volume readably. Sizes, times,
    modes and symbolic links show as in `restorekit ls`; nothing can be written (EROFS).

    Runs in the foreground: once mounted it says so on stderr (with --json, one JSON line on
    stdout), serves reads until unmounted with Ctrl-C, SIGTERM or `fusermount -u MOUNTPOINT`, then
    exits 0, or 1 when a volume was left out (locked, unreadable) or a read failed (each is listed
    on stderr as it happens). Needs libfuse (Debian: fuse3) and /dev/fuse.

    \b
    Example:
      mkdir -p /tmp/rp && restorekit mount fixtures/demo /tmp/rp &
      until mountpoint -q /tmp/rp; do sleep 0.2; done; ls /tmp/rp/C/Users
      sha256sum /tmp/rp/lun0-p1/srv/data/*.csv; fusermount -u /tmp/rp
      restorekit mount rp/ /mnt/rp --volume os-p3 --bek 6A2B0C.BEK
    """
    paths, mountpoint = _paths_and_mountpoint(args)
    from restorekit.browse import session_namespace
    from restorekit.fusefs import check_mountpoint, load_fuse
    from restorekit.fusefs import mount as serve

    load_fuse()  # before the images are opened: a missing libfuse or a bad mount point is the first thing to say
    check_mountpoint(mountpoint)
    with api.open(*paths, keys=keys) as session:  # one scan serves the listing and the files
        tree = session_namespace(session, only)
        for vid, why in tree.left_out:
            warn(f"{vid} is not mounted: {why}")
        for warning in tree.warnings:
            warn(warning)

        def ready() -> None:
            if as_json:
                click.echo(dumps({"mountpoint": mountpoint, "volumes": list(tree.filesystems),
                                "driveLetters": tree.letters, "driveLettersFrom": tree.letters_from,
                                "byLabel": tree.labels,
                                "leftOut": [{"volume": v, "reason": why} for v, why in tree.left_out]}))
                sys.stdout.flush()
            click.echo(ready_line(mountpoint, tree), err=True)

        failed_reads = serve(tree, mountpoint, on_ready=ready, on_error=lambda line: click.echo(f"Error: {line}",
                                                                                                 err=True))
    click.echo(f"Unmounted {mountpoint}" + (f"; {failed_reads} reads failed (listed above)" if failed_reads else ""),
               err=True)
    if failed_reads or tree.left_out:
        raise SystemExit(1)


def ready_line(mountpoint: str, tree: Namespace) -> str:
    """What the mount offers, on stderr once it is ready."""
    from restorekit.browse import BY_LABEL

    folders = " ".join(f"{v}/" for v in tree.filesystems) or "no volumes"
    lines = [f"Mounted read-only at {mountpoint}: {folders}"]
    if tree.letters:
        lines.append("  drive letters: " + ", ".join(f"{k} -> {v}" for k, v in tree.letters.items())
                     + f" (from {tree.letters_from})")
    if tree.labels:
        lines.append(f"  {BY_LABEL}/: " + ", ".join(f"{k} -> {v}" for k, v in tree.labels.items()))
    lines.append(f"Unmount with Ctrl-C or `fusermount -u {mountpoint}` (this command stays in the foreground).")
    return "\n".join(lines)


def _paths_and_mountpoint(args: tuple[str, ...]) -> tuple[list[str], str]:
    """The recovery point's paths, and the mount point (the last argument, checked by the mount itself)."""
    if len(args) < 2:
        raise click.UsageError("give the recovery point, then the folder to mount it on: PATH... MOUNTPOINT")
    *rest, mountpoint = args
    paths, targets = split_arguments(rest)
    if targets or not paths:
        bad = targets[0].volume + ":" + targets[0].path if targets and targets[0].volume else (rest or [""])[0]
        raise click.UsageError(f"{bad!r} is not a recovery point (a folder, a recoverypoint.json or image files); "
                               "mount takes whole recovery points, --volume ID picks volumes")
    return paths, os.path.abspath(mountpoint)


__all__ = ["mount", "ready_line"]
