"""Why an encrypted volume stays locked, said right: BitLocker metadata copies, recovery-password format,
LUKS2 ciphers restorekit does not implement, malformed LUKS2 JSON, short LUKS1 headers, exit codes, and one
key derivation per key slot and password.

BitLocker cases mutate copies of dissect.fve's Windows 10 images (../shared/testdata/bitlocker). No real
Vista or Windows 7 image may be committed (dissect.fve's are AGPL and their secondary metadata copies lie
past the end of the cut-down files, which is what made libbde refuse them); the Vista and To Go header
layouts are therefore checked on synthesized boot sectors, and the missing-copies path on the Windows 10
images truncated or damaged the same way. LUKS2 headers come from cryptsetup (the committed fixture, or
``cryptsetup luksFormat`` at test time) and are rewritten with a recomputed header checksum.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from restorekit.cli import cli
from restorekit.files import parse_target
from restorekit.fs.containers import luks, signatures
from restorekit.fs.containers.bitlocker import (
    Metadata,
    read_metadata,
    recovery_password_problem,
)
from restorekit.fs.errors import UnlockError
from restorekit.fs.image import open_image
from restorekit.fs.scan import Keys, raise_if_keys_failed
from tests.conftest import require_tool
from tests.fs.volume_images import (
    BITLOCKER_RECOVERY,
    LUKS1_PASSWORD,
    LUKS2_PASSWORD,
    scan_files,
    shared_image,
    volume_fixture,
)

if TYPE_CHECKING:
    from collections.abc import Callable
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
    details = volumes["d0"].encryption_details
    assert (details["encryptedSize"], details["state"]) == (65994752, 4)  # fully encrypted: the whole volume
    assert not any("converted" in w or "encryption or decryption" in w for w in volumes["d0"].warnings)


@pytest.mark.parametrize(("state", "state_size", "warning"), [
    (4, 0, None),
    (1, 0, None),
    (3, 0, "d0: BitLocker encryption or decryption is paused: the first 1143820288 bytes are encrypted, the rest "
           "is plaintext (both are read)"),
    (2, 65536, "d0: BitLocker encryption or decryption was interrupted: the first 1143820288 bytes are encrypted, "
               "the rest is plaintext (both are read); the 65536 bytes from offset 1143820288 were being converted "
               "and may read wrong (restorekit does not apply BitLocker's conversion log)"),
])
def test_a_half_converted_volume_says_so(state: int, state_size: int, warning: str | None) -> None:
    """Synthesized metadata: the state and encrypted size of dissect.fve's Windows 7 partial image (3, 1143820288)."""
    meta = Metadata("Windows 7 or later", (0, 0, 0), 0, 0, encrypted_size=1143820288, state=state,
                    state_size=state_size)
    assert meta.conversion_warning("d0") == warning


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
    assert signatures.bitlocker(stream)
    meta = read_metadata(stream, "d0")
    assert (meta.version, meta.offsets, meta.good, meta.length, meta.encrypted_size) == (
        "Vista", (8192, 16384, 1 << 40), 8192, 164, None)
    assert meta.damaged == {16384: "no -FVE-FS- signature", 1 << 40: "past the end of the image (32768 bytes)"}


def test_to_go_guid_and_offsets_are_read_at_424_and_440(tmp_path: Path) -> None:
    """Synthesized: a BitLocker To Go (FAT-looking) boot sector, as libbde's format notes lay it out."""
    data = bytearray(32 * 1024)
    data[3:11] = b"MSWIN4.1"
    data[424:440] = signatures.BITLOCKER_GUID
    struct.pack_into("<3Q", data, 440, 4096, 12288, 20480)
    for at in (4096, 12288):
        data[at : at + 8] = b"-FVE-FS-"
        struct.pack_into("<HHHHQ", data, at + 8, 0, 2, 4, 4, 1 << 20)
        struct.pack_into("<I", data, at + 64, 200)
    stream = open_image(_raw(tmp_path, bytes(data), "togo.raw"))
    assert signatures.bitlocker(stream)
    meta = read_metadata(stream, "d0")
    assert (meta.version, meta.good, meta.length, meta.encrypted_size, meta.state) == ("To Go", 4096, 264, 1 << 20, 4)
    assert meta.damaged == {20480: "no -FVE-FS- signature"}


