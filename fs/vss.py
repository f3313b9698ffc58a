"""Volume Shadow Copies (VSS) inside an NTFS volume: the catalog, and each store as a read-only volume.

Windows keeps the earlier versions of a volume's 16 KiB blocks in *stores* (files under ``System Volume
Information``) and describes them in a *catalog*; both are reached from the VSS header at offset 0x1e00 of the
volume. Written from libyal's "Volume Shadow Snapshot (VSS) format" notes:

* **header** (0x1e00): the VSS identifier GUID, record type 1, the catalog's offset, the volume's and the
  diff area (storage) volume's GUIDs;
* **catalog**: a chain of 16 KiB blocks (record type 2) of 128-byte entries; per store a type 2 entry
  (volume size, store GUID, sequence number, flags, creation time) and a type 3 entry (the offsets of the
  store's block list, header, range list, bitmap and previous bitmap);
* **block list**: chains of 16 KiB blocks (record type 3) of 32-byte descriptors: original offset, relative
  offset, store data offset, flags (0x1 forwarder, 0x2 overlay, 0x4 not used) and, for an overlay, a bitmap
  of the 512-byte sectors it holds;
* **bitmap**: blocks (record type 6) whose set bits are the 16 KiB blocks the file system did not use when
  the shadow copy was taken.

The previous version of block X as a store saw it comes from the first store, from that one forward in
time, that holds X (a forwarder sends the read on to another block of the next store), else from the
current volume; an overlay replaces single sectors, and only for the store being read. Blocks the newest
store's bitmaps mark unused read as zeros. Every block maps to ``DATA`` extents of the volume itself (the
stores' data lies in the volume as plain 16 KiB blocks), so a file in a shadow copy is copied in the
kernel like any other.

Stores are numbered from the oldest: ``vss1`` is the oldest, the highest number the newest. Listing reads
only the header and the catalog (:func:`read_catalog`); a store's block lists are read when it is opened.
"""

from __future__ import annotations

import bisect
import datetime
import struct
import uuid
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restorekit.fs.errors import VolumeError
from restorekit.fs.stream import Extent, ExtentKind, Stream

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["BLOCK", "ShadowCopies", "ShadowCopy", "StoreVolume", "read_catalog", "split_store_id"]

#: The VSS identifier every VSS structure starts with (3808876b-c176-4e48-b7ae-04046e6cc752).
VSS_IDENTIFIER = uuid.UUID("3808876b-c176-4e48-b7ae-04046e6cc752").bytes_le
HEADER_OFFSET = 0x1E00
#: The size of every catalog, block-list and bitmap block, and of the blocks stores keep.
BLOCK = 0x4000
SECTOR = 512
_BLOCK_HEADER = 128
_CATALOG_ENTRY = 128
_DESCRIPTOR = 32

# Record types of the 128-byte block headers.
_HEADER, _CATALOG, _BLOCK_LIST, _BITMAP = 1, 2, 3, 6

# Block descriptor flags.
FORWARDER, OVERLAY, NOT_USED = 0x1, 0x2, 0x4

#: Catalog entry flag of a store Windows keeps but does not list (``vssadmin list shadows`` leaves it out).
OFFLINE = 0x100

#: At most this many catalog blocks (each holds 127 entries; Windows keeps at most 64 stores per volume).
MAX_CATALOG_BLOCKS = 64

_FILETIME_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.UTC)


def split_store_id(volume_id: str) -> tuple[str, int] | None:
    """``os-p3@vss2`` → ``("os-p3", 2)``; None when the id names no shadow copy."""
    base, sep, tail = volume_id.rpartition("@vss")
    if not sep or not base or not tail.isdigit() or tail.startswith("0"):
        return None
    return base, int(tail)


