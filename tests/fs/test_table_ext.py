"""The ext2/3/4 bulk table (fs/filesystems/ext_table.py) against the folder-by-folder walk through pyfsext.

For every ext volume the tests can reach (the committed fixtures, ../shared/testdata, and images built here with
``mke2fs -d`` of trees holding what a table parser can get wrong), a walk through the table must list the same
paths in the same order with every field equal (``Entry.to_dict()``) and the same errors. A damaged folder makes the
table unavailable and the walk falls back to reading folder by folder, which reports the damage as before.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from restorekit.cli.files import escape_name
from restorekit.cli.turns import SERIAL
from restorekit.fs.errors import TableUnavailable
from restorekit.fs.filesystems.ext import ROOT_INODE
from restorekit.fs.filesystems.ext_table import build_table
from restorekit.fs.stream import FileSource
from restorekit.fs.table import WINDOW
from restorekit.jsonio import dumps
from tests.conftest import fixture_file, gunzip_to, require_tool, shared
from tests.fs.test_damaged_fs import dirent_at, ext_dir_block, patch
from tests.fs.volume_images import scan_files

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.fs.filesystem import Filesystem

ROOT_ONLY = os.geteuid() == 0
#: 2100-01-01 (epoch bits in ext4's extra time fields), 1901-12-14 and 1960 (negative seconds), with nanoseconds.
TIMES = (4102444800_123456789, -2147483648_000000000, -315619200_987654321, 1794312000_000000001)


def ext_volumes(image: Path) -> list[str]:
    volumes, _ = scan_files([image])
    return [vid for vid, v in volumes.items() if v.fs is not None and v.fs.type_name == "ext"]


def walk(image: Path, volume: str, table: bool) -> tuple[list[dict[str, object]], list[str], Filesystem]:
    """(to_dict of each entry, the errors) of a walk of the whole volume, through the table or folder by folder."""
    volumes, _ = scan_files([image])
    fs = volumes[volume].fs
    assert fs is not None
    if not table:
        fs._table_tried = True
    errors: list[Exception] = []
    entries = [entry.to_dict() for entry in fs.walk(fs.stat("/"), errors.append)]
    return entries, [str(e) for e in errors], fs


def same_walks(image: Path, *, expect_table: bool = True) -> list[dict[str, object]]:
    """Check every ext volume of ``image`` walks the same both ways; the entries of the last one."""
    volumes = ext_volumes(image)
    assert volumes, image
    for volume in volumes:
        old, old_errors, _ = walk(image, volume, table=False)
        new, new_errors, fs = walk(image, volume, table=True)
        assert (fs._table is not None) == expect_table, (image, volume)
        assert [e["path"] for e in new] == [e["path"] for e in old]
        for a, b in zip(old, new, strict=True):
            assert a == b, (image, volume)
        assert new_errors == old_errors
    return new


# -- images of other projects and the committed fixtures -----------------------------------------------------------

@pytest.mark.parametrize("relative", ["dfvfs/ext2.vhd", "dfvfs/image.vhd", "dfvfs/image-differential.vhd",
                                      "peers/dfvfs/test_data/ímynd.dd", "peers/dfvfs/test_data/ext2.splitraw.000",
                                      "peers/sleuthkit/data/image.dd"])
def test_shared_images(relative: str) -> None:
    same_walks(shared(relative))


@pytest.mark.parametrize("relative", ["images/files/ext4.img.gz", "images/base.raw.gz", "images/volumes/md-a.img.gz",
                                      "images/volumes/mbr-logical.img.gz", "images/volumes/lvm-a.img.gz"])
def test_fixture_images(relative: str, tmp_path: Path) -> None:
    same_walks(gunzip_to(fixture_file(relative), tmp_path))


def test_demo_data_disk() -> None:
    same_walks(fixture_file("demo/disks/data0.vhdx"))


# -- images built here ---------------------------------------------------------------------------------------------

def make_tree(root: Path, *, big: int = 1500, many: int = 0) -> None:
    """What a table parser can get wrong: links hard and symbolic (in the inode and in a block, non-ASCII, empty),
    holes, empty files, 255-byte and non-ASCII names, deep nesting, a folder big enough for an htree, one whose
    blocks are spread between its files' (a deeper extent tree), fifos, odd times and owners."""
    root.mkdir()
    (root / "empty").touch()
    (root / "small.txt").write_text("hello\n")
    (root / "hard-a").write_bytes(b"x" * 5000)
    os.link(root / "hard-a", root / "hard-b")
    (root / "sub").mkdir()
    os.link(root / "hard-a", root / "sub" / "hard-c")
    os.symlink("small.txt", root / "fast-link")
    os.symlink("é/" * 20 + "target", root / "fast-utf8-link")
    os.symlink("x" * 59, root / "link-59")
    os.symlink("y" * 60, root / "link-60")
    os.symlink("/very/long/" * 30 + "target", root / "slow-link")
    os.symlink("dangling/nowhere", root / "sub" / "dangling")
    with open(root / "sparse.bin", "wb") as f:
        f.seek(300_000)
        f.write(b"end")
    with open(root / "holes.bin", "wb") as f:  # more extents than the inode holds
        for i in range(40):
            f.seek(i * 70_000)
            f.write(b"data" * 300)
    with open(root / "hole-at-end.bin", "wb") as f:
        f.write(b"start" * 1000)
        f.truncate(200_000)
    (root / "big-file.bin").write_bytes(bytes(range(256)) * 800)
    (root / ("a" * 255)).write_text("ascii 255")
    (root / ("é" * 127 + "x")).write_text("utf-8 255")
    (root / "Ünïcödé — ✓ 日本語").mkdir()
    (root / "Ünïcödé — ✓ 日本語" / "ファイル.txt").write_text("x")
    (root / "name with spaces and 'quotes'").write_text("q")
    deep = root / "deep"
    for i in range(40):
        deep = deep / f"level{i:02d}"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("bottom")
    big_dir = root / "big"
    big_dir.mkdir()
    for i in range(big):
        (big_dir / f"entry-{i:05d}-{'n' * (i % 40)}").write_text("")
    if many:  # files with data between the folder's blocks: the folder's extents do not fit in its inode
        spread = root / "spread"
        spread.mkdir()
        for i in range(many):
            (spread / f"spread-file-with-a-longer-name-{i:05d}").write_bytes(b"d" * 1500)
    os.mkfifo(root / "fifo")
    for path, ns in zip((root / "small.txt", root / "empty", root / "sub", root / "hard-a"), TIMES, strict=True):
        os.utime(path, ns=(ns, ns), follow_symlinks=False)
    if ROOT_ONLY:
        os.mknod(root / "null", 0o20666, os.makedev(1, 3))
        os.mknod(root / "loop", 0o60660, os.makedev(7, 0))
        os.chown(root / "small.txt", 100_000, 200_000)
        os.chown(root / "sub", 70_000, 5)
        os.chmod(root / "sub", 0o1777)
        os.chmod(root / "empty", 0o4755)


