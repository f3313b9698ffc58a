"""NTFS walks from ``$MFT`` in bulk (``fs/table.py``, ``fs/filesystems/ntfs_table.py``) give what the folder walk
through pyfsntfs gives, entry by entry and field by field, in the same order: on the fixture volumes, the shared
VSS volumes, and volumes written by ntfs-3g with what the bulk parser must get right (large folders, hard links,
alternate data streams, links, deleted files, non-BMP names, a file whose attributes spill into other records).
A damaged volume falls back to the folder walk, which reports the damage as before.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
from typing import TYPE_CHECKING, Any

import pytest

from restorekit.fs.errors import FilesystemError
from restorekit.fs.filesystems import ntfs_table
from restorekit.fs.table import Window
from restorekit.jsonio import dumps
from tests.conftest import ROOT, gunzip_to, shared
from tests.fs.test_damaged_fs import mkntfs, ntfs_mounted
from tests.fs.volume_images import scan_files

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from restorekit.fs.filesystem import Filesystem


def walks(image: Path, volume: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(folder walk, table walk) of the whole volume, as ``to_dict()`` of each entry plus the errors reported."""
    out = []
    for table in (False, True):
        volumes, _disks = scan_files([image])
        fs = volumes[volume].fs
        assert fs is not None
        if not table:
            fs._table_tried = True
        else:
            assert fs.table() is not None, "the table was not built"
        errors: list[Any] = []
        out.append([e.to_dict() for e in fs.walk(fs.stat("/"), errors.append)] + [{"error": str(e)} for e in errors])
    return out[0], out[1]


def json_lines(fs: Filesystem, volume: str) -> list[str]:
    table = fs.table()
    assert table is not None
    lines: list[str] = []
    for batch in fs.walk_batches(fs.stat("/")):
        assert isinstance(batch, Window)
        lines += batch.json_lines(volume, dumps)
    return lines


def same_walks(image: Path, volume: str) -> None:
    folder, table = walks(image, volume)
    assert len(folder) == len(table)
    for old, new in zip(folder, table, strict=True):
        assert old == new
    volumes, _disks = scan_files([image])
    fs = volumes[volume].fs
    assert fs is not None
    assert json_lines(fs, volume) == [dumps({"volume": volume, **e}) for e in folder if "error" not in e]


@pytest.mark.parametrize("name", ["ntfs.img.gz", "ntfs-vdl.img.gz"])
def test_fixture_volumes(tmp_path: Path, name: str) -> None:
    same_walks(gunzip_to(ROOT / "fixtures" / "images" / "files" / name, tmp_path), "d0")


def test_windows_volume_of_the_gpt_fixture(tmp_path: Path) -> None:
    same_walks(gunzip_to(ROOT / "fixtures" / "images" / "volumes" / "gpt-windows.img.gz", tmp_path), "d0-p3")


@pytest.mark.parametrize(("archive", "volume"), [("vss/ntfs-samples.tgz", "d0-p1"), ("vss/vss_2003.tgz", "d0-p1")])
def test_shared_volumes_and_their_shadow_copies(tmp_path: Path, archive: str, volume: str) -> None:
    with tarfile.open(shared(archive)) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".raw"))
        tar.extract(member, tmp_path, filter="data")
    image = tmp_path / member.name
    same_walks(image, volume)
    volumes, _disks = scan_files([image])
    store = volumes[volume].fs
    assert store is not None


@contextlib.contextmanager
def ntfs3g(image: Path, size: str = "64M") -> Iterator[Path]:
    """A new NTFS volume, mounted through ntfs-3g with alternate data streams as ``file:stream``."""
    with ntfs_mounted(mkntfs(image, size), "streams_interface=windows") as mnt:
        yield mnt


