"""Thin volumes of an LVM2 thin pool, read from the pool's dm-thin metadata (no device-mapper needed).

The metadata LV (``pool_tmeta``) is dm-thin's persistent-data format in 4 KiB blocks: block 0 is the superblock
(magic 27022010, the data block size, the roots of two B-trees); the *mapping* tree is two-level: device id →
root of that device's tree, virtual block → ``data block << 24 | time``; the *device-details* tree maps a device
id to its mapped-block count and transaction. Every block carries a CRC32C. A thin volume's block that the tree
does not map was never written and reads as zeros (or, for a snapshot of an external origin, as the origin);
a mapped block is the same range of the pool's data LV (``pool_tdata``), so copies stay in the kernel.

Damaged metadata raises :class:`VolumeError` naming the block: a bad checksum, a node that is not what its
parent says, a tree deeper than the format allows or one that loops back on itself.
"""

from __future__ import annotations

import itertools
import struct
from typing import TYPE_CHECKING

from restorekit.fs.checksum import crc32c
from restorekit.fs.errors import VolumeError
from restorekit.fs.stream import Extent, ExtentKind, Stream

if TYPE_CHECKING:
    from collections.abc import Iterator

BLOCK = 4096
SECTOR = 512
MAGIC = 27022010
SUPERBLOCK_CSUM_XOR = 160774
BTREE_CSUM_XOR = 121107
NODE_HEADER = struct.Struct("<IIQIIII")
INTERNAL, LEAF = 1, 2
#: A persistent-data B-tree over 64-bit keys with at least 2 entries per node is never deeper than this.
MAX_DEPTH = 64
DETAILS = struct.Struct("<QQII")
HINT = "the thin pool's metadata LV is damaged; `thin_check` and `thin_repair` (thin-provisioning-tools) can " \
       "check and repair a copy of it"


def _checksum(block: bytes, xor: int) -> int:
    """dm-persistent-data's block checksum: CRC32C (no final inversion) of the block after its checksum field."""
    return (~crc32c(block[4:]) & 0xFFFFFFFF) ^ xor


