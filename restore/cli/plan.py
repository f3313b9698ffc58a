"""``restorekit plan``: which restore options work for a recovery point, and why not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from fs.scan import Keys
from restore.cli.common import emit_json, json_option, paths_argument
from restore.evidence import Evidence, collect
from restore.plan import plan as make_plan
from restore.recoverypoint import open_recovery_point
from restore.request import OPTIONS, RestoreRequest, load_az_json, load_os_release, parse_luns
from restore.targetvm import check_target_vm, lun_label

if TYPE_CHECKING:
    from restore.plan import Plan
    from restore.rules import Finding

WIDTH = max(len(o) for o in OPTIONS)


def _file(flag: str, command: str) -> Any:
    return click.option(flag, type=click.Path(dir_okay=False), metavar="FILE",
                        help=f"JSON printed by `{command}`.")


REQUEST_OPTIONS = [
    click.option("--target-resource-group", help="Resource group for managed disks / the new VM."),
    click.option("--target-vm-name", help="Name of the VM to create."),
    click.option("--target-vnet-name", help="VNet of the VM to create."),
    click.option("--target-vnet-resource-group", help="Resource group of that VNet."),
    click.option("--target-subnet-name", help="Subnet of the VM to create."),
    click.option("--target-subscription-id", help="Restore into this subscription (cross-subscription restore)."),
    click.option("--target-zone", help="Availability zone to restore into (cross-zone restore)."),
    click.option("--use-secondary-region", is_flag=True, help="Restore in the paired region (cross-region restore)."),
    _file("--storage-account", "az storage account show -o json"),
    click.option("--diskslist", multiple=True, metavar="LUN", help="Data-disk LUNs to restore (repeat or a,b)."),
    click.option("--restore-only-osdisk", is_flag=True, help="Restore the OS disk only."),
    click.option("--restore-as-unmanaged-disks", is_flag=True, help="Restore page blobs, not managed disks."),
    click.option("--restore-to-staging-storage-account", is_flag=True,
                 help="Unmanaged VM: restore into --storage-account, not the original accounts."),
    click.option("--disk-encryption-set-id", help="Disk encryption set for the restored disks."),
    click.option("--mi-system-assigned", is_flag=True, help="Restore as the vault's system-assigned identity."),
    click.option("--mi-user-assigned", metavar="ID", help="Restore as this user-assigned identity of the vault."),
    click.option("--rehydration-priority", type=click.Choice(["Standard", "High"]), help="Archive-tier points."),
    click.option("--disk-access-option", help="EnablePrivateAccessForAllDisks | EnablePublicAccessForAllDisks | "
                                              "SameAsOnSourceDisks."),
    click.option("--restore-to-edge-zone", is_flag=True, help="Restore into the VM's edge zone."),
    _file("--target-vm", "az vm show -d -o json"),
    click.option("--client-os", metavar="TEXT",
                 help="OS of the machine receiving files: 'Windows 10', 'Ubuntu 22.04'."),
    click.option("--client-os-release", type=click.Path(dir_okay=False), metavar="FILE",
                 help="That machine's /etc/os-release."),
    click.option("--password", "passwords", multiple=True, help="BitLocker or LUKS password (repeatable)."),
    click.option("--recovery-password", "recovery_passwords", multiple=True, help="BitLocker recovery password."),
    click.option("--bek", "bek_files", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
                 help="BitLocker .BEK key file (the ADE key from Key Vault)."),
    click.option("--no-scan", is_flag=True, help="Plan from the JSON only; do not read the disk images."),
]


def request_from_flags(flags: dict[str, Any]) -> RestoreRequest:
    """Turn the click parameters into a :class:`RestoreRequest`, reading the JSON and os-release files."""
    storage = flags.pop("storage_account")
    target_vm = flags.pop("target_vm")
    release = flags.pop("client_os_release")
    luns = flags.pop("diskslist")
    return RestoreRequest(
        storage_account=load_az_json(storage, "--storage-account", "az storage account show -n ACCOUNT -o json")
        if storage else None,
        target_vm=check_target_vm(load_az_json(target_vm, "--target-vm", "az vm show -d -g RG -n VM -o json"),
                                  target_vm) if target_vm else None,
        client_os_release=load_os_release(release) if release else None,
        diskslist=parse_luns(luns),
        passwords=list(flags.pop("passwords")), recovery_passwords=list(flags.pop("recovery_passwords")),
        bek_files=list(flags.pop("bek_files")),
        **flags,
    )


def plan_command(paths: tuple[str, ...], option: str, request: RestoreRequest, scan_images: bool = True) -> Plan:
    """Library entry of the command: open, scan (unless told not to) and plan."""
    rp = open_recovery_point(paths)
    keys = Keys(request.passwords, request.recovery_passwords, request.bek_files)
    evidence = collect(rp, keys) if scan_images else Evidence()
    return make_plan(rp, request, evidence, OPTIONS if option == "all" else (option,))


def render_text(result: Plan) -> str:
    """One line per option with its verdict, then its findings (block first)."""
    s = result.summary
    scanned = s["evidence"]["volumes"]
    lines = [f"Recovery point ({s['form']}): {s['vm'] or 'VM name unknown'}, {s['osType'] or 'OS unknown'}, "
             f"{len(s['disks'])} disk(s), " + (f"{len(scanned)} volume(s) scanned" if s["evidence"]["scanned"]
                                               else "images not scanned")]
    for entry in result.options:
        head = f"{entry.option.ljust(WIDTH)}  {entry.verdict}"
        if entry.restorekit is not None:
            rk = entry.restorekit
            can = {True: "can recover", False: "cannot recover", None: "not checked"}[rk["canRecover"]]
            vols = f" ({', '.join(rk['readableVolumes'])})" if rk["readableVolumes"] else ""
            head += f" (Azure file recovery); restorekit: {can}{vols}"
        lines.append(head)
        lines += _finding_lines(entry.findings)
        if entry.replace is not None:
            lines += _replace_lines(entry.replace["replaceSteps"])
        if entry.restorekit is not None:
            lines += [f"  needs   {need}" for need in entry.restorekit["needs"]]
            lines.append(f"  note    {entry.restorekit['note']}")
    return "\n".join(lines + [f"warning: {w}" for w in s["warnings"]])


def _finding_lines(findings: list[Finding]) -> list[str]:
    """Block and warn findings one a line; unknowns that wait for the same input share one line."""
    lines: list[str] = []
    waiting: dict[str, list[str]] = {}
    for f in findings:
        if f.severity == "unknown":
            waiting.setdefault(f.message.split(": ", 1)[-1], []).append(f.cites)
            continue
        seen = f" [{f.evidence}]" if f.evidence else ""
        lines.append(f"  {f.severity:<7} {f.cites:<4} {f.message}{seen} ({f.source})")
    lines += [f"  unknown {','.join(rules)}: {need}" for need, rules in waiting.items()]
    return lines


def _replace_lines(steps: list[dict[str, Any]]) -> list[str]:
    """The replace steps, numbered, after the findings."""
    width = max((len(s["action"]) for s in steps), default=0)
    return ["  replace steps:"] + [
        f"    {s['step']:>2}. {s['action']:<{width}}  {lun_label(s['lun']):<6} {s['disk'] or '-'}: {s['detail']}"
        for s in steps]


def _apply(options: list[Any]) -> Any:
    def decorate(fn: Any) -> Any:
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return decorate


@click.command("plan")
@paths_argument
@click.option("--option", "option", type=click.Choice([*OPTIONS, "all"]), default="all", show_default=True,
              help="The restore option to judge.")
@_apply(REQUEST_OPTIONS)
@json_option
def plan(paths: tuple[str, ...], option: str, as_json: bool, no_scan: bool, **flags: Any) -> None:
    """Judge each restore option for a recovery point: allowed, allowed with warnings, or blocked, with every
    finding citing its rule (R01-R104 of the restore rules; C01-C05 where metadata and disks disagree).

    Exit 0 when the option asked for is allowed, 3 when it is blocked, 1 on bad input; with --option all,
    exit 0 unless the input is bad. Request flags are named as `az backup restore restore-disks` names them.

    \b
    Example:
      restorekit plan fixtures/demo
      restorekit plan rp/recoverypoint.json --option create-vm --target-vm-name vm2 --json
      restorekit plan rp/ --option replace-disks --target-vm vm1-show-d.json
      restorekit plan rp/ --option files --client-os 'Windows 10' --bek key.BEK
    """
    request = request_from_flags(flags)
    result = plan_command(paths, option, request, scan_images=not no_scan)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(render_text(result))
    raise SystemExit(result.exit_code(option))
