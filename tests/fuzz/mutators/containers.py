"""Container layouts: LVM2 (label, PV header, metadata area and its text), mdadm 1.x superblocks, LUKS1 and
LUKS2 (binary headers and the LUKS2 JSON area, checksum fixed up), BitLocker (volume header, FVE metadata blocks
and entries), LDM (PRIVHEAD, TOCBLOCK, VMDB, VBLK records) and Storage Spaces (SPACEDB, SDBC)."""

from __future__ import annotations

import re

from tests.fuzz.layout import Layout, read_int

LVM_LABEL = [(8, 8, "sector"), (20, 4, "offset")]
LVM_MDA = [(24, 8, "start"), (32, 8, "size"), (40, 8, "locn.offset"), (48, 8, "locn.size"), (56, 4, "locn.crc")]
MD_SUPER = [(4, 4, "majorVersion"), (8, 4, "featureMap"), (72, 4, "level"), (76, 4, "layout"), (80, 8, "size"),
            (88, 4, "chunkSize"), (92, 4, "raidDisks"), (128, 8, "dataOffset"), (136, 8, "dataSize"),
            (144, 8, "superOffset"), (160, 4, "devNumber"), (220, 4, "maxDev"), (256, 2, "role[0]"),
            (258, 2, "role[1]")]
LUKS1 = [(6, 2, "version"), (104, 4, "payloadOffset"), (108, 4, "keyBytes"), (164, 4, "mkIterations")]
LUKS1_SLOT = [(0, 4, "active"), (4, 4, "iterations"), (40, 4, "keyMaterialOffset"), (44, 4, "stripes")]
LUKS2 = [(6, 2, "version"), (8, 8, "headerSize"), (16, 8, "sequenceId"), (256, 8, "headerOffset")]
BDE_BLOCK = [(8, 2, "size"), (10, 2, "version"), (16, 8, "encryptedSize"), (28, 4, "headerSectors"),
             (32, 8, "metadata[0]"), (40, 8, "metadata[1]"), (48, 8, "metadata[2]"), (56, 8, "volumeHeader")]
BDE_HEADER = [(0, 4, "metadataSize"), (4, 4, "version"), (8, 4, "headerSize"), (12, 4, "copySize"),
              (36, 2, "encryptionMethod")]
BDE_ENTRY = [(0, 2, "entrySize"), (2, 2, "entryType"), (4, 2, "valueType"), (6, 2, "version")]
LDM_PRIVHEAD = [(12, 2, "major"), (14, 2, "minor"), (0x11B, 8, "logicalStart"), (0x123, 8, "logicalSize"),
                (0x12B, 8, "configStart"), (0x133, 8, "configSize"), (0x13B, 8, "tocCount"), (0x143, 8, "tocSize"),
                (0x14B, 4, "configCount"), (0x14F, 4, "logCount")]
LDM_VMDB = [(4, 4, "lastSlot"), (8, 4, "slotSize"), (12, 4, "firstSlot"), (0x75, 8, "committed"),
            (0x85, 4, "volumes"), (0x89, 4, "components"), (0x8D, 4, "partitions"), (0x91, 4, "disks")]
LDM_VBLK = [(8, 4, "record"), (12, 2, "fragment"), (14, 2, "fragments"), (18, 1, "flags"), (19, 1, "type"),
            (20, 4, "length"), (24, 1, "idLength"), (26, 1, "nameLength")]
NUMBER = re.compile(rb"\d+")
NAME = re.compile(rb'"[^"\n]{1,64}"')


def _text_specials(layout: Layout, data: bytes, start: int, end: int, what: str) -> None:
    """Numbers in a text area made huge or zero, names made hostile, braces broken (same length each)."""
    text = data[start:end]
    for match in list(NUMBER.finditer(text))[:150]:
        span = len(match.group())
        layout.special(start + match.start(), b"9" * span, f"{what} number -> 9s")
        layout.special(start + match.start(), b"0" * span, f"{what} number -> 0")
    for match in list(NAME.finditer(text))[:60]:
        inner = len(match.group()) - 2
        layout.special(start + match.start() + 1, (b"../" * inner)[:inner], f"{what} name climbs out")
    for match in list(re.finditer(rb"[\[\]{}]", text))[:60]:
        layout.special(start + match.start(), b"[" if match.group() != b"[" else b"{", f"{what} bracket swapped")


def lvm(layout: Layout, data: bytes, base: int, size: int) -> bool:
    for sector in range(4):
        label = base + sector * 512
        if data[label:label + 8] == b"LABELONE":
            break
    else:
        return False
    layout.region(label, 512, "lvm.label")
    layout.ints(label, LVM_LABEL)
    header = label + read_int(data, label + 20, 4)
    layout.region(header, 512, "lvm.pvHeader")
    pos, areas = header + 40, []
    layout.ints(header, [(32, 8, "deviceSize")])
    while pos + 16 <= header + 512 and len(areas) < 8:
        offset, length = read_int(data, pos, 8), read_int(data, pos + 8, 8)
        layout.ints(pos, [(0, 8, "area.offset"), (8, 8, "area.size")])
        pos += 16
        if offset == 0 and length == 0:
            if areas and areas[-1] is None:
                break
            areas.append(None)
            continue
        areas.append((offset, length))
    for area in areas[areas.index(None) + 1:] if None in areas else []:
        if area is None:
            continue
        mda = base + area[0]
        layout.region(mda, 512, "lvm.mdaHeader")
        layout.ints(mda, LVM_MDA)
        text, text_size = mda + read_int(data, mda + 40, 8), read_int(data, mda + 48, 8)
        layout.region(text, text_size, "lvm.metadataText")
        _text_specials(layout, data, text, min(text + text_size, len(data)), "LVM metadata")
    return True


