"""Damaged and odd file systems, built at test time with real tools and then patched byte by byte.

mkntfs / ntfs-3g (package ntfs-3g), mke2fs / debugfs (e2fsprogs), mkfs.fat (dosfstools) with mtools, mkfs.xfs
(xfsprogs). A test whose tool is missing is skipped, naming the Debian package; the ntfs-3g FUSE mount is needed
only where a test says so.

What they pin: ``fileAccess`` means the root folder was listed (a cut-off NTFS, the BitLocker images of
../shared), a file system larger than its volume is warned about and its cut-off files fail by name, directory
cycles end with a warning and exit 1, pyfsext's nameless 255-byte names, damaged directory entries, a bad MFT
record size, NTFS times past year 9999 and named streams on NTFS folders.
"""

from __future__ import annotations

import contextlib
import json
import re
import struct
import subprocess
import sys
import tarfile
from typing import TYPE_CHECKING

import pytest

from restorekit.fs.entry import iso_time
from restorekit.fs.errors import FilesystemError
from restorekit.fs.filesystems.ext import raw_dir_entries
from tests.conftest import gunzip_to, require_tool, shared
from tests.fs.volume_images import BITLOCKER_PASSWORD, BITLOCKER_RECOVERY, scan_files

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path



def need(*tools: str) -> None:
    for tool in tools:
        require_tool(tool)


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def run(*args: str, timeout: int = 120) -> tuple[int, str, str]:
    """The CLI in a process of its own; a walk that never ends fails the test at ``timeout``."""
    proc = subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, timeout=timeout,
                          check=False)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def one_line_error(code: int, err: str) -> None:
    assert code == 1 and "Traceback" not in err and err.startswith("Error: "), err


def place(tmp_path: Path, name: str) -> Path:
    """``tmp_path/img/name``: images get a folder of their own, so outputs beside it are outside the recovery
    point."""
    folder = tmp_path / "img"
    folder.mkdir(exist_ok=True)
    return folder / name


def mkntfs(path: Path, size: str = "16M") -> Path:
    need("mkntfs")
    subprocess.run(["truncate", "-s", size, str(path)], check=True)
    sh("mkntfs", "-q", "-F", "-Q", "-L", "T", str(path))
    return path


