"""File-system entries: what ``ls`` shows of a file, and a file's bytes as a :class:`restorekit.fs.stream.Stream`.

An adapter (:mod:`restorekit.fs.filesystems`) turns its backend's entry into an :class:`Entry` and a file's
data runs into a :class:`FileStream`. Runs stored plainly map through the volume's own
:meth:`~restorekit.fs.stream.Stream.extents` down to offsets in the image files, so a copier moves them in the
kernel. Data the backend must transform (NTFS compression, resident data, encrypted files) reads through the
backend: a ``DATA`` extent on a :class:`BackendSource`, whose ``fileno()`` is None.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.fs.errors import FilesystemError
from restorekit.fs.stream import Extent, ExtentKind, Stream

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

#: Entry types, as ``ls`` prints them.
FILE, DIRECTORY, SYMLINK, FIFO, DEVICE, SOCKET, OTHER = "file", "dir", "symlink", "fifo", "device", "socket", "other"
#: NTFS reparse tag of a file deduplicated by Windows Server Data Deduplication.
REPARSE_TAG_DEDUP = 0x80000013


@dataclass
class Entry:
    """One directory entry of a file system, with the metadata ``ls``, ``find`` and ``extract`` use.

    Times are nanoseconds since 1970 (None when the file system does not keep that time). ``mode``, ``uid``
    and ``gid`` are POSIX (ext, XFS); ``attributes`` are NTFS or FAT file attribute names; ``short_name`` is
    FAT's 8.3 name.
    """

    path: str
    name: str
    type: str
    size: int
    inode: int
    mtime: int | None = None
    atime: int | None = None
    ctime: int | None = None
    crtime: int | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    nlink: int = 1
    attributes: list[str] | None = None
    link_target: str | None = None
    #: Why a symbolic link's target could not be read (its blocks are damaged); ``link_target`` is None then.
    link_error: str | None = None
    streams: list[str] = field(default_factory=list)
    dedup: bool = False
    sparse: bool = False
    compressed: bool = False
    encrypted: bool = False
    reparse_tag: int | None = None
    short_name: str | None = None
    #: The backend's own entry object, for opening the file without a second lookup.
    handle: Any = field(default=None, repr=False, compare=False)

    @property
    def is_dir(self) -> bool:
        """True for a directory."""
        return self.type == DIRECTORY

    def to_dict(self) -> dict[str, Any]:
        """The JSON fields of ``ls --json`` and ``find --json`` (camelCase; times as ISO 8601 UTC)."""
        out: dict[str, Any] = {"path": self.path, "name": self.name, "type": self.type, "size": self.size,
                               "inode": self.inode}
        for key in ("mtime", "atime", "ctime", "crtime"):
            value = getattr(self, key)
            if value is not None:
                out[key] = iso_time(value)
        for key, value in (("mode", self.mode), ("uid", self.uid), ("gid", self.gid)):
            if value is not None:
                out[key] = value
        if self.nlink != 1:
            out["nlink"] = self.nlink
        if self.attributes is not None:
            out["attributes"] = self.attributes
        if self.link_target is not None:
            out["linkTarget"] = self.link_target
        if self.link_error is not None:
            out["linkError"] = self.link_error
        if self.streams:
            out["streams"] = self.streams
        for key in ("dedup", "sparse", "compressed", "encrypted"):
            if getattr(self, key):
                out[key] = True
        if self.reparse_tag is not None:
            out["reparseTag"] = f"0x{self.reparse_tag:08X}"
        if self.short_name is not None:
            out["shortName"] = self.short_name
        return out


class EntryBatch:
    """Entries of a listing made one by one (a folder read through the format's own reader), with the interface of
    a file table's :class:`restorekit.fs.table.Window`, so a consumer of batches handles both alike."""

    #: Made in bulk from a file table (a :class:`restorekit.fs.table.Window`): not these, read one by one.
    bulk = False

    def __init__(self, entries: list[Entry]) -> None:
        self._entries = entries
        self.paths = [e.path for e in entries]
        self.names = [e.name for e in entries]

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Entry]:
        """The entries."""
        return self._entries

    def select(self, keep: list[int]) -> EntryBatch:
        """The entries at positions ``keep``."""
        return EntryBatch([self._entries[i] for i in keep])

    def is_dir(self) -> list[bool]:
        """True for each entry that is a folder."""
        return [e.is_dir for e in self._entries]

    def special(self) -> list[Entry]:
        """Every entry (a text listing looks at each for a link whose target cannot be read)."""
        return self._entries

    def json_lines(self, volume: str, dumps: Callable[[Any], str]) -> list[str]:
        """Each entry as ``ls --json`` writes it: ``dumps({"volume": …, **entry.to_dict()})``."""
        return [dumps({"volume": volume, **e.to_dict()}) for e in self._entries]

    def json_bytes(self, volume: str, dumps: Callable[[Any], str], before: bytes = b"") -> bytes:
        """:meth:`json_lines` as UTF-8, each line after ``before``."""
        return b"".join(before + line.encode() for line in self.json_lines(volume, dumps))

    def text_bytes(self, escape: Callable[[str], str], encode: Callable[[str], bytes], *, paths: bool) -> bytes:
        """A line per entry as ``ls`` writes it: its path (or name) through ``escape``, ``/`` after a folder's,
        ``encode``d."""
        texts = self.paths if paths else self.names
        return encode("".join([escape(t) + ("/\n" if e.is_dir else "\n") for t, e in zip(texts, self._entries,
                                                                                         strict=True)]))


