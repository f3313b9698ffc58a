"""Container formats, one module each, and their registries.

Each format is detected by its signature (:mod:`restorekit.fs.containers.signatures`); its module, and the base
classes of :mod:`restorekit.fs.container`, are imported only when one is found (:mod:`restorekit.fs.registry`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.fs.containers import signatures
from restorekit.fs.registry import LazyFormat

if TYPE_CHECKING:
    from restorekit.fs.container import Encryption, Pool

#: Encryption formats in detection order.
ENCRYPTIONS: list[LazyFormat[Encryption]] = [
    LazyFormat("bitlocker", signatures.bitlocker, "restorekit.fs.containers.bitlocker:BitlockerEncryption"),
    LazyFormat("luks", signatures.luks, "restorekit.fs.containers.luks:LuksEncryption"),
]
#: Pool formats in detection order. mdraid comes first: a RAID1 member also shows its contents (an LVM label,
#: a file system) at the data offset, and the member must be claimed by the array, not by what it mirrors.
POOLS: list[LazyFormat[Pool]] = [
    LazyFormat("mdraid", signatures.mdraid, "restorekit.fs.containers.mdraid:MdraidPool"),
    LazyFormat("lvm2", signatures.lvm2, "restorekit.fs.containers.lvm2:Lvm2Pool"),
    LazyFormat("storage-spaces", signatures.storage_spaces,
               "restorekit.fs.containers.storage_spaces:StorageSpacesPool"),
    LazyFormat("ldm", signatures.ldm, "restorekit.fs.containers.ldm:LdmPool"),
]
