"""Rules about the staging storage account (``--storage-account``) and what restore-disks writes: R31-R43."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.jsonio import ci_get
from restorekit.rules.base import DISK, STAGING, rule
from restorekit.rules.checks import TB_GB, big_disks, vault_tier_rp

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx


def _sku(c: Ctx) -> str:
    return str(ci_get(c.account(), "sku", "name", default=""))


def _premium(c: Ctx) -> bool:
    return _sku(c).lower().startswith("premium") or str(ci_get(c.account(), "sku", "tier", default="")) == "Premium"


def _restricted(c: Ctx) -> bool:
    return str(ci_get(c.account(), "networkRuleSet", "defaultAction", default="Allow")).lower() == "deny"


def _other_region(c: Ctx) -> str | bool:
    where = str(ci_get(c.account(), "location", default="")).lower()
    if c.crr:
        home = c.fact("secondaryRegion", "the vault's secondary (paired) region",
                      "`az backup vault show --query properties.redundancySettings` and the region pair table")
    else:
        home = c.model.vault_location or c.need("location")
    return f"account in {where}, vault {'secondary ' if c.crr else ''}region {home}" if where != str(
        home).lower() else False


def _unmanaged_output(c: Ctx) -> bool:
    """restore-disks writes VHD blobs to the account (not managed disks)."""
    if c.request.restore_as_unmanaged_disks:
        return True
    return not c.need("managed") or not c.request.target_resource_group


def _mixed(c: Ctx) -> str | bool:
    if not _unmanaged_output(c):
        return False
    kinds = {"premium" if "premium" in t.lower() else "standard" for t in c.need("disk_types").values()}
    return "source disks mix premium and standard" if len(kinds) > 1 else False


def _unmanaged_to_managed(c: Ctx) -> str | bool:
    if c.need("managed") or not c.request.target_resource_group:
        return False
    if "vault" not in c.need("tiers"):
        return "unmanaged VM, managed disks requested (--target-resource-group) from the snapshot tier"
    return c.model.ade is True and "unmanaged ADE VM, managed disks requested"


def _original_accounts(c: Ctx) -> str | bool:
    if c.need("managed") or c.request.target_resource_group or c.request.restore_to_staging_storage_account:
        return False
    return c.no("original_storage_account_option") and "unmanaged VM restored to its original accounts"


RULES = [
    rule("R31", STAGING, "block", "storage account region differs from the vault's (secondary region for CRR)",
         "The Recovery Services vault and target storage account are in two different regions.", "S1,S11",
         _other_region),
    rule("R32", STAGING, "block", "account kind BlobStorage", "Blob storage isn't supported.", "S1",
         lambda c: str(ci_get(c.account(), "kind", default="")).lower() == "blobstorage" and "kind: BlobStorage"),
    rule("R33", STAGING, "warn", "account is zone-redundant (ZRS)",
         "Zone redundant storage (ZRS) isn't supported (the 2019 matrix said supported: verify on the live page).",
         "S1,S6", lambda c: "zrs" in _sku(c).lower() and f"sku: {_sku(c)}", disputed=True),
    rule("R34", STAGING, "block", "premium account while the source VM is not premium",
         "Premium storage accounts aren't supported for a non-premium VM.", "S1",
         lambda c: _premium(c) and c.no("premium_source") and f"sku: {_sku(c)}, source VM on standard storage"),
    rule("R35", STAGING, "block", "premium account with network rules, managed VM",
         "Premium storage accounts configured with network rules aren't supported.", "S1",
         lambda c: _premium(c) and _restricted(c) and c.yes("managed") and "premium account, defaultAction: Deny"),
    rule("R36", STAGING, "block", "firewall-restricted account with a user-assigned managed identity",
         "For firewall-restricted accounts the system managed identity is only supported.", "S1",
         lambda c: bool(c.request.mi_user_assigned) and _restricted(c) and "defaultAction: Deny, --mi-user-assigned"),
    rule("R37", DISK, "warn", "account has shared-key access disabled",
         "The template won't deploy with Deploy Template: deploy it manually.", "S1, #121492",
         lambda c: ci_get(c.account(), "allowSharedKeyAccess") is False and "allowSharedKeyAccess: false"),
    rule("R38", DISK, "warn", "unmanaged restore to one account from mixed premium/standard disks",
         "All restored disks will be either premium or standard, not mixed.", "S2", _mixed),
    rule("R39", DISK, "warn", "vault-tier restore of a disk of 4 TB or more",
         "Azure Backup doesn't restore the VHD files of disks of 4 TB or more: managed disks only.", "S1",
         lambda c: vault_tier_rp(c) and big_disks(c, 4 * TB_GB - 1)),
    rule("R40", DISK, "warn", "managed VM without --target-resource-group",
         "The disks of the managed VM will be restored as unmanaged and will NOT leverage instant restore: pass "
         "--target-resource-group.", "S16,S7",
         lambda c: c.yes("managed") and not c.request.target_resource_group
         and not c.request.restore_as_unmanaged_disks and "no --target-resource-group"),
    rule("R41", DISK, "block", "--restore-as-unmanaged-disks together with --target-resource-group",
         "Both restore_as_unmanaged_disks and target_resource_group can't be specified.", "S16",
         lambda c: c.request.restore_as_unmanaged_disks and bool(c.request.target_resource_group)
         and "both flags given"),
    rule("R42", DISK, "block", "unmanaged to managed from the snapshot tier, or unmanaged ADE",
         "Unmanaged-to-managed restores aren't triggered from the snapshot phase, only from the vault phase; not "
         "available for unmanaged encrypted VMs.", "S1", _unmanaged_to_managed),
    rule("R43", DISK, "block", "unmanaged RP without original-storage-account capability, original accounts asked",
         "This recovery point doesn't have the capability to restore disks to their original storage accounts: "
         "pass --restore-to-staging-storage-account.", "S16", _original_accounts),
]
