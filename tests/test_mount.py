"""``restorekit mount``: the demo, the file fixtures and disks made here by real tools, mounted through FUSE.

What the mount shows is compared with what ``extract`` writes, with ``find`` and ``sha256sum`` over both; writes
must fail with EROFS; Ctrl-C (SIGINT), SIGTERM and ``fusermount -u`` unmount. Drive letters are checked on MBR
and GPT disks built with sfdisk, mkntfs and ntfs-3g, whose SYSTEM hive (hivexregedit) maps ``C:`` and ``D:``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fixtures.build_files import MTIME
from fixtures.volume_parts import empty_hive
from restorekit.browse import Namespace, readable_names
from restorekit.fs.errors import FilesystemError
from restorekit.fs.scan import VolumeInfo
from tests.conftest import FIXTURES, fixture_file, gunzip_to, require_tool, shared

if TYPE_CHECKING:
    from collections.abc import Iterator

DEMO = FIXTURES / "demo"
READY = "Mounted read-only at "


def fuse_tools() -> str:
    """fusermount3 (Debian: fuse3), skipping (failing under CI) when it is not installed."""
    return require_tool("fusermount3")


class Mount:
    """A ``restorekit mount`` process: its stderr is collected as it comes, and :meth:`wait_ready` waits for the
    ready line."""

    def __init__(self, mountpoint: Path, args: list[str]) -> None:
        self.mountpoint = mountpoint
        self.proc = subprocess.Popen([sys.executable, "-m", "restorekit", "mount", *args, str(mountpoint)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.startswith(READY):
                self.ready.set()
        self.ready.set()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_ready(self) -> None:
        assert self.ready.wait(120), "the mount did not get ready in 120 s"
        assert os.path.ismount(self.mountpoint), f"not mounted:\n{self.stderr}"

    def end(self, how: str = "fusermount") -> int:
        """Unmount (``fusermount -u`` or a signal name) and return the exit code."""
        if self.proc.poll() is None:
            if how == "fusermount":
                subprocess.run([fuse_tools(), "-u", str(self.mountpoint)], check=True)
            else:
                self.proc.send_signal(getattr(signal, how))
        code = self.proc.wait(60)
        self.reader.join(10)
        return code


@contextlib.contextmanager
def mounted(tmp_path: Path, *args: str) -> Iterator[Mount]:
    """The recovery point ``args`` mounted at ``tmp_path/mnt``; unmounted at the end whatever happens."""
    fuse_tools()
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    mount = Mount(mountpoint, list(args))
    try:
        mount.wait_ready()
        yield mount
    finally:
        if mount.proc.poll() is None:
            subprocess.run([fuse_tools(), "-u", "-z", str(mountpoint)], check=False)
            mount.proc.wait(60)
        mount.reader.join(10)
        for pipe in (mount.proc.stdout, mount.proc.stderr):
            if pipe is not None:
                pipe.close()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, text=True, check=False,
                          timeout=300)


def listing(root: Path) -> dict[str, str]:
    """``find`` over ``root``: each path with its type, size (files), mtime and link target, and ``sha256sum`` of
    each regular file."""
    found = subprocess.run(["find", ".", "-mindepth", "1", "-printf", r"%P\t%y\t%s\t%T@\t%l\n"], cwd=root,
                           capture_output=True, text=True, check=True, errors="surrogateescape").stdout
    out = {}
    for line in found.splitlines():
        rel, kind, size, mtime, target = line.split("\t")
        out[rel] = f"{kind} {size if kind == 'f' else '-'} {mtime.split('.')[0]} {target}"
    files = [rel for rel, what in out.items() if what.startswith("f ")]
    if files:
        # a file that cannot be read (EIO) gets no sum; check=False keeps the others
        sums = subprocess.run(["sha256sum", "--zero", "--", *files], cwd=root, capture_output=True, text=True,
                              check=False, errors="surrogateescape").stdout
        for line in filter(None, sums.split("\0")):
            digest, rel = line.split("  ", 1)
            out[rel] += " " + digest
    return out


def extracted(tmp_path: Path, image: list[str], volume: str) -> tuple[dict[str, str], dict]:
    """``listing`` of ``extract VOLUME:/ -o``, and the extract's JSON report."""
    out = tmp_path / f"extract-{volume}"
    proc = run("extract", *image, f"{volume}:/", "-o", str(out), "--json")
    return listing(out / volume), json.loads(proc.stdout)