def mke2fs(image: Path, tree: Path, *args: str, size: str = "64M") -> Path:
    require_tool("mke2fs")
    env = dict(os.environ, E2FSPROGS_FAKE_TIME="1794312000")
    subprocess.run(["mke2fs", "-q", "-F", *args, "-d", str(tree), str(image), size], check=True, env=env,
                   capture_output=True)
    return image


def debugfs(image: Path, *commands: str) -> None:
    require_tool("debugfs")
    for command in commands:
        subprocess.run(["debugfs", "-w", "-R", command, str(image)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ext-table") / "tree"
    make_tree(root, many=700)
    return root


LAYOUTS = {
    "ext4": ("-t", "ext4", "-b", "4096"),
    "ext4-bigalloc": ("-t", "ext4", "-b", "4096", "-O", "bigalloc", "-C", "16384"),
    "ext4-1k": ("-t", "ext4", "-b", "1024"),
    "ext4-128-byte-inodes": ("-t", "ext4", "-I", "128"),
    "ext4-no-csum-no-flex": ("-t", "ext4", "-O", "^metadata_csum,^flex_bg,^64bit"),
    "ext4-small-groups": ("-t", "ext4", "-b", "1024", "-g", "2048", "-N", "8192"),
    "ext4-no-dir-index": ("-t", "ext4", "-O", "^dir_index"),
    "ext3": ("-t", "ext3", "-b", "4096"),
    "ext3-1k": ("-t", "ext3", "-b", "1024"),
    "ext2": ("-t", "ext2", "-b", "4096"),
    "ext2-1k": ("-t", "ext2", "-b", "1024"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_built_images(layout: str, tree: Path, tmp_path: Path) -> None:
    image = mke2fs(tmp_path / f"{layout}.img", tree, *LAYOUTS[layout])
    entries = same_walks(image)
    by_path = {e["path"]: e for e in entries}
    assert by_path["/fast-link"]["linkTarget"] == "small.txt"
    assert by_path["/sparse.bin"].get("sparse") is True
    assert by_path["/hard-a"]["nlink"] == 3
    assert len([p for p in by_path if p.startswith("/big/")]) == 1500
    assert len([p for p in by_path if p.startswith("/spread/")]) == 700


def test_unwritten_extents(tree: Path, tmp_path: Path) -> None:
    """fallocate's unwritten extents are sparse, as pyfsext reports them; a folder's are left to the folder walk."""
    image = mke2fs(tmp_path / "ext4.img", tree, "-t", "ext4")
    debugfs(image, "write /dev/null /prealloc", "fallocate /prealloc 0 99", "sif /prealloc size 409600",
            "write /dev/null /prealloc-past-size", "fallocate /prealloc-past-size 0 20")
    entries = {e["path"]: e for e in same_walks(image)}
    assert entries["/prealloc"].get("sparse") is True and entries["/prealloc"]["size"] == 409600
    assert "sparse" not in entries["/prealloc-past-size"]


def test_inline_data(tree: Path, tmp_path: Path) -> None:
    """Inline-data folders are not parsed here: the table is unavailable and the walk is the folder walk."""
    image = mke2fs(tmp_path / "ext4.img", tree, "-t", "ext4", "-O", "inline_data")
    same_walks(image, expect_table=False)


def test_block_mapped_big_folder(tmp_path: Path) -> None:
    """An ext2 folder of 1 KiB blocks reaching through its double-indirect block."""
    root = tmp_path / "tree"
    root.mkdir()
    (root / "many").mkdir()
    for i in range(11000):
        (root / "many" / f"a-name-of-twenty-{i:05d}").touch()
    image = mke2fs(tmp_path / "ext2.img", root, "-t", "ext2", "-b", "1024", "-N", "12000")
    entries = same_walks(image)
    assert len(entries) == 11000 + 2  # and lost+found, many


@pytest.mark.parametrize("layout", ["ext4", "ext4-no-csum-no-flex", "ext2-1k"])
def test_reads_through_the_stream(layout: str, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the image's bytes are not in a local file (a remote or decrypted source has no file descriptor), the
    table reads them through the stream, its runs of blocks across gaps in one read each, and lists the same."""
    image = mke2fs(tmp_path / f"{layout}.img", tree, *LAYOUTS[layout])
    monkeypatch.setattr(FileSource, "fileno", lambda self: None)
    entries = same_walks(image)
    assert len([e for e in entries if e["path"].startswith("/spread/")]) == 700


# -- damage: the table is unavailable, the folder walk reports it ----------------------------------------------------

def small_image(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "d" / "e").mkdir(parents=True)
    for name in ("before", "bad", "after"):
        (root / "d" / name).write_text(name)
    return mke2fs(tmp_path / "ext4.img", root, "-t", "ext4", "-b", "1024", size="8M")


@pytest.mark.parametrize("damage", ["rec_len", "name_len", "inode-out-of-range", "unused-inode", "to-root",
                                    "bad-utf8"])
def test_damage_falls_back(damage: str, tmp_path: Path) -> None:
    image = small_image(tmp_path)
    at = dirent_at(image, ext_dir_block(image, "/d"), b"bad")
    rec_len = struct.unpack_from("<H", image.read_bytes(), at + 4)[0]
    if damage == "rec_len":
        patch(image, at + 4, struct.pack("<H", rec_len + 3))
    elif damage == "name_len":
        patch(image, at + 6, bytes([rec_len]))
    elif damage == "inode-out-of-range":
        patch(image, at, struct.pack("<I", 10**9))
    elif damage == "unused-inode":
        patch(image, at, struct.pack("<I", 1000))
    elif damage == "to-root":
        patch(image, dirent_at(image, ext_dir_block(image, "/d"), b"e"), struct.pack("<I", 2))
    elif damage == "bad-utf8":
        patch(image, at + 8, b"\xff")
    volumes, _ = scan_files([image])
    fs = volumes["d0"].fs
    assert fs is not None
    with pytest.raises(TableUnavailable):
        build_table(fs)
    old, old_errors, _ = walk(image, "d0", table=False)
    new, new_errors, fs = walk(image, "d0", table=True)
    assert fs._table is None
    assert (new, new_errors) == (old, old_errors)


def test_a_folder_that_cannot_be_read_falls_back(tmp_path: Path) -> None:
    """A folder block past the end of the (truncated) volume."""
    image = small_image(tmp_path)
    block = ext_dir_block(image, "/d")
    data = image.read_bytes()
    data = data[:block]
    image.write_bytes(data)
    volumes, _ = scan_files([image])
    fs = volumes["d0"].fs
    assert fs is not None
    with pytest.raises(TableUnavailable):
        build_table(fs)


def test_folder_blocks_out_of_order_and_a_name_twice(tmp_path: Path) -> None:
    """A folder whose second block lies before its first on the volume, holding a name its first block also holds
    (damage): the folder walk lists both in on-disk order, and so must the table (it parses blocks in volume order,
    so such a folder's entries wait and are added in the folder's order)."""
    root = tmp_path / "tree"
    (root / "two").mkdir(parents=True)
    for i in range(80):
        (root / "two" / f"name-{i:02d}").write_text(str(i))
    image = mke2fs(tmp_path / "ext4.img", root, "-t", "ext4", "-b", "1024", "-O", "^metadata_csum,^dir_index",
                   size="8M")
    require_tool("debugfs")
    where = subprocess.run(["debugfs", "-R", "imap /two", str(image)], check=True, capture_output=True,
                           text=True).stdout
    found = re.search(r"located at block (\d+), offset (0x[0-9a-f]+)", where)
    assert found, where
    inode_at = int(found[1]) * 1024 + int(found[2], 16)
    data = bytearray(image.read_bytes())
    extents = inode_at + 40 + 12
    (first_logical, _len, _hi, first), (second_logical, _len2, _hi2, second) = (
        struct.unpack_from("<IHHI", data, extents + 12 * i) for i in range(2))
    assert (first_logical, second_logical) == (0, 1) and second > first
    # swap the two blocks and the extents pointing at them: the folder's order stays, the volume's is reversed
    a, b = bytes(data[first * 1024 : first * 1024 + 1024]), bytes(data[second * 1024 : second * 1024 + 1024])
    data[first * 1024 : first * 1024 + 1024], data[second * 1024 : second * 1024 + 1024] = b, a
    struct.pack_into("<I", data, extents + 8, second)
    struct.pack_into("<I", data, extents + 12 + 8, first)
    image.write_bytes(bytes(data))
    late = dirent_at(image, first * 1024, b"name-79")  # now the folder's second block
    patch(image, late + 8, b"name-00")
    entries = same_walks(image)
    names = [e["name"] for e in entries if str(e["path"]).startswith("/two/")]
    assert names.count("name-00") == 2 and len(names) == 80


@pytest.mark.parametrize("case", ["fast-not-utf8", "slow-not-utf8", "empty"])
def test_link_targets_pyfsext_refuses(case: str, tmp_path: Path) -> None:
    """pyfsext cannot give these targets, so the folder walk reports the link's folder: the table must not list
    it (its slow path would raise in the middle of the walk) but fall back."""
    root = tmp_path / "tree"
    root.mkdir()
    (root / "plain").write_text("x")
    target = {"fast-not-utf8": b"\xff\xfe", "slow-not-utf8": b"\xff" * 70, "empty": b"placeholder"}[case]
    os.symlink(target, os.fsencode(root / "link"))
    image = mke2fs(tmp_path / "ext4.img", root, "-t", "ext4", size="8M")
    if case == "empty":
        debugfs(image, "sif /link size 0")
    old, old_errors, _ = walk(image, "d0", table=False)
    assert old_errors and "symbolic link target" in old_errors[0]
    new, new_errors, fs = walk(image, "d0", table=True)
    assert fs._table is None and (new, new_errors) == (old, old_errors)


def test_slow_link_targets(tmp_path: Path) -> None:
    """Targets kept in a block (up to its size less one: libext2fs and the kernel go no further) are read with the
    inode tables."""
    for block, layout in ((4096, ("-t", "ext4")), (1024, ("-t", "ext4")), (1024, ("-t", "ext3"))):
        root = tmp_path / f"tree-{block}-{layout[1]}"
        root.mkdir()
        lengths = (59, 60, 61, 1000, block - 1)
        for length in lengths:
            os.symlink("t" * (length - 4) + "/end", root / f"link-{length}")
        image = mke2fs(tmp_path / f"{root.name}.img", root, *layout, "-b", str(block), size="8M")
        entries = {e["name"]: e for e in same_walks(image)}
        assert entries[f"link-{block - 1}"]["linkTarget"] == "t" * (block - 5) + "/end"
        volumes, _ = scan_files([image])
        fs = volumes["d0"].fs
        assert fs is not None
        table = fs.table()
        assert table is not None and len(table.extras) == len(lengths), layout


@pytest.mark.parametrize("layout", [("-t", "ext4"), ("-t", "ext3")])
def test_fragmented_files(layout: tuple[str, ...], tmp_path: Path) -> None:
    """Files written into freed gaps: more extents than the inode holds (an extent tree block) and no hole, so
    not sparse; block-mapped ones reach their indirect blocks."""
    root = tmp_path / "tree"
    root.mkdir()
    for i in range(120):
        (root / f"f{i:03d}").write_bytes(b"f" * 3000)
    image = mke2fs(tmp_path / "fs.img", root, *layout, "-b", "1024", size="8M")
    commands = tmp_path / "commands"
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 800)
    commands.write_text("".join(f"rm /f{i:03d}\n" for i in range(0, 120, 2)) + f"write {big} /big\n"
                        + f"write {big} /big2\n")
    require_tool("debugfs")
    subprocess.run(["debugfs", "-w", "-f", str(commands), str(image)], check=True, capture_output=True)
    entries = {e["name"]: e for e in same_walks(image)}
    assert entries["big"]["size"] == 204800 and "sparse" not in entries["big"]


#: Names a listing escapes or must carry with care: C0 controls, DEL, a C1 control (U+0085), a quote, a backslash,
#: U+0001 (what the bulk sort joins names with), and non-ASCII that needs nothing (é, Hangul: its UTF-8 starts ED).
HOSTILE = ["new\nline", "tab\there", 'quote"d', "back\\slash", "ctrl\x01a", "del\x7f", "c1\x85", "esc\x1b[31m",
           "é-accent", "한국어", "plain"]


def test_listings_of_hostile_names(tmp_path: Path) -> None:
    """``ls -r`` and ``ls -r --json``, made as bytes from the table, are what the per-entry formatting makes of the
    folder walk: in a small folder (sorted by Python), a big one (sorted by numpy) and under a folder whose own
    name needs escaping (its path is escaped once for all its entries). Bulk folders make the walk long enough to
    be formatted by two processes (restore/cli/turns.py), and the odd folders come after them."""
    root = tmp_path / "tree"
    root.mkdir()
    bulk = [(f"bulk-{i:02d}", WINDOW) for i in range(SERIAL + 3)]  # (mke2fs -d takes minutes for one such folder)
    for folder, extra in (("small", 0), ("big", 60), *bulk, ('odd\nfolder\\"\x85', 60)):
        for name in [*HOSTILE, *(f"file-{i:03d}" for i in range(extra))]:
            (root / folder).mkdir(exist_ok=True)
            (root / folder / name).write_text("x")
        (root / folder / ("dir-" + HOSTILE[0]) / "inner").mkdir(parents=True)
    image = mke2fs(tmp_path / "hostile.img", root, "-t", "ext4", "-N", "40000", size="256M")
    (volume,) = ext_volumes(image)
    entries, errors, _ = walk(image, volume, table=False)
    table = walk(image, volume, table=True)[2]._table
    assert not errors and table is not None
    assert len(list(table.windows(table.node_of(ROOT_INODE), "/"))) > SERIAL + 2
    command = [sys.executable, "-m", "restorekit", "ls", str(image), f"{volume}:/", "-r"]
    listing = subprocess.run(command, capture_output=True, check=True).stdout
    assert listing == "".join(escape_name(str(e["path"])) + ("/" if e["type"] == "dir" else "") + "\n"
                              for e in entries).encode()
    listing = subprocess.run([*command, "--json"], capture_output=True, check=True).stdout
    assert listing == ("[\n  " + ",\n  ".join(dumps({"volume": volume, **e}) for e in entries) + "\n]\n").encode()

