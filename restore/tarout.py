"""``extract --tar``: a POSIX (PAX) tar stream of the targets, to a file or a pipe.

Headers carry what a folder cannot: nanosecond mtime/atime/ctime, mode, uid and gid, all in keywords GNU tar
and bsdtar read without a warning; with ``--windows-metadata`` also the NTFS creation time
(``LIBARCHIVE.creationtime``, which bsdtar restores) and attributes (``RESTOREKIT.attributes``), which GNU tar
reports as unknown keywords (so they are not written by default); symbolic links
are stored as links with their target as it is; a second name of a hard link is a hard-link member; a sparse
file is stored in GNU sparse format 1.0 (only its data, with a map); an NTFS alternate data stream is a
member named ``name:stream``. Member names come from the plan (:func:`restorekit.extract.plan_outputs`), made
before the first byte is written, so two sources never share a name. File data is copied with
:class:`restorekit.fs.copy.ExtentWriter` (kernel copies where the bytes are stored plainly).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import tarfile
from typing import TYPE_CHECKING, BinaryIO

from restorekit.extract import SUMS_NAME, skip_reason, unhashable
from restorekit.fs.copy import ExtentWriter
from restorekit.fs.entry import SYMLINK
from restorekit.fs.errors import FilesystemError, OutputError, RestoreKitError
from restorekit.fs.stream import Extent, ExtentKind

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from restorekit.extract import ExtractOptions, ExtractReport, Item, Plan
    from restorekit.fs.entry import Entry

BLOCK = 512


class _TarOut:
    """The output descriptor and our position in it (regular files are written with ``pwrite``)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seekable = stat.S_ISREG(os.fstat(fd).st_mode)
        self.pos = os.lseek(fd, 0, os.SEEK_CUR) if self.seekable else 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self.fd, view, self.pos) if self.seekable else os.write(self.fd, view)
            view = view[n:]
            self.pos += n

    def copy(self, extents: Iterable[Extent], length: int, options: ExtractOptions, hasher: object) -> None:
        progress = options.progress.add_bytes if options.progress is not None else None
        writer = ExtentWriter(self.fd, name="tar", base=-self.pos, progress=progress, hasher=hasher)
        writer.write_all(extents, self.pos + length if self.seekable else length)
        self.pos += length
        self.write(bytes(-length % BLOCK))


def _ns(value: int) -> str:
    return f"{value // 1_000_000_000}.{value % 1_000_000_000:09d}"


