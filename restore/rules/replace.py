"""Rules for "Replace existing" (Original-Location Recovery): R01-R12."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.model import HOW
from restorekit.rules.base import NEW, OLR, NeedInput, rule
from restorekit.rules.checks import ade, no_vault_tier, power_state, unmanaged
from restorekit.rules.lunmap import describe, lun_map, target

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

GENERALIZED_HOW = (HOW["generalized"] + ", or pass `az vm get-instance-view -g RG -n VM -o json` as --target-vm "
                   "(instanceView.statuses shows OSState/generalized)")
SAME_AS_R02 = "Replace existing is unsupported for classic VMs, unmanaged VMs, and generalized VMs."


def _source_gone(c: Ctx) -> str | bool:
    exists = c.model.facts.get("sourceVmExists")
    if exists is False:
        return 'facts: "sourceVmExists": false'
    if c.request.target_vm is None:
        if exists is True:
            return False
        c.target_vm()
    now = target(c)
    target_id, source_id = (now.id or "").lower(), (c.model.vm_id or "").lower()
    if target_id and source_id and target_id != source_id:
        return f"--target-vm is {target_id}, not the protected VM {source_id}"
    then = c.model.vm_unique_id
    if now.vm_id and then and now.vm_id.lower() != then.lower():
        return (f"--target-vm has vmId {now.vm_id}, the protected VM had {then}: "
                "the VM was deleted and re-created under the same name")
    return False


def _unmanaged(c: Ctx) -> str | bool:
    if c.request.target_vm is not None and not target(c).managed:
        return "the VM to replace has no managed OS disk (storageProfile.osDisk.managedDisk)"
    return unmanaged(c)


def _classic(c: Ctx) -> str | bool:
    kind = target(c).type if c.request.target_vm is not None else None
    if kind and kind.lower().startswith("microsoft.classiccompute"):
        return f"--target-vm type: {kind}"
    return c.yes("classic")


def _generalized(c: Ctx) -> str | bool:
    if c.request.target_vm is None or c.model.generalized is not None:
        return c.yes("generalized")
    now = target(c)
    if now.generalized is not None:
        return now.generalized and "--target-vm instanceView: OSState/generalized"
    if (now.power_state or "").lower() == "vm running":
        return False  # a generalized VM cannot be started
    raise NeedInput("generalized", GENERALIZED_HOW)


def _encrypted(c: Ctx) -> str | bool:
    seen = target(c).ade if c.request.target_vm is not None else None
    return f"the VM to replace: {seen}" if seen else ade(c)


def _disk_count_differs(c: Ctx) -> str | bool:
    now = len(target(c).disks)
    then = c.need("disk_count")
    if now == then:
        return False
    try:
        detail = describe(lun_map(c), "stays", "notOnVm")
    except NeedInput:
        detail = ""
    return f"recovery point: {then} disks, VM now: {now}" + (f"; {detail}" if detail else "")


def _running(c: Ctx) -> str | bool:
    state = power_state(c)
    return f"powerState: {state}" if state.lower() in ("vm running", "vm starting") else False


def _cross_subscription(c: Ctx) -> str | bool:
    if not c.request.target_subscription_id:
        return False
    if c.model.subscription is None:
        raise NeedInput("source subscription", "add \"vm\" (az vm show) or \"recoveryPoint\" to recoverypoint.json")
    return f"--target-subscription-id {c.request.target_subscription_id}" if c.csr else False


RULES = [
    rule("R01", OLR, "block", "source VM no longer exists (or --target-vm is another VM, by id or vmId)",
         "The current VM must exist. If it's been deleted, this option can't be used.", "S1", _source_gone),
    rule("R02", OLR, "block", "isManagedVirtualMachine == false, or the VM to replace has unmanaged disks",
         SAME_AS_R02, "S1,S2", _unmanaged),
    rule("R03", OLR, "block", "classic VM (Microsoft.ClassicCompute)", SAME_AS_R02, "S1", _classic),
    rule("R04", OLR, "block", "generalized VM (facts, or OSState/generalized in --target-vm's instanceView)",
         SAME_AS_R02, "S1", _generalized),
    rule("R05", OLR, "block", "ADE-encrypted recovery point or VM to replace",
         "You can't use the replace existing VM option for ADE encrypted VMs. This option is only supported for "
         "unencrypted managed disks.", "S9", _encrypted),
    rule("R06", OLR, "warn", "no vault-tier copy yet (snapshot only)",
         "Use Replace existing only when the Transfer Data to Vault subtask shows successfully completed; "
         "otherwise use Create new.", "S1", no_vault_tier),
    rule("R07", OLR, "warn", "recovery point disk count differs from the current VM's",
         "The number of disks in the restore point will only reflect the VM configuration.", "S1",
         _disk_count_differs),
    rule("R08", OLR, "warn", "VM to replace is running",
         "The pre-check fails with UserErrorVmNotShutDown: power off the VM first.", "S12", _running),
    rule("R09", OLR, "block", "target subscription differs from the source",
         "UserErrorCrossSubscriptionRestoreNotSuppportedForOLR: Cross Subscription Restore is not supported for "
         "Original Location Recovery.", "S11", _cross_subscription),
    rule("R10", OLR, "block", "secondary region requested",
         "Cross-region restore doesn't support the Replace existing disks option.", "S1",
         lambda c: c.crr and "--use-secondary-region"),
    rule("R11", OLR, "block", "target zone requested",
         "The replace disks option replaces source data, so the availability zone option is not applicable.", "S1",
         lambda c: c.czr and f"--target-zone {c.request.target_zone}"),
    rule("R12", (NEW, OLR), "block", "selective-disk backup active (disks excluded)",
         "Backups with the disk exclude setting ON only support the Disk restore option.", "S10",
         lambda c: c.yes("disk_exclusion")),
]
