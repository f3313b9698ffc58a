"""A typed view of what a recovery point declares: the facts the restore rules read.

Every fact is ``None`` when nothing the user gave says it; :data:`HOW` then tells the planner which input
would decide it (an ``az`` command for the manifest, a ``facts`` key, or a flag), so a rule that needs the fact
can say so instead of guessing. Sources, most specific first: ``recoveryPoint`` (``az backup recoverypoint
show``), ``vm`` (``az vm show`` or the restore job's ``config-*.json``), ``networkInterfaces`` (``az network nic
show``), ``vault`` (``az backup vault show`` / ``backup-properties show``) and ``facts``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.facts import camel, fact_key, fill_model
from restorekit.jsonio import FLAG_WORDS, ci_get, id_segment, properties
from restorekit.schema import OS_TYPES

if TYPE_CHECKING:
    from restorekit.recoverypoint import RecoveryPoint

RP_CMD = "add \"recoveryPoint\" to recoverypoint.json: `az backup recoverypoint show ... -o json`"
VM_CMD = "add \"vm\" to recoverypoint.json: `az vm show -g RG -n VM -o json` (or use the restore job's config-*.json)"
NIC_CMD = "add \"networkInterfaces\" to recoverypoint.json: `az network nic show --ids NIC_ID -o json` per NIC"
VAULT_CMD = ("add \"vault\" to recoverypoint.json: `az backup vault show -o json` merged with "
             "`az backup vault backup-properties show -o json`")


def fact_how(key: str, command: str) -> str:
    """How to supply a ``facts`` entry that no single ``az`` command prints."""
    return f'--fact {key}=... or "facts": {{"{key}": ...}} in recoverypoint.json (find it with {command})'


#: For each fact of :class:`VmModel`: the input that would decide it.
HOW: dict[str, str] = {
    "os_type": RP_CMD + " (properties.osType) or " + VM_CMD,
    "managed": RP_CMD + " (properties.isManagedVirtualMachine) or " + VM_CMD,
    "classic": VM_CMD + " (type) or " + RP_CMD + " (its id names the container)",
    "generalized": fact_how("generalized", "`az vm get-instance-view --query instanceView.statuses`"),
    "ade": RP_CMD + " (properties.isSourceVMEncrypted) or " + VM_CMD + " (osDisk.encryptionSettings)",
    "ade_key_in_certificate": RP_CMD + " (properties.keyAndSecret)",
    "ade_keys_present": fact_how("adeKeysInKeyVault", "`az keyvault secret show --id <BEK URL from keyAndSecret>`"),
    "tiers": RP_CMD + " (properties.recoveryPointTierDetails)",
    "disk_exclusion": RP_CMD + " (properties.recoveryPointDiskConfiguration)",
    "included_luns": RP_CMD + " (properties.recoveryPointDiskConfiguration.includedDiskList)",
    "disk_count": VM_CMD + " (storageProfile) or " + RP_CMD,
    "disk_sizes_gb": VM_CMD + " (storageProfile.*.diskSizeGb)",
    "disk_types": VM_CMD + " (storageProfile.*.managedDisk.storageAccountType)",
    "premium_source": RP_CMD + " (properties.sourceVMStorageType) or " + VM_CMD,
    "write_accelerator": VM_CMD + " (dataDisks[].writeAcceleratorEnabled)",
    "shared_disks": fact_how("sharedDisks", "`az disk show --ids DISK_ID --query maxShares`"),
    "ephemeral_os": VM_CMD + " (storageProfile.osDisk.diffDiskSettings)",
    "zones": RP_CMD + " (properties.zones) or " + VM_CMD + " (zones)",
    "security_type": RP_CMD + " (properties.securityType) or " + VM_CMD + " (securityProfile.securityType)",
    "vm_size": RP_CMD + " (properties.virtualMachineSize) or " + VM_CMD,
    "location": VM_CMD + " (location)",
    "subscription": VM_CMD + " (id) or " + RP_CMD + " (id)",
    "vm_id": VM_CMD + " (id)",
    "vm_name": VM_CMD + " (name)",
    "vm_unique_id": VM_CMD + " (vmId)",
    "image_sku": VM_CMD + " (storageProfile.imageReference.sku)",
    "hyperv_generation": fact_how("hyperVGeneration", "`az disk show --ids OS_DISK_ID --query hyperVGeneration`"),
    "availability_set": VM_CMD + " (availabilitySet)",
    "marketplace_plan": VM_CMD + " (plan)",
    "diagnostic_settings": fact_how("diagnosticSettings", "`az monitor diagnostic-settings list --resource VM_ID`"),
    "spot": VM_CMD + " (priority)",
    "dedicated_host": VM_CMD + " (host, hostGroup) or " + fact_how("dedicatedHost", "`az vm show`"),
    "hub_license": VM_CMD + " (licenseType)",
    "nic_count": VM_CMD + " (networkProfile.networkInterfaces) or " + NIC_CMD,
    "static_ips": NIC_CMD + " (ipConfigurations[].privateIPAllocationMethod)",
    "lb_pools": NIC_CMD + " (ipConfigurations[].loadBalancerBackendAddressPools)",
    "public_ips": NIC_CMD + " (ipConfigurations[].publicIPAddress)",
    "cloud_init": fact_how("cloudInit", "`az vm show --query osProfile.customData` or the image's documentation"),
    "sql_vm": VM_CMD + " (storageProfile.imageReference.publisher) or " + fact_how("sqlVm", "`az sql vm show`"),
    "domain_controller": fact_how("domainController", "the guest (NTDS.dit); the OS disk image also shows it"),
    "vault_redundancy": VAULT_CMD + " (storageType / standardTierStorageRedundancy)",
    "vault_crr": VAULT_CMD + " (crossRegionRestoreFlag / redundancySettings.crossRegionRestore)",
    "vault_csr": VAULT_CMD + " (restoreSettings.crossSubscriptionRestoreSettings.crossSubscriptionRestoreState)",
    "vault_location": VAULT_CMD + " (location)",
    "vault_cmk": VAULT_CMD + " (properties.encryption.keyVaultProperties)",
    "vault_identity": VAULT_CMD + " (identity)",
    "vm_cmk": VM_CMD + " (managedDisk.diskEncryptionSet)",
    "private_access": RP_CMD + " (properties.isPrivateAccessEnabledOnAnyDisk)",
    "original_storage_account_option": RP_CMD + " (properties.originalStorageAccountOption)",
    "edge_zone": VM_CMD + " (extendedLocation)",
    "network_restricted_storage": fact_how("networkRestrictedStorage",
                                           "`az storage account show --query networkRuleSet` of the VM's accounts"),
    "hostname": VM_CMD + " (osProfile.computerName)",
}


@dataclass
class VmModel:
    """The declared facts of one recovery point; ``None`` = not known from the inputs given."""

    os_type: str | None = None
    managed: bool | None = None
    classic: bool | None = None
    generalized: bool | None = None
    ade: bool | None = None
    ade_key_in_certificate: bool | None = None
    ade_keys_present: bool | None = None
    tiers: frozenset[str] | None = None
    disk_exclusion: bool | None = None
    included_luns: list[int] | None = None
    disk_count: int | None = None
    disk_sizes_gb: dict[int, int] | None = None
    disk_types: dict[int, str] | None = None
    premium_source: bool | None = None
    write_accelerator: bool | None = None
    shared_disks: bool | None = None
    ephemeral_os: bool | None = None
    zones: list[str] | None = None
    security_type: str | None = None
    vm_size: str | None = None
    location: str | None = None
    subscription: str | None = None
    vm_id: str | None = None
    vm_name: str | None = None
    vm_unique_id: str | None = None
    image_sku: str | None = None
    hyperv_generation: str | None = None
    availability_set: bool | None = None
    marketplace_plan: bool | None = None
    diagnostic_settings: bool | None = None
    spot: bool | None = None
    dedicated_host: bool | None = None
    hub_license: bool | None = None
    nic_count: int | None = None
    static_ips: list[str] | None = None
    lb_pools: int | None = None
    public_ips: int | None = None
    cloud_init: bool | None = None
    sql_vm: bool | None = None
    domain_controller: bool | None = None
    vault_redundancy: str | None = None
    vault_crr: bool | None = None
    vault_csr: str | None = None
    vault_location: str | None = None
    vault_cmk: bool | None = None
    vault_identity: dict[str, Any] | None = None
    vm_cmk: bool | None = None
    private_access: bool | None = None
    original_storage_account_option: bool | None = None
    edge_zone: bool | None = None
    network_restricted_storage: bool | None = None
    hostname: str | None = None
    #: The raw ``facts`` object, for rules that read keys of their own.
    facts: dict[str, Any] = field(default_factory=dict)

    def known(self) -> dict[str, Any]:
        """The facts that are known, JSON-ready (for the plan's recoveryPoint summary)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "facts" or value is None:
                continue
            out[camel(key)] = sorted(value) if isinstance(value, frozenset) else value
        return out

    def unknown(self) -> list[str]:
        """Names of the facts nothing declared."""
        return list(self.missing())

    def missing(self) -> dict[str, str]:
        """Each fact nothing declared, by the key that sets it (:func:`restorekit.facts.fact_key`, for
        ``--fact`` or the manifest's ``facts``), with the input that would decide it (:data:`HOW`)."""
        return {fact_key(k): HOW[k] for k, v in asdict(self).items() if v is None and k != "facts"}


# --- building the model -------------------------------------------------------------------------------------------

_TIER_NAMES = {"1": "snapshot", "instantrp": "snapshot", "2": "vault", "hardenedrp": "vault", "3": "archive",
               "archivedrp": "archive"}
_VALID = {"1", "valid"}
_TIER_TYPES = {"snapshot": {"snapshot"}, "vaultstandard": {"vault"}, "snapshotandvaultstandard": {"snapshot", "vault"},
               "vaultarchive": {"archive"}, "snapshotandvaultarchive": {"snapshot", "archive"},
               "vaultstandardrehydrated": {"vault"}}


def deep_find(doc: Any, key: str) -> Any:
    """The first value of ``key`` (case-insensitive) anywhere in nested dicts and lists, else None."""
    lower = key.lower()
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(k, str) and k.lower() == lower and v is not None:
                return v
        for v in doc.values():
            found = deep_find(v, key)
            if found is not None:
                return found
    elif isinstance(doc, list):
        for item in doc:
            found = deep_find(item, key)
            if found is not None:
                return found
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return FLAG_WORDS.get(value.lower())
    return None


def os_name(value: Any) -> str | None:
    """``Windows`` or ``Linux`` as Azure spells them, for an ``osType`` in any case; None for anything else."""
    return next((name for name in OS_TYPES if isinstance(value, str) and value.lower() == name.lower()), None)


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def subscription_of(resource_id: Any) -> str | None:
    """The subscription GUID in an ARM resource id."""
    found = id_segment(resource_id, "subscriptions")
    return found.lower() if found else None


def parse_tiers(rp_props: Any, rp_doc: Any) -> frozenset[str] | None:
    """Tiers holding a valid copy: ``snapshot``, ``vault``, ``archive`` (numeric REST or string CLI form)."""
    details = ci_get(rp_props, "recoveryPointTierDetails")
    if isinstance(details, list) and details:
        tiers = {_TIER_NAMES.get(str(ci_get(d, "type")).lower()) for d in details
                 if str(ci_get(d, "status", default="Valid")).lower() in _VALID}
        return frozenset(t for t in tiers if t)
    tier_type = _first(ci_get(rp_doc, "tierType"), ci_get(rp_props, "tierType"))
    if isinstance(tier_type, str) and tier_type.lower() in _TIER_TYPES:
        return frozenset(_TIER_TYPES[tier_type.lower()])
    return None


def vm_disks(vm: Any) -> list[tuple[int, dict[str, Any]]]:
    """(LUN, disk) of the VM's storage profile: the OS disk as LUN -1, then the data disks."""
    os_disk = ci_get(vm, "storageProfile", "osDisk")
    disks = [(-1, os_disk)] if isinstance(os_disk, dict) else []
    for d in ci_get(vm, "storageProfile", "dataDisks", default=[]):
        if isinstance(d, dict) and isinstance(ci_get(d, "lun"), int):
            disks.append((ci_get(d, "lun"), d))
    return disks


def build_model(rp: RecoveryPoint) -> VmModel:
    """Read every declared fact from the recovery point's JSON members."""
    m = VmModel(facts=dict(rp.facts) if isinstance(rp.facts, dict) else {})
    facts = m.facts
    if rp.recovery_point is not None:
        _from_recovery_point(m, rp.recovery_point)
    if rp.vm is not None:
        _from_vm(m, rp.vm)
    if rp.network_interfaces:
        _from_nics(m, rp.network_interfaces)
    if rp.vault is not None:
        _from_vault(m, rp.vault)
    for name, key in (("generalized", "generalized"), ("diagnostic_settings", "diagnosticSettings"),
                      ("cloud_init", "cloudInit"), ("domain_controller", "domainController"),
                      ("shared_disks", "sharedDisks"), ("ade_keys_present", "adeKeysInKeyVault"),
                      ("network_restricted_storage", "networkRestrictedStorage"),
                      ("hyperv_generation", "hyperVGeneration")):
        value = ci_get(facts, key)
        if value is not None and getattr(m, name) is None:
            setattr(m, name, value if name == "hyperv_generation" else _bool(value))
    for name, key in (("dedicated_host", "dedicatedHost"), ("sql_vm", "sqlVm")):
        value = _bool(ci_get(facts, key))
        if value is not None:
            setattr(m, name, value or bool(getattr(m, name)))
    fill_model(m, facts)
    if m.disk_count is None and rp.form != "images" and all(d.lun is not None for d in rp.disks):
        m.disk_count = len(rp.disks)
    return m


def _from_recovery_point(m: VmModel, doc: dict[str, Any]) -> None:
    props = properties(doc)
    m.os_type = os_name(ci_get(props, "osType"))
    m.managed = _bool(ci_get(props, "isManagedVirtualMachine"))
    m.ade = _bool(ci_get(props, "isSourceVMEncrypted"))
    kek = ci_get(props, "keyAndSecret", "kekDetails", "keyUrl")
    if isinstance(kek, str):
        m.ade_key_in_certificate = "/certificates/" in kek.lower()
    elif m.ade is not None:
        m.ade_key_in_certificate = False if not m.ade else None
    m.tiers = parse_tiers(props, doc)
    config = ci_get(props, "recoveryPointDiskConfiguration")
    if isinstance(config, dict):
        excluded = ci_get(config, "excludedDiskList", default=[])
        included = ci_get(config, "includedDiskList", default=[])
        n_in, n_all = ci_get(config, "numberOfDisksIncludedInBackup"), ci_get(config, "numberOfDisksAttachedToVm")
        m.disk_exclusion = bool(excluded) or (isinstance(n_in, int) and isinstance(n_all, int) and n_in < n_all)
        luns = [ci_get(d, "lun") for d in included if isinstance(ci_get(d, "lun"), int)]
        m.included_luns = sorted(luns) if luns else None
        if isinstance(n_all, int):
            m.disk_count = n_all
    else:
        m.disk_exclusion = _bool(ci_get(props, "diskExclusionProperties")) if ci_get(
            props, "diskExclusionProperties") is not None else None
    storage = ci_get(props, "sourceVMStorageType")
    if isinstance(storage, str):
        m.premium_source = "premium" in storage.lower()
    zones = ci_get(props, "zones")
    if isinstance(zones, list):
        m.zones = [str(z) for z in zones]
    m.security_type = ci_get(props, "securityType")
    m.vm_size = ci_get(props, "virtualMachineSize")
    m.private_access = _bool(ci_get(props, "isPrivateAccessEnabledOnAnyDisk"))
    m.original_storage_account_option = _bool(ci_get(props, "originalStorageAccountOption"))
    rp_id = ci_get(doc, "id")
    m.subscription = subscription_of(rp_id)
    if isinstance(rp_id, str):
        m.classic = ";iaasvmcontainer;" in rp_id.lower()


def _from_vm(m: VmModel, vm: dict[str, Any]) -> None:
    disks = vm_disks(vm)
    os_disk = disks[0][1] if disks and disks[0][0] == -1 else None
    m.os_type = m.os_type or os_name(ci_get(os_disk, "osType"))
    if m.managed is None and os_disk is not None:
        m.managed = ci_get(os_disk, "managedDisk") is not None
    vm_type = ci_get(vm, "type")
    if isinstance(vm_type, str):
        m.classic = vm_type.lower().startswith("microsoft.classiccompute")
    if m.ade is None and os_disk is not None:
        m.ade = bool(ci_get(os_disk, "encryptionSettings", "enabled", default=False))
    if disks:
        m.disk_count = m.disk_count if m.disk_count is not None else len(disks)
        m.disk_sizes_gb = {lun: ci_get(d, "diskSizeGb") for lun, d in disks if isinstance(ci_get(d, "diskSizeGb"), int)}
        m.disk_types = {lun: t for lun, d in disks
                        if isinstance(t := ci_get(d, "managedDisk", "storageAccountType"), str)}
        if m.premium_source is None and m.disk_types:
            m.premium_source = any("premium" in t.lower() for t in m.disk_types.values())
        m.write_accelerator = any(bool(ci_get(d, "writeAcceleratorEnabled")) for _l, d in disks)
        m.ephemeral_os = ci_get(os_disk, "diffDiskSettings") is not None
        m.vm_cmk = any(ci_get(d, "managedDisk", "diskEncryptionSet", "id") is not None for _l, d in disks)
    if m.zones is None:
        zones = ci_get(vm, "zones")
        m.zones = [str(z) for z in zones] if isinstance(zones, list) else []
    m.security_type = m.security_type or ci_get(vm, "securityProfile", "securityType")
    m.vm_size = m.vm_size or ci_get(vm, "hardwareProfile", "vmSize")
    m.location = ci_get(vm, "location")
    m.vm_id = ci_get(vm, "id")
    m.vm_name = ci_get(vm, "name")
    m.vm_unique_id = ci_get(vm, "vmId")
    m.image_sku = ci_get(vm, "storageProfile", "imageReference", "sku")
    m.subscription = m.subscription or subscription_of(m.vm_id)
    m.availability_set = ci_get(vm, "availabilitySet", "id") is not None
    m.marketplace_plan = isinstance(ci_get(vm, "plan"), dict)
    m.spot = str(ci_get(vm, "priority", default="Regular")).lower() == "spot"
    m.dedicated_host = ci_get(vm, "host", "id") is not None or ci_get(vm, "hostGroup", "id") is not None
    m.hub_license = str(ci_get(vm, "licenseType", default="")).lower() in ("windows_server", "windows_client")
    nics = ci_get(vm, "networkProfile", "networkInterfaces")
    if isinstance(nics, list):
        m.nic_count = len(nics)
    publisher = ci_get(vm, "storageProfile", "imageReference", "publisher")
    if isinstance(publisher, str):
        m.sql_vm = publisher.lower() == "microsoftsqlserver"
    m.edge_zone = str(ci_get(vm, "extendedLocation", "type", default="")).lower() == "edgezone"
    m.hostname = ci_get(vm, "osProfile", "computerName")
    if m.security_type is None and m.vm_id is not None:
        m.security_type = "Standard"


@dataclass(frozen=True)
class IpConfig:
    """One ``ipConfigurations`` entry of an ``az network nic show`` document."""

    name: str | None
    private_ip: str | None
    allocation: str | None
    #: The ids of the load balancer backend pools it is in (None where a pool names no id).
    lb_pools: tuple[str | None, ...]
    #: The ``publicIPAddress`` object (``{"id": ...}``), or None.
    public_ip: Any
    subnet: str | None

    @property
    def static(self) -> bool:
        """Whether the private IP is reserved (``privateIPAllocationMethod: Static``)."""
        return str(self.allocation or "").lower() == "static"


def ip_configurations(nic: Any) -> list[IpConfig]:
    """The IP configurations of an ``az network nic show`` document, in its order."""
    out = []
    for cfg in ci_get(properties(nic), "ipConfigurations", default=[]):
        props = properties(cfg)
        out.append(IpConfig(
            name=ci_get(cfg, "name"), private_ip=ci_get(props, "privateIPAddress"),
            allocation=ci_get(props, "privateIPAllocationMethod"),
            lb_pools=tuple(ci_get(pool, "id") for pool in ci_get(props, "loadBalancerBackendAddressPools", default=[])),
            public_ip=ci_get(props, "publicIPAddress"), subnet=ci_get(props, "subnet", "id")))
    return out


def _from_nics(m: VmModel, nics: list[dict[str, Any]]) -> None:
    static, pools, public = [], 0, 0
    for nic in nics:
        for cfg in ip_configurations(nic):
            if cfg.static:
                static.append("?" if cfg.private_ip is None else str(cfg.private_ip))
            pools += len(cfg.lb_pools)
            public += cfg.public_ip is not None
    m.static_ips, m.lb_pools, m.public_ips = static, pools, public
    m.nic_count = max(m.nic_count or 0, len(nics))


def _from_vault(m: VmModel, vault: dict[str, Any]) -> None:
    redundancy = _first(deep_find(vault, "standardTierStorageRedundancy"), deep_find(vault, "storageType"),
                        deep_find(vault, "storageModelType"))
    m.vault_redundancy = redundancy if isinstance(redundancy, str) else None
    m.vault_crr = _bool(_first(deep_find(vault, "crossRegionRestoreFlag"), deep_find(vault, "crossRegionRestore")))
    csr = deep_find(vault, "crossSubscriptionRestoreState")
    m.vault_csr = csr if isinstance(csr, str) else None
    location = ci_get(vault, "location")
    m.vault_location = location if isinstance(location, str) else None
    if deep_find(vault, "encryption") is not None or m.vault_location is not None:
        m.vault_cmk = deep_find(vault, "keyVaultProperties") is not None or deep_find(vault, "keyUri") is not None
    identity = ci_get(vault, "identity")
    if isinstance(identity, dict) or m.vault_location is not None:
        m.vault_identity = identity if isinstance(identity, dict) else {}
    if m.subscription is None:
        m.subscription = subscription_of(ci_get(vault, "id"))
