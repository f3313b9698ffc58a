"""Helpers for the volume-layer tests: gunzip fixtures and shared images into tmp_path, open and scan them.

The fixtures come from ``python -m fixtures.build_volumes`` (real tools: sfdisk, LVM, cryptsetup, ntfs-3g,
hivexregedit; see its docstring for each layout and its keys).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.fs.image import open_image
from restorekit.fs.scan import Keys, ScanStats, VolumeInfo, scan
from tests.conftest import fixture_file, gunzip_to, shared

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.fs.stream import Stream

BITLOCKER_PASSWORD = "password12!@"
BITLOCKER_RECOVERY = "284867-596541-514998-422114-660297-261613-215424-199408"
LUKS1_PASSWORD, LUKS2_PASSWORD, LUKS2_SHARED_PASSWORD = "luks1-pass", "luks2-pass", "password"


def volume_fixture(name: str, tmp_path: Path) -> Path:
    """``fixtures/images/volumes/<name>.img.gz`` decompressed into ``tmp_path``."""
    return gunzip_to(fixture_file(f"images/volumes/{name}.img.gz"), tmp_path)


def shared_image(relative: str, tmp_path: Path) -> Path:
    """A ``../shared/testdata`` image, decompressed into ``tmp_path`` when gzipped."""
    path = shared(relative)
    return gunzip_to(path, tmp_path) if path.suffix == ".gz" else path


def scan_files(paths: list[Path], keys: Keys | None = None,
               stats: ScanStats | None = None) -> tuple[dict[str, VolumeInfo], list[tuple[str, Stream]]]:
    """Scan image files as disks d0, d1, ...; the volumes by id, and the opened disks."""
    disks: list[tuple[str, Stream]] = [(f"d{i}", open_image(path)) for i, path in enumerate(paths)]
    volumes = scan(disks, keys if keys is not None else Keys(), stats=stats)
    by_id = {v.id: v for v in volumes}
    assert len(by_id) == len(volumes), "volume ids must be unique"
    return by_id, disks
