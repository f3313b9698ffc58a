"""A volume's whole tree read in bulk, for walks at disk speed (``ls -r``, ``find``, ``extract`` of a folder).

A format that can read its file table in large sequential chunks (NTFS's ``$MFT``, ext's inode tables) fills a
:class:`TableBuilder`: one *node* per file (size, times, type, owners and flags, parsed with numpy a chunk at a
time) and one *row* per name (a hard-linked file has a row per name) saying which folder node it is in. The walk
then makes no per-folder reads: :meth:`FileTable.folders` orders each folder's rows by name and hands them out a
folder at a time, parents before children, exactly as :meth:`restorekit.fs.filesystem.Filesystem.walk_tree`
visits them; :class:`Window` groups several folders' entries so the per-entry work (paths, JSON lines, filters)
runs over lists and arrays, and an :class:`restorekit.fs.entry.Entry` is made only for entries a caller keeps.

Memory stays flat as volumes grow: the tree is held as numpy arrays (per row: its folder, its node and where its
name is in one ``bytes`` buffer; per node: its number and type), names become Python strings only while their
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

from restorekit.fs.entry import DEVICE, DIRECTORY, FIFO, FILE, OTHER, SOCKET, SYMLINK, Entry, iso_time
from restorekit.fs.errors import TableUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

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
WINDOW = 4096
#: Microseconds since 1970 of 0001-01-01 and of 9999-12-31T23:59:59.999999, the range ``datetime`` formats.
_MIN_US, _MAX_US = -62135596800 * 10**6, 253402300800 * 10**6 - 1


class _Columns:
    """The per-node :data:`NODE_DTYPE` records, appended in node order and read back by node index: in an unlinked
    temporary file (memory stays flat), or in memory when none can be made."""

    def __init__(self) -> None:
        try:
            self._file: Any = tempfile.TemporaryFile(prefix="restorekit-walk-")  # noqa: SIM115 - closed in close()
        except OSError:
            self._file = None
        else:
            # a table nobody closes (its file system just dropped) closes its file, without a ResourceWarning
            weakref.finalize(self, self._file.close)
        self._memory: list[np.ndarray] = []
        self._whole: np.ndarray | None = None
        self.count = 0

    def append(self, records: np.ndarray) -> None:
        if self._file is not None:
            self._file.write(records.tobytes())
        else:
            self._memory.append(records)
        self.count += len(records)

    def seal(self) -> None:
        """No more appends: flush the file for reading (or join the memory chunks)."""
        if self._file is not None:
            self._file.flush()
        else:
            self._whole = np.concatenate(self._memory) if self._memory else np.zeros(0, NODE_DTYPE)
            self._memory = []

    def gather(self, index: np.ndarray) -> np.ndarray:
        """The records of the nodes ``index`` (any order, repeats allowed)."""
        if self._whole is not None:
            return self._whole[index]
        if not len(index):
            return np.zeros(0, NODE_DTYPE)
        wanted = np.unique(index)
        # one read per run of wanted nodes no more than 64 records apart: a folder's files are mostly neighbours
        breaks = np.flatnonzero(np.diff(wanted) > 64) + 1
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [len(wanted)]))
        size = NODE_DTYPE.itemsize
        fd = self._file.fileno()
        parts = []
        for lo, hi in zip(wanted[starts].tolist(), wanted[ends - 1].tolist(), strict=True):
            data = os.pread(fd, (hi - lo + 1) * size, lo * size)
            parts.append((lo, np.frombuffer(data, NODE_DTYPE)))
        if len(parts) == 1:
            lo, block = parts[0]
            return block[index - lo]
        firsts = np.array([lo for lo, _ in parts])
        block = np.concatenate([b for _, b in parts])
        offsets = np.concatenate(([0], np.cumsum([len(b) for _, b in parts])[:-1]))
        which = np.searchsorted(firsts, index, side="right") - 1
        return block[offsets[which] + index - firsts[which]]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class TableBuilder:
    """What a format fills while it reads its file table: nodes in ascending number order, and rows."""

    def __init__(self, *, encoding: str, posix: bool, attribute_names: tuple[tuple[int, str], ...] | None = None,
                 case_insensitive: bool = False) -> None:
        self.encoding = encoding
        self.posix = posix
        self.attribute_names = attribute_names
        self.case_insensitive = case_insensitive
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
        numbers = numbers.astype(np.uint64, copy=False)
        if int(numbers[0]) <= self._last or (len(numbers) > 1 and bool(np.any(np.diff(numbers) == 0))):
            raise TableUnavailable("node numbers out of order")
        self._last = int(numbers[-1])
        self._numbers.append(numbers)
        self._kinds.append(records["kind"].copy())
        self._columns.append(records)

    def add_rows(self, parents: np.ndarray, children: np.ndarray, names: bytes, lengths: np.ndarray) -> None:
        """Names: ``children[i]`` is in folder ``parents[i]`` (node numbers) under the name of ``lengths[i]``
        bytes, the names one after another in ``names``."""
        self._parents.append(parents.astype(np.uint64, copy=False))
        self._children.append(children.astype(np.uint64, copy=False))
        self._lengths.append(lengths.astype(np.uint32, copy=False))
        self._names += names

    def finish(self, root: int) -> FileTable:
        """The table, with node ``root`` as the top folder; :class:`TableUnavailable` when the tree does not hold
        together (a name of a node that is not there, a folder with two names)."""
        self._columns.seal()
        numbers = np.concatenate(self._numbers) if self._numbers else np.zeros(0, np.uint64)
        kinds = np.concatenate(self._kinds) if self._kinds else np.zeros(0, np.uint8)
        self._numbers, self._kinds = [], []
        # each list is dropped as soon as it is joined: at a million names each is several MiB
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.uint32)
        self._lengths = []
        child = _index(numbers, _joined(self._children))
        self._children = []
        parent = _index(numbers, _joined(self._parents))
        self._parents = []
        top = _index(numbers, np.array([root], np.uint64))[0]
        if top < 0 or kinds[top] != K_DIR:
            raise TableUnavailable("the root folder is not in the table")
        if len(child) and (child.min() < 0 or parent.min() < 0):
            raise TableUnavailable("a name of a node that is not in use")
        if len(parent) and np.any(kinds[parent] != K_DIR):
            raise TableUnavailable("a name in a node that is not a folder")
        folders = child[kinds[child] == K_DIR]
        if np.any(np.bincount(folders, minlength=len(numbers)) > 1) or np.any(folders == top):
            raise TableUnavailable("a folder with more than one name")
        starts = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=starts[1:])
        order = np.argsort(parent, kind="stable").astype(np.int32)
        first = np.zeros(len(numbers) + 1, np.int64)
        np.cumsum(np.bincount(parent, minlength=len(numbers)), out=first[1:])
        return FileTable(self, numbers, kinds, child.astype(np.int32), starts, order, first, self._columns)


def _index(numbers: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The positions of ``wanted`` node numbers in the sorted ``numbers``; -1 where one is missing."""
    pos = np.searchsorted(numbers, wanted).astype(np.int64, copy=False)
    pos[pos >= len(numbers)] = 0
    found = numbers[pos] == wanted if len(numbers) else np.zeros(len(wanted), bool)
    pos[~found] = -1  # in place: no second array of a million positions
    return pos


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)


