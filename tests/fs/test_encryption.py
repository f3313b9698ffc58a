"""BitLocker and LUKS on real images: detection without keys, every key type, wrong keys, LUKS2 parsing.

BitLocker images are dissect.fve's (../shared/testdata/bitlocker); LUKS1 and LUKS2-PBKDF2 fixtures come from
``cryptsetup luksFormat`` (fixtures/build_volumes.py); the LUKS2 Argon2id image is dissect.fve's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from restorekit.fs.errors import UnlockError
from restorekit.fs.scan import Keys, raise_if_keys_failed
from restorekit.fs.stream import ExtentKind
from tests.conftest import shared
from tests.fs.volume_images import (
    BITLOCKER_PASSWORD,
    BITLOCKER_RECOVERY,
    LUKS1_PASSWORD,
    LUKS2_PASSWORD,
    LUKS2_SHARED_PASSWORD,
    scan_files,
    shared_image,
    volume_fixture,
)

if TYPE_CHECKING:
    from pathlib import Path


def _ntfs_boot(volume) -> bytes:  # type: ignore[no-untyped-def]
    assert volume.stream is not None
    return volume.stream.pread(11, 0)


def test_bitlocker_detected_locked_without_keys(tmp_path: Path) -> None:
    volumes, _ = scan_files([shared_image("bitlocker/aes-xts_128.bin.gz", tmp_path)])
    v = volumes["d0"]
    assert (v.encryption, v.locked, v.filesystem, v.stream) == ("bitlocker", True, None, None)
    assert v.encryption_details["protectors"] == ["password"]
    assert v.encryption_details["method"] == "AES-128-XTS"
    assert v.warnings == ["d0: BitLocker volume is locked (Windows 7 or later, protectors: password). Pass "
                          "--password to read it"]


@pytest.mark.parametrize(("image", "keys"), [
    ("aes-xts_128.bin.gz", Keys(passwords=[BITLOCKER_PASSWORD])),
    ("recovery_password.bin.gz", Keys(recovery_passwords=[BITLOCKER_RECOVERY])),
    ("recovery_key.bin.gz", Keys(bek_files=[str(shared("bitlocker/recovery_key.bek"))])),
], ids=["password", "recovery-password", "bek"])
def test_bitlocker_unlocks_with_each_key_type(tmp_path: Path, image: str, keys: Keys) -> None:
    volumes, _ = scan_files([shared_image(f"bitlocker/{image}", tmp_path)], keys)
    v = volumes["d0"]
    assert (v.encryption, v.locked) == ("bitlocker", False)
    assert _ntfs_boot(v) == b"\xebR\x90NTFS    "
    assert v.filesystem == "ntfs"
    # The decrypted volume is a Stream whose extents are DATA on a source with no file descriptor.
    extents = list(v.stream.extents(0, 4096))
    assert [e.kind for e in extents] == [ExtentKind.DATA] and extents[0].source.fileno() is None
    # The dissect.fve images are truncated: the volume is larger than the file, and the scan says so.
    assert any("the end of the volume is missing (truncated image)" in w for w in v.warnings)
    raise_if_keys_failed(list(volumes.values()), keys)  # a key worked: no error


def test_bitlocker_wrong_key_is_a_warning_and_an_unlock_error_naming_the_volume(tmp_path: Path) -> None:
    keys = Keys(passwords=["not-the-password"], recovery_passwords=["111111-111111-111111-111111-111111-111111-"
                                                                      "111111-111111"])
    volumes, _ = scan_files([shared_image("bitlocker/aes-xts_128.bin.gz", tmp_path)], keys)
    v = volumes["d0"]
    assert v.locked and v.keys_failed
    assert v.warnings == ["d0: the keys given (password, recovery password) did not unlock d0 (BitLocker Windows 7 "
                          "or later, protectors: password). The volume has no recovery password protector; check "
                          "the password (a password is case-sensitive)"]
    with pytest.raises(UnlockError) as caught:
        raise_if_keys_failed(list(volumes.values()), keys)
    assert caught.value.volume == "d0"
    assert str(caught.value) == v.warnings[0]


def test_luks2_detected_with_version_cipher_and_key_slot_types(tmp_path: Path) -> None:
    volumes, _ = scan_files([shared_image("luks/aes-xts-plain64.bin.gz", tmp_path)])
    v = volumes["d0"]
    assert (v.encryption, v.locked) == ("luks2", True)
    details = v.encryption_details
    assert details["version"] == 2 and details["cipher"] == "aes-xts-plain64"
    assert details["keySlots"] == [{"slot": 0, "type": "argon2id", "keyType": "luks2", "encryption": "aes-xts-plain64"}]
    assert v.warnings == ["d0: LUKS2 volume is locked (aes-xts-plain64, key slots: argon2id). Pass --password (the "
                          "passphrase) to read it"]


def test_luks2_argon2id_unlocks_with_the_password(tmp_path: Path) -> None:
    """The dissect.fve image: an Argon2id key slot (800 MB, 4 lanes), which libluksde cannot open."""
    volumes, _ = scan_files([shared_image("luks/aes-xts-plain64.bin.gz", tmp_path)],
                            Keys(passwords=["wrong", LUKS2_SHARED_PASSWORD]))
    v = volumes["d0"]
    assert (v.encryption, v.locked, v.keys_failed) == ("luks2", False, False)
    assert v.stream is not None and v.stream.size == 2048  # the image keeps 2 KiB of payload after 1 MiB header


def test_luks2_pbkdf2_with_4k_sectors_unlocks_and_reads_ext2(tmp_path: Path) -> None:
    volumes, _ = scan_files([volume_fixture("luks2-pbkdf2", tmp_path)], Keys(passwords=[LUKS2_PASSWORD]))
    v = volumes["d0"]
    assert (v.encryption, v.locked, v.filesystem, v.label) == ("luks2", False, "ext2", "secret2")
    assert v.encryption_details["sectorSize"] == 4096
    assert v.fs is not None and v.fs.read_file("/secret.txt") == b"secret2\n"


def test_luks1_unlocks_with_pyluksde(tmp_path: Path) -> None:
    volumes, _ = scan_files([volume_fixture("luks1", tmp_path)], Keys(passwords=[LUKS1_PASSWORD]))
    v = volumes["d0"]
    assert (v.encryption, v.locked, v.filesystem, v.label) == ("luks1", False, "ext2", "secret1")
    assert v.encryption_details["cipher"] == "aes-xts-plain64"
    assert [s["type"] for s in v.encryption_details["keySlots"]] == ["pbkdf2"]
    assert v.fs is not None and v.fs.read_file("/secret.txt") == b"secret1\n"


def test_luks_wrong_password_names_the_volume(tmp_path: Path) -> None:
    keys = Keys(passwords=["nope"])
    volumes, _ = scan_files([volume_fixture("luks1", tmp_path)], keys)
    v = volumes["d0"]
    assert v.locked and v.keys_failed
    assert v.warnings == ["d0: the password given did not unlock d0 (LUKS1, aes-xts-plain64, key slots: pbkdf2). "
                          "Check the passphrase (it is case-sensitive; for Azure Disk Encryption on Linux it is the "
                          "BEK secret from Key Vault)"]
    with pytest.raises(UnlockError, match=r"^d0: the password given did not unlock d0 \(LUKS1"):
        raise_if_keys_failed(list(volumes.values()), keys)


def test_missing_bek_file_is_named(tmp_path: Path) -> None:
    keys = Keys(bek_files=[str(tmp_path / "absent.bek")])
    volumes, _ = scan_files([shared_image("bitlocker/recovery_key.bin.gz", tmp_path)], keys)
    with pytest.raises(UnlockError, match=r"BEK file .*absent\.bek not found; pass --bek FILE or --password"):
        raise_if_keys_failed(list(volumes.values()), keys)
