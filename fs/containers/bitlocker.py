"""BitLocker (Windows Vista, Windows 7 and later, and To Go) through pybde: detected without keys, unlocked
with a password, a recovery password or a ``.BEK`` startup key file (what Azure Disk Encryption keeps in
Key Vault).

The boot sector says ``-FVE-FS-`` at offset 3 (To Go volumes say ``MSWIN4.1`` and carry the BitLocker GUID
at 424). It locates three copies of the FVE metadata: Windows 7 and later (version 2) give their offsets at
176 (To Go at 440); Vista (version 1) gives the cluster of the first copy at 56, and that copy gives all
three. libbde refuses a volume unless all three copies read, but one suffices (they are identical): a copy
that is damaged or lies past the end of a truncated image is read from an intact one, and the scan says
so. Keys are tried one at a time on a fresh pybde volume: a startup key must be loaded before ``open``, a
password after it. Sectors past a partially encrypted volume's "encrypted size" (a conversion paused or in
progress) are plaintext; libbde reads them as such, and the scan says the volume is half converted.
"""

from __future__ import annotations

import io
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restorekit.fs.container import Encryption, Unlocked
from restorekit.fs.containers.signatures import BITLOCKER_GUID, BITLOCKER_SIGNATURE, TO_GO_GUID_AT
from restorekit.fs.errors import UnlockError, VolumeError
from restorekit.fs.volume import DecryptedVolume, LibyalDecryptor, libyal_reason

if TYPE_CHECKING:
    from collections.abc import Callable

    from restorekit.fs.scan import Keys
    from restorekit.fs.stream import Stream

#: An FVE metadata block header, then the metadata whose first 4 bytes give its size.
BLOCK_HEADER = 64
PROTECTOR_NAMES = {0: "clear key", 256: "TPM", 512: "startup key", 1280: "TPM and PIN", 2048: "recovery password",
                   8192: "password"}
METHOD_NAMES = {0: "none (decrypted)", 32768: "AES-128-CBC with diffuser", 32769: "AES-256-CBC with diffuser",
                32770: "AES-128-CBC", 32771: "AES-256-CBC", 32772: "AES-128-XTS", 32773: "AES-256-XTS"}
#: The protector each kind of key the user can pass opens, and the option that passes it.
KEY_PROTECTORS = {"password": "password", "recovery password": "recovery password", "BEK file": "startup key"}
PROTECTOR_OPTIONS = {"password": "--password", "recovery password": "--recovery-password", "startup key": "--bek FILE"}
RECOVERY_FORMAT = "48 digits in 8 groups of 6, each group a multiple of 11 below 720896"


def recovery_password_problem(text: str) -> str | None:
    """What is wrong with a BitLocker recovery password, or None when its format is valid.

    A recovery password is 8 groups of 6 digits; each group is 11 times a 16-bit number (so its digits
    carry their own check), which is why a mistyped digit can be told apart from a wrong key.
    """
    groups = re.split(r"[-\s]+", text.strip())
    if len(groups) == 1 and len(groups[0]) == 48:
        groups = [groups[0][i : i + 6] for i in range(0, 48, 6)]
    if len(groups) != 8 or any(len(g) != 6 or not g.isdigit() for g in groups):
        return f"it is not {RECOVERY_FORMAT}"
    for number, group in enumerate(groups, 1):
        if int(group) % 11:
            return f"group {number} ({group}) is not a multiple of 11 (a digit is mistyped)"
        if int(group) // 11 > 0xFFFF:
            return f"group {number} ({group}) is too large (each group is below 720896)"
    return None


def _canonical_recovery_password(text: str) -> str:
    digits = re.sub(r"[-\s]+", "", text)
    return "-".join(digits[i : i + 6] for i in range(0, 48, 6))


@dataclass
class Metadata:
    """Where a volume's FVE metadata copies are, and which of them can be read."""

    #: ``Vista``, ``Windows 7 or later`` or ``To Go``.
    version: str
    #: The three copies' offsets, as the volume header (or Vista's first copy) gives them.
    offsets: tuple[int, ...]
    #: The offset of the first intact copy, and the length of a copy (block header and metadata).
    good: int
    length: int
    #: Copies that cannot be read, by offset, and why.
    damaged: dict[int, str] = field(default_factory=dict)
    #: Bytes still encrypted from the start of the volume (version 2 only; None when not recorded).
    encrypted_size: int | None = None
    #: The conversion state (1 decrypted, 2 converting with a log, 3 paused, 4 encrypted, 5 converting) and
    #: the size of the region being converted (version 2 only).
    state: int | None = None
    state_size: int = 0

    def conversion_warning(self, volume: str) -> str | None:
        """What a volume caught in the middle of encryption or decryption means for its reads, if it is."""
        if self.state not in (2, 3, 5) or self.encrypted_size is None:
            return None
        what = {2: "was interrupted", 3: "is paused", 5: "is in progress"}[self.state]
        text = (f"{volume}: BitLocker encryption or decryption {what}: the first {self.encrypted_size} bytes are "
                "encrypted, the rest is plaintext (both are read)")
        if self.state == 2 and self.state_size:
            text += (f"; the {self.state_size} bytes from offset {self.encrypted_size} were being converted and "
                     "may read wrong (restorekit does not apply BitLocker's conversion log)")
        return text