def _header(item: Item, entry: Entry, name: str, *, windows: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = (entry.mtime or 0) // 1_000_000_000
    folder = entry.is_dir and item.stream is None  # a folder's named stream (NTFS) is a file
    info.mode = stat.S_IMODE(entry.mode) if entry.mode is not None else (0o755 if folder else 0o644)
    info.uid, info.gid = entry.uid or 0, entry.gid or 0
    pax: dict[str, str] = {}
    for key in ("mtime", "atime", "ctime"):
        value = getattr(entry, key)
        if value is not None:
            pax[key] = _ns(value)
    if windows and entry.crtime is not None:
        pax["LIBARCHIVE.creationtime"] = _ns(entry.crtime)
    if windows and entry.attributes:
        pax["RESTOREKIT.attributes"] = ",".join(entry.attributes)
    info.pax_headers = pax
    return info


def write_tar(plan: Plan, out: BinaryIO | int) -> ExtractReport:
    """Write the planned items of every volume as one tar stream to ``out`` (a file object or descriptor)."""
    report, options = plan.report, plan.options
    tar = _TarOut(out if isinstance(out, int) else out.fileno())
    links: dict[tuple[str, int], str] = {}
    for item in plan.items():
        entry = item.entry
        reason = skip_reason(entry, item.stream)
        if reason is not None:
            report.skipped.append((item.source, reason))
            continue
        try:
            _member(tar, item, item.tar_name, links, options, report)
        except OutputError:
            raise
        except (RestoreKitError, OSError) as exc:
            report.failed.append((item.source, str(getattr(exc, "message", exc))))
    if options.verify:
        sums = "".join(f"{d}  {r}\n" for r, d in sorted(report.checksums.items())).encode()
        info = tarfile.TarInfo(SUMS_NAME)
        info.size, info.mode = len(sums), 0o644
        tar.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        tar.write(sums + bytes(-len(sums) % BLOCK))
    tar.write(bytes(2 * BLOCK))
    return report


def _member(tar: _TarOut, item: Item, name: str, links: dict[tuple[str, int], str],
            options: ExtractOptions, report: ExtractReport) -> None:
    entry = item.entry
    info = _header(item, entry, name, windows=options.windows_metadata)
    if entry.is_dir and item.stream is None:  # a folder's named stream (NTFS) is a file member
        info.type = tarfile.DIRTYPE
    elif entry.type == SYMLINK:
        if entry.link_error is not None:
            raise FilesystemError(entry.link_error)
        info.type, info.linkname = tarfile.SYMTYPE, entry.link_target or ""
    elif item.stream is None and entry.nlink > 1 and item.link_key in links:
        info.type, info.linkname = tarfile.LNKTYPE, links[item.link_key]
        if links[item.link_key] in report.checksums:
            report.checksums[name] = report.checksums[links[item.link_key]]
    else:
        _file_member(tar, item, info, options, report)
        if item.stream is None and entry.nlink > 1:
            links[item.link_key] = name
        return
    tar.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
    report.files += not entry.is_dir  # folders are not counted, as in a folder extract


def _file_member(tar: _TarOut, item: Item, info: tarfile.TarInfo, options: ExtractOptions,
                 report: ExtractReport) -> None:
    data = item.fs.open_stream(item.entry, item.stream)
    extents = list(data.extents())
    hasher = None
    if options.verify:
        why = unhashable(item, data.size)
        if why is None:
            hasher = hashlib.sha256()
        else:
            report.skipped.append((item.source, why))
    holes = sum(e.length for e in extents if e.kind is ExtentKind.ZERO)
    if holes >= BLOCK * 8:
        segments = [(e.offset, e.length) for e in extents if e.kind is ExtentKind.DATA]
        if not segments or segments[-1][0] + segments[-1][1] < data.size:
            segments.append((data.size, 0))
        table = f"{len(segments)}\n" + "".join(f"{o}\n{n}\n" for o, n in segments)
        table_bytes = table.encode() + bytes(-len(table) % BLOCK)
        info.pax_headers.update({"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": info.name,
                                 "GNU.sparse.realsize": str(data.size)})
        info.name = posixpath.join(posixpath.dirname(info.name), "GNUSparseFile.0", posixpath.basename(info.name))
        stored = sum(n for _o, n in segments)
        info.size = len(table_bytes) + stored
        tar.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        tar.write(table_bytes)
        tar.copy(_packed(extents, hasher), stored, options, hasher)
    else:
        info.size = data.size
        tar.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        tar.copy(extents, data.size, options, hasher)
    if hasher is not None:
        report.checksums[item.tar_name] = hasher.hexdigest()
    report.files += 1
    report.bytes += data.size


def _packed(extents: list[Extent], hasher: object) -> Iterator[Extent]:
    """The DATA extents laid end to end (the sparse member's body).

    Holes feed only the hasher, in order: the writer hashes each DATA extent as it copies it, before this
    generator moves on, so the digest is that of the whole file and each byte is read once.
    """
    pos = 0
    zeros = bytes(1 << 20)
    for ext in extents:
        if ext.kind is ExtentKind.ZERO:
            if hasher is not None:
                for done in range(0, ext.length, len(zeros)):
                    hasher.update(zeros[: min(len(zeros), ext.length - done)])  # type: ignore[attr-defined]
            continue
        yield Extent(pos, ext.length, ext.kind, ext.source, ext.source_offset)
        pos += ext.length
