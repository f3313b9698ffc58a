"""MBR (with its EBR chain) and GPT (headers and entries, CRCs fixed up) layouts."""

from __future__ import annotations

import struct

from tests.fuzz.layout import Layout, read_int

MBR_ENTRY = [(0, 1, "status"), (4, 1, "type"), (8, 4, "firstLba"), (12, 4, "sectors")]
GPT_HEADER = [(8, 4, "revision"), (12, 4, "headerSize"), (24, 8, "myLba"), (32, 8, "alternateLba"),
              (40, 8, "firstUsable"), (48, 8, "lastUsable"), (72, 8, "entriesLba"), (80, 4, "entryCount"),
              (84, 4, "entrySize")]
GPT_ENTRY = [(32, 8, "firstLba"), (40, 8, "lastLba"), (48, 8, "attributes")]
EXTENDED = {0x05, 0x0F, 0x85}


def table(layout: Layout, data: bytes, base: int, size: int) -> list[tuple[int, int]]:
    """The partitions (offset from ``base``, length) of the table at ``base``, its structures noted."""
    if data[base + 510:base + 512] != b"\x55\xaa" or data[base + 3:base + 11] in (b"NTFS    ", b"-FVE-FS-"):
        return []
    entries = [(data[base + 446 + 16 * i + 4], read_int(data, base + 454 + 16 * i, 4),
                read_int(data, base + 458 + 16 * i, 4)) for i in range(4)]
    if not any(kind for kind, _, _ in entries) or any(first * 512 > size for _, first, _ in entries):
        return []  # a boot sector (FAT) rather than a partition table
    layout.region(base + 446, 66, "mbr")
    for i in range(4):
        layout.ints(base + 446 + 16 * i, MBR_ENTRY)
    layout.special(base + 446 + 16 + 8, data[base + 446 + 8:base + 446 + 16], "two MBR entries overlap")
    if any(kind == 0xEE for kind, _, _ in entries):
        return _gpt(layout, data, base, size)
    parts = []
    for kind, first, count in entries:
        if kind in EXTENDED:
            parts += _ebr_chain(layout, data, base, first)
        elif kind:
            parts.append((first * 512, count * 512))
    return parts


def _ebr_chain(layout: Layout, data: bytes, base: int, extended: int) -> list[tuple[int, int]]:
    parts, link, seen = [], 0, set()
    while link not in seen and len(seen) < 64:
        seen.add(link)
        ebr = base + (extended + link) * 512
        if data[ebr + 510:ebr + 512] != b"\x55\xaa":
            break
        layout.region(ebr + 446, 32, "ebr")
        layout.ints(ebr + 446, MBR_ENTRY)
        layout.ints(ebr + 462, MBR_ENTRY)
        layout.special(ebr + 462 + 8, struct.pack("<I", 0), "EBR links back to the first EBR (cycle)")
        layout.special(ebr + 462 + 8, struct.pack("<I", link), "EBR links to itself (cycle)")
        first, count = read_int(data, ebr + 454, 4), read_int(data, ebr + 458, 4)
        if first:
            parts.append(((extended + link + first) * 512, count * 512))
        link = read_int(data, ebr + 470, 4)
        if not link:
            break
    return parts


def _gpt(layout: Layout, data: bytes, base: int, size: int) -> list[tuple[int, int]]:
    header = base + 512
    if data[header:header + 8] != b"EFI PART":
        return []
    entries_lba, count, entry_size = (read_int(data, header + 72, 8), read_int(data, header + 80, 4),
                                      read_int(data, header + 84, 4))
    backup = base + read_int(data, header + 32, 8) * 512
    for at in (header, backup):
        layout.region(at, 92, "gpt.header")
        layout.ints(at, GPT_HEADER)
    start = base + entries_lba * 512
    parts = []
    for i in range(min(count, 128)):
        entry = start + i * entry_size
        if not any(data[entry:entry + 16]):
            continue
        layout.region(entry, entry_size, "gpt.entry")
        layout.ints(entry, GPT_ENTRY)
        first, last = read_int(data, entry + 32, 8), read_int(data, entry + 40, 8)
        layout.special(entry + 40, struct.pack("<Q", max(first - 1, 0)), "partition ends before it starts")
        layout.special(entry + 40, struct.pack("<Q", (1 << 63) - 1), "partition ends past the disk")
        layout.special(entry + 56, ("x/" * 36).encode("utf-16-le"), "partition name with '/'")
        if first and last >= first:
            parts.append((first * 512, (last - first + 1) * 512))
    if parts:
        layout.special(start + entry_size + 32, data[start + 32:start + 48], "two GPT partitions overlap")
    layout.fixup("gpt", header)
    if backup + 512 <= base + size:
        layout.fixup("gpt", backup)
    return parts
