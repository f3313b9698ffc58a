"""Managed identity, encryption sets, tiers and restore-time switches that gate any restore: R73-R83."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.jsonio import ci_get
from restorekit.rules.base import DISK, NEW, STAGING, NeedInput, rule
from restorekit.rules.checks import ade, big_disks

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx


def _vault_identity_missing(c: Ctx) -> str | bool:
    if not c.request.managed_identity:
        return False
    identity = c.need("vault_identity")
    kind = str(ci_get(identity, "type", default="None")).lower()
    if c.request.mi_system_assigned and "systemassigned" not in kind:
        return "Please ensure that System MI is enabled for the vault"
    wanted = c.request.mi_user_assigned
    if wanted:
        assigned = {str(k).lower() for k in ci_get(identity, "userAssignedIdentities", default={})}
        if wanted.lower() not in assigned:
            return "Vault does not have the specified User MI."
    return False


def _des_not_allowed(c: Ctx) -> str | bool:
    if not c.request.disk_encryption_set_id:
        return False
    if c.model.managed is False:
        return "unmanaged recovery point"
    if c.model.ade is True:
        return "ADE-encrypted recovery point"
    return c.no("vault_cmk") and "vault not CMK-encrypted"


def _archive_without_rehydration(c: Ctx) -> str | bool:
    tiers = c.need("tiers")
    return ("archive" in tiers and "vault" not in tiers and not c.request.rehydration_priority
            and "archive tier, no --rehydration-priority")


def _ade_key(c: Ctx) -> str | bool:
    if not ade(c):
        return False
    if c.csr:
        return "ADE keys cannot be used across subscriptions"
    return c.yes("ade_key_in_certificate") and "KEK is part of a certificate"


def _ade_big(c: Ctx) -> str | bool:
    if not ade(c):
        return False
    seen = big_disks(c, 4097)
    count = c.need("disk_count")
    return seen or (count > 16 and f"{count} disks")


def _ade_keys_gone(c: Ctx) -> str | bool:
    if not ade(c):
        return False
    present = c.model.ade_keys_present
    if present is None:
        raise NeedInput("whether the ADE key and secret are still in Key Vault",
                        'check with `az keyvault secret show --id <BEK URL from keyAndSecret>` and pass it as '
                        '--fact adeKeysInKeyVault=true|false')
    return False if present else "ADE key/secret no longer in Key Vault"


RULES = [
    rule("R73", (DISK, NEW), "block", "managed-identity restore of an unmanaged VM",
         "MI based restore is not supported for unmanaged VMs.", "S16,S1",
         lambda c: c.request.managed_identity and c.no("managed") and "--mi-* with an unmanaged VM"),
    rule("R74", (DISK, NEW), "block", "managed identity requested but the vault lacks it",
         "The vault must have the managed identity the restore uses (System MI enabled / User MI assigned).", "S16",
         _vault_identity_missing),
    rule("R75", (DISK, NEW), "block", "DES id given but vault not CMK, or RP unmanaged, or ADE",
         "disk_encryption_set_id can't be specified for this recovery point.", "S16", _des_not_allowed),
    rule("R76", STAGING, "block", "archive-tier recovery point without rehydration priority",
         "The selected recovery point is in archive tier, provide additional parameters of rehydration duration and "
         "rehydration priority.", "S16", _archive_without_rehydration),
    rule("R77", STAGING, "block", "private access enabled on a disk and no --disk-access-option",
         "--disk-access-option parameter must be provided since private access is enabled in given recovery point.",
         "S16", lambda c: c.yes("private_access") and not c.request.disk_access_option
         and "isPrivateAccessEnabledOnAnyDisk: true"),
    rule("R79", STAGING, "block", "edge-zone restore with CRR or CSR",
         "The restore-to-edge-zone parameter can't be used for cross region or cross subscription restore.", "S16",
         lambda c: c.request.restore_to_edge_zone and (c.crr or c.csr) and "--restore-to-edge-zone"),
    rule("R80", STAGING, "warn", "more than 10 restore triggers for the VM in 24 h",
         "The default maximum limit to trigger restore is 10 attempts per VM in 24 hours.", "S12",
         lambda c: (c.fact("restoreTriggersLast24h", "restores triggered for this VM in the last 24 h",
                           "`az backup job list --operation Restore --start-date ...`") or 0) >= 10
         and "10 or more restores in 24 h", coverage="needs-live-data"),
    rule("R81", STAGING, "block", "ADE with a key that is part of a certificate, or across subscriptions",
         "Any key that's a part of a certificate isn't currently supported; ADE restores work within the same "
         "subscription.", "S9", _ade_key),
    rule("R82", DISK, "warn", "ADE with a disk over 4097 GB or more than 16 disks",
         "The restore job fails to restore ADE settings on the restored disk.", "S9", _ade_big),
    rule("R83", DISK, "warn", "ADE keys/secrets no longer in Key Vault",
         "Restore the key and secret first (needs Microsoft.KeyVault/vaults/deploy/action).", "S5,S12",
         _ade_keys_gone, coverage="needs-live-data"),
]
