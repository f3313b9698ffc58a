"""Opening a recovery point's disk images and describing them."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restorekit.fs.errors import RecoveryPointError, RestoreKitError
from restorekit.fs.image import Image, open_image

if TYPE_CHECKING:
    from collections.abc import Iterator

    from restorekit.recoverypoint import DiskRef, RecoveryPoint


@dataclass
class OpenedDisk:
    """A disk of the recovery point with its image opened, or the error that kept it closed."""

    ref: DiskRef
    image: Image | None
    error: RestoreKitError | None = None

    def to_dict(self) -> dict[str, Any]:
        """The disk as ``inspect --json`` prints it."""
        image = self.image
        out: dict[str, Any] = {
            "id": self.ref.id,
            "image": self.ref.shown,
            "format": image.format if image else None,
            "virtualSize": image.size if image else None,
            "chain": image.chain if image else [self.ref.shown],
            "blockSize": image.block_size if image else None,
            "allocatedBytes": image.allocated_bytes if image else None,
            "warnings": _chain_warnings(image),
        }
        if self.ref.lun is not None:
            out["lun"] = self.ref.lun
        if self.error is not None:
            out["error"] = str(self.error)
        return out


def _chain_warnings(image: Image | None) -> list[str]:
    """The image's own warnings, then its parents' prefixed with their paths."""
    if image is None:
        return []
    return [*image.warnings, *(f"{p.path}: {w}" for p in image.lineage()[1:] for w in p.warnings)]


def chain_files(rp: RecoveryPoint) -> list[str]:
    """Every image file of the recovery point: each disk's differencing chain or split segments (just the named
    image when it does not open)."""
    local = dataclasses.replace(rp, disks=[ref for ref in rp.disks if not isinstance(ref.image, str) and ref.present])
    with opened_disks(local) as disks:  # blobs in Azure Storage are never written: nothing to protect here
        return [path for disk in disks for path in (disk.image.chain if disk.image else [str(disk.ref.image)])]


@contextlib.contextmanager
def opened_disks(rp: RecoveryPoint) -> Iterator[list[OpenedDisk]]:
    """Open every disk image; a disk that fails is kept with its error so the others still show."""
    disks: list[OpenedDisk] = []
    try:
        for ref in rp.disks:
            if not ref.present:
                disks.append(OpenedDisk(ref, None, RecoveryPointError(
                    f"disk {ref.id}: its image {ref.shown} was not downloaded; not scanned")))
                continue
            try:
                disks.append(OpenedDisk(ref, open_image(ref.image)))
            except RestoreKitError as exc:
                disks.append(OpenedDisk(ref, None, exc))
        yield disks
    finally:
        for disk in disks:
            if disk.image is not None:
                disk.image.close()

