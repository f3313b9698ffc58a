"""Why an encrypted volume stays locked, said right: BitLocker metadata copies, recovery-password format,
exit codes.

BitLocker cases mutate copies of dissect.fve's Windows 10 images (../shared/testdata/bitlocker). No real
Vista or Windows 7 image may be committed (dissect.fve's are AGPL and their secondary metadata copies lie
past the end of the cut-down files, which is what made libbde refuse them); the Vista and To Go header
layouts are therefore checked on synthesized boot sectors, and the missing-copies path on the Windows 10
images truncated or damaged the same way.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from restorekit.cli import cli
from restorekit.fs.containers.bitlocker import (
    BITLOCKER_GUID,
    BitlockerEncryption,
    read_metadata,
    recovery_password_problem,
)
from restorekit.fs.image import open_image
from restorekit.fs.scan import Keys
from tests.fs.volume_images import (
    BITLOCKER_RECOVERY,
    LUKS1_PASSWORD,
    scan_files,
    shared_image,
    volume_fixture,
)

if TYPE_CHECKING:
    from pathlib import Path


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


# -- BitLocker ------------------------------------------------------------------------------------------------


def _metadata_offsets(image: Path) -> tuple[int, int, int]:
    return struct.unpack_from("<3Q", image.read_bytes()[:512], 0xB0)


def _zero(image: Path, offset: int, length: int) -> None:
    with open(image, "r+b") as fh:
        fh.seek(offset)
        fh.write(bytes(length))


def test_damaged_metadata_copies_are_read_from_the_intact_one(tmp_path: Path) -> None:
    """libbde refuses a volume whose second or third FVE metadata copy is unreadable; one intact copy is enough."""
    image = shared_image("bitlocker/recovery_password.bin.gz", tmp_path)
    first, second, third = _metadata_offsets(image)
    _zero(image, second, 4096)
    _zero(image, third, 4096)
    volumes, _ = scan_files([image], Keys(recovery_passwords=[BITLOCKER_RECOVERY]))
    v = volumes["d0"]
    assert (v.locked, v.filesystem, v.unlock_error) == (False, "ntfs", None)
    assert v.warnings[:2] == [
        f"d0: BitLocker metadata copy at offset {second} is unusable (no -FVE-FS- signature); read the intact copy "
        f"at {first}",
        f"d0: BitLocker metadata copy at offset {third} is unusable (no -FVE-FS- signature); read the intact copy "
        f"at {first}",
    ]


def test_metadata_copies_past_the_end_of_a_truncated_image(tmp_path: Path) -> None:
    """As in dissect.fve's Vista and Windows 7 images: the image stops before the second copy."""
    image = shared_image("bitlocker/recovery_password.bin.gz", tmp_path)
    _first, second, _third = _metadata_offsets(image)
    with open(image, "r+b") as fh:
        fh.truncate(second)
    code, out, err = run("inspect", image, "--recovery-password", BITLOCKER_RECOVERY)
    assert code == 0, err
    assert "bitlocker AES-128-XTS (unlocked)  ntfs" in out
    assert f"copy at offset {second} is unusable (past the end of the image ({second} bytes))" in out


def test_unreadable_metadata_with_a_key_given_exits_1(tmp_path: Path) -> None:
    image = shared_image("bitlocker/recovery_password.bin.gz", tmp_path)
    for offset in _metadata_offsets(image):
        _zero(image, offset, 4096)
    code, out, err = run("inspect", image, "--recovery-password", BITLOCKER_RECOVERY)
    assert code == 1
    assert "bitlocker (locked)" in out
    assert err.startswith("Error: d0: BitLocker (Windows 7 or later) metadata cannot be read: all three copies "
                          "are damaged (at ")
    code, _out, err = run("inspect", image)  # no key asked for: listing a locked volume is a success
    assert code == 0 and err == ""


