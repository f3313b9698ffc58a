"""``restorekit dd``: a disk's or a volume's whole bytes, for other tools."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from restorekit.cli.common import (
    human_size,
    output_path_option,
    paths_argument,
    refuse_terminal_stdout,
    stderr_is_tty,
    unlock_options,
    warn,
)
from restorekit.cli.output import emit_json, json_option
from restorekit.cli.progress import ProgressBar
from restorekit.dump import DumpResult, dump_to_fd, dump_to_path, output_name, volume_to_dump
from restorekit.files import open_volumes
from restorekit.fs.errors import CorruptImageError, OutputError, VolumeError
from restorekit.fs.image import open_image
from restorekit.recoverypoint import open_recovery_point

if TYPE_CHECKING:
    from collections.abc import Callable

    from restorekit.fs.keys import Keys
    from restorekit.fs.stream import Stream
    from restorekit.recoverypoint import RecoveryPoint


@click.command()
@paths_argument
@click.option("--disk", "disk_id", metavar="ID",
              help="Disk to write: os, lun0, lun1… (or d0, d1… for bare images). Needed when there are several.")
@click.option("--volume", "volume_id", metavar="ID",
              help="Volume to write instead of a disk, as `restorekit inspect` names it: a partition (os-p3), a "
                   "logical volume or array (d0-p1/vgdata/lvhome), an encrypted volume's plaintext (with the key "
                   "options), a shadow copy (os-p3@vss1).")
@output_path_option(default="-", metavar="FILE|DIR|-", show_default=True,
                    help="Output file (sparse where the bytes are zero), an existing folder (gets ID.raw), a "
                         "device such as /dev/null, or - for stdout.")
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
@click.option("--zero-unreadable", is_flag=True,
              help="Write blocks that cannot be read (a truncated or damaged image) as zeros and go on; each range "
                   "is listed and the exit code is 1.")
@unlock_options
@json_option
def dd(paths: tuple[str, ...], disk_id: str | None, volume_id: str | None, output: str, overwrite: bool,
       zero_unreadable: bool, keys: Keys, as_json: bool) -> None:
    """Write a disk's virtual bytes as a raw image (like qemu-img convert -O raw), or one volume's bytes.

    Differencing chains are resolved, pools are assembled and encrypted volumes decrypted with the key options;
    the recovery point is only read. A regular output file appears under its name only once complete and
    never replaces one without --overwrite.

    \b
    Example:
      restorekit dd fixtures/demo --disk os -o os.raw
      restorekit dd fixtures/demo/disks/data0.vhdx -o - | sha256sum
      restorekit dd fixtures/demo --disk lun0 -o lun0.raw --json
      restorekit dd fixtures/demo --disk lun0 -o .      # writes ./lun0.raw
      restorekit dd fixtures/demo --volume os-p3 -o os-p3.ntfs
      restorekit dd fixtures/demo --volume lun0-p1 -o .      # writes ./lun0-p1.raw
    """
    if volume_id is not None and disk_id is not None:
        raise click.UsageError("give --disk or --volume, not both")
    what = "disk" if volume_id is None else "volume"
    if output == "-":
        refuse_terminal_stdout(f"a {what}", "use -o FILE or a pipe")
        if as_json:
            raise click.UsageError(f"--json prints a summary on stdout, so the {what} needs -o FILE")
    rp = open_recovery_point(paths)
    target = _Target(output, overwrite, zero_unreadable, as_json)
    if volume_id is not None:
        target.output = _output(rp, output, output_name(volume_id))
        _dd_volume(paths, volume_id, keys, target)
        return
    if disk_id is None:
        if len(rp.disks) != 1:
            raise click.UsageError("this recovery point has several disks; choose one with --disk "
                                   + "|".join(d.id for d in rp.disks) + " (or a volume with --volume ID)")
        ref = rp.disks[0]
    else:
        ref = rp.disk(disk_id)
    target.output = _output(rp, output, f"{ref.id}.raw")
    started = time.monotonic()
    with open_image(ref.image) as image:
        result = _write(image, ref.id, target)
        if as_json:
            emit_json({"disk": ref.id, "image": ref.shown, "format": image.format, "chain": image.chain,
                       "output": target.output, "virtualSize": image.size, "allocatedBytes": image.allocated_bytes,
                       **_rate(image.size, started), **_unreadable_json(result, zero_unreadable)})
    _exit_if(_report_unreadable(ref.id, result))


@dataclass
class _Target:
    """Where and how ``dd`` writes."""

    output: str
    overwrite: bool
    zero_unreadable: bool
    quiet: bool  # --json: the summary says it all


def _dd_volume(paths: tuple[str, ...], volume_id: str, keys: Keys, target: _Target) -> None:
    started = time.monotonic()
    with open_volumes(paths, keys, []) as volumes:
        dump = volume_to_dump(volumes, volume_id)
        info = dump.info
        result = _write(dump.stream, volume_id, target)
        for line in info.warnings:
            if line not in dump.incomplete:
                warn(line)
        for line in dump.incomplete:
            click.echo(f"Error: {line}", err=True)
        failed = _report_unreadable(volume_id, result) or bool(dump.incomplete)
        if target.quiet:
            emit_json({"volume": volume_id, "disk": info.disk, "offset": info.offset, "size": dump.stream.size,
                       "declaredSize": dump.declared_size, "container": info.container, "parent": info.parent,
                       "pool": info.pool, "encryption": info.encryption, "output": target.output,
                       "allocatedBytes": result.stored, **_rate(dump.stream.size, started),
                       "warnings": [w for w in info.warnings if w not in dump.incomplete],
                       "incomplete": dump.incomplete, **_unreadable_json(result, target.zero_unreadable)})
    _exit_if(failed)


def _output(rp: RecoveryPoint, output: str, name: str) -> str:
    """Where to write: ``-`` (stdout), a file, or ``name`` in an existing folder (like cp); never an image."""
    if output == "-":
        return output
    out = Path(output)
    if out.is_dir():
        out = out / name
    elif output.endswith(os.sep):
        raise OutputError("is not an existing folder", path=output, hint="create it first, or name a file")
    rp.refuse_output(out, "an -o file")
    return str(out)


def _write(stream: Stream, what: str, target: _Target) -> DumpResult:
    """Write ``stream`` with a progress bar on a terminal. A block that cannot be read stops the copy (its error
    says how to go on) unless --zero-unreadable was given."""
    try:
        if not stderr_is_tty():
            result = _write_to(stream, target, None)
        else:
            bar = ProgressBar(f"dd {what}", stream.size)
            try:
                result = _write_to(stream, target, bar.add_bytes)
            finally:
                bar.close()
    except (CorruptImageError, VolumeError) as exc:  # bytes that cannot be read; the volume itself opened
        exc.hint = (f"{exc.hint}; or" if exc.hint else "Or") + (
            " pass --zero-unreadable to write the rest, with zeros for what cannot be read (listed, exit 1)")
        raise
    if target.output != "-" and not target.quiet:
        click.echo(f"Wrote {what} ({human_size(stream.size)}) to {target.output}", err=True)
    return result


def _write_to(stream: Stream, target: _Target, progress: Callable[[int], None] | None) -> DumpResult:
    if target.output == "-":
        sys.stdout.flush()
        return dump_to_fd(stream, sys.stdout.fileno(), name="<stdout>", progress=progress,
                          zero_unreadable=target.zero_unreadable)
    return dump_to_path(stream, Path(target.output), overwrite=target.overwrite, progress=progress,
                        zero_unreadable=target.zero_unreadable)


def _report_unreadable(what: str, result: DumpResult) -> bool:
    """An ``Error:`` line per range written as zeros; True when there were any."""
    for gap in result.unreadable:
        click.echo(f"Error: {what}: bytes 0x{gap.offset:x}-0x{gap.offset + gap.length:x} "
                   f"({human_size(gap.length)}) cannot be read ({gap.reason}); written as zeros", err=True)
    return bool(result.unreadable)


def _unreadable_json(result: DumpResult, asked: bool) -> dict[str, Any]:
    return {"unreadable": [gap.to_dict() for gap in result.unreadable]} if asked else {}


def _exit_if(failed: bool) -> None:
    if failed:
        sys.exit(1)


def _rate(size: int, started: float) -> dict[str, Any]:
    seconds = time.monotonic() - started
    return {"seconds": round(seconds, 3), "bytesPerSecond": int(size / max(seconds, 1e-9))}
