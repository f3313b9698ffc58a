"""Restore planning and file recovery for VM recovery points, offline.

The public API (``docs/api.md``)::

    import restorekit

    with restorekit.open("fixtures/demo", keys=restorekit.Keys(passwords=["..."])) as rp:
        ...

:func:`open` returns a :class:`Session` (:mod:`restorekit.api`); :class:`Keys` and :func:`read_keychain` are
:mod:`restorekit.fs.keys`'s; every error is a :class:`RestoreKitError` (:mod:`restorekit.fs.errors`). They are
imported when first used, so ``import restorekit`` (and every CLI command) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from restorekit.api import Session, TemplateResult, open
    from restorekit.fs.errors import RestoreKitError
    from restorekit.fs.keys import Keys, read_keychain

#: Each public name and the module that defines it.
_EXPORTS = {
    "open": "restorekit.api", "Session": "restorekit.api", "TemplateResult": "restorekit.api",
    "Keys": "restorekit.fs.keys", "read_keychain": "restorekit.fs.keys",
    "RestoreKitError": "restorekit.fs.errors",
}

__all__ = ["Keys", "RestoreKitError", "Session", "TemplateResult", "open", "read_keychain"]


def __getattr__(name: str) -> Any:
    """The public names, imported on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'restorekit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
