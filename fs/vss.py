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
kernel like any other. When the header names another volume as the diff area's (``vssadmin add
shadowstorage /on=``), the catalog, the stores' metadata and their copies are that volume's, found by the
caller (:class:`DiffAreaElsewhere` until then).

Stores are numbered from the oldest: ``vss1`` is the oldest, the highest number the newest. Listing reads
only the header and the catalog (:func:`read_catalog`); a store's block lists are read when it is opened.
"""

from __future__ import annotations

import bisect
import struct
import uuid
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restorekit.fs.entry import iso_time
from restorekit.fs.errors import VolumeError
from restorekit.fs.filesystems.ntfs import FILETIME_1970
from restorekit.fs.stream import Extent, ExtentKind, Stream

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["BLOCK", "DiffAreaElsewhere", "ShadowCopies", "ShadowCopy", "StoreVolume", "diff_area_id", "read_catalog",
           "set_bit_runs"]

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
    bitmap: int
    previous_bitmap: int

    @property
    def listed(self) -> bool:
        """Whether Windows lists it (``vssadmin list shadows``): an offline store is kept but not shown."""
        return not self.flags & OFFLINE

    def to_dict(self, volume: str, diff_area: str) -> dict[str, Any]:
        """The JSON of ``inspect --json``'s ``shadowCopies``: ``volume`` is the shadowed volume's id,
        ``diff_area`` that of the volume holding the store."""
        return {"id": f"{volume}@vss{self.number}", "number": self.number, "storeId": self.store_id,
                "created": iso_time(self.created), "listed": self.listed,
                "hiddenReason": None if self.listed else "offline", "volumeSize": self.volume_size,
                "sequence": self.sequence, "diffAreaVolume": diff_area}


class _BlockMap:
    """What one store holds, as sorted arrays (16 bytes a block, for stores of millions of blocks): for each
    original block offset, the volume offset of the store's copy, or ``-(target + 1)`` for a forward to block
    ``target`` of the next store; and the sectors overlays replace (original offset → {sector: volume offset})."""

    def __init__(self, blocks: dict[int, int], overlays: dict[int, dict[int, int]]) -> None:
        self.keys = array("q", sorted(blocks))
        self.values = array("q", (blocks[key] for key in self.keys))
        self.overlays = overlays

    def lookup(self, offset: int) -> int | None:
        """The store's value for the block at ``offset``, or None when it holds no copy of it."""
        i = bisect.bisect_left(self.keys, offset)
        return self.values[i] if i < len(self.keys) and self.keys[i] == offset else None


class ShadowCopies:
    """The shadow copies of one NTFS volume: the catalog, and the stores opened on demand.

    The catalog, the stores' metadata and their copies of blocks lie in ``storage``: the volume itself, or
    the volume that holds its diff area (``vssadmin add shadowstorage /on=``).
    """

    def __init__(self, volume: Stream, name: str, stores: list[ShadowCopy], storage: Stream | None = None,
                 storage_name: str | None = None) -> None:
        self.volume = volume
        self.name = name
        self.storage = storage if storage is not None else volume
        #: The id of the volume holding the diff area, when it is not this one.
        self.storage_name = storage_name
        #: Oldest first (by sequence number).
        self.stores = stores
        self._maps: dict[int, _BlockMap] = {}
        self._unused: bytes | None = None
        self._opened: dict[int, StoreVolume] = {}

    def to_list(self) -> list[dict[str, Any]]:
        """Every store, for ``inspect --json``."""
        return [store.to_dict(self.name, self.storage_name or self.name) for store in self.stores]

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

    def unused_bitmap(self) -> bytes:
        """The blocks the newest store's bitmaps (current, and previous when there is one) both mark unused, one
        bit a block, LSB first: they read as zeros in the newest store."""
        if self._unused is None:
            newest = self.stores[-1]
            bits = self._read_bitmap(newest.bitmap, newest, "bitmap")
            if newest.previous_bitmap:
                previous = self._read_bitmap(newest.previous_bitmap, newest, "previous bitmap")
                previous += bytes(max(0, len(bits) - len(previous)))
                bits = (int.from_bytes(bits, "little") & int.from_bytes(previous[: len(bits)], "little")).to_bytes(
                    len(bits), "little")
            self._unused = bits
        return self._unused

    def _chain(self, first: int, record: int, what: str, store: ShadowCopy) -> Iterator[bytes]:
        """The 16 KiB blocks of a chain starting at ``first``, each checked (identifier, type, own offset);
        a chain that loops or leaves the volume is an error naming the offset."""
        seen: set[int] = set()
        offset = first
        limit = self.storage.size // BLOCK + 1
        while offset:
            where = f"shadow copy vss{store.number} ({store.store_id}): {what} block"
            if offset in seen or len(seen) > limit:
                raise VolumeError(f"{where} chain loops back to itself", volume=self.name, offset=offset,
                                  hint="the store's metadata is damaged; the other shadow copies may still be read")
            seen.add(offset)
            data = _read_block(self.storage, offset, self.name, where)
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
        size = self.storage.size
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
                        f"{store.volume_size} or the diff area's {size} bytes or off a 16 KiB boundary",
                        volume=self.name, offset=store.block_list,
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