# -- LUKS -----------------------------------------------------------------------------------------------------


def rewrite_luks2_json(image: Path, mutate: Callable[[dict[str, Any]], Any]) -> None:
    """Edit the primary LUKS2 header's JSON and recompute its SHA-256 checksum, as a damaged header would look."""
    raw = bytearray(image.read_bytes())
    size = struct.unpack_from(">Q", raw, 8)[0]
    meta = json.loads(bytes(raw[4096:size]).split(b"\0", 1)[0])
    mutate(meta)
    text = json.dumps(meta).encode()
    assert len(text) < size - 4096
    raw[4096:size] = text.ljust(size - 4096, b"\0")
    raw[448:512] = bytes(64)
    raw[448:480] = hashlib.sha256(bytes(raw[:size])).digest()
    image.write_bytes(bytes(raw))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(meta: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = meta
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


@pytest.mark.parametrize(("mutate", "message"), [
    (_set("keyslots.0", 5), "LUKS2 metadata field metadata.keyslots.0 is number 5, expected an object"),
    (_set("keyslots", None), "LUKS2 metadata field metadata.keyslots is null, expected an object"),
    (_set("keyslots.0.area.offset", {"x": 1}),
     'LUKS2 metadata field metadata.keyslots.0.area.offset is object {"x": 1}, expected a non-negative integer'),
    (_set("keyslots.0.kdf.salt", "not base64!"),
     'LUKS2 metadata field metadata.keyslots.0.kdf.salt is string "not base64!", expected base64'),
    (_set("segments", {"zero": {}}),
     "LUKS2 metadata field metadata.segments key 'zero' is string \"zero\", expected a decimal number"),
    (lambda meta: meta["keyslots"]["0"].pop("af"), "LUKS2 metadata field metadata.keyslots.0.af is missing"),
    (_set("digests.0.keyslots", [0]),
     "LUKS2 metadata field metadata.digests.0.keyslots is array [0], expected a list of strings"),
    (_set("keyslots.0.kdf", {"type": "argon2id", "salt": "AAAA", "time": 4, "memory": 1 << 40, "cpus": 4}),
     "LUKS2 metadata field metadata.keyslots.0.kdf.memory is number 1099511627776, expected an integer from 32 to "
     "4194304"),
    (_set("keyslots.0.af.stripes", 1 << 20),
     "LUKS2 metadata field metadata.keyslots.0.af.stripes is number 1048576, expected an integer from 1 to 4096"),
], ids=["slot-not-object", "keyslots-null", "offset-object", "salt", "segment-name", "af-missing", "digest-slots",
        "argon2-memory", "stripes-past-area"])
def test_malformed_luks2_json_is_a_clear_error_naming_the_field(tmp_path: Path, mutate: Callable[..., Any],
                                                                 message: str) -> None:
    image = volume_fixture("luks2-pbkdf2", tmp_path)
    rewrite_luks2_json(image, mutate)
    keys = Keys(passwords=[LUKS2_PASSWORD])
    volumes, _ = scan_files([image], keys)
    v = volumes["d0"]
    assert (v.encryption, v.locked, v.keys_failed) == ("luks2", True, False)
    assert v.warnings == [f"d0: {message}. The LUKS2 header is damaged; compare with cryptsetup luksDump, and "
                          "restore a header backup (cryptsetup luksHeaderRestore) if there is one"]
    with pytest.raises(UnlockError) as caught:
        raise_if_keys_failed(list(volumes.values()), keys)
    assert str(caught.value) == v.warnings[0]


def test_luks2_cipher_we_do_not_implement_is_named_not_a_wrong_password(tmp_path: Path) -> None:
    require_tool("cryptsetup")
    image = tmp_path / "ecb.img"
    with open(image, "wb") as fh:
        fh.truncate(2 << 20)
    subprocess.run(["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--cipher", "aes-ecb",
                    "--key-size", "256", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
                    "--luks2-metadata-size", "16k", "--luks2-keyslots-size", "128k", "--key-file", "-", str(image)],
                   input=b"ecb-pass", check=True, capture_output=True)
    code, out, err = run("inspect", image, "--password", "ecb-pass")
    assert code == 1
    assert "luks2 aes-ecb (locked)" in out
    assert err == ("Error: d0: LUKS2 cipher aes-ecb is not supported (restorekit decrypts aes-xts-plain64, "
                   "aes-xts-plain, aes-cbc-plain64, aes-cbc-plain and aes-cbc-essiv:HASH), so d0 cannot be "
                   "unlocked. Open it with cryptsetup on Linux and copy the files from there\n")


@pytest.mark.parametrize(("field", "cipher"), [
    ("segments.0.encryption", "serpent-xts-plain64"),
    ("keyslots.0.area.encryption", "twofish-xts-plain64"),
], ids=["segment", "key-slot-area"])
def test_unsupported_cipher_is_said_before_any_key_derivation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              field: str, cipher: str) -> None:
    image = volume_fixture("luks2-pbkdf2", tmp_path)
    rewrite_luks2_json(image, _set(field, cipher))
    derivations = _count_derivations(monkeypatch)
    volumes, _ = scan_files([image], Keys(passwords=[LUKS2_PASSWORD]))
    v = volumes["d0"]
    assert (v.locked, v.keys_failed, derivations) == (True, False, [])
    assert v.warnings[0].startswith(f"d0: LUKS2 cipher {cipher} is not supported (restorekit decrypts ")


