"""Entries of POSIX file systems read through libyal (pyfsext, pyfsxfs): modes, owners, extents."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING, Any

from restorekit.fs.entry import (
    DEVICE,
    DIRECTORY,
    FIFO,
    FILE,
    OTHER,
    SOCKET,
    SYMLINK,
    BackendSource,
    Entry,
    FileStream,
    runs_from_extents,
)
from restorekit.fs.errors import FilesystemError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from restorekit.fs.stream import Stream

_TYPES = {stat.S_IFREG: FILE, stat.S_IFDIR: DIRECTORY, stat.S_IFLNK: SYMLINK, stat.S_IFIFO: FIFO,
          stat.S_IFCHR: DEVICE, stat.S_IFBLK: DEVICE, stat.S_IFSOCK: SOCKET}
#: libyal's extent flag for a hole (ext4 unwritten extents are reported the same way).
EXTENT_SPARSE = 0x1


def _time(handle: Any, name: str) -> int | None:
    getter = getattr(handle, f"get_{name}_as_integer", None)
    value = getter() if getter is not None else None
    return value or None


def _extents(handle: Any) -> Iterator[tuple[int, int, int]]:
    count = getattr(handle, "get_number_of_extents", lambda: 0)()
    for index in range(count):
        yield handle.get_extent(index)


def posix_entry(path: str, name: str, handle: Any, read_link: Callable[[Any], str | None]) -> Entry:
    """An :class:`Entry` for a pyfsext/pyfsxfs file entry; ``read_link`` gives a link's target. A target that
    cannot be read leaves the entry listed with :attr:`Entry.link_error` saying why."""
    mode = handle.get_file_mode()
    kind = _TYPES.get(stat.S_IFMT(mode), OTHER)
    entry = Entry(
        path=path, name=name, type=kind, size=handle.get_size() if kind != DIRECTORY else 0,
        inode=handle.get_inode_number(), mtime=_time(handle, "modification_time"),
        atime=_time(handle, "access_time"), ctime=_time(handle, "inode_change_time"),
        crtime=_time(handle, "creation_time"), mode=mode, uid=handle.get_owner_identifier(),
        gid=handle.get_group_identifier(), nlink=handle.get_number_of_links(), handle=handle,
    )
    if kind == SYMLINK:
        try:
            entry.link_target = read_link(handle)
        except FilesystemError as exc:
            entry.link_error = str(exc)
    elif kind == FILE:
        entry.sparse = any(flags & EXTENT_SPARSE for _o, _l, flags in _extents(handle))
    return entry


def posix_stream(entry: Entry, volume: Stream, volume_name: str) -> FileStream:
    """The file's extents mapped through ``volume``; inline data is read through the backend."""
    handle = entry.handle
    runs = runs_from_extents(_extents(handle), entry.size, EXTENT_SPARSE)
    fallback = BackendSource(f"{volume_name}:{entry.path}", handle.read_buffer_at_offset)
    return FileStream(entry.size, volume, runs, fallback)
