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
#: The GUID a volume's header gives for the volume holding its diff area, when that is another one.
STORAGE_ID = "22222222-3333-4444-5555-666666666666"


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
    """A volume of ``blocks`` 16 KiB blocks holding :func:`fill` (tag 0 for the live volume), an NTFS boot
    sector's geometry, and :func:`write_shadow_copies` with the catalog at block 8; store data blocks are
    filled by the caller."""
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
    write_shadow_copies(image, stores, CATALOG_BLOCK)
    return image


def write_shadow_copies(image: bytearray, stores: list[Store], catalog_block: int,
                        volume: bytearray | None = None) -> int:
    """The VSS header at 0x1e00, a one-block catalog at ``catalog_block`` and each store's metadata from block
    ``catalog_block + 8`` on: its header, its block list (508 descriptors a block, chained), range list and
    bitmap, one store after the other. Returns the first block after them.

    With ``volume``, ``image`` is the volume holding the diff area of ``volume``: the header goes into
    ``volume`` and names :data:`STORAGE_ID` as the diff area's volume."""
    shadowed = image if volume is None else volume
    size, storage_size = len(shadowed), len(image)
    header = VSS_ID + struct.pack("<IIQQQQQ", 1, 1, 0x1E00, 0x1E00, 0, catalog_block * BLOCK, 0)
    volume_id = uuid.UUID("11111111-2222-3333-4444-555555555555").bytes_le
    storage_id = volume_id if volume is None else uuid.UUID(STORAGE_ID).bytes_le
    shadowed[0x1E00 : 0x2000] = (header + volume_id + storage_id).ljust(512, b"\0")
    catalog = bytearray(_block_header(2, 0, catalog_block * BLOCK, 0).ljust(BLOCK, b"\0"))
    at = catalog_block + 8
    per_block = (BLOCK - 128) // 32
    for index, store in enumerate(stores):
        store_id = uuid.UUID(int=0x1000 + index).bytes_le
        lists = max(1, -(-len(store.descriptors) // per_block))
        head, block_list = at * BLOCK, (at + 1) * BLOCK
        ranges, bitmap = (at + 1 + lists) * BLOCK, (at + 2 + lists) * BLOCK
        at += 3 + lists
        entry2 = struct.pack("<QQ16sQQQ", 2, size, store_id, index + 1, store.flags, store.created + index * 10**7)
        entry3 = struct.pack("<QQ16sQQQQQQQ", 3, block_list, store_id, head, ranges, bitmap, 0, 0, 0, index)
        pos = 128 + 2 * index * 128
        catalog[pos : pos + 128] = entry2.ljust(128, b"\0")
        catalog[pos + 128 : pos + 256] = entry3.ljust(128, b"\0")
        info = uuid.UUID(int=0xA).bytes_le + uuid.UUID(int=0xB0 + index).bytes_le + uuid.UUID(int=0xC).bytes_le
        info += struct.pack("<IIIIH", 0xD, 2, 0x42000D, 0, 0) + struct.pack("<H", 0)
        image[head : head + BLOCK] = (_block_header(4, 0, head, 0)[:48] + struct.pack("<Q", len(info))
                                      ).ljust(128, b"\0") + info.ljust(BLOCK - 128, b"\0")
        for n in range(lists):
            chunk = store.descriptors[n * per_block : (n + 1) * per_block]
            descriptors = b"".join(struct.pack("<QQQII", o * BLOCK, r * BLOCK, d * BLOCK, f, b)
                                   for o, r, d, f, b in chunk)
            offset = block_list + n * BLOCK
            following = offset + BLOCK if n + 1 < lists else 0
            image[offset : offset + BLOCK] = (_block_header(3, (1 + n) * BLOCK, offset, following) + descriptors
                                              ).ljust(BLOCK, b"\0")
        image[ranges : ranges + BLOCK] = _block_header(5, (1 + lists) * BLOCK, ranges, 0).ljust(BLOCK, b"\0")
        bits = sum(1 << block for block in store.unused).to_bytes(BLOCK - 128, "little")
        image[bitmap : bitmap + BLOCK] = _block_header(6, (2 + lists) * BLOCK, bitmap, 0) + bits
    image[catalog_block * BLOCK : (catalog_block + 1) * BLOCK] = catalog
    assert (len(shadowed), len(image)) == (size, storage_size), "the metadata runs past the end of the image"
    return at


def shadow_copied(image: bytearray) -> None:
    """Give a real NTFS image (from mkntfs, at least 2 MiB, its last 40 blocks but one free) two stores whose
    copies are the volume's own first blocks, so both shadow copies read as the live volume does: the first
    holds copies of blocks 0 and 1 and an overlay of block 2's odd sectors, the second block 3 and block 1."""
    blocks = len(image) // BLOCK
    meta, data = blocks - 40, blocks - 24

    def copy(block: int, to: int) -> int:
        image[(data + to) * BLOCK : (data + to + 1) * BLOCK] = image[block * BLOCK : (block + 1) * BLOCK]
        return data + to

    stores = [Store([]), Store([])]
    write_shadow_copies(image, stores, meta)  # the header first: block 0's copies hold it
    stores[0].descriptors = [(0, 0, copy(0, 0), 0, 0), (1, 0, copy(1, 1), 0, 0),
                             (2, 1, copy(2, 2), OVERLAY, 0xAAAAAAAA)]
    stores[1].descriptors = [(3, 0, copy(3, 3), 0, 0), (1, 0, copy(1, 4), 0, 0)]
    write_shadow_copies(image, stores, meta)


def layouts() -> bytearray:
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
    return image


if __name__ == "__main__":  # python -m tests.fs.vss_images IMAGE: add shadow copies to an NTFS image in place
    import sys

    with open(sys.argv[1], "r+b") as f:
        ntfs = bytearray(f.read())
        shadow_copied(ntfs)
        f.seek(0)
        f.write(ntfs)
