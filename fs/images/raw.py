"""Raw images: the file (or block device) is the disk, byte for byte; or several files, one after the other.

A split raw image (``disk.000``, ``disk.001``…; ``image.raw.001``, ``image.raw.002``… as ``split -d``, FTK
Imager, dfVFS and The Sleuth Kit name them) is read as one disk when its first segment is opened: the
siblings are the files with the same stem and the following numbers of the same digit width.
"""

from __future__ import annotations

import bisect
import os
import re
import shlex
from typing import TYPE_CHECKING

from restorekit.fs.errors import UnknownFormatError
from restorekit.fs.image import Identity, Image
from restorekit.fs.stream import FileSource, stored_extents

if TYPE_CHECKING:
    from collections.abc import Iterator

    from restorekit.fs.stream import Extent, ImageSource

#: Formats we recognise but do not read, so a user gets a clear error instead of garbage read as raw.
FOREIGN_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"QFI\xfb", 0, "qcow2"),
    (b"KDMV", 0, "VMDK"),
    (b"# Disk DescriptorFile", 0, "VMDK descriptor"),
    (b"<<< ", 0, "VirtualBox VDI"),
)
#: Compressed files and archives that often hold a disk image: what they are, and how to get the disk out.
PACKED_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\x1f\x8b", 0, "gzip-compressed file", "gunzip -k FILE"),
    (b"\xfd7zXZ\x00", 0, "xz-compressed file", "unxz -k FILE"),
    (b"BZh", 0, "bzip2-compressed file", "bunzip2 -k FILE"),
    (b"\x28\xb5\x2f\xfd", 0, "zstd-compressed file", "unzstd FILE"),
    (b"PK\x03\x04", 0, "zip archive", "unzip FILE"),
    (b"7z\xbc\xaf\x27\x1c", 0, "7-Zip archive", "7z x FILE"),
    (b"ustar", 257, "tar archive", "tar xf FILE (GNU tar keeps sparse files sparse)"),
)
#: Bytes looked at to tell a text file from a disk.
TEXT_PROBE = 4096
#: A numbered segment's name: the stem (with its dot) and at least three digits.
SEGMENT_NAME = re.compile(r"(.+\.)(\d{3,})")
#: Suffixes that promise a format whose signature a raw file would lack.
PROMISING_SUFFIXES = {".vhd": "VHD", ".avhd": "VHD", ".vhdx": "VHDX", ".avhdx": "VHDX"}


def content_hint(source: ImageSource) -> str | None:
    """What the file looks like when it is not a disk (a text file, a compressed file or an archive), with how to
    get the disk out; None when it could be one. Used only when nothing on the disk is recognised: a raw disk may
    begin with anything."""
    for magic, offset, name, command in PACKED_SIGNATURES:
        if source.size >= offset + len(magic) and source.pread(len(magic), offset) == magic:
            unpack = command.replace("FILE", shlex.quote(source.name))
            return f"the file is a {name}, not a disk image: unpack it first ({unpack}) and give the disk image inside"
    if _is_text(source.pread(min(source.size, TEXT_PROBE), 0)):
        return ("the file is text, not a disk image: give the disk images (VHD, VHDX or raw), the restore-disks "
                "folder, or its config-*.json or recoverypoint.json")
    return None