def test_a_volume_left_locked_fails_the_command_even_when_another_unlocked(tmp_path: Path) -> None:
    luks1 = volume_fixture("luks1", tmp_path)
    bitlocker = shared_image("bitlocker/aes-xts_128.bin.gz", tmp_path)
    code, out, err = run("inspect", luks1, bitlocker, "--password", LUKS1_PASSWORD)
    assert code == 1
    assert "luks1 aes-xts-plain64 (unlocked)" in out
    assert err == ("Error: d1: the key given (password) did not unlock d1 (BitLocker Windows 7 or later, protectors: "
                   "password). Check the password (a password is case-sensitive)\n")


@pytest.mark.parametrize(("text", "problem"), [
    (BITLOCKER_RECOVERY, None),
    (BITLOCKER_RECOVERY.replace("-", ""), None),
    (BITLOCKER_RECOVERY.replace("-", " "), None),
    ("284867-596541-514998-422114-660297-261613-215424-199409", "group 8 (199409) is not a multiple of 11 (a digit "
                                                                "is mistyped)"),
    ("999999-596541-514998-422114-660297-261613-215424-199408", "group 1 (999999) is too large (each group is below "
                                                                "720896)"),
    ("284867-596541-514998-422114-660297-261613-215424", "it is not 48 digits in 8 groups of 6, each group a "
                                                         "multiple of 11 below 720896"),
    ("password12!@", "it is not 48 digits in 8 groups of 6, each group a multiple of 11 below 720896"),
])
def test_recovery_password_format(text: str, problem: str | None) -> None:
    assert recovery_password_problem(text) == problem


def test_recovery_password_without_dashes_unlocks(tmp_path: Path) -> None:
    image = shared_image("bitlocker/recovery_password.bin.gz", tmp_path)
    volumes, _ = scan_files([image], Keys(recovery_passwords=[BITLOCKER_RECOVERY.replace("-", "")]))
    assert (volumes["d0"].locked, volumes["d0"].filesystem) == (False, "ntfs")
    assert volumes["d0"].encryption_details["encryptedSize"] == 65994752  # fully encrypted: the whole volume


def _raw(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_vista_header_gives_the_first_copy_by_cluster_and_that_copy_the_others(tmp_path: Path) -> None:
    """Synthesized: a Vista boot sector (first copy at cluster 2 of 4 KiB) and version-1 block headers."""
    data = bytearray(32 * 1024)
    data[3:11] = b"-FVE-FS-"
    struct.pack_into("<HB", data, 11, 512, 8)
    struct.pack_into("<Q", data, 56, 2)
    for at in (8192, 24576):
        data[at : at + 8] = b"-FVE-FS-"
        struct.pack_into("<H", data, at + 10, 1)
        struct.pack_into("<3Q", data, at + 32, 8192, 16384, 1 << 40)
        struct.pack_into("<I", data, at + 64, 100)
    stream = open_image(_raw(tmp_path, bytes(data), "vista.raw"))
    assert BitlockerEncryption.detect(stream)
    meta = read_metadata(stream, "d0")
    assert (meta.version, meta.offsets, meta.good, meta.length, meta.encrypted_size) == (
        "Vista", (8192, 16384, 1 << 40), 8192, 164, None)
    assert meta.damaged == {16384: "no -FVE-FS- signature", 1 << 40: "past the end of the image (32768 bytes)"}


def test_to_go_guid_and_offsets_are_read_at_424_and_440(tmp_path: Path) -> None:
    """Synthesized: a BitLocker To Go (FAT-looking) boot sector, as libbde's format notes lay it out."""
    data = bytearray(32 * 1024)
    data[3:11] = b"MSWIN4.1"
    data[424:440] = BITLOCKER_GUID
    struct.pack_into("<3Q", data, 440, 4096, 12288, 20480)
    for at in (4096, 12288):
        data[at : at + 8] = b"-FVE-FS-"
        struct.pack_into("<HHHHQ", data, at + 8, 0, 2, 4, 4, 1 << 20)
        struct.pack_into("<I", data, at + 64, 200)
    stream = open_image(_raw(tmp_path, bytes(data), "togo.raw"))
    assert BitlockerEncryption.detect(stream)
    meta = read_metadata(stream, "d0")
    assert (meta.version, meta.good, meta.length, meta.encrypted_size) == ("To Go", 4096, 264, 1 << 20)
    assert meta.damaged == {20480: "no -FVE-FS- signature"}