def compare(mount_root: Path, tmp_path: Path, image: list[str], volume: str) -> dict[str, str]:
    """Everything ``extract`` wrote is in the mount, identical; returns what the mount shows besides (the files
    extract skipped or renamed, by their names in the image)."""
    seen = listing(mount_root / volume)
    wrote, report = extracted(tmp_path, image, volume)
    renamed = {r["from"].lstrip("/"): r["to"] for r in report["renamed"]}
    for rel, what in seen.items():
        if rel in renamed:
            parent = os.path.dirname(rel)
            wrote_as = os.path.join(parent, renamed[rel]) if parent else renamed[rel]
            assert wrote[wrote_as] == what, rel
    extra = {rel: what for rel, what in seen.items() if rel not in wrote and rel not in renamed}
    assert all(wrote[rel] == seen[rel] for rel in wrote if rel not in renamed.values()), volume
    assert set(extra) == {s["path"].partition(":/")[2] for s in report["skipped"]}, extra
    return extra


# -- the demo --------------------------------------------------------------------------------------------------


def test_the_demo_mounted_is_what_extract_writes(tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    guard = readonly(sorted((DEMO / "disks").iterdir()))
    with mounted(tmp_path, str(DEMO)) as mount:
        root = mount.mountpoint
        assert sorted(os.listdir(root)) == ["C", "by-label", "lun0-p1", "os-p1", "os-p3"]
        assert os.readlink(root / "C") == "os-p3"
        assert (root / "C" / "Windows" / "System32" / "config" / "SYSTEM").is_file()
        assert {n: os.readlink(root / "by-label" / n) for n in os.listdir(root / "by-label")} == {
            "SYSTEM": "../os-p1", "Windows": "../os-p3", "data": "../lun0-p1"}
        for volume in ("os-p1", "os-p3", "lun0-p1"):
            assert compare(root, tmp_path, [str(DEMO)], volume) == {}
        st = os.stat(root / "lun0-p1" / "srv" / "data" / "customers.csv")
        assert (st.st_size, st.st_mode & 0o7777, st.st_blksize) == (808, 0o644, 1 << 20)
        assert mount.end("fusermount") == 0, mount.stderr
    assert "Unmounted" in mount.stderr and not os.path.ismount(mount.mountpoint)
    guard.check()


def test_nothing_can_be_written(tmp_path: Path) -> None:
    with mounted(tmp_path, str(DEMO)) as mount:
        data = mount.mountpoint / "lun0-p1" / "srv" / "data"
        attempts = [
            lambda: os.open(data / "customers.csv", os.O_RDWR),
            lambda: os.open(data / "new.txt", os.O_WRONLY | os.O_CREAT),
            lambda: os.mkdir(data / "new"),
            lambda: os.unlink(data / "customers.csv"),
            lambda: os.rename(data / "customers.csv", data / "x.csv"),
            lambda: os.chmod(data / "customers.csv", 0o600),
            lambda: os.utime(data / "customers.csv", (0, 0)),
            lambda: os.symlink("customers.csv", data / "link"),
            lambda: os.truncate(data / "customers.csv", 0),
            lambda: os.mkdir(mount.mountpoint / "new-volume"),
        ]
        for attempt in attempts:
            with pytest.raises(OSError) as caught:
                attempt()
            assert caught.value.errno == errno.EROFS, attempt
        assert (data / "customers.csv").read_bytes().startswith(b"id,")


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_a_signal_unmounts(tmp_path: Path, how: str) -> None:
    with mounted(tmp_path, str(DEMO)) as mount:
        assert mount.end(how) == 0, mount.stderr
        assert not os.path.ismount(mount.mountpoint)
        assert mount.stderr.rstrip().endswith(f"Unmounted {mount.mountpoint}")
        assert "Traceback" not in mount.stderr


def test_json_ready_line_and_one_volume(tmp_path: Path) -> None:
    with mounted(tmp_path, str(DEMO), "--volume", "lun0-p1", "--json") as mount:
        assert sorted(os.listdir(mount.mountpoint)) == ["by-label", "lun0-p1"]
        assert mount.proc.stdout is not None
        doc = json.loads(mount.proc.stdout.readline())
        assert doc["volumes"] == ["lun0-p1"] and doc["leftOut"] == [] and doc["driveLetters"] == {}
        assert doc["mountpoint"] == str(mount.mountpoint)
        assert mount.end() == 0


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    fuse_tools()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([str(DEMO), str(busy)], 1, f"Error: {busy}: the mount point is not empty"),
        ([str(DEMO), str(tmp_path / "missing")], 1, "the mount point is not a folder. Create it: mkdir -p"),
        ([str(DEMO), "--volume", "os-p2", str(empty)], 1, "Error: os-p2: no readable file system"),
        ([str(DEMO), "--volume", "nope", str(empty)], 1, "Error: nope: no volume 'nope' in this recovery point"),
        ([str(empty)], 2, "give the recovery point, then the folder"),
        ([str(DEMO), "os-p3:/Users", str(empty)], 2, "'os-p3:/Users' is not a recovery point"),
    ]
    for args, code, message in cases:
        proc = run("mount", *args)
        assert proc.returncode == code and message in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("Error: ") == 1 and "Traceback" not in proc.stderr


