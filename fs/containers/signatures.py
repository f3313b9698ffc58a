"""How each container format is recognised: the checks the scan runs on every volume.

Kept apart from the format modules so that detection imports none of them (see :mod:`restorekit.fs.registry`):
a disk with no BitLocker, LUKS, LVM, md, Storage Spaces or LDM volume pays for none of their parsers. Each check
takes the volume and its partition table's kind (``lvm``, ``ldm-data``, ...) and reads a few sectors at most;
the format modules import the magics and locators they share with it.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from restorekit.fs.registry import has_signature

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

SECTOR = 512

#: BitLocker: the ``-FVE-FS-`` OEM id of the volume's boot sector; a BitLocker To Go volume instead carries a FAT
#: boot sector (``MSWIN4.1``) and this GUID at :data:`TO_GO_GUID_AT`.
BITLOCKER_SIGNATURE = b"-FVE-FS-"
BITLOCKER_GUID = bytes.fromhex("3bd66749292ed84a8399f6a339e3d001")
TO_GO_GUID_AT = 424
LUKS_MAGIC = b"LUKS\xba\xbe"
MD_MAGIC = 0xA92B4EFC
SPACES_HEADER = b"SPACEDB "
LDM_KINDS = frozenset({"ldm-data", "ldm-metadata"})


def bitlocker(stream: Stream, partition_kind: str | None = None) -> bool:
    """A BitLocker volume, or a BitLocker To Go one."""
    if has_signature(stream, ((BITLOCKER_SIGNATURE, 3),)):
        return True
    return (stream.size >= 512 and stream.pread(8, 3) == b"MSWIN4.1"
            and stream.pread(16, TO_GO_GUID_AT) == BITLOCKER_GUID)


def luks(stream: Stream, partition_kind: str | None = None) -> bool:
    """A LUKS1 or LUKS2 header at the start."""
    return has_signature(stream, ((LUKS_MAGIC, 0),))


def lvm_label(stream: Stream) -> tuple[int, bytes] | None:
    """(sector, raw sector) of the LVM2 label in the first four sectors, or None."""
    head = stream.pread(4 * SECTOR, 0)
    for sector in range(4):
        raw = head[sector * SECTOR : (sector + 1) * SECTOR]
        if raw[:8] == b"LABELONE" and raw[24:32] == b"LVM2 001":
            return sector, raw
    return None


def lvm2(stream: Stream, partition_kind: str | None = None) -> bool:
    """An LVM2 physical volume: its label in one of the first four sectors."""
    return stream.size >= 4 * SECTOR and lvm_label(stream) is not None


def md_locations(size: int) -> list[tuple[str, int]]:
    """Where each md superblock version would be on a member of ``size`` bytes."""
    out = [("1.1", 0), ("1.2", 4096)]
    sectors = size // SECTOR
    if sectors > 16:
        out.append(("1.0", ((sectors - 16) & ~7) * SECTOR))
    if size >= 128 << 10:
        out.append(("0.90", (size & ~0xFFFF) - 0x10000))
    return out


def md_superblock(stream: Stream) -> tuple[str, int] | None:
    """(version, offset) of the md superblock on ``stream``, or None."""
    for version, at in md_locations(stream.size):
        if at + 4 <= stream.size and struct.unpack("<I", stream.pread(4, at))[0] == MD_MAGIC:
            return version, at
    return None


def mdraid(stream: Stream, partition_kind: str | None = None) -> bool:
    """A Linux md RAID member: a superblock at one of the places its versions put it."""
    return md_superblock(stream) is not None


def storage_spaces(stream: Stream, partition_kind: str | None = None) -> bool:
    """A Storage Spaces partition (by its GPT type), or a volume starting with the pool header."""
    return partition_kind == "storage-spaces" or has_signature(stream, ((SPACES_HEADER, 0),))


def ldm(stream: Stream, partition_kind: str | None = None) -> bool:
    """A dynamic disk's LDM partition: known by the partition table alone."""
    return partition_kind in LDM_KINDS
