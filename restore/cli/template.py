"""``restorekit template``: an ARM template and parameters file that build a VM from a recovery point's disks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from restorekit import api
from restorekit.cli.common import fact_option, output_path_option, paths_argument
from restorekit.cli.output import echo_text, emit_json, json_option
from restorekit.cli.request import request_from_flags, request_options
from restorekit.template.draft import DISK_SOURCES

if TYPE_CHECKING:
    from restorekit.template.build import Built

FILL_IN = "Fill in before deploying (azuredeploy.parameters.json)"


@click.command("template")
@paths_argument
@output_path_option(required=True, type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
                    help="Folder for azuredeploy.json and azuredeploy.parameters.json (created if needed; never "
                         "inside the recovery point).")
@click.option("--disk-source", type=click.Choice(DISK_SOURCES),
              help="import: new managed disks from the restored VHD blobs; attach: the managed disks the restore "
                   "job made; vhd: the VHD blobs as unmanaged disks. Default: attach when the job made managed "
                   "disks (managed VM, --target-resource-group), else import.")
@click.option("--overwrite", is_flag=True, help="Replace the two files if they exist.")
@request_options
@fact_option
@json_option
def template(paths: tuple[str, ...], output: Path, disk_source: str | None, overwrite: bool, as_json: bool,
             no_scan: bool, facts: list[tuple[str, Any]], **flags: Any) -> None:
    """Write an ARM template (azuredeploy.json) and its parameters file that create a VM from the disks a
    "restore disks" job left, and print the `az deployment group create` command that deploys them.

    The OS disk is attached (no osProfile), data disks keep their LUNs, one NIC per source NIC gets a
    dynamic IP in the subnet you give; the VM size, zone, Trusted Launch settings and boot diagnostics
    follow the source. What `plan` found about the availability set, static IPs, load balancers, the
    marketplace plan, disk-encryption keys and the Hybrid Use Benefit licence becomes parameters whose
    descriptions cite the rule. Request flags are those of `plan`; the images are scanned for the boot
    mode (EFI = Gen2) unless --no-scan is given.

    \b
    Example:
      restorekit template fixtures/demo -o tpl
      restorekit template fixtures/demo-form1 -o tpl --disk-source vhd --json
      restorekit template fixtures/demo -o tpl --target-resource-group rg-restore --target-vnet-name vnet1 \\
          --target-subnet-name default --target-vm-name vm1-r
    """
    request = request_from_flags(flags)
    with api.open(*paths, keys=request.keys, facts=facts, need_images=False) as rp:
        result = rp.template(output, request, disk_source=disk_source, overwrite=overwrite, scan_images=not no_scan)
    built, files, command = result.built, (result.template_file, result.parameters_file), result.deploy_command
    if as_json:
        emit_json(summary(built, files, command))
    else:
        echo_text(render_text(built, files, command))


def summary(built: Built, files: tuple[Path, Path], command: str) -> dict[str, Any]:
    """The ``--json`` document."""
    params = built.template["parameters"]
    return {
        "template": str(files[0]),
        "parameters": str(files[1]),
        "diskSource": built.disk_source,
        "virtualMachineName": params["VirtualMachineName"]["defaultValue"],
        "resources": [{"type": r["type"], "apiVersion": r["apiVersion"], "name": r["name"]}
                      for r in built.template["resources"]],
        "findings": built.findings,
        "fillIn": built.fill_in,
        "deployCommand": command,
    }


def render_text(built: Built, files: tuple[Path, Path], command: str) -> str:
    """What was written, what it carries, what is left to fill in, and how to deploy."""
    meta = built.template["metadata"]
    src = meta["source"]
    params = built.template["parameters"]
    types = [r["type"].split("/", 1)[1] for r in built.template["resources"]]
    counts = ", ".join(f"{types.count(t)} {t}" for t in dict.fromkeys(types))
    lines = [f"Wrote {files[0]} and {files[1]}",
             f"VM {params['VirtualMachineName']['defaultValue']} ({src['osType']}, "
             f"{src['vmSize'] or 'size to fill in'}, Hyper-V {src['hyperVGeneration']}: {src['hyperVGenerationFrom']})"
             f"; resources: {counts}",
             f"Disks: {meta['description'].split('Disks: ', 1)[1]}"]
    if built.findings:
        lines.append("Plan findings the template carries:")
    for f in built.findings:
        where = ", ".join(f["parameters"]) or "no parameter"
        if f["severity"] == "unknown":
            lines.append(f"  unknown {f['rule']:<4} {f['message']}")
        else:
            seen = f" [{f['evidence']}]" if f["evidence"] else ""
            lines.append(f"  {f['severity']:<7} {f['rule'] or 'disk':<4} {f['message']}{seen} -> {where}")
    lines += [f"  note    {note}" for note in meta["notes"]]
    if built.fill_in:
        lines.append(f"{FILL_IN}: {', '.join(built.fill_in)}")
    lines += ["Deploy:", f"  {command}"]
    return "\n".join(lines)
