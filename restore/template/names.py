"""Names the template gives new resources, made valid for Azure from names the source VM had.

Managed disk names: 1-80 characters of ``A-Z a-z 0-9 _ -``. VM names: at most 64 characters (15 for Windows,
whose computer name defaults to it), no ``_`` or ``.``, not ending in ``-``.
"""

from __future__ import annotations

import re

DISK_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
DISK_NAME_MAX = 80
VM_NAME_MAX = {"Windows": 15, "Linux": 64}
RESTORED = "-restored"


def disk_name(base: str, suffix: str) -> str:
    """``<base><suffix>`` with every other character made ``-``, cut so the whole is at most 80 characters."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "-", base).strip("-") or "vm"
    return clean[:DISK_NAME_MAX - len(suffix)] + suffix


def vm_name(source: str | None, asked: str | None, os_type: str) -> str:
    """The new VM's name: ``--target-vm-name`` as given, else the source name plus ``-restored`` (or ``-r``)."""
    if asked:
        return asked
    limit = VM_NAME_MAX[os_type]
    clean = re.sub(r"[^A-Za-z0-9-]", "-", source or "vm").strip("-") or "vm"
    for suffix in (RESTORED, "-r"):
        if len(clean) + len(suffix) <= limit:
            return clean + suffix
    return clean[:limit - 2].rstrip("-") + "-r"