# -- the file fixtures -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ext4", "ntfs", "xfs"])
def test_file_fixtures_mounted_as_extract_writes_them(tmp_path: Path, kind: str, readonly) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "img"
    folder.mkdir()
    image = gunzip_to(fixture_file(f"images/files/{kind}.img.gz"), folder)
    guard = readonly([image])
    with mounted(tmp_path, str(image)) as mount:
        root = mount.mountpoint / "d0"
        extra = compare(mount.mountpoint, tmp_path, [str(image)], "d0")
        assert os.readlink(root / "abs-link") == "/etc/passwd" and "abs-link" in extra
        assert os.readlink(root / "rel-link") == "hello.txt"
        assert (root / "rel-link").read_bytes() == b"hello, world\n"
        assert os.stat(root / "hello.txt").st_mtime_ns == MTIME * 1_000_000_000
        sparse = (root / "sparse.bin").read_bytes()
        assert sparse == bytes(512 << 10) + b"S" * 4096 + bytes((512 << 10) - 4096)
        if kind == "ext4":
            assert (root / "fifo").is_fifo() and "fifo" in extra
            assert os.stat(root / "hello.txt").st_mode & 0o7777 == 0o644
            assert os.stat(root / "hard.txt").st_nlink == 2
        code = 0
        if kind == "ntfs":
            for _twice in range(2):
                with pytest.raises(OSError) as caught:
                    (root / "dedup.txt").read_bytes()
                assert caught.value.errno == errno.EIO
            code = 1  # a read failed: said on stderr, and in the exit code
        assert mount.end() == code, mount.stderr
    if code:  # said once, however often it was tried
        assert mount.stderr.count("Error: ") == 1 and "dedup.txt: deduplicated" in mount.stderr, mount.stderr
    guard.check()


def test_a_locked_volume_is_left_out_until_its_key_is_given(tmp_path: Path) -> None:
    image = gunzip_to(fixture_file("images/volumes/luks1.img.gz"), tmp_path)
    with mounted(tmp_path, str(image)) as mount:
        assert os.listdir(mount.mountpoint) == []
        assert "Warning: d0" in mount.stderr and "is not mounted" in mount.stderr and "locked" in mount.stderr
        assert mount.end() == 1  # not everything asked for could be mounted
    shutil.rmtree(tmp_path / "mnt")
    from tests.fs.volume_images import LUKS1_PASSWORD

    with mounted(tmp_path, str(image), "--password", LUKS1_PASSWORD) as mount:
        names = [n for n in os.listdir(mount.mountpoint) if n != "by-label"]
        assert names and all(os.listdir(mount.mountpoint / n) for n in names)
        assert mount.end() == 0, mount.stderr


# -- drive letters from the SYSTEM hive ------------------------------------------------------------------------