def set_bit_runs(bits: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The byte ranges inside ``[start, end)`` of the 16 KiB blocks whose bits are set (LSB first), in order.

    Only the bitmap's bytes for the range are looked at, 4 KiB at a time (shifting one integer of a large
    volume's whole bitmap for every run would cost its length each time), and nothing is kept: a bitmap of
    millions of runs costs no memory.
    """
    first, last = start // BLOCK, min(len(bits) * 8, -(-end // BLOCK))
    pending: tuple[int, int] | None = None
    for byte in range(first // 8, (last + 7) // 8, 4096):
        value = int.from_bytes(bits[byte : min(byte + 4096, (last + 7) // 8)], "little")
        pos = byte * 8
        while value:
            low = (value & -value).bit_length() - 1  # the next set bit
            value >>= low
            pos += low
            ones = (~value & (value + 1)).bit_length() - 1  # how many set bits follow
            lo, hi = max(start, pos * BLOCK), min(end, (pos + ones) * BLOCK)
            value >>= ones
            pos += ones
            if lo >= hi:
                continue
            if pending is not None and pending[1] == lo:  # a run going on from the previous 4 KiB
                pending = (pending[0], hi)
                continue
            if pending is not None:
                yield pending
            pending = (lo, hi)
    if pending is not None:
        yield pending


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


class DiffAreaElsewhere(VolumeError):
    """The volume's shadow copies keep their catalog and stores on another volume (named by its GUID)."""

    def __init__(self, name: str, storage_id: str) -> None:
        super().__init__(f"the shadow copies' diff area is on another volume ({storage_id}), which is not in this "
                         "recovery point", volume=name, offset=HEADER_OFFSET,
                         hint="give the disk that holds that volume too")
        self.storage_id = storage_id


def diff_area_id(volume: Stream) -> str | None:
    """The GUID of the volume holding this volume's shadow copies when it is another one, else None."""
    if volume.size < HEADER_OFFSET + SECTOR:
        return None
    header = volume.pread(SECTOR, HEADER_OFFSET)
    if header[:16] != VSS_IDENTIFIER or header[64:80] == header[80:96] or not any(header[80:96]):
        return None
    return str(uuid.UUID(bytes_le=header[80:96]))


def read_catalog(volume: Stream, name: str, storage: Stream | None = None,
                 storage_name: str | None = None) -> ShadowCopies | None:
    """The volume's shadow copies from its VSS header and catalog; None when the volume has no VSS header.

    Reads the header sector and the catalog blocks only. When the header says the diff area is on another
    volume, that volume's stream must be given as ``storage`` (else :class:`DiffAreaElsewhere`); its catalog
    must then describe a volume of this one's size. A catalog that is damaged raises :class:`VolumeError`
    naming the volume and offset.
    """
    if volume.size < HEADER_OFFSET + SECTOR:
        return None
    header = volume.pread(SECTOR, HEADER_OFFSET)
    if header[:16] != VSS_IDENTIFIER or struct.unpack_from("<I", header, 20)[0] != _HEADER:
        return None
    catalog = struct.unpack_from("<Q", header, 48)[0]
    elsewhere = diff_area_id(volume)
    if elsewhere is not None and storage is None:
        raise DiffAreaElsewhere(name, elsewhere)
    holder = storage if elsewhere is not None and storage is not None else volume
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
        data = _read_block(holder, offset, name, where)
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
                block_list, _, _, _, bitmap, _, _, previous = struct.unpack_from("<Q16sQQQQQQ", data, pos + 8)
                found[store].update(block_list=block_list, bitmap=bitmap, previous_bitmap=previous)
        offset = struct.unpack_from("<Q", data, 40)[0]
    complete = [(key, found[key]) for key in order if len(found[key]) == 7]
    complete.sort(key=lambda item: (item[1]["sequence"], item[1]["created"]))
    stores = []
    for number, (key, fields) in enumerate(complete, 1):
        size = fields.pop("volume_size")
        if holder is not volume and size != volume.size:
            raise VolumeError(f"the shadow copy catalog on {storage_name} is of a volume of {size} bytes, not of this "
                              f"one ({volume.size} bytes)", volume=name, offset=catalog)
        created = (fields.pop("created") - FILETIME_1970) * 100
        stores.append(ShadowCopy(number, str(uuid.UUID(bytes_le=key)), created=created,
                                 volume_size=min(size, volume.size) if size else volume.size, **fields))
    if holder is not volume:
        return ShadowCopies(volume, name, stores, holder, storage_name)
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
        #: Where the stores' copies lie: the volume itself, or the volume holding its diff area.
        self.storage = copies.storage
        #: This store's block map and those of every later store, in order.
        self._maps = [copies.block_map(i) for i in range(number - 1, len(copies.stores))]
        self._overlays = self._maps[0].overlays
        self._overlay_blocks = sorted(self._overlays)
        newest = number == len(copies.stores)
        self._unused_bits = copies.unused_bitmap() if newest else b""

    def block_runs(self, offset: int) -> list[tuple[int, int, Stream | None, int]]:
        """Where the bytes of the block at ``offset`` lie, as this store saw them: ``(start in the block, length,
        stream, offset in it)`` runs, the stream being the diff area's (a store's copy), the volume's, or None
        for zeros. The first store from this one forward that holds the block has it (a forward moves on to
        another block of the next store); else the volume itself, or zeros where the newest store's bitmaps say
        unused; an overlay of this store replaces single sectors."""
        at, copy = offset, None
        for block_map in self._maps:
            value = block_map.lookup(at)
            if value is None:
                continue
            if value >= 0:
                copy = value
                break
            at = -value - 1
        base: tuple[Stream | None, int]
        if copy is not None:
            base = (self.storage, copy)
        elif at == offset and self._unused(offset):
            base = (None, 0)
        else:
            base = (self.base, at)
        overlay = self._overlays.get(offset)
        if not overlay:
            return [(0, BLOCK, *base)]
        # Sector by sector (overlays are rare); the extents of neighbouring sectors are merged by coalesce().
        return [(sector * SECTOR, SECTOR, self.storage, overlay[sector]) if sector in overlay else
                (sector * SECTOR, SECTOR, base[0], base[1] + sector * SECTOR if base[0] is not None else 0)
                for sector in range(BLOCK // SECTOR)]

    def _unused(self, offset: int) -> bool:
        """Whether the newest store's bitmaps mark the block at ``offset`` unused (only for the newest store)."""
        bit = offset // BLOCK
        return bit // 8 < len(self._unused_bits) and bool(self._unused_bits[bit // 8] >> bit % 8 & 1)

    @staticmethod
    def _from(stream: Stream, pos: int, source: int, length: int) -> Iterator[Extent]:
        """``length`` bytes of ``stream`` at ``source``, placed at ``pos``; zeros past its end."""
        got = 0
        for ext in stream.extents(source, length):
            yield Extent(pos + ext.offset - source, ext.length, ext.kind, ext.source, ext.source_offset)
            got = ext.offset + ext.length - source
        if got < length:  # a store larger than the volume is now: the rest reads as zeros
            yield Extent(pos + got, length - got, ExtentKind.ZERO)

    def _plain(self, pos: int, end: int) -> Iterator[Extent]:
        """Blocks no store holds: the current volume's, or zeros where the newest store's bitmap says unused."""
        for lo, hi in set_bit_runs(self._unused_bits, pos, end):
            if lo > pos:
                yield from self._from(self.base, pos, pos, lo - pos)
            yield Extent(lo, hi - lo, ExtentKind.ZERO)
            pos = hi
        if pos < end:
            yield from self._from(self.base, pos, pos, end - pos)

    def _held_in(self, start: int, end: int) -> list[int]:
        """The blocks in ``[start, end)`` some store from this one forward holds, in order."""
        found: set[int] = set()
        for keys in [m.keys for m in self._maps] + [self._overlay_blocks]:
            found.update(keys[bisect.bisect_left(keys, start) : bisect.bisect_left(keys, end)])
        return sorted(found)

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        # Runs of held blocks whose copies lie one after the other (a store's copies usually do) are mapped
        # through the stream below in one call: per block, the image below would be asked for its holes.
        pending: list[Any] = []  # [position, stream, offset in it, length] of a run still to map
        pos, end = offset, offset + length
        for block in self._held_in(pos - pos % BLOCK, end):
            if block > pos:
                yield from self._flush(pending)
                yield from self._plain(pos, block)
                pos = block
            for start, run, stream, source in self.block_runs(block):
                lo, hi = max(pos, block + start), min(end, block + start + run)
                if lo >= hi:
                    continue
                if stream is None:
                    yield from self._flush(pending)
                    yield Extent(lo, hi - lo, ExtentKind.ZERO)
                    continue
                at = source + lo - block - start
                if pending and pending[1] is stream and pending[0] + pending[3] == lo and pending[2] + pending[3] == at:
                    pending[3] += hi - lo
                else:
                    yield from self._flush(pending)
                    pending[:] = [lo, stream, at, hi - lo]
            pos = min(end, block + BLOCK)
        yield from self._flush(pending)
        if pos < end:
            yield from self._plain(pos, end)

    def _flush(self, pending: list[Any]) -> Iterator[Extent]:
        if pending:
            lo, stream, at, length = pending
            yield from self._from(stream, lo, at, length)
            pending.clear()
