"""The file-system layer: what a volume holds, found by its signature.

:func:`open_filesystem` tries :data:`FILESYSTEMS` in order and returns the first whose signature and sanity
checks (:mod:`restorekit.fs.filesystems.signatures`) match, or None; only that format's module is imported.
Opening parses the superblock or boot sector only (label, UUID, size and, where it is cheap, used bytes); the
backend (pyfsntfs, pyfsext, pyfsxfs; FAT's own chain reader) is opened on first file access. Backend errors
become :class:`restorekit.fs.errors.FilesystemError` naming the volume and path.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
from typing import TYPE_CHECKING, Any, ClassVar

from restorekit.fs.entry import DIRECTORY, Entry
from restorekit.fs.errors import EntryNotFoundError, FilesystemError, TableUnavailable
from restorekit.fs.filesystems import signatures
from restorekit.fs.registry import LazyFormat

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from restorekit.fs.entry import FileStream
    from restorekit.fs.stream import Extent, Stream
    from restorekit.fs.table import FileTable, Window

MAX_LINK_HOPS = 8
#: A walk that does not start at the root reads folder by folder, and switches to the volume's table once it has
#: listed this many entries (reading a whole table to list a small folder would cost more than it saves).
TABLE_AFTER = 2000


class Filesystem:
    """A file system on a volume: its identity, and read access to a few files for evidence."""

    #: Short name of the format family (``ntfs``, ``ext``, ``fat``, ``xfs``).
    type_name: ClassVar[str]
    #: True when names match whatever their case (NTFS, FAT), as Windows matches them.
    case_insensitive: ClassVar[bool] = False
    #: What ``ls`` must tell users about the format's times (FAT keeps local time without a zone), or None.
    time_note: ClassVar[str | None] = None

    def __init__(self, stream: Stream, volume: str) -> None:
        self.stream = stream
        self.volume = volume
        #: The name shown to users (``ext4`` rather than ``ext``); set by the format.
        self.variant = self.type_name
        self.label: str | None = None
        self.uuid: str | None = None
        self.size = 0
        self.used: int | None = None
        self.warnings: list[str] = []
        self._backend: Any = None
        self._root_checked = False
        self._root_error: FilesystemError | None = None
        self._table: FileTable | None = None
        self._table_tried = False

    # -- opening ---------------------------------------------------------------------------------------

    @classmethod
    def open(cls, stream: Stream, volume: str) -> Filesystem:
        """Parse the file system's header; raise :class:`FilesystemError` when it is damaged."""
        fs = cls(stream, volume)
        fs._parse()
        if fs.size > stream.size:
            fs.warnings.insert(0, f"{volume}: {fs.variant} says it is {fs.size} bytes but the volume holds only "
                               f"{stream.size}; the end is missing (truncated image or partition), so files whose "
                               "data lies there cannot be read")
        return fs

    def _parse(self) -> None:
        raise NotImplementedError

    @classmethod
    def file_access(cls) -> bool:
        """True when the format lists and reads files (ls, find, cat, extract), not only its header.

        A format declares it by implementing the entry methods (:meth:`_children`, :meth:`_make_entry`,
        :meth:`_open_stream`), so the answer follows the code: the planner never keeps a list of its own.
        """
        return all(getattr(cls, name) is not getattr(Filesystem, name)
                   for name in ("_children", "_make_entry", "_open_stream"))

    def root_error(self) -> FilesystemError | None:
        """Why the root folder cannot be listed, or None when it lists: what ``fileAccess`` rests on.

        Checked on first ask (the backend opens and the root folder is read once), then remembered.
        """
        if not self._root_checked:
            self._root_checked = True
            if not self.file_access():
                self._root_error = FilesystemError(f"listing files on {self.variant} is not supported yet",
                                                   volume=self.volume)
            else:
                try:
                    self.listdir(self.stat("/"))
                except FilesystemError as exc:
                    self._root_error = exc
        return self._root_error

    # -- file access (opened lazily) -------------------------------------------------------------------

    def _open_backend(self) -> Any:
        raise NotImplementedError

    @contextlib.contextmanager
    def _errors(self, path: str | None = None) -> Iterator[None]:
        """Turn a backend's bare OSError/IOError into a FilesystemError naming the volume and path; a format's own
        FilesystemError (raised deep in a chain or run reader) gets the volume and path it did not know."""
        try:
            yield
        except FilesystemError as exc:
            exc.volume = exc.volume or self.volume
            exc.path = exc.path or path
            raise
        except NotImplementedError as exc:
            raise FilesystemError(f"file access on {self.variant} volumes is not supported yet", volume=self.volume,
                                  path=path, hint="copy the volume out with restorekit dd and use a tool that reads "
                                  f"{self.variant}") from exc
        except (OSError, ValueError, RuntimeError) as exc:
            raise FilesystemError(f"{self.variant} file system cannot be read: {exc}", volume=self.volume,
                                  path=path, hint="the volume may be damaged or truncated") from exc

    @property
    def backend(self) -> Any:
        """The opened backend volume object (opened on first use)."""
        if self._backend is None:
            with self._errors():
                self._backend = self._open_backend()
        return self._backend

    def _entry(self, path: str) -> Any:
        """The backend's entry for an absolute POSIX-style ``path``, or None when it does not exist."""
        raise NotImplementedError

    def _link_target(self, entry: Any) -> str | None:
        """The target of a symbolic link entry, or None when it is not a link."""
        return None

    def lookup(self, path: str) -> Any:
        """The backend entry at ``path``, following symbolic links; None when it does not exist."""
        with self._errors(path):
            for _hop in range(MAX_LINK_HOPS):
                entry = self._entry(path)
                target = None if entry is None else self._link_target(entry)
                if not target:
                    return entry
                path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        return None

    def exists(self, path: str) -> bool:
        """True when ``path`` exists in the file system."""
        return self.lookup(path) is not None

    def read_file(self, path: str, limit: int = 1 << 20) -> bytes | None:
        """The first ``limit`` bytes of the file at ``path``, or None when it does not exist."""
        handle = self.open_file(path)
        if handle is None:
            return None
        with self._errors(path):
            return handle.read(limit)

    def open_file(self, path: str) -> io.RawIOBase | None:
        """A read-only file object over the file at ``path``, or None when it does not exist."""
        entry = self.lookup(path)
        return None if entry is None else LibyalFile(entry)

    # -- entries: ls, find, cat, extract ---------------------------------------------------------------

    def stat(self, path: str) -> Entry:
        """The entry at ``path`` (``/``-separated, links not followed); :class:`EntryNotFoundError` if absent."""
        path = normalize_path(path)
        with self._errors(path):
            handle = self._entry(path)
            if handle is None:
                raise EntryNotFoundError("no such file or folder", volume=self.volume, path=path)
            return self._make_entry(path, posixpath.basename(path), handle)

    def open_by_inode(self, inode: int) -> Entry:
        """The entry with inode (MFT entry) number ``inode``, named by its number."""
        with self._errors(f"inode {inode}"):
            handle = self._entry_by_inode(inode)
            if handle is None:
                raise EntryNotFoundError(f"no inode {inode}", volume=self.volume)
            return self._make_entry(f"<{inode}>", str(inode), handle)

    def listdir(self, folder: Entry, onerror: Callable[[FilesystemError], None] | None = None) -> list[Entry]:
        """The entries of ``folder``, sorted by name.

        ``path`` is always the folder's path, ``/`` and the name as stored (a name holding ``/`` stays one
        component, never a path that resolves elsewhere). A damaged entry (no readable name, or named ``.`` or
        ``..``, which would lead back up the tree) goes to ``onerror`` and the others are listed; without
        ``onerror`` it raises.
        """
        if folder.type != DIRECTORY:
            raise FilesystemError("not a folder", volume=self.volume, path=folder.path)
        prefix = folder.path.rstrip("/") + "/"
        entries = []
        with self._errors(folder.path):
            for name, handle in self._children(self._handle(folder)):
                if name is None or name in (".", ".."):
                    why = "its name cannot be read" if name is None else f"named {name!r}, it leads back up the tree"
                    error = handle if isinstance(handle, FilesystemError) else FilesystemError(
                        f"an entry is left out: {why}", volume=self.volume,
                        hint="the folder is damaged; check the file system on a copy")
                    error.path = error.path or folder.path
                    _report(error, onerror)
                    continue
                entries.append(self._make_entry(prefix + name, name, handle))
        return sorted(entries, key=lambda e: e.name)

    def walk(self, top: Entry, onerror: Callable[[FilesystemError], None] | None = None) -> Iterator[Entry]:
        """Every entry below ``top``, parents before children; a folder that fails goes to ``onerror``."""
        for _folder, entry in self.walk_tree(top, onerror):
            yield entry

    def walk_tree(self, top: Entry,
                  onerror: Callable[[FilesystemError], None] | None = None) -> Iterator[tuple[Entry, Entry]]:
        """``(folder, entry)`` for every entry below ``top``: :meth:`walk` with the folder each entry was listed
        in (the very object yielded before, or ``top``), so a consumer places an entry by its parent, never by
        parsing ``entry.path`` (a damaged name may hold a ``/``)."""
        folders = {top.inode: top}
        for batch in self.walk_batches(top, onerror):
            if isinstance(batch, list):
                for folder, entry in batch:
                    if entry.is_dir:
                        folders[entry.inode] = entry
                    yield folder, entry
                continue
            for parent, entry in batch.pairs():
                if entry.is_dir:
                    folders[entry.inode] = entry
                yield folders[parent], entry

    def walk_batches(self, top: Entry, onerror: Callable[[FilesystemError], None] | None = None
                     ) -> Iterator[Window | list[tuple[Entry, Entry]]]:
        """The walk below ``top`` a batch at a time: a :class:`restorekit.fs.table.Window` of the volume's table
        (read in bulk, :meth:`table`), or one folder's ``(folder, entry)`` pairs when the walk reads folder by
        folder. Both come in :meth:`walk_tree`'s order.

        A folder walk keeps the folders on its current path (:meth:`_folder_key`): a folder entry that leads back
        to one of them (a damaged directory pointing at an ancestor) would never end, so it is yielded but not
        entered, and goes to ``onerror`` as a cycle. (A table's tree has no cycles: a folder has one name.)
        """
        stack: list[tuple[Entry, frozenset[Any]]] = [(top, frozenset())]
        listed = TABLE_AFTER if top.path == "/" else 0
        table: FileTable | None = None
        switch = False
        ask = True  # whether to ask for the table, once, when enough is listed
        while stack:
            if ask and listed >= TABLE_AFTER:
                ask = False
                table = self.table()
                # a folder the table does not have (it disagrees with the folder walk): stay folder by folder
                switch = table is not None and all(table.is_folder(folder.inode) for folder, _above in stack)
            if switch and table is not None:
                while stack:  # the rest of the walk, in the order the folder walk would have taken it
                    folder, _above = stack.pop()
                    for window in table.windows(table.node_of(folder.inode), folder.path):
                        window.onerror = onerror
                        yield window
                return
            folder, above = stack.pop()
            try:
                children = self.listdir(folder, onerror)
            except FilesystemError as exc:
                if onerror is None:
                    raise
                exc.message += "; the folder's entries are left out"
                onerror(exc)
                continue
            listed += len(children)
            yield [(folder, child) for child in children]
            path = above | {self._folder_key(folder)}
            for child in reversed(children):
                if child.type != DIRECTORY:
                    continue
                if self._folder_key(child) in path:
                    error = FilesystemError("the folder entry leads back to a folder above it (a directory cycle), "
                                            "so its entries are left out here; they are listed under that folder",
                                            volume=self.volume, path=child.path,
                                            hint="the file system is damaged; check it on a copy")
                    _report(error, onerror)
                    continue
                stack.append((child, path))

    def table(self) -> FileTable | None:
        """The volume's whole tree read in bulk (:mod:`restorekit.fs.table`), built on first ask and kept; None
        when the format has no bulk reader or the table cannot be read whole (damaged), so walks read folder by
        folder and report what is damaged where."""
        if not self._table_tried:
            self._table_tried = True
            try:
                with self._errors("(file table)"):
                    self._table = self._build_table()
                self._table.slow = self._slow_entry
            except (TableUnavailable, FilesystemError, IndexError):
                self._table = None
        return self._table

    def _build_table(self) -> FileTable:
        raise TableUnavailable(f"{self.variant} has no bulk reader")

    def _slow_entry(self, path: str, name: str, number: int) -> Entry:
        """The entry of inode (MFT record) ``number`` made by the format's own per-entry path, for what a table
        leaves to it."""
        with self._errors(path):
            handle = self._entry_by_inode(number)
            if handle is None:
                raise EntryNotFoundError(f"no inode {number}", volume=self.volume, path=path)
            return self._make_entry(path, name, handle)

    def _handle(self, entry: Entry) -> Any:
        """The backend entry of ``entry`` (one listed from a table has none until it is opened)."""
        if entry.handle is None:
            entry.handle = self._entry_by_inode(entry.inode)
            if entry.handle is None:
                raise EntryNotFoundError(f"no inode {entry.inode}", volume=self.volume, path=entry.path)
        return entry.handle

    def open_stream(self, entry: Entry, stream: str | None = None) -> FileStream:
        """The bytes of ``entry`` (its default data, or the named alternate data stream) as a stream."""
        with self._errors(entry.path):
            self._handle(entry)
            return self._open_stream(entry, stream)

    def extents(self, entry: Entry, stream: str | None = None) -> Iterator[Extent]:
        """Where the file's bytes are: ``DATA`` runs in the image files (or the backend) and ``ZERO`` holes."""
        return self.open_stream(entry, stream).extents()

    def _entry_by_inode(self, inode: int) -> Any:
        raise FilesystemError(f"{self.variant}: opening by inode is not supported", volume=self.volume)

    def _folder_key(self, folder: Entry) -> Any:
        """What identifies a folder's contents, for :meth:`walk`'s cycle check: its inode (MFT entry) number."""
        return folder.inode

    def _children(self, handle: Any) -> Iterator[tuple[str | None, Any]]:
        """(name, backend entry) of each entry in the folder ``handle``; a damaged entry is ``(None, error)``
        with a :class:`FilesystemError` saying why."""
        raise FilesystemError(f"listing files on {self.variant} is not supported yet", volume=self.volume)

    def _make_entry(self, path: str, name: str, handle: Any) -> Entry:
        raise NotImplementedError

    def _open_stream(self, entry: Entry, stream: str | None) -> FileStream:
        raise NotImplementedError