def _copy_problem(stream: Stream, offset: int, version: int) -> str | None:
    """Why the metadata copy at ``offset`` cannot be used, or None."""
    if offset + BLOCK_HEADER + 4 > stream.size:
        return f"past the end of the image ({stream.size} bytes)"
    header = stream.pread(BLOCK_HEADER + 4, offset)
    if header[:8] != BITLOCKER_SIGNATURE:
        return "no -FVE-FS- signature"
    if struct.unpack_from("<H", header, 10)[0] != version:
        return f"version {struct.unpack_from('<H', header, 10)[0]}, expected {version}"
    size = struct.unpack_from("<I", header, BLOCK_HEADER)[0]
    if not 48 <= size <= 0x10000:
        return f"metadata size {size} is implausible"
    if offset + BLOCK_HEADER + size > stream.size:
        return f"past the end of the image ({stream.size} bytes)"
    return None


def read_metadata(stream: Stream, volume: str) -> Metadata:
    """Find the FVE metadata copies of a BitLocker volume; VolumeError when none can be read."""
    boot = stream.pread(512, 0)
    if len(boot) < 512:
        raise VolumeError(f"BitLocker volume header is cut short ({len(boot)} bytes)", volume=volume, offset=0,
                          hint="the image is truncated")
    if boot[3:11] == b"MSWIN4.1":
        name, version, offsets = "To Go", 2, struct.unpack_from("<3Q", boot, TO_GO_GUID_AT + 16)
    elif boot[0xA0:0xB0] == BITLOCKER_GUID:
        name, version, offsets = "Windows 7 or later", 2, struct.unpack_from("<3Q", boot, 0xB0)
    else:
        name, version = "Vista", 1
        cluster = struct.unpack_from("<H", boot, 11)[0] * boot[13]
        first = struct.unpack_from("<Q", boot, 56)[0] * cluster
        problem = _copy_problem(stream, first, version)
        if problem is not None:
            raise VolumeError(f"BitLocker (Vista) metadata at offset {first} cannot be read: {problem}",
                              volume=volume, hint="the volume header or the first FVE metadata copy is damaged")
        offsets = struct.unpack_from("<3Q", stream.pread(BLOCK_HEADER, first), 32)
    damaged = {at: problem for at in offsets if (problem := _copy_problem(stream, at, version)) is not None}
    intact = [at for at in offsets if at not in damaged]
    if not intact:
        raise VolumeError(f"BitLocker ({name}) metadata cannot be read: all three copies are damaged ("
                          + "; ".join(f"at {at}: {why}" for at, why in damaged.items()) + ")", volume=volume,
                          hint="the image may be truncated or not a BitLocker volume")
    header = stream.pread(BLOCK_HEADER + 4, intact[0])
    metadata = Metadata(name, tuple(offsets), intact[0], BLOCK_HEADER + struct.unpack_from("<I", header, 64)[0],
                        damaged)
    if version == 2:
        metadata.state = struct.unpack_from("<H", header, 12)[0]
        metadata.encrypted_size, metadata.state_size = struct.unpack_from("<QI", header, 16)
    return metadata


class MetadataRepair(io.RawIOBase):
    """The volume as libbde reads it: the bytes of ``stream``, with damaged metadata copies read from an
    intact one. A file object (``read``, ``seek``, ``tell``, ``get_size``) for ``pybde.open_file_object``."""

    def __init__(self, stream: Stream, metadata: Metadata) -> None:
        super().__init__()
        self._stream = stream
        self._metadata = metadata
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def get_size(self) -> int:
        """The size, under the name libyal's file-object bindings ask for."""
        return self._stream.size

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._stream.size}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self._stream.size - self._pos)
        start, end = self._pos, self._pos + size
        meta = self._metadata
        patches = [(max(start, at), min(end, at + meta.length), meta.good - at) for at in meta.damaged
                   if max(start, at) < min(end, at + meta.length)]
        out = bytearray(self._stream.pread(size, start))
        for lo, hi, shift in sorted(patches):
            if lo - start > len(out):  # the bytes between the image's end and this copy do not exist
                break
            out[lo - start : hi - start] = self._stream.pread(hi - lo, lo + shift)  # may extend past the end
        self._pos += len(out)
        return bytes(out)


