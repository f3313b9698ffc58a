"""ls/find/cat/extract on real ext4, NTFS and XFS images built by ``python -m fixtures.build_files``.

The images hold the tree of :func:`fixtures.build_files.make_tree` (unicode names, a deep folder, sparse
file, relative/absolute links, a hard link; hostile names on ext4; ADS, compression and a dedup reparse
point on NTFS). Round trips compare extracted files with :func:`fixtures.build_files.tree_files`. The XFS
image comes from a ``mkfs.xfs`` protofile, which has no hard links and no holes: there ``hard.txt`` is a
copy and ``sparse.bin`` is fully allocated (see :func:`fixtures.build_files.build_xfs`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from fixtures.build_files import COMPRESSED, DEEP, MTIME, tree_files
from restorekit.fs.entry import ExtentKind
from tests.conftest import fixture_file, gunzip_to, require_tool
from tests.fs.volume_images import scan_files

NS = MTIME * 1_000_000_000


@pytest.fixture(params=["ext4", "ntfs", "xfs"])
def image(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """One of the file fixtures, decompressed into a folder of its own (the read-only guard watches it)."""
    folder = tmp_path / "img"
    folder.mkdir()
    return gunzip_to(fixture_file(f"images/files/{request.param}.img.gz"), folder)


def run(*args: str) -> tuple[int, bytes, str]:
    """Run the CLI in a process with real pipes (``cat`` and ``--tar -`` write to the stdout descriptor)."""
    proc = subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr.decode()


def test_round_trip_folder(image: Path, tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    guard = readonly([image])
    out = tmp_path / "out"
    code, _out, err = run("extract", str(image), "d0:/", "-o", str(out), "--verify")
    root = out / "d0"
    for rel, data in tree_files().items():
        path = root / rel
        assert path.read_bytes() == data, rel
        assert path.stat().st_mtime_ns == NS, rel
        assert path.stat().st_mode & 0o777 == 0o644, rel
    sparse = root / "sparse.bin"
    assert sparse.read_bytes() == bytes(512 << 10) + b"S" * 4096 + bytes((512 << 10) - 4096)
    assert os.readlink(root / "rel-link") == "hello.txt"
    assert os.readlink(root / "docs" / "up-link") == "../../hello.txt"
    assert not os.path.lexists(root / "abs-link") and "abs-link" in err
    assert (root / "hard.txt").read_bytes() == b"hello, world\n"
    if "xfs" not in image.name:  # the XFS protofile made neither a hole nor a hard link
        assert sparse.stat().st_blocks * 512 < 64 << 10  # written sparse
        assert (root / "hard.txt").stat().st_ino == (root / "hello.txt").stat().st_ino
    sums = dict(line.split("  ", 1)[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
    assert sums[f"d0/{DEEP}"] == hashlib.sha256(b"deep\n").hexdigest()
    assert not list(out.rglob(".restorekit-*"))
    guard.check()
    # abs-link is not created, so not everything was restored: exit 1, each file left out named with why
    assert code == 1 and "d0:/abs-link: symbolic link to '/etc/passwd' not created" in err
    if "ntfs" in image.name:
        assert (root / "packed" / "compressed.txt").read_bytes() == COMPRESSED
        assert not (root / "dedup.txt").exists() and "Skipped: d0:/dedup.txt: deduplicated" in err
        assert "2 skipped, 0 failed; not everything was restored" in err
    elif "ext4" in image.name:
        assert "Skipped: d0:/fifo: fifo not extracted" in err
        assert "2 skipped, 0 failed; not everything was restored" in err
        assert sorted(p.name for p in root.iterdir() if "_" in p.name and p.suffix == ".txt") == \
            ["back_slash.txt", "col_on.txt", "ctl_char.txt"]
        assert not (root / "fifo").exists()
    else:
        assert "1 skipped, 0 failed; not everything was restored" in err


def test_resume_and_overwrite(image: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("extract", str(image), "d0:/docs/readme.md", "-o", str(out))[0] == 0
    code, _o, err = run("extract", str(image), "d0:/docs/readme.md", "-o", str(out))
    assert code == 0 and "1 unchanged" in err  # already identical: restored, exit 0
    (out / "readme.md").write_bytes(b"changed")
    code, _o, err = run("extract", str(image), "d0:/docs/readme.md", "-o", str(out), "--json")
    assert code == 1 and (out / "readme.md").read_bytes() == b"changed"
    assert json.loads(_o)["skipped"] == [{"path": "d0:/docs/readme.md", "reason": f"{out / 'readme.md'} exists and "
                                          "differs (use --overwrite to replace)"}]
    code, _o, _err = run("extract", str(image), "d0:/docs/readme.md", "-o", str(out), "--overwrite")
    assert code == 0 and (out / "readme.md").read_bytes() == b"# readme\n" * 100
    # docs/up-link (-> ../../hello.txt) would point above the output when docs is extracted on its own
    code, _o, err = run("extract", str(image), "d0:/docs", "-o", str(out))
    assert code == 1 and "Skipped: d0:/docs/up-link: symbolic link to '../../hello.txt' not created" in err
    assert (out / "docs" / "readme.md").exists() and not os.path.lexists(out / "docs" / "up-link")


def test_tar_stream(image: Path, tmp_path: Path) -> None:
    code, data, err = run("extract", str(image), "d0:/", "--tar", "-", "--verify")
    if "xfs" in image.name:
        assert code == 0, err
    else:  # the NTFS dedup file and the ext4 FIFO are left out of the tar too: listed, exit 1
        assert code == 1 and "1 skipped, 0 failed; not everything was restored" in err
        assert ("Skipped: d0:/dedup.txt" if "ntfs" in image.name else "Skipped: d0:/fifo") in err
    path = tmp_path / "x.tar"
    path.write_bytes(data)
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        for rel, content in tree_files().items():
            member = members[f"d0/{rel}"]
            assert tar.extractfile(member).read() == content  # type: ignore[union-attr]
            assert member.pax_headers["mtime"].startswith(str(MTIME))
        assert members["d0/abs-link"].issym() and members["d0/abs-link"].linkname == "/etc/passwd"
        assert (members["d0/hard.txt"].islnk() or members["d0/hello.txt"].islnk()) is ("xfs" not in image.name)
        sparse = members["d0/sparse.bin"]
        assert sparse.size == 1 << 20 and tar.extractfile(sparse).read().count(b"S") == 4096  # type: ignore[union-attr]
        assert "SHA256SUMS" in members
        if "ntfs" in image.name:
            assert tar.extractfile(members["d0/ads.txt:secret"]).read() == b"hidden stream\n"  # type: ignore[union-attr]
        assert "LIBARCHIVE.creationtime" not in members["d0/hello.txt"].pax_headers  # only with --windows-metadata


@pytest.mark.parametrize("tool", ["tar", "bsdtar"])
def test_gnu_tar_and_bsdtar_read_the_stream_without_warnings(image: Path, tmp_path: Path, tool: str) -> None:
    require_tool(tool)
    tar_file = tmp_path / "x.tar"
    code, _o, err = run("extract", str(image), "d0:/", "--tar", str(tar_file), "--streams", "-q")
    assert code in (0, 1), err
    dest = tmp_path / "x"
    dest.mkdir()
    proc = subprocess.run([tool, "-x", "-f", str(tar_file), "-C", str(dest)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert (dest / "d0" / "hello.txt").read_bytes() == tree_files()["hello.txt"]
    if "ntfs" not in image.name:
        return
    # Windows metadata on request: bsdtar restores the creation time's keyword silently; GNU tar names it.
    code, _o, err = run("extract", str(image), "d0:/hello.txt", "--tar", str(tar_file), "--overwrite",
                        "--windows-metadata")
    assert code == 0, err
    with tarfile.open(tar_file) as tar:
        assert "LIBARCHIVE.creationtime" in tar.getmember("hello.txt").pax_headers
    code, _o, err = run("extract", str(image), "d0:/hello.txt", "-o", str(tmp_path / "f"), "--windows-metadata")
    assert code == 2 and "--windows-metadata goes with --tar" in err


def test_ls_find_cat(image: Path) -> None:
    code, data, _ = run("ls", str(image), "d0:/", "-r", "--json")
    entries = {e["path"]: e for e in json.loads(data)}
    assert entries["/sparse.bin"].get("sparse", False) is ("xfs" not in image.name)  # XFS: allocated by its protofile
    assert entries["/rel-link"]["linkTarget"] == "hello.txt"
    assert entries["/" + DEEP]["mtime"] == "2020-09-13T12:26:40Z"
    code, data, _ = run("find", str(image), "**/bottom.txt")
    assert data.decode().splitlines() == [f"d0:/{DEEP}"]
    code, data, _ = run("find", str(image), "d0:/*.bin", "--min-size", "700000")
    assert data.decode().splitlines() == ["d0:/sparse.bin"]
    code, data, _ = run("cat", str(image), "d0:/big.bin")
    assert code == 0 and data == tree_files()["big.bin"]


def test_ntfs_specifics(tmp_path: Path) -> None:
    (tmp_path / "rp").mkdir()
    image = gunzip_to(fixture_file("images/files/ntfs.img.gz"), tmp_path / "rp")
    assert run("cat", str(image), "d0:/ADS.TXT:secret")[1] == b"hidden stream\n"
    code, data, _ = run("ls", str(image), "d0:/", "--json")
    entries = {e["name"]: e for e in json.loads(data)}
    assert entries["dedup.txt"]["dedup"] is True and entries["dedup.txt"]["reparseTag"] == "0x80000013"
    assert entries["ads.txt"]["streams"] == ["secret"]
    assert "crtime" in entries["hello.txt"] and "compressed" in entries["packed"]["attributes"]
    code, _d, err = run("cat", str(image), "d0:/dedup.txt")
    assert code == 1 and "not restorable" in err
    out = tmp_path / "out"
    run("extract", str(image), "d0:/ads.txt", "-o", str(out), "--streams")
    assert (out / "ads.txt.secret").read_bytes() == b"hidden stream\n"


def test_extents_are_in_the_image_file(tmp_path: Path) -> None:
    """A plainly stored file maps to offsets of the image file, so the kernel can copy it."""
    image = gunzip_to(fixture_file("images/files/ntfs.img.gz"), tmp_path)
    volumes, _disks = scan_files([image])
    fs = volumes["d0"].fs
    assert fs is not None
    extents = list(fs.extents(fs.stat("/big.bin")))
    assert all(e.kind is ExtentKind.DATA and e.source and e.source.fileno() is not None for e in extents)
    raw = image.read_bytes()
    assert b"".join(raw[e.source_offset : e.source_offset + e.length] for e in extents) == tree_files()["big.bin"]
    packed = fs.open_stream(fs.stat("/packed/compressed.txt"))
    assert not packed.mapped and packed.read() == COMPRESSED


def test_errors(image: Path) -> None:
    code, _d, err = run("ls", str(image), "d9:/")
    assert code == 1 and "no volume 'd9'" in err
    code, _d, err = run("cat", str(image), "d0:/missing")
    assert code == 1 and "no such file" in err
