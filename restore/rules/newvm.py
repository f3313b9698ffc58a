"""Rules for "Create new VM" (Alternate-Location Recovery) and the guest identity of a restored VM: R16-R30."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.jsonio import ci_get
from restorekit.rules.base import DISK, NEW, NeedInput, rule
from restorekit.rules.checks import ade

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

DISKS_INSTEAD = "Restore disks and build the VM from the template or PowerShell."


def _special_network(c: Ctx) -> str | bool:
    seen = []
    if c.model.nic_count is not None and c.model.nic_count > 1:
        seen.append(f"{c.model.nic_count} NICs")
    if (c.model.lb_pools or 0) > 0:
        seen.append(f"{c.model.lb_pools} load-balancer pool(s)")
    if (c.model.public_ips or 0) > 1:
        seen.append(f"{c.model.public_ips} public IPs")
    if seen:
        return ", ".join(seen)
    c.need("lb_pools")
    return False


def _static_ip(c: Ctx) -> str | bool:
    found = c.need("static_ips")
    return "static private IP " + ", ".join(found) if found else False


def _name_taken(c: Ctx) -> str | bool:
    name = c.request.target_vm_name
    if not name:
        raise NeedInput("target VM name", "pass --target-vm-name")
    target = c.request.target_vm
    if target is not None and str(ci_get(target, "name", default="")).lower() == name.lower():
        return f"--target-vm names an existing VM called {name}"
    taken = c.fact("targetVmNameExists", f"whether a VM named {name} exists",
                   f"`az vm list --query \"[?name=='{name}']\" -o json`")
    return f"a VM named {name} exists" if taken else False


def _vnet_elsewhere(c: Ctx) -> str | bool:
    if not c.request.target_vnet_name or c.crr or c.csr:
        return False
    where = c.fact("targetVnetLocation", "region of the target VNet",
                   f"`az network vnet show -n {c.request.target_vnet_name} --query location`")
    home = c.model.vault_location or c.need("location")
    return f"VNet in {where}, vault in {home}" if str(where).lower() != home.lower() else False


def _domain_controller(c: Ctx) -> str | bool:
    found = c.evidence.domain_controllers()
    if found:
        return "the OS disk holds Windows/NTDS/ntds.dit (" + ", ".join(v["id"] for v in found) + ")"
    if c.model.domain_controller is not None:
        return c.yes("domain_controller")
    if c.evidence.scanned and c.evidence.os_volumes():
        return False
    return c.yes("domain_controller")


def _original_alive(c: Ctx) -> str | bool:
    exists = c.model.facts.get("sourceVmExists")
    if exists is None and c.request.target_vm is not None:
        exists = True
    if exists is None:
        raise NeedInput("whether the original VM still runs",
                        'pass --target-vm (az vm show -d of the original) or --fact sourceVmExists=true|false')
    name = c.model.hostname or c.model.vm_name or "the original"
    return f"the original VM is still there; the restored guest has the same hostname ({name})" if exists else False


def _cloud_init_or_sql(c: Ctx) -> str | bool:
    os_type = c.need("os_type").lower()
    if os_type == "linux":
        return c.yes("cloud_init") and "cloud-init Linux VM"
    return c.yes("sql_vm") and "SQL Server VM"


RULES = [
    rule("R16", NEW, "block", "ADE-encrypted recovery point",
         "Creating a VM from restore points of ADE-encrypted VMs is currently not supported: restore disks, then "
         "create the VM with the template or PowerShell.", "S9", ade),
    rule("R17", NEW, "block", "Marketplace plan VM",
         "Azure Marketplace VMs are restored only as disks (UserErrorMarketPlaceVMNotSupported).", "S2,S11",
         lambda c: c.yes("marketplace_plan")),
    rule("R18", NEW, "block", "VM had diagnostic settings",
         "A restore of a VM with diagnostic settings triggered via the Create new option fails.", "S2",
         lambda c: c.yes("diagnostic_settings")),
    rule("R19", NEW, "warn", "VM in an availability set",
         "A restored VM doesn't have an availability set: restore disks and set it in the template.", "S1,S2",
         lambda c: c.yes("availability_set")),
    rule("R20", NEW, "warn", "load balancer, more than one NIC or several reserved IPs",
         "Special network configuration: " + DISKS_INSTEAD, "S1", _special_network),
    rule("R21", (NEW, DISK), "warn", "a NIC had a static private IP",
         "The restored VM will have a dynamic IP address.", "S1,S2", _static_ip),
    rule("R22", NEW, "warn", "Spot VM", "Azure Backup restores Spot VMs as regular Azure VMs.", "S2",
         lambda c: c.yes("spot")),
    rule("R23", NEW, "warn", "VM on a dedicated host",
         "Create new can't place the VM on a dedicated host: " + DISKS_INSTEAD, "S2",
         lambda c: c.yes("dedicated_host")),
    rule("R24", NEW, "warn", "Windows Hybrid Use Benefit licence",
         "Deploy the template with License Type = Windows_Server, or set it on the VM later.", "S1",
         lambda c: c.yes("hub_license")),
    rule("R25", NEW, "warn", "VM size unavailable in the region",
         "UserErrorSkuNotAvailable: the disks are still restored; pick another size.", "S1,S11",
         lambda c: c.fact("skuNotAvailable", f"whether {c.model.vm_size or 'the VM size'} is offered in the region",
                          "`az vm list-skus -l LOCATION --size SIZE`") and "size not offered",
         coverage="needs-live-data"),
    rule("R26", NEW, "block", "target VM name already exists in the subscription",
         "Specify a VM name that doesn't exist in the subscription.", "S1", _name_taken,
         coverage="needs-live-data"),
    rule("R27", NEW, "block", "target VNet in another region/subscription than the vault (no CRR/CSR)",
         "The virtual network must be in the same subscription and region.", "S2", _vnet_elsewhere,
         coverage="needs-live-data"),
    rule("R28", (NEW, DISK), "warn", "domain controller (multi-domain forest / last DC)",
         "Domain controller: in a multi-domain forest or for the last DC, restore disks and use PowerShell / "
         "forest recovery.", "S1", _domain_controller),
    rule("R29", (NEW, DISK), "warn", "restored next to the live original (same guest hostname)",
         "The guest identity is unchanged: expect DNS/AD conflicts while both run.", "S1, #70353", _original_alive),
    rule("R30", (NEW, DISK), "warn", "cloud-init Linux or SQL Server VM",
         "cloud-init blocks the password (reset it with VMAccess); a SQL VM must be re-registered with the SQL "
         "IaaS provider.", "S1", _cloud_init_or_sql),
]