class BitlockerEncryption(Encryption):
    """A BitLocker-encrypted volume."""

    type_name = "bitlocker"

    @classmethod
    def open(cls, stream: Stream, volume: str, keys: Keys) -> Unlocked:
        import pybde

        result = Unlocked("bitlocker")
        try:
            metadata = read_metadata(stream, volume)
        except VolumeError as exc:
            result.error = UnlockError(exc.message, volume=volume, offset=exc.offset, hint=exc.hint)
            return result
        result.warnings += [f"{volume}: BitLocker metadata copy at offset {at} is unusable ({why}); read the "
                            f"intact copy at {metadata.good}" for at, why in metadata.damaged.items()]
        conversion = metadata.conversion_warning(volume)
        if conversion is not None:
            result.warnings.append(conversion)
        source = MetadataRepair(stream, metadata)
        probe = pybde.volume()
        try:
            probe.open_file_object(source)
        except OSError as exc:
            result.error = UnlockError(f"BitLocker ({metadata.version}) volume cannot be opened: libbde says "
                                       f"{libyal_reason(exc)}", volume=volume,
                                       hint="restorekit reads BitLocker through libbde, which does not support "
                                            "this volume's version or state")
            return result
        protectors = [PROTECTOR_NAMES.get(probe.get_key_protector(i).get_type(), "unknown")
                      for i in range(probe.get_number_of_key_protectors())]
        result.details = {
            "version": metadata.version,
            "method": METHOD_NAMES.get(probe.get_encryption_method(), str(probe.get_encryption_method())),
            "identifier": probe.get_volume_identifier(),
            "description": probe.get_description() or "",
            "protectors": protectors,
            "encryptedSize": metadata.encrypted_size,
            "state": metadata.state,
        }
        if not probe.is_locked():  # a clear key (suspended protection, or a conversion in progress)
            return cls._unlocked(result, probe, volume, stream)
        probe.close()
        problems = [f"BEK file {path} not found" for path in keys.bek_files if not Path(path).is_file()]
        count = len(keys.recovery_passwords)
        problems += [f"the recovery password{f' #{n}' if count > 1 else ''} given is malformed: {problem}"
                     for n, key in enumerate(keys.recovery_passwords, 1)
                     if (problem := recovery_password_problem(key)) is not None]
        tries = [("BEK file", bek, _with_startup_key) for bek in keys.bek_files if Path(bek).is_file()]
        tries += [("recovery password", _canonical_recovery_password(key), _with_recovery_password)
                  for key in keys.recovery_passwords if recovery_password_problem(key) is None]
        tries += [("password", key, _with_password) for key in keys.passwords]
        for _kind, key, attempt in tries:
            unlocked = attempt(pybde.volume(), source, key)
            if unlocked is not None:
                return cls._unlocked(result, unlocked, volume, stream)
        what = f"{metadata.version}, protectors: {', '.join(protectors) or 'none'}"
        options = [PROTECTOR_OPTIONS[p] for p in protectors if p in PROTECTOR_OPTIONS]
        to_pass = (f"pass {' or '.join(options)} to read it" if options else
                   "none of its protectors takes a key restorekit can use (a TPM stays in the machine)")
        if not keys:
            result.error = UnlockError(f"BitLocker volume is locked ({what})", volume=volume, hint=to_pass)
            return result
        result.keys_failed = True
        kinds = sorted({kind for kind, _k, _a in tries})
        if not tries:
            message = f"no usable key was given for {volume} (BitLocker {what})"
        else:
            message = (f"the key{'s' if len(tries) > 1 else ''} given ({', '.join(kinds)}) did not unlock {volume} "
                       f"(BitLocker {what})")
        matched = [kind for kind in kinds if KEY_PROTECTORS[kind] in protectors]
        unmatched = [KEY_PROTECTORS[kind] for kind in kinds if kind not in matched]
        if unmatched:
            problems.append(f"the volume has no {' or '.join(unmatched)} protector")
        if matched:
            problems.append(f"check the {' and the '.join(matched)} (a password is case-sensitive)")
        else:
            problems.append(to_pass)
        result.error = UnlockError(message, volume=volume, hint="; ".join(problems))
        return result

    @classmethod
    def _unlocked(cls, result: Unlocked, bde: Any, volume: str, stream: Stream) -> Unlocked:
        size = bde.get_size()
        result.stream = DecryptedVolume(volume, LibyalDecryptor(bde, volume, "BitLocker", stream.size), size)
        if size > stream.size:
            result.warnings.append(f"{volume}: BitLocker volume is {size} bytes but its image holds only "
                                   f"{stream.size}; the end of the volume is missing (truncated image)")
        return result


def _with_startup_key(bde: Any, source: MetadataRepair, path: str) -> Any:
    try:
        bde.read_startup_key(path)
        bde.open_file_object(source)
    except OSError:
        return None
    return None if bde.is_locked() else bde


def _with_secret(setter: str) -> Callable[[Any, MetadataRepair, str], Any]:
    """An attempt that opens the volume, then sets a password-like key with ``setter`` and unlocks."""

    def attempt(bde: Any, source: MetadataRepair, key: str) -> Any:
        try:
            bde.open_file_object(source)
            getattr(bde, setter)(key)
            return bde if bde.unlock() else None
        except OSError:
            return None

    return attempt


_with_recovery_password = _with_secret("set_recovery_password")
_with_password = _with_secret("set_password")