def _report(error: FilesystemError, onerror: Callable[[FilesystemError], None] | None) -> None:
    """Hand ``error`` to ``onerror`` (the listing goes on), or raise it when there is none."""
    if onerror is None:
        raise error
    onerror(error)


def normalize_path(path: str) -> str:
    """An absolute, ``/``-separated path without ``.``/``..``/empty parts (``..`` never climbs above ``/``)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


class BackendFile(io.RawIOBase):
    """A read-only file object over a backend's file entry; a backend implements only :meth:`_read_at`."""

    def __init__(self, entry: Any, size: int) -> None:
        super().__init__()
        self._entry = entry
        self._size = size
        self._pos = 0

    def _read_at(self, size: int, offset: int) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def get_size(self) -> int:
        """The file's size, as libyal bindings ask for it."""
        return self._size

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        size = max(0, min(size, self._size - self._pos))
        if not size:
            return b""
        data = self._read_at(size, self._pos)
        self._pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


class LibyalFile(BackendFile):
    """A file object over a libyal file entry (pyfsntfs, pyfsext, pyfsxfs): read/seek/tell/get_size."""

    def __init__(self, entry: Any) -> None:
        super().__init__(entry, entry.get_size())

    def _read_at(self, size: int, offset: int) -> bytes:
        return self._entry.read_buffer_at_offset(size, offset)


