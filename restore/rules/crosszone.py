"""Cross-zone restore (--target-zone): R65-R72."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.rules.base import DISK, NEW, rule
from restorekit.rules.checks import ade, no_vault_tier, security, unmanaged

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

CZR = (NEW, DISK)


def _zrs(c: Ctx) -> bool:
    return c.need("vault_redundancy").lower() in ("zoneredundant", "zrs")


def _vault_unfit(c: Ctx) -> str | bool:
    if _zrs(c) or c.need("vault_crr"):
        return False
    return f"vault storage {c.model.vault_redundancy}, cross-region restore off"


def _grs_primary(c: Ctx) -> str | bool:
    if c.crr or _zrs(c):
        return False
    geo = c.model.vault_redundancy.lower() in ("georedundant", "grs") if c.model.vault_redundancy else False
    return geo and c.need("vault_crr") and "GRS+CRR vault, restoring in the primary region"


def _not_pinned(c: Ctx) -> str | bool:
    return not c.need("zones") and not _zrs(c) and "VM not zone pinned, vault not zone-redundant"


RULES = [
    rule("R65", CZR, "block", "vault neither ZRS nor CRR-enabled",
         "Please ensure either the vault storage redundancy is ZoneRedundant or the vault has CRR enabled.",
         "S16,S1", _vault_unfit, modifier="czr"),
    rule("R66", CZR, "block", "recovery point not in the vault tier",
         "Please ensure that the given RP tier type is either 'VaultStandard' or 'SnapshotAndVaultStandard'.",
         "S16,S1", no_vault_tier, modifier="czr"),
    rule("R67", CZR, "block", "GRS+CRR vault, restoring in the primary region",
         "Doesn't work when the vault's storage redundancy is GRS even though the source VM is zone pinned.",
         "S1,S16", _grs_primary, modifier="czr"),
    rule("R68", CZR, "block", "cross-region target region without zones",
         "Cross-zone restore in the secondary region needs a paired region that supports zones.", "S1",
         lambda c: c.crr and not c.fact("secondaryRegionHasZones", "whether the paired region has zones",
                                       "`az account list-locations --query "
                                       "\"[?name=='REGION'].availabilityZoneMappings\"`")
         and "paired region without zones", modifier="czr", coverage="needs-live-data"),
    rule("R69", CZR, "block", "source not zone pinned and vault not ZRS",
         "Cross-zone restore needs a zone-redundant vault, CRR, or a zone-pinned recovery point.", "S16",
         _not_pinned, modifier="czr"),
    rule("R70", CZR, "block", "ADE/encrypted VM", "Cross-zone restore is unsupported for encrypted Azure VMs.", "S1",
         ade, modifier="czr"),
    rule("R71", CZR, "warn", "Trusted Launch VM",
         "The 07/2023 matrix excludes Trusted Launch VMs from cross-zone restore; other versions don't: verify.",
         "S2", lambda c: security(c, "TrustedLaunch"), modifier="czr", disputed=True),
    rule("R72", CZR, "block", "unmanaged VM", "Cross-zone restore is for managed virtual machines only.", "S1",
         unmanaged, modifier="czr"),
]
