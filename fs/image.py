"""The image layer: a virtual disk's bytes, read from one or more image files.

:func:`open_image` detects the format by its signature, trying :data:`restorekit.fs.images.IMAGE_FORMATS` in
order (raw, which accepts any file, last), and opens differencing parents through the format's own parent locators.
Every image is a :class:`restorekit.fs.stream.Stream`; its ``format`` names the variant (``vhd-dynamic``, ...).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from restorekit.fs.errors import ImageError, ParentError, UnknownFormatError, UnsupportedImageError
from restorekit.fs.stream import ExtentKind, FileSource, Stream

if TYPE_CHECKING:
    from collections.abc import Sequence

    from restorekit.fs.remote.auth import StorageAuth
    from restorekit.fs.stream import ImageSource

#: A source's identity, to find cycles in differencing chains: a file's (device, inode), a blob's URL.
Identity = tuple[object, ...]
#: The most images one differencing chain may have. Real chains are far shorter (Hyper-V allows 50 checkpoints
#: per VM); each image holds one open file, and 1,000 stays below the usual limit of 1,024 open files.
MAX_CHAIN_DEPTH = 1000


@dataclass(frozen=True)
class ParentRef:
    """Where a differencing image's parent may be, as its own metadata says."""

    #: Paths to try, in order; the first existing one is the parent.
    candidates: Sequence[str]
    #: How the error names the parent when none is found, e.g. ``'base.vhd'``.
    what: str
    #: Where the parent locator is in the child, for errors.
    offset: int | None = None


class Image(Stream):
    """A virtual disk stored in an image file, possibly on top of a parent image."""

    #: Short name of the format family ("raw", "vhd", "vhdx").
    type_name: ClassVar[str]

    def __init__(self, source: ImageSource, size: int, *, chain: tuple[Identity, ...] = ()) -> None:
        super().__init__(size)
        self.source = source
        self.path = source.name
        #: The variant, e.g. ``vhd-dynamic``; set by the format.
        self.format = self.type_name
        #: Allocation unit of the format, or None where it has none.
        self.block_size: int | None = None
        #: Things the reader tolerated or noticed, for the user.
        self.warnings: list[str] = []
        #: What the file looks like when it may not be a disk at all (a text or compressed file), said when
        #: nothing on it is recognised (:func:`restorekit.fs.images.raw.content_hint`).
        self.content_hint: str | None = None
        self.parent: Image | None = None
        self._chain = (*chain, source.identity)

    # -- opening ---------------------------------------------------------------------------------------

    @classmethod
    def open(cls, source: ImageSource, *, chain: tuple[Identity, ...] = ()) -> Image:
        """Parse the image in ``source`` alone; :func:`open_image` opens its parents (see :meth:`parent_ref`)."""
        raise NotImplementedError

    def parent_ref(self) -> ParentRef | None:
        """Where this image's parent is, when it is a differencing image; None otherwise."""
        return None

    def attach_parent(self, parent: Image) -> None:
        """Check that ``parent`` is the image this one was made from and make it :attr:`parent`; raise if not.

        Called only for an image whose :meth:`parent_ref` is not None. On error ``parent`` is left open.
        """
        raise NotImplementedError

    # -- what the CLI shows ----------------------------------------------------------------------------

    @property
    def chain(self) -> list[str]:
        """Image paths from this image to the base of its differencing chain."""
        return [image.path for image in self.lineage()]

    def lineage(self) -> list[Image]:
        """This image and its parents, to the base of its differencing chain."""
        images: list[Image] = []
        image: Image | None = self
        while image is not None:
            images.append(image)
            image = image.parent
        return images

    @property
    def allocated_bytes(self) -> int:
        """Bytes of the virtual disk stored in this image file (not counting parents)."""
        return sum(ext.length for ext in self._map(0, self.size) if ext.kind is ExtentKind.DATA)

    def _open_parent(self, ref: ParentRef) -> Image:
        """Open (alone) the first existing candidate of ``ref``; raise naming every path tried."""
        tried: list[str] = []
        sibling = getattr(self.source, "sibling", None)  # a blob's parent is a blob beside it, not a local file
        for candidate in ref.candidates:
            if sibling is not None:
                candidate = candidate.replace("\\", "/").rsplit("/", 1)[-1]
            if not candidate or candidate in tried:
                continue
            tried.append(candidate)
            if sibling is not None:
                source = sibling(candidate)
                if source is None:
                    continue
            elif os.path.isfile(candidate):
                source = open_source(candidate)
            else:
                continue
            if source.identity in self._chain:
                source.close()
                raise ParentError(
                    f"differencing chain is cyclic: parent {candidate} is already part of this chain",
                    image=self.path, offset=ref.offset,
                    hint="the chain's parent locators point back at one of its own images",
                )
            return _open_alone(source, self._chain)
        raise ParentError(
            f"parent image {ref.what} not found; looked for: " + ", ".join(tried or ["(no parent locator)"]),
            image=self.path, offset=ref.offset,
            hint="put the parent image beside the child (under its original name) and try again",
        )

    def close(self) -> None:
        """Close this image and its parents (one after the other: a chain can be long)."""
        for image in self.lineage():
            if not image.closed:
                image.source.close()
                super(Image, image).close()


