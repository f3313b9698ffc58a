"""Plan scenarios for the rule tests: the real-shaped ``az`` JSON of tests/restore/scenarios/ plus small changes.

The base scenario is a managed Windows Server 2019 VM (vm-app01, westeurope, zone 1) with a snapshot + vault tier
recovery point, a GRS vault with CRR and CSR enabled, a standard staging account, the VM to replace (deallocated)
and a Windows 10 machine for file recovery. Every live-only fact is recorded in ``facts``, so in the base scenario
no rule is undecided. A case changes a few fields (dotted paths into the ``az`` documents) to fire one rule.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from restorekit.evidence import Evidence
from restorekit.plan import plan_option
from restorekit.recoverypoint import DiskRef, RecoveryPoint, normalize_vm
from restorekit.request import RestoreRequest
from restorekit.rules import Ctx, Finding

SCENARIOS = Path(__file__).parent / "scenarios"
GB = 1 << 30
DROP = object()
OTHER_SUB = "11111111-2222-4333-8444-555555555555"


def load(name: str) -> Any:
    """One scenario document."""
    return json.loads((SCENARIOS / name).read_text("utf-8"))


BASE_FACTS: dict[str, Any] = {
    "diagnosticSettings": False, "generalized": False, "sharedDisks": False, "domainController": False,
    "skuNotAvailable": False, "targetVmNameExists": False, "restoreTriggersLast24h": 1, "clientOutbound3260": True,
    "clientIsBackedUp": False, "clientLocaleEnglish": True, "recoverySizeGB": 2, "adeKeysInKeyVault": True,
    "pairedRegionSameGeography": True, "targetSubscriptionSameTenant": True, "targetSubscriptionRegistered": True,
    "secondaryRegionHasZones": True, "clientHasDedup": True, "networkRestrictedStorage": False,
    "secondaryRegion": "northeurope",
}

WINDOWS_VOLUMES: list[dict[str, Any]] = [
    {"id": "os-p1", "disk": "os", "partitionType": "efi", "filesystem": "fat32", "encryption": None,
     "locked": False, "container": None, "os": None, "dedup": False},
    {"id": "os-p3", "disk": "os", "partitionType": "basic-data", "filesystem": "ntfs", "encryption": None,
     "locked": False, "container": None, "dedup": False,
     "os": {"family": "windows", "name": "Windows Server 2019 Datacenter", "build": "17763", "server": True,
            "domainController": False, "efiSystemPartition": "os-p1"}},
    {"id": "lun0-p1", "disk": "lun0", "partitionType": "basic-data", "filesystem": "ntfs", "encryption": None,
     "locked": False, "container": None, "os": None, "dedup": False},
]
LINUX_VOLUMES: list[dict[str, Any]] = [
    {"id": "os-p1", "disk": "os", "partitionType": "linux", "filesystem": "ext4", "encryption": None,
     "locked": False, "container": None, "dedup": False,
     "os": {"family": "linux", "id": "ubuntu", "version": "22.04", "efiSystemPartition": None}},
    {"id": "lun0", "disk": "lun0", "partitionType": None, "filesystem": None, "encryption": None, "locked": False,
     "container": "lvm2", "os": None, "dedup": False},
]
LINUX = {"rp": {"properties.osType": "Linux"}, "vm": {"storageProfile.osDisk.osType": "Linux"},
         "evidence": LINUX_VOLUMES, "request": {"client_os": "Ubuntu 22.04"}}
ADE = {"rp": {"properties.isSourceVMEncrypted": True,
              "properties.keyAndSecret": {"bekDetails": {"secretUrl": "https://kv-app.vault.azure.net/secrets/"
                                                         "3f2a/9b1c", "secretVaultId": "/subscriptions/x/kv"},
                                          "kekDetails": {"keyUrl": "https://kv-app.vault.azure.net/keys/kek/1a2b",
                                                         "keyVaultId": "/subscriptions/x/kv"}}}}
UNMANAGED = {"rp": {"properties.isManagedVirtualMachine": False}}
SNAPSHOT_ONLY = {"rp": {"properties.recoveryPointTierDetails": [{"type": "InstantRP", "status": "Valid"}]}}
CRR = {"request": {"use_secondary_region": True}}
CSR = {"request": {"target_subscription_id": OTHER_SUB}}
CZR = {"request": {"target_zone": "2"}}


def write_manifest(folder: Path, disks: list[tuple[int | None, Path]], **members: Any) -> Path:
    """A Form 2 ``recoverypoint.json`` in ``folder``: the scenario's az JSON (``members`` replace or drop one with
    None) and ``disks`` as (LUN, image) pairs; images are named relative to ``folder`` when inside it."""
    doc: dict[str, Any] = {"recoveryPoint": load("recoverypoint-show.json"), "vm": load("vm-show.json"),
                           "networkInterfaces": [load("nic-show.json")], "vault": load("vault-show.json"),
                           "facts": BASE_FACTS}
    doc.update(members)
    doc["disks"] = [{"lun": lun, "image": str(image.relative_to(folder) if image.is_relative_to(folder) else image)}
                    for lun, image in disks]
    path = folder / "recoverypoint.json"
    path.write_text(json.dumps(doc), "utf-8")
    return path


def merge(*muts: dict[str, Any]) -> dict[str, Any]:
    """Combine mutations (later ones win per key)."""
    out: dict[str, Any] = {}
    for mut in muts:
        for key, value in mut.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
    return out


def set_path(doc: Any, path: str, value: Any) -> None:
    """Set ``a.b.0.c`` in nested dicts/lists; :data:`DROP` deletes the key."""
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if node is None:
            raise KeyError(path)
    if isinstance(node, list):
        node[int(last)] = value
    elif value is DROP:
        node.pop(last, None)
    else:
        node[last] = value


def _doc(name: str, changes: dict[str, Any] | None) -> Any:
    doc = copy.deepcopy(load(name))
    for path, value in (changes or {}).items():
        set_path(doc, path, value if value is DROP else copy.deepcopy(value))
    return doc


def scenario(mut: dict[str, Any] | None = None) -> tuple[RecoveryPoint, RestoreRequest, Evidence]:
    """The base scenario with ``mut`` applied."""
    mut = mut or {}
    drop = set(mut.get("drop", ()))
    rp = RecoveryPoint(
        "manifest", [DiskRef("os", Path("os.vhd"), -1), DiskRef("lun0", Path("data0.vhd"), 0)],
        vm=None if "vm" in drop else normalize_vm(_doc("vm-show.json", mut.get("vm"))),
        recovery_point=None if "rp" in drop else _doc("recoverypoint-show.json", mut.get("rp")),
        network_interfaces=[] if "nic" in drop else [_doc("nic-show.json", mut.get("nic"))],
        vault=None if "vault" in drop else _doc("vault-show.json", mut.get("vault")),
        facts=merge(BASE_FACTS, mut.get("facts", {})) if "facts" not in drop else {},
    )
    request = RestoreRequest(
        target_resource_group="rg-restore", target_vm_name="vm-app01-r", client_os="Windows 10",
        storage_account=_doc("storage-account-show.json", mut.get("storage")),
        target_vm=_doc("target-vm-show-d.json", mut.get("target")),
    )
    for key, value in mut.get("request", {}).items():
        setattr(request, key, copy.deepcopy(value))
    volumes = mut.get("evidence", WINDOWS_VOLUMES)
    if volumes is None:
        evidence = Evidence()
    else:
        sizes = mut.get("disk_sizes", {"os": 127 * GB, "lun0": 256 * GB})
        evidence = Evidence(True, copy.deepcopy(volumes) + copy.deepcopy(mut.get("add_volumes", [])), sizes)
    return rp, request, evidence


def findings(option: str, mut: dict[str, Any] | None = None) -> list[Finding]:
    """The findings of ``option`` in the scenario."""
    from restorekit.model import build_model

    rp, request, evidence = scenario(mut)
    return plan_option(Ctx(build_model(rp), request, evidence), option)


def by_rule(option: str, rule_id: str, mut: dict[str, Any] | None = None) -> list[Finding]:
    """The findings of one rule."""
    return [f for f in findings(option, mut) if f.rule == rule_id]
