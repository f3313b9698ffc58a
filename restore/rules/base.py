"""The shape of a restore rule and the context its condition reads.

A rule is data: an id from ``spec/restore-rules.md``, the options it gates, an optional modifier (cross-region,
cross-subscription, cross-zone) that must be in play, a condition, a severity, the user-facing message and its
source. A condition returns a truthy value when the rule fires (a string says what was seen) and raises
:class:`NeedInput` when a fact it needs is unknown; the planner turns that into an ``unknown`` finding naming
the input and how to supply it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from restorekit.model import HOW

if TYPE_CHECKING:
    from restorekit.evidence import Evidence
    from restorekit.model import VmModel
    from restorekit.request import RestoreRequest

NEW, DISK, OLR, ILR = "create-vm", "restore-disks", "replace-disks", "files"
#: Options that start a restore job with a staging location (the "ANY (staging)" rows).
STAGING = (NEW, DISK, OLR)
ANY = (NEW, DISK, OLR, ILR)

Severity = Literal["block", "warn"]
Coverage = Literal["implemented", "needs-live-data", "not-applicable"]
Modifier = Literal["crr", "csr", "czr"]

SCAN_HOW = ("plan from the disk images (a restore-disks folder or a recoverypoint.json with disks) "
            "so volumes are scanned")
TARGET_VM_HOW = "pass --target-vm with the output of `az vm show -d -g RG -n VM -o json` for the VM to replace"
STORAGE_HOW = "pass --storage-account with the output of `az storage account show -n ACCOUNT -o json`"


class NeedInput(Exception):
    """Raised by a condition when a fact it needs is not known."""

    def __init__(self, what: str, how: str) -> None:
        super().__init__(what)
        self.what = what
        self.how = how


Condition = Callable[["Ctx"], Any]


@dataclass(frozen=True)
class Rule:
    """One row of the rule table."""

    id: str
    options: tuple[str, ...]
    severity: Severity
    condition: Condition
    message: str
    source: str
    #: What the condition checks, in words (for the coverage table).
    when: str
    modifier: Modifier | None = None
    coverage: Coverage = "implemented"
    #: ``*`` rows: documents disagree across versions, implemented as warn.
    disputed: bool = False
    #: False for a restorekit check that no rule of ``spec/restore-rules.md`` covers: its findings carry
    #: ``"rule": null`` and this id as ``"check"``.
    cited: bool = True


@dataclass
class Ctx:
    """What a condition may read: the declared model, the request and the disk evidence."""

    model: VmModel
    request: RestoreRequest
    evidence: Evidence

    def need(self, name: str) -> Any:
        """The model fact ``name``; :class:`NeedInput` when unknown."""
        value = getattr(self.model, name)
        if value is None:
            raise NeedInput(_label(name), HOW[name])
        return value

    def yes(self, name: str) -> str | bool:
        """Fires (with what was seen) when the fact is true; unknown when not declared."""
        return f"{_label(name)}: yes" if self.need(name) else False

    def no(self, name: str) -> str | bool:
        """Fires when the fact is declared false."""
        return f"{_label(name)}: no" if self.need(name) is False else False

    def fact(self, key: str, what: str, command: str) -> Any:
        """A ``facts`` entry that only live Azure state can tell; :class:`NeedInput` naming the command."""
        value = self.model.facts.get(key)
        if value is None:
            raise NeedInput(what, f"check with {command} and pass it as --fact {key}=...")
        return value

    def scanned(self) -> None:
        """Require disk evidence."""
        if not self.evidence.scanned:
            raise NeedInput("disk evidence", SCAN_HOW)

    def target_vm(self) -> dict[str, Any]:
        """The ``--target-vm`` document."""
        if self.request.target_vm is None:
            raise NeedInput("the VM to replace", TARGET_VM_HOW)
        return self.request.target_vm

    def account(self) -> dict[str, Any]:
        """The ``--storage-account`` document."""
        if self.request.storage_account is None:
            raise NeedInput("the staging storage account", STORAGE_HOW)
        return self.request.storage_account

    @property
    def crr(self) -> bool:
        """Cross-region restore requested."""
        return self.request.use_secondary_region

    @property
    def csr(self) -> bool:
        """Cross-subscription restore requested: a target subscription other than the source's."""
        target = self.request.target_subscription_id
        if not target:
            return False
        source = self.model.subscription
        return source is None or target.lower() != source.lower()

    @property
    def czr(self) -> bool:
        """Cross-zone restore requested."""
        return self.request.target_zone is not None

    def modifier_active(self, modifier: Modifier | None) -> bool:
        """Whether the rule's modifier is part of this request."""
        return modifier is None or bool(getattr(self, modifier))


def _label(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def rule(rule_id: str, options: tuple[str, ...] | str, severity: Severity, when: str, message: str, source: str,
         condition: Condition, **extra: Any) -> Rule:
    """Build a :class:`Rule`; ``options`` may be one option name."""
    opts = (options,) if isinstance(options, str) else options
    return Rule(rule_id, opts, severity, condition, message, source, when, **extra)


def never(_ctx: Ctx) -> bool:
    """Condition of a rule that cannot be decided offline: it never fires."""
    return False
