"""``restorekit mount``: a recovery point's :class:`restorekit.browse.Namespace` as a read-only FUSE file system.

Through mfusepy (ctypes over the system's libfuse 3, or 2). Nothing can be written: the mount is ``ro``, so the
kernel answers EROFS to every write, and no write operation is implemented either.

Reads are served by ``read_buf``: a read's range is mapped through the file's
:meth:`~restorekit.fs.stream.Stream.extents` and handed to libfuse as a vector of buffers. A run stored plainly
in an image file is a file-descriptor buffer (descriptor and offset), which libfuse copies (or splices) into the
reply itself, in C, with no Python per byte and without the GIL; zeros and bytes decrypted or rebuilt in memory
are memory buffers. Requests are up to 1 MiB (``max_read``) and the file's block size says 1 MiB, so ``cp`` and
the kernel's readahead ask in large pieces. An open file keeps its mapped stream until it is released; the
image never changes under the mount, so the kernel keeps file pages cached across opens (``kernel_cache``) and
attributes and names for an hour.

Python-side work (the backends, the streams' map windows) runs under one lock: libyal bindings are not
thread-safe. libfuse's worker threads then copy in parallel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import itertools
import os
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restorekit.browse import BY_LABEL
from restorekit.files import DEDUP_REASON
from restorekit.fs.entry import DEVICE, DIRECTORY, FIFO, FILE, SOCKET, SYMLINK
from restorekit.fs.errors import EntryNotFoundError, MountError, RestoreKitError
from restorekit.fs.stream import ExtentKind

if TYPE_CHECKING:
    from collections.abc import Callable

    from restorekit.browse import Namespace
    from restorekit.fs.entry import Entry, FileStream

#: The largest read the kernel is asked to send (and the block size files report, so tools read as much).
MAX_READ = 1 << 20
#: Seconds the kernel may keep names and attributes: the recovery point never changes while mounted.
CACHE_SECONDS = 3600.0
#: Entries kept by path for getattr after a listing (``ls -l``, ``find``); the cache is emptied when full.
MAX_CACHED_ENTRIES = 200_000

_MODES = {DIRECTORY: stat.S_IFDIR, SYMLINK: stat.S_IFLNK, FIFO: stat.S_IFIFO, DEVICE: stat.S_IFCHR,
          SOCKET: stat.S_IFSOCK}
# libfuse's fuse_buf flags and capability bits (fuse_common.h).
_BUF_IS_FD, _BUF_FD_SEEK, _BUF_FD_RETRY = 1 << 1, 1 << 2, 1 << 3
_CAP_SPLICE_WRITE, _CAP_SPLICE_MOVE = 1 << 7, 1 << 8


class _Buf(ctypes.Structure):
    """``struct fuse_buf``."""

    _fields_ = (("size", ctypes.c_size_t), ("flags", ctypes.c_int), ("mem", ctypes.c_void_p),
                ("fd", ctypes.c_int), ("pos", ctypes.c_int64))


class _BufVec(ctypes.Structure):
    """``struct fuse_bufvec`` without its trailing ``buf[]`` array (laid out after it)."""

    _fields_ = (("count", ctypes.c_size_t), ("idx", ctypes.c_size_t), ("off", ctypes.c_size_t))


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = (ctypes.c_size_t,)
_libc.calloc.restype = ctypes.c_void_p
_libc.calloc.argtypes = (ctypes.c_size_t, ctypes.c_size_t)


def load_fuse() -> Any:
    """The mfusepy module, or :class:`MountError` saying what to install when libfuse or mfusepy is missing."""
    try:
        import mfusepy
    except (ImportError, OSError) as exc:  # mfusepy raises OSError when it finds no libfuse
        raise MountError(f"FUSE is not available: {exc}",
                         hint="install libfuse (Debian: apt-get install fuse3); /dev/fuse must exist") from exc
    return mfusepy


class _OpenFile:
    """An open file: its mount path and mapped stream, kept until released."""

    def __init__(self, path: str, data: FileStream) -> None:
        self.path, self.data = path, data


def make_operations(tree: Namespace, *, on_ready: Callable[[], None], on_error: Callable[[str], None]) -> Any:
    """The mfusepy ``Operations`` object serving ``tree``; ``on_ready`` runs once mounted, ``on_error`` gets one
    line for each file or folder that could not be served (the reader got EIO)."""
    fuse = load_fuse()
    reported: set[str] = set()

    def report(line: str) -> None:
        """Each problem once on stderr, however often readers retry it (the output stays bounded)."""
        if line not in reported:
            reported.add(line)
            on_error(line)

    def guarded(method: Callable[..., Any]) -> Callable[..., Any]:
        """An unexpected error of a backend becomes EIO and one line, never a traceback."""

        @functools.wraps(method)
        def run(self: Any, path: str, *args: Any) -> Any:
            try:
                return method(self, path, *args)
            except OSError:
                raise
            except Exception as exc:
                self.errors += 1
                report(f"{path}: cannot be read: {type(exc).__name__}: {exc}")
                raise OSError(errno.EIO, "input/output error") from exc

        return run

    class Operations(fuse.Operations):  # type: ignore[misc,name-defined]
        use_ns = True

        def __init__(self) -> None:
            self._guard = threading.Lock()
            self._entries: dict[str, Entry] = {}
            self._files: dict[int, _OpenFile] = {}
            self._handles = itertools.count(1)
            self._started = time.time_ns()
            self.errors = 0
            self.mounted = False

        # -- the tree ------------------------------------------------------------------------------------

        def _entry(self, path: str) -> Entry:
            """The entry at a mount path below a volume folder (cached after a listing)."""
            entry = self._entries.get(path)
            if entry is not None:
                return entry
            volume, inner = tree.split(path)
            if volume is None:
                raise EntryNotFoundError("no such file or folder", path=path)
            entry = tree.filesystems[volume].stat(inner)
            self._remember(path, entry)
            return entry

        def _remember(self, path: str, entry: Entry) -> None:
            if len(self._entries) >= MAX_CACHED_ENTRIES:
                self._entries.clear()
            self._entries[path] = entry

        def _fail(self, exc: RestoreKitError, path: str) -> OSError:
            """The errno a reader gets; the reason goes to stderr (a missing name is no error)."""
            if isinstance(exc, EntryNotFoundError):
                return OSError(errno.ENOENT, "not found")
            self.errors += 1
            report(f"{path}: {exc}" if path not in str(exc) else str(exc))
            return OSError(errno.EIO, "input/output error")

        def _virtual(self, path: str) -> dict[str, Any] | None:
            """Attributes of the root, ``by-label`` and the aliases (None: a path inside a volume)."""
            parts = [p for p in path.split("/") if p]
            folder = {"st_mode": stat.S_IFDIR | 0o555, "st_nlink": 2, "st_mtime": self._started,
                      "st_atime": self._started, "st_ctime": self._started}
            if not parts or (parts == [BY_LABEL] and tree.labels):
                return folder
            if (len(parts) == 1 and parts[0] in tree.letters) or (len(parts) == 2 and parts[0] == BY_LABEL):
                target = self._link(path)
                return {**folder, "st_mode": stat.S_IFLNK | 0o777, "st_nlink": 1, "st_size": len(target)}
            return None

        def _link(self, path: str) -> str:
            parts = [p for p in path.split("/") if p]
            if len(parts) == 1 and parts[0] in tree.letters:
                return tree.letters[parts[0]]
            if len(parts) == 2 and parts[0] == BY_LABEL and parts[1] in tree.labels:
                return "../" + tree.labels[parts[1]]
            raise OSError(errno.ENOENT, "not found")

        # -- FUSE operations -----------------------------------------------------------------------------

        def init_with_config(self, conn: Any, config: Any) -> None:
            if conn is not None:
                conn.want |= conn.capable & (_CAP_SPLICE_WRITE | _CAP_SPLICE_MOVE)
                conn.max_read = MAX_READ
            if config is not None:
                config.kernel_cache = 1
                config.entry_timeout = config.attr_timeout = config.negative_timeout = CACHE_SECONDS
            self.mounted = True
            on_ready()

        @guarded
        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            virtual = self._virtual(path)
            if virtual is not None:
                return virtual
            with self._guard:
                try:
                    entry = self._entry(path)
                except RestoreKitError as exc:
                    raise self._fail(exc, path) from exc
            return attributes(entry)

        @guarded
        def readlink(self, path: str) -> str:
            if self._virtual(path) is not None:
                return self._link(path)
            with self._guard:
                try:
                    entry = self._entry(path)
                except RestoreKitError as exc:
                    raise self._fail(exc, path) from exc
            if entry.link_target is None:
                error = entry.link_error or "not a symbolic link"
                self.errors += 1
                report(f"{path}: the link's target cannot be read: {error}")
                raise OSError(errno.EIO, error)
            return entry.link_target

        @guarded
        def readdir(self, path: str, fh: int) -> list[str]:
            parts = [p for p in path.split("/") if p]
            if not parts:
                return [".", "..", *tree.root_names()]
            if parts == [BY_LABEL]:
                return [".", "..", *tree.labels]
            names = [".", ".."]
            with self._guard:
                try:
                    folder = self._entry(path)
                    volume, _inner = tree.split(path)
                    assert volume is not None
                    for entry in tree.filesystems[volume].listdir(folder, lambda exc: report(str(exc))):
                        if "/" in entry.name or "\0" in entry.name:
                            report(f"{path}: {entry.name!r}: a name holding '/' cannot be shown in a mount "
                                     "(restorekit ls and extract show it)")
                            continue
                        self._remember(path.rstrip("/") + "/" + entry.name, entry)
                        names.append(entry.name)
                except RestoreKitError as exc:
                    raise self._fail(exc, path) from exc
            return names

        @guarded
        def open(self, path: str, fi: Any) -> int:
            if fi.flags & os.O_ACCMODE != os.O_RDONLY:
                raise OSError(errno.EROFS, "read-only")
            with self._guard:
                try:
                    entry = self._entry(path)
                    if entry.type != FILE:
                        raise OSError(errno.EISDIR if entry.is_dir else errno.EACCES, "not a file")
                    if entry.dedup:
                        raise RestoreKitError(DEDUP_REASON, path=path)
                    volume, _inner = tree.split(path)
                    assert volume is not None
                    data = tree.filesystems[volume].open_stream(entry)
                except RestoreKitError as exc:
                    raise self._fail(exc, path) from exc
                handle = next(self._handles)
                self._files[handle] = _OpenFile(path, data)
            fi.fh = handle
            fi.keep_cache = 1
            return 0

        def release(self, path: str, fh: Any) -> int:
            with self._guard:
                self._files.pop(fh.fh, None)
            return 0

        @guarded
        def read_buf(self, path: str, bufpp: Any, size: int, offset: int, fh: Any) -> int:
            with self._guard:
                opened = self._files.get(fh.fh)
                if opened is None:
                    raise OSError(errno.EBADF, "not open")
                try:
                    vector = _buffers(opened.data, offset, size)
                except (RestoreKitError, OSError) as exc:
                    error = exc if isinstance(exc, RestoreKitError) else RestoreKitError(str(exc))
                    raise self._fail(error, opened.path) from exc
            ctypes.cast(bufpp, ctypes.POINTER(ctypes.c_void_p))[0] = vector
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            total = sum(fs.size for fs in tree.filesystems.values())
            return {"f_bsize": MAX_READ, "f_frsize": 4096, "f_blocks": total // 4096, "f_bfree": 0,
                    "f_bavail": 0, "f_files": 0, "f_ffree": 0, "f_namemax": 255}

    return Operations()


def _buffers(data: FileStream, offset: int, size: int) -> int:
    """A malloc'd ``fuse_bufvec`` holding ``[offset, offset + size)`` of ``data`` (libfuse frees it and its memory
    buffers): image-file runs as descriptor buffers, the rest (zeros, decrypted bytes) copied into memory."""
    extents = list(data.extents(offset, size))
    count = max(1, len(extents))
    vec_size = ctypes.sizeof(_BufVec) + count * ctypes.sizeof(_Buf)
    address = _libc.calloc(1, vec_size)
    if not address:
        raise MemoryError("cannot allocate a read buffer vector")
    head = _BufVec.from_address(address)
    head.count = len(extents)
    bufs = (_Buf * count).from_address(address + ctypes.sizeof(_BufVec))
    for buf, ext in zip(bufs, extents, strict=False):
        buf.size = ext.length
        source = ext.source
        fd = source.fileno() if ext.kind is ExtentKind.DATA and source is not None else None
        if fd is not None and ext.source_offset + ext.length <= getattr(source, "size", 0):
            buf.flags = _BUF_IS_FD | _BUF_FD_SEEK | _BUF_FD_RETRY
            buf.fd, buf.pos = fd, ext.source_offset
            continue
        # Zeros, bytes in memory, or a run the image file does not hold whole (its pread raises, naming it).
        buf.mem = _libc.calloc(1, max(1, ext.length))
        if not buf.mem:
            raise MemoryError("cannot allocate a read buffer")
        if ext.kind is ExtentKind.DATA and source is not None:
            chunk = source.pread(ext.length, ext.source_offset)
            ctypes.memmove(buf.mem, chunk, len(chunk))
    return address


def attributes(entry: Entry) -> dict[str, Any]:
    """``stat`` fields for ``entry``: POSIX modes and owners where the file system keeps them, else read-only
    modes (NTFS, FAT: folders 0555, files 0444); times in ns; the 1 MiB block size that makes tools read big."""
    kind = _MODES.get(entry.type, stat.S_IFREG)
    mode = stat.S_IMODE(entry.mode) if entry.mode is not None else (0o555 if entry.is_dir else 0o444)
    size = len(entry.link_target or "") if entry.type == SYMLINK else entry.size
    out: dict[str, Any] = {"st_mode": kind | mode, "st_nlink": max(1, entry.nlink), "st_size": size,
                           "st_blksize": MAX_READ, "st_blocks": (entry.size + 511) // 512,
                           "st_uid": entry.uid if entry.uid is not None else os.getuid(),
                           "st_gid": entry.gid if entry.gid is not None else os.getgid()}
    mtime = entry.mtime or 0
    out["st_mtime"] = mtime
    out["st_atime"] = entry.atime if entry.atime is not None else mtime
    out["st_ctime"] = entry.ctime if entry.ctime is not None else mtime
    return out


def check_mountpoint(mountpoint: str) -> None:
    """:class:`MountError` unless ``mountpoint`` is an empty folder with nothing mounted on it."""
    folder = Path(mountpoint)
    if not folder.is_dir():
        raise MountError("the mount point is not a folder", path=mountpoint, hint=f"create it: mkdir -p {mountpoint}")
    if os.path.ismount(folder):
        raise MountError("something is mounted here already", path=mountpoint,
                         hint=f"unmount it first (fusermount -u {mountpoint}) or choose another folder")
    if any(folder.iterdir()):
        raise MountError("the mount point is not empty (mounting would hide its files)", path=mountpoint,
                         hint="use an empty folder")


def mount(tree: Namespace, mountpoint: str, *, on_ready: Callable[[], None], on_error: Callable[[str], None]) -> int:
    """Serve ``tree`` at ``mountpoint`` until it is unmounted (Ctrl-C, SIGTERM, ``fusermount -u``); returns how
    many reads failed (each reported through ``on_error``)."""
    fuse = load_fuse()
    operations = make_operations(tree, on_ready=on_ready, on_error=on_error)
    options = {"foreground": True, "ro": True, "fsname": "restorekit", "subtype": "restorekit",
               "max_read": MAX_READ, "max_threads": 8, "max_idle_threads": 8}
    try:
        fuse.FUSE(operations, mountpoint, raw_fi=True, **options)
    except RuntimeError as exc:
        if operations.mounted:  # libfuse's loop ends with a status when a signal (Ctrl-C, SIGTERM) unmounts it
            return int(operations.errors)
        raise MountError(f"libfuse could not mount here (status {exc})", path=mountpoint,
                         hint="check that the folder exists, is empty and not mounted already, and that /dev/fuse "
                              "and fusermount3 (Debian: fuse3) are there") from exc
    return int(operations.errors)


__all__ = ["CACHE_SECONDS", "MAX_READ", "attributes", "check_mountpoint", "load_fuse", "make_operations", "mount"]
