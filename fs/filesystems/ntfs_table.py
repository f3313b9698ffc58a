"""NTFS's tree read in bulk from ``$MFT``, for :mod:`restorekit.fs.table`.

``$MFT`` is read through its own data runs (so a local file, a VHD and a remote blob read alike) in 4 MiB
sequential chunks, and each chunk's records are parsed together with numpy: the update sequence fixups, then the
attributes a step at a time for all records at once (a record holds about ten). From each record in use come
``$STANDARD_INFORMATION`` (file attribute flags and the four times), every ``$FILE_NAME`` that is not a DOS 8.3
alias (a hard-linked file has one per name, each naming its folder), the unnamed ``$DATA`` size, named ``$DATA``
streams, ``$INDEX_ROOT`` ``$I30`` (a folder), and ``$REPARSE_POINT`` tags. The tree comes from each name's parent
reference; a name whose folder is gone (deleted, or the record reused: its sequence number differs) is an orphan no
folder lists, and is left out as the folder walk leaves it out. Names are kept as UTF-8 (ASCII names converted in
bulk), half their UTF-16 size.

The folders' indexes must agree with the names: each ``$I30`` index root (it is in the folder's record, so free to
read) is parsed too, and a folder whose root is its whole index must list the very files whose names point at it
(compared per folder as a count and a sum of scrambled record and sequence numbers), while a large folder's root
must list only such files. Its index blocks are not read: that would be one read per folder, which is what the
table avoids.

What a record alone does not tell is left to pyfsntfs (the node is flagged ``F_SLOW``): a file whose attributes
spill into other records (``$ATTRIBUTE_LIST``; its names are still read from those records), symbolic links and
junctions (their target), Interix links (their data), and times outside what nanoseconds since 1970 hold. A record
with a bad signature or fixup, or attributes that run past their record, makes the table unavailable, and the walk
reads folder by folder, reporting the damage where it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from restorekit.fs.entry import runs_from_extents
from restorekit.fs.errors import TableUnavailable
from restorekit.fs.filesystems.ntfs import ATTR_DATA, record_attributes
from restorekit.fs.table import (
    F_COMPRESSED,
    F_DEDUP,
    F_ENCRYPTED,
    F_EXTRA,
    F_SLOW,
    F_SPARSE,
    K_DIR,
    K_FILE,
    NO_TIME,
    NODE_DTYPE,
    TableBuilder,
    distinct,
    release_free_memory,
)

if TYPE_CHECKING:
    from restorekit.fs.filesystems.ntfs import NtfsFilesystem
    from restorekit.fs.table import FileTable

CHUNK = 4 << 20
ROOT = 5
MASK48 = (1 << 48) - 1
FILETIME_1970 = 116444736000000000
#: FILETIMEs whose nanoseconds since 1970 fit an int64.
_FT_LO, _FT_HI = FILETIME_1970 - (2**63 - 1) // 100, FILETIME_1970 + (2**63 - 1) // 100
MAX_ATTRIBUTES = 512
SYSTEM, SPARSE, COMPRESSED, ENCRYPTED = 0x4, 0x200, 0x800, 0x4000
REPARSE_DEDUP, REPARSE_SYMLINK, REPARSE_JUNCTION = 0x80000013, 0xA000000C, 0xA0000003
_I30 = np.uint64(int.from_bytes("$I30".encode("utf-16-le"), "little"))
_FILE, _BAAD = int.from_bytes(b"FILE", "little"), int.from_bytes(b"BAAD", "little")


def build_table(fs: NtfsFilesystem, attribute_names: tuple[tuple[int, str], ...]) -> FileTable:
    """The volume's tree from ``$MFT`` (see the module's notes)."""
    mft = fs.backend.get_file_entry(0)
    size = mft.get_size() or 0
    runs = runs_from_extents((mft.get_extent(i) for i in range(mft.get_number_of_extents())), size)
    rs = fs.record_size
    if not runs or any(r.volume_offset is None for r in runs) or size < 16 * rs or size > fs.stream.size:
        raise TableUnavailable("$MFT's runs cannot be followed")
    builder = TableBuilder(posix=False, attribute_names=attribute_names)
    count = size // rs
    if count >= 1 << 32:
        raise TableUnavailable("$MFT has more records than the table indexes")
    seqs = np.zeros(count, np.uint16)
    chunks: list[_Chunk] = []
    for i, run in enumerate(runs):
        if run.offset % rs or (run.length % rs and i < len(runs) - 1):
            raise TableUnavailable("an MFT record is split across data runs")
        pos, end = run.offset, run.offset + run.length - run.length % rs
        while pos < end:
            length = min(CHUNK, end - pos)
            data = fs.stream.pread(length, run.volume_offset + pos - run.offset)
            if len(data) < length:
                raise TableUnavailable("$MFT is cut short")
            chunks.append(_parse(np.frombuffer(data, np.uint8).reshape(-1, rs), pos // rs, builder, seqs))
            pos += length
    names = _Chunk.join(chunks)
    del chunks
    release_free_memory()
    parent, child = builder.row_numbers()
    live = _live(parent, names.parent_seq, seqs)
    hidden_live = _live(names.hidden_parent, names.hidden_seq, seqs)
    _check_indexes([(parent, child, live), (names.hidden_parent, names.hidden_child, hidden_live)], names, seqs)
    del parent, child, names, seqs
    return builder.finish(ROOT, keep=live, orphans=True)


def _live(parent: np.ndarray, parent_seq: np.ndarray, seqs: np.ndarray) -> np.ndarray:
    """Names whose folder record is the one they name (sequence number 0: any): not orphans of a reused record."""
    inside = parent < len(seqs)
    return inside & ((parent_seq == 0) | (seqs[np.where(inside, parent, 0)] == parent_seq))


class _Chunk:
    """What a chunk of records says besides the rows it adds: each row's folder sequence number; the names of
    metadata files (``$MFT``... in the root, and the root's own), not rows but in the indexes; and of the folders'
    ``$INDEX_ROOT`` entries, per folder a count and a sum of scrambled (record, sequence number) pairs, the entries
    of the roots of ``large`` folders (which go on in index blocks) as they are."""

    def __init__(self, parent_seq: np.ndarray, hidden: tuple[np.ndarray, np.ndarray, np.ndarray],
                 tally: tuple[np.ndarray, np.ndarray, np.ndarray], large: np.ndarray, rooted: np.ndarray) -> None:
        self.parent_seq = parent_seq
        self.hidden_parent, self.hidden_child, self.hidden_seq = hidden
        self.folders, self.counts, self.sums = tally
        self.large, self.rooted = large, rooted

    @classmethod
    def join(cls, chunks: list[_Chunk]) -> _Chunk:
        def cat(name: str, dtype: object) -> np.ndarray:
            parts = [getattr(c, name) for c in chunks]
            return np.concatenate(parts) if parts else np.zeros(0, dtype)  # type: ignore[call-overload]

        return cls(cat("parent_seq", np.uint16), (cat("hidden_parent", np.uint32), cat("hidden_child", np.uint32),
                   cat("hidden_seq", np.uint16)), (cat("folders", np.uint32), cat("counts", np.int64),
                   cat("sums", np.float64)), cat("large", np.uint32), cat("rooted", _INDEX_DTYPE))


_INDEX_DTYPE = np.dtype([("folder", "<u4"), ("child", "<u4"), ("seq", "<u2")])


def _mix(child: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """A 31-bit scramble of (record, sequence number): sums of up to 2^22 of them are exact in float64."""
    key = child.astype(np.uint64) | seq.astype(np.uint64) << np.uint64(32)
    return ((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(33)).astype(np.float64)


def _check_indexes(names_by_part: list[tuple[np.ndarray, np.ndarray, np.ndarray]], chunk: _Chunk,
                   seqs: np.ndarray) -> None:
    """The tree from names ((folder, file, live) record arrays) must be the tree the folders' indexes describe:
    a folder whose ``$INDEX_ROOT`` is its whole index lists as many files as name it, the same ones with the
    same sequence numbers (compared as a count and a sum of scrambled pairs per folder), and a large folder's root
    lists only files that name it. An index that disagrees (damaged, or pointing at a folder above it) makes the
    table unavailable: the folder walk reads the indexes and reports it. (A large folder's index blocks are not
    read: that would be a read per folder.)"""
    folders = distinct(np.concatenate((chunk.folders, chunk.large)))[0]
    index_count = np.zeros(len(folders), np.int64)
    index_sum = np.zeros(len(folders), np.float64)
    at = np.searchsorted(folders, chunk.folders)
    index_count[at], index_sum[at] = chunk.counts, chunk.sums
    name_count = np.zeros(len(folders), np.int64)
    name_sum = np.zeros(len(folders), np.float64)
    rooted = chunk.rooted
    if np.any(seqs[rooted["child"]] != rooted["seq"]):
        raise TableUnavailable("a folder index names a record that has been reused")
    wanted = (rooted["folder"].astype(np.uint64) << np.uint64(32)) | rooted["child"]
    found = np.zeros(len(wanted), bool)
    step = 1 << 16
    for parents, children, live in names_by_part:
        for lo in range(0, len(parents), step):
            keep = live[lo : lo + step]
            parent, child = parents[lo : lo + step][keep], children[lo : lo + step][keep]
            at = np.minimum(np.searchsorted(folders, parent), max(len(folders) - 1, 0))
            if len(parent) and (not len(folders) or np.any(folders[at] != parent)):
                raise TableUnavailable("a file names a folder whose index is empty")
            name_count += np.bincount(at, minlength=len(folders))
            name_sum += np.bincount(at, weights=_mix(child, seqs[child]), minlength=len(folders))
            if len(wanted):
                found |= np.isin(wanted, (parent.astype(np.uint64) << np.uint64(32)) | child)
    small = ~np.isin(folders, chunk.large)
    if not (np.array_equal(index_count[small], name_count[small])
            and np.array_equal(index_sum[small], name_sum[small])):
        raise TableUnavailable("a folder's index and its files' names disagree")
    if not np.all(found):
        raise TableUnavailable("a large folder's index names a file that is not in it")


def _u16(flat: np.ndarray, pos: np.ndarray) -> np.ndarray:
    if not np.any(pos & 1):  # aligned, as a record's fields mostly are: one gather from a view of the records
        return flat.view("<u2")[pos >> 1].astype(np.uint32)
    return flat[pos].astype(np.uint32) | flat[pos + 1].astype(np.uint32) << 8


def _u32(flat: np.ndarray, pos: np.ndarray) -> np.ndarray:
    if not np.any(pos & 3):
        return flat.view("<u4")[pos >> 2].astype(np.uint32)
    return _u16(flat, pos) | _u16(flat, pos + 2) << 16


def _u64(flat: np.ndarray, pos: np.ndarray) -> np.ndarray:
    if not np.any(pos & 7):
        return flat.view("<u8")[pos >> 3].astype(np.uint64)
    return _u32(flat, pos).astype(np.uint64) | _u32(flat, pos + 4).astype(np.uint64) << np.uint64(32)


def _column(records: np.ndarray, offset: int, dtype: str) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    return records[:, offset : offset + width].copy().view(dtype).ravel()


def _fixups(records: np.ndarray, used: np.ndarray) -> None:
    """Undo the update sequence of the records ``used`` (in place); :class:`TableUnavailable` on a torn one."""
    rs = records.shape[1]
    usa_off = _column(records, 4, "<u2")
    usa_count = _column(records, 6, "<u2")
    key = usa_off[used].astype(np.uint32) << 16 | usa_count[used]
    groups = [int(key[0])] if len(key) and bool(np.all(key == key[0])) else distinct(key)[0].tolist()
    for group in groups:
        off, cnt = group >> 16, group & 0xFFFF
        rows = used if len(groups) == 1 else used[key == group]
        if cnt < 2 or rs % (cnt - 1) or off + 2 * cnt > rs or off % 2:
            raise TableUnavailable("an MFT record's update sequence is damaged")
        stride = rs // (cnt - 1)
        whole = len(rows) == len(records)
        block = records if whole else records[rows]
        usn = block[:, off : off + 2]
        for i in range(1, cnt):
            tail = block[:, i * stride - 2 : i * stride]
            if np.any(tail != usn):
                raise TableUnavailable("an MFT record is torn (update sequence mismatch)")
            block[:, i * stride - 2 : i * stride] = block[:, off + 2 * i : off + 2 * i + 2]
        if not whole:
            records[rows] = block


def _parse(raw: np.ndarray, first: int, builder: TableBuilder, seqs: np.ndarray) -> _Chunk:
    """Add one chunk's records (read-only) to ``builder``; returns what they say of names and indexes."""
    n, rs = raw.shape
    magic = _column(raw, 0, "<u4")
    if np.any(magic == _BAAD):
        raise TableUnavailable("an MFT record is marked bad")
    flags = _column(raw, 22, "<u2")
    seqs[first : first + n] = np.where(magic == _FILE, _column(raw, 16, "<u2"), 0)
    keep = np.flatnonzero((magic == _FILE) & ((flags & 1) != 0))
    records = raw[keep]  # the records in use, as a copy the fixups write to
    n, flags = len(keep), flags[keep]
    used = np.arange(n)
    _fixups(records, used)
    numbers = first + keep.astype(np.int64)
    base_ref = _column(records, 32, "<u8") & np.uint64(MASK48)
    owner = np.where(base_ref == 0, numbers.astype(np.uint64), base_ref)
    is_base = np.zeros(n, bool)
    is_base[used] = base_ref[used] == 0
    flat = records.reshape(-1)

    si_flags = np.zeros(n, np.uint32)
    times = np.zeros((4, n), np.uint64)
    size = np.zeros(n, np.uint64)
    names_per = np.zeros(n, np.uint32)
    has_i30 = np.zeros(n, bool)
    has_list = np.zeros(n, bool)
    streams = np.zeros(n, bool)
    reparse = np.zeros(n, np.uint32)
    slow = np.zeros(n, bool)
    fn_row: list[np.ndarray] = []
    fn_pos: list[np.ndarray] = []
    roots: list[tuple[np.ndarray, np.ndarray]] = []

    act = used
    pos = act * rs + _column(records, 20, "<u2")[act].astype(np.int64)
    limit = act * rs + np.minimum(_column(records, 24, "<u4")[act], rs).astype(np.int64)
    for _step in range(MAX_ATTRIBUTES):
        ok = pos + 8 <= limit
        if not np.all(ok):
            raise TableUnavailable("an MFT record's attributes run past it")
        atype = _u32(flat, pos)
        live = atype != 0xFFFFFFFF
        act, pos, limit, atype = act[live], pos[live], limit[live], atype[live]
        if not len(act):
            break
        alen = _u32(flat, pos + 4).astype(np.int64)
        if np.any((alen < 24) | (alen % 8 != 0) | (pos + alen > limit)):
            raise TableUnavailable("an MFT record's attribute length is damaged")
        resident = flat[pos + 8] == 0
        named = flat[pos + 9] != 0
        vlen = _u32(flat, pos + 16).astype(np.int64)
        voff = _u16(flat, pos + 20).astype(np.int64)
        value = pos + voff
        fits = ~resident | (voff + vlen <= alen)
        if np.any(~fits):
            raise TableUnavailable("an MFT record's attribute value runs past it")

        m = (atype == 0x10) & resident & (vlen >= 36)
        if np.any(m):
            rows, v = act[m], value[m]
            si_flags[rows] = _u32(flat, v + 32)
            for k, off in enumerate((8, 24, 16, 0)):  # mtime, atime, ctime (entry modified), crtime
                times[k, rows] = _u64(flat, v + off)
        m = (atype == 0x30) & resident & (vlen >= 66)
        if np.any(m):
            rows, v = act[m], value[m]
            dos = flat[v + 65] == 2
            if np.any(66 + 2 * flat[v + 64].astype(np.int64) > vlen[m]):
                raise TableUnavailable("an MFT file name runs past its attribute")
            rows, v = rows[~dos], v[~dos]
            fn_row.append(rows)
            fn_pos.append(v)
            np.add.at(names_per, rows, 1)
        m = atype == 0x80
        if np.any(m):
            plain = m & ~named
            res = plain & resident
            size[act[res]] = vlen[res]
            nonres = plain & ~resident
            if np.any(nonres):
                p = pos[nonres]
                lowest = _u64(flat, p + 16) == 0
                size[act[nonres][lowest]] = _u64(flat, p[lowest] + 48)
            streams[act[m & named]] = True
        m = (atype == 0x90) & (flat[pos + 9] == 4)
        if np.any(m):  # named $I30 (a folder), not $SDH, $SII, $O, $Q, $R (the views of $Secure, $Quota, ...)
            name = pos[m] + _u16(flat, pos[m] + 10).astype(np.int64)
            m[m] = (name + 8 <= limit[m]) & (_u64(flat, np.minimum(name, len(flat) - 8)) == _I30)
        has_i30[act[m]] = True
        if np.any(m & resident):
            roots.append((act[m & resident], value[m & resident] + 16))
        has_list[act[atype == 0x20]] = True
        m = atype == 0xC0
        if np.any(m):
            res = m & resident & (vlen >= 4)
            reparse[act[res]] = _u32(flat, value[res])
            slow[act[m & ~res]] = True
        pos = pos + alen
    else:
        raise TableUnavailable("an MFT record holds too many attributes")

    _add_nodes(builder, records, numbers, is_base, has_i30, has_list, flags, si_flags, times, size, names_per,
               streams, reparse, slow)
    rows = np.concatenate(fn_row) if fn_row else np.zeros(0, np.int64)
    v = np.concatenate(fn_pos) if fn_pos else np.zeros(0, np.int64)
    parent_ref = _u64(flat, v)
    child = owner[rows]
    lengths = 2 * flat[v + 64].astype(np.int64)
    start = v + 66
    hidden = ((child < 24) & (lengths > 0) & (flat[start] == ord("$")) & (flat[np.minimum(start + 1, len(flat) - 1)]
                                                                          == 0)) | (child == ROOT)
    shown = ~hidden
    total = int(lengths[shown].sum())
    raw = flat[np.repeat(start[shown] - (np.cumsum(lengths[shown]) - lengths[shown]), lengths[shown])
               + np.arange(total)] if total else np.zeros(0, np.uint8)
    blob, utf8_lengths = _utf8_names(raw, lengths[shown])
    parent = (parent_ref & np.uint64(MASK48)).astype(np.uint32)
    seq = (parent_ref >> np.uint64(48)).astype(np.uint16)
    builder.add_rows(parent[shown], child[shown], blob, utf8_lengths)
    index, large = _index_roots(flat, roots, numbers, rs)
    folders, which = distinct(index["folder"])
    tally = (folders, np.bincount(which, minlength=len(folders)),
             np.bincount(which, weights=_mix(index["child"], index["seq"]), minlength=len(folders)))
    return _Chunk(seq[shown], (parent[hidden], child[hidden].astype(np.uint32), seq[hidden]), tally, large,
                  index[np.isin(index["folder"], large)])


def _utf8_names(raw: np.ndarray, lengths: np.ndarray) -> tuple[bytes, np.ndarray]:
    """UTF-16LE names (``lengths`` in bytes, one after another in ``raw``) as UTF-8 (half the memory for the
    usual names): ASCII names by taking every other byte, the others one by one (a lone surrogate kept, as
    ``surrogatepass`` writes it)."""
    n = len(lengths)
    units = lengths // 2
    starts = np.cumsum(units) - units
    low = raw[0::2]
    bad = (raw[1::2] != 0) | (low >= 0x80)
    other = np.zeros(n, bool)
    if n and bad.any():
        some = np.flatnonzero(units > 0)
        other[some] = np.logical_or.reduceat(bad, starts[some])
    out_len = np.where(other, 0, units)
    encoded = {}
    for i in np.flatnonzero(other).tolist():
        name = raw[2 * starts[i] : 2 * (starts[i] + units[i])].tobytes()
        encoded[i] = name.decode("utf-16-le", "surrogatepass").encode("utf-8", "surrogatepass")
        out_len[i] = len(encoded[i])
    out_starts = np.cumsum(out_len) - out_len
    out = np.empty(int(out_len.sum()), np.uint8)
    owner = np.repeat(np.arange(n), units)
    plain = ~other[owner]
    out[(out_starts[owner] + np.arange(len(owner)) - starts[owner])[plain]] = low[plain]
    for i, name in encoded.items():
        out[out_starts[i] : out_starts[i] + len(name)] = np.frombuffer(name, np.uint8)
    return out.tobytes(), out_len


def _index_roots(flat: np.ndarray, roots: list[tuple[np.ndarray, np.ndarray]], numbers: np.ndarray,
                 rs: int) -> tuple[np.ndarray, np.ndarray]:
    """The entries of the ``$I30`` index roots (node headers at ``roots``' positions), DOS aliases left out, and
    the folders whose index goes on in index blocks."""
    rows = np.concatenate([r for r, _ in roots]) if roots else np.zeros(0, np.int64)
    node = np.concatenate([p for _, p in roots]) if roots else np.zeros(0, np.int64)
    end = np.minimum(node + _u32(flat, node + 4).astype(np.int64), (rows + 1) * rs)
    large = numbers[rows[(flat[node + 12] & 1) != 0]].astype(np.uint32)
    pos = node + _u32(flat, node).astype(np.int64)
    found: list[np.ndarray] = []
    for _step in range(rs // 16 + 1):
        if not len(pos):
            break
        if np.any(pos + 16 > end):
            raise TableUnavailable("a folder's index root runs past its record")
        length = _u16(flat, pos + 8).astype(np.int64)
        key = _u16(flat, pos + 10).astype(np.int64)
        last = (flat[pos + 12] & 2) != 0
        if np.any(~last & ((length < 16 + 66) | (pos + length > end) | (key < 66))):
            raise TableUnavailable("a folder's index entry is damaged")
        entry = ~last & (flat[np.minimum(pos + 16 + 65, len(flat) - 1)] != 2)
        if np.any(entry):
            out = np.zeros(int(entry.sum()), _INDEX_DTYPE)
            out["folder"] = numbers[rows[entry]]
            ref = _u64(flat, pos[entry])
            out["child"] = ref & np.uint64(MASK48)
            out["seq"] = ref >> np.uint64(48)
            found.append(out)
        more = ~last
        rows, pos, end = rows[more], (pos + length)[more], end[more]
    return (np.concatenate(found) if found else np.zeros(0, _INDEX_DTYPE)), large


def _add_nodes(builder: TableBuilder, records: np.ndarray, numbers: np.ndarray, is_base: np.ndarray,
               has_i30: np.ndarray, has_list: np.ndarray, flags: np.ndarray, si_flags: np.ndarray,
               times: np.ndarray, size: np.ndarray, names_per: np.ndarray, streams: np.ndarray,
               reparse: np.ndarray, slow: np.ndarray) -> None:
    base = np.flatnonzero(is_base)
    if not len(base):
        return
    out = np.zeros(len(base), NODE_DTYPE)
    folder = has_i30[base] | (has_list[base] & ((flags[base] & 2) != 0))
    out["kind"] = np.where(folder, K_DIR, K_FILE)
    out["size"] = np.where(folder, 0, size[base])
    attr = si_flags[base]
    out["attr"] = attr
    tag = reparse[base]
    out["reparse"] = tag
    out["nlink"] = np.maximum(names_per[base], 1)
    bad_time = np.zeros(len(base), bool)
    for k, key in enumerate(("mtime", "atime", "ctime", "crtime")):
        ft = times[k, base]
        bad_time |= (ft != 0) & ((ft < _FT_LO) | (ft > _FT_HI))
        ns = (ft.astype(np.int64) - FILETIME_1970) * 100
        out[key] = np.where((ft == 0) | bad_time, NO_TIME, ns)
    bits = (((attr & SPARSE) != 0) * F_SPARSE | ((attr & COMPRESSED) != 0) * F_COMPRESSED
            | ((attr & ENCRYPTED) != 0) * F_ENCRYPTED | (tag == REPARSE_DEDUP) * F_DEDUP)
    interix = ~folder & ((attr & SYSTEM) != 0) & (size[base] > 8) & (size[base] <= 4096)
    link = (tag == REPARSE_SYMLINK) | (tag == REPARSE_JUNCTION)
    to_slow = slow[base] | has_list[base] | bad_time | interix | link
    bits = bits | to_slow * F_SLOW | (streams[base] & ~to_slow) * F_EXTRA
    out["flags"] = bits
    for row in base[streams[base] & ~to_slow].tolist():
        builder.extras[int(numbers[row])] = {"streams": _stream_names(records[row])}
    builder.add_nodes(numbers[base].astype(np.uint64), out)


def _stream_names(record: np.ndarray) -> list[str]:
    """The names of a record's named ``$DATA`` attributes, in order (fixups already undone)."""
    data = record.tobytes()
    names = []
    for atype, pos in record_attributes(data):
        if atype == ATTR_DATA and data[pos + 9]:
            off = int.from_bytes(data[pos + 10 : pos + 12], "little")
            name = data[pos + off : pos + off + 2 * data[pos + 9]].decode("utf-16-le", "surrogatepass")
            if name:
                names.append(name)
    return names
