"""VHDX images (placeholder until the VHDX reader lands; see issue 2)."""

from __future__ import annotations

from fs.errors import UnsupportedImageError
from fs.image import Identity, Image
from fs.stream import FileSource


class VhdxImage(Image):
    """A VHDX image."""

    type_name = "vhdx"
    SIGNATURES = ((b"vhdxfile", 0),)

    @classmethod
    def open(cls, source: FileSource, *, chain: tuple[Identity, ...] = ()) -> Image:
        raise UnsupportedImageError("VHDX reading is not implemented yet", image=source.name)
