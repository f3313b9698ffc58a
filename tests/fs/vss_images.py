"""Small synthesized volumes with Volume Shadow Copy metadata, for the layouts no real test image has
(forwarders, the reverse list, not-used descriptors, bitmaps of the newest store) and for damaged catalogs.

The bytes follow libyal's "Volume Shadow Snapshot (VSS) format" notes; libvshadow (pyvshadow) reads every one
of them, so the tests compare restorekit's reading with it block by block.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

VSS_ID = uuid.UUID("3808876b-c176-4e48-b7ae-04046e6cc752").bytes_le
BLOCK = 0x4000
FORWARDER, OVERLAY, NOT_USED = 0x1, 0x2, 0x4
#: Where the catalog block lies (block number).
CATALOG_BLOCK = 8


@dataclass
class Store:
    """One store: its descriptors ``(original, relative, data, flags, bitmap)`` as block numbers (the bitmap of
    an overlay in sectors), and the blocks its bitmap marks unused."""

    descriptors: list[tuple[int, int, int, int, int]]
    unused: set[int] = field(default_factory=set)
    flags: int = 0x40
    created: int = 132400000000000000  # FILETIME, 2020-07-26


def _block_header(record: int, relative: int, current: int, next_offset: int) -> bytes:
    return (VSS_ID + struct.pack("<IIQQQ", 1, record, relative, current, next_offset)).ljust(128, b"\0")


def fill(block: int, tag: int) -> bytes:
    """16 KiB whose every sector says which block and which version it is (tag 0 = the live volume)."""
    return b"".join(struct.pack("<IIII", block, tag, sector, 0xA5A5A5A5) * 32 for sector in range(32))


def build(stores: list[Store], blocks: int = 256) -> bytearray:
    """A volume of ``blocks`` 16 KiB blocks with the VSS header, a one-block catalog and ``stores`` (oldest
    first); each store's metadata takes 4 blocks from block 16 + 4 × index. Every other block holds
    :func:`fill` (tag 0 for the live volume); store data blocks are filled by the caller."""
    image = bytearray()
    for block in range(blocks):
        image += fill(block, 0)
    # An NTFS boot sector's geometry (libvshadow reads the volume size from it), also as its backup at the end.
    boot = bytearray(512)
    boot[3:11] = b"NTFS    "
    struct.pack_into("<HB", boot, 0x0B, 512, 8)
    struct.pack_into("<QQQbxxxb", boot, 0x28, blocks * BLOCK // 512 - 1, 4, 8, -10, 1)  # MFT, MFT mirror, record
    boot[510:512] = b"\x55\xaa"
    image[0:512] = boot
    image[-512:] = boot
    header = VSS_ID + struct.pack("<IIQQQQQ", 1, 1, 0x1E00, 0x1E00, 0, CATALOG_BLOCK * BLOCK, 0)
    volume_id = uuid.UUID("11111111-2222-3333-4444-555555555555").bytes_le
    image[0x1E00 : 0x2000] = (header + volume_id + volume_id).ljust(512, b"\0")
    catalog = bytearray(_block_header(2, 0, CATALOG_BLOCK * BLOCK, 0).ljust(BLOCK, b"\0"))
    for index, store in enumerate(stores):
        store_id = uuid.UUID(int=0x1000 + index).bytes_le
        first = (16 + 4 * index) * BLOCK
        head, block_list, ranges, bitmap = first, first + BLOCK, first + 2 * BLOCK, first + 3 * BLOCK
        entry2 = struct.pack("<QQ16sQQQ", 2, blocks * BLOCK, store_id, index + 1, store.flags,
                             store.created + index * 10**7)
        entry3 = struct.pack("<QQ16sQQQQQQQ", 3, block_list, store_id, head, ranges, bitmap, 0, 0, 0, index)
        pos = 128 + 2 * index * 128
        catalog[pos : pos + 128] = entry2.ljust(128, b"\0")
        catalog[pos + 128 : pos + 256] = entry3.ljust(128, b"\0")
        info = uuid.UUID(int=0xA).bytes_le + uuid.UUID(int=0xB0 + index).bytes_le + uuid.UUID(int=0xC).bytes_le
        info += struct.pack("<IIIIH", 0xD, 2, 0x42000D, 0, 0) + struct.pack("<H", 0)
        image[head : head + BLOCK] = (_block_header(4, 0, head, 0)[:48] + struct.pack("<Q", len(info))
                                      ).ljust(128, b"\0") + info.ljust(BLOCK - 128, b"\0")
        descriptors = b"".join(struct.pack("<QQQII", o * BLOCK, r * BLOCK, d * BLOCK, f, b)
                               for o, r, d, f, b in store.descriptors)
        image[block_list : block_list + BLOCK] = (_block_header(3, BLOCK, block_list, 0) + descriptors).ljust(
            BLOCK, b"\0")
        image[ranges : ranges + BLOCK] = _block_header(5, 2 * BLOCK, ranges, 0).ljust(BLOCK, b"\0")
        bits = sum(1 << block for block in store.unused).to_bytes(BLOCK - 128, "little")
        image[bitmap : bitmap + BLOCK] = _block_header(6, 3 * BLOCK, bitmap, 0) + bits
    image[CATALOG_BLOCK * BLOCK : (CATALOG_BLOCK + 1) * BLOCK] = catalog
    return image


def layouts() -> tuple[bytearray, list[Store]]:
    """Three stores using every descriptor kind: regular copies, forwarders (one through the next store, one
    to the volume, one rewritten by the reverse list), overlays on a copy and on a volume block, a not-used
    descriptor, and unused blocks in the newest store's bitmap. Store data lives in blocks 150 and up."""
    stores = [
        Store([(40, 0, 150, 0, 0),                    # a copy
               (41, 42, 0, FORWARDER, 0),             # forward to block 42, which the next store holds
               (43, 1, 151, OVERLAY, 0b101),          # sectors 0 and 2 of block 43 replaced
               (44, 0, 152, 0, 0), (44, 1, 153, OVERLAY, 0xF0),  # a copy, then an overlay on it
               (45, 0, 154, NOT_USED, 0),             # ignored
               (46, 60, 0, FORWARDER, 0),             # forward to 60, which no later store holds
               (60, 0, 155, 0, 0)]),                  # the reverse list: this copy is block 46's
        Store([(42, 0, 160, 0, 0), (40, 0, 161, 0, 0), (47, 0, 162, 0, 0),
               (48, 49, 0, FORWARDER, 0), (43, 1, 163, OVERLAY, 0x3)]),
        Store([(47, 0, 170, 0, 0), (49, 0, 171, 0, 0), (50, 1, 172, OVERLAY, 0x80000001)],
              unused={100, 101, 102, 110, 47, 50, 200}),
    ]
    image = build(stores)
    for block in range(150, 180):
        image[block * BLOCK : (block + 1) * BLOCK] = fill(block, 7)
    return image, stores
