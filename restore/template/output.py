"""Writing ``azuredeploy.json`` and ``azuredeploy.parameters.json``: never into the recovery point's folders,
never over existing files unless asked, each file complete or absent (written to a temporary name, then renamed).
"""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING

from restorekit.fs.errors import OutputError
from restorekit.jsonio import dumps

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.recoverypoint import RecoveryPoint
    from restorekit.template.build import Built

TEMPLATE_FILE = "azuredeploy.json"
PARAMETERS_FILE = "azuredeploy.parameters.json"


def write_template(built: Built, rp: RecoveryPoint, out_dir: Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write both files into ``out_dir``; returns their paths."""
    rp.refuse_output(out_dir, "an -o folder")
    targets = (out_dir / TEMPLATE_FILE, out_dir / PARAMETERS_FILE)
    if not overwrite:
        for path in targets:
            if path.exists():
                raise OutputError("already exists", path=str(path),
                                  hint="pass --overwrite to replace it, or choose another -o folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, doc in zip(targets, (built.template, built.parameters), strict=True):
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(dumps(doc, indent=2) + "\n", "utf-8")
            os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write the template: {exc.strerror}", path=str(exc.filename or out_dir),
                          hint="choose a writable -o folder") from exc
    return targets


def deploy_command(template: Path, parameters: Path, resource_group: str | None) -> str:
    """The ``az deployment group create`` line that deploys the two files."""
    return (f"az deployment group create -g {shlex.quote(resource_group or 'RG')} --template-file "
            f"{shlex.quote(str(template))} --parameters @{shlex.quote(str(parameters))}")