@dataclass
class Folder:
    """One folder of the walk: its node, its path, and its entries (rows) in name order, with their names."""

    node: int
    path: str
    rows: np.ndarray
    names: list[str]


class FileTable:
    """A volume's tree (see the module's notes): walk it with :meth:`folders` and :meth:`windows`."""

    def __init__(self, builder: TableBuilder, numbers: np.ndarray, kinds: np.ndarray, row_node: np.ndarray,
                 name_starts: np.ndarray, order: np.ndarray, first: np.ndarray, columns: _Columns) -> None:
        self.encoding = builder.encoding
        self.posix = builder.posix
        self.attribute_names = builder.attribute_names
        self.extras = builder.extras
        self.numbers = numbers
        self.kinds = kinds
        self.row_node = row_node
        self._names = builder._names  # kept as it is: a copy to bytes would hold the names twice for a moment
        builder._names = bytearray()
        self._name_starts = name_starts
        self._order = order
        self._first = first
        self.columns = columns
        self._sep = "\0".encode(self.encoding)
        self._attr_json: dict[int, str] = {}

    def close(self) -> None:
        """Drop the temporary file of the node columns."""
        self.columns.close()

    def node_of(self, number: int) -> int:
        """The node index of inode (MFT record) ``number``; -1 when it is not in the table."""
        return int(_index(self.numbers, np.array([number], np.uint64))[0])

    def is_folder(self, number: int) -> bool:
        node = self.node_of(number)
        return node >= 0 and self.kinds[node] == K_DIR

    def _decode(self, rows: np.ndarray) -> list[str]:
        starts = self._name_starts[rows].tolist()
        ends = self._name_starts[rows + 1].tolist()
        blob = self._names
        parts = [blob[s:e] for s, e in zip(starts, ends, strict=True)]
        names = self._sep.join(parts).decode(self.encoding, "surrogatepass").split("\0")
        if len(names) != len(parts):  # a name holding NUL: decode one by one
            names = [p.decode(self.encoding, "surrogatepass") for p in parts]
        return names

    def folders(self, top: int, top_path: str) -> Iterator[Folder]:
        """Each folder from node ``top`` down (``top`` first) with its entries sorted by name, in the order
        :meth:`Filesystem.walk_tree` lists them: a folder's entries, then its first subfolder's, depth first."""
        stack = [(top, top_path)]
        while stack:
            node, path = stack.pop()
            rows = self._order[self._first[node] : self._first[node + 1]]
            if not len(rows):
                yield Folder(node, path, rows, [])
                continue
            names = self._decode(rows)
            ranked = sorted(range(len(names)), key=names.__getitem__)
            rows = rows[ranked]
            names = [names[i] for i in ranked]
            yield Folder(node, path, rows, names)
            prefix = path.rstrip("/") + "/"
            nodes = self.row_node[rows]
            for i in np.flatnonzero(self.kinds[nodes] == K_DIR)[::-1].tolist():
                stack.append((int(nodes[i]), prefix + names[i]))

    def windows(self, top: int, top_path: str, size: int = WINDOW) -> Iterator[Window]:
        """The walk from ``top`` (not included) in windows of about ``size`` entries, whole folders each."""
        paths: list[str] = []
        names: list[str] = []
        rows: list[np.ndarray] = []
        parents: list[int] = []
        for folder in self.folders(top, top_path):
            if not folder.names:
                continue
            prefix = folder.path.rstrip("/") + "/"
            paths += [prefix + name for name in folder.names]
            names += folder.names
            rows.append(folder.rows)
            parents += [folder.node] * len(folder.names)
            if len(paths) >= size:
                yield Window(self, paths, names, self.row_node[np.concatenate(rows)], parents)
                paths, names, rows, parents = [], [], [], []
        if paths:
            yield Window(self, paths, names, self.row_node[np.concatenate(rows)], parents)

    def attributes_json(self, bits: int) -> str:
        """The ``attributes`` list of NTFS/FAT attribute ``bits`` as JSON text (remembered per value)."""
        text = self._attr_json.get(bits)
        if text is None:
            names = [label for bit, label in self.attribute_names or () if bits & bit]
            text = self._attr_json[bits] = "[" + ", ".join(f'"{n}"' for n in names) + "]"
        return text


