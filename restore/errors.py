"""Errors of the restore planner.

They join the one hierarchy of :mod:`restorekit.fs.errors` (so the CLI turns them into ``Error: …`` and exit 1)::

    RestoreKitError
    ├── PlanError       a plan request cannot be read: a --target-vm / --storage-account file that is
    │                   missing or not the JSON ``az`` prints, a LUN list that is not numbers, ...
    └── TemplateError   no deployment template can be built from this recovery point (no LUN map, OS
                        type unknown, a VM type the template cannot recreate), or a template fails its checks
"""

from __future__ import annotations

from restorekit.fs.errors import RestoreKitError


class PlanError(RestoreKitError):
    """A restore-plan request is malformed; the message names the flag or file and how to fix it."""


class TemplateError(RestoreKitError):
    """A disk-restore template cannot be built; the message says which fact is missing and how to supply it."""


__all__ = ["PlanError", "TemplateError"]
