"""ext2/3/4's whole tree read in bulk (:mod:`restorekit.fs.table`): the inode tables, then every folder's blocks.

The group descriptors say where each group's inode table is and (with ``uninit_bg``/``metadata_csum``) how much of
it is in use; the tables are read group after group in large sequential reads (flex_bg puts them side by side),
parsed a chunk at a time with numpy, and only the folders' ``i_block`` is kept. The folders' blocks (extent trees
and ext2/3 block maps) are then sorted by where they are on the volume and read in large runs, and their entries
parsed with numpy, every block of a chunk at once. Reads go into buffers used again, straight from the image files
where the bytes are stored there as they are (a fresh buffer per read is memory paged in anew every time).

The values are those :func:`restorekit.fs.filesystems.posix.posix_entry` gets from pyfsext (libfsext): its time
rules (epoch bits, nanoseconds, a creation time only where ``i_extra_isize`` covers it, 0 meaning none), sizes
only for files and links (with the high 32 bits only where libfsext reads them, its "format version 4"), and
``sparse`` as libfsext's extent list says it (a hole, an unwritten extent or a tail not covered). What that takes
more than the inode to know is flagged :data:`F_SLOW` and made by pyfsext: a file whose extent tree is deeper than
the inode, a block-mapped (ext2/3) file of more than 12 blocks whose ``i_blocks`` says a block is missing (one
whose ``i_blocks`` counts every data and pointer block its size needs has no hole), a link whose target is in
blocks that are not one run (targets in one run are read after the inode tables). Anything libfsext would refuse
or read differently from what this parser assumes (an unknown inode flag, an inline-data folder, a hole in a
folder, a damaged entry, a name or link target that is not UTF-8, an empty link) makes the whole table
unavailable when a folder lists it, so the walk reads folder by folder and reports it as before.
"""

from __future__ import annotations

import bisect
import os
import struct
from typing import TYPE_CHECKING

import numpy as np

