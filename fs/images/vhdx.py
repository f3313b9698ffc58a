"""VHDX (Hyper-V) images: fixed, dynamic and differencing (``.avhdx``), with the log replayed in memory.

Layout (Microsoft "[MS-VHDX] Virtual Hard Disk v2 (VHDX) File Format" and libyal's libvhdi notes), all
little-endian and 1 MiB aligned:

* 0: the file type identifier ``vhdxfile``; 64 KiB and 128 KiB: two 4 KiB headers (``head``, CRC-32C with
  the checksum field zeroed); the valid one with the higher sequence number is current. It gives the
  DataWriteGuid (what a child's ``parent_linkage`` names) and where the log is.
* 192 KiB and 256 KiB: two copies of the region table (``regi``) locating the BAT and the metadata region.
* The metadata region: a 64 KiB table (``metadata``) of items: file parameters (block size, "leave blocks
  allocated", "has parent"), virtual disk size, sector sizes, the virtual disk id and the parent locator.
* The BAT: one 64-bit entry per payload block (state in bits 0-2, file offset in MiB in bits 20-63), with a
  sector-bitmap entry after every *chunk ratio* payload entries (chunk ratio = 2^23 * logical sector size /
  block size). In a differencing image a partially present block's sector bitmap (1 bit per logical sector,
  least significant bit first) tells which sectors are stored here; the rest come from the parent.
* The log: a ring of entries (``loge``) holding 4 KiB page writes (``desc`` + ``data`` sectors) and zero
  ranges (``zero``) that must be applied before the file is read. Hyper-V leaves a non-empty log when the
  host stops abruptly. We never write the image: the active sequence is replayed into an in-memory overlay
  of the file, and region tables, metadata, BAT and sector bitmaps are read through that overlay.

Block states and what they read as: FULLY_PRESENT is stored here; ZERO reads as zeros; NOT_PRESENT and
UNDEFINED read as zeros, or in a differencing image come from the parent; UNMAPPED (the guest discarded the
block) reads as zeros, which the specification allows for every image type (the parent's bytes are not
always "the contents before the unmap", so they would be wrong for a block the child had written).
"""

from __future__ import annotations

import functools
import os
import sys
import uuid
from array import array
from typing import TYPE_CHECKING, NoReturn

from restorekit.fs.errors import CorruptImageError, ParentError
from restorekit.fs.image import Image, ParentRef
from restorekit.fs.images.bitmap import bitmap_runs
from restorekit.fs.images.vhdx_log import FileView, replay_log
from restorekit.fs.images.vhdx_meta import (
    BAT_REGION,
    FULLY_PRESENT,
    HEADER_SECTION,
    METADATA_REGION,
    MIB,
    NOT_PRESENT,
    PARTIALLY_PRESENT,
    PATH_KEYS,
    PAYLOAD_STATES,
    SB_BLOCK_PRESENT,
    UNDEFINED,
    UNMAPPED,
    ZERO,
    Header,
    Metadata,
    read_header,
    read_metadata,
    read_region_table,
    read_through,
)
from restorekit.fs.stream import Extent, ExtentKind

if TYPE_CHECKING:
    from collections.abc import Iterator

    from restorekit.fs.image import Identity
    from restorekit.fs.stream import FileSource

# -- the image ----------------------------------------------------------------------------------------------