SIGNATURE = 0x1234ABCD
PART_SECTORS = 16384  # 8 MiB
STARTS = (2048, 2048 + PART_SECTORS)
GUIDS = (uuid.UUID("6b1f3e2a-0c4d-4e5f-8a9b-1c2d3e4f5a6b"), uuid.UUID("7c2e4f3b-1d5e-4f60-9bac-2d3e4f5a6b7c"))


def _hex(data: bytes) -> str:
    return ",".join(f"{b:02x}" for b in data)


def windows_disk(tmp_path: Path, table: str) -> Path:
    """A disk with two NTFS partitions (C: "Windows" holding the SYSTEM hive, D: "Data"); ``MountedDevices``
    names them as Windows does for an MBR (signature + offset) or GPT (``DMIO:ID:`` + partition GUID) disk."""
    for tool in ("sfdisk", "mkntfs", "ntfs-3g", "hivexregedit"):
        require_tool(tool)
    fusermount = fuse_tools()
    raw = tmp_path / f"{table}.raw"
    with open(raw, "wb") as f:
        f.truncate(24 << 20)
    if table == "gpt":
        script = "label: gpt\n" + "".join(
            f"start={start}, size={PART_SECTORS}, type=EBD0A0A2-B9E5-4433-87C0-68B6B7299E5A, uuid={guid}\n"
            for start, guid in zip(STARTS, GUIDS, strict=True))
        values = [b"DMIO:ID:" + guid.bytes_le for guid in GUIDS]
    else:
        script = f"label: dos\nlabel-id: 0x{SIGNATURE:08x}\n" + "".join(
            f"start={start}, size={PART_SECTORS}, type=7\n" for start in STARTS)
        values = [SIGNATURE.to_bytes(4, "little") + (start * 512).to_bytes(8, "little") for start in STARTS]
    subprocess.run(["sfdisk", "-q", str(raw)], input=script, text=True, check=True)
    reg = "Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SYSTEM\\MountedDevices]\n" + "".join(
        f'"\\\\DosDevices\\\\{letter}:"=hex:{_hex(value)}\n' for letter, value in zip("CD", values, strict=True))
    cdrom = "\\??\\IDE#CdRomVirtual".encode("utf-16-le")
    reg += f'"\\\\DosDevices\\\\E:"=hex:{_hex(cdrom)}\n'
    hive, regfile = tmp_path / "SYSTEM", tmp_path / "system.reg"
    hive.write_bytes(empty_hive("SYSTEM"))
    regfile.write_text(reg)
    subprocess.run(["hivexregedit", "--merge", "--prefix", "HKEY_LOCAL_MACHINE\\SYSTEM", str(hive), str(regfile)],
                   check=True)
    for start, label in zip(STARTS, ("Windows", "Data"), strict=True):
        part = tmp_path / f"{label}.part"
        with open(part, "wb") as f:
            f.truncate(PART_SECTORS * 512)
        subprocess.run(["mkntfs", "-q", "-F", "-f", "-s", "512", "-p", str(start), "-L", label, str(part)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        mnt = tmp_path / f"ntfs-{label}"
        mnt.mkdir()
        subprocess.run(["ntfs-3g", str(part), str(mnt)], check=True)
        try:
            if label == "Windows":
                (mnt / "Windows" / "System32" / "config").mkdir(parents=True)
                shutil.copy(hive, mnt / "Windows" / "System32" / "config" / "SYSTEM")
            (mnt / f"{label}.txt").write_text(label)
        finally:
            subprocess.run([fusermount, "-u", str(mnt)], check=True)
        subprocess.run(["dd", f"if={part}", f"of={raw}", "bs=1M", f"seek={start * 512}", "oflag=seek_bytes",
                        "conv=notrunc", "status=none"], check=True)
    return raw


@pytest.mark.parametrize("table", ["mbr", "gpt"])
def test_drive_letters_come_from_mounted_devices(tmp_path: Path, table: str) -> None:
    disk = windows_disk(tmp_path, table)
    with mounted(tmp_path, str(disk), "--json") as mount:
        root = mount.mountpoint
        assert os.readlink(root / "C") == "d0-p1" and os.readlink(root / "D") == "d0-p2"
        assert (root / "C" / "Windows.txt").read_text() == "Windows"
        assert (root / "D" / "Data.txt").read_text() == "Data"
        assert not (root / "E").exists()  # a CD drive, not a volume of this disk
        assert "C -> d0-p1, D -> d0-p2 (from MountedDevices in d0-p1:/Windows/System32/config/SYSTEM)" in mount.stderr
        assert mount.end() == 0


# -- pure logic -----------------------------------------------------------------------------------------------


def test_readable_names_are_unique_and_safe() -> None:
    volumes = {vid: VolumeInfo(vid, "d0", 0, 1, filesystem="ntfs", label=label) for vid, label in
               [("d0-p1", "Data"), ("d0-p2", "Data"), ("d0-p3", None), ("d0-p4", "a/b\x01")]}
    assert readable_names(volumes, list(volumes)) == {"Data (d0-p1)": "d0-p1", "Data (d0-p2)": "d0-p2",
                                                      "ntfs-d0-p3": "d0-p3", "a_b_": "d0-p4"}


def test_paths_split_into_volume_and_path() -> None:
    tree = Namespace(filesystems={"os-p3": None, "lun0-p1": None}, letters={"C": "os-p3"},  # type: ignore[dict-item]
                     labels={"data": "lun0-p1"})
    assert tree.split("/") == (None, "/")
    assert tree.split("/by-label") == (None, "/by-label")
    assert tree.split("/c/Users/../Windows") == ("os-p3", "/Windows")
    assert tree.split("/by-label/data/srv") == ("lun0-p1", "/srv")
    assert tree.split("/os-p3") == ("os-p3", "/")
    with pytest.raises(FilesystemError, match="no such volume folder"):
        tree.split("/nope/x")


def test_shared_images_made_elsewhere(tmp_path: Path) -> None:
    with mounted(tmp_path, str(shared("dfvfs/ext2.vhd"))) as mount:
        d0 = mount.mountpoint / "d0"
        assert os.readlink(d0 / "a_link") == "a_directory/another_file"
        assert (d0 / "a_link").read_text() == "This is another file.\n"
        assert os.stat(d0 / "passwords.txt").st_mode & 0o7777 == 0o664
        assert mount.end() == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run("mount", str(shared("dfvfs/fat-differential.vhd")), str(empty))  # its parent is missing
    assert proc.returncode == 1 and proc.stderr.startswith("Error: ") and "fat-parent.vhd" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not os.path.ismount(empty)


def test_a_truncated_image_mounts_and_its_lost_files_fail_by_name(tmp_path: Path) -> None:
    image = gunzip_to(fixture_file("images/files/ext4.img.gz"), tmp_path)
    os.truncate(image, 1_900_000)  # big.bin's data starts at 1,658,880 and hello.txt's at 2,290,688
    with mounted(tmp_path, str(image)) as mount:
        assert "Warning: d0: ext4 says it is 8388608 bytes but the volume holds only 1900000" in mount.stderr
        for name in ("hello.txt", "big.bin"):
            with pytest.raises(OSError) as caught:
                (mount.mountpoint / "d0" / name).read_bytes()
            assert caught.value.errno == errno.EIO
        assert (mount.mountpoint / "d0" / "docs").is_dir()
        assert mount.end() == 1
    assert "Error: /d0/big.bin: d0: /big.bin: bytes 0-614400 of the file are stored at volume offsets" in mount.stderr
    assert "2 reads failed (listed above)" in mount.stderr


def test_shadow_copies_are_folders_beside_their_volume(tmp_path: Path) -> None:
    """Windows 10's two stores (one offline, which vssadmin does not list) each get a VOLUME@vssN folder holding
    the files of their time."""
    import tarfile

    with tarfile.open(shared("vss/ntfs-samples.tgz")) as tar:
        tar.extractall(tmp_path, filter="data")
    with mounted(tmp_path, str(tmp_path / "ntfs.raw")) as mount:
        root = mount.mountpoint
        assert {"d0-p1", "d0-p1@vss1", "d0-p1@vss2"} <= set(os.listdir(root))
        assert (root / "d0-p1@vss1" / "shadow_1.txt").exists()
        assert (root / "d0-p1@vss2" / "shadow_2.txt").read_bytes().startswith(b"shadow_2")
        assert not (root / "d0-p1@vss1" / "shadow_2.txt").exists()
        assert mount.end() == 0
