"""Raw images: the file (or block device) is the disk, byte for byte."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from restorekit.fs.errors import UnknownFormatError
from restorekit.fs.image import Identity, Image

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
#: Suffixes that promise a format whose signature a raw file would lack.
PROMISING_SUFFIXES = {".vhd": "VHD", ".avhd": "VHD", ".vhdx": "VHDX", ".avhdx": "VHDX"}


class RawImage(Image):
    """A raw disk image; holes (of a sparse file, or a page blob's unwritten pages) read as zeros."""

    type_name = "raw"

    @classmethod
    def detect(cls, source: ImageSource) -> bool:
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
        image = cls(source, source.size, chain=chain)
        if source.size == 0:
            image.warnings.append("image is empty (0 bytes)")
        return image

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        return self._stored(offset, length, 0)