def iso_time(ns: int) -> str:
    """Nanoseconds since 1970 as ``2020-09-13T12:26:40.123456Z`` (``ls -r --json`` calls it 4 times a file).

    A time outside years 1-9999 (a damaged or deliberately odd NTFS time) is shown as its raw value, marked
    ``out of range``: a listing never fails on one file's time.
    """
    try:
        return (_EPOCH + datetime.timedelta(microseconds=ns // 1000)).isoformat() + "Z"
    except OverflowError:
        return f"out of range ({ns} ns since 1970)"


_EPOCH = datetime.datetime(1970, 1, 1)


class BackendSource:
    """A :class:`restorekit.fs.stream.Source` reading a file through its backend (decompressing, resident data)."""

    def __init__(self, name: str, read_at: Callable[[int, int], bytes]) -> None:
        self.name = name
        self._read_at = read_at

    def pread(self, length: int, offset: int) -> bytes:
        try:
            data = self._read_at(length, offset)
        except (OSError, ValueError) as exc:
            raise FilesystemError(f"cannot be read: {exc}", path=self.name, offset=offset,
                                  hint="the file's records or runs are damaged; it is skipped") from exc
        if len(data) < length:
            data += bytes(length - len(data))
        return data

    def fileno(self) -> int | None:
        return None


@dataclass(frozen=True, slots=True)
class Run:
    """``length`` bytes at ``offset`` of a file are stored at ``volume_offset`` of the volume (None: a hole)."""

    offset: int
    length: int
    volume_offset: int | None


class FileStream(Stream):
    """A file's bytes: its runs mapped through the volume stream, or read through the backend.

    ``runs`` None means the backend must read the bytes itself (``fallback``). Runs are clipped to ``size``;
    bytes past the last run read as zeros only when the runs say so (a hole), never by accident: a file
    whose runs do not cover it is read through the backend, and one whose runs reach past the end of the
    volume (a truncated image) raises :class:`FilesystemError` naming it.
    """

    def __init__(self, size: int, volume: Stream, runs: Sequence[Run] | None, fallback: BackendSource) -> None:
        super().__init__(size)
        self.volume = volume
        self.fallback = fallback
        if runs is not None and sum(r.length for r in runs) < size:
            runs = None
        self.runs = list(runs) if runs is not None else None
        self.name = fallback.name
        past = next((r for r in self.runs or () if r.volume_offset is not None
                     and r.volume_offset + r.length > volume.size), None)
        if past is not None:
            volume_id, _sep, path = self.name.partition(":")
            raise FilesystemError(
                f"bytes {past.offset}-{past.offset + past.length} of the file are stored at volume offsets "
                f"{past.volume_offset}-{past.volume_offset + past.length}, past the end of the volume ({volume.size} "
                "bytes): the volume is truncated, so the file cannot be read whole", volume=volume_id, path=path,
                hint="give the complete image (or restore the disk)")

    @property
    def mapped(self) -> bool:
        """True when the bytes are located in the volume (a kernel copy is possible)."""
        return self.runs is not None

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        if self.runs is None:
            yield Extent(offset, length, ExtentKind.DATA, self.fallback, offset)
            return
        end = offset + length
        for run in self.runs:
            lo, hi = max(offset, run.offset), min(end, run.offset + run.length)
            if lo >= hi:
                continue
            if run.volume_offset is None:
                yield Extent(lo, hi - lo, ExtentKind.ZERO)
                continue
            start = run.volume_offset + lo - run.offset
            for ext in self.volume.extents(start, hi - lo):
                yield Extent(lo + ext.offset - start, ext.length, ext.kind, ext.source, ext.source_offset)


def runs_from_extents(extents: Iterator[tuple[int, int, int]], size: int, sparse_flag: int = 1) -> list[Run] | None:
    """Runs from libyal ``(volume offset, length, flags)`` extents; None when one needs the backend to read."""
    runs: list[Run] = []
    pos = 0
    for vol_offset, length, flags in extents:
        if pos >= size:
            break
        if flags & ~sparse_flag:
            return None  # compressed or otherwise transformed
        take = min(length, size - pos)
        runs.append(Run(pos, take, None if flags & sparse_flag else vol_offset))
        pos += take
    return runs
