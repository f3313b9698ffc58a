"""VHD (footer, dynamic header, BAT, parent locators, block bitmaps) and VHDX (file identifier, headers, region
tables, metadata, BAT, log) layouts. VHD is big-endian, VHDX little-endian; both checksums are fixed up."""

from __future__ import annotations

import struct
import uuid

from tests.fuzz.layout import Layout, read_int

VHD_FOOTER = [(8, 4, "features"), (12, 4, "version"), (16, 8, "dataOffset"), (40, 8, "originalSize"),
              (48, 8, "currentSize"), (56, 2, "cylinders"), (58, 1, "heads"), (59, 1, "sectorsPerTrack"),
              (60, 4, "diskType"), (84, 1, "savedState")]
VHD_DYNAMIC = [(8, 8, "dataOffset"), (16, 8, "tableOffset"), (24, 4, "headerVersion"), (28, 4, "maxTableEntries"),
               (32, 4, "blockSize"), (56, 4, "parentTimestamp")]
VHD_LOCATOR = [(0, 4, "platformCode"), (4, 4, "dataSpace"), (8, 4, "dataLength"), (16, 8, "dataOffset")]

VHDX_HEADER = [(8, 8, "sequenceNumber"), (64, 2, "logVersion"), (66, 2, "version"), (68, 4, "logLength"),
               (72, 8, "logOffset")]
VHDX_REGION_ENTRY = [(16, 8, "fileOffset"), (24, 4, "length"), (28, 4, "required")]
VHDX_BAT = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08").bytes_le
VHDX_METADATA = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
VHDX_LOG_ENTRY = [(8, 4, "entryLength"), (12, 4, "tail"), (16, 8, "sequenceNumber"), (24, 4, "descriptorCount"),
                  (48, 8, "flushedFileOffset"), (56, 8, "lastFileOffset")]
VHDX_DESCRIPTOR = [(4, 4, "trailingBytes"), (8, 8, "leadingBytes"), (16, 8, "fileOffset"), (24, 8, "sequence")]
KiB = 1024