from restorekit.fs.errors import RestoreKitError, TableUnavailable
from restorekit.fs.filesystems.ext import ROOT_INODE
from restorekit.fs.stream import Extent, ExtentKind
from restorekit.fs.table import (
    F_EXTRA,
    F_SLOW,
    F_SPARSE,
    K_DEVICE,
    K_DIR,
    K_FIFO,
    K_FILE,
    K_OTHER,
    K_SOCKET,
    K_SYMLINK,
    NO_TIME,
    NODE_DTYPE,
    TableBuilder,
    distinct,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from restorekit.fs.filesystems.ext import ExtFilesystem
    from restorekit.fs.table import FileTable

#: How much one read takes (inode tables, folder blocks).
CHUNK = 4 << 20
#: How many bytes of folder blocks are parsed at once (the parse needs about 3 bytes of memory per byte).
DIR_CHUNK = 2 << 20
#: Zero bytes after a chunk of folder blocks: room for the longest name (255 bytes) read as one item from the last
#: block (:func:`_dir_names`).
DIR_SPARE = 256
#: How many bytes of names (read as items as wide as the longest) are cut to their lengths at once: little enough
#: that the batch's arrays stay below 256 KiB, from which the C heap (as :mod:`restorekit.fs.table` sets it up)
#: gives each allocation a fresh mapping, paged in anew.
NAME_BATCH = 128 << 10
#: Two runs closer than this on the volume are read as one (the bytes between are read and dropped).
GAP = 256 << 10
#: Inode flags libfsext reads (any other makes it refuse the inode; see libfsext_inode_read_data).
_SUPPORTED_FLAGS = (0x1 | 0x2 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x1000 | 0x4000 | 0x8000 | 0x10000 | 0x80000
                    | 0x200000 | 0x10000000)
FL_EXTENTS, FL_EA_INODE, FL_INLINE_DATA = 0x80000, 0x200000, 0x10000000
INCOMPAT_META_BG, INCOMPAT_64BIT = 0x10, 0x80
RO_COMPAT_GDT_CSUM, RO_COMPAT_METADATA_CSUM = 0x10, 0x400
BG_INODE_UNINIT = 0x1
EXTENT_MAGIC = 0xF30A
_INT64_MAX = (1 << 63) - 1
#: libfsext's range checks on seconds before they are scaled to nanoseconds (C division truncates toward 0).
_SEC_MAX = _INT64_MAX // 10**9

_EXTENT = np.dtype([("block", "<u4"), ("len", "<u2"), ("start_hi", "<u2"), ("start_lo", "<u4")])
_EXTENT_HEADER = np.dtype([("magic", "<u2"), ("entries", "<u2"), ("max", "<u2"), ("depth", "<u2"),
                           ("generation", "<u4")])
_KIND_BY_TYPE = np.full(16, K_OTHER, np.uint8)
for _type, _kind in ((0x8, K_FILE), (0x4, K_DIR), (0xA, K_SYMLINK), (0x1, K_FIFO), (0x2, K_DEVICE),
                     (0x6, K_DEVICE), (0xC, K_SOCKET)):
    _KIND_BY_TYPE[_type] = _kind


class _Geometry:
    """What the superblock and group descriptors say about where the inodes are."""

    def __init__(self, fs: ExtFilesystem) -> None:
        sb = _read(fs, 1024, 1024)
        (inodes_count, blocks_lo, _r, _free, _ifree, first_data_block, log_block, _lf, blocks_per_group, _fpg,
         inodes_per_group) = struct.unpack_from("<11I", sb, 0)
        rev_level = struct.unpack_from("<I", sb, 76)[0]
        first_ino, inode_size = struct.unpack_from("<IH", sb, 84) if rev_level >= 1 else (11, 128)
        compat, incompat, ro_compat = struct.unpack_from("<III", sb, 92)
        desc_size = struct.unpack_from("<H", sb, 254)[0]
        self.block_size = bs = 1024 << log_block
        blocks = blocks_lo | (struct.unpack_from("<I", sb, 0x150)[0] << 32 if incompat & INCOMPAT_64BIT else 0)
        # libfsext's "format version": 4 reads the high 32 bits of sizes and extent trees
        self.v4 = bool(compat & 0x200 or incompat & 0x1F7C0 or ro_compat & 0x378)
        if incompat & INCOMPAT_META_BG:
            raise TableUnavailable("meta_bg group descriptors")
        if inode_size not in (128, 256, 512, 1024) or not inodes_per_group or not blocks_per_group or bs > 32768:
            raise TableUnavailable("unusual superblock")
        self.inode_size = inode_size
        self.inodes_count = inodes_count
        self.inodes_per_group = inodes_per_group
        self.first_ino = first_ino
        self.blocks = min(blocks, fs.stream.size // bs)
        groups = -(-(blocks - first_data_block) // blocks_per_group)
        if groups <= 0 or groups * inodes_per_group < inodes_count:
            raise TableUnavailable("group count does not cover the inodes")
        groups = -(-inodes_count // inodes_per_group)
        wide = bool(incompat & INCOMPAT_64BIT) and desc_size >= 64
        size = desc_size if wide else 32
        data = np.frombuffer(_read(fs, (first_data_block + 1) * bs, groups * size), np.uint8).reshape(groups, size)
        table = _le(data, 8, 4)
        if wide:
            table |= _le(data, 0x28, 4) << np.uint64(32)
        flags = _le(data, 0x12, 2)
        unused = _le(data, 0x1C, 2) | (_le(data, 0x32, 2) << np.uint64(16) if wide else np.uint64(0))
        count = np.full(groups, inodes_per_group, np.int64)
        if ro_compat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM):
            count = np.where(flags & BG_INODE_UNINIT, 0, count - np.minimum(unused, inodes_per_group).astype(np.int64))
        #: Per group: the byte offset of its inode table, and how many of its inodes to read.
        self.table_offsets = table.astype(np.int64) * bs
        self.counts = count
        ends = self.table_offsets + count * inode_size
        if np.any((count > 0) & ((table == 0) | (ends > self.blocks * bs))):
            raise TableUnavailable("an inode table outside the volume")


def _le(data: np.ndarray, offset: int, width: int) -> np.ndarray:
    """Little-endian unsigned fields at ``offset`` of each row of ``data``, as uint64."""
    out = np.zeros(len(data), np.uint64)
    for i in range(width):
        out |= data[:, offset + i].astype(np.uint64) << np.uint64(8 * i)
    return out


def _read_into(fs: ExtFilesystem, offset: int, out: np.ndarray, known: _Map | None = None) -> None:
    """Fill ``out`` with the volume's bytes at ``offset``: straight into place where all of them are stored as
    they are in local files (:func:`_read_direct`), else by one read of the stream (a remote source fetches a large
    read ahead, in parallel)."""
    if not _read_direct(fs, offset, out, known):
        memoryview(out)[:] = _read(fs, offset, len(out))


def _read_direct(fs: ExtFilesystem, offset: int, out: np.ndarray, known: _Map | None = None) -> bool:
    """Read the volume's bytes at ``offset`` into ``out`` with ``os.preadv`` from the image files, as the copier
    does, when all of them are stored as they are in local files (or are zeros); False, ``out`` untouched, when
    they are not (a remote, decrypted or rebuilt source). The stream's own reads make a bytes object each, then
    copied into ``out``; read into it straight, a 1M-file table builds in 0.30 s rather than 0.35 s.
    Where the bytes are is looked up in ``known`` when given (else mapped here)."""
    if not hasattr(os, "preadv"):
        return False
    runs = (known or _Map(fs, offset, len(out))).runs_of(offset, len(out))
    files = [ext.source.fileno() if ext.kind is ExtentKind.DATA and ext.source is not None else None for ext in runs]
    if sum(ext.length for ext in runs) != len(out) or any(
            fd is None and ext.kind is not ExtentKind.ZERO for ext, fd in zip(runs, files, strict=True)):
        return False
    view = memoryview(out)
    for ext, fd in zip(runs, files, strict=True):
        at = ext.offset - offset
        if fd is None:
            out[at : at + ext.length] = 0
            continue
        done = 0
        while done < ext.length:
            try:
                count = os.preadv(fd, [view[at + done : at + ext.length]], ext.source_offset + done)
            except OSError as exc:
                raise TableUnavailable(f"cannot read {ext.length} bytes at {offset}: {exc}") from exc
            if count <= 0:
                raise TableUnavailable(f"short read at {offset}")
            done += count
    return True


class _Map:
    """Where the bytes of a range of the volume are stored (the stream's :class:`Extent` runs), mapped once for
    the many small reads inside it: a map per read (every layer walked, holes asked of the image file) costs more
    than the read."""

    def __init__(self, fs: ExtFilesystem, offset: int, length: int) -> None:
        try:
            self.runs = list(fs.stream.extents(offset, length))
        except (RestoreKitError, OSError) as exc:
            raise TableUnavailable(f"cannot map {length} bytes at {offset}: {exc}") from exc
        self.starts = [ext.offset for ext in self.runs]

    def runs_of(self, offset: int, length: int) -> list[Extent]:
        """The runs of ``[offset, offset + length)`` (short of it where it reaches past the range mapped)."""
        out = []
        end = offset + length
        for ext in self.runs[max(0, bisect.bisect_right(self.starts, offset) - 1) :]:
            if ext.offset >= end:
                break
            lo, hi = max(offset, ext.offset), min(end, ext.offset + ext.length)
            if lo < hi:
                out.append(Extent(lo, hi - lo, ext.kind, ext.source, ext.source_offset + lo - ext.offset))
        return out


def _read(fs: ExtFilesystem, offset: int, length: int) -> bytes:
    try:
        data = fs.stream.pread(length, offset)
    except (RestoreKitError, OSError) as exc:
        raise TableUnavailable(f"cannot read {length} bytes at {offset}: {exc}") from exc
    if len(data) != length:
        raise TableUnavailable(f"short read at {offset}")
    return data


class _Folders:
    """The folders met in the inode tables: number, size and ``i_block`` (all that the folder pass needs)."""

    def __init__(self) -> None:
        self.numbers: list[np.ndarray] = []
        self.sizes: list[np.ndarray] = []
        self.blocks: list[np.ndarray] = []
        self.mapped: list[np.ndarray] = []

    def add(self, numbers: np.ndarray, sizes: np.ndarray, blocks: np.ndarray, mapped: np.ndarray) -> None:
        self.numbers.append(numbers)
        self.sizes.append(sizes)
        self.blocks.append(blocks)
        self.mapped.append(mapped)


def build_table(fs: ExtFilesystem) -> FileTable:
    """The volume's :class:`FileTable`; :class:`TableUnavailable` when something in it is left to the folder
    walk (see the module's notes)."""
    fs.backend  # noqa: B018 - a volume pyfsext cannot open is not walked from a table either
    try:
        return _build(fs)
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # values no check above foresaw (a damaged volume): the folder walk reads it and says what is wrong
        raise TableUnavailable(f"the inode tables or folders cannot be parsed: {exc!r}") from exc


def _build(fs: ExtFilesystem) -> FileTable:
    geo = _Geometry(fs)
    builder = TableBuilder(posix=True)
    folders = _Folders()
    refused: list[np.ndarray] = []
    links: list[tuple[int, int, int]] = []
    for numbers, raw in _inode_chunks(fs, geo):
        numbers, records, bad = _parse_inodes(fs, geo, numbers, raw, builder, folders, links)
        builder.add_nodes(numbers, records)
        if len(bad):
            refused.append(bad)
    _read_link_targets(fs, geo, links, builder, refused)
    refused_numbers = distinct(np.concatenate(refused))[0] if refused else np.zeros(0, np.uint64)
    _folder_rows(fs, geo, folders, builder, refused_numbers)
    return builder.finish(ROOT_INODE)


def _inode_chunks(fs: ExtFilesystem, geo: _Geometry) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inode numbers, rows of raw inodes) of the groups' used inodes, in number order, a few MiB at a time (the
    rows are in buffers used again for the next chunk: valid until then)."""
    isz, ipg = geo.inode_size, geo.inodes_per_group
    offsets, counts = geo.table_offsets.tolist(), geo.counts.tolist()
    span, rows = np.empty(0, np.uint8), np.empty(0, np.uint8)
    group, groups = 0, len(offsets)
    while group < groups:
        if not counts[group]:
            group += 1
            continue
        # groups whose used inodes follow each other closely on the volume (flex_bg) are one read
        first, start = group, offsets[group]
        end = start + counts[group] * isz
        group += 1
        while group < groups and end - start < CHUNK:
            if counts[group] and not 0 <= offsets[group] - end <= GAP:
                break
            if counts[group]:
                end = offsets[group] + counts[group] * isz
            group += 1
        if len(span) < end - start:
            span = np.empty(end - start, np.uint8)
        data = span[: end - start]
        _read_into(fs, start, data)
        parts, numbers = [], []
        for g in range(first, group):
            n = min(counts[g], geo.inodes_count - g * ipg)
            if n <= 0:
                continue
            at = offsets[g] - start
            parts.append(data[at : at + n * isz].reshape(n, isz))
            numbers.append(np.arange(g * ipg + 1, g * ipg + n + 1, dtype=np.uint64))
        if len(parts) == 1:
            yield numbers[0], parts[0]
        elif parts:
            size = sum(part.size for part in parts)
            if len(rows) < size:
                rows = np.empty(size, np.uint8)
            yield np.concatenate(numbers), np.concatenate(parts, out=rows[:size].reshape(-1, isz))


def _field(raw: np.ndarray, offset: int, fmt: str) -> np.ndarray:
    """The field at ``offset`` of each inode (row) of ``raw``: a strided view, no copy."""
    if not len(raw):
        return np.zeros(0, fmt)
    raw = np.ascontiguousarray(raw)
    return np.ndarray((len(raw),), np.dtype(fmt), raw, offset, (raw.shape[1],))


def _parse_inodes(fs: ExtFilesystem, geo: _Geometry, numbers: np.ndarray, raw: np.ndarray, builder: TableBuilder,
                  folders: _Folders, targets: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The numbers and node records of the inodes in use in one chunk, and the numbers of those libfsext refuses
    to read; the folders' blocks go to ``folders``, (number, first block, length) of links whose target is in
    blocks to ``targets``."""
    mode = _field(raw, 0, "<u2")
    links = _field(raw, 26, "<u2")
    used = (mode != 0) & (links > 0) & (numbers >= geo.first_ino) | (numbers == ROOT_INODE)
    if not used.all():
        numbers, raw, mode, links = numbers[used], raw[used], mode[used], links[used]
    n = len(numbers)
    records = np.zeros(n, NODE_DTYPE)
    kind = _KIND_BY_TYPE[mode >> 12]
    flags = _field(raw, 32, "<u4")
    bad = (flags & ~np.uint32(_SUPPORTED_FLAGS)) != 0
    size = _field(raw, 4, "<u4").astype(np.uint64)
    if geo.v4:
        size |= _field(raw, 108, "<u4").astype(np.uint64) << np.uint64(32)
    ea_inode = (flags & FL_EA_INODE) != 0
    extra = np.zeros(n, bool)
    if geo.inode_size > 128:
        isize = _field(raw, 128, "<u2")
        bad |= isize > geo.inode_size - 128
        extra = isize >= 28
    plain = ~ea_inode
    for name, offset, extra_offset in (("atime", 8, 140), ("ctime", 12, 132), ("mtime", 16, 136)):
        records[name] = _inode_time(raw, offset, extra_offset, extra, plain, bad)
    records["crtime"] = _creation_time(raw, extra, bad) if extra.any() else NO_TIME
    is_file, is_link, is_dir = kind == K_FILE, kind == K_SYMLINK, kind == K_DIR
    records["size"] = np.where(is_file | is_link, size, 0)
    records["mode"] = mode
    records["uid"] = _field(raw, 2, "<u2").astype(np.uint32) | (_field(raw, 120, "<u2").astype(np.uint32) << 16)
    records["gid"] = _field(raw, 24, "<u2").astype(np.uint32) | (_field(raw, 122, "<u2").astype(np.uint32) << 16)
    records["nlink"] = links
    records["kind"] = kind
    block = raw[:, 40:100]
    node_flags = np.zeros(n, np.uint8)
    # files: sparse as libfsext's extent list has it; only what ``size`` covers is read
    nblocks = (size + np.uint64(geo.block_size - 1)) // np.uint64(geo.block_size)
    extents = (flags & FL_EXTENTS) != 0 if geo.v4 else np.zeros(n, bool)
    inline = (flags & FL_INLINE_DATA) != 0 if geo.v4 else np.zeros(n, bool)
    data_file = is_file & (nblocks > 0) & ~inline
    sel = np.flatnonzero(data_file & extents & ~_one_whole_extent(raw, nblocks))
    if len(sel):
        sparse, slow, broken = _extent_sparse(block[sel], nblocks[sel])
        deep = np.flatnonzero(slow & (block[sel, 6] | block[sel, 7]).astype(bool))  # depth > 0, not backwards
        if len(deep):
            sparse[deep], slow[deep] = _deep_sparse(fs, geo, block[sel[deep]], nblocks[sel[deep]])
        node_flags[sel[sparse]] |= F_SPARSE
        node_flags[sel[slow]] |= F_SLOW
        bad[sel[broken]] = True
    sel = np.flatnonzero(data_file & ~extents)
    if len(sel):
        # a zero pointer among the direct blocks is a hole libfsext calls sparse; past them, a file whose i_blocks
        # counts every data and pointer block its size needs has no hole, and any other is read by pyfsext
        pointers = block[sel, :48].copy().view("<u4")
        count = nblocks[sel].astype(np.int64)
        holes = ((pointers == 0) & (np.arange(12) < count[:, None])).any(axis=1)
        allocated = _field(raw[sel], 28, "<u4").astype(np.int64) * 512 // geo.block_size
        allocated -= np.where(_field(raw[sel], 104, "<u4") != 0, 1, 0)  # an extended-attribute block
        whole = (allocated == count + _pointer_blocks(count, geo.block_size // 4)) & (_field(raw[sel], 116, "<u2") == 0)
        node_flags[sel[holes]] |= F_SPARSE
        node_flags[sel[~holes & (count > 12) & ~whole]] |= F_SLOW
    # links: a target in the inode is read here, one in blocks after the inode tables (_read_link_targets); what
    # pyfsext cannot give (an empty link, a target that is not UTF-8) fails the listing of the link's folder
    for i in np.flatnonzero(is_link).tolist():
        length, number = int(size[i]), int(numbers[i])
        if not length:
            bad[i] = True
        elif inline[i]:
            node_flags[i] |= F_SLOW
        elif length < 60:
            text = _link_text(block[i, :length].tobytes())
            if text is None:
                bad[i] = True
            else:
                node_flags[i] |= F_EXTRA
                builder.extras[number] = {"link_target": text}
        else:
            place = _link_blocks(block[i].tobytes(), bool(extents[i]), -(-length // geo.block_size))
            if place is None:
                node_flags[i] |= F_SLOW
            else:
                node_flags[i] |= F_EXTRA
                targets.append((number, place, length))
    records["flags"] = node_flags
    if is_dir.any():
        if np.any(is_dir & inline & ~bad):
            raise TableUnavailable("a folder with inline data")
        folders.add(numbers[is_dir], size[is_dir], block[is_dir].copy(), ~extents[is_dir])
    return numbers, records, numbers[bad]


def _inode_time(raw: np.ndarray, offset: int, extra_offset: int, extra: np.ndarray, plain: np.ndarray,
                bad: np.ndarray) -> np.ndarray:
    """An inode time in nanoseconds as libfsext reads it (seconds at ``offset``; where ``extra``, epoch bits and
    nanoseconds at ``extra_offset``), :data:`NO_TIME` for 0 and for an EA inode (not ``plain``); one it refuses
    marks ``bad``. Without epoch bits (times before 2038) no time is out of its range: the checks are skipped."""
    sec = _field(raw, offset, "<i4")
    value = np.multiply(sec, 10**9, dtype=np.int64)
    if extra.any():
        word = _field(raw, extra_offset, "<u4")
        if not extra.all():
            word = np.where(extra, word, np.uint32(0))
        if np.any(word & np.uint32(3)):
            return _epoch_time(sec.astype(np.int64), word.astype(np.int64), plain, bad)
        value += word >> np.uint32(2)
    if not plain.all():
        value[~plain] = 0
    if not value.all():
        value[value == 0] = NO_TIME
    return value


def _epoch_time(sec: np.ndarray, word: np.ndarray, plain: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """:func:`_inode_time` of inodes some of which have epoch bits: seconds past libfsext's range are refused."""
    epoch, ns = word & 3, word >> 2
    sec = np.where(epoch != 0, epoch * (1 << 32) + sec, sec)
    out = (sec > _SEC_MAX) | (sec < -_SEC_MAX)
    sec = np.clip(sec, -_SEC_MAX, _SEC_MAX)
    bad |= plain & (out | (sec * 10**9 > _INT64_MAX - ns))
    value = np.where(plain & ~out, sec * 10**9 + ns, 0)
    return np.where(value == 0, NO_TIME, value)


def _creation_time(raw: np.ndarray, extra: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """The creation time in nanoseconds as libfsext reads it, :data:`NO_TIME` for 0 and where ``i_extra_isize``
    does not cover it; one it refuses marks ``bad``. Without epoch bits none is out of its range."""
    sec = _field(raw, 144, "<i4").astype(np.int64)
    word = _field(raw, 148, "<u4")
    if not extra.all():
        word = np.where(extra, word, np.uint32(0))
    if not np.any(word & np.uint32(3)):
        value = sec * 10**9
        value += word >> np.uint32(2)
        value[~extra | (value == 0)] = NO_TIME
        return value
    word = word.astype(np.int64)
    epoch, ns = word & 3, word >> 2
    sec = np.where(epoch != 0, epoch * (1 << 32) + sec, sec)
    high = (_INT64_MAX - ns) // 10**9
    low = -((np.uint64(1 << 63) - ns.astype(np.uint64)) // np.uint64(10**9)).astype(np.int64)
    out = (sec > high) | (sec < low)
    bad |= extra & out
    value = np.where(out, 0, sec) * 10**9 + np.where(out, 0, ns)
    return np.where(extra & (value != 0), value, NO_TIME)


def _link_text(target: bytes) -> str | None:
    """A link's target as pyfsext gives it, or None where it refuses it (libuna: not UTF-8)."""
    if b"\0" in target:
        return None
    try:
        return target.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _link_blocks(block: bytes, extents: bool, count: int) -> int | None:
    """The first of the ``count`` blocks a link's target is in, when they are one run its ``i_block`` gives
    (one extent from block 0, or consecutive direct pointers); None otherwise (left to pyfsext)."""
    if extents:
        magic, entries, _max, depth = struct.unpack_from("<4H", block, 0)
        if magic != EXTENT_MAGIC or depth or not entries:
            return None
        logical, length, start_hi, start_lo = struct.unpack_from("<IHHI", block, 12)
        start = start_lo | start_hi << 32
        return start if logical == 0 and count <= length <= 32768 and start else None
    if count > 12:
        return None
    pointers = struct.unpack_from(f"<{count}I", block, 0)
    start = pointers[0]
    return start if start and pointers == tuple(range(start, start + count)) else None


def _read_link_targets(fs: ExtFilesystem, geo: _Geometry, links: list[tuple[int, int, int]], builder: TableBuilder,
                       refused: list[np.ndarray]) -> None:
    """Read the targets of links kept in blocks (in volume order); one pyfsext would refuse (not UTF-8, or
    outside the volume) joins ``refused``."""
    bs = geo.block_size
    out = []
    links.sort(key=lambda link: link[1])
    for number, start, length in links:
        count = -(-length // bs)
        if start + count > geo.blocks:
            out.append(number)
            continue
        text = _link_text(_read(fs, start * bs, length))
        if text is None:
            out.append(number)
        else:
            builder.extras[number] = {"link_target": text}
    if out:
        refused.append(np.array(out, np.uint64))


def _pointer_blocks(count: np.ndarray, per: int) -> np.ndarray:
    """How many indirect (pointer) blocks an ext2/3 block map of ``count`` data blocks, all there, needs."""
    rest = np.maximum(count - 12, 0)
    single = np.minimum(rest, per)
    rest = rest - single
    double = np.minimum(rest, per * per)
    rest = rest - double
    triple = rest
    out = (single > 0).astype(np.int64)
    out += (double > 0) + -(-double // per)
    out += (triple > 0) + -(-triple // (per * per)) + -(-triple // per)
    return out


def _one_whole_extent(raw: np.ndarray, nblocks: np.ndarray) -> np.ndarray:
    """Which inodes' ``i_block`` is an extent tree of one initialized extent from block 0 covering ``nblocks``:
    most files, which :func:`_extent_sparse` finds not sparse; this finds them in a few passes over the chunk."""
    header = _field(raw, 40, "<u8") & np.uint64(0xFFFF_0000_FFFF_FFFF)  # magic, entries, depth (not max)
    length = _field(raw, 56, "<u2")
    return ((header == np.uint64(EXTENT_MAGIC | 1 << 16)) & (_field(raw, 52, "<u4") == 0) & (length > 0)
            & (length <= 32768) & (length >= nblocks))


def _extent_sparse(block: np.ndarray, nblocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For files whose extent tree starts in ``block`` (their ``i_block``): which libfsext calls sparse, which
    need their deeper tree read (F_SLOW), which it refuses (a damaged header)."""
    header = block[:, :12].copy().view(_EXTENT_HEADER).reshape(len(block))
    entries = block[:, 12:60].copy().view(_EXTENT)
    broken = (header["magic"] != EXTENT_MAGIC) | (header["depth"] >= 6) | (header["entries"] > 4)
    slow = ~broken & (header["depth"] > 0)
    valid = np.arange(4) < header["entries"][:, None].astype(np.int64)
    length = entries["len"].astype(np.int64)
    unwritten = valid & (length > 32768)
    length = np.where(length > 32768, length - 32768, length)
    valid &= length > 0
    # libfsext inserts a sparse extent where an extent starts past the end of the one before it
    ends = np.where(valid, entries["block"].astype(np.int64) + length, -1)
    running = np.maximum.accumulate(np.where(valid, ends, 0), axis=1)
    before = np.concatenate([np.zeros((len(block), 1), np.int64), running[:, :-1]], axis=1)
    last_end = np.zeros(len(block), np.int64)
    for k in range(4):
        last_end = np.where(valid[:, k], ends[:, k], last_end)
    # before[k] is the end of the last *valid* extent before k only when the ends increase; libfsext keeps the end
    # of the extent just before, so a tree whose extents go backwards is left to it
    backwards = np.any(valid & (entries["block"].astype(np.int64) < before), axis=1)
    gap = np.any(valid & (entries["block"].astype(np.int64) > before), axis=1)
    tail = last_end < nblocks.astype(np.int64)
    sparse = ~broken & ~slow & (unwritten.any(axis=1) | gap | tail)
    slow |= ~broken & ~slow & backwards
    return sparse, slow, broken


def _folder_rows(fs: ExtFilesystem, geo: _Geometry, folders: _Folders, builder: TableBuilder,
                 refused: np.ndarray) -> None:
    """Read every folder's blocks (in volume order, in large runs) and add a row per entry."""
    if not folders.numbers:
        return
    numbers = np.concatenate(folders.numbers)
    sizes = np.concatenate(folders.sizes)
    blocks = np.concatenate(folders.blocks)
    mapped = np.concatenate(folders.mapped)
    if len(refused) and np.isin(numbers, refused).any():
        raise TableUnavailable("a folder libfsext cannot read")
    bs = geo.block_size
    nblocks = ((sizes + np.uint64(bs - 1)) // np.uint64(bs)).astype(np.int64)
    # (folder index, logical block, physical block) of every folder block
    runs_folder: list[np.ndarray] = []
    runs_logical: list[np.ndarray] = []
    runs_physical: list[np.ndarray] = []
    runs_length: list[np.ndarray] = []
    has_data = nblocks > 0
    ext = np.flatnonzero(has_data & ~mapped)
    if len(ext):
        f, lg, ph, ln = _folder_extents(fs, geo, blocks[ext], ext)
        runs_folder.append(f)
        runs_logical.append(lg)
        runs_physical.append(ph)
        runs_length.append(ln)
    bmap = np.flatnonzero(has_data & mapped)
    if len(bmap):
        f, lg, ph, ln = _folder_block_maps(fs, geo, blocks[bmap], nblocks[bmap], bmap)
        runs_folder.append(f)
        runs_logical.append(lg)
        runs_physical.append(ph)
        runs_length.append(ln)
    if not runs_folder:
        return
    r_folder = np.concatenate(runs_folder)
    r_logical = np.concatenate(runs_logical)
    r_physical = np.concatenate(runs_physical)
    r_length = np.concatenate(runs_length)
    if np.any(r_physical <= 0) or np.any(r_physical + r_length > geo.blocks):
        raise TableUnavailable("a folder block outside the volume")
    # one row per block
    total = int(r_length.sum())
    first = np.repeat(np.cumsum(r_length) - r_length, r_length)
    step = np.arange(total, dtype=np.int64) - first
    b_folder = np.repeat(r_folder, r_length)
    b_logical = np.repeat(r_logical, r_length) + step
    b_physical = np.repeat(r_physical, r_length) + step
    order = np.argsort(b_physical, kind="stable")
    b_folder, b_logical, b_physical = b_folder[order], b_logical[order], b_physical[order]
    if total > 1 and np.any(np.diff(b_physical) == 0):
        raise TableUnavailable("a block in two folders (or twice in one)")
    # folders whose blocks are not in logical order on the volume: their rows wait, to be added in logical order
    by_folder = np.lexsort((b_logical, b_folder))
    f_sorted, p_sorted = b_folder[by_folder], b_physical[by_folder]
    backwards = (f_sorted[1:] == f_sorted[:-1]) & (p_sorted[1:] < p_sorted[:-1])
    scattered = np.zeros(len(numbers), bool)
    scattered[f_sorted[1:][backwards]] = True
    held: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bytes]] = []
    start = 0
    per_chunk = max(1, DIR_CHUNK // bs)
    buffer = np.empty(min(total, per_chunk) * bs + DIR_SPARE, np.uint8)  # one for every chunk
    while start < total:
        stop = min(total, start + per_chunk)
        size = (stop - start) * bs
        _read_blocks(fs, b_physical[start:stop], bs, buffer)
        data = buffer[: size + DIR_SPARE]
        data[size:] = 0
        entry_block, entry_pos, child, name_len, names = _parse_dir_blocks(data, bs, stop - start)
        if len(child) and (int(child.max()) > geo.inodes_count or int(child.min()) < 1):
            raise TableUnavailable("an entry of an inode out of range")
        if len(refused) and np.isin(child, refused).any():
            raise TableUnavailable("an entry of an inode libfsext cannot read")
        folder = b_folder[start:stop][entry_block]
        late = scattered[folder]
        if late.any():
            starts = np.concatenate((np.zeros(1, np.int64), np.cumsum(name_len, dtype=np.int64)))
            pieces = [names[s:e] for s, e in zip(starts[:-1][late].tolist(), starts[1:][late].tolist(), strict=True)]
            logical = b_logical[start:stop][entry_block]
            held.append((folder[late], logical[late], entry_pos[late], child[late], b"\0".join(pieces)))
            keep = ~late
            blob = np.frombuffer(names, np.uint8)
            mask = np.repeat(keep, name_len)
            names = blob[mask].tobytes()
            folder, child, name_len = folder[keep], child[keep], name_len[keep]
        builder.add_rows(numbers[folder], child, names, name_len)
        start = stop
    if held:
        folder = np.concatenate([h[0] for h in held])
        logical = np.concatenate([h[1] for h in held])
        pos = np.concatenate([h[2] for h in held])
        child = np.concatenate([h[3] for h in held])
        pieces = [name for h in held for name in h[4].split(b"\0")]
        order = np.lexsort((pos, logical, folder))
        ordered = [pieces[i] for i in order.tolist()]
        builder.add_rows(numbers[folder[order]], child[order], b"".join(ordered),
                         np.array([len(p) for p in ordered], np.uint32))


def _read_blocks(fs: ExtFilesystem, physical: np.ndarray, bs: int, out: np.ndarray | None = None) -> np.ndarray:
    """The blocks ``physical`` (ascending, repeats allowed), one after another (at the start of ``out`` when given:
    a buffer used again is not paged in again), read in as few reads as their places allow (a gap of up to
    :data:`GAP` is read through, a read never much longer than :data:`CHUNK`); blocks that follow each other go
    straight into place, and so do those across a gap where they are in local files (only a request is worth the
    bytes between)."""
    size = len(physical) * bs
    out = np.empty(size, np.uint8) if out is None else out[:size]
    spans = np.empty(0, np.uint8)
    gap_blocks, most = max(1, GAP // bs), max(1, CHUNK // bs)
    places = physical.tolist()
    # where the blocks are stored, mapped once when they are in local files (the first one read to tell)
    local = bool(places) and _read_direct(fs, places[0] * bs, out[:bs])
    known = _Map(fs, places[0] * bs, (places[-1] - places[0] + 1) * bs) if local else None
    lo = 0
    while lo < len(places):
        hi = lo + 1
        while hi < len(places) and places[hi] - places[hi - 1] <= gap_blocks and places[hi] - places[lo] < most:
            hi += 1
        first, last = places[lo], places[hi - 1]
        starts = [k for k in range(lo + 1, hi) if places[k] != places[k - 1] + 1]
        runs = list(zip([lo, *starts], [*starts, hi], strict=True))
        if len(runs) == 1 or _read_direct(fs, first * bs, out[lo * bs : runs[0][1] * bs], known):
            for a, b in runs[len(runs) > 1 :]:
                _read_into(fs, places[a] * bs, out[a * bs : b * bs], known)
        else:
            if len(spans) < (last - first + 1) * bs:
                spans = np.empty((last - first + 1) * bs, np.uint8)
            span = spans[: (last - first + 1) * bs]
            _read_into(fs, first * bs, span)
            out.reshape(-1, bs)[lo:hi] = span.reshape(-1, bs)[physical[lo:hi] - first]
        lo = hi
    return out


def _every_byte(data: np.ndarray, dtype: str, width: int = 1) -> np.ndarray:
    """Rows of ``width`` little-endian ``dtype`` values, one row starting at each byte of ``data`` (a view, no
    copy): fancy indexing by byte offset then gathers fields that are not aligned."""
    item = np.dtype(dtype)
    return np.ndarray((len(data) - item.itemsize * width + 1, width), item, data, 0, (1, item.itemsize))


def _parse_dir_blocks(data: np.ndarray, bs: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                                    bytes]:
    """The live entries of ``count`` linear directory blocks (htree leaves read the same; the index hides in entries
    of inode 0 and in ``..``'s record), all blocks at once: (block, offset in block, inode, name length) in block
    then offset order, and the names one after another. ``data`` holds the blocks and then at least
    :data:`DIR_SPARE` zero bytes (a name read as an item as wide as the longest may run past the last block).
    Damage raises :class:`TableUnavailable`."""
    at = _dir_records(data, bs, count)
    if np.any((at & (bs - 1)) > bs - 8):
        raise TableUnavailable("a directory entry header past the end of its block")
    # inode (4 bytes), record length (2), name length (1), file type (1): one 8-byte gather per entry, its fields
    # read through views
    header = _every_byte(data, "<u8")[at, 0]
    rec_len = header.view("<u2")[2::4]
    # each block's records end where the next record would start: past the block, a record is out of bounds
    if np.any(rec_len < 8) or int(rec_len.sum(dtype=np.int64)) != count * bs:
        raise TableUnavailable("a directory entry record length out of bounds")
    name_len = header.view(np.uint8)[6::8]
    if np.any(name_len > rec_len - 8):
        raise TableUnavailable("a directory entry name past its record")
    inode = header.view("<u4")[::2]
    live = inode != 0
    short = np.flatnonzero(name_len <= 2)
    two = _every_byte(data, "<u2")[at[short] + 8, 0]
    live[short] &= ~(((name_len[short] == 1) & ((two & 0xFF) == 0x2E)) | ((name_len[short] == 2) & (two == 0x2E2E)))
    at, inode, name_len = at[live], inode[live], name_len[live]
    if np.any(name_len == 0):
        raise TableUnavailable("a directory entry without a name")
    names, first = _dir_names(data, at + 8, name_len)
    if b"\0" in names or np.any((first & 0xC0) == 0x80):
        raise TableUnavailable("a name that is not plain UTF-8")
    if not names.isascii():  # (ASCII is UTF-8: no need to decode it)
        try:
            names.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TableUnavailable("a name that is not UTF-8") from exc
    return at >> (bs.bit_length() - 1), at & (bs - 1), inode, name_len.astype(np.uint32), names


def _dir_records(data: np.ndarray, bs: int, count: int) -> np.ndarray:
    """Where each record of the ``count`` blocks in ``data`` starts (int32), in block then offset order: each
    block's chain of record lengths followed from its start until it reaches the block's end, all blocks a step at
    a time (a finished block waits at its end; whether all are is asked every 8 steps). Chains that do not end
    exactly at the end are left to the caller's checks; one that is not done after as many steps as a block holds
    records (a length of 0 or less than a header) raises :class:`TableUnavailable`."""
    rec_len = _every_byte(data, "<u2")[4:, 0]  # the record length of a record starting at each byte
    end = np.arange(1, count + 1, dtype=np.int32) * bs
    at = end - bs
    steps: list[np.ndarray] = []
    for _ in range(bs // 8):
        steps.append(at)
        at = np.minimum(at + rec_len[at], end)
        if len(steps) % 8 == 0 and not np.any(at < end):
            break
    else:
        if np.any(at < end):
            raise TableUnavailable("a directory entry record length out of bounds")
    table = np.stack(steps, axis=1)
    return table[table < end[:, None]]


def _dir_names(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The names of ``lengths`` bytes at ``starts`` of ``data``, one after another, and each one's first byte: every
    name read as one item as wide as the longest (a gather of fixed-size items) and the bytes past its end dropped
    (by a mask looked up by length the same way), a batch of names at a time so the items read stay within
    :data:`NAME_BATCH` bytes."""
    if not len(lengths):
        return b"", np.zeros(0, np.uint8)
    width = int(lengths.max())
    item = np.dtype(f"V{width}")
    rows = np.ndarray((len(data) - width + 1,), item, data, 0, (1,))
    masks = (np.arange(width) < np.arange(256)[:, None]).view(item)[:, 0]  # by length: which bytes of an item count
    step = max(1, NAME_BATCH // width)
    parts, first = [], []
    for lo in range(0, len(starts), step):
        grid = rows[starts[lo : lo + step]].view(np.uint8)
        parts.append(grid[masks[lengths[lo : lo + step]].view(bool)])
        first.append(grid[::width])
    return b"".join(parts), np.concatenate(first)


_INDEX = np.dtype([("block", "<u4"), ("leaf_lo", "<u4"), ("leaf_hi", "<u2"), ("unused", "<u2")])


def _extent_trees(fs: ExtFilesystem, geo: _Geometry, blocks: np.ndarray,
                  owner: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(owner, logical, physical, length, unwritten) of the leaf extents of the trees rooted in ``blocks`` (each
    an ``i_block``), sorted by owner and each owner's in tree order as libfsext lists them (zero-length extents
    left out); index nodes are read a level at a time, all trees' at once (sorted by place). A damaged tree (or one
    of uneven depth, which this does not order) makes the table unavailable."""
    bs = geo.block_size
    out_owner, out_logical, out_physical, out_length, out_unwritten, out_key = [], [], [], [], [], []
    node_owner = owner
    node_key = np.zeros(len(owner), np.int64)  # a node's place in its tree, level by level
    node_data = blocks  # 60-byte rows at the inode level, blocks below
    depth_limit = np.full(len(owner), 6, np.int64)  # libfsext: a node must be shallower than its parent
    exact = np.zeros(len(owner), bool)
    while len(node_owner):
        header = node_data[:, :12].copy().view(_EXTENT_HEADER).reshape(len(node_data))
        capacity = (node_data.shape[1] - 12) // 12
        depth = header["depth"].astype(np.int64)
        if np.any(header["magic"] != EXTENT_MAGIC) or np.any(header["entries"] > capacity) or \
                np.any(depth >= depth_limit) or np.any(exact & (depth != depth_limit - 1)):
            raise TableUnavailable("a damaged (or uneven) extent tree")
        valid = np.arange(capacity) < header["entries"].astype(np.int64)[:, None]
        body = node_data[:, 12 : 12 + capacity * 12].copy()
        leaf = np.flatnonzero(depth == 0)
        if len(leaf):
            ext = body[leaf].view(_EXTENT)
            length = ext["len"].astype(np.int64)
            unwritten = length > 32768
            length = np.where(unwritten, length - 32768, length)
            r, k = np.nonzero(valid[leaf] & (length > 0))
            out_owner.append(node_owner[leaf][r])
            out_logical.append(ext["block"][r, k].astype(np.int64))
            out_physical.append(ext["start_lo"][r, k].astype(np.int64) | (ext["start_hi"][r, k].astype(np.int64) << 32))
            out_length.append(length[r, k])
            out_unwritten.append(unwritten[r, k])
            out_key.append(node_key[leaf][r] * (capacity + 1) + k)
        inner = np.flatnonzero(depth > 0)
        if not len(inner):
            break
        idx = body[inner].view(_INDEX)
        r, k = np.nonzero(valid[inner])
        child = idx["leaf_lo"][r, k].astype(np.int64) | (idx["leaf_hi"][r, k].astype(np.int64) << 32)
        if np.any(child <= 0) or np.any(child >= geo.blocks):
            raise TableUnavailable("an extent index outside the volume")
        order = np.argsort(child, kind="stable")
        data = _read_blocks(fs, child[order], bs).reshape(-1, bs)
        node_data = np.empty_like(data)
        node_data[order] = data
        node_owner = node_owner[inner][r]
        node_key = node_key[inner][r] * (capacity + 1) + k
        depth_limit = depth[inner][r]
        exact = np.ones(len(node_owner), bool)
    if not out_owner:
        z = np.zeros(0, np.int64)
        return z, z, z, z, np.zeros(0, bool)
    found = np.concatenate(out_owner)
    order = np.lexsort((np.concatenate(out_key), found))
    return (found[order], np.concatenate(out_logical)[order], np.concatenate(out_physical)[order],
            np.concatenate(out_length)[order], np.concatenate(out_unwritten)[order])


def _deep_sparse(fs: ExtFilesystem, geo: _Geometry, blocks: np.ndarray,
                 nblocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For files whose extent tree is deeper than the inode: which libfsext calls sparse (an unwritten extent, an
    extent starting past the end of the one before, a tail not covered), and which go backwards (left to it)."""
    owner, logical, _physical, length, unwritten = _extent_trees(fs, geo, blocks, np.arange(len(blocks)))
    sparse = np.zeros(len(blocks), bool)
    backwards = np.zeros(len(blocks), bool)
    last_end = np.zeros(len(blocks), np.int64)
    if len(owner):
        ends = logical + length
        new = np.concatenate(([True], owner[1:] != owner[:-1]))
        before = np.where(new, 0, np.concatenate(([0], ends[:-1])))
        sparse[owner[unwritten | (logical > before)]] = True
        backwards[owner[logical < before]] = True
        last = np.concatenate((owner[1:] != owner[:-1], [True]))
        last_end[owner[last]] = ends[last]
    sparse |= last_end < nblocks.astype(np.int64)
    return sparse & ~backwards, backwards


def _folder_extents(fs: ExtFilesystem, geo: _Geometry, blocks: np.ndarray,
                    index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(folder index, logical, physical, length) of the extents of folders with extent trees, each folder's in
    tree order; unwritten extents and holes (where libfsext stops listing) make the table unavailable."""
    folder, logical, physical, length, unwritten = _extent_trees(fs, geo, blocks, index)
    if np.any(unwritten):
        raise TableUnavailable("a folder with an unwritten extent")
    # libfsext lists a folder's blocks in tree order and stops at a hole: each extent must start where the one
    # before it ended, the first at block 0
    new = np.concatenate(([True], folder[1:] != folder[:-1]))
    before = np.cumsum(length) - length
    if np.any(logical != before - np.maximum.accumulate(np.where(new, before, 0))):
        raise TableUnavailable("a folder with a hole or extents out of order")
    return folder, logical, physical, length


def _folder_block_maps(fs: ExtFilesystem, geo: _Geometry, blocks: np.ndarray, nblocks: np.ndarray,
                       index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(folder index, logical, physical, 1) of each block of block-mapped (ext2/3) folders; a hole (a zero
    pointer within the folder's size) makes the table unavailable (libfsext stops listing there)."""
    bs = geo.block_size
    per = bs // 4
    out_f, out_l, out_p = [], [], []
    pointers = blocks[:, :60].copy().view("<u4").astype(np.int64)
    direct = np.minimum(nblocks, 12)
    r, k = np.nonzero(np.arange(12) < direct[:, None])
    out_f.append(index[r])
    out_l.append(k.astype(np.int64))
    out_p.append(pointers[r, k])
    # indirect levels: (folder index, first logical block, block of pointers, depth)
    pending: list[tuple[int, int, int, int]] = []
    span = 1
    for level, slot in ((1, 12), (2, 13), (3, 14)):
        span *= per
        start = 12 + sum(per**lv for lv in range(1, level))
        for row in np.flatnonzero(nblocks > start).tolist():
            pending.append((int(index[row]), start, int(pointers[row, slot]), level))
    limit = dict(zip(index.tolist(), nblocks.tolist(), strict=True))
    while pending:
        for _f, _s, block, _lv in pending:
            if block <= 0 or block >= geo.blocks:
                raise TableUnavailable("a folder with a hole or a block outside the volume")
        wanted = np.array(sorted({p[2] for p in pending}), np.int64)
        data = _read_blocks(fs, wanted, bs).reshape(-1, bs)
        where = {b: i for i, b in enumerate(wanted.tolist())}
        following: list[tuple[int, int, int, int]] = []
        for folder, start, block, level in pending:
            values = data[where[block]].view("<u4").astype(np.int64)
            unit = per ** (level - 1)
            count = min(per, -(-(limit[folder] - start) // unit))
            values = values[:count]
            if level == 1:
                out_f.append(np.full(count, folder, np.int64))
                out_l.append(start + np.arange(count, dtype=np.int64))
                out_p.append(values)
            else:
                following += [(folder, start + i * unit, int(v), level - 1) for i, v in enumerate(values.tolist())]
        pending = following
    folder = np.concatenate(out_f)
    logical = np.concatenate(out_l)
    physical = np.concatenate(out_p)
    if np.any(physical == 0):
        raise TableUnavailable("a folder with a hole")
    return folder, logical, physical, np.ones(len(folder), np.int64)
