"""XFS: symbolic link targets read by restorekit itself, and superblocks checked before use.

Images are made at test time with ``mkfs.xfs -p PROTOFILE`` (Debian package xfsprogs), holding links of 100
(in the inode), 500 and 1023 bytes (in a block), on v5 (CRC) and v4 file systems. mkfs.xfs 6.1 writes a v5
remote link's block without its ``xfs_dsymlink_hdr`` (``xfs_repair -n`` then rejects the image), so on v5 each
long link is made 56 bytes longer with a placeholder prefix and ``xfs_db -x`` turns the prefix into the header
the kernel writes (magic, offset, bytes, UUID, owner, disk address; xfs_db computes the CRC) and sets the
size back. ``xfs_repair -n`` then passes the image: it is exactly what a kernel-made link looks like.
Before restorekit read targets itself, pyfsxfs returned such links as ``XSLM``.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import crc32c
import pytest
from click.testing import CliRunner

from fixtures.build_files import mkfs_xfs, xfs_db, xfs_proto
from restorekit.cli import cli
from restorekit.fs.errors import FilesystemError
from restorekit.fs.filesystems.xfs import XfsGeometry, parse_superblock
from restorekit.fs.filesystems.xfs_symlink import HEADER, extents, remote_target
from restorekit.fs.stream import MemorySource

LENGTHS = (100, 500, 1023)
#: Room for a target inside a v5 inode (512 bytes less the 176-byte v3 core).
V5_INLINE = 512 - 176
HEADER_SIZE = 56

pytestmark = pytest.mark.skipif(not (shutil.which("mkfs.xfs") and shutil.which("xfs_db")),
                                reason="mkfs.xfs and xfs_db are not installed (Debian package xfsprogs)")


def target(length: int) -> str:
    """A relative link target of ``length`` bytes, different at every position (no white space: protofile)."""
    text = "".join(f"d{i:03d}/" for i in range(length // 5 + 1))
    return text[: length - 1] + "Z"


def run(*args: str) -> tuple[int, bytes, str]:
    proc = subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, check=False, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr.decode()


def build(folder: Path, version: int, *options: str) -> Path:
    """An XFS image (v5 or v4, mkfs.xfs ``options`` added) in a new ``folder`` with links ``l100``, ``l500``,
    ``l1023`` and a file; checked clean by ``xfs_repair -n``. Outputs go beside ``folder``: restorekit writes
    nothing in an image's folder."""
    folder.mkdir()
    src = folder / "src"
    src.mkdir()
    (src / "file.txt").write_bytes(b"data\n")
    for length in LENGTHS:
        pad = "#" * HEADER_SIZE if version == 5 and length > V5_INLINE else ""
        os.symlink(pad + target(length), src / f"l{length}")
    proto = folder / "xfs.proto"
    proto.write_text(xfs_proto(src), encoding="utf-8")
    image = folder / "xfs.img"
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    try:
        mkfs_xfs(image, proto, *(() if version == 5 else ("-m", "crc=0")), *options)
    except subprocess.CalledProcessError as exc:
        if version == 4 or options:
            pytest.skip(f"this mkfs.xfs cannot make it: {exc.stderr.decode().strip()}")
        raise
    if version == 5:
        fs_uuid = xfs_db(image, "sb 0", "p uuid").split("=")[1].strip()
        for length in LENGTHS:
            if length > V5_INLINE:
                write_header(image, f"/l{length}", length, fs_uuid)
    check = subprocess.run(["xfs_repair", "-n", "-f", "-o", "force_geometry", str(image)], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    return image


def write_header(image: Path, path: str, length: int, fs_uuid: str) -> None:
    """Turn the 56-byte prefix of the v5 link at ``path`` into its ``xfs_dsymlink_hdr`` (see the module doc)."""
    inode = re.search(r"current inode number is (\d+)", xfs_db(image, f"path {path}", "inode"))
    daddr = re.search(r"buffer block (\d+)", xfs_db(image, f"path {path}", "dblock 0", "stack"))
    assert inode and daddr
    fields = {"offset": "0", "bytes": str(length), "uuid": fs_uuid, "owner": inode[1], "bno": daddr[1], "lsn": "0"}
    xfs_db(image, f"path {path}", f"write core.size {length}", "dblock 0", "type symlink",
           "write -d magic 0x58534c4d", *(f"write -d {k} {v}" for k, v in fields.items()),
           "write magic 0x58534c4d", mode="-x")  # a checked write: the header is whole, xfs_db sets the CRC


@pytest.fixture(params=[(5,), (5, "-i", "nrext64=1"), (4,)], ids=["v5", "v5-nrext64", "v4"])
def image(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """v5, v5 with 64-bit extent counters (the count moves in the inode), v4."""
    return build(tmp_path / "img", *request.param)


def test_long_links_ls_extract_tar(image: Path, tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    guard = readonly([image])
    code, out, err = run("ls", str(image), "d0:/", "-l")
    assert code == 0, err
    for length in LENGTHS:
        assert f" l{length} -> {target(length)}\n" in out.decode()
    code, _out, err = run("extract", str(image), "d0:/", "-o", str(tmp_path / "out"))
    assert code == 0, err
    for length in LENGTHS:
        assert os.readlink(tmp_path / "out" / "d0" / f"l{length}") == target(length)
    code, _out, err = run("extract", str(image), "d0:/", "--tar", str(tmp_path / "out.tar"))
    assert code == 0, err
    with tarfile.open(tmp_path / "out.tar") as tar:
        for length in LENGTHS:
            assert tar.getmember(f"d0/l{length}").linkname == target(length)
    guard.check()


def flip(image: Path, offset: int) -> None:
    """Invert the byte at ``offset`` of ``image``."""
    with open(image, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_damaged_links_fail_alone(tmp_path: Path) -> None:
    image = build(tmp_path / "img", 5)
    block = re.search(r"buffer block (\d+)", xfs_db(image, "path /l500", "dblock 0", "stack"))
    inode = re.search(r"byte offset (\d+)", xfs_db(image, "path /l100", "stack"))
    assert block and inode
    flip(image, int(block[1]) * 512 + 20)  # one byte of l500's block header (its UUID)
    flip(image, int(inode[1]) + 140)  # one byte of the unused v3 padding of l100's inode (its CRC then fails)
    code, out, err = run("ls", str(image), "d0:/", "-l")
    assert code == 1
    assert " l500 -> ?\n" in out.decode() and " l100 -> ?\n" in out.decode()
    assert f" l1023 -> {target(1023)}\n" in out.decode()
    assert err.count("\n") == 2 and "d0: /l500: symbolic link cannot be read" in err and "CRC32C" in err, err
    assert "d0: /l100: symbolic link cannot be read: inode" in err, err
    code, _out, err = run("extract", str(image), "d0:/", "-o", str(tmp_path / "out"))
    assert code == 1 and "d0:/l500: symbolic link cannot be read" in err and "Traceback" not in err, err
    assert not os.path.lexists(tmp_path / "out" / "d0" / "l500")
    assert os.readlink(tmp_path / "out" / "d0" / "l1023") == target(1023)
    code, _out, err = run("extract", str(image), "d0:/", "--tar", str(tmp_path / "out.tar"))
    assert code == 1 and "d0:/l500: symbolic link cannot be read" in err, err
    with tarfile.open(tmp_path / "out.tar") as tar:
        assert "d0/l500" not in tar.getnames() and tar.getmember("d0/l1023").linkname == target(1023)


# -- remote blocks as the kernel lays them out, where mkfs.xfs cannot (several extents, 1 KiB blocks) ----------

def geometry(crc: bool, block: int = 1024) -> XfsGeometry:
    return XfsGeometry(version=5 if crc else 4, block_size=block, sector_size=512, inode_size=512, ag_blocks=1024,
                       ag_count=1, ag_block_log=10, inode_per_block_log=1, dblocks=1024, free_blocks=0,
                       uuid=b"u" * 16, meta_uuid=b"u" * 16, label="")


def v5_buffer(geo: XfsGeometry, blocks: int, address: int, ino: int, offset: int, piece: bytes) -> bytes:
    """One extent's buffer with its header and CRC, as xfs_symlink_write_target lays it out."""
    head = HEADER.pack(b"XSLM", offset, len(piece), 0, geo.meta_uuid, ino, address // 512, 0)
    body = (head + piece).ljust(blocks * geo.block_size, b"\0")
    return body[:12] + struct.pack("<I", crc32c.crc32c(body)) + body[16:]


def test_target_across_two_extents() -> None:
    geo, ino, text = geometry(crc=True), 133, target(1023).encode()
    disk = bytearray(1024 * 1024)
    first, second = text[: 1024 - HEADER_SIZE], text[1024 - HEADER_SIZE :]
    disk[10 * 1024 : 11 * 1024] = v5_buffer(geo, 1, 10 * 1024, ino, 0, first)
    disk[40 * 1024 : 41 * 1024] = v5_buffer(geo, 1, 40 * 1024, ino, len(first), second)
    stream = MemorySource("disk", bytes(disk))
    assert remote_target(stream, geo, ino, len(text), [(0, 10, 1), (1, 40, 1)]) == text  # type: ignore[arg-type]
    # one extent of two blocks is one buffer with one header, as the kernel writes it
    disk[60 * 1024 : 62 * 1024] = v5_buffer(geo, 2, 60 * 1024, ino, 0, text)
    assert remote_target(MemorySource("disk", bytes(disk)), geo, ino, len(text), [(0, 60, 2)]) == text  # type: ignore[arg-type]
    with pytest.raises(FilesystemError, match="owner inode 133, not 134"):
        remote_target(stream, geo, 134, len(text), [(0, 10, 1), (1, 40, 1)])  # type: ignore[arg-type]
    with pytest.raises(FilesystemError, match="hold 968 of its 1023"):
        remote_target(stream, geo, ino, len(text), [(0, 10, 1)])  # type: ignore[arg-type]


def test_v4_target_across_blocks() -> None:
    geo, text = geometry(crc=False, block=512), target(1000).encode()
    disk = bytes(512 * 5) + text[:512] + bytes(512 * 3) + text[512:].ljust(512, b"\0")
    stream = MemorySource("disk", disk.ljust(512 * 1024, b"\0"))
    assert remote_target(stream, geo, 7, len(text), [(0, 5, 1), (1, 9, 1)]) == text  # type: ignore[arg-type]


def test_extent_records() -> None:
    record = (0 << 127) | (3 << 73) | (123456 << 21) | 2
    assert extents(record.to_bytes(16, "big"), 1) == [(3, 123456, 2)]


# -- superblocks ------------------------------------------------------------------------------------------------

def test_short_xfsb_file_is_not_xfs(tmp_path: Path) -> None:
    path = tmp_path / "short.img"
    path.write_bytes(b"XFSB\0\0\x10\0")
    code, _out, err = run("inspect", str(path))
    assert "Traceback" not in err and code in (0, 1), err
    with pytest.raises(FilesystemError, match="not a whole superblock"):
        parse_superblock(b"XFSB\0\0\x10\0")


#: (field, offset, struct format, value) mutations of a real superblock: each must give one clear line.
MUTATIONS = [
    ("blocksize", 4, ">I", 3000), ("blocksize", 4, ">I", 1 << 20), ("blocksize", 4, ">I", 0),
    ("dblocks", 8, ">Q", 0), ("dblocks", 8, ">Q", 1 << 62), ("rootino", 56, ">Q", 1 << 60),
    ("agblocks", 84, ">I", 0), ("agblocks", 84, ">I", 0xFFFFFFFF), ("agcount", 88, ">I", 0),
    ("agcount", 88, ">I", 0xFFFFFFFF), ("versionnum", 100, ">H", 0xB4A7), ("sectsize", 102, ">H", 100),
    ("inodesize", 104, ">H", 0), ("inodesize", 104, ">H", 384), ("inopblock", 106, ">H", 0),
    ("blocklog", 120, ">B", 31), ("inopblog", 123, ">B", 0), ("agblklog", 124, ">B", 60),
]


def test_mutated_superblock_gives_one_clear_line(tmp_path: Path) -> None:
    clean = build(tmp_path / "img", 5).read_bytes()
    images = []
    for name, offset, fmt, value in MUTATIONS:
        image = tmp_path / "img" / f"{name}-{value}.img"
        data = bytearray(clean)
        struct.pack_into(fmt, data, offset, value)
        image.write_bytes(data)
        images.append(image)
        # inspect lists the disk; the volume carries the damage as its warning
        result = CliRunner().invoke(cli, ["inspect", str(image)])
        assert result.exception is None and result.exit_code == 0, (image.name, result.output)
        assert "XFS superblock is damaged" in result.output, (image.name, result.output)
    with ThreadPoolExecutor(4) as pool:  # ls in processes of their own, with a time limit against hangs
        results = list(pool.map(lambda image: run("ls", str(image), "d0:/", "-r"), images))
    for image, (code, _out, err) in zip(images, results, strict=True):
        assert code == 1 and err.count("\n") == 1 and "XFS superblock is damaged" in err, (image.name, err)


def test_superblock_checksum_mismatch_is_a_warning(tmp_path: Path) -> None:
    image = build(tmp_path / "img", 5)
    data = bytearray(image.read_bytes())
    data[108:112] = b"\xff" * 4  # the label: nothing else depends on it
    image.write_bytes(data)
    code, out, err = run("inspect", str(image))
    assert code == 0 and "XFS superblock checksum does not match" in out.decode(), err
    code, out, err = run("ls", str(image), "d0:/")
    assert code == 0 and b"l1023" in out, err