def vhd(layout: Layout, data: bytes) -> int | None:
    """None if ``data`` is no VHD; else the size of its raw payload (fixed VHD) or 0 (dynamic, differencing)."""
    end = len(data) - 512
    if end < 0 or data[end:end + 8] != b"conectix":
        return None
    for at in {0, end} if data[:8] == b"conectix" else {end}:
        layout.region(at, 512, "vhd.footer")
        layout.ints(at, VHD_FOOTER, big_endian=True)
        layout.fixup("vhd", at)
    if read_int(data, end + 60, 4, big_endian=True) == 2:
        return end
    header = read_int(data, end + 16, 8, big_endian=True)
    if data[header:header + 8] != b"cxsparse":
        return 0
    layout.region(header, 1024, "vhd.dynamicHeader")
    layout.ints(header, VHD_DYNAMIC, big_endian=True)
    layout.fixup("vhd", header)
    layout.special(header + 64, "..\\..\\etc\\passwd".encode("utf-16-be"), "parent name climbs out")
    for i in range(8):
        entry = header + 576 + 24 * i
        layout.ints(entry, VHD_LOCATOR, big_endian=True)
        where, length = read_int(data, entry + 16, 8, big_endian=True), read_int(data, entry + 8, 4, big_endian=True)
        if where and length:
            layout.region(where, length, "vhd.parentLocator")
            own = "child-self.vhd".encode("utf-16-le")
            layout.special(where, own + bytes(max(0, length - len(own))), "locator names a missing parent")
            layout.special(entry + 8, struct.pack(">I", 0xFFFFFFF0), "locator length huge")
    table = read_int(data, header + 16, 8, big_endian=True)
    entries = read_int(data, header + 28, 4, big_endian=True)
    block = read_int(data, header + 32, 4, big_endian=True)
    layout.region(table, entries * 4, "vhd.bat")
    layout.ints(table, [(4 * i, 4, f"bat[{i}]") for i in range(min(entries, 64))], big_endian=True)
    sectors = [read_int(data, table + 4 * i, 4, big_endian=True) for i in range(min(entries, 4096))]
    used = [s for s in sectors if s != 0xFFFFFFFF]
    for i, sector in enumerate(sectors):
        if sector == 0xFFFFFFFF:
            continue
        layout.region(sector * 512, 512, "vhd.blockBitmap")
        if used:
            layout.special(table + 4 * i, struct.pack(">I", used[0]), "two BAT entries share a block")
        layout.special(table + 4 * i, struct.pack(">I", table // 512), "BAT entry points at the BAT")
        layout.special(table + 4 * i, struct.pack(">I", end // 512), "BAT entry points at the footer")
        if len(layout.specials) > 200 or block == 0:
            break
    return 0


def vhdx(layout: Layout, data: bytes) -> bool:
    if data[:8] != b"vhdxfile":
        return False
    layout.region(0, 512, "vhdx.fileIdentifier")
    for at in (64 * KiB, 128 * KiB):
        layout.region(at, 4 * KiB, "vhdx.header")
        layout.ints(at, VHDX_HEADER)
        layout.fixup("vhdx", at)
        if data[at:at + 4] == b"head":
            _log(layout, data, read_int(data, at + 72, 8), read_int(data, at + 68, 4))
    for at in (192 * KiB, 256 * KiB):
        layout.region(at, 64 * KiB, "vhdx.regionTable")
        count = min(read_int(data, at + 8, 4), 16)
        layout.ints(at, [(8, 4, "entryCount")])
        for i in range(count):
            entry = at + 16 + 32 * i
            layout.ints(entry, VHDX_REGION_ENTRY)
            guid, where, length = data[entry:entry + 16], read_int(data, entry + 16, 8), read_int(data, entry + 24, 4)
            if at == 192 * KiB and guid == VHDX_BAT:
                layout.region(where, min(length, 64 * KiB), "vhdx.bat")
                layout.ints(where, [(8 * j, 8, f"bat[{j}]") for j in range(64)])
                layout.special(where + 8, struct.pack("<Q", 6 | (1 << 20)), "BAT entry points at the headers")
                layout.special(where + 8, data[where:where + 8], "two BAT entries share a block")
            elif at == 192 * KiB and guid == VHDX_METADATA:
                _metadata(layout, data, where)
        layout.fixup("vhdx", at)
    return True


def _metadata(layout: Layout, data: bytes, at: int) -> None:
    layout.region(at, 64 * KiB, "vhdx.metadataTable")
    layout.ints(at, [(10, 2, "entryCount")])
    for i in range(min(read_int(data, at + 10, 2), 32)):
        entry = at + 32 + 32 * i
        layout.ints(entry, [(16, 4, "itemOffset"), (20, 4, "itemLength"), (24, 4, "flags")])
        item, length = at + read_int(data, entry + 16, 4), read_int(data, entry + 20, 4)
        layout.region(item, max(length, 8), "vhdx.metadataItem")
        layout.ints(item, [(0, 4, "item.u32"), (4, 4, "item.u32b")] if length < 8 else [(0, 8, "item.u64")])
        if length >= 20:  # the parent locator: its key/value count and entries (offsets and lengths)
            layout.ints(item, [(18, 2, "keyValueCount")])
            for k in range(4):
                layout.ints(item + 20 + 12 * k, [(0, 4, "keyOffset"), (4, 4, "valueOffset"), (8, 2, "keyLength"),
                                                 (10, 2, "valueLength")])


def _log(layout: Layout, data: bytes, at: int, length: int) -> None:
    if not at or data[at:at + 4] != b"loge":
        return
    layout.region(at, min(length, 64 * KiB), "vhdx.log")
    layout.ints(at, VHDX_LOG_ENTRY)
    for i in range(min(read_int(data, at + 24, 4), 8)):
        layout.ints(at + 64 + 32 * i, VHDX_DESCRIPTOR)
    layout.fixup("vhdx", at)
