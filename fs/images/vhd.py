"""VHD (Virtual PC / Hyper-V / Azure page blob) images: fixed, dynamic and differencing.

Layout (Microsoft "Virtual Hard Disk Image Format Specification"): a 512-byte big-endian footer
(``conectix``) at the end of the file, copied at offset 0 for dynamic and differencing disks; for those a
1024-byte dynamic header (``cxsparse``) pointing at the block allocation table (BAT, one 32-bit sector
number per block). Each allocated block is a sector bitmap (padded to 512 bytes) followed by the block's
data. A set bit means the sector is stored in this file; a clear bit that it reads as zeros (dynamic) or
comes from the parent (differencing), which is found through the header's parent locators.
"""

from __future__ import annotations

import functools
import os
import struct
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

from restorekit.fs.errors import CorruptImageError, ParentError
from restorekit.fs.image import Identity, Image, ParentRef
from restorekit.fs.images.bitmap import bitmap_runs
from restorekit.fs.stream import Extent, ExtentKind, FileSource, stored_extents

if TYPE_CHECKING:
    from collections.abc import Iterator

SECTOR = 512
FOOTER = struct.Struct(">8sIIQIIIIQQIII16sB")
HEADER = struct.Struct(">8sQQIIII16sI4x512s")
LOCATOR = struct.Struct(">4sIII Q".replace(" ", ""))
DISK_FIXED, DISK_DYNAMIC, DISK_DIFFERENCING = 2, 3, 4
DISK_TYPES = {DISK_FIXED: "fixed", DISK_DYNAMIC: "dynamic", DISK_DIFFERENCING: "differencing"}
UNALLOCATED = 0xFFFFFFFF
NO_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF
MAX_BLOCK_SIZE = 256 << 20
MAX_LOCATOR = 64 << 10  # a parent path: Windows paths have at most 32,767 UTF-16 characters


def vhd_checksum(data: bytes, field: int) -> int:
    """One's complement of the byte sum, skipping the 4-byte checksum field at ``field``."""
    return ~(sum(data[:field]) + sum(data[field + 4 :])) & 0xFFFFFFFF


@dataclass(frozen=True)
class Footer:
    """The fields of a VHD footer that reading needs."""

    data_offset: int
    current_size: int
    disk_type: int
    checksum_ok: bool
    unique_id: bytes
    creator: bytes

    @classmethod
    def parse(cls, raw: bytes) -> Footer:
        (_cookie, _features, _version, data_offset, _stamp, creator, _cver, _host, _orig, current, _geom,
         disk_type, checksum, unique_id, _saved) = FOOTER.unpack_from(raw)
        return cls(data_offset, current, disk_type, checksum == vhd_checksum(raw[:512], 64), unique_id, creator)


@dataclass(frozen=True)
class DynamicHeader:
    """The fields of a VHD dynamic-disk header."""

    table_offset: int
    max_table_entries: int
    block_size: int
    checksum_ok: bool
    parent_id: bytes
    parent_name: str
    locators: tuple[tuple[bytes, int, int], ...]  # (platform code, data offset, data length)

    @classmethod
    def parse(cls, raw: bytes) -> DynamicHeader:
        (_cookie, _data_offset, table_offset, _version, entries, block_size, checksum, parent_id, _stamp,
         parent_name) = HEADER.unpack_from(raw)
        locators = []
        for i in range(8):
            code, _space, length, _res, offset = LOCATOR.unpack_from(raw, 576 + 24 * i)
            if code != b"\0\0\0\0" and length:
                locators.append((code, offset, length))
        return cls(table_offset, entries, block_size, checksum == vhd_checksum(raw[:1024], 36), parent_id,
                   parent_name.decode("utf-16-be", "replace").split("\0", 1)[0], tuple(locators))


