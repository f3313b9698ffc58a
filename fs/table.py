"""A volume's whole tree read in bulk, for walks at disk speed (``ls -r``, ``find``, ``extract`` of a folder).

A format that can read its file table in large sequential chunks (NTFS's ``$MFT``, ext's inode tables) fills a
:class:`TableBuilder`: one *node* per file (size, times, type, owners and flags, parsed with numpy a chunk at a
time) and one *row* per name (a hard-linked file has a row per name) saying which folder node it is in. The walk
then makes no per-folder reads: :meth:`FileTable.plan` orders the folders, parents before children, exactly as
:meth:`restorekit.fs.filesystem.Filesystem.walk_tree` visits them (only subfolders' names are sorted for it), and
:meth:`FileTable.windows` cuts the walk into :class:`Window` s of 2,048 entries, which sort their folders' rows by
name when first used, so the per-entry work (paths, JSON lines, filters) runs over lists and arrays, and an
:class:`restorekit.fs.entry.Entry` is made only for entries a caller keeps.

Memory stays flat as volumes grow: the tree is held as numpy arrays (per row: its folder, its node and where its
name is in one buffer of UTF-8 names; per node: its number and type), names become Python strings only while their
folder is walked, and the wide per-node columns (:data:`NODE_DTYPE`, 66 bytes) go to an unlinked temporary file as
they are parsed and are read back one window of the walk at a time (in memory when no temporary file can be made).

Anything a format's bulk parser does not understand is not guessed at: a node flagged :data:`F_SLOW` is made by the
format's own per-entry path (a symbolic link's target, a name that needs a record of its own), and a volume whose
table is damaged raises :class:`TableUnavailable`, so the walk falls back to reading folder by folder, which
reports each damaged folder or record as before.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

import numpy as np

from restorekit.fs import table_json as tj
from restorekit.fs.entry import DEVICE, DIRECTORY, FIFO, FILE, OTHER, SOCKET, SYMLINK, Entry
from restorekit.fs.errors import FilesystemError, TableUnavailable
from restorekit.fs.table_json import Choices

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator

#: Entry types by the ``kind`` code a format stores.
KINDS = (FILE, DIRECTORY, SYMLINK, FIFO, DEVICE, SOCKET, OTHER)
K_FILE, K_DIR, K_SYMLINK, K_FIFO, K_DEVICE, K_SOCKET, K_OTHER = range(len(KINDS))
#: A time the file system does not keep.
NO_TIME = np.iinfo(np.int64).min
#: Node flags: as :class:`Entry` has them, plus F_SLOW (the format makes this entry itself) and F_EXTRA (more
#: fields in :attr:`TableBuilder.extras`).
F_SPARSE, F_COMPRESSED, F_ENCRYPTED, F_DEDUP, F_SLOW, F_EXTRA = 1, 2, 4, 8, 16, 32
_FLAG_FIELDS = ((F_DEDUP, "dedup"), (F_SPARSE, "sparse"), (F_COMPRESSED, "compressed"), (F_ENCRYPTED, "encrypted"))
NODE_DTYPE = np.dtype([("size", "<u8"), ("mtime", "<i8"), ("atime", "<i8"), ("ctime", "<i8"), ("crtime", "<i8"),
                       ("mode", "<u4"), ("uid", "<u4"), ("gid", "<u4"), ("nlink", "<u4"), ("attr", "<u4"),
                       ("reparse", "<u4"), ("kind", "u1"), ("flags", "u1")])
_TIMES = ("mtime", "atime", "ctime", "crtime")
#: How many entries a :class:`Window` gathers before its columns are read and formatted.
WINDOW = 2048
#: Folders of up to this many entries are sorted by Python (for more, numpy's fixed costs pay off), and those
#: whose names as NUL-padded rows would take more than _SORT_BYTES.
_FEW, _SORT_BYTES = 48, 16 << 20


class _Columns:
    """The per-node :data:`NODE_DTYPE` records, appended in node order and read back by node index: in an unlinked
    temporary file (memory stays flat), or in memory when none can be made."""

    def __init__(self) -> None:
        self._fd: int | None = None
        try:
            fd, name = tempfile.mkstemp(prefix="restorekit-walk-")
        except OSError:
            pass
        else:
            os.unlink(name)
            self._fd = fd
            weakref.finalize(self, os.close, fd)
        self._memory: list[np.ndarray] = []
        self._whole: np.ndarray | None = None

    def append(self, records: np.ndarray) -> None:
        if self._fd is not None:
            data = memoryview(np.ascontiguousarray(records)).cast("B")  # (no copy of a contiguous array)
            while data:
                data = data[os.write(self._fd, data) :]
        else:
            self._memory.append(records)

    def seal(self) -> None:
        """No more appends (the memory chunks are joined)."""
        if self._fd is None:
            self._whole = np.concatenate(self._memory) if self._memory else np.zeros(0, NODE_DTYPE)
            self._memory = []

    def gather(self, index: np.ndarray) -> np.ndarray:
        """The records of the nodes ``index`` (any order, repeats allowed). (``np.take``: indexing an array of
        records with ``[]`` takes ten times as long.)"""
        if self._whole is not None:
            return np.take(self._whole, index)
        if not len(index) or self._fd is None:  # (no file: sealed into _whole)
            return np.zeros(0, NODE_DTYPE)
        lo, hi = int(index.min()), int(index.max())
        size = NODE_DTYPE.itemsize
        if hi - lo < 4 * len(index) + 64:  # a window's nodes are mostly neighbours: one read of their span
            block = np.frombuffer(os.pread(self._fd, (hi - lo + 1) * size, lo * size), NODE_DTYPE)
            return np.take(block, index - lo)
        wanted = distinct(index)[0]
        # one read per run of wanted nodes no more than 64 records apart: a folder's files are mostly neighbours
        breaks = np.flatnonzero(np.diff(wanted) > 64) + 1
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [len(wanted)]))
        parts = []
        for lo, hi in zip(wanted[starts].tolist(), wanted[ends - 1].tolist(), strict=True):
            data = os.pread(self._fd, (hi - lo + 1) * size, lo * size)
            parts.append((lo, np.frombuffer(data, NODE_DTYPE)))
        if len(parts) == 1:
            lo, block = parts[0]
            return np.take(block, index - lo)
        firsts = np.array([lo for lo, _ in parts])
        block = np.concatenate([b for _, b in parts])
        offsets = np.concatenate(([0], np.cumsum([len(b) for _, b in parts])[:-1]))
        which = np.searchsorted(firsts, index, side="right") - 1
        return np.take(block, offsets[which] + index - firsts[which])


class TableBuilder:
    """What a format fills while it reads its file table: nodes in ascending number order, and rows."""

    def __init__(self, *, posix: bool, attribute_names: tuple[tuple[int, str], ...] | None = None) -> None:
        self.posix = posix
        self.attribute_names = attribute_names
        #: More :class:`Entry` fields of nodes flagged :data:`F_EXTRA` (streams, a link's target), by node number.
        self.extras: dict[int, dict[str, Any]] = {}
        self._numbers: list[np.ndarray] = []
        self._kinds: list[np.ndarray] = []
        self._columns = _Columns()
        self._parents: list[np.ndarray] = []
        self._children: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._names = bytearray()
        self._last = -1

    def add_nodes(self, numbers: np.ndarray, records: np.ndarray) -> None:
        """Nodes (inode or MFT record numbers, ascending and above any added before) and their records."""
        if not len(numbers):
            return
        if int(numbers[-1]) >= 1 << 32:
            raise TableUnavailable("node numbers beyond 32 bits")
        numbers = numbers.astype(np.uint32)
        if int(numbers[0]) <= self._last or (len(numbers) > 1 and bool(np.any(np.diff(numbers) == 0))):
            raise TableUnavailable("node numbers out of order")
        self._last = int(numbers[-1])
        self._numbers.append(numbers)
        self._kinds.append(records["kind"].copy())
        self._columns.append(records)

    def add_rows(self, parents: np.ndarray, children: np.ndarray, names: bytes, lengths: np.ndarray) -> None:
        """Names: ``children[i]`` is in folder ``parents[i]`` (node numbers) under the UTF-8 name of ``lengths[i]``
        bytes, the names one after another in ``names``."""
        if len(parents) and max(int(parents.max()), int(children.max())) >= 1 << 32:
            raise TableUnavailable("a name of a node number beyond 32 bits")
        self._parents.append(parents.astype(np.uint32))
        self._children.append(children.astype(np.uint32))
        self._lengths.append(lengths.astype(np.uint16))
        self._names += names

    def row_numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """The folder and node number of each row added so far (joined once, kept joined)."""
        for rows in (self._parents, self._children):
            if len(rows) != 1:
                rows[:] = [np.concatenate(rows) if rows else np.zeros(0, np.uint32)]
        return self._parents[0], self._children[0]

    def finish(self, root: int, *, keep: np.ndarray | None = None, orphans: bool = False) -> FileTable:
        """The table, with node ``root`` as the top folder. ``keep`` masks the rows added (False: left out). With
        ``orphans``, a name whose folder is not in use (a file of a deleted folder) is left out, as no folder lists
        it; without, it is damage. :class:`TableUnavailable` when the tree does not hold together (a name of a node
        that is not there, a folder with two names)."""
        self._columns.seal()
        numbers = np.concatenate(self._numbers) if self._numbers else np.zeros(0, np.uint32)
        kinds = np.concatenate(self._kinds) if self._kinds else np.zeros(0, np.uint8)
        self._numbers, self._kinds = [], []
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.uint16)
        self._lengths = []
        release_free_memory()
        wide = int(lengths.sum(dtype=np.uint64)) >= 1 << 32
        begins = np.zeros(len(lengths), np.int64 if wide else np.uint32)
        np.cumsum(lengths[:-1], out=begins[1:], dtype=begins.dtype)
        lookup = _dense_lookup(numbers)  # for the two look-ups of every row below
        parent = _index(numbers, self.row_numbers()[0], reuse=True, lookup=lookup)
        self._parents = []
        if orphans:
            lost = parent < 0
            lost[~lost] = kinds[parent[~lost]] != K_DIR
            keep = ~lost if keep is None else keep & ~lost
            del lost
        child = self.row_numbers()[1]
        if keep is not None:
            parent, begins, lengths, child = _compact(keep, parent, begins, lengths, child)
        child = _index(numbers, child, reuse=True, lookup=lookup)
        self._children = []
        del keep, lookup
        release_free_memory()
        top = _index(numbers, np.array([root], np.uint32))[0]
        if top < 0 or kinds[top] != K_DIR:
            raise TableUnavailable("the root folder is not in the table")
        if len(child) and (child.min() < 0 or parent.min() < 0):
            raise TableUnavailable("a name of a node that is not in use")
        if len(parent) and np.any(kinds[parent] != K_DIR):
            raise TableUnavailable("a name in a node that is not a folder")
        folders = np.sort(child[kinds[child] == K_DIR])
        if np.any(folders[1:] == folders[:-1]) or np.any(folders == top):
            raise TableUnavailable("a folder with more than one name")
        # the rows grouped by folder, in the order they were added: a stable sort by folder (fast, as a format adds
        # its rows mostly folder after folder); each folder's rows start where its run in the sorted folders does
        moved = np.argsort(parent, kind="stable")
        order = moved.astype(np.int32)
        del moved
        parent = parent[order]
        release_free_memory()
        first = _run_starts(parent, len(numbers))
        del parent
        return FileTable(self, numbers, kinds, child, begins, lengths, order, first, self._columns)


def _run_starts(values: np.ndarray, count: int) -> np.ndarray:
    """Where the run of each of ``count`` values starts in the sorted ``values`` (where the next one starts when
    it is missing), and ``len(values)`` last: ``count + 1`` int32 (a bincount and cumsum, without their int64
    temporaries of a row and of a node each)."""
    first = np.full(count + 1, len(values), np.int32)
    if len(values):
        runs = np.flatnonzero(values[1:] != values[:-1]) + 1
        first[values[runs]] = runs
        first[values[0]] = 0
        np.minimum.accumulate(first[::-1], out=first[::-1])
    return first


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere nothing): the many
    small per-chunk arrays of a table's build leave the heap fragmented, and the peak the walk reaches counts it."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc() -> Any:
    """glibc, told to serve allocations of up to 64 MiB from its heap and to keep up to 8 MiB free at the heap's
    top; None on other C libraries. By default each big array (a 4 MiB chunk of a file table, a window's matrix)
    gets a fresh mapping, and its page faults took a third of an NTFS table's build and half of a window's
    formatting; the build hands its free pages back (:func:`release_free_memory`), so the peak stays below
    100 MiB at a million files."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 8 << 20)  # M_TRIM_THRESHOLD
        libc.malloc_trim  # noqa: B018 - present, or AttributeError
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, sorted, and for each value its index among them: ``np.unique(values,
    return_inverse=True)``, without the ~7 ms import of ``numpy.ma`` that ``np.unique`` makes on first use."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.ones(len(ordered), bool)
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inverse = np.empty(len(values), np.intp)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse


def _compact(keep: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """Each array with only the items ``keep`` marks, moved forward in its own buffer (no copy of the whole)."""
    out = []
    step = 1 << 16
    for array in arrays:
        filled = 0
        for lo in range(0, len(array), step):
            part = array[lo : lo + step][keep[lo : lo + step]]
            array[filled : filled + len(part)] = part
            filled += len(part)
        out.append(array[:filled])
    return out


def _index(numbers: np.ndarray, wanted: np.ndarray, *, reuse: bool = False,
           lookup: np.ndarray | None = None) -> np.ndarray:
    """The positions of ``wanted`` node numbers in the sorted ``numbers``; -1 where one is missing (a slice at a
    time, so the temporaries stay small). With ``reuse``, the positions are written over ``wanted`` (uint32). With
    ``lookup`` (:func:`_dense_lookup` of ``numbers``), they are looked up there rather than searched for."""
    out = wanted.view(np.int32) if reuse else np.empty(len(wanted), np.int32)
    step = 1 << 16
    for lo in range(0, len(wanted), step):
        part = wanted[lo : lo + step].copy() if reuse else wanted[lo : lo + step]
        if lookup is not None:
            out[lo : lo + step] = lookup[np.minimum(part, len(lookup) - 1)]
            continue
        pos = np.searchsorted(numbers, part)
        pos[pos >= len(numbers)] = 0
        found = numbers[pos] == part if len(numbers) else np.zeros(len(part), bool)
        out[lo : lo + step] = np.where(found, pos, -1)
    return out


def _dense_lookup(numbers: np.ndarray) -> np.ndarray | None:
    """The position of each node number up to the largest in the sorted ``numbers`` (-1 for a missing one), then
    -1 (for any larger): a look-up cheaper than a search, made when the numbers are dense enough that it takes at
    most 8 bytes a node (inode and MFT record numbers mostly are); None otherwise."""
    if not len(numbers) or int(numbers[-1]) >= 2 * len(numbers) + (1 << 16):
        return None
    lookup = np.full(int(numbers[-1]) + 2, -1, np.int32)
    lookup[numbers] = np.arange(len(numbers), dtype=np.int32)
    return lookup


@dataclass
class Folder:
    """One folder of the walk: its node, what its entries' paths start with (its path and ``/``), and its entries
    (rows) in name order, with their names."""

    node: int
    prefix: str
    rows: np.ndarray
    names: list[str]


class FileTable:
    """A volume's tree (see the module's notes): walk it with :meth:`windows`."""

    def __init__(self, builder: TableBuilder, numbers: np.ndarray, kinds: np.ndarray, row_node: np.ndarray,
                 name_begins: np.ndarray, name_lengths: np.ndarray, order: np.ndarray, first: np.ndarray,
                 columns: _Columns) -> None:
        self.posix = builder.posix
        self.attribute_names = builder.attribute_names
        self.extras = builder.extras
        self.numbers = numbers
        self.kinds = kinds
        self.row_node = row_node
        self._names = builder._names  # a bytearray: no copy of a million names
        builder._names = bytearray()
        self._name_begins = name_begins
        self._name_lengths = name_lengths
        self._order = order
        self._first = first
        self.columns = columns
        self._attr_text: Any = None
        self._folder_rows: np.ndarray | None = None
        self._last_folder: Folder | None = None
        #: Makes the entry of a node flagged F_SLOW: ``slow(path, name, number)`` (the format's per-entry path).
        self.slow: Callable[[str, str, int], Entry] = _no_slow

    def node_of(self, number: int) -> int:
        """The node index of inode (MFT record) ``number``; -1 when it is not in the table."""
        if not 0 <= number < 1 << 32:
            return -1
        return int(_index(self.numbers, np.array([number], np.uint32))[0])

    def is_folder(self, number: int) -> bool:
        """True when inode (MFT record) ``number`` is a folder of the table."""
        node = self.node_of(number)
        return node >= 0 and int(self.kinds[node]) == K_DIR

    def _decode(self, rows: np.ndarray) -> list[str]:
        begins = self._name_begins[rows].tolist()
        lengths = self._name_lengths[rows].tolist()
        blob = self._names
        parts = [blob[b : b + n] for b, n in zip(begins, lengths, strict=True)]
        names = b"\0".join(parts).decode("utf-8", "surrogatepass").split("\0")
        if len(names) != len(parts):  # a name holding NUL: decode one by one
            names = [p.decode("utf-8", "surrogatepass") for p in parts]
        return names

    def _sorted(self, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """``rows`` ordered by name (code point order, as Python sorts strings; equal names in row order), and
        their names. A folder of more than :data:`_FEW` entries (in up to :data:`_SORT_BYTES`) is sorted and
        decoded by numpy: its names as NUL-padded rows (``S`` strings compare as UTF-8 bytes do, which is code
        point order), sorted, joined with U+0001 between them and decoded at once."""
        if len(rows) > _FEW and len(rows) * int(self._name_lengths[rows].max()) <= _SORT_BYTES:
            names, lengths = self.name_spans(rows)
            if names.shape[1] and np.count_nonzero(names) == int(lengths.sum()):  # (a NUL in a name: as padding)
                ranked = np.argsort(names.view(f"S{names.shape[1]}").ravel(), kind="stable")
                names = np.take(names, ranked, axis=0)
                text = np.concatenate([names, np.ones((len(rows), 1), np.uint8)], axis=1).tobytes()
                split = text.translate(None, b"\0").decode("utf-8", "surrogatepass").split("\x01")[:-1]
                if len(split) == len(rows):  # (not when a name holds U+0001)
                    return rows[ranked], split
        names = self._decode(rows)
        ranked_list = sorted(range(len(names)), key=names.__getitem__)
        return rows[ranked_list], [names[i] for i in ranked_list]

    def plan(self, top: int, top_path: str) -> Iterator[tuple[int, str, int]]:
        """``(node, prefix, entries)`` of each folder from node ``top`` down (``top`` first), in the order
        :meth:`Filesystem.walk_tree` lists them: a folder's entries, then its first subfolder's, depth first.
        Only the subfolders' names are read and sorted here; a folder's entries are read by :meth:`folder`."""
        if self._folder_rows is None:  # where in the rows (grouped by folder) the folders' own rows are
            self._folder_rows = np.flatnonzero(self.kinds[self.row_node[self._order]] == K_DIR)
        stack = [(top, top_path.rstrip("/") + "/")]
        while stack:
            node, prefix = stack.pop()
            lo, hi = int(self._first[node]), int(self._first[node + 1])
            yield node, prefix, hi - lo
            a, b = np.searchsorted(self._folder_rows, (lo, hi)).tolist()
            if a < b:
                rows, names = self._sorted(self._order[self._folder_rows[a:b]])
                for child, name in zip(reversed(self.row_node[rows].tolist()), reversed(names), strict=True):
                    stack.append((child, prefix + name + "/"))

    def folder(self, node: int, prefix: str) -> Folder:
        """Folder ``node``'s entries sorted by name (the last one asked for is kept: a big folder is spread over
        several windows)."""
        if self._last_folder is None or self._last_folder.node != node:
            rows, names = self._sorted(self._order[self._first[node] : self._first[node + 1]])
            self._last_folder = Folder(node, prefix, rows, names)
        return self._last_folder

    def windows(self, top: int, top_path: str, size: int = WINDOW) -> Iterator[Window]:
        """The walk from ``top`` (not included) in windows of ``size`` entries (the last one fewer); a big
        folder's entries are spread over several, so a window's work and memory stay bounded. A window reads its
        folders' entries when first used: one that is skipped (the other process formats it, see
        :mod:`restorekit.cli.turns`) costs next to nothing."""
        pieces: list[tuple[int, str, int, int]] = []
        count = 0
        for node, prefix, total in self.plan(top, top_path):
            start = 0
            while start < total:
                end = min(total, start + size - count)
                pieces.append((node, prefix, start, end))
                count += end - start
                start = end
                if count == size:
                    yield Window(self, pieces)
                    pieces, count = [], 0
        if pieces:
            yield Window(self, pieces)

    def name_spans(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The UTF-8 names of ``rows`` (:func:`restorekit.fs.table_json.spans`) and their lengths."""
        lengths = self._name_lengths[rows]
        return tj.spans(np.frombuffer(self._names, np.uint8), self._name_begins[rows], lengths), lengths

    def attributes_text(self, bits: np.ndarray) -> np.ndarray:
        """The ``, "attributes": [...]`` field of each value of NTFS/FAT attribute ``bits``, as rows of bytes
        (:class:`restorekit.fs.table_json.Choices` of every combination of the named bits, made once)."""
        named = [bit for bit, _label in self.attribute_names or ()]
        if self._attr_text is None:
            texts = []
            for code in range(1 << len(named)):
                labels = [label for i, (_bit, label) in enumerate(self.attribute_names or ()) if code >> i & 1]
                texts.append(', "attributes": [' + ", ".join(f'"{label}"' for label in labels) + "]")
            self._attr_text = Choices(texts)
        code = np.zeros(len(bits), np.int64)
        for i, bit in enumerate(named):
            code |= ((bits & bit) != 0).astype(np.int64) << i
        return self._attr_text.pick(code)


class Window:
    """Consecutive entries of a walk, in walk order: their names, rows and nodes, and the folder each is in,
    read on first use, as are their paths and (once for all entries) their node columns."""

    #: Made in bulk from the table: making a window read nothing and reported nothing (unlike a batch of entries
    #: read one by one, :class:`restorekit.fs.entry.EntryBatch`).
    bulk = True

    def __init__(self, table: FileTable, pieces: list[tuple[int, str, int, int]]) -> None:
        self.table = table
        #: The entries ``start:end`` of each ``(folder node, prefix, start, end)``, in walk order.
        self.pieces = pieces
        self._size = sum(end - start for _node, _prefix, start, end in pieces)
        self._entries_of: tuple[list[Folder], list[str], np.ndarray, np.ndarray, np.ndarray] | None = None
        self._paths: list[str] | None = None
        self._records: np.ndarray | None = None
        #: Where an entry the format cannot make is reported (the walk's ``onerror``); None: it raises.
        self.onerror: Callable[[FilesystemError], None] | None = None

    def _read(self) -> tuple[list[Folder], list[str], np.ndarray, np.ndarray, np.ndarray]:
        """The folders, and the entries' names, rows, index in the folders and nodes (read on first use)."""
        if self._entries_of is None:
            folders = [self.table.folder(node, prefix) for node, prefix, _start, _end in self.pieces]
            names = [name for f, (_n, _p, start, end) in zip(folders, self.pieces, strict=True)
                     for name in f.names[start:end]]
            rows = np.concatenate([f.rows[start:end] for f, (_n, _p, start, end) in zip(folders, self.pieces,
                                                                                       strict=True)])
            where = np.repeat(np.arange(len(folders)), [end - start for _n, _p, start, end in self.pieces])
            self._entries_of = folders, names, rows, where, self.table.row_node[rows]
        return self._entries_of

    @property
    def folders(self) -> list[Folder]:
        return self._read()[0]

    @property
    def names(self) -> list[str]:
        """Each entry's name."""
        return self._read()[1]

    @property
    def rows(self) -> np.ndarray:
        """The entries' rows of the table."""
        return self._read()[2]

    @property
    def where(self) -> np.ndarray:
        """The index in :attr:`folders` of the folder each entry is in."""
        return self._read()[3]

    @property
    def nodes(self) -> np.ndarray:
        """The entries' nodes."""
        return self._read()[4]

    @property
    def paths(self) -> list[str]:
        """Each entry's path."""
        if self._paths is None:
            prefixes = [f.prefix for f in self.folders]
            self._paths = [prefixes[w] + name for w, name in zip(self.where.tolist(), self.names, strict=True)]
        return self._paths

    @property
    def parents(self) -> list[int]:
        """The inode (MFT record) number of the folder each entry is in."""
        numbers = [int(self.table.numbers[f.node]) for f in self.folders]
        return [numbers[w] for w in self.where.tolist()]

    def __len__(self) -> int:
        return self._size

    @property
    def kinds(self) -> np.ndarray:
        return self.table.kinds[self.nodes]

    def is_dir(self) -> list[bool]:
        """True for each entry that is a folder."""
        return (self.kinds == K_DIR).tolist()

    @property
    def records(self) -> np.ndarray:
        if self._records is None:
            self._records = self.table.columns.gather(self.nodes)
        return self._records

    def select(self, keep: list[int]) -> Window:
        """The entries at positions ``keep``, as a window of their own."""
        sub = Window(self.table, [])
        sub._size = len(keep)
        sub._entries_of = (self.folders, [self.names[i] for i in keep], self.rows[keep], self.where[keep],
                           self.nodes[keep])
        if self._records is not None:
            sub._records = np.take(self._records, keep)
        if self._paths is not None:
            sub._paths = [self._paths[i] for i in keep]
        sub.onerror = self.onerror
        return sub

    def candidates(self, newer: int | None, older: int | None, min_size: int | None, max_size: int | None,
                   types: Collection[str] | None) -> list[int]:
        """The positions of the entries that may pass ``find``'s filters (mtime bounds in ns, size bounds for files,
        entry types), judged on the columns; an entry the format makes itself (F_SLOW) is always a candidate, its
        Entry has the last word."""
        rec = self.records
        kinds = rec["kind"]
        keep = np.ones(len(self), bool)
        if types is not None:
            keep &= np.isin(kinds, [KINDS.index(t) for t in types if t in KINDS])
        if min_size is not None or max_size is not None:
            keep &= kinds == K_FILE
        if min_size is not None:
            keep &= rec["size"] >= min_size
        if max_size is not None:
            keep &= rec["size"] <= max_size
        mtime = rec["mtime"]
        if newer is not None:
            keep &= (mtime != NO_TIME) & (mtime > newer)
        if older is not None:
            keep &= (mtime != NO_TIME) & (mtime < older)
        return np.flatnonzero(keep | ((rec["flags"] & F_SLOW) != 0)).tolist()

    def numbers(self) -> list[int]:
        """The entries' inode (MFT record) numbers."""
        return self.table.numbers[self.nodes].tolist()

    def entries(self) -> list[Entry]:
        """An :class:`Entry` per entry (those flagged F_SLOW made by the format: :attr:`FileTable.slow`); one the
        format cannot make goes to :attr:`onerror` and is left out (without it, raises)."""
        return [entry for entry in self._entries() if entry is not None]

    def _entries(self) -> list[Entry | None]:
        """:meth:`entries`, with None in the place of one left out."""
        table, rec = self.table, self.records
        slow = table.slow
        kinds = rec["kind"].tolist()
        sizes = rec["size"].tolist()
        times = [[None if t == NO_TIME else t for t in rec[c].tolist()] for c in _TIMES]
        flags = rec["flags"].tolist()
        nlinks = rec["nlink"].tolist()
        modes, uids, gids = (rec[c].tolist() for c in ("mode", "uid", "gid"))
        attrs, reparse = rec["attr"].tolist(), rec["reparse"].tolist()
        out: list[Entry | None] = []
        for i, (path, name, number) in enumerate(zip(self.paths, self.names, self.numbers(), strict=True)):
            flag = flags[i]
            if flag & F_SLOW:
                out.append(self._slow(slow, path, name, number))
                continue
            kind = KINDS[kinds[i]]
            entry = Entry(path=path, name=name, type=kind, size=sizes[i], inode=number, mtime=times[0][i],
                          atime=times[1][i], ctime=times[2][i], crtime=times[3][i], nlink=nlinks[i],
                          sparse=bool(flag & F_SPARSE), compressed=bool(flag & F_COMPRESSED),
                          encrypted=bool(flag & F_ENCRYPTED), dedup=bool(flag & F_DEDUP),
                          reparse_tag=reparse[i] or None)
            if table.posix:
                entry.mode, entry.uid, entry.gid = modes[i], uids[i], gids[i]
            if table.attribute_names is not None:
                entry.attributes = [label for bit, label in table.attribute_names if attrs[i] & bit]
            if flag & F_EXTRA:
                for key, value in table.extras.get(number, {}).items():
                    setattr(entry, key, list(value) if isinstance(value, list) else value)
            out.append(entry)
        return out

    def _slow(self, slow: Callable[[str, str, int], Entry], path: str, name: str, number: int) -> Entry | None:
        try:
            return slow(path, name, number)
        except FilesystemError as exc:
            if self.onerror is None:
                raise
            exc.message += "; the entry is left out"
            self.onerror(exc)
            return None

    def pairs(self) -> list[tuple[int, Entry]]:
        """``(folder's inode number, entry)`` of each entry (:meth:`entries`, with the folder each is in)."""
        return [(parent, entry) for parent, entry in zip(self.parents, self._entries(), strict=True)
                if entry is not None]

    def special(self) -> list[Entry]:
        """The entries whose :class:`Entry` has more than the columns (made by the format, or with extra fields
        such as a link's target or error): the only ones a text listing needs to look at."""
        keep = np.flatnonzero((self.records["flags"] & (F_SLOW | F_EXTRA)) != 0).tolist()
        return self.select(keep).entries() if keep else []

    def json_lines(self, volume: str, dumps: Callable[[Any], str]) -> list[str]:
        """Each entry as ``ls --json`` writes it (``{"volume": …, **Entry.to_dict()}``, compact, one line):
        :meth:`json_bytes`, as strings."""
        return self.json_bytes(volume, dumps, b"\n").decode().split("\n")[1:]

    def json_bytes(self, volume: str, dumps: Callable[[Any], str], before: bytes = b"") -> bytes:
        """:meth:`json_lines` as UTF-8, each line after ``before`` (a separator such as ``b",\n  "``), built from
        the columns (:mod:`restorekit.fs.table_json`); ``dumps`` encodes the few entries that need their
        :class:`Entry` (made by the format, with extra fields, or a name JSON escapes)."""
        table, rec, n = self.table, self.records, len(self)
        names, lengths = table.name_spans(self.rows)
        prefixes, broken = self._prefixes(lambda prefix: encode_basestring(prefix)[1:-1])
        special = ((rec["flags"] & (F_SLOW | F_EXTRA)) != 0) | tj.unsafe(names, lengths, tj.JSON_ESCAPED) | broken
        head = before + b'{"volume": ' + encode_basestring(volume).encode() + b', "path": "'
        blocks = [tj.literal(head, n), prefixes, names, tj.literal('", "name": "', n), names,
                  _KIND_TEXT.pick(rec["kind"]), tj.digits(rec["size"]), tj.literal(', "inode": ', n),
                  tj.digits(table.numbers[self.nodes])]
        ns = np.concatenate([rec[key] for key in _TIMES])  # the four times formatted in one go (an int64 of
        have_all = ns != NO_TIME  # nanoseconds is always in the years datetime formats: 1677-2262)
        stamps = tj.iso(ns, have_all)
        for k, key in enumerate(_TIMES):
            have = have_all[k * n : (k + 1) * n]
            blocks += [tj.optional(tj.literal(f', "{key}": "', n), have), stamps[k * n : (k + 1) * n],
                       tj.optional(tj.literal('Z"', n), have)]
        if table.posix:
            for key in ("mode", "uid", "gid"):
                blocks += [tj.literal(f', "{key}": ', n), tj.digits(rec[key])]
        links = rec["nlink"] != 1
        blocks += [tj.optional(tj.literal(', "nlink": ', n), links), tj.optional(tj.digits(rec["nlink"]), links)]
        if table.attribute_names is not None:
            blocks.append(table.attributes_text(rec["attr"]))
        blocks.append(_FLAG_TEXT.pick(rec["flags"] & (F_DEDUP | F_SPARSE | F_COMPRESSED | F_ENCRYPTED)))
        if not table.posix:
            tagged = rec["reparse"] != 0
            blocks += [tj.optional(tj.literal(', "reparseTag": "0x', n), tagged),
                       tj.optional(tj.hex8(rec["reparse"]), tagged), tj.optional(tj.literal('"', n), tagged)]
        blocks.append(tj.literal("}", n))
        at = np.flatnonzero(special).tolist()  # their entries made together, as special() makes them
        made = [b"" if entry is None else before + dumps({"volume": volume, **entry.to_dict()}).encode()
                for entry in self.select(at)._entries()] if at else []
        return tj.join(blocks, special, made)

    def text_bytes(self, escape: Callable[[str], str], encode: Callable[[str], bytes], *, paths: bool) -> bytes:
        """A line per entry as ``ls`` writes it: its path (or with ``paths`` False its name) through ``escape``,
        ``/`` after a folder's. The lines are built from the table's names (UTF-8), except those holding a byte
        ``escape`` may change (C0 and C1 controls, DEL, a backslash) or one UTF-8 cannot carry: those are made as
        text and ``encode``d (the output stream's own encoding)."""
        n = len(self)
        names, lengths = self.table.name_spans(self.rows)
        special = tj.unsafe(names, lengths, tj.TEXT_ESCAPED, c1=True)
        blocks = [names, _DIR_MARK.pick((self.kinds == K_DIR).astype(np.int64)), tj.literal("\n", n)]
        if paths:
            prefixes, broken = self._prefixes(escape)
            blocks.insert(0, prefixes)
            special |= broken
        at = np.flatnonzero(special).tolist()
        made = []
        if at:
            texts = self.paths if paths else self.names
            dirs = self.is_dir()
            made = [encode(escape(texts[i]) + ("/\n" if dirs[i] else "\n")) for i in at]
        return tj.join(blocks, special, made)

    def _prefixes(self, escape: Callable[[str], str]) -> tuple[np.ndarray, np.ndarray]:
        """Each entry's folder path (its prefix, ending in ``/``) through ``escape``, as UTF-8 rows
        (:func:`restorekit.fs.table_json.spans`), and which entries' prefix UTF-8 cannot carry (lone surrogates:
        their lines are made as text)."""
        texts, broken = [], []
        for folder in self.folders:
            try:
                texts.append(escape(folder.prefix).encode())
                broken.append(False)
            except UnicodeEncodeError:
                texts.append(b"")
                broken.append(True)
        lengths = np.array([len(t) for t in texts], np.int64)
        rows = tj.spans(np.frombuffer(b"".join(texts) or b"\0", np.uint8), np.cumsum(lengths) - lengths, lengths)
        return np.take(rows, self.where, axis=0), np.array(broken)[self.where]


def _no_slow(path: str, name: str, number: int) -> Entry:
    raise TableUnavailable(f"no per-entry reader for inode {number} ({path})")


_KIND_TEXT = Choices([f'", "type": "{kind}", "size": ' for kind in KINDS])
_DIR_MARK = Choices(["", "/"])
#: The flag fields of each combination of F_DEDUP, F_SPARSE, F_COMPRESSED, F_ENCRYPTED (the low four bits).
_FLAG_TEXT = Choices(["".join(f', "{key}": true' for bit, key in _FLAG_FIELDS if code & bit) for code in range(16)])