def _count_derivations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The real key derivation, recording the password of every run."""
    calls: list[str] = []
    real = luks.derive_key

    def counted(kdf: Any, password: bytes, length: int) -> bytes:
        calls.append(password.decode())
        return real(kdf, password, length)

    monkeypatch.setattr(luks, "derive_key", counted)
    return calls


def test_file_access_derives_each_slot_key_once_per_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ls`` scans twice when the named volume stays locked (to list the readable ones): an Argon2 slot
    (seconds, ~1 GB) must not run twice for one password."""
    image = volume_fixture("luks2-pbkdf2", tmp_path)
    derivations = _count_derivations(monkeypatch)
    code, _out, err = run("ls", image, "d0:/", "--password", "wrong-1", "--password", "wrong-2")
    assert code == 1
    assert err.startswith("Error: d0: none of the 2 passwords given unlocks d0 (LUKS2, aes-xts-plain64, key slots: "
                          "pbkdf2)")
    assert derivations == ["wrong-1", "wrong-2"]


def test_locked_file_access_says_the_password_did_not_fit(tmp_path: Path) -> None:
    """Not "pass --password" when a password was passed; no BitLocker advice for LUKS."""
    image = volume_fixture("luks1", tmp_path)
    code, _out, err = run("cat", image, "d0:/secret.txt", "--password", "nope")
    assert code == 1
    assert err == ("Error: d0: the password given did not unlock d0 (LUKS1, aes-xts-plain64, key slots: pbkdf2). "
                   "Check the passphrase (it is case-sensitive; for Azure Disk Encryption on Linux it is the BEK "
                   "secret from Key Vault)\n")
    code, _out, err = run("cat", image, "d0:/secret.txt", "--recovery-password", BITLOCKER_RECOVERY)
    assert code == 1
    assert err.endswith("A LUKS volume opens with --password (the passphrase); --recovery-password and --bek are "
                        "BitLocker keys\n")


def test_luks1_magic_on_a_volume_shorter_than_its_header(tmp_path: Path) -> None:
    image = _raw(tmp_path, volume_fixture("luks1", tmp_path).read_bytes()[:512], "short.img")
    keys = Keys(passwords=[LUKS1_PASSWORD])
    volumes, _ = scan_files([image], keys)
    v = volumes["d0"]
    assert (v.encryption, v.locked) == ("luks1", True)
    assert v.warnings == ["d0: LUKS1 header needs 592 bytes but the volume holds only 512 (at offset 0x00000000). "
                          "The image or partition is truncated"]
    with pytest.raises(UnlockError, match="LUKS1 header needs 592 bytes"):
        raise_if_keys_failed(list(volumes.values()), keys)


