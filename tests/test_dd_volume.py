"""``restorekit dd --volume``: whole volumes, compared with what other readers see in the same images.

A partition equals its range of the raw disk (offsets from The Sleuth Kit); a linear LVM volume and md RAID1 and
linear arrays equal what dissect.volume assembles from the same files, and e2fsck/debugfs find the file system the
fixture build wrote (``fixtures/build_volumes.py``); a LUKS volume's plaintext holds the file system
``restorekit ls`` lists through the key. Every run leaves the images as they were.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytsk3

from tests.conftest import FIXTURES, require_tool, shared
from tests.fs.volume_images import BITLOCKER_RECOVERY, LUKS1_PASSWORD, LUKS2_PASSWORD, shared_image, volume_fixture

if TYPE_CHECKING:
    from collections.abc import Callable

DEMO = FIXTURES / "demo"
MiB = 1 << 20


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "restorekit", *map(str, args)], capture_output=True, text=True,
                          check=False, timeout=300)


def partitions(image: Path) -> list[tuple[int, int]]:
    """(offset, length) in bytes of each partition, as The Sleuth Kit's volume system reads the table."""
    volumes = pytsk3.Volume_Info(pytsk3.Img_Info(str(image)))
    return [(p.start * 512, p.len * 512) for p in volumes if p.flags == pytsk3.TSK_VS_PART_FLAG_ALLOC]


class Window(io.RawIOBase):
    """``[offset, offset + size)`` of an open file, for dissect.volume to read a member from."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        super().__init__()
        self.file = open(path, "rb")  # noqa: SIM115 - closed with the window
        self.offset, self.size, self.pos = offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        self.pos = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence] + pos
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = os.pread(self.file.fileno(), max(0, min(len(buffer), self.size - self.pos)), self.offset + self.pos)
        memoryview(buffer)[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def close(self) -> None:
        self.file.close()
        super().close()


def members(images: list[Path], index: int) -> list[io.BufferedReader]:
    """Partition ``index`` of each image, as dissect.volume reads a pool member."""
    out = []
    for image in images:
        offset, size = partitions(image)[index]
        out.append(io.BufferedReader(Window(image, offset, size)))
    return out


def rp_folder(tmp_path: Path) -> Path:
    """A folder for the recovery point's images, so outputs in ``tmp_path`` leave its listing as it was."""
    folder = tmp_path / "rp"
    folder.mkdir()
    return folder


def debugfs(image: Path, command: str) -> bytes:
    return subprocess.run([require_tool("debugfs"), "-R", command, str(image)], capture_output=True,
                          check=True).stdout


