"""Image formats, one module each, and their registry."""

from __future__ import annotations

from restorekit.fs.images.raw import RawImage
from restorekit.fs.images.vhd import VhdImage
from restorekit.fs.images.vhdx import VhdxImage

#: Image formats in detection order; raw accepts any file not claimed before it, so it comes last.
IMAGE_FORMATS = [VhdxImage, VhdImage, RawImage]

__all__ = ["IMAGE_FORMATS", "RawImage", "VhdImage", "VhdxImage"]
