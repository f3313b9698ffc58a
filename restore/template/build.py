"""Build the deployment template and its parameters file for a VM made from a recovery point's restored disks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restorekit.errors import TemplateError
from restorekit.template.arm import SCHEMA, param, resource_id, x
from restorekit.template.checks import problems
from restorekit.template.disks import add_disks
from restorekit.template.draft import Draft
from restorekit.template.findings import FIRED, left_out_finding, metadata, template_findings
from restorekit.template.names import vm_name
from restorekit.template.network import add_network
from restorekit.template.source import read_source
from restorekit.template.vm import VMS, add_vm, add_vm_parameters

if TYPE_CHECKING:
    from restorekit.evidence import Evidence
    from restorekit.model import VmModel
    from restorekit.recoverypoint import RecoveryPoint
    from restorekit.request import RestoreRequest

#: What the source VM may have had that the template does not recreate (the disks keep the guest's own settings).
NOT_CARRIED = ("VM extensions, network security groups and application security groups, NIC DNS settings, tags, "
               "managed identities, proximity placement group, dedicated host, Spot priority, data-disk write "
               "accelerator, encryption at host and customer-managed-key disk encryption sets are not carried "
               "over; add them to the template if the VM needs them.")


@dataclass
class Built:
    """A template, its parameters file and what the user should know before deploying."""

    template: dict[str, Any]
    parameters: dict[str, Any]
    disk_source: str
    findings: list[dict[str, Any]]
    fill_in: list[str]


def default_disk_source(model: VmModel, request: RestoreRequest) -> str:
    """``attach`` when the restore job made managed disks (managed VM, ``--target-resource-group``), else ``import``."""
    if model.managed and request.target_resource_group and not request.restore_as_unmanaged_disks:
        return "attach"
    return "import"


def build_template(rp: RecoveryPoint, request: RestoreRequest, evidence: Evidence,
                   disk_source: str | None = None) -> Built:
    """Template + parameters for ``rp``; :class:`TemplateError` when the recovery point cannot say enough."""
    source = read_source(rp, request, evidence)
    mode = disk_source or default_disk_source(source.model, request)
    findings = template_findings(rp, request, evidence)
    fired = {f.rule: [f] for f in findings if f.severity in FIRED}
    d = Draft(source, request, mode, fired, vm_name(source.model.vm_name, request.target_vm_name, source.os_type))
    add_vm_parameters(d)
    storage = add_disks(d)
    network = add_network(d)
    add_vm(d, storage, network)
    listed = metadata(findings, d.params.carried()) + [left_out_finding(disk) for disk in source.left_out]
    template = {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "metadata": _metadata(d, listed),
        "parameters": d.params.to_template(),
        "variables": d.variables,
        "resources": d.resources,
        "outputs": {"virtualMachineId": {"type": "string",
                                         "value": x(resource_id(VMS, param("VirtualMachineName")))}},
    }
    parameters = d.params.parameters_file()
    found = problems(template, parameters)
    if found:
        raise TemplateError(f"the template for {source.model.vm_name or 'this VM'} fails its own check: {found[0]}",
                            hint="this is a restorekit bug; please report it with the recovery point's JSON")
    return Built(template, parameters, mode, listed, d.params.fill_in())


def _metadata(d: Draft, findings: list[dict[str, Any]]) -> dict[str, Any]:
    s = d.source
    m = s.model
    return {
        "description": f"A VM made from the restored disks of {m.vm_name or 'the source VM'}, written by "
                       "`restorekit template`. Disks: " + {
                           "import": "imported from the restored VHD blobs (parameter DiskSource: Import).",
                           "attach": "the managed disks the restore job created (parameter DiskSource: Attach).",
                           "vhd": "the restored VHD blobs attached as unmanaged disks."}[d.disk_source],
        "source": {"vm": m.vm_name, "id": m.vm_id, "osType": s.os_type, "vmSize": m.vm_size,
                   "securityType": m.security_type, "hyperVGeneration": s.generation,
                   "hyperVGenerationFrom": s.generation_why, "disks": [disk.lun for disk in s.disks],
                   "disksLeftOut": s.left_out, "nics": len(s.nics)},
        "findings": findings,
        "notes": [*s.notes, NOT_CARRIED],
    }