class LibyalFilesystem(Filesystem):
    """A file system read through a libyal binding (``pyfsext``, ``pyfsxfs``) with POSIX modes and paths."""

    #: The binding's module name.
    BACKEND: ClassVar[str]

    def _open_backend(self) -> Any:
        import importlib

        volume = importlib.import_module(self.BACKEND).volume()
        volume.open_file_object(self.stream)
        return volume

    def _entry(self, path: str) -> Any:
        return self.backend.get_file_entry_by_path(path)

    def _link_target(self, entry: Any) -> str | None:
        if entry.get_file_mode() & 0o170000 != 0o120000:
            return None
        return entry.get_symbolic_link_target()

    def _entry_by_inode(self, inode: int) -> Any:
        return self.backend.get_file_entry_by_inode(inode)

    def _children(self, handle: Any) -> Iterator[tuple[str, Any]]:
        for index in range(handle.get_number_of_sub_file_entries()):
            sub = handle.get_sub_file_entry(index)
            yield sub.get_name(), sub

    def _make_entry(self, path: str, name: str, handle: Any) -> Entry:
        from restorekit.fs.filesystems.posix import posix_entry

        return posix_entry(path, name, handle, self._link_target)

    def _open_stream(self, entry: Entry, stream: str | None) -> FileStream:
        from restorekit.fs.filesystems.posix import posix_stream

        if stream:
            raise EntryNotFoundError(f"{self.variant} has no alternate data streams", volume=self.volume,
                                     path=f"{entry.path}:{stream}")
        return posix_stream(entry, self.stream, self.volume)


def open_filesystem(stream: Stream, volume: str) -> Filesystem | None:
    """The file system on ``stream``, or None when no format recognises it."""
    for fmt in FILESYSTEMS:
        if fmt.detect(stream):
            return fmt.load().open(stream, volume)
    return None


#: File systems in detection order; NTFS before FAT, because both are boot sectors ending in 55 AA.
FILESYSTEMS: list[LazyFormat[Filesystem]] = [
    LazyFormat("ntfs", signatures.ntfs, "restorekit.fs.filesystems.ntfs:NtfsFilesystem"),
    LazyFormat("fat", signatures.fat, "restorekit.fs.filesystems.fat:FatFilesystem"),
    LazyFormat("ext", signatures.ext, "restorekit.fs.filesystems.ext:ExtFilesystem"),
    LazyFormat("xfs", signatures.xfs, "restorekit.fs.filesystems.xfs:XfsFilesystem"),
]