def open_image(location: str | os.PathLike[str], *, auth: StorageAuth | None = None) -> Image:
    """Open a disk image read-only, detecting its format by content; parents are opened too, one after the other.

    ``location`` is a local path or the URL of a blob in Azure Storage (read where it lives, with ``auth`` or
    the credentials in the environment).
    """
    return open_source_image(open_source(location, auth))


def open_source(location: str | os.PathLike[str], auth: StorageAuth | None = None) -> ImageSource:
    """A local file, or a blob when ``location`` is an http(s) URL."""
    from restorekit.fs.remote.url import is_url

    text = os.fspath(location)
    if not is_url(text):
        _refuse_special_file(text)
        return FileSource(text)
    from restorekit.fs.remote.auth import StorageAuth
    from restorekit.fs.remote.blob import CACHE_BYTES, CONNECTIONS, BlobSource
    from restorekit.fs.remote.url import BlobUrl

    try:
        url = BlobUrl.parse(text)
    except ValueError as exc:
        from restorekit.fs.remote.url import redact

        raise UnknownFormatError(f"not a blob URL: {exc}", image=redact(text).split("?", 1)[0]) from None
    try:
        cache = int(os.environ.get("RESTOREKIT_REMOTE_CACHE_MIB", "0")) << 20
        connections = int(os.environ.get("RESTOREKIT_REMOTE_CONNECTIONS", "0"))
    except ValueError:
        raise ImageError("RESTOREKIT_REMOTE_CACHE_MIB and RESTOREKIT_REMOTE_CONNECTIONS take whole numbers",
                         image=url.display, hint="unset them for the defaults (64 MiB, 4 connections)") from None
    return BlobSource(url, auth or StorageAuth.from_environment(), cache_bytes=max(cache, 0) or CACHE_BYTES,
                      workers=min(max(connections, 0), 64) or CONNECTIONS)


def open_source_image(source: ImageSource) -> Image:
    """Detect the image format of an open source and open it, then its parents, one after the other; the
    sources are closed on failure."""
    image = _open_alone(source, ())
    try:
        child = image
        while (ref := child.parent_ref()) is not None:
            if len(child._chain) >= MAX_CHAIN_DEPTH:
                raise UnsupportedImageError(
                    f"differencing chain has more than {MAX_CHAIN_DEPTH} images (this one is number "
                    f"{len(child._chain)}; its parent would be one more)",
                    image=child.path, offset=ref.offset,
                    hint="real chains are far shorter: check that the parent locators do not lead through copies "
                    "of the same images; otherwise merge part of the chain on a copy (e.g. with qemu-img convert) "
                    "and read the merged copy",
                )
            parent = child._open_parent(ref)
            try:
                child.attach_parent(parent)
            except BaseException:
                parent.close()
                raise
            child = parent
    except BaseException:
        image.close()
        raise
    return image


def _open_alone(source: ImageSource, chain: tuple[Identity, ...]) -> Image:
    """Open one image read-only, detecting its format, without its parents; ``source`` is closed on failure."""
    from restorekit.fs.images import IMAGE_FORMATS  # the formats import this module, so the registry is read late

    try:
        for fmt in IMAGE_FORMATS:
            if fmt.detect(source):
                return fmt.load().open(source, chain=chain)
        raise UnknownFormatError(
            "not a disk image this toolkit reads (raw, VHD, VHDX)", image=source.name,
            hint="convert it first, e.g. qemu-img convert -O vpc IMAGE out.vhd",
        )
    except BaseException:
        source.close()
        raise


def _refuse_special_file(path: str | os.PathLike[str]) -> None:
    """Refuse, before opening it, anything but a regular file or a block device: opening a FIFO blocks until a
    writer comes, and a character device (``/dev/zero``) never ends."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing or unreadable: FileSource's error names the cause
    if stat.S_ISREG(mode) or stat.S_ISBLK(mode):
        return
    kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a character device" if stat.S_ISCHR(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a special file")
    raise ImageError(f"is {kind}, not an image file or block device", image=os.fspath(path),
                     hint="pass the image file (or the disk's block device); to read a stream, save it to a file first")
