"""Cross-subscription restore (--target-subscription-id other than the source's): R56-R64."""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.rules.base import DISK, NEW, OLR, rule
from restorekit.rules.checks import ade, no_vault_tier, security, unmanaged

if TYPE_CHECKING:
    from restorekit.rules.base import Ctx

CSR = (NEW, DISK)
ERR = "UserErrorCrossSubscriptionRestore"


def _csr_off(c: Ctx) -> str | bool:
    state = c.need("vault_csr")
    return f"crossSubscriptionRestoreState: {state}" if state.lower() in ("disabled", "permanentlydisabled") else False


def _live(c: Ctx, key: str, what: str, command: str, seen: str) -> str | bool:
    return False if c.fact(key, what, command) else seen


RULES = [
    rule("R56", CSR, "block", "vault CSR state Disabled / PermanentlyDisabled",
         "Cross Subscription Restore is not allowed on this Vault. Please either enable CSR on the vault or try "
         "restoring in the same subscription.", "S16,S1", _csr_off, modifier="csr"),
    rule("R57", CSR, "block", "unmanaged VM", f"{ERR}NotSuppportedForUnManagedAzureVM", "S11", unmanaged,
         modifier="csr"),
    rule("R58", CSR, "block", "ADE VM", f"{ERR}NotSuppportedForEncryptedAzureVM", "S11,S9", ade, modifier="csr"),
    rule("R59", CSR, "block", "snapshot-only recovery point",
         f"{ERR}NotSuppportedFromSnapshot: select a different recovery point where Tier 2 (Vault-Tier) is available.",
         "S11", no_vault_tier, modifier="csr"),
    rule("R60", CSR, "block", "target subscription in another tenant", f"{ERR}InvalidTenant", "S11",
         lambda c: _live(c, "targetSubscriptionSameTenant", "tenant of the target subscription",
                         "`az account show -s SUBSCRIPTION --query tenantId`", "another tenant"),
         modifier="csr", coverage="needs-live-data"),
    rule("R61", CSR, "block", "target subscription not registered to Microsoft.RecoveryServices",
         f"{ERR}InvalidTargetSubscription", "S11",
         lambda c: _live(c, "targetSubscriptionRegistered", "Microsoft.RecoveryServices registration",
                         "`az provider show -n Microsoft.RecoveryServices --subscription SUB "
                         "--query registrationState`",
                         "provider not registered"),
         modifier="csr", coverage="needs-live-data"),
    rule("R62", CSR, "warn", "Trusted Launch VM",
         f"{ERR}NotSuppportedForTrustedLaunchAzureVM (2023); later documents drop the exclusion: verify.", "S11,S1",
         lambda c: security(c, "TrustedLaunch"), modifier="csr", disputed=True),
    rule("R63", CSR, "warn", "cross-subscription and cross-region together",
         f"{ERR}NotSuppportedForCRR in older documents; 09/2023 says it works with Cross Region Restore: verify.",
         "S11,S1", lambda c: c.crr and "--use-secondary-region with --target-subscription-id", modifier="csr",
         disputed=True),
    rule("R64", OLR, "block", "cross-subscription Replace existing (see R09)",
         f"{ERR}NotSuppportedForOLR: Cross Subscription Restore is not supported for Original Location Recovery.",
         "S11", lambda c: f"--target-subscription-id {c.request.target_subscription_id}", modifier="csr"),
]