def e2fsck_clean(image: Path) -> None:
    proc = subprocess.run([require_tool("e2fsck"), "-fn", str(image)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_partition_is_its_range_of_the_disk(tmp_path: Path, readonly: Callable[[list[Path]], object]) -> None:
    disk = volume_fixture("gpt-windows", rp_folder(tmp_path))
    readonly([disk])
    raw = disk.read_bytes()
    found = partitions(disk)
    assert len(found) == 4
    for number, (offset, size) in enumerate(found, start=1):
        out = tmp_path / f"p{number}.raw"
        proc = run("dd", disk, "--volume", f"d0-p{number}", "-o", out)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == f"Wrote d0-p{number} ({size / MiB:.1f} MiB) to {out}\n"
        assert out.read_bytes() == raw[offset : offset + size], number


def test_a_partition_of_a_dynamic_vhd_stays_sparse(tmp_path: Path) -> None:
    """os-p1 of the demo (a 34 MiB FAT volume, 22.5 KiB used, in a dynamic VHD) is mostly unallocated blocks."""
    disk = tmp_path / "os.raw"
    assert run("dd", DEMO, "--disk", "os", "-o", disk).returncode == 0
    proc = run("dd", DEMO, "--volume", "os-p1", "-o", tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    out = tmp_path / "os-p1.raw"
    assert doc["output"] == str(out) and doc["volume"] == "os-p1" and doc["disk"] == "os"
    assert doc["size"] == doc["declaredSize"] == out.stat().st_size == 34 * MiB
    assert doc["incomplete"] == [] and doc["warnings"] == []
    assert 0 < doc["allocatedBytes"] < 4 * MiB
    assert out.stat().st_blocks * 512 <= 4 * MiB  # holes stay holes
    with open(disk, "rb") as whole:
        whole.seek(doc["offset"])
        assert whole.read(doc["size"]) == out.read_bytes()
    piped = subprocess.run([sys.executable, "-m", "restorekit", "dd", str(DEMO), "--volume", "os-p1", "-o", "-"],
                           capture_output=True, check=True).stdout
    assert piped == out.read_bytes()


def test_linear_lvm_volumes_match_dissect_and_e2fsck(tmp_path: Path, readonly: Callable[[list[Path]], object]) -> None:
    from dissect.volume.lvm import LVM2

    folder = rp_folder(tmp_path)
    images = [volume_fixture("lvm-a", folder), volume_fixture("lvm-b", folder)]
    readonly(images)
    second = {lv.name: lv.open().read() for lv in LVM2(members(images, 0)).vg.lv}
    assert sorted(second) == ["lvhome", "lvlogs"]
    proc = run("dd", *images, "--volume", "d0-p1/vgdata/lvhome", "-o", tmp_path)
    assert proc.returncode == 0, proc.stderr
    home = tmp_path / "d0-p1_vgdata_lvhome.raw"  # a folder gets the id with / as _
    assert home.read_bytes() == second["lvhome"] and len(second["lvhome"]) == 6 * MiB
    e2fsck_clean(home)
    assert debugfs(home, "cat /notes.txt") == b"on two disks\n"  # the half on the second disk is there too
    logs = tmp_path / "logs.raw"
    assert run("dd", *images, "--volume", "d0-p1/vgdata/lvlogs", "-o", logs).returncode == 0
    assert logs.read_bytes() == second["lvlogs"]
    fsck = subprocess.run([require_tool("fsck.vfat"), "-n", str(logs)], capture_output=True, text=True, check=False)
    assert fsck.returncode == 0 and "LOGS" in run("inspect", logs).stdout, fsck.stdout


def test_md_raid1_and_linear_arrays_match_dissect(tmp_path: Path, readonly: Callable[[list[Path]], object]) -> None:
    from dissect.volume.md import MD

    folder = rp_folder(tmp_path)
    images = [volume_fixture("md-a", folder), volume_fixture("md-b", folder)]
    readonly(images)
    for index, volume, check in ((0, "d0-p1/md/mirror", ("cat /hello.txt", b"mirrored\n")),
                                 (1, "d0-p2/md/span", ("cat /big.bin", bytes(range(256)) * 4096))):
        (config,) = MD(members(images, index)).configurations
        (array,) = config.virtual_disks
        out = tmp_path / f"{index}.raw"
        proc = run("dd", *images, "--volume", volume, "-o", out)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes() == array.open().read()
        e2fsck_clean(out)
        assert debugfs(out, check[0]) == check[1]


@pytest.mark.parametrize(("name", "password"), [("luks1", LUKS1_PASSWORD), ("luks2-pbkdf2", LUKS2_PASSWORD)])
def test_a_luks_volume_is_written_as_its_plaintext(tmp_path: Path, name: str, password: str) -> None:
    image = volume_fixture(name, tmp_path)
    out = tmp_path / "plain.raw"
    proc = run("dd", image, "--volume", "d0", "--password", password, "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["encryption"] == name.split("-")[0] and doc["size"] == out.stat().st_size
    data = out.read_bytes()
    assert data[1080:1082] == b"\x53\xef"  # the ext superblock's magic
    e2fsck_clean(out)
    listing = run("ls", out, "d0:/", "-r", "-l")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout == run("ls", image, "d0:/", "-r", "-l", "--password", password).stdout
    assert "secret.txt" in listing.stdout
    secret = run("cat", image, "d0:/secret.txt", "--password", password).stdout.encode()
    assert debugfs(out, "cat /secret.txt") == secret


def test_a_locked_volume_names_the_key_option_and_writes_nothing(tmp_path: Path) -> None:
    image = volume_fixture("luks1", tmp_path)
    proc = run("dd", image, "--volume", "d0", "-o", tmp_path / "plain.raw")
    assert proc.returncode == 1
    assert proc.stderr == ("Error: d0: LUKS1 volume is locked (aes-xts-plain64, key slots: pbkdf2). Pass --password "
                           "(the passphrase) to read it\n")
    proc = run("dd", image, "--volume", "d0", "--password", "wrong", "-o", tmp_path / "plain.raw")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: d0: the password given did not unlock d0 (LUKS1, aes-xts-plain64")
    assert sorted(os.listdir(tmp_path)) == ["luks1.img"]


def test_bitlocker_plaintext_of_a_truncated_image(tmp_path: Path) -> None:
    """The shared BitLocker images stop at 51,032,064 bytes, 14 MiB before the end of their 65,994,752-byte volumes
    (their README): the plaintext cannot be read whole. dd says where in one line and writes nothing; with
    --zero-unreadable it writes the plaintext there is, zeros for the rest, and lists that range (exit 1)."""
    image = shared_image("bitlocker/recovery_password.bin.gz", tmp_path)
    out = tmp_path / "plain.raw"
    key = ["--volume", "d0", "--recovery-password", BITLOCKER_RECOVERY]
    proc = run("dd", image, *key, "-o", out)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: d0: BitLocker sectors cannot be read") and proc.stderr.count("\n") == 1
    assert "truncated" in proc.stderr and "pass --zero-unreadable to write the rest" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == [image.name]
    proc = run("dd", image, *key, "-o", out, "--zero-unreadable", "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["size"] == doc["declaredSize"] == out.stat().st_size == 65994752 and doc["encryption"] == "bitlocker"
    (gap,) = doc["unreadable"]
    assert (gap["offset"], gap["length"]) == (51032064, 65994752 - 51032064)
    assert "Error: d0: bytes 0x30ab000-0x3ef0000 (14.3 MiB) cannot be read (BitLocker sectors cannot be read" \
        in proc.stderr
    with open(out, "rb") as plain:
        assert plain.read(11) == b"\xebR\x90NTFS    "  # the NTFS boot sector BitLocker keeps elsewhere
        plain.seek(51032064)
        assert plain.read() == bytes(65994752 - 51032064)


@pytest.fixture(scope="module")
def vss_disks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ntfs.raw`` and ``vss_2003.raw`` (64 and 128 GiB, sparse) unpacked from the shared shadow-copy images."""
    folder = tmp_path_factory.mktemp("vss")
    for archive in ("vss/ntfs-samples.tgz", "vss/vss_2003.tgz"):
        with tarfile.open(shared(archive)) as tar:
            tar.extractall(folder, filter="data")
    return folder


def test_a_shadow_copy_matches_the_shipped_sector_hashes(vss_disks: Path, tmp_path: Path) -> None:
    """``vss_2003_hashes.txt`` gives, per store (its sequence number), the MD5 of each sector of 16 KiB blocks of
    the volume as that shadow copy saw it: the written store has those bytes, and stays sparse (128 GiB)."""
    lines = [line.split("\t") for line in shared("vss/vss_2003_hashes.txt").read_text().splitlines()]
    for store in ("1", "5"):
        out = tmp_path / f"vss{store}.raw"
        proc = run("dd", vss_disks / "vss_2003.raw", "--volume", f"d0-p1@vss{store}", "-o", out, "--json")
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["parent"] == "d0-p1" and doc["offset"] == 63 * 512 and doc["size"] == out.stat().st_size
        assert out.stat().st_blocks * 512 < 200 * MiB < doc["size"]
        blocks = [(int(offset), md5s.split(" ")) for sequence, offset, _flags, md5s in lines if sequence == store]
        assert len(blocks) == {"1": 35, "5": 11}[store]
        with open(out, "rb") as written:
            for offset, md5s in blocks:
                written.seek(offset)
                data = written.read(16384)
                assert [hashlib.md5(data[i : i + 512]).hexdigest() for i in range(0, 16384, 512)] == md5s, offset
        out.unlink()


def test_a_shadow_copy_holds_the_files_of_its_time(vss_disks: Path, tmp_path: Path) -> None:
    """ntfs-samples: /shadow_1.txt is only in the oldest store, /shadow_2.txt only in the newest (offline) one;
    ntfsls reads each written store as a plain NTFS volume."""
    for store, present, absent in ((1, "shadow_1.txt", "shadow_2.txt"), (2, "shadow_2.txt", "shadow_1.txt")):
        out = tmp_path / f"vss{store}.ntfs"
        proc = run("dd", vss_disks / "ntfs.raw", "--volume", f"d0-p1@vss{store}", "-o", out)
        assert proc.returncode == 0, proc.stderr
        listing = subprocess.run([require_tool("ntfsls"), str(out)], capture_output=True, text=True,
                                 check=True).stdout.split("\n")
        assert present in listing and absent not in listing, listing
        assert run("cat", out, f"d0:/{present}").stdout == run("cat", vss_disks / "ntfs.raw",
                                                               f"d0-p1@vss{store}:/{present}").stdout
        out.unlink()
    proc = run("dd", vss_disks / "ntfs.raw", "--volume", "d0-p1@vss3", "-o", os.devnull)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "vss3" in proc.stderr, proc.stderr


def test_unknown_volume_lists_the_ids(tmp_path: Path) -> None:
    images = [volume_fixture("md-a", tmp_path), volume_fixture("md-b", tmp_path)]
    proc = run("dd", *images, "--volume", "d0-p9", "-o", os.devnull)
    assert proc.returncode == 1
    assert proc.stderr == ("Error: no volume 'd0-p9' in this recovery point. Volumes here: d0-p1, d0-p2, d1-p1, d1-p2, "
                           "d0-p1/md/mirror, d0-p2/md/span (see restorekit inspect, which also lists shadow copies "
                           "as VOLUME@vssN; a whole disk is --disk ID)\n")


def test_a_partition_past_the_end_of_its_disk_is_written_as_far_as_it_goes(tmp_path: Path) -> None:
    """A cut-off disk: its MBR says partition 1 has 8 MiB, the image ends 3 MiB into it."""
    disk = tmp_path / "cut.img"
    entry = bytes([0, 0, 0, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, "little") + (16384).to_bytes(4, "little")
    disk.write_bytes(bytes(446) + entry + bytes(48) + b"\x55\xaa" + bytes(4 * MiB - 512))
    out = tmp_path / "p1.raw"
    proc = run("dd", disk, "--volume", "d0-p1", "-o", out, "--json")
    assert proc.returncode == 1
    assert f"Error: d0-p1: its table declares {8 * MiB} bytes but the disk ends after {3 * MiB} of them; wrote the " \
           f"{3 * MiB} bytes there are\n" in proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["size"], doc["declaredSize"], out.stat().st_size) == (3 * MiB, 8 * MiB, 3 * MiB)
    assert len(doc["incomplete"]) == 1


def test_usage_errors(tmp_path: Path) -> None:
    image = str(shared("dfvfs/ext2.vhd"))
    proc = run("dd", image, "--disk", "d0", "--volume", "d0", "-o", os.devnull)
    assert proc.returncode == 2 and "give --disk or --volume, not both" in proc.stderr
    proc = run("dd", image, "--volume", "d0", "-o", "-", "--json")
    assert proc.returncode == 2 and "the volume needs -o FILE" in proc.stderr


def test_never_writes_an_image_of_the_recovery_point(tmp_path: Path) -> None:
    images = [volume_fixture("lvm-a", tmp_path), volume_fixture("lvm-b", tmp_path)]
    before = images[1].read_bytes()
    proc = run("dd", *images, "--volume", "d0-p1/vgdata/lvhome", "-o", images[1], "--overwrite")
    assert proc.returncode == 1
    assert proc.stderr == (f"Error: {images[1]}: is an image of this recovery point; it is never written or replaced. "
                           "Choose an -o file that is not one of its files\n")
    assert images[1].read_bytes() == before


def test_a_volume_of_a_disk_in_azure_storage(azurite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The demo OS disk as a page blob (Azurite): its NTFS partition is the same bytes as from the local file, and
    the SAS signature shows nowhere."""
    from tests.fs.test_remote import sas_url, upload_page_blob

    url = sas_url(upload_page_blob(azurite, "ddvol", "os.vhd", (DEMO / "disks" / "os.vhd").read_bytes()))
    remote, local = tmp_path / "remote.ntfs", tmp_path / "local.ntfs"
    proc = run("dd", url, "--volume", "d0-p3", "-o", remote, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "sig=" not in proc.stdout + proc.stderr
    assert run("dd", DEMO / "disks" / "os.vhd", "--volume", "d0-p3", "-o", local).returncode == 0
    assert remote.read_bytes() == local.read_bytes() and remote.read_bytes()[3:11] == b"NTFS    "
