"""extract's output mapping, exit codes and link safety, on ext4 and NTFS images built at test time.

ext4 images come from ``mke2fs -d`` (e2fsprogs); names a tool cannot make (a ``/`` inside a name, as on a
damaged volume) are made by editing the directory entry's bytes in the image. NTFS images come from
``mkntfs`` and ``ntfscp`` (ntfs-3g), which writes alternate data streams without a FUSE mount.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import FIXTURES
from tests.test_files import run

if TYPE_CHECKING:
    from collections.abc import Callable

DEMO = FIXTURES / "demo"


def need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian package {package})")


def ext4_image(tmp_path: Path, make: Callable[[Path], None], renames: dict[bytes, bytes] | None = None) -> Path:
    """An ext4 image of the tree ``make`` writes, in a folder of its own; ``renames`` edits names in place
    (same length, each old name found exactly once in the image)."""
    need("mke2fs", "e2fsprogs")
    src = tmp_path / "src"
    src.mkdir()
    make(src)
    folder = tmp_path / "rp"
    folder.mkdir()
    image = folder / "ext4.img"
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-b", "1024", "-d", str(src), str(image)], check=True)
    if renames:
        data = bytearray(image.read_bytes())
        for old, new in renames.items():
            assert len(old) == len(new) and data.count(old) == 1, old
            at = data.find(old)
            data[at : at + len(old)] = new
        image.write_bytes(bytes(data))
    return image


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def names(tar_bytes: bytes, tmp_path: Path) -> dict[str, tarfile.TarInfo]:
    path = tmp_path / "check.tar"
    path.write_bytes(tar_bytes)
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}


# -- 1. two sources, one output name ---------------------------------------------------------------------------


def home_tree(src: Path) -> None:
    write(src / "home/alice/Documents/notes.txt", b"alice\n")
    write(src / "home/bob/Documents/notes.txt", b"bob\n")
    write(src / "home/bob/Documents/plan.txt", b"bob's plan\n")


def test_same_base_names_stop_the_run_before_anything_is_written(tmp_path: Path) -> None:
    image = ext4_image(tmp_path, home_tree)
    out = tmp_path / "out"
    targets = ["d0:/home/alice/Documents", "d0:/home/bob/Documents"]
    code, _o, err = run("extract", str(image), *targets, "-o", str(out))
    assert code == 1 and err.count("\n") == 1, err
    assert "d0:/home/alice/Documents and d0:/home/bob/Documents would both be written as 'Documents'" in err
    assert "--parents" in err and not out.exists()
    tar_file = tmp_path / "x.tar"
    code, _o, err = run("extract", str(image), *targets, "--tar", str(tar_file))
    assert code == 1 and "would both be written as 'Documents'" in err and not tar_file.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rp", "src"]

    code, data, err = run("extract", str(image), *targets, "-o", str(out), "--parents", "--json")
    assert code == 0, err
    assert json.loads(data)["files"] == 3
    assert (out / "d0/home/alice/Documents/notes.txt").read_bytes() == b"alice\n"
    assert (out / "d0/home/bob/Documents/notes.txt").read_bytes() == b"bob\n"
    code, data, err = run("extract", str(image), *targets, "--tar", "-", "--parents")
    assert code == 0, err
    members = names(data, tmp_path)
    assert {"d0/home/alice/Documents/notes.txt", "d0/home/bob/Documents/plan.txt"} <= set(members)


def test_two_folders_called_boot_on_the_efi_partition() -> None:
    code, _o, err = run("extract", str(DEMO), "os-p1:/EFI/Boot", "os-p1:/EFI/Microsoft/Boot", "--tar", "-")
    assert code == 1 and "os-p1:/EFI/Boot and os-p1:/EFI/Microsoft/Boot would both be written as 'Boot'" in err


def test_names_equal_after_making_them_safe_collide_even_with_parents(tmp_path: Path) -> None:
    def tree(src: Path) -> None:
        write(src / "a:b", b"colon\n")
        write(src / "a_b", b"underscore\n")

    image = ext4_image(tmp_path, tree)
    for mode in (["-o", str(tmp_path / "out")], ["--tar", "-"]):
        code, _o, err = run("extract", str(image), "d0:/", "--parents", *mode)
        assert code == 1 and "d0:/a:b and d0:/a_b would both be written as 'd0/a_b'" in err, err
        assert "separate run" in err
    assert not (tmp_path / "out").exists()


def test_the_same_file_twice_and_hard_links_are_not_collisions(tmp_path: Path) -> None:
    def tree(src: Path) -> None:
        write(src / "one/same.txt", b"linked\n")
        (src / "two").mkdir()
        os.link(src / "one/same.txt", src / "two/same.txt")
        write(src / "home/alice/a.txt", b"a\n")

    image = ext4_image(tmp_path, tree)
    out = tmp_path / "out"
    code, data, err = run("extract", str(image), "d0:/one/same.txt", "d0:/two/same.txt", "d0:/one", "d0:/one",
                          "-o", str(out), "--json")
    assert code == 0, err
    assert json.loads(data)["files"] == 2  # same.txt once, and one/same.txt as its hard link
    assert (out / "same.txt").read_bytes() == b"linked\n"
    assert (out / "one/same.txt").stat().st_ino == (out / "same.txt").stat().st_ino
    code, _d, err = run("extract", str(image), "d0:/home", "d0:/home/alice", "-o", str(tmp_path / "p"), "--parents")
    assert code == 0, err
    assert (tmp_path / "p/d0/home/alice/a.txt").read_bytes() == b"a\n"


def test_a_file_named_sha256sums_and_the_verify_list(tmp_path: Path) -> None:
    image = ext4_image(tmp_path, lambda src: write(src / "SHA256SUMS", b"not ours\n"))
    code, _o, err = run("extract", str(image), "d0:/SHA256SUMS", "-o", str(tmp_path / "out"), "--verify")
    assert code == 1 and "d0:/SHA256SUMS would both be written as 'SHA256SUMS'" in err, err
    code, _o, err = run("extract", str(image), "d0:/SHA256SUMS", "-o", str(tmp_path / "out"))
    assert code == 0 and (tmp_path / "out/SHA256SUMS").read_bytes() == b"not ours\n"


def ntfs_image(tmp_path: Path, files: list[tuple[bytes, str, str | None]]) -> Path:
    """An NTFS image (mkntfs) holding ``files``: (data, path, alternate data stream or None), written by ntfscp."""
    need("mkntfs", "ntfs-3g")
    need("ntfscp", "ntfs-3g")
    folder = tmp_path / "rp"
    folder.mkdir()
    image = folder / "ntfs.img"
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mkntfs", "-q", "-F", "-f", "-s", "512", "-c", "4096", str(image)], check=True,
                   capture_output=True)
    for data, name, stream in files:
        (tmp_path / "data").write_bytes(data)
        subprocess.run(["ntfscp", *(["-N", stream] if stream else []), str(image), str(tmp_path / "data"), name],
                       check=True, capture_output=True)
    return image


def test_an_alternate_data_stream_beside_a_file_of_its_name(tmp_path: Path) -> None:
    image = ntfs_image(tmp_path, [(b"main\n", "/x.txt", None), (b"stream\n", "/x.txt", "s"),
                                  (b"a real file\n", "/x.txt.s", None)])
    out = tmp_path / "out"
    code, _o, err = run("extract", str(image), "d0:/", "-o", str(out), "--streams")
    assert code == 1 and "d0:/x.txt:s and d0:/x.txt.s would both be written as 'd0/x.txt.s'" in err, err
    assert not out.exists()
    code, _o, err = run("extract", str(image), "d0:/x.txt:s", "d0:/x.txt.s", "-o", str(out))
    assert code == 1 and "d0:/x.txt:s and d0:/x.txt.s would both be written as 'x.txt.s'" in err, err
    code, _o, err = run("extract", str(image), "d0:/", "-o", str(out))  # without --streams: no stream files
    assert code == 0 and (out / "d0/x.txt.s").read_bytes() == b"a real file\n"
    code, data, err = run("extract", str(image), "d0:/", "--tar", "-")  # the tar names the stream x.txt:s
    assert code == 0, err
    assert {"d0/x.txt", "d0/x.txt:s", "d0/x.txt.s"} <= set(names(data, tmp_path))


# -- 2. the exit code follows what was restored ----------------------------------------------------------------


def test_a_hard_link_name_that_exists_and_differs_is_not_restored(tmp_path: Path) -> None:
    def tree(src: Path) -> None:
        write(src / "a.txt", b"linked\n")
        os.link(src / "a.txt", src / "b.txt")

    image = ext4_image(tmp_path, tree)
    out = tmp_path / "out"
    assert run("extract", str(image), "d0:/", "-o", str(out), "--verify")[0] == 0
    sums = (out / "SHA256SUMS").read_text()
    assert "  d0/a.txt\n" in sums and "  d0/b.txt\n" in sums  # both names are listed
    assert run("extract", str(image), "d0:/", "-o", str(out))[0] == 0  # identical: restored
    (out / "d0/b.txt").unlink()
    (out / "d0/b.txt").write_bytes(b"someone else's\n")
    code, data, err = run("extract", str(image), "d0:/", "-o", str(out), "--json")
    assert code == 1, err
    assert [s["path"] for s in json.loads(data)["skipped"]] == ["d0:/b.txt"]
    assert (out / "d0/b.txt").read_bytes() == b"someone else's\n"
    code, _o, err = run("extract", str(image), "d0:/", "-o", str(out), "--overwrite")
    assert code == 0, err
    assert (out / "d0/b.txt").stat().st_ino == (out / "d0/a.txt").stat().st_ino


# -- 3. a tar stream never goes to a terminal ------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["extract", str(DEMO), "lun0-p1:/srv/data", "--tar", "-"],
     "refusing to write a tar stream to the terminal; use --tar FILE or a pipe"),
    (["dd", str(DEMO), "--disk", "lun0"], "refusing to write a disk to the terminal; use -o FILE or a pipe"),
])
def test_binary_output_to_a_terminal_is_refused(args: list[str], message: str) -> None:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "restorekit", *args], stdout=follower, stderr=subprocess.PIPE,
                              check=False, timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and f"Error: {message}\n" in err, err


# -- 4. a name holding "/" -------------------------------------------------------------------------------------


def test_a_name_with_a_slash_stays_in_its_folder(tmp_path: Path) -> None:
    def tree(src: Path) -> None:
        write(src / "dir/inner.txt", b"the real inner\n")
        write(src / "dirXinner.txt", b"a name with a slash\n")
        write(src / "foldXer/child.txt", b"child\n")

    # "dir/inner.txt" names a file of the root folder, not dir's inner.txt; "fold/er" is a folder
    image = ext4_image(tmp_path, tree, {b"dirXinner.txt": b"dir/inner.txt", b"foldXer": b"fold/er"})
    out = tmp_path / "out"
    code, data, err = run("extract", str(image), "d0:/", "-o", str(out), "--json")
    assert code == 0, err
    assert (out / "d0/dir/inner.txt").read_bytes() == b"the real inner\n"
    assert (out / "d0/dir_inner.txt").read_bytes() == b"a name with a slash\n"
    assert (out / "d0/fold_er/child.txt").read_bytes() == b"child\n"
    assert {"from": "/fold/er", "to": "fold_er"} in json.loads(data)["renamed"]
    code, data, err = run("extract", str(image), "d0:/", "--tar", "-")
    assert code == 0, err
    members = names(data, tmp_path)
    assert {"d0/dir/inner.txt", "d0/dir_inner.txt", "d0/fold_er/child.txt"} <= set(members)


# -- 5. long names ---------------------------------------------------------------------------------------------


def test_a_255_byte_utf8_name_is_restored(tmp_path: Path) -> None:
    long_name = "é" * 127 + "x"  # 255 bytes in UTF-8, the most a Linux name may have; 128 UTF-16 units on NTFS
    assert len(long_name.encode()) == 255
    image = ntfs_image(tmp_path, [(b"long\n", "/" + long_name, None)])
    out = tmp_path / "out"
    code, _o, err = run("extract", str(image), "d0:/", "-o", str(out), "--verify")
    assert code == 0, err
    assert (out / "d0" / long_name).read_bytes() == b"long\n"
    assert not [p for p in (out / "d0").iterdir() if p.name.startswith(".restorekit")]


def test_a_254_byte_utf8_name_is_restored(tmp_path: Path) -> None:
    # 254 bytes: pyfsext gives no name at all for 255-byte ext4 names, so the longest it reads is used.
    long_name = "é" * 127
    image = ext4_image(tmp_path, lambda src: write(src / "d" / long_name, b"long\n"))
    out = tmp_path / "out"
    code, _o, err = run("extract", str(image), "d0:/d", "-o", str(out))
    assert code == 0, err
    assert (out / "d" / long_name).read_bytes() == b"long\n"
    assert os.listdir(out / "d") == [long_name]  # no temporary file left


# -- 6. links that climb out through other links ---------------------------------------------------------------


def link_tree(src: Path) -> None:
    write(src / "hello.txt", b"hello\n")
    os.symlink(".", src / "dot")
    os.symlink("dot/dot/dot/../../..", src / "chain")  # lexically inside; through dot -> . it climbs out
    os.symlink("dot/dot/hello.txt", src / "ok")
    (src / "deep/inner").mkdir(parents=True)
    os.symlink("../../..", src / "deep/inner/up3")  # out/d0/deep/inner -> out: inside
    os.symlink("inner/up3/../../../..", src / "deep/up-chain")  # through up3: 4 levels above out
    os.symlink("up-chain", src / "deep/to-up-chain")


def test_links_that_climb_out_through_other_links_are_not_created(tmp_path: Path) -> None:
    image = ext4_image(tmp_path, link_tree)
    out = tmp_path / "work" / "a" / "b" / "out"
    code, data, err = run("extract", str(image), "d0:/", "-o", str(out), "--json")
    assert code == 1, err
    skipped = {s["path"]: s["reason"] for s in json.loads(data)["skipped"]}
    assert sorted(skipped) == ["d0:/chain", "d0:/deep/to-up-chain", "d0:/deep/up-chain"]
    assert "leads outside the output folder through the links it passes" in skipped["d0:/chain"]
    root = os.path.realpath(out)
    created = [p for p in out.rglob("*") if p.is_symlink()]
    assert sorted(p.name for p in created) == ["dot", "ok", "up3"]
    for link in created:
        assert os.path.realpath(link) == root or os.path.realpath(link).startswith(root + os.sep), link
    assert (out / "d0/ok").read_bytes() == b"hello\n"
    # a second run sees the links it made and refuses the same ones
    code, data, _err = run("extract", str(image), "d0:/", "-o", str(out), "--json")
    assert code == 1 and len(json.loads(data)["skipped"]) == 3 and json.loads(data)["unchanged"] >= 4


def test_a_link_already_in_the_output_counts_too(tmp_path: Path) -> None:
    image = ext4_image(tmp_path, lambda src: os.symlink("d/d/../..", src / "climb"))
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(".", out / "d")  # left by the user or an earlier run
    code, _o, err = run("extract", str(image), "d0:/climb", "-o", str(out))
    assert code == 1 and "Skipped: d0:/climb: symbolic link to 'd/d/../..' not created" in err
    assert not os.path.lexists(out / "climb")


def test_an_unreadable_folder_is_reported_once_and_the_rest_restored(tmp_path: Path) -> None:
    def tree(src: Path) -> None:
        write(src / "bad/victim-entry.txt", b"lost\n")
        write(src / "good.txt", b"good\n")

    image = ext4_image(tmp_path, tree)
    data = bytearray(image.read_bytes())
    at = data.find(b"victim-entry.txt")  # its directory entry: inode (4), rec_len (2), name_len, type, name
    data[at - 4 : at - 2] = (3).to_bytes(2, "little")  # a record length no entry can have
    image.write_bytes(bytes(data))
    out = tmp_path / "out"
    code, report, err = run("extract", str(image), "d0:/", "-o", str(out), "--json")
    assert code == 1, err
    assert [f["path"] for f in json.loads(report)["failed"]] == ["d0:/bad"]
    assert (out / "d0/good.txt").read_bytes() == b"good\n"


def test_verify_does_not_hash_the_holes_of_a_file_larger_than_its_volume(tmp_path: Path) -> None:
    """A 3 GiB sparse file on an 8 MiB volume (as /var/log/lastlog, or a damaged size field, can be): --verify
    restores it sparse but does not spend minutes hashing zeros; it says so and exits 1. The other files are
    hashed as usual."""
    def make(src: Path) -> None:
        write(src / "small.txt", b"small\n")
        with open(src / "big.sparse", "wb") as f:
            f.truncate(3 << 30)
            f.seek((3 << 30) - 6)
            f.write(b"tail!\n")

    image = ext4_image(tmp_path, make)
    out = tmp_path / "out"
    code, _o, err = run("extract", str(image), "d0:/", "-o", str(out), "--verify")
    assert code == 1, err
    assert "d0:/big.sparse: restored, but not in SHA256SUMS" in err and "larger than its volume" in err
    big = out / "d0" / "big.sparse"
    assert big.stat().st_size == 3 << 30 and big.stat().st_blocks * 512 < 1 << 20
    with open(big, "rb") as f:
        f.seek((3 << 30) - 6)
        assert f.read() == b"tail!\n"
    sums = (out / "SHA256SUMS").read_text()
    assert "small.txt" in sums and "big.sparse" not in sums
    # Run again: the restored copy is found identical, and still not hashed.
    code, _o, err = run("extract", str(image), "d0:/", "-o", str(out), "--verify")
    assert code == 1 and "d0:/big.sparse: restored, but not in SHA256SUMS" in err, err

    tar_file = tmp_path / "x.tar"
    code, _o, err = run("extract", str(image), "d0:/", "--tar", str(tar_file), "--verify")
    assert code == 1 and "d0:/big.sparse: restored, but not in SHA256SUMS" in err, err
    with tarfile.open(tar_file) as tar:
        names = tar.getnames()
        sums_member = next(n for n in names if n.endswith("SHA256SUMS"))
        listed = tar.extractfile(sums_member).read().decode()  # type: ignore[union-attr]
    assert "small.txt" in listed and "big.sparse" not in listed
    assert tar_file.stat().st_size < 1 << 20