def test_a_volume_written_by_ntfs3g(tmp_path: Path) -> None:
    image = tmp_path / "ntfs.img"
    with ntfs3g(image) as mnt:
        big = mnt / "big folder"
        big.mkdir()
        for i in range(1500):  # index blocks ($INDEX_ALLOCATION), not only an index root
            (big / f"file {i:05d}.txt").write_bytes(b"x" * (i % 900))
        deep = mnt.joinpath(*[f"level{i}" for i in range(12)])
        deep.mkdir(parents=True)
        (deep / "bottom.txt").write_text("bottom")
        (mnt / "ünïcödé 日本語 🎉.txt").write_text("names beyond the BMP are surrogate pairs in UTF-16")
        (mnt / "target.txt").write_text("linked")
        for i in range(3):  # one record, several names, in two folders
            os.link(mnt / "target.txt", (big if i else mnt) / f"link{i}.txt")
        (mnt / "ads.txt").write_text("main")
        (mnt / "ads.txt:secret").write_text("hidden stream")
        (mnt / "ads.txt:other").write_text("another")
        os.symlink("target.txt", mnt / "rel-link")
        (mnt / "gone").mkdir()
        (mnt / "gone" / "deleted.txt").write_text("deleted")
        (mnt / "gone" / "deleted.txt").unlink()
        (mnt / "gone").rmdir()
        (mnt / "kept").mkdir()
        (mnt / "kept" / "renamed-from.txt").write_text("renamed")
        (mnt / "kept" / "renamed-from.txt").rename(mnt / "kept" / "renamed-to.txt")
        many = mnt / "many names"  # a file with so many hard links its names spill out of its record
        many.mkdir()
        (many / "n0000").write_text("many")
        for i in range(1, 120):
            os.link(many / "n0000", many / f"n{i:04d}-{'x' * 60}")
    same_walks(image, "d0")
    volumes, _disks = scan_files([image])
    fs = volumes["d0"].fs
    assert fs is not None
    by_path = {e.path: e for e in fs.walk(fs.stat("/"))}
    assert by_path["/target.txt"].nlink == 4 and by_path["/big folder/link2.txt"].inode == by_path["/target.txt"].inode
    assert by_path["/ads.txt"].streams == ["other", "secret"]  # attributes are kept sorted by name
    assert "/gone" not in by_path and "/kept/renamed-to.txt" in by_path and "/kept/renamed-from.txt" not in by_path
    assert by_path["/many names/n0000"].nlink == 120
    with fs.open_stream(by_path["/big folder/file 00899.txt"]) as data:  # opened from a table entry (no handle)
        assert data.pread(899, 0) == b"x" * 899


def test_a_walk_from_a_folder_goes_on_from_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk below the root reads folder by folder, then (past TABLE_AFTER entries) the rest from the table."""
    image = tmp_path / "ntfs.img"
    with ntfs3g(image, "32M") as mnt:
        for a in range(3):
            for b in range(4):
                folder = mnt / "top" / f"a{a}" / f"b{b}"
                folder.mkdir(parents=True)
                for c in range(5):
                    (folder / f"f{c}.txt").write_text(f"{a}{b}{c}")
    walks = []
    for after in (10**9, 3):
        monkeypatch.setattr("restorekit.fs.filesystem.TABLE_AFTER", after)
        volumes, _disks = scan_files([image])
        fs = volumes["d0"].fs
        assert fs is not None
        top = fs.stat("/top")
        pairs = [(folder.path, entry.to_dict()) for folder, entry in fs.walk_tree(top)]
        walks.append(pairs)
        assert (fs._table is not None) == (after == 3)
    assert walks[0] == walks[1] and len(walks[0]) == 3 + 12 + 60


def test_the_node_columns_without_a_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = gunzip_to(ROOT / "fixtures" / "images" / "files" / "ntfs.img.gz", tmp_path)

    def no_temp(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", no_temp)
    same_walks(image, "d0")


def test_a_torn_record_falls_back_to_the_folder_walk(tmp_path: Path) -> None:
    image = tmp_path / "ntfs.img"
    with ntfs3g(image, "16M") as mnt:
        (mnt / "folder").mkdir()
        (mnt / "folder" / "victim.txt").write_text("victim")
    volumes, _disks = scan_files([image])
    fs = volumes["d0"].fs
    assert fs is not None
    victim = fs.stat("/folder/victim.txt").inode
    record = fs.stream.pread(fs.record_size, 0)  # the boot sector gives $MFT's first cluster
    mft = int.from_bytes(record[48:56], "little") * fs.cluster_size
    with open(image, "r+b") as f:  # break the update sequence at the end of the record's first sector
        f.seek(mft + victim * fs.record_size + 510)
        f.write(b"\xde\xad")
    volumes, _disks = scan_files([image])
    fs = volumes["d0"].fs
    assert fs is not None
    with pytest.raises(Exception, match="torn"):
        ntfs_table.build_table(fs, ())
    errors: list[str] = []
    paths = [e.path for e in fs.walk(fs.stat("/"), lambda exc: errors.append(str(exc)))]
    assert fs.table() is None and "/folder" in paths


def test_an_entry_the_format_cannot_make_is_reported_and_left_out(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    image = gunzip_to(ROOT / "fixtures" / "images" / "files" / "ntfs.img.gz", tmp_path)
    volumes, _disks = scan_files([image])
    fs = volumes["d0"].fs
    assert fs is not None and fs.table() is not None
    make = fs._make_entry

    def damaged(path: str, name: str, handle: Any) -> Any:
        if path == "/rel-link":  # a symbolic link: made by pyfsntfs, not from the columns
            raise FilesystemError("cannot be read: damaged record", volume="d0", path=path)
        return make(path, name, handle)

    monkeypatch.setattr(fs, "_make_entry", damaged)
    errors: list[FilesystemError] = []
    paths = [e.path for e in fs.walk(fs.stat("/"), errors.append)]
    assert "/rel-link" not in paths and "/hello.txt" in paths and "/abs-link" in paths
    assert [str(e) for e in errors] == ["d0: /rel-link: cannot be read: damaged record; the entry is left out"]
    with pytest.raises(FilesystemError, match="damaged record"):
        list(fs.walk(fs.stat("/")))
