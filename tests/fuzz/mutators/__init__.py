"""Format-aware layouts of seed files: which bytes are a format's structures, and how to break them nastily.

:func:`layout_for` recognises an image (VHD, VHDX) or a raw disk or volume and descends: partition tables
(MBR/EBR, GPT), then in each partition the file systems (NTFS, ext, FAT, XFS) and containers (LVM2, mdadm,
LUKS, BitLocker, LDM, Storage Spaces) by their magic numbers.
"""

from __future__ import annotations

from tests.fuzz.layout import Layout, name_specials
from tests.fuzz.mutators import containers, filesystems, images, partitions

VOLUME_PROBES = (containers.bitlocker, containers.luks, filesystems.ntfs, filesystems.fat, filesystems.ext,
                 filesystems.xfs, containers.lvm, containers.md, containers.spaces)


def volume(layout: Layout, data: bytes, base: int, size: int) -> None:
    """Structures of whatever volume starts at ``base``; each probe returns whether it recognised one."""
    for probe in VOLUME_PROBES:
        if probe(layout, data, base, size):
            return


def disk(layout: Layout, data: bytes, base: int, size: int) -> None:
    """A partitioned disk (its tables, then each partition's volume) or a bare volume."""
    parts = partitions.table(layout, data, base, size)
    containers.ldm(layout, data, base, size)
    for start, length in parts:
        volume(layout, data, base + start, length)
    if not parts:
        volume(layout, data, base, size)


def layout_for(file: str, data: bytes, names: list[str]) -> Layout:
    """Everything known about one seed file; ``names`` are the file names its file systems hold."""
    layout = Layout(file, len(data))
    if images.vhdx(layout, data):
        pass  # a VHDX's payload blocks are not at their virtual offsets: its own structures only
    elif (payload := images.vhd(layout, data)) is None:
        disk(layout, data, 0, len(data))
    elif payload:  # a fixed VHD: the disk's bytes, then the footer
        disk(layout, data, 0, payload)
    name_specials(layout, data, names)
    return layout
