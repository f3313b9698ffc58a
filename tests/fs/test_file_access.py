"""Each file-system format says whether it gives file access, and the claim matches what listing really does.

The planner's "restorekit can recover" answer (restore/selfrecovery.py) rests on this per-volume ``fileAccess``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from restorekit.fs.errors import FilesystemError
from restorekit.fs.filesystem import FILESYSTEMS
from tests.fs.volume_images import scan_files, volume_fixture

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.fs.filesystem import Filesystem
    from restorekit.fs.registry import LazyFormat

#: One fixture volume per format: (image, volume id).
SAMPLES = {"ntfs": ("gpt-windows", "d0-p3"), "fat": ("mbr-logical", "d0-p1"), "ext": ("mbr-logical", "d0-p5"),
           "xfs": ("mbr-logical", "d0-p7")}


def test_every_format_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(entry.name for entry in FILESYSTEMS)


@pytest.mark.parametrize("entry", FILESYSTEMS, ids=[entry.name for entry in FILESYSTEMS])
def test_file_access_claim_matches_listing(entry: LazyFormat[Filesystem], tmp_path: Path) -> None:
    fmt = entry.load()
    image, volume_id = SAMPLES[entry.name]
    volumes, _ = scan_files([volume_fixture(image, tmp_path)])
    info = volumes[volume_id]
    assert info.fs is not None and type(info.fs) is fmt
    assert info.to_dict()["fileAccess"] is fmt.file_access()
    if fmt.file_access():
        root = info.fs.stat("/")
        assert info.fs.listdir(root) is not None
    else:
        with pytest.raises(FilesystemError, match="not supported"):
            info.fs.listdir(info.fs.stat("/"))