@dataclass
class ShadowCopy:
    """One store, as the catalog describes it."""

    #: 1 for the oldest store of the volume, counting up to the newest.
    number: int
    store_id: str
    #: The catalog's sequence number: the order in which the stores were made, and are stacked.
    sequence: int
    #: Creation time, ns since 1970 (UTC).
    created: int
    volume_size: int
    flags: int
    block_list: int
    header: int
    bitmap: int
    previous_bitmap: int

    @property
    def listed(self) -> bool:
        """Whether Windows lists it (``vssadmin list shadows``): an offline store is kept but not shown."""
        return not self.flags & OFFLINE

    def to_dict(self, volume: str) -> dict[str, Any]:
        """The JSON of ``inspect --json``'s ``shadowCopies``."""
        created = _FILETIME_EPOCH + datetime.timedelta(microseconds=self.created // 1000 + 11644473600 * 10**6)
        return {"id": f"{volume}@vss{self.number}", "number": self.number, "storeId": self.store_id,
                "created": created.isoformat().replace("+00:00", "Z"), "listed": self.listed,
                "hiddenReason": None if self.listed else "offline", "volumeSize": self.volume_size,
                "sequence": self.sequence}


class _BlockMap:
    """What one store holds, as sorted arrays (16 bytes a block, for stores of millions of blocks): for each
    original block offset, the volume offset of the store's copy, or ``-(target + 1)`` for a forward to block
    ``target`` of the next store; and the sectors overlays replace (original offset → {sector: volume offset})."""

    def __init__(self, blocks: dict[int, int], overlays: dict[int, dict[int, int]]) -> None:
        self.keys = array("q", sorted(blocks))
        self.values = array("q", (blocks[key] for key in self.keys))
        self.overlays = overlays

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, offset: int) -> int | None:
        """The store's value for the block at ``offset``, or None when it holds no copy of it."""
        i = bisect.bisect_left(self.keys, offset)
        return self.values[i] if i < len(self.keys) and self.keys[i] == offset else None

    def next_block(self, offset: int) -> int | None:
        """The first block at or after ``offset`` the store holds a copy of."""
        i = bisect.bisect_left(self.keys, offset)
        return self.keys[i] if i < len(self.keys) else None


