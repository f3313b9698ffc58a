"""BitLocker (and BitLocker To Go) through pybde: detected without keys, unlocked with a password,
a recovery password or a ``.BEK`` startup key file (what Azure Disk Encryption keeps in Key Vault).

The boot sector says ``-FVE-FS-`` at offset 3 (To Go volumes say ``MSWIN4.1`` and carry the BitLocker GUID
at 0xA0). Keys are tried one at a time on a fresh pybde volume: a startup key must be loaded before
``open``, a password after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from restorekit.fs.container import Encryption, Unlocked
from restorekit.fs.volume import DecryptedVolume, LibyalDecryptor

if TYPE_CHECKING:
    from collections.abc import Callable

    from restorekit.fs.scan import Keys
    from restorekit.fs.stream import Stream

TO_GO_GUID = bytes.fromhex("3bd6674929 2ed84a8399f6a339e3d001".replace(" ", ""))
PROTECTOR_NAMES = {0: "clear key", 256: "TPM", 512: "startup key", 1280: "TPM and PIN", 2048: "recovery password",
                   8192: "password"}
METHOD_NAMES = {32768: "AES-128-CBC with diffuser", 32769: "AES-256-CBC with diffuser", 32770: "AES-128-CBC",
                32771: "AES-256-CBC", 32772: "AES-128-XTS", 32773: "AES-256-XTS"}


class BitlockerEncryption(Encryption):
    """A BitLocker-encrypted volume."""

    type_name = "bitlocker"
    SIGNATURES = ((b"-FVE-FS-", 3),)

    @classmethod
    def detect(cls, stream: Stream, partition_kind: str | None = None) -> bool:
        if super().detect(stream):
            return True
        return stream.size >= 0xB0 and stream.pread(8, 3) == b"MSWIN4.1" and stream.pread(16, 0xA0) == TO_GO_GUID

    @classmethod
    def open(cls, stream: Stream, volume: str, keys: Keys) -> Unlocked:
        import pybde

        result = Unlocked("bitlocker")
        probe = pybde.volume()
        try:
            probe.open_file_object(stream)
        except OSError as exc:
            result.warnings.append(f"{volume}: BitLocker metadata cannot be read: {exc.args[0].split('.')[0]}")
            return result
        result.details = {
            "method": METHOD_NAMES.get(probe.get_encryption_method(), str(probe.get_encryption_method())),
            "identifier": probe.get_volume_identifier(),
            "description": probe.get_description() or "",
            "protectors": [PROTECTOR_NAMES.get(probe.get_key_protector(i).get_type(), "unknown")
                           for i in range(probe.get_number_of_key_protectors())],
        }
        if not probe.is_locked():  # a clear key (suspended protection)
            return cls._unlocked(result, probe, volume, stream)
        probe.close()
        tries = [("BEK file", bek, _with_startup_key) for bek in keys.bek_files]
        tries += [("recovery password", key, _with_recovery_password) for key in keys.recovery_passwords]
        tries += [("password", key, _with_password) for key in keys.passwords]
        for _kind, key, attempt in tries:
            unlocked = attempt(pybde.volume(), stream, key)
            if unlocked is not None:
                return cls._unlocked(result, unlocked, volume, stream)
        protectors = ", ".join(result.details["protectors"]) or "none"
        if tries:
            result.keys_failed = True
            kinds = sorted({kind for kind, _k, _a in tries})
            result.warnings.append(f"{volume}: BitLocker volume is locked: none of the keys given ({', '.join(kinds)}) "
                                   f"unlocks it; its protectors are: {protectors}")
        else:
            result.warnings.append(f"{volume}: BitLocker volume is locked (protectors: {protectors}); pass "
                                   "--password, --recovery-password or --bek FILE to read it")
        return result

    @classmethod
    def _unlocked(cls, result: Unlocked, bde: Any, volume: str, stream: Stream) -> Unlocked:
        size = bde.get_size()
        result.stream = DecryptedVolume(volume, LibyalDecryptor(bde, volume, "BitLocker", stream.size), size)
        if size > stream.size:
            result.warnings.append(f"{volume}: BitLocker volume is {size} bytes but its image holds only "
                                   f"{stream.size}; the end of the volume is missing (truncated image)")
        return result


def _with_startup_key(bde: Any, stream: Stream, path: str) -> Any:
    if not Path(path).is_file():
        return None
    try:
        bde.read_startup_key(path)
        bde.open_file_object(stream)
    except OSError:
        return None
    return None if bde.is_locked() else bde


def _with_secret(setter: str) -> Callable[[Any, Stream, str], Any]:
    """An attempt that opens the volume, then sets a password-like key with ``setter`` and unlocks."""

    def attempt(bde: Any, stream: Stream, key: str) -> Any:
        try:
            bde.open_file_object(stream)
            getattr(bde, setter)(key)
            return bde if bde.unlock() else None
        except OSError:
            return None

    return attempt


_with_recovery_password = _with_secret("set_recovery_password")
_with_password = _with_secret("set_password")
