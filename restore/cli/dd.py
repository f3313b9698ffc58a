"""``restorekit dd``: a disk's whole virtual bytes, for other tools."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from restorekit.cli.common import human_size, output_path_option, paths_argument, refuse_terminal_stdout, stderr_is_tty
from restorekit.cli.output import emit_json, json_option
from restorekit.dump import dump_to_fd, dump_to_path
from restorekit.fs.errors import OutputError
from restorekit.fs.image import open_image
from restorekit.recoverypoint import open_recovery_point

if TYPE_CHECKING:
    from collections.abc import Callable

    from restorekit.fs.image import Image


@click.command()
@paths_argument
@click.option("--disk", "disk_id", metavar="ID",
              help="Disk to write: os, lun0, lun1… (or d0, d1… for bare images). Needed when there are several.")
@output_path_option(default="-", metavar="FILE|DIR|-", show_default=True,
                    help="Output file (sparse where the disk is zero), an existing folder (gets ID.raw), a "
                         "device such as /dev/null, or - for stdout.")
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
@json_option
def dd(paths: tuple[str, ...], disk_id: str | None, output: str, overwrite: bool, as_json: bool) -> None:
    """Write a disk's virtual bytes as a raw image (like qemu-img convert -O raw).

    Differencing chains are resolved; the recovery point is only read. A regular output file
    appears under its name only once complete and never replaces one without --overwrite.

    \b
    Example:
      restorekit dd fixtures/demo --disk os -o os.raw
      restorekit dd fixtures/demo/disks/data0.vhdx -o - | sha256sum
      restorekit dd fixtures/demo --disk lun0 -o lun0.raw --json
      restorekit dd fixtures/demo --disk lun0 -o .      # writes ./lun0.raw
    """
    rp = open_recovery_point(paths)
    if disk_id is None:
        if len(rp.disks) != 1:
            raise click.UsageError("this recovery point has several disks; choose one with --disk "
                                   + "|".join(d.id for d in rp.disks))
        ref = rp.disks[0]
    else:
        ref = rp.disk(disk_id)
    if output == "-":
        refuse_terminal_stdout("a disk", "use -o FILE or a pipe")
    if output == "-" and as_json:
        raise click.UsageError("--json prints a summary on stdout, so the disk needs -o FILE")
    if output != "-":
        out = Path(output)
        if out.is_dir():
            out = out / f"{ref.id}.raw"  # like cp into a folder
            output = str(out)
        elif output.endswith(os.sep):
            raise OutputError("is not an existing folder", path=output, hint="create it first, or name a file")
        rp.refuse_output(out, "an -o file")
    started = time.monotonic()
    with open_image(ref.image) as image:
        if stderr_is_tty():
            with click.progressbar(length=image.size, label=f"{ref.id} → {output}", file=sys.stderr,
                                   show_eta=True, show_percent=True) as bar:
                _write(image, output, overwrite, bar.update)
        else:
            _write(image, output, overwrite, None)
        if output != "-" and not as_json:
            click.echo(f"Wrote {ref.id} ({human_size(image.size)}) to {output}", err=True)
        if as_json:
            seconds = time.monotonic() - started
            emit_json({"disk": ref.id, "image": ref.shown, "format": image.format, "chain": image.chain,
                       "output": output, "virtualSize": image.size, "allocatedBytes": image.allocated_bytes,
                       "seconds": round(seconds, 3), "bytesPerSecond": int(image.size / max(seconds, 1e-9))})


def _write(image: Image, output: str, overwrite: bool, progress: Callable[[int], None] | None) -> None:
    if output == "-":
        sys.stdout.flush()
        dump_to_fd(image, sys.stdout.fileno(), name="<stdout>", progress=progress)
    else:
        dump_to_path(image, Path(output), overwrite=overwrite, progress=progress)
