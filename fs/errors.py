"""The one exception hierarchy of restorekit.

Every error a user can meet derives from :class:`RestoreKitError`. Each carries the context that lets a
person act on it (the image, the volume, the path inside a file system, the byte offset) and a hint that
says what to do. The CLI prints ``Error: <str(error)>`` on stderr and exits 1.

::

    RestoreKitError
    ├── ImageError                  an image file cannot be read as a virtual disk
    │   ├── UnknownFormatError      no image format recognises the file
    │   ├── CorruptImageError       checksums, truncation, tables pointing past the end of the file
    │   ├── ParentError             a differencing image's parent is missing, wrong or cyclic
    │   ├── UnsupportedImageError   a valid image using a feature we cannot read safely
    │   └── RemoteError             a blob in Azure Storage cannot be read (denied, missing, changed, unreachable)
    ├── VolumeError                 partition tables and containers (LVM, RAID, encryption)
    │   ├── PartitionTableError
    │   └── UnlockError             a key was given but does not unlock the volume
    │       └── KeyFileError        a --keys or --password-file file cannot be read or has a bad line
    ├── FilesystemError             a file system cannot be read
    │   └── EntryNotFoundError      (also a FileNotFoundError)
    ├── RecoveryPointError          a recovery-point folder or manifest is malformed
    ├── OutputError                 the output cannot be written (disk full, path escapes the folder)
    └── MountError                  a read-only mount cannot be set up (no libfuse, mount point not usable)
"""

from __future__ import annotations

import os


class RestoreKitError(Exception):
    """Base of every restorekit error; ``str()`` is the one line the CLI prints."""

    def __init__(
        self,
        message: str,
        *,
        image: str | os.PathLike[str] | None = None,
        offset: int | None = None,
        volume: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.image = os.fspath(image) if image is not None else None
        self.offset = offset
        self.volume = volume
        self.path = path
        self.hint = hint

    def __str__(self) -> str:
        where = [part for part in (self.image, self.volume, self.path) if part]
        text = f"{': '.join(where)}: {self.message}" if where else self.message
        if self.offset is not None:
            text += f" (at offset 0x{self.offset:08x})"
        if self.hint:
            text += f". {self.hint[:1].upper()}{self.hint[1:]}"
        return text


class ImageError(RestoreKitError):
    """An image file cannot be read as a virtual disk."""


class UnknownFormatError(ImageError):
    """No image format recognises the file."""


class CorruptImageError(ImageError):
    """The image's structures are damaged: bad checksum, truncated file, table entries past its end."""


class ParentError(ImageError):
    """A differencing image's parent is missing, is not the parent it was made from, or forms a cycle."""


class UnsupportedImageError(ImageError):
    """The image is valid but uses a feature that cannot be read safely."""


class RemoteError(ImageError):
    """A disk in Azure Storage cannot be read: access denied, not found, changed while read, or unreachable."""

    #: The HTTP status the storage service answered with, when it answered.
    status: int | None = None


class VolumeError(RestoreKitError):
    """A partition table or container (LVM, RAID, encryption) cannot be read."""


class PartitionTableError(VolumeError):
    """A partition table is damaged (loops, overlaps, bad checksums)."""


class UnlockError(VolumeError):
    """A key was given but does not unlock the volume."""


class KeyFileError(UnlockError):
    """A keychain (``--keys``) or password file cannot be read, or has a bad line (named as ``file:line``)."""


class FilesystemError(RestoreKitError):
    """A file system cannot be read."""


class EntryNotFoundError(FilesystemError, FileNotFoundError):
    """A path does not exist in a file system."""


class RecoveryPointError(RestoreKitError):
    """A recovery-point folder, manifest or configuration file is malformed or incomplete."""


class OutputError(RestoreKitError):
    """Output cannot be written: the disk is full, or a path would escape the output folder."""


class MountError(RestoreKitError):
    """A recovery point cannot be mounted: libfuse or /dev/fuse is missing, or the mount point is not usable."""


class TableUnavailable(Exception):
    """A volume's file table cannot be read in bulk (:mod:`restorekit.fs.table`): damaged, or a case its bulk parser
    leaves to the folder-by-folder walk, which then reads the volume and reports what is damaged where."""