def _is_text(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) is UTF-8 text: no NUL byte, which every disk's first sectors have
    (boot code, a partition table's zeros or a file system's reserved bytes)."""
    if not head or b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut by the end of the probe
    return True


class RawImage(Image):
    """A raw disk image; holes (of a sparse file, or a page blob's unwritten pages) read as zeros."""

    type_name = "raw"

    @classmethod
    def detect(cls, source: ImageSource) -> bool:
        """True, unless the file is known to be no raw disk: then :class:`UnknownFormatError` says what it is."""
        if source.fileno() is None and source.size % 512:
            raise UnknownFormatError(
                f"is not a disk image: a disk is whole 512-byte sectors, and this blob has {source.size} bytes",
                image=source.name, hint="give the URL of a disk's VHD blob (az disk grant-access prints one)")
        for magic, offset, name in FOREIGN_SIGNATURES:
            if source.size >= offset + len(magic) and source.pread(len(magic), offset) == magic:
                raise UnknownFormatError(
                    f"this is a {name} image, which this toolkit does not read", image=source.name,
                    hint="convert it first: qemu-img convert -O vpc IMAGE out.vhd",
                )
        suffix = os.path.splitext(source.name)[1].lower()
        if suffix in PROMISING_SUFFIXES:
            fmt = PROMISING_SUFFIXES[suffix]
            raise UnknownFormatError(
                f"named like a {fmt} image but has no {fmt} signature (file is {source.size} bytes)",
                image=source.name,
                hint=f"the file is truncated or not a {fmt}; copy it again, or rename it if it is a raw disk",
            )
        return True

    @classmethod
    def open(cls, source: ImageSource, *, chain: tuple[Identity, ...] = ()) -> Image:
        segments = split_segments(source.name)
        if len(segments) > 1:
            return SplitRawImage.open_segments(source, segments[1:], chain=chain)
        image = cls(source, source.size, chain=chain)
        image.content_hint = content_hint(source)
        if source.size == 0:
            image.warnings.append("image is empty (0 bytes)")
        first = _first_segment(source.name)
        if first is not None:
            image.warnings.append(f"this is a later segment of the split raw image that starts with {first}; the "
                                  "disk (and its file systems) is larger than this segment: name the first segment")
        return image

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        return stored_extents(self.source, offset, offset + length, 0)


class SplitRawImage(Image):
    """A raw disk stored as consecutive segment files; each run maps into its own segment file."""

    type_name = "raw"

    def __init__(self, source: ImageSource, others: list[ImageSource], *, chain: tuple[Identity, ...] = ()) -> None:
        self.segments = [source, *others]
        self._starts: list[int] = []
        size = 0
        for segment in self.segments:
            self._starts.append(size)
            size += segment.size
        super().__init__(source, size, chain=chain)
        self.format = "raw-split"

    @classmethod
    def open_segments(cls, source: ImageSource, names: list[str], *, chain: tuple[Identity, ...] = ()) -> Image:
        """The image of ``source`` (the first segment) followed by the segment files ``names``."""
        others: list[ImageSource] = []
        try:
            for name in names:
                others.append(FileSource(name))
        except BaseException:
            for other in others:
                other.close()
            raise
        return cls(source, others, chain=chain)

    @property
    def chain(self) -> list[str]:
        """The segment files, in order."""
        return [segment.name for segment in self.segments]

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        end = offset + length
        index = bisect.bisect_right(self._starts, offset) - 1
        while offset < end:
            start, segment = self._starts[index], self.segments[index]
            stop = min(end, start + segment.size)
            if stop > offset:
                yield from stored_extents(segment, offset - start, stop - start, start)
                offset = stop
            index += 1

    def close(self) -> None:
        if not self.closed:
            for segment in self.segments[1:]:
                segment.close()
        super().close()


def split_segments(path: str) -> list[str]:
    """The files of the split raw image whose first segment is ``path``, in order (``path`` first); just
    ``[path]`` when it is not the first segment of a split image or has no sibling."""
    match = SEGMENT_NAME.fullmatch(path)
    if match is None or _first_segment(path) is not None:
        return [path]
    stem, digits = match.groups()
    segments = [path]
    while os.path.isfile(following := f"{stem}{int(digits) + len(segments):0{len(digits)}d}"):
        segments.append(following)
    return segments


def _first_segment(path: str) -> str | None:
    """The first segment's path when ``path`` is a later segment of a split raw image (its predecessor
    exists), else None."""
    match = SEGMENT_NAME.fullmatch(path)
    if match is None:
        return None
    stem, digits = match.groups()
    number, first = int(digits), None
    while number > 0 and os.path.isfile(previous := f"{stem}{number - 1:0{len(digits)}d}"):
        number, first = number - 1, previous
    return first