class ShadowCopies:
    """The shadow copies of one NTFS volume: the catalog, and the stores opened on demand."""

    def __init__(self, volume: Stream, name: str, stores: list[ShadowCopy]) -> None:
        self.volume = volume
        self.name = name
        #: Oldest first (by sequence number).
        self.stores = stores
        self._maps: dict[int, _BlockMap] = {}
        self._zero_runs: list[tuple[int, int]] | None = None
        self._opened: dict[int, StoreVolume] = {}

    def to_list(self) -> list[dict[str, Any]]:
        """Every store, for ``inspect --json``."""
        return [store.to_dict(self.name) for store in self.stores]

    def open(self, number: int) -> StoreVolume:
        """The volume as shadow copy ``number`` (1 = oldest) saw it; reads the block lists it needs."""
        if not 1 <= number <= len(self.stores):
            have = f"vss1 to vss{len(self.stores)}" if self.stores else "none"
            raise VolumeError(f"no shadow copy vss{number} (this volume has {have})", volume=self.name,
                              hint="see the shadowCopies of restorekit inspect")
        if number not in self._opened:
            self._opened[number] = StoreVolume(self, number)
        return self._opened[number]

    # -- reading the store metadata -----------------------------------------------------------------------

    def block_map(self, index: int) -> _BlockMap:
        """The block map of the store at ``index`` (0 = oldest), read once."""
        if index not in self._maps:
            self._maps[index] = self._read_block_list(self.stores[index])
        return self._maps[index]

    def zero_runs(self) -> list[tuple[int, int]]:
        """``(start, end)`` byte ranges the newest store's bitmaps (current, and previous when there is one) both
        mark unused: they read as zeros in the newest store."""
        if self._zero_runs is None:
            newest = self.stores[-1]
            bits = self._read_bitmap(newest.bitmap, newest, "bitmap")
            if newest.previous_bitmap:
                previous = self._read_bitmap(newest.previous_bitmap, newest, "previous bitmap")
                previous += bytes(max(0, len(bits) - len(previous)))
                bits = (int.from_bytes(bits, "little") & int.from_bytes(previous[: len(bits)], "little")).to_bytes(
                    len(bits), "little")
            self._zero_runs = _set_bit_runs(bits, newest.volume_size)
        return self._zero_runs

    def _chain(self, first: int, record: int, what: str, store: ShadowCopy) -> Iterator[bytes]:
        """The 16 KiB blocks of a chain starting at ``first``, each checked (identifier, type, own offset);
        a chain that loops or leaves the volume is an error naming the offset."""
        seen: set[int] = set()
        offset = first
        limit = self.volume.size // BLOCK + 1
        while offset:
            where = f"shadow copy vss{store.number} ({store.store_id}): {what} block"
            if offset in seen or len(seen) > limit:
                raise VolumeError(f"{where} chain loops back to itself", volume=self.name, offset=offset,
                                  hint="the store's metadata is damaged; the other shadow copies may still be read")
            seen.add(offset)
            data = _read_block(self.volume, offset, self.name, where)
            _check_block(data, offset, record, self.name, where)
            yield data
            offset = struct.unpack_from("<Q", data, 40)[0]

    def _read_bitmap(self, first: int, store: ShadowCopy, what: str) -> bytes:
        need = (store.volume_size + BLOCK * 8 - 1) // (BLOCK * 8)
        out = bytearray()
        for data in self._chain(first, _BITMAP, what, store):
            out += data[_BLOCK_HEADER:]
            if len(out) >= need:
                break
        return bytes(out[:need])

    def _read_block_list(self, store: ShadowCopy) -> _BlockMap:
        """Apply the store's descriptors front to back (libyal's rules for successive descriptors)."""
        blocks: dict[int, int] = {}
        overlays: dict[int, dict[int, int]] = {}
        reverse: dict[int, int] = {}  # forward target → the original offset of the forwarder pointing there
        size = self.volume.size
        for data in self._chain(store.block_list, _BLOCK_LIST, "block list", store):
            for pos in range(_BLOCK_HEADER, BLOCK, _DESCRIPTOR):
                original, relative, stored, flags, bitmap = struct.unpack_from("<QQQII", data, pos)
                if not (original or relative or stored or flags):
                    break
                if flags & NOT_USED:
                    continue
                bad = original % BLOCK or original >= store.volume_size
                if not flags & FORWARDER:
                    bad = bad or stored % BLOCK or stored + BLOCK > size
                elif relative % BLOCK or relative >= store.volume_size:
                    bad = True
                if bad:
                    raise VolumeError(
                        f"shadow copy vss{store.number} ({store.store_id}): block descriptor (original 0x{original:x},"
                        f" relative 0x{relative:x}, data 0x{stored:x}, flags 0x{flags:x}) points past the volume's "
                        f"{size} bytes or off a 16 KiB boundary", volume=self.name, offset=store.block_list,
                        hint="the store's block list is damaged; the other shadow copies may still be read")
                if not flags & OVERLAY:
                    forwarded_from = reverse.pop(original, None)
                    if forwarded_from is not None:
                        original = forwarded_from
                        if flags & FORWARDER and original == relative:
                            continue
                if flags & OVERLAY:
                    sectors = overlays.setdefault(original, {})
                    for sector in range(BLOCK // SECTOR):
                        if bitmap >> sector & 1:
                            sectors[sector] = stored + sector * SECTOR
                elif flags & FORWARDER:
                    blocks[original] = -relative - 1
                    reverse[relative] = original
                else:
                    blocks[original] = stored
        return _BlockMap(blocks, overlays)


def _set_bit_runs(bits: bytes, size: int) -> list[tuple[int, int]]:
    """Byte ranges of the blocks whose bits are set (LSB first), clipped to ``size``."""
    runs: list[tuple[int, int]] = []
    value = int.from_bytes(bits, "little")
    pos = 0
    while value:
        low = (value & -value).bit_length() - 1  # the next set bit
        value >>= low
        pos += low
        ones = (~value & (value + 1)).bit_length() - 1  # how many set bits follow
        start, end = pos * BLOCK, min((pos + ones) * BLOCK, size)
        if start < end:
            runs.append((start, end))
        value >>= ones
        pos += ones
    return runs


def _read_block(volume: Stream, offset: int, name: str, where: str) -> bytes:
    if offset % BLOCK or offset + BLOCK > volume.size:
        raise VolumeError(f"{where} offset lies past the volume's end ({volume.size} bytes) or off a 16 KiB boundary",
                          volume=name, offset=offset, hint="the shadow copy metadata is damaged")
    return volume.pread(BLOCK, offset)


def _check_block(data: bytes, offset: int, record: int, name: str, where: str) -> None:
    identifier = data[:16]
    kind, current = struct.unpack_from("<I", data, 20)[0], struct.unpack_from("<Q", data, 32)[0]
    if identifier != VSS_IDENTIFIER or kind != record or current != offset:
        raise VolumeError(f"{where} is not one (identifier, record type {kind} or own offset 0x{current:x} wrong)",
                          volume=name, offset=offset, hint="the shadow copy metadata is damaged")


def read_catalog(volume: Stream, name: str) -> ShadowCopies | None:
    """The volume's shadow copies from its VSS header and catalog; None when the volume has no VSS header.

    Reads the header sector and the catalog blocks only. A catalog that is damaged raises
    :class:`VolumeError` naming the volume and offset.
    """
    if volume.size < HEADER_OFFSET + SECTOR:
        return None
    header = volume.pread(SECTOR, HEADER_OFFSET)
    if header[:16] != VSS_IDENTIFIER or struct.unpack_from("<I", header, 20)[0] != _HEADER:
        return None
    catalog = struct.unpack_from("<Q", header, 48)[0]
    volume_id, storage_id = header[64:80], header[80:96]
    if volume_id != storage_id and any(storage_id):
        raise VolumeError(f"the shadow copies' diff area is on another volume ({uuid.UUID(bytes_le=storage_id)}), "
                          "which restorekit does not read yet", volume=name, offset=HEADER_OFFSET)
    found: dict[bytes, dict[str, Any]] = {}
    order: list[bytes] = []
    seen: set[int] = set()
    offset = catalog
    while offset:
        where = "shadow copy catalog block"
        if offset in seen or len(seen) >= MAX_CATALOG_BLOCKS:
            raise VolumeError(f"{where} chain loops back to itself or is longer than {MAX_CATALOG_BLOCKS} blocks",
                              volume=name, offset=offset, hint="the shadow copy catalog is damaged")
        seen.add(offset)
        data = _read_block(volume, offset, name, where)
        _check_block(data, offset, _CATALOG, name, where)
        for pos in range(_BLOCK_HEADER, BLOCK, _CATALOG_ENTRY):
            kind = struct.unpack_from("<Q", data, pos)[0]
            if kind not in (2, 3):
                continue
            store = data[pos + 16 : pos + 32]
            if store not in found:
                found[store] = {}
                order.append(store)
            if kind == 2:
                size, _, sequence, flags, created = struct.unpack_from("<Q16sQQQ", data, pos + 8)
                found[store].update(volume_size=size, sequence=sequence, flags=flags, created=created)
            else:
                block_list, _, head, _, bitmap, _, _, previous = struct.unpack_from("<Q16sQQQQQQ", data, pos + 8)
                found[store].update(block_list=block_list, header=head, bitmap=bitmap, previous_bitmap=previous)
        offset = struct.unpack_from("<Q", data, 40)[0]
    complete = [(key, found[key]) for key in order if len(found[key]) == 8]
    complete.sort(key=lambda item: (item[1]["sequence"], item[1]["created"]))
    stores = []
    for number, (key, fields) in enumerate(complete, 1):
        size = fields.pop("volume_size")
        created = (fields.pop("created") - 116444736000000000) * 100
        stores.append(ShadowCopy(number, str(uuid.UUID(bytes_le=key)), created=created,
                                 volume_size=min(size, volume.size) if size else volume.size, **fields))
    return ShadowCopies(volume, name, stores)


class StoreVolume(Stream):
    """The volume as one shadow copy saw it: every block mapped to where its old bytes lie in the volume."""

    def __init__(self, copies: ShadowCopies, number: int) -> None:
        store = copies.stores[number - 1]
        super().__init__(store.volume_size)
        self.copies = copies
        self.number = number
        self.name = f"{copies.name}@vss{number}"
        self.base = copies.volume
        #: This store's block map and those of every later store, in order.
        self._maps = [copies.block_map(i) for i in range(number - 1, len(copies.stores))]
        self._overlays = self._maps[0].overlays
        self._overlay_blocks = sorted(self._overlays)
        newest = number == len(copies.stores)
        self._zeros = copies.zero_runs() if newest else []
        self._zero_starts = [start for start, _ in self._zeros]

    def held_blocks(self) -> int:
        """How many blocks some store from this one forward holds (this store's view differs from the volume
        only there, and where the newest store's bitmap reads as zeros)."""
        return len(set().union(*(m.keys for m in self._maps), self._overlays))

    def _next_held(self, offset: int) -> int | None:
        """The first block at or after ``offset`` that some store from this one forward holds."""
        found = [b for b in (m.next_block(offset) for m in self._maps) if b is not None]
        i = bisect.bisect_left(self._overlay_blocks, offset)
        if i < len(self._overlay_blocks):
            found.append(self._overlay_blocks[i])
        return min(found) if found else None

    def block_runs(self, offset: int) -> list[tuple[int, int, int | None]]:
        """Where the bytes of the block at ``offset`` lie in the volume, as this store saw them: ``(start in the
        block, length, volume offset or None for zeros)`` runs. The first store from this one forward that holds
        the block has it (a forward moves on to another block of the next store); else the volume itself, or
        zeros where the newest store's bitmaps say unused; an overlay of this store replaces single sectors."""
        at, source = offset, None
        for block_map in self._maps:
            value = block_map.lookup(at)
            if value is None:
                continue
            if value >= 0:
                source = value
                break
            at = -value - 1
        if source is None and not (at == offset and self._unused(offset)):
            source = at
        overlay = self._overlays.get(offset)
        if not overlay:
            return [(0, BLOCK, source)]
        # Sector by sector (overlays are rare); the extents of neighbouring sectors are merged by coalesce().
        return [(sector * SECTOR, SECTOR, overlay.get(sector, None if source is None else source + sector * SECTOR))
                for sector in range(BLOCK // SECTOR)]

    def _unused(self, offset: int) -> bool:
        """Whether the newest store's bitmaps mark the block at ``offset`` unused (only for the newest store)."""
        i = bisect.bisect_right(self._zero_starts, offset) - 1
        return i >= 0 and self._zeros[i][1] > offset

    def _from_base(self, pos: int, source: int, length: int) -> Iterator[Extent]:
        got = 0
        for ext in self.base.extents(source, length):
            yield Extent(pos + ext.offset - source, ext.length, ext.kind, ext.source, ext.source_offset)
            got = ext.offset + ext.length - source
        if got < length:  # a store larger than the volume is now: the rest reads as zeros
            yield Extent(pos + got, length - got, ExtentKind.ZERO)

    def _plain(self, pos: int, end: int) -> Iterator[Extent]:
        """Blocks no store holds: the current volume's, or zeros where the newest store's bitmap says unused."""
        i = max(0, bisect.bisect_right(self._zero_starts, pos) - 1)
        while pos < end:
            zero = self._zeros[i] if i < len(self._zeros) else None
            if zero is None or zero[0] >= end:
                yield from self._from_base(pos, pos, end - pos)
                return
            if zero[1] <= pos:
                i += 1
                continue
            if zero[0] > pos:
                yield from self._from_base(pos, pos, zero[0] - pos)
                pos = zero[0]
            stop = min(zero[1], end)
            yield Extent(pos, stop - pos, ExtentKind.ZERO)
            pos = stop
            i += 1

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        pos, end = offset, offset + length
        while pos < end:
            block = self._next_held(pos - pos % BLOCK)
            if block is None or block >= end:
                yield from self._plain(pos, end)
                return
            if block > pos:
                yield from self._plain(pos, block)
                pos = block
            for start, run, source in self.block_runs(block):
                lo, hi = max(pos, block + start), min(end, block + start + run)
                if lo < hi and source is None:
                    yield Extent(lo, hi - lo, ExtentKind.ZERO)
                elif lo < hi:
                    yield from self._from_base(lo, source + lo - block - start, hi - lo)
            pos = min(end, block + BLOCK)
