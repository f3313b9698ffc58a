"""``restorekit plan``: which restore options work for a recovery point, and why not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from restorekit import api
from restorekit.cli.common import fact_option, paths_argument
from restorekit.cli.output import echo_text, emit_json, json_option
from restorekit.cli.request import request_from_flags, request_options
from restorekit.request import OPTIONS
from restorekit.targetvm import lun_label

if TYPE_CHECKING:

    from restorekit.plan import Plan
    from restorekit.rules import Finding

WIDTH = max(len(o) for o in OPTIONS)


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


@click.command("plan")
@paths_argument
@click.option("--option", "option", type=click.Choice([*OPTIONS, "all"]), default="all", show_default=True,
              help="The restore option to judge.")
@request_options
@fact_option
@json_option
def plan(paths: tuple[str, ...], option: str, as_json: bool, no_scan: bool, facts: list[tuple[str, Any]],
         **flags: Any) -> None:
    """Judge each restore option for a recovery point: allowed, allowed with warnings, or blocked, with every
    finding citing its rule (R01-R104 of the restore rules; C01-C05 where metadata and disks disagree).

    Exit 0 when the option asked for is allowed, 3 when it is blocked, 1 on bad input; with --option all,
    exit 0 unless the input is bad. Request flags are named as `az backup restore restore-disks` names them.

    \b
    Example:
      restorekit plan fixtures/demo
      restorekit plan fixtures/demo --option create-vm --fact generalized=false
      restorekit plan fixtures/demo/recoverypoint.json --option create-vm --target-vm-name vm2 --json
      restorekit plan fixtures/demo --option replace-disks --target-vm fixtures/demo/target-vm.json
      restorekit plan fixtures/demo --option files --client-os 'Windows 10'
    """
    request = request_from_flags(flags)
    with api.open(*paths, keys=request.keys, facts=facts, need_images=False) as rp:
        result = rp.plan(option, request, scan_images=not no_scan)
    if as_json:
        emit_json(result.to_dict(), rows=lambda doc: [
            {"option": o["option"], "verdict": o["verdict"], **f} for o in doc["options"] for f in o["findings"]])
    else:
        echo_text(render_text(result))
    raise SystemExit(result.exit_code(option))