def md(layout: Layout, data: bytes, base: int, size: int) -> bool:
    for at in (base + 4096, base, base + size - 8192):
        if read_int(data, at, 4) == 0xA92B4EFC and read_int(data, at + 4, 4) == 1:
            layout.region(at, 512, "md.superblock")
            layout.ints(at, MD_SUPER)
            layout.fixup("md1", at)
            return True
    return False


def luks(layout: Layout, data: bytes, base: int, size: int) -> bool:
    if data[base:base + 6] != b"LUKS\xba\xbe":
        return False
    if read_int(data, base + 6, 2, big_endian=True) == 1:
        layout.region(base, 592, "luks1.header")
        layout.ints(base, LUKS1, big_endian=True)
        for slot in range(8):
            layout.ints(base + 208 + 48 * slot, LUKS1_SLOT, big_endian=True)
        layout.special(base + 40, b"ecb\0", "cipher mode ecb")
        layout.special(base + 72, b"md5\0", "hash md5")
        return True
    header_size = read_int(data, base + 8, 8, big_endian=True)
    for at in (base, base + header_size):
        if data[at:at + 4] != b"LUKS" and data[at:at + 4] != b"SKUL":
            continue
        layout.region(at, 512, "luks2.binaryHeader")
        layout.ints(at, LUKS2, big_endian=True)
        json_end = data.find(b"\0", at + 4096, at + header_size)
        layout.region(at + 4096, max(json_end - at - 4096, 1), "luks2.json")
        _text_specials(layout, data, at + 4096, json_end if json_end > 0 else at + 4096, "LUKS2 JSON")
        layout.fixup("luks2", at)
    return True


def bitlocker(layout: Layout, data: bytes, base: int, size: int) -> bool:
    if data[base + 3:base + 11] != b"-FVE-FS-":
        return False
    layout.region(base, 512, "bitlocker.volumeHeader")
    layout.ints(base, [(11, 2, "bytesPerSector"), (13, 1, "sectorsPerCluster"), (176, 8, "metadata[0]"),
                       (184, 8, "metadata[1]"), (192, 8, "metadata[2]")])
    for i in range(3):
        block = base + read_int(data, base + 176 + 8 * i, 8)
        if data[block:block + 8] != b"-FVE-FS-":
            continue
        layout.region(block, 64, "bitlocker.metadataBlock")
        layout.ints(block, BDE_BLOCK)
        header = block + 64
        layout.ints(header, BDE_HEADER)
        end = header + min(read_int(data, header, 4), 1 << 16)
        entry = header + 48
        while entry + 8 <= end:
            length = read_int(data, entry, 2)
            layout.region(entry, max(length, 8), "bitlocker.entry")
            layout.ints(entry, BDE_ENTRY)
            if length < 8:
                break
            entry += length
    return True


def ldm(layout: Layout, data: bytes, base: int, size: int) -> None:
    """LDM: the PRIVHEAD (sector 6 of an MBR disk, the end of the GPT "LDM metadata" partition), the database's
    TOCBLOCK and VMDB, and the VBLK slots that hold records (fragment numbers, counts, record lengths)."""
    privhead = base + 6 * 512
    if data[privhead:privhead + 8] != b"PRIVHEAD":
        privhead = data.find(b"PRIVHEAD", base, base + size)
        if privhead < 0 or (privhead - base) % 512:
            return
    layout.region(privhead, 512, "ldm.privhead")
    layout.ints(privhead, LDM_PRIVHEAD, big_endian=True)
    config = base + read_int(data, privhead + 0x12B, 8, big_endian=True) * 512
    for magic in (b"TOCBLOCK", b"VMDB"):
        at = data.find(magic, config, config + (1 << 20))
        if at >= 0:
            layout.region(at, 512, f"ldm.{magic.decode().lower()}")
    toc = data.find(b"TOCBLOCK", config, config + (1 << 20))
    if toc >= 0:
        layout.ints(toc, [(0x2E, 8, "configStart"), (0x36, 8, "configSize"), (0x50, 8, "logStart")], big_endian=True)
    vmdb = data.find(b"VMDB", config, config + (1 << 20))
    if vmdb < 0:
        return
    layout.ints(vmdb, LDM_VMDB, big_endian=True)
    slot_size = read_int(data, vmdb + 8, 4, big_endian=True)
    if not 32 <= slot_size <= 512:
        return
    used = 0
    for at in range(vmdb + 512, min(vmdb + (1 << 20), len(data) - slot_size), slot_size):
        if data[at:at + 4] != b"VBLK" or not read_int(data, at + 8, 4, big_endian=True):
            continue
        layout.region(at, slot_size, "ldm.vblk")
        layout.ints(at, LDM_VBLK, big_endian=True)
        layout.special(at + 12, b"\0\0", "ldm vblk fragment 0 again")
        used += 1
        if used == 48:
            return


def spaces(layout: Layout, data: bytes, base: int, size: int) -> bool:
    if data[base:base + 8] != b"SPACEDB ":
        return False
    layout.region(base, 512, "spaces.spacedb")
    layout.ints(base, [(8, 2, "version"), (10, 2, "flags"), (16, 8, "u64"), (24, 8, "u64")], big_endian=True)
    layout.region(base + 0x1000, 512, "spaces.sdbc")
    layout.ints(base + 0x1000, [(8, 4, "u32"), (12, 4, "u32"), (16, 8, "u64")], big_endian=True)
    return True