class ThinMetadata:
    """The superblock and B-trees of a thin pool's metadata device."""

    def __init__(self, meta: Stream, name: str) -> None:
        self.meta = meta
        self.name = name
        self._nodes: dict[int, tuple[int, list[int], list[bytes]]] = {}
        if meta.size < BLOCK:
            raise VolumeError(f"thin pool metadata is {meta.size} bytes, smaller than its superblock", volume=name,
                              hint=HINT)
        sb = meta.pread(BLOCK, 0)
        magic, version = struct.unpack_from("<QI", sb, 32)
        if magic != MAGIC:
            raise VolumeError("thin pool metadata has no dm-thin superblock (magic)", volume=name, offset=0,
                              hint=HINT)
        if struct.unpack_from("<I", sb, 0)[0] != _checksum(sb, SUPERBLOCK_CSUM_XOR):
            raise VolumeError("thin pool metadata superblock checksum mismatch", volume=name, offset=0, hint=HINT)
        self.version = version
        self.transaction = struct.unpack_from("<Q", sb, 48)[0]
        self.mapping_root, self.details_root = struct.unpack_from("<QQ", sb, 320)
        data_block_sectors, meta_block_sectors = struct.unpack_from("<II", sb, 336)
        self.blocks = min(struct.unpack_from("<Q", sb, 344)[0], meta.size // BLOCK)
        if meta_block_sectors * SECTOR != BLOCK or data_block_sectors == 0:
            raise VolumeError(f"thin pool metadata superblock gives block sizes {meta_block_sectors} and "
                              f"{data_block_sectors} sectors (4 KiB metadata blocks and a data block are needed)",
                              volume=name, offset=336, hint=HINT)
        self.data_block = data_block_sectors * SECTOR

    def _node(self, block: int) -> tuple[int, list[int], list[bytes]]:
        """(flags, keys, values) of the B-tree node in ``block``, checked."""
        cached = self._nodes.get(block)
        if cached is not None:
            return cached
        at = block * BLOCK
        if not 0 < block < self.blocks:
            raise VolumeError(f"thin pool metadata points at block {block}, outside its {self.blocks} blocks",
                              volume=self.name, hint=HINT)
        raw = self.meta.pread(BLOCK, at)
        csum, flags, blocknr, count, max_entries, value_size, _pad = NODE_HEADER.unpack_from(raw)
        if csum != _checksum(raw, BTREE_CSUM_XOR):
            raise VolumeError(f"thin pool metadata B-tree block {block} checksum mismatch", volume=self.name,
                              offset=at, hint=HINT)
        if (blocknr != block or flags not in (INTERNAL, LEAF) or count > max_entries or value_size == 0
                or NODE_HEADER.size + max_entries * (8 + value_size) > BLOCK):
            raise VolumeError(f"thin pool metadata B-tree block {block} has a damaged header (block number "
                              f"{blocknr}, flags {flags}, {count} of {max_entries} entries of {value_size} bytes)",
                              volume=self.name, offset=at, hint=HINT)
        keys = list(struct.unpack_from(f"<{count}Q", raw, NODE_HEADER.size))
        if any(a >= b for a, b in itertools.pairwise(keys)):
            raise VolumeError(f"thin pool metadata B-tree block {block} has keys out of order", volume=self.name,
                              offset=at, hint=HINT)
        base = NODE_HEADER.size + 8 * max_entries
        values = [raw[base + i * value_size : base + (i + 1) * value_size] for i in range(count)]
        if flags == INTERNAL and value_size != 8:
            raise VolumeError(f"thin pool metadata B-tree block {block} is an internal node with {value_size}-byte "
                              "values", volume=self.name, offset=at, hint=HINT)
        node = (flags, keys, values)
        if len(self._nodes) < 4096:
            self._nodes[block] = node
        return node

    def walk(self, root: int, lo: int, hi: int) -> Iterator[tuple[int, bytes]]:
        """The (key, value) pairs of the tree at ``root`` with ``lo <= key < hi``, in key order.

        Walked with a stack; a node met again on the path from the root (a loop) or a path deeper than
        :data:`MAX_DEPTH` is an error, so damaged metadata can neither hang nor recurse without end.
        """
        # Each child is searched only within its parent's key range for it, so a damaged tree that points
        # at one node many times yields no key twice and visits no node whose range is empty.
        stack: list[tuple[int, int, frozenset[int], int, int]] = [(root, 0, frozenset(), lo, hi)]
        while stack:
            block, depth, path, low, high = stack.pop()
            if block in path or depth > MAX_DEPTH:
                raise VolumeError(f"thin pool metadata B-tree loops back to block {block}" if block in path
                                  else f"thin pool metadata B-tree is deeper than {MAX_DEPTH} levels",
                                  volume=self.name, offset=block * BLOCK, hint=HINT)
            flags, keys, values = self._node(block)
            if flags == LEAF:
                for key, value in zip(keys, values, strict=True):
                    if low <= key < high:
                        yield key, value
                continue
            inner = path | {block}
            children = []
            for i, key in enumerate(keys):
                child_low = max(low, key)
                child_high = min(high, keys[i + 1]) if i + 1 < len(keys) else high
                if child_low < child_high:
                    children.append((struct.unpack("<Q", values[i])[0], depth + 1, inner, child_low, child_high))
            stack.extend(reversed(children))

    def lookup(self, root: int, key: int) -> bytes | None:
        """The value of ``key`` in the tree at ``root``, or None."""
        return next((value for _key, value in self.walk(root, key, key + 1)), None)

    def device_root(self, device_id: int) -> int:
        """The root of thin device ``device_id``'s block mapping; VolumeError when the pool has no such device."""
        if self.lookup(self.details_root, device_id) is None:
            raise VolumeError(f"thin pool metadata has no thin device {device_id}", volume=self.name,
                              hint="the LVM metadata and the pool's metadata disagree; the thin volume was "
                                   "probably deleted or not yet committed")
        value = self.lookup(self.mapping_root, device_id)
        if value is None:
            raise VolumeError(f"thin pool metadata has no block mapping for thin device {device_id}",
                              volume=self.name, hint=HINT)
        return struct.unpack("<Q", value)[0]


class ThinVolume(Stream):
    """A thin volume: blocks mapped by the pool's metadata are read from its data LV, the others are zeros
    (or the external origin's bytes)."""

    def __init__(self, metadata: ThinMetadata, data: Stream, device_id: int, size: int, *, name: str,
                 origin: Stream | None = None) -> None:
        super().__init__(size)
        self.name = name
        self.metadata = metadata
        self.data = data
        self.root = metadata.device_root(device_id)
        self.origin = origin

    def _unmapped(self, offset: int, length: int) -> Iterator[Extent]:
        if self.origin is None or offset >= self.origin.size:
            yield Extent(offset, length, ExtentKind.ZERO)
            return
        inside = min(length, self.origin.size - offset)
        yield from self.origin.extents(offset, inside)
        if inside < length:
            yield Extent(offset + inside, length - inside, ExtentKind.ZERO)

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        bs = self.metadata.data_block
        end = offset + length
        pos = offset
        for vblock, value in self.metadata.walk(self.root, offset // bs, -(-end // bs)):
            start = vblock * bs
            if start > pos:
                yield from self._unmapped(pos, start - pos)
                pos = start
            dblock = struct.unpack("<Q", value)[0] >> 24
            run = min(start + bs, end) - pos
            at = dblock * bs + pos - start
            if at + run > self.data.size:
                raise VolumeError(f"thin pool metadata maps block {vblock} of {self.name} to data block {dblock}, "
                                  f"past the end of the pool's data ({self.data.size // bs} blocks)",
                                  volume=self.metadata.name, hint=HINT)
            for ext in self.data.extents(at, run):
                yield Extent(pos + ext.offset - at, ext.length, ext.kind, ext.source, ext.source_offset)
            pos += run
        if pos < end:
            yield from self._unmapped(pos, end - pos)
