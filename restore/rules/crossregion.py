"""Cross-region restore (--use-secondary-region): R44-R55, R78."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.rules.base import DISK, NEW, rule
from restorekit.rules.checks import ade, disk_types, no_vault_tier, security, unmanaged

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

CRR = (NEW, DISK)


def _vault_not_grs_crr(c: Ctx) -> str | bool:
    redundancy, crr = c.need("vault_redundancy"), c.need("vault_crr")
    ok = redundancy.lower() in ("georedundant", "grs") and crr
    return False if ok else f"vault storage {redundancy}, cross-region restore {'on' if crr else 'off'}"


def _archive(c: Ctx) -> str | bool:
    tiers = c.need("tiers")
    return "archive tier only" if "archive" in tiers and "vault" not in tiers else False


def _ade_other_geography(c: Ctx) -> str | bool:
    if not ade(c):
        return False
    same = c.fact("pairedRegionSameGeography", "whether the paired region is in the same geography",
                  "the region pair table (`az account list-locations --query \"[].metadata.pairedRegion\"`)")
    return False if same else "ADE VM, paired region in another geography"


RULES = [
    rule("R44", CRR, "block", "vault not GRS with CRR enabled",
         "Cross-region restore needs a geo-redundant vault with Cross Region Restore enabled.", "S1",
         _vault_not_grs_crr, modifier="crr"),
    rule("R45", CRR, "block", "no vault-tier copy", "Secondary region restores are only vault tier restores.", "S1",
         no_vault_tier, modifier="crr"),
    rule("R46", CRR, "block", "unmanaged VM", "CRR for Azure VMs is supported for Azure Managed VMs only.", "S1",
         unmanaged, modifier="crr"),
    rule("R47", CRR, "block", "Ultra or Premium SSD v2 disks",
         "Cross-region restore is currently not supported for machines using Ultra disks / Premium v2 disks.",
         "S1,S2", lambda c: disk_types(c, "ultra", "premiumv2"), modifier="crr"),
    rule("R48", CRR, "block", "managed identity used for the restore",
         "Cross Region Restore isn't supported with managed identities.", "S1,S2",
         lambda c: c.request.managed_identity and "--mi-system-assigned / --mi-user-assigned", modifier="crr"),
    rule("R49", CRR, "block", "ADE VM and paired region in another geography",
         "Cross-region restore of ADE VMs is not supported if the paired region is not in the same geography.",
         "S9", _ade_other_geography, modifier="crr", coverage="needs-live-data"),
    rule("R50", CRR, "block", "confidential VM",
         "Cross-region restore for confidential VMs is currently not supported.", "S2",
         lambda c: security(c, "ConfidentialVM"), modifier="crr"),
    rule("R51", CRR, "warn", "disk encryption set id supplied",
         "The 2023 matrix says DES is not supported with CRR; Azure CLI since PR #24692 allows it: verify.",
         "S2, PR 24692", lambda c: bool(c.request.disk_encryption_set_id) and "--disk-encryption-set-id",
         modifier="crr", disputed=True),
    rule("R52", CRR, "warn", "CMK VM in a non-CMK vault",
         "The VM is restored as a non-CMK-enabled VM in the secondary region.", "S1",
         lambda c: c.yes("vm_cmk") and c.no("vault_cmk") and "disks use a disk encryption set; vault has no CMK",
         modifier="crr"),
    rule("R53", CRR, "block", "archive-tier recovery point", "Archive restore isn't supported for secondary region.",
         "S16", _archive, modifier="crr"),
    rule("R54", CRR, "block", "no --target-resource-group",
         "Please provide target resource group using --target-resource-group.", "S16",
         lambda c: not c.request.target_resource_group and "no --target-resource-group", modifier="crr"),
    rule("R55", CRR, "warn", "a cross-region job cannot be cancelled",
         "Cross region restore jobs once triggered, can't be canceled.", "S1",
         lambda c: "--use-secondary-region", modifier="crr"),
    rule("R78", CRR, "block", "--disk-access-option SameAsOnSourceDisks with CRR",
         "Given --disk-access-option is not applicable to cross region restore.", "S16",
         lambda c: str(c.request.disk_access_option).lower() == "sameasonsourcedisks"
         and "--disk-access-option SameAsOnSourceDisks", modifier="crr"),
]
