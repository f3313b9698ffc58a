"""Copy a stream's extents to a file descriptor with the kernel doing the work where it can.

``DATA`` runs stored plainly in a file go through ``os.copy_file_range`` (regular file output) or
``os.sendfile`` (pipes, character devices) when the source and output offsets share their place in a memory
page. Otherwise (a dynamic VHD's 2 MiB blocks sit 512 bytes after a page boundary, and 512 more each block)
the kernel's page-cache splice copies piecemeal, and ``preadv`` + ``pwrite`` through one reused 8 MiB buffer
is about a quarter faster; its output range is first allocated with fallocate(2), which spares the file
system its per-page delayed allocation (a fifth faster again on ext4). Runs held in memory or decrypted on
the fly go through ``pread``/``pwrite``. ``ZERO`` runs are skipped in a regular output file (which stays
sparse, and is sized with ``ftruncate`` at the end) and written as zeros to pipes. With a ``hasher`` every
byte passes through it once on the way (read + hash + write: one read of the source, not two).

Where the platform lacks a call (macOS has no ``copy_file_range``, and its ``sendfile`` writes only to sockets;
some systems lack ``preadv`` or ``fallocate``), the copier falls back to plain ``pread`` + ``pwrite``: the same
bytes, more slowly. Each call is looked up when a writer is made, never assumed.
"""

from __future__ import annotations

import errno
import functools
import mmap
import os
import stat
from typing import TYPE_CHECKING

from restorekit.fs.errors import OutputError
from restorekit.fs.stream import Extent, ExtentKind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

CHUNK = 8 << 20
_ZEROS = memoryview(bytes(CHUNK))
#: Kernel copies only where source and output offsets are congruent modulo this (see the module docstring).
PAGE = mmap.PAGESIZE
#: errnos meaning "this kernel/file-system pair cannot do that copy", so fall back to the next method.
_FALLBACK = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF, errno.ENOTSUP, errno.ENOTSOCK}


