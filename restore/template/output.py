"""Writing ``azuredeploy.json`` and ``azuredeploy.parameters.json``: never over the recovery point's files, never
over existing files unless asked, each file complete or absent (written to a temporary name, then renamed).
"""

from __future__ import annotations

import functools
import os
import shlex
from typing import TYPE_CHECKING

from restorekit.fs.errors import OutputError
from restorekit.jsonio import dumps
from restorekit.outfile import refuse_existing, write_whole_file

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.recoverypoint import RecoveryPoint
    from restorekit.template.build import Built

TEMPLATE_FILE = "azuredeploy.json"
PARAMETERS_FILE = "azuredeploy.parameters.json"


def write_template(built: Built, rp: RecoveryPoint, out_dir: Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write both files into ``out_dir`` (neither when either exists and ``overwrite`` is not set); returns their
    paths."""
    targets = (out_dir / TEMPLATE_FILE, out_dir / PARAMETERS_FILE)
    for path in targets:
        rp.refuse_output(path, "an -o folder")
        refuse_existing(path, what="template file", overwrite=overwrite)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder: {exc.strerror}", path=str(out_dir),
                          hint="choose a writable -o folder") from exc
    for path, doc in zip(targets, (built.template, built.parameters), strict=True):
        text = (dumps(doc, indent=2) + "\n").encode()
        write_whole_file(path, functools.partial(_write_all, text), what="template file", overwrite=overwrite)
    return targets


def _write_all(data: bytes, fd: int) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def deploy_command(template: Path, parameters: Path, resource_group: str | None) -> str:
    """The ``az deployment group create`` line that deploys the two files."""
    return (f"az deployment group create -g {shlex.quote(resource_group or 'RG')} --template-file "
            f"{shlex.quote(str(template))} --parameters @{shlex.quote(str(parameters))}")