class VhdImage(Image):
    """A VHD image of any of the three disk types."""

    type_name = "vhd"

    footer: Footer
    header: DynamicHeader | None
    _bat: array[int]

    @classmethod
    def open(cls, source: FileSource, *, chain: tuple[Identity, ...] = ()) -> Image:
        footer, warnings = _read_footer(source)
        image = cls(source, footer.current_size, chain=chain)
        image.footer = footer
        image.header = None
        image.warnings += warnings
        image.format = f"vhd-{DISK_TYPES[footer.disk_type]}"
        if footer.disk_type == DISK_FIXED:
            image._open_fixed()
        else:
            image._open_dynamic()
        return image

    # -- opening ---------------------------------------------------------------------------------------

    def _open_fixed(self) -> None:
        data_end = self.source.size - SECTOR
        if data_end < self.size:
            raise CorruptImageError(
                f"fixed VHD should hold {self.size} bytes of data before its footer but holds {data_end}",
                image=self.path, offset=data_end, hint="the image is truncated; copy it again",
            )

    def _open_dynamic(self) -> None:
        footer, src = self.footer, self.source
        if footer.data_offset == NO_DATA_OFFSET or footer.data_offset + 1024 > src.size:
            raise CorruptImageError(
                f"dynamic header offset {footer.data_offset:#x} is outside the file ({src.size} bytes)",
                image=self.path, offset=footer.data_offset, hint="the footer is damaged or the file truncated",
            )
        raw = src.pread(1024, footer.data_offset)
        if raw[:8] != b"cxsparse":
            raise CorruptImageError(
                "no dynamic header ('cxsparse') where the footer points", image=self.path,
                offset=footer.data_offset, hint="the image is damaged",
            )
        header = DynamicHeader.parse(raw)
        self.header = header
        bs = header.block_size
        if bs < SECTOR or bs & (bs - 1) or bs > MAX_BLOCK_SIZE:
            raise CorruptImageError(f"block size {bs} is not a power of two from 512 bytes to 256 MiB",
                                    image=self.path, offset=footer.data_offset + 32,
                                    hint="the dynamic header is damaged")
        if not header.checksum_ok:
            self.warnings.append(
                f"dynamic header checksum is wrong (at offset {footer.data_offset:#x}); its fields are "
                "plausible, so it was used as it is (libvhdi does the same)"
            )
        self.block_size = bs
        self._sectors_per_block = bs // SECTOR
        self._bitmap_size = -(-self._sectors_per_block // 8 // SECTOR) * SECTOR
        blocks = -(-self.size // bs)
        if header.max_table_entries < blocks:
            raise CorruptImageError(
                f"block allocation table has {header.max_table_entries} entries but the disk needs {blocks}",
                image=self.path, offset=footer.data_offset + 28, hint="the dynamic header is damaged",
            )
        if header.table_offset + 4 * blocks > src.size:
            raise CorruptImageError(
                "block allocation table runs past the end of the file", image=self.path,
                offset=header.table_offset, hint="the image is truncated; copy it again",
            )
        bat = array("I", src.pread(4 * blocks, header.table_offset))
        if bat.itemsize != 4:  # pragma: no cover - every platform we run on has 4-byte "I"
            raise RuntimeError("array('I') is not 32-bit here")
        if struct.pack("=I", 1) != struct.pack(">I", 1):
            bat.byteswap()
        self._bat = bat
        self._check_bat(header.table_offset, self._bitmap_size + bs)

    def _check_bat(self, table_offset: int, span: int) -> None:
        """Every allocated block (bitmap + data, ``span`` bytes) must lie before the footer."""
        limit = self.source.size - SECTOR
        for index, sector in enumerate(self._bat):
            if sector != UNALLOCATED and sector * SECTOR + span > limit:
                raise CorruptImageError(
                    f"block allocation table entry {index} points at {sector * SECTOR:#x}, past the end of the "
                    f"data ({limit:#x})", image=self.path, offset=table_offset + 4 * index,
                    hint="the image is truncated or its BAT is damaged; copy it again",
                )

    def parent_ref(self) -> ParentRef | None:
        if self.footer.disk_type != DISK_DIFFERENCING:
            return None
        assert self.header is not None
        return ParentRef(self._parent_candidates(), repr(self.header.parent_name or "(unnamed)"))

    def attach_parent(self, parent: Image) -> None:
        assert self.header is not None
        parent_id = parent.footer.unique_id if isinstance(parent, VhdImage) else None
        if parent_id != self.header.parent_id:
            found = parent_id.hex() if parent_id else f"a {parent.format} image without a VHD unique id"
            raise ParentError(
                f"parent {parent.path} is not the image this child was made from: child expects unique id "
                f"{self.header.parent_id.hex()}, parent has {found}",
                image=self.path,
                hint="find the parent image of the same backup (a restored or re-created copy has a new id)",
            )
        self.parent = parent
        if parent.size < self.size:
            self.warnings.append(f"parent {parent.path} is smaller ({parent.size} bytes) than the child; "
                                 "the rest reads as zeros")

    def _parent_candidates(self) -> list[str]:
        """Where the parent may be: relative locators, then absolute ones, then the name beside the child."""
        assert self.header is not None
        here = os.path.dirname(os.path.abspath(self.path))
        relative: list[str] = []
        absolute: list[str] = []
        for code, offset, length in self.header.locators:
            if offset + length > self.source.size or length > MAX_LOCATOR:
                self.warnings.append(f"parent locator {code.decode(errors='replace')} ({length} bytes at {offset:#x}) "
                                     f"is longer than a path ({MAX_LOCATOR} bytes) or runs past the end of the file; "
                                     "ignored")
                continue
            raw = self.source.pread(length, offset)
            if code in (b"W2ru", b"W2ku"):
                text = raw.decode("utf-16-le", "replace").split("\0", 1)[0]
            elif code == b"MacX":
                text = raw.decode("utf-8", "replace").split("\0", 1)[0].removeprefix("file://")
            else:
                continue
            path = text.replace("\\", "/")
            if code == b"W2ru":
                relative.append(os.path.normpath(os.path.join(here, path)))
            else:
                absolute.append(path)
        by_name = []
        if self.header.parent_name:
            by_name.append(os.path.join(here, self.header.parent_name.replace("\\", "/").rsplit("/", 1)[-1]))
        return relative + absolute + by_name

    # -- mapping ---------------------------------------------------------------------------------------

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        if self.footer.disk_type == DISK_FIXED:
            yield from stored_extents(self.source, offset, offset + length)
            return
        bs = self.block_size
        assert bs is not None
        # A sector whose bitmap bit is clear is not stored here: it reads from the parent in a differencing
        # disk and as zeros in a dynamic one (as libvhdi and Windows read it; qemu ignores dynamic bitmaps).
        absent = ExtentKind.PARENT if self.footer.disk_type == DISK_DIFFERENCING else ExtentKind.ZERO
        end = offset + length
        pos = offset
        while pos < end:
            index, within = divmod(pos, bs)
            step = min(bs - within, end - pos)
            sector = self._bat[index]
            if sector == UNALLOCATED:
                yield Extent(pos, step, absent)
            else:
                yield from self._map_block(index, pos, step, sector * SECTOR + self._bitmap_size, absent)
            pos += step

    def _map_block(self, index: int, pos: int, length: int, data: int, absent: ExtentKind) -> Iterator[Extent]:
        """Split a range of one allocated block into runs stored here and runs that are not."""
        base = index * self.block_size  # type: ignore[operator]
        for start, stop, present in self._block_runs(index):
            run_start = max(pos, base + start * SECTOR)
            run_end = min(pos + length, base + stop * SECTOR)
            if run_start >= run_end:
                continue
            if present:
                yield Extent(run_start, run_end - run_start, ExtentKind.DATA, self.source, data + run_start - base)
            else:
                yield Extent(run_start, run_end - run_start, absent)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - bounded; the image lives as long as its cache
    def _block_runs(self, index: int) -> tuple[tuple[int, int, bool], ...]:
        """Runs of (first sector, end sector, stored here) of one block, from its sector bitmap."""
        spb = self._sectors_per_block
        bitmap = self.source.pread(self._bitmap_size, self._bat[index] * SECTOR)
        return bitmap_runs(bitmap, spb, msb_first=True)


def _read_footer(source: FileSource) -> tuple[Footer, list[str]]:
    """The footer at the end of the file, or its copy at offset 0 when the end one is damaged."""
    warnings: list[str] = []
    size = source.size
    end = source.pread(SECTOR, size - SECTOR) if size >= SECTOR else b""
    head = source.pread(SECTOR, 0) if size >= SECTOR else b""
    end_ok = end[:8] == b"conectix"
    if not end_ok:
        if head[:8] == b"conectix":
            raise CorruptImageError(
                "no VHD footer at the end of the file, only its copy at the start: the image is truncated",
                image=source.name, offset=max(0, size - SECTOR),
                hint="copy the image again; the end of a dynamic VHD holds its footer",
            )
        raise CorruptImageError("no VHD footer ('conectix')", image=source.name, offset=max(0, size - SECTOR))
    footer = Footer.parse(end)
    if not footer.checksum_ok:
        copy = Footer.parse(head) if head[:8] == b"conectix" else None
        if copy is not None and copy.checksum_ok and copy.disk_type != DISK_FIXED:
            warnings.append("footer checksum is wrong at the end of the file; used its copy at offset 0")
            footer = copy
        elif _plausible(footer, size):
            warnings.append(f"footer checksum is wrong (at offset {size - SECTOR:#x}); its fields are "
                            "plausible, so it was used as it is (libvhdi does the same)")
        else:
            raise CorruptImageError(
                "footer checksum is wrong and its fields are not plausible (disk type "
                f"{footer.disk_type}, size {footer.current_size}, header offset {footer.data_offset:#x})",
                image=source.name, offset=size - SECTOR, hint="the image is damaged; copy it again",
            )
    if footer.disk_type not in DISK_TYPES:
        raise CorruptImageError(f"unknown VHD disk type {footer.disk_type}", image=source.name,
                                offset=size - SECTOR + 60, hint="the footer is damaged")
    if footer.current_size % SECTOR:
        warnings.append(f"virtual size {footer.current_size} is not a multiple of 512 bytes")
    return footer, warnings


def _plausible(footer: Footer, file_size: int) -> bool:
    if footer.disk_type == DISK_FIXED:
        return footer.current_size + SECTOR <= file_size and footer.data_offset == NO_DATA_OFFSET
    return footer.disk_type in DISK_TYPES and footer.data_offset + 1024 <= file_size
