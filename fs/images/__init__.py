"""Image formats, one module each, and their registry.

Raw, the format of last resort (and the one that names split images' segments), is always imported; VHD and VHDX
(~4 ms of imports together) only when their signature is found (:mod:`restorekit.fs.registry`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.fs.images.raw import RawImage
from restorekit.fs.registry import LazyFormat, signature_check

if TYPE_CHECKING:
    from restorekit.fs.image import Image

#: Image formats in detection order; raw accepts any file not claimed before it, so it comes last. A VHD's footer
#: is its last sector, with a copy in the first one for a dynamic disk.
IMAGE_FORMATS: list[LazyFormat[Image]] = [
    LazyFormat("vhdx", signature_check((b"vhdxfile", 0)), "restorekit.fs.images.vhdx:VhdxImage"),
    LazyFormat("vhd", signature_check((b"conectix", -512), (b"conectix", 0)), "restorekit.fs.images.vhd:VhdImage"),
    LazyFormat("raw", RawImage.detect, "restorekit.fs.images.raw:RawImage"),
]

__all__ = ["IMAGE_FORMATS"]