class ExtentWriter:
    """Writes extents of one stream to ``out_fd``; logical offset ``base`` lands at output offset 0."""

    def __init__(self, out_fd: int, *, name: str, base: int = 0,
                 progress: Callable[[int], None] | None = None, hasher: Any = None) -> None:
        self.fd = out_fd
        #: A ``hashlib`` object fed every byte of the stream in order (zeros of holes included).
        self.hasher = hasher
        self.name = name
        self.base = base
        self.progress = progress
        self.seekable = stat.S_ISREG(os.fstat(out_fd).st_mode)
        #: The kernel's copy call for this output (copy_file_range to a file, sendfile to a pipe), where the
        #: platform has it; not while hashing, and dropped when the kernel refuses this pair of files.
        self._copier = getattr(os, "copy_file_range" if self.seekable else "sendfile", None)
        self._kernel = hasher is None and self._copier is not None
        self.written = 0  # output position reached, for pipes
        self._buffer: memoryview | None = None
        self._preallocate = True  # until the output's file system says it cannot

    def write_all(self, extents: Iterable[Extent], total: int) -> None:
        """Write every extent, then make the output exactly ``total`` bytes long."""
        try:
            for ext in extents:
                self._write(ext)
            if self.seekable:
                os.ftruncate(self.fd, total)
        except BrokenPipeError:
            raise  # the reader went away (e.g. `| head`); the CLI ends quietly
        except OSError as exc:
            raise _output_error(exc, self.name) from exc

    def _write(self, ext: Extent) -> None:
        out = ext.offset - self.base
        if ext.kind is ExtentKind.ZERO:
            if self.hasher is not None:
                for done in range(0, ext.length, CHUNK):
                    self.hasher.update(_ZEROS[: min(CHUNK, ext.length - done)])
            if not self.seekable:
                self._write_zeros(ext.length)
            elif self.progress:
                self.progress(ext.length)
            return
        assert ext.kind is ExtentKind.DATA and ext.source is not None
        src_fd = ext.source.fileno()
        done = 0
        src = ext.source_offset
        if src_fd is not None and self._kernel and (not self.seekable or (src - out) % PAGE == 0):
            copier = self._copier
            if self.seekable:
                done = self._kernel_copy(ext.length, lambda at, n: copier(src_fd, self.fd, n, src + at, out + at))
            else:
                done = self._kernel_copy(ext.length, lambda at, n: copier(self.fd, src_fd, src + at, n))
            if done < 0:
                self._kernel, done = False, 0
        if done == 0 and self.seekable and self._preallocate:
            # Reserve the range's blocks in one call: buffered writes then skip the per-page delayed
            # allocation (ext4: a fifth faster). Not before kernel copies, which may share blocks instead.
            self._preallocate = fallocate(self.fd, out, ext.length)
        if src_fd is not None:
            done += self._read_write(src_fd, src + done, out + done, ext.length - done)
        prefetch = getattr(ext.source, "prefetch", None)  # a remote source fetches the run ahead, in parallel
        if prefetch is not None and done < ext.length:
            prefetch(src + done, ext.length - done)
        while done < ext.length:  # bytes in memory, transformed by a backend, or past the end of a truncated file
            n = min(CHUNK, ext.length - done)
            self._emit(ext.source.pread(n, src + done), out + done)
            done += n

    def _read_write(self, src_fd: int, src: int, out: int, length: int) -> int:
        """Copy through one reused buffer; returns fewer than ``length`` bytes only when the file ends early."""
        if self._buffer is None:
            self._buffer = memoryview(bytearray(CHUNK))
        preadv = getattr(os, "preadv", None)
        done = 0
        while done < length:
            view = self._buffer[: min(CHUNK, length - done)]
            if preadv is not None:
                n = preadv(src_fd, [view], src + done)
                data = view[:n]
            else:
                data = os.pread(src_fd, len(view), src + done)
                n = len(data)
            if n == 0:
                break
            self._emit(data, out + done)
            done += n
        return done

    def _emit(self, data: bytes | memoryview, out: int) -> None:
        if self.hasher is not None:
            self.hasher.update(data)
        self._put(data, out)
        if self.progress:
            self.progress(len(data))

    def _kernel_copy(self, length: int, copy: Callable[[int, int], int]) -> int:
        """Call ``copy(done, count)`` (a copy_file_range or sendfile) until ``length`` bytes have moved.

        Returns the bytes moved, or -1 when the kernel cannot do this pair of files at all (then the caller
        reads and writes in user space, for this and every later extent).
        """
        done = 0
        while done < length:
            try:
                n = copy(done, min(length - done, 1 << 30))
            except OSError as exc:
                if exc.errno in _FALLBACK and done == 0:
                    return -1
                raise
            if n == 0:
                break  # the source ended early; the pread fallback reports the truncation properly
            done += n
            self.written += n
            if self.progress:
                self.progress(n)
        return done

    def _put(self, data: bytes | memoryview, out: int) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self.fd, view, out) if self.seekable else os.write(self.fd, view)
            view = view[n:]
            out += n
            self.written += n

    def _write_zeros(self, length: int) -> None:
        while length:
            n = min(length, CHUNK)
            self._put(_ZEROS[:n], 0)
            length -= n
            if self.progress:
                self.progress(n)


def fallocate(fd: int, offset: int, length: int) -> bool:
    """Allocate ``[offset, offset + length)`` of a file with fallocate(2); False when that did not happen.

    Called through libc because ``os.posix_fallocate`` falls back to writing a byte into every block on file
    systems without fallocate (FUSE, NFSv3), which costs far more than it saves.
    """
    func = _libc_fallocate()
    return func is not None and func(fd, 0, offset, length) == 0


@functools.cache
def _libc_fallocate() -> Callable[[int, int, int, int], int] | None:
    import ctypes

    try:
        func = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError, TypeError):  # no fallocate in the C library (macOS), or no C library by name
        return None
    func.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    func.restype = ctypes.c_int
    return func  # type: ignore[no-any-return]


def _output_error(exc: OSError, name: str) -> OutputError:
    if exc.errno == errno.ENOSPC:
        return OutputError("the output disk is full", path=name, hint="free space or write somewhere else")
    return OutputError(f"cannot write: {exc.strerror}", path=name)