def test_luks2_hash_we_cannot_compute_is_named(tmp_path: Path) -> None:
    image = volume_fixture("luks2-pbkdf2", tmp_path)
    rewrite_luks2_json(image, _set("keyslots.0.af.hash", "whirlpool"))
    volumes, _ = scan_files([image], Keys(passwords=[LUKS2_PASSWORD]))
    assert volumes["d0"].warnings == ["d0: LUKS2 metadata.keyslots.0.af.hash names hash whirlpool, which restorekit "
                                      "cannot compute. Open it with cryptsetup on Linux and copy the files from there"]


def test_luks1_cipher_libluksde_does_not_implement_is_named(tmp_path: Path) -> None:
    """LUKS1 has no header checksum: the cipher name is rewritten in place (at 8, 32 bytes)."""
    image = volume_fixture("luks1", tmp_path)
    with open(image, "r+b") as fh:
        fh.seek(8)
        fh.write(b"twofish".ljust(32, b"\0"))
    volumes, _ = scan_files([image], Keys(passwords=[LUKS1_PASSWORD]))
    v = volumes["d0"]
    assert (v.locked, v.keys_failed) == (True, False)
    assert v.warnings == ["d0: LUKS1 volume (twofish-xts-plain64) cannot be unlocked: libluksde says "
                          "libluksde_encryption_context_initialize: unsupported method and chaining mode. Open it "
                          "with cryptsetup on Linux and copy the files from there"]


@pytest.mark.parametrize("field", [208 + 4, 164], ids=["key-slot", "master-key-digest"])
def test_luks1_iteration_count_from_a_damaged_header_is_refused_before_any_derivation(tmp_path: Path,
                                                                                      field: int) -> None:
    """A slot (or the master-key digest) asking for 67 million PBKDF2 iterations: once a minute-long hang per
    password in libluksde; now one line at once."""
    image = volume_fixture("luks1", tmp_path)
    with open(image, "r+b") as fh:
        fh.seek(field)
        fh.write(struct.pack(">I", 0x04000000 + 1000))
    code, _out, err = run("inspect", image, "--password", LUKS1_PASSWORD)
    assert code == 1
    assert "asks for 67,109,864 key-derivation iterations, more than restorekit spends on one key slot" in err
    assert "RESTOREKIT_MAX_KDF_ITERATIONS" in err


def test_luks2_kdf_cost_from_a_damaged_header_is_refused(tmp_path: Path) -> None:
    image = volume_fixture("luks2-pbkdf2", tmp_path)
    rewrite_luks2_json(image, _set("keyslots.0.kdf.iterations", 4_000_000_000))
    volumes, _ = scan_files([image], Keys(passwords=[LUKS2_PASSWORD]))
    assert volumes["d0"].locked
    assert "LUKS2 key slot 0 asks for 4,000,000,000 key-derivation iterations" in volumes["d0"].warnings[0]


def test_a_wrong_volume_id_does_not_unlock_the_volumes_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The error lists the readable volumes from the one scan: each encrypted volume's key derivation (seconds,
    for Argon2) runs once."""
    from restorekit.files import open_volumes, volume_filesystem
    from restorekit.fs.containers.luks import LuksEncryption
    from restorekit.fs.errors import FilesystemError

    luks1 = volume_fixture("luks1", tmp_path)
    calls = []
    real_open = LuksEncryption.open.__func__  # type: ignore[attr-defined]

    def counted(cls: type, *args: Any) -> Any:
        calls.append(args[1])
        return real_open(cls, *args)

    monkeypatch.setattr(LuksEncryption, "open", classmethod(counted))
    with (open_volumes([luks1], Keys([LUKS1_PASSWORD], [], []), [parse_target("d9:/")]) as volumes,
          pytest.raises(FilesystemError, match="Readable volumes: d0")):
        volume_filesystem(volumes, "d9")
    assert calls == ["d0"]