class Window:
    """Consecutive entries of a walk (whole folders, in walk order): their paths, names, nodes and folders; the
    node columns are read once for all of them, on first use."""

    def __init__(self, table: FileTable, paths: list[str], names: list[str], nodes: np.ndarray,
                 parents: list[int]) -> None:
        self.table = table
        self.paths = paths
        self.names = names
        self.nodes = nodes
        #: The node of the folder each entry is in.
        self.parents = parents
        self._records: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def kinds(self) -> np.ndarray:
        return self.table.kinds[self.nodes]

    @property
    def records(self) -> np.ndarray:
        if self._records is None:
            self._records = self.table.columns.gather(self.nodes)
        return self._records

    def select(self, keep: list[int]) -> Window:
        """The entries at positions ``keep``, as a window of their own."""
        sub = Window(self.table, [self.paths[i] for i in keep], [self.names[i] for i in keep], self.nodes[keep],
                     [self.parents[i] for i in keep])
        if self._records is not None:
            sub._records = self._records[keep]
        return sub

    def numbers(self) -> list[int]:
        """The entries' inode (MFT record) numbers."""
        return self.table.numbers[self.nodes].tolist()

    def entries(self, slow: Callable[[str, str, int], Entry]) -> list[Entry]:
        """An :class:`Entry` per entry; ``slow(path, name, number)`` makes those the format makes itself."""
        table, rec = self.table, self.records
        kinds = rec["kind"].tolist()
        sizes = rec["size"].tolist()
        times = [[None if t == NO_TIME else t for t in rec[c].tolist()] for c in _TIMES]
        flags = rec["flags"].tolist()
        nlinks = rec["nlink"].tolist()
        modes, uids, gids = (rec[c].tolist() for c in ("mode", "uid", "gid"))
        attrs, reparse = rec["attr"].tolist(), rec["reparse"].tolist()
        out = []
        for i, (path, name, number) in enumerate(zip(self.paths, self.names, self.numbers(), strict=True)):
            flag = flags[i]
            if flag & F_SLOW:
                out.append(slow(path, name, number))
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

    def json_lines(self, volume: str, slow: Callable[[str, str, int], Entry],
                   dumps: Callable[[Any], str]) -> list[str]:
        """Each entry as ``ls --json`` writes it (``{"volume": …, **Entry.to_dict()}``, compact, one line), built
        from the columns; ``dumps`` encodes the few entries that need their :class:`Entry` (slow or extra)."""
        table, rec = self.table, self.records
        head = '{"volume": ' + encode_basestring(volume) + ', "path": '
        kinds = rec["kind"].tolist()
        sizes = rec["size"].tolist()
        numbers = self.numbers()
        stamps = [_iso_times(rec[c]) for c in _TIMES]
        nlinks = rec["nlink"].tolist()
        flags = rec["flags"].tolist()
        posix = table.posix
        if posix:
            owners = [f', "mode": {m}, "uid": {u}, "gid": {g}' for m, u, g in
                      zip(rec["mode"].tolist(), rec["uid"].tolist(), rec["gid"].tolist(), strict=True)]
        else:
            attrs = rec["attr"].tolist()
            reparse = rec["reparse"].tolist()
        lines = []
        for i, path in enumerate(self.paths):
            flag = flags[i]
            if flag & (F_SLOW | F_EXTRA):
                entry = self.select([i]).entries(slow)[0]
                lines.append(dumps({"volume": volume, **entry.to_dict()}))
                continue
            text = (f'{head}{encode_basestring(path)}, "name": {encode_basestring(self.names[i])}, '
                    f'"type": "{KINDS[kinds[i]]}", "size": {sizes[i]}, "inode": {numbers[i]}')
            for key, column in zip(_TIMES, stamps, strict=True):
                stamp = column[i]
                if stamp is not None:
                    text += f', "{key}": "{stamp}"'
            if posix:
                text += owners[i]
            if nlinks[i] != 1:
                text += f', "nlink": {nlinks[i]}'
            if not posix and table.attribute_names is not None:
                text += ', "attributes": ' + table.attributes_json(attrs[i])
            if flag:
                text += "".join(f', "{key}": true' for bit, key in _FLAG_FIELDS if flag & bit)
            if not posix and reparse[i]:
                text += f', "reparseTag": "0x{reparse[i]:08X}"'
            lines.append(text + "}")
        return lines


def _iso_times(ns: np.ndarray) -> list[str | None]:
    """:func:`restorekit.fs.entry.iso_time` of each value (None for :data:`NO_TIME`), formatted by numpy."""
    us = ns // 1000
    plain = (ns != NO_TIME) & (us >= _MIN_US) & (us <= _MAX_US)
    text = np.datetime_as_string(np.where(plain, us, 0).astype("datetime64[us]"), unit="us").tolist()
    out: list[str | None] = [t + "Z" for t in text]
    # datetime.isoformat() leaves out a zero fraction
    for i in np.flatnonzero(plain & (us % 10**6 == 0)).tolist():
        out[i] = text[i][:19] + "Z"
    for i in np.flatnonzero(~plain).tolist():
        out[i] = None if ns[i] == NO_TIME else iso_time(int(ns[i]))
    return out