class VhdxImage(Image):
    """A VHDX image of any type; the log, when not empty, is replayed in memory."""

    type_name = "vhdx"

    header: Header
    metadata: Metadata
    view: FileView
    creator: str
    #: True when the image had a non-empty log, replayed in memory.
    log_replayed: bool
    _bat: array[int]
    _bat_offset: int
    _chunk_ratio: int

    @classmethod
    def open(cls, source: FileSource, *, chain: tuple[Identity, ...] = ()) -> Image:
        if source.size < HEADER_SECTION:
            raise CorruptImageError(
                f"the file has only {source.size} bytes; a VHDX needs at least its 1 MiB header section",
                image=source.name,
                offset=source.size,
                hint="the image is truncated; copy it again",
            )
        header, warnings = read_header(source)
        if header.log_guid.int:
            view, more = replay_log(source, header)
            warnings += more
        else:
            view = FileView(source)
        regions, more = read_region_table(view)
        warnings += more
        metadata, more = read_metadata(view, regions[METADATA_REGION])
        warnings += more
        image = cls(source, metadata.virtual_size, chain=chain)
        image.header, image.metadata, image.view = header, metadata, view
        image.log_replayed = bool(header.log_guid.int)
        image.creator = source.pread(512, 8).decode("utf-16-le", "replace").split("\0", 1)[0]
        image.warnings += warnings
        image.block_size = metadata.block_size
        if metadata.has_parent:
            image.format = "vhdx-differencing"
        else:
            image.format = "vhdx-fixed" if metadata.leave_blocks_allocated else "vhdx-dynamic"
        image._load_bat(regions[BAT_REGION])
        return image

    # -- opening ---------------------------------------------------------------------------------------

    def _load_bat(self, region: tuple[int, int]) -> None:
        """Read the BAT and check every entry that reading will use."""
        meta = self.metadata
        bs = meta.block_size
        self._chunk_ratio = ratio = (1 << 23) * meta.logical_sector_size // bs
        blocks = -(-self.size // bs)
        if meta.has_parent:
            entries = -(-blocks // ratio) * (ratio + 1)
        else:
            entries = blocks + (blocks - 1) // ratio if blocks else 0
        self._bat_offset, region_length = region
        if entries * 8 > region_length:
            raise CorruptImageError(
                f"the BAT region has room for {region_length // 8} entries but the disk needs {entries}",
                image=self.path,
                offset=self._bat_offset,
                hint="the region table or metadata is damaged; copy the image again",
            )
        bat = array("Q", read_through(self.view, self._bat_offset, entries * 8, "BAT"))
        if sys.byteorder != "little":  # pragma: no cover - the on-disk format is little-endian
            bat.byteswap()
        self._bat = bat
        for index in range(blocks):
            self._check_block(index, min(bs, self.size - index * bs))

    def _check_block(self, index: int, needed: int) -> None:
        ratio = self._chunk_ratio
        entry_index = index + index // ratio
        entry = self._bat[entry_index]
        state = entry & 7
        if state in (NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED):
            return
        if state not in PAYLOAD_STATES:
            self._bad_entry(entry_index, f"has the reserved state {state}")
        if state == PARTIALLY_PRESENT and not self.metadata.has_parent:
            self._bad_entry(entry_index, "is PARTIALLY_PRESENT, which only a differencing disk may use")
        self._check_location(entry_index, entry >> 20 << 20, needed, "payload block")
        if state == PARTIALLY_PRESENT:
            bitmap_index = (index // ratio) * (ratio + 1) + ratio
            bitmap = self._bat[bitmap_index]
            if bitmap & 7 != SB_BLOCK_PRESENT:
                self._bad_entry(
                    bitmap_index,
                    f"(the sector bitmap of payload block {index}) is not present but the block is PARTIALLY_PRESENT",
                )
            self._check_location(bitmap_index, bitmap >> 20 << 20, MIB, "sector bitmap block")

    def _check_location(self, entry_index: int, at: int, needed: int, what: str) -> None:
        if at < HEADER_SECTION:
            self._bad_entry(entry_index, f"places a {what} at {at:#x}, inside the header section")
        if at + needed > self.view.size:
            self._bad_entry(
                entry_index, f"places a {what} at {at:#x}, past the end of the file ({self.view.size} bytes)"
            )

    def _bad_entry(self, entry_index: int, problem: str) -> NoReturn:
        raise CorruptImageError(
            f"BAT entry {entry_index} {problem}",
            image=self.path,
            offset=self._bat_offset + 8 * entry_index,
            hint="the image is truncated or its BAT is damaged; copy it again",
        )

    def parent_ref(self) -> ParentRef | None:
        meta = self.metadata
        if not meta.has_parent:
            return None
        recorded = {key: meta.parent_locator[key] for key in PATH_KEYS if meta.parent_locator.get(key)}
        what = f"'{_windows_name(next(iter(recorded.values()), ''))}'"
        if recorded:
            what += " (recorded as " + ", ".join(f'{key} "{value}"' for key, value in recorded.items()) + ")"
        return ParentRef(self._parent_candidates(), what, meta.parent_locator_offset)

    def attach_parent(self, parent: Image) -> None:
        meta = self.metadata
        locator = meta.parent_locator
        expected = [locator[key] for key in ("parent_linkage", "parent_linkage2") if key in locator]
        problem = None
        if not isinstance(parent, VhdxImage):
            problem = (
                f"parent {parent.path} is a {parent.format} image, but a VHDX differencing disk needs a VHDX parent"
            )
        elif not expected:
            problem = "the parent locator has no parent_linkage, so the parent cannot be verified"
        elif str(parent.header.data_write_guid) not in {_parse_guid_text(text) for text in expected}:
            problem = (
                f"parent {parent.path} is not the image this child was made from: child expects "
                f"DataWriteGuid {expected[0]}, parent has {{{parent.header.data_write_guid}}}"
            )
        elif parent.metadata.logical_sector_size != meta.logical_sector_size:
            problem = (
                f"parent {parent.path} has {parent.metadata.logical_sector_size}-byte sectors, the child "
                f"{meta.logical_sector_size}-byte ones"
            )
        if problem:
            raise ParentError(
                problem,
                image=self.path,
                offset=meta.parent_locator_values.get("parent_linkage", meta.parent_locator_offset),
                hint="find the parent image of the same recovery point; a parent that was opened read-write "
                "(mounted, merged or compacted) after the child was made has a new DataWriteGuid and no longer fits",
            )
        self.parent = parent
        if parent.size < self.size:
            self.warnings.append(
                f"parent {parent.path} is smaller ({parent.size} bytes) than the child; the rest reads as zeros"
            )

    def _parent_candidates(self) -> list[str]:
        """relative_path beside the child, then volume_path and absolute_win32_path, then the name beside it."""
        locator = self.metadata.parent_locator
        here = os.path.dirname(os.path.abspath(self.path))
        candidates: list[str] = []
        relative = locator.get("relative_path")
        if relative:
            candidates.append(os.path.normpath(os.path.join(here, relative.replace("\\", "/"))))
        for key in PATH_KEYS[1:]:
            local = _local_path(locator.get(key, ""))
            if local:
                candidates.append(local)
        for key in PATH_KEYS:
            name = _windows_name(locator.get(key))
            if name:
                candidates.append(os.path.join(here, name))
        return candidates

    # -- mapping ---------------------------------------------------------------------------------------

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        bs = self.metadata.block_size
        ratio = self._chunk_ratio
        bat = self._bat
        place = self.view.place
        differencing = self.metadata.has_parent
        end = offset + length
        pos = offset
        while pos < end:
            index, within = divmod(pos, bs)
            step = min(bs - within, end - pos)
            entry = bat[index + index // ratio]
            state = entry & 7
            if state == FULLY_PRESENT:
                yield from place(pos, (entry >> 20 << 20) + within, step)
            elif state == PARTIALLY_PRESENT:
                yield from self._map_partial(index, entry >> 20 << 20, pos, within, step)
            elif differencing and state in (NOT_PRESENT, UNDEFINED):
                yield Extent(pos, step, ExtentKind.PARENT)
            else:
                yield Extent(pos, step, ExtentKind.ZERO)
            pos += step

    def _map_partial(self, index: int, data: int, pos: int, within: int, length: int) -> Iterator[Extent]:
        """Split a range of a partially present block into sectors stored here and sectors of the parent."""
        sector = self.metadata.logical_sector_size
        first, stop = within // sector, -(-(within + length) // sector)
        base = pos - within
        for lo, hi, present in self._block_runs(index):
            lo, hi = max(lo, first), min(hi, stop)
            if lo >= hi:
                continue
            run_start = max(within, lo * sector)
            run_end = min(within + length, hi * sector)
            if present:
                yield from self.view.place(base + run_start, data + run_start, run_end - run_start)
            else:
                yield Extent(base + run_start, run_end - run_start, ExtentKind.PARENT)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - bounded; the image lives as long as its cache
    def _block_runs(self, index: int) -> tuple[tuple[int, int, bool], ...]:
        """Runs of (first sector, end sector, stored here) of one block, from its chunk's sector bitmap."""
        ratio = self._chunk_ratio
        bitmap_entry = self._bat[(index // ratio) * (ratio + 1) + ratio]
        size = MIB // ratio
        at = (bitmap_entry >> 20 << 20) + (index % ratio) * size
        return bitmap_runs(self.view.pread(size, at), self.metadata.block_size // self.metadata.logical_sector_size)


def _parse_guid_text(text: str) -> str | None:
    try:
        return str(uuid.UUID(text.strip().strip("{}")))
    except ValueError:
        return None


def _windows_name(path: str | None) -> str:
    """The file name at the end of a Windows (or POSIX) path."""
    return (path or "").replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _local_path(path: str) -> str | None:
    """A locator path usable on this machine: POSIX-absolute ones here, anything absolute on Windows."""
    if not path:
        return None
    text = path.removeprefix("\\\\?\\")
    if os.name == "nt":  # pragma: no cover - we test on POSIX
        return text
    text = text.replace("\\", "/")
    return text if text.startswith("/") else None

