"""``restorekit show``: what is known about a recovery point, and which input would tell the rest."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from restorekit import api
from restorekit.cli.common import fact_option, human_size, paths_argument, unlock_options
from restorekit.cli.output import echo_text, emit_json, json_option

if TYPE_CHECKING:
    from restorekit.fs.keys import Keys

UNKNOWN = "?"
#: The trailing "(field names)" of a HOW entry: dropped so facts from one az command share a line.
FIELD_HINT = re.compile(r" \((?!find it with)[^()]*\)$")


@click.command("show")
@paths_argument
@unlock_options
@click.option("--no-scan", is_flag=True, help="Read the JSON only; do not open the disk images.")
@fact_option
@json_option
def show(paths: tuple[str, ...], keys: Keys, no_scan: bool, facts: list[tuple[str, Any]], as_json: bool) -> None:
    """Show what is known about a recovery point and what is not: the VM, its OS (declared and found on the
    disks), size, generation, disks, NICs, vault and recovery point; for every unknown fact, the input that
    would decide it. The images are scanned (metadata only) unless --no-scan is given.

    \b
    Example:
      restorekit show fixtures/demo
      restorekit show fixtures/demo --fact generalized=false --fact sharedDisks=false
      restorekit show fixtures/demo-form1 --json       # a restore job's config, VHDs not downloaded
    """
    with api.open(*paths, keys=keys, facts=facts, need_images=False) as rp:
        doc = rp.describe(scan_images=not no_scan)
    if as_json:
        emit_json(doc)
    else:
        echo_text(render_text(doc))


def _v(value: Any) -> str:
    """A value for the text view; unknown shows as ``?``."""
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def _line(label: str, *parts: tuple[str, Any]) -> str:
    return f"{label:<15}" + ", ".join(f"{name} {_v(value)}" if name else _v(value) for name, value in parts)


def render_text(doc: dict[str, Any]) -> str:
    """The text view: one block per topic; ``?`` marks what is unknown, explained at the end."""
    lines: list[str] = []
    for section in (_header, _vm_lines, _os_lines, _disk_lines, _nic_lines, _vault_lines, _unknown_lines):
        lines += section(doc)
    return "\n".join(lines + [f"warning: {w}" for w in doc["warnings"]])


def _header(doc: dict[str, Any]) -> list[str]:
    files = doc["files"]
    source = files["manifest"] or files["config"] or ", ".join(files["images"])
    rp = doc["recoveryPoint"]
    lines = [f"Recovery point (form {doc['form']}, {doc['formName']}): {source}"]
    if files["template"]:
        lines.append(_line("  template", ("", files["template"])))
    lines.append(_line("  taken", ("", rp["recoveryPointTime"]), ("", rp["recoveryPointType"]),
                       ("tiers", rp["tiers"]), ("expires", rp["expiryTime"])))
    return lines + _shadow_lines(doc["shadowCopies"], doc["evidence"]["volumes"])


def _shadow_lines(copies: list[dict[str, Any]] | None, volumes: list[dict[str, Any]]) -> list[str]:
    """The shadow copies inside the disks: earlier points in time whose files restorekit reads too."""
    if copies is None:
        return [_line("  earlier", ("", "not scanned (shadow copies inside the disks are found by a scan)"))]
    locked = [v["id"] for v in volumes if v.get("locked")]
    unseen = f" ({', '.join(locked)} locked: not searched)" if locked else ""
    if not copies:
        return [_line("  earlier", ("", f"no shadow copies on the disks{unseen}"))]
    lines = [_line("  earlier", ("", f"{len(copies)} shadow copies on the disks{unseen}, oldest first; read their "
                                     "files as VOLUME@vssN:/path, or the whole volume with dd --volume VOLUME@vssN"))]
    for copy in copies:
        hidden = "" if copy["listed"] is not False else (
            f"  not listed by Windows ({copy['hiddenReason']})" if copy["hiddenReason"] else "  not listed by Windows")
        lines.append(f"    {copy['id']:<13} {_v(copy['created'])}{hidden}")
    return lines


def _vm_lines(doc: dict[str, Any]) -> list[str]:
    vm, hw = doc["vm"], doc["hardware"]
    generation = _v(hw["hyperVGeneration"])
    if hw["generationFromDisks"]:
        esp = f": EFI system partition {hw['efiSystemPartition']}" if hw["efiBoot"] else ": no EFI system partition"
        generation += f" (disks: {hw['generationFromDisks']}{esp})"
    return [
        _line("VM", ("", vm["name"]), ("in", vm["location"]), ("resource group", vm["resourceGroup"]),
              ("subscription", vm["subscription"])),
        _line("  id", ("", vm["id"])),
        _line("  vmId", ("", vm["vmId"]), ("computer name", vm["computerName"])),
        _line("  size", ("", hw["vmSize"]), ("generation", generation), ("security", hw["securityType"])),
        _line("  placement", ("zones", hw["zones"]), ("availability set", hw["availabilitySet"])),
    ]


def _os_lines(doc: dict[str, Any]) -> list[str]:
    os_ = doc["os"]
    declared = _v(os_["osType"]) + (f" ({os_['imageReference']})" if os_["imageReference"] else "")
    if os_["osName"]:
        declared += f", facts.osName {os_['osName']}"
    if not doc["evidence"]["scanned"]:
        found = "not scanned"
    elif not os_["found"]:
        found = "no OS volume found"
    else:
        found = "; ".join(_os_text(f) for f in os_["found"])
    mark = {True: "", False: "  ! declared and found disagree", None: ""}[os_["agrees"]]
    return [_line("OS", ("declared", declared)), _line("", ("on the disks", found)) + mark]


def _os_text(found: dict[str, Any]) -> str:
    if found.get("family") == "windows":
        build = f" build {found['build']}" if found.get("build") else ""
        extra = [x for x in (found.get("edition"), found.get("displayVersion")) if x]
        role = ", domain controller" if found.get("domainController") else ""
        return f"{found['name']}{build} ({', '.join(extra)}){role} on {found['volume']}" if extra else \
            f"{found['name']}{build}{role} on {found['volume']}"
    return f"{found.get('prettyName') or found.get('name')} on {found['volume']}"


def _disk_lines(doc: dict[str, Any]) -> list[str]:
    lines = ["Disks"]
    for d in doc["disks"]:
        declared = "not declared" if d["managed"] is None else (
            f"declared {_v(d['diskSizeGb'])} GB {d['storageAccountType'] or ''} "
            f"{'managed' if d['managed'] else 'unmanaged'}").replace("  ", " ")
        if d["included"] is False:
            declared += ", excluded from backup"
        image = d["image"] or "no image given"
        if d["format"]:
            image += f"  {d['format']} {human_size(d['virtualSize'])}"
        elif d["error"]:
            image += f"  cannot open: {d['error']}"
        enc = d["encryption"]
        seen = "not scanned" if enc["seen"] is None else (", ".join(enc["seen"]) or "none")
        des = ", disk encryption set" if enc["diskEncryptionSet"] else ""
        lines.append(f"  {d['id']:<6} {_v(d['lun']):>3}  {_v(d['name'])}  {declared}")
        lines.append(f"  {'':<6} {'':>3}  {image}  encryption: ADE {_v(enc['ade'])}{des}, seen {seen}")
    return lines


def _nic_lines(doc: dict[str, Any]) -> list[str]:
    nics = doc["networkInterfaces"]
    if not nics:
        return [_line("NICs", ("", None))]
    lines = ["NICs"]
    for nic in nics:
        if nic["ipConfigurations"] is None:
            lines.append(f"  {nic['name']}: addresses unknown (no az network nic show output given)")
            continue
        for cfg in nic["ipConfigurations"]:
            pools = len(cfg["loadBalancerBackendAddressPools"])
            lines.append(f"  {nic['name']}/{cfg['name']}: {_v(cfg['privateIPAddress'])} "
                         f"({_v(cfg['privateIPAllocationMethod'])}), {pools} load balancer pool(s), public IP "
                         + ("yes" if cfg["publicIPAddress"] else "no"))
    return lines


def _vault_lines(doc: dict[str, Any]) -> list[str]:
    v = doc["vault"]
    return [_line("Vault", ("", v["name"]), ("in", v["location"]), ("redundancy", v["storageRedundancy"]),
                  ("cross-region restore", v["crossRegionRestore"]),
                  ("cross-subscription restore", v["crossSubscriptionRestore"]), ("CMK", v["customerManagedKey"]))]


def _unknown_lines(doc: dict[str, Any]) -> list[str]:
    unknown = doc["unknown"]
    if not unknown:
        return ["Unknown        nothing: every fact the rules read is declared"]
    by_how: dict[str, list[str]] = {}
    for item in unknown:
        fact = item["fact"] + (f" (disks show {_v(item['disksShow'])})" if item["disksShow"] is not None else "")
        by_how.setdefault(re.sub(FIELD_HINT, "", item["how"]), []).append(fact)
    return [f"Unknown ({len(unknown)} facts; the input that would decide each, or --fact KEY=VALUE)"] + [
        f"  {', '.join(facts)}: {how}" for how, facts in by_how.items()]