@contextlib.contextmanager
def ntfs_mounted(image: Path, *options: str) -> Iterator[Path]:
    """The image mounted read-write through ntfs-3g (FUSE); skipped where FUSE is not available."""
    need("ntfs-3g")
    mount = image.parent / f"{image.stem}.mnt"
    mount.mkdir()
    opts = ",".join(("rw", *options))
    proc = subprocess.run(["ntfs-3g", "-o", opts, str(image), str(mount)], capture_output=True, text=True,
                          check=False)
    if proc.returncode:
        pytest.skip(f"ntfs-3g cannot mount here (FUSE): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        mount.rmdir()


def mke2fs(path: Path, tree: Path, size: str = "8M") -> Path:
    need("mke2fs")
    sh("mke2fs", "-q", "-F", "-t", "ext4", "-d", str(tree), str(path), size)
    return path


def ext_dir_block(image: Path, folder: str) -> int:
    """Byte offset of the first block of ``folder`` (1 KiB blocks, as mke2fs makes for small images)."""
    need("debugfs")
    return int(sh("debugfs", "-R", f"blocks {folder}", str(image)).split()[0]) * 1024


def patch(image: Path, offset: int, data: bytes) -> None:
    with open(image, "r+b") as f:
        f.seek(offset)
        f.write(data)


def dirent_at(image: Path, block: int, name: bytes) -> int:
    """Offset of the ext4 directory entry called ``name`` in the directory block at ``block``."""
    data = image.read_bytes()[block : block + 1024]
    pos = 0
    while pos < len(data):
        rec_len, name_len = struct.unpack_from("<HB", data, pos + 4)
        if data[pos + 8 : pos + 8 + name_len] == name:
            return block + pos
        pos += rec_len
    raise AssertionError(f"no entry {name!r}")


# -- 1. fileAccess means the root folder was listed -------------------------------------------------------------

def test_truncated_ntfs_has_no_file_access(tmp_path: Path) -> None:
    image = mkntfs(place(tmp_path, "ntfs.img"))
    subprocess.run(["truncate", "-s", "1M", str(image)], check=True)  # the MFT opens, the root index is cut off
    volumes, _ = scan_files([image])
    info = volumes["d0"].to_dict()
    assert info["filesystem"] == "ntfs" and info["fileAccess"] is False
    assert any("d0: /: ntfs file system cannot be read" in w for w in info["warnings"])
    assert any("says it is 16776704 bytes but the volume holds only 1048576" in w for w in info["warnings"])

    code, out, err = run("find", str(image), "**/*", "--json")
    assert (code, json.loads(out)) == (1, []) and "d0: /: ntfs file system cannot be read" in err
    assert "volume skipped" in err
    for args in (("ls", str(image), "d0:/"), ("ls", str(image), "d0:/", "-r"), ("find", str(image), "d0:/**/*")):
        one_line_error(*run(*args)[::2])
    code, out, _err = run("plan", str(image), "--json", "--option", "files")
    rk = json.loads(out)["options"][0]["restorekit"]
    assert rk["canRecover"] is False and rk["readableVolumes"] == [] and "cannot list the files of d0" in rk["note"]
    code, out, _err = run("plan", str(image), "--option", "files")
    assert "restorekit: cannot recover" in out


@pytest.mark.parametrize(("name", "flag", "key"), [
    ("aes-xts_128", "--password", BITLOCKER_PASSWORD),
    ("recovery_password", "--recovery-password", BITLOCKER_RECOVERY),
    ("recovery_key", "--bek", "recovery_key.bek"),
])
def test_unlocked_bitlocker_with_cut_off_ntfs_is_not_recoverable(tmp_path: Path, name: str, flag: str,
                                                                  key: str) -> None:
    image = gunzip_to(shared(f"bitlocker/{name}.bin.gz"), place(tmp_path, "").parent)
    if flag == "--bek":
        key = str(shared(f"bitlocker/{key}"))
    code, out, _err = run("inspect", str(image), flag, key, "--json")
    (volume,) = json.loads(out)["volumes"]
    assert (code, volume["locked"], volume["filesystem"], volume["fileAccess"]) == (0, False, "ntfs", False)
    code, out, err = run("find", str(image), "**/*", "--json", flag, key)
    assert (code, json.loads(out)) == (1, []) and "volume skipped" in err
    code, out, _err = run("plan", str(image), "--option", "files", flag, key)
    assert "restorekit: cannot recover" in out
    code, out, err = run("find", str(image), "**/*")  # no key: the locked volume is named as skipped
    assert (code, out) == (1, "") and "locked" in err and "volume skipped" in err


def test_a_whole_volume_has_file_access(tmp_path: Path) -> None:
    image = mkntfs(place(tmp_path, "ntfs.img"))
    volumes, _ = scan_files([image])
    assert volumes["d0"].to_dict()["fileAccess"] is True and volumes["d0"].warnings == []


# -- 2. a file system larger than its volume --------------------------------------------------------------------

def test_truncated_ext4_warns_and_cut_off_files_fail_by_name(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.bin").write_bytes(bytes(range(256)) * 12000)  # 3 MB, past 4 MiB in an 8 MiB ext4
    image = mke2fs(place(tmp_path, "ext4.img"), tree)
    subprocess.run(["truncate", "-s", "4M", str(image)], check=True)
    volumes, _ = scan_files([image])
    assert any("ext4 says it is 8388608 bytes but the volume holds only 4194304" in w for w in volumes["d0"].warnings)
    code, out, err = run("cat", str(image), "d0:/big.bin")
    one_line_error(code, err)
    assert out == "" and "d0: /big.bin: bytes 0-3072000 of the file" in err and "past the end of the volume" in err
    code, _out, err = run("extract", str(image), "d0:/", "-o", str(tmp_path / "out"))
    assert code == 1 and "Error: d0:/big.bin:" in err and "past the end of the volume" in err


def test_truncated_xfs_warns(tmp_path: Path) -> None:
    need("mkfs.xfs")
    image = place(tmp_path, "xfs.img")
    subprocess.run(["truncate", "-s", "300M", str(image)], check=True)
    sh("mkfs.xfs", "-q", str(image))
    subprocess.run(["truncate", "-s", "100M", str(image)], check=True)
    _code, out, _err = run("inspect", str(image))
    assert "xfs says it is 314572800 bytes but the volume holds only 104857600" in out


# -- 3. directory cycles ---------------------------------------------------------------------------------------

def cycle_commands(image: Path, tmp_path: Path, top: str, looping: str) -> None:
    """ls -r, find, extract and extract --tar end, warn naming the looping folder, and exit 1."""
    for name, args in (("ls", ("ls", f"d0:{top}", "-r")), ("find", ("find", f"d0:{top}/**/*")),
                       ("extract", ("extract", f"d0:{top}", "-o", str(tmp_path / "out"))),
                       ("tar", ("extract", f"d0:{top}", "--tar", str(tmp_path / "out.tar")))):
        code, out, err = run(args[0], str(image), *args[1:], timeout=60)
        assert code == 1, (name, err)
        assert looping in err and "directory cycle" in err, (name, err)
        assert "Traceback" not in err
        if name == "ls":
            assert out.count(f"{looping}/") == 1  # listed once, not entered


def test_ext4_entry_pointing_at_an_ancestor(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "cyca" / "cycb" / "deep").mkdir(parents=True)
    (tree / "cyca" / "cycb" / "deep" / "f").write_text("x")
    image = mke2fs(place(tmp_path, "ext4.img"), tree)
    entry = dirent_at(image, ext_dir_block(image, "/cyca/cycb"), b"deep")
    patch(image, entry, struct.pack("<I", 2))  # /cyca/cycb/deep -> the root folder (inode 2)
    cycle_commands(image, tmp_path, "/", "/cyca/cycb/deep")


def test_ext4_renamed_dotdot(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "cyca" / "cycb").mkdir(parents=True)
    image = mke2fs(place(tmp_path, "ext4.img"), tree)
    entry = dirent_at(image, ext_dir_block(image, "/cyca/cycb"), b"..")
    patch(image, entry + 8, b"up")  # ".." renamed "up": a folder entry leading to its parent
    cycle_commands(image, tmp_path, "/cyca", "/cyca/cycb/up")


def test_fat_subfolder_whose_cluster_is_an_ancestors(tmp_path: Path) -> None:
    need("mkfs.fat", "mmd")
    image = place(tmp_path, "fat.img")
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    sh("mkfs.fat", "-F", "16", str(image))
    sh("mmd", "-i", str(image), "::CYCA", "::CYCA/CYCB", "::CYCA/CYCB/DEEP")
    data = image.read_bytes()
    cyca = data.index(b"CYCA       \x10")
    deep = data.index(b"DEEP       \x10")
    patch(image, deep + 26, data[cyca + 26 : cyca + 28])  # DEEP's first cluster := CYCA's
    cycle_commands(image, tmp_path, "/", "/CYCA/CYCB/DEEP")


def test_ntfs_index_entry_referencing_an_ancestor(tmp_path: Path) -> None:
    image = mkntfs(place(tmp_path, "ntfs.img"))
    with ntfs_mounted(image) as mount:
        (mount / "cyca" / "cycb").mkdir(parents=True)
    data = image.read_bytes()

    def index_entry(name: str) -> int:
        """Offset of the $I30 index entry (not the MFT $FILE_NAME) naming ``name``: its file reference."""
        utf16 = name.encode("utf-16-le")
        for match in re.finditer(re.escape(utf16), data):
            start = match.start() - 0x52
            if data[match.start() - 2] == len(name) and data[start + 8 : start + 10] != b"\x00\x00" and \
                    struct.unpack_from("<H", data, start + 8)[0] >= 0x52 + len(utf16):
                return start
        raise AssertionError(f"no index entry for {name}")

    cyca, cycb = index_entry("cyca"), index_entry("cycb")
    patch(image, cycb, data[cyca : cyca + 8])  # /cyca/cycb -> /cyca's MFT record
    cycle_commands(image, tmp_path, "/", "/cyca/cycb")


def test_walk_reports_a_cycle_through_onerror_or_raises(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    image = mke2fs(place(tmp_path, "ext4.img"), tree)
    patch(image, dirent_at(image, ext_dir_block(image, "/a"), b"b"), struct.pack("<I", 2))
    volumes, _ = scan_files([image])
    fs = volumes["d0"].fs
    assert fs is not None
    errors: list[FilesystemError] = []
    paths = [e.path for e in fs.walk(fs.stat("/"), errors.append)]
    assert paths.index("/a") < paths.index("/a/b") and paths.count("/a/b") == 1
    assert [e.path for e in errors] == ["/a/b"]
    with pytest.raises(FilesystemError, match="directory cycle"):
        list(fs.walk(fs.stat("/")))


def test_a_name_with_a_slash_stays_one_component(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "xetc").write_text("not /etc")
    image = mke2fs(place(tmp_path, "ext4.img"), tree)
    patch(image, dirent_at(image, ext_dir_block(image, "/d"), b"xetc") + 8, b"/etc")
    volumes, _ = scan_files([image])
    fs = volumes["d0"].fs
    assert fs is not None
    (entry,) = fs.listdir(fs.stat("/d"))
    assert (entry.name, entry.path) == ("/etc", "/d//etc")


# -- 4. names pyfsext gives as None ---------------------------------------------------------------------------

ASCII_255 = "a" * 255
UTF8_255 = "é" * 127 + "x"


def test_ext4_255_byte_names(tmp_path: Path) -> None:
    assert len(UTF8_255.encode()) == 255
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / ASCII_255).write_text("ascii")
    (tree / UTF8_255).write_text("utf-8")
    (tree / "short").write_text("short")
    image = mke2fs(place(tmp_path, "ext4.img"), tree)
    code, out, err = run("ls", str(image), "d0:/", "-r")
    assert code == 0 and set(out.splitlines()) == {f"/{ASCII_255}", f"/{UTF8_255}", "/short", "/lost+found/"}, err
    assert run("cat", str(image), f"d0:/{UTF8_255}")[1] == "utf-8"
    assert run("cat", str(image), f"d0:/{ASCII_255}")[1] == "ascii"


def test_ext4_damaged_entry_is_reported_and_the_others_listed(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("before", "bad", "after"):
        (tree / name).write_text(name)
    image = mke2fs(place(tmp_path, "ext4.img"), tree)
    entry = dirent_at(image, ext_dir_block(image, "/"), b"bad")
    rec_len = struct.unpack_from("<H", image.read_bytes(), entry + 4)[0]
    patch(image, entry + 6, bytes([rec_len]))  # name length past the record
    code, out, err = run("ls", str(image), "d0:/", "-r")
    assert code == 1 and set(out.splitlines()) == {"/before", "/after", "/lost+found/"}
    assert f"name length {rec_len} is more than its record of {rec_len} bytes holds" in err and "d0: /:" in err
    code, out, err = run("find", str(image), "d0:/**/*")
    assert code == 1 and "/after" in out and "inode" in err
    code, _out, err = run("extract", str(image), "d0:/", "-o", str(tmp_path / "out"))
    assert code == 1 and (tmp_path / "out" / "d0" / "after").read_text() == "after"


def test_raw_dir_entries_of_a_synthesized_block() -> None:
    block = (struct.pack("<IHBB", 2, 12, 1, 2) + b".\0\0\0" + struct.pack("<IHBB", 2, 12, 2, 2) + b"..\0\0"
             + struct.pack("<IHBB", 12, 16, 5, 1) + b"hello\0\0\0" + struct.pack("<IHBB", 0, 12, 0, 0) + bytes(4)
             + struct.pack("<IHBB", 13, 12, 9, 1) + b"long")
    block += struct.pack("<IHBB", 14, 1024 - len(block), 3, 1) + b"end"
    block += bytes(1024 - len(block))
    assert list(raw_dir_entries(block, 4096)) == [
        (12, "hello", ""), (13, None, "name length 9 is more than its record of 12 bytes holds, at volume offset "
                                      "4148"), (14, "end", "")]


# -- 5. NTFS boot sector and times ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0x00, 0x80, 0xFF, 0x7F])
def test_ntfs_bad_mft_record_size_is_a_clear_error(tmp_path: Path, value: int) -> None:
    image = mkntfs(place(tmp_path, "ntfs.img"))
    patch(image, 0x40, bytes([value]))
    volumes, _ = scan_files([image])
    assert volumes["d0"].fs is None
    assert any(f"MFT record size byte 0x{value:02x}" in w for w in volumes["d0"].warnings)
    code, _out, err = run("ls", str(image), "d0:/")
    one_line_error(code, err)
    assert "MFT record size byte" in err
    code, out, err = run("find", str(image), "**/*")  # every volume: the damaged one is named as skipped
    assert (code, out) == (1, "") and "MFT record size byte" in err and "volume skipped" in err


def test_ntfs_times_past_year_9999(tmp_path: Path) -> None:
    need("touch")
    image = mkntfs(place(tmp_path, "ntfs.img"))
    with ntfs_mounted(image) as mount:
        (mount / "far.txt").write_text("far")
        subprocess.run(["touch", "-d", "@500000000000", str(mount / "far.txt")], check=True)  # year 17814
    code, out, err = run("ls", str(image), "d0:/", "-l")
    assert code == 0 and "out of range (500000000000000000000 ns since 1970) far.txt" in out, err
    code, out, err = run("ls", str(image), "d0:/", "--json")
    assert code == 0 and json.loads(out)[0]["mtime"] == "out of range (500000000000000000000 ns since 1970)", err
    code, _out, err = run("extract", str(image), "d0:/far.txt", "--tar", str(tmp_path / "far.tar"))
    assert code == 0, err


@pytest.mark.parametrize("record", [5, 64], ids=["root", "file"])
def test_ntfs_record_without_standard_information(tmp_path: Path, record: int) -> None:
    """A record whose $STANDARD_INFORMATION is gone (its type rewritten, as the fuzzer did): pyfsntfs gives no
    attribute flags or times, and the entry is still listed instead of a TypeError."""
    image = mkntfs(place(tmp_path, "ntfs.img"))
    if record != 5:
        with ntfs_mounted(image) as mount:
            (mount / "plain.txt").write_text("plain")
    boot = image.read_bytes()[:512]
    cluster = struct.unpack_from("<H", boot, 0x0B)[0] * boot[0x0D]
    at = struct.unpack_from("<Q", boot, 0x30)[0] * cluster + record * 1024
    first = struct.unpack_from("<H", image.read_bytes()[at : at + 1024], 0x14)[0]
    assert struct.unpack_from("<I", image.read_bytes(), at + first)[0] == 0x10  # $STANDARD_INFORMATION
    patch(image, at + first, struct.pack("<I", 0x18))
    for args in (("inspect", str(image), "--json"), ("ls", str(image), "d0:/", "-r", "-l", "--json")):
        code, _out, err = run(*args)
        assert code in (0, 1) and "Traceback" not in err, err


def test_iso_time_range() -> None:
    assert iso_time(0) == "1970-01-01T00:00:00Z"
    assert iso_time(10**21) == f"out of range ({10**21} ns since 1970)"


# -- 6. named streams on NTFS folders -------------------------------------------------------------------------

def test_ntfs_folder_streams(tmp_path: Path) -> None:
    image = mkntfs(place(tmp_path, "ntfs.img"))
    with ntfs_mounted(image, "streams_interface=windows") as mount:
        (mount / "OneDrive").mkdir()
        (mount / "OneDrive:{GUID}.SyncRootIdentity").write_bytes(b"sync-root-id\n")
    code, out, err = run("ls", str(image), "d0:/", "-l")
    assert code == 0 and "OneDrive/  [streams: {GUID}.SyncRootIdentity]" in out, err
    code, out, err = run("ls", str(image), "d0:/", "--json")
    assert json.loads(out)[0]["streams"] == ["{GUID}.SyncRootIdentity"]
    code, out, err = run("cat", str(image), "d0:/OneDrive:{GUID}.SyncRootIdentity")
    assert (code, out) == (0, "sync-root-id\n"), err
    code, out, err = run("cat", str(image), "d0:/OneDrive")
    one_line_error(code, err)
    assert "is a dir, not a file" in err

    out_dir = tmp_path / "out"
    code, _out, err = run("extract", str(image), "d0:/OneDrive:{GUID}.SyncRootIdentity", "-o", str(out_dir))
    assert code == 0 and (out_dir / "OneDrive.{GUID}.SyncRootIdentity").read_bytes() == b"sync-root-id\n", err
    code, _out, err = run("extract", str(image), "d0:/", "--streams", "-o", str(out_dir / "all"))
    assert code == 0 and (out_dir / "all" / "d0" / "OneDrive").is_dir(), err
    assert (out_dir / "all" / "d0" / "OneDrive.{GUID}.SyncRootIdentity").read_bytes() == b"sync-root-id\n"
    code, _out, err = run("extract", str(image), "d0:/", "--streams", "--tar", str(tmp_path / "out.tar"))
    with tarfile.open(tmp_path / "out.tar") as tar:
        member = tar.getmember("d0/OneDrive:{GUID}.SyncRootIdentity")
        assert member.isfile() and member.mode == 0o644 and tar.getmember("d0/OneDrive").isdir()
        assert tar.extractfile(member).read() == b"sync-root-id\n"  # type: ignore[union-attr]
