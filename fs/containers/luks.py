"""LUKS1 and LUKS2 (``LUKS\\xba\\xbe`` at offset 0, version at 6).

LUKS1 is unlocked with pyluksde. LUKS2, which libluksde cannot read, is parsed here: the binary header and
its JSON area (checksummed with SHA-256; the secondary copy is used when the primary is damaged) give the
cipher, the segments and the key slots. A password is tried on every ``luks2`` key slot (PBKDF2, Argon2i or
Argon2id), the slot's key material is decrypted and AF-merged, and the result is checked against the
digest, exactly as cryptsetup does. The payload is then decrypted here with ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restorekit.fs.container import Encryption, Unlocked
from restorekit.fs.containers.luks_crypto import KDF_TYPES, Kdf, SectorCipher, af_merge, cipher_problem, derive_key
from restorekit.fs.errors import UnlockError, VolumeError
from restorekit.fs.volume import DecryptedVolume, LibyalDecryptor, libyal_reason

if TYPE_CHECKING:
    from restorekit.fs.scan import Keys
    from restorekit.fs.stream import Stream

LUKS1_HEADER = struct.Struct(">6sH32s32s32sII20s32sI40s")
LUKS1_SLOT = struct.Struct(">II32sII")
LUKS1_ACTIVE = 0x00AC71F3
LUKS2_HEADER = struct.Struct(">6sHQQ48s32s64s40s48sQ184s64s")
LUKS2_OFFSETS = (0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000)
MAX_JSON = 4 << 20
#: Bounds on key-derivation costs (iteration counts are 32-bit in cryptsetup; Argon2 memory in KiB, 4 GiB).
MAX_ITERATIONS = (1 << 32) - 1
#: The most PBKDF2 iterations (and Argon2 passes) one key slot may ask for before restorekit spends the time.
#: cryptsetup times its KDF to about 2 s, a few million PBKDF2 iterations; a damaged header can ask for four
#: billion (hours per password). ``RESTOREKIT_MAX_KDF_ITERATIONS`` raises the bound for a volume that needs more.
KDF_ITERATIONS_DEFAULT = 20_000_000


def kdf_iteration_limit() -> int:
    """The bound on one key slot's PBKDF2 iterations (:data:`KDF_ITERATIONS_DEFAULT`, or the variable's)."""
    value = os.environ.get("RESTOREKIT_MAX_KDF_ITERATIONS", "")
    return int(value) if value.isdigit() and int(value) > 0 else KDF_ITERATIONS_DEFAULT


#: Argon2's bound: passes times memory, in MiB passes (cryptsetup's default is about 4 passes over 1 GiB).
ARGON2_MAX_MIB_PASSES = 16 << 10


def _check_cost(kdf: Kdf, what: str, volume: str) -> None:
    """Refuse a key derivation that would run far longer than any real volume's (a damaged header)."""
    if kdf.type == "pbkdf2" and kdf.iterations > kdf_iteration_limit():
        raise _too_costly(what, kdf.iterations, volume)
    if kdf.type != "pbkdf2" and kdf.time * max(kdf.memory >> 10, 1) > ARGON2_MAX_MIB_PASSES:
        raise UnlockError(f"{what} asks Argon2 for {kdf.time} passes over {kdf.memory >> 10} MiB, far more than "
                          "cryptsetup sets; the header is probably damaged", volume=volume,
                          hint="open it with cryptsetup on Linux and copy the files from there")


def _too_costly(what: str, iterations: int, volume: str) -> UnlockError:
    return UnlockError(
        f"{what} asks for {iterations:,} key-derivation iterations, more than restorekit spends on one key slot "
        f"({kdf_iteration_limit():,}); the header is probably damaged", volume=volume,
        hint="if the volume really was made so, set RESTOREKIT_MAX_KDF_ITERATIONS to allow it")
U64_MAX = (1 << 64) - 1
ARGON2_MAX_KIB = 4 << 20


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


class LuksEncryption(Encryption):
    """A LUKS1 or LUKS2 volume."""

    type_name = "luks"

    @classmethod
    def open(cls, stream: Stream, volume: str, keys: Keys) -> Unlocked:
        version = struct.unpack(">H", stream.pread(2, 6).rjust(2, b"\0"))[0]
        need = {1: LUKS1_HEADER.size + 8 * LUKS1_SLOT.size, 2: 4096}.get(version, 8)
        if stream.size < need:
            result = Unlocked(f"luks{version}")
            result.error = UnlockError(f"LUKS{version} header needs {need} bytes but the volume holds only "
                                       f"{stream.size}", volume=volume, offset=0,
                                       hint="the image or partition is truncated")
            return result
        if version == 1:
            return _open_luks1(stream, volume, keys)
        if version == 2:
            return _open_luks2(stream, volume, keys)
        result = Unlocked(f"luks{version}")
        result.error = UnlockError(f"LUKS version {version} is unknown; the volume cannot be read", volume=volume,
                                   offset=6, hint="restorekit reads LUKS1 and LUKS2")
        return result


# -- LUKS1 ----------------------------------------------------------------------------------------------------


def _open_luks1(stream: Stream, volume: str, keys: Keys) -> Unlocked:
    import pyluksde

    (_magic, _version, cipher, mode, hash_spec, payload, key_bytes, _digest, _salt, _iters,
     uuid) = LUKS1_HEADER.unpack_from(stream.pread(LUKS1_HEADER.size, 0))
    slots = []
    for i in range(8):
        active, iterations, _s, _off, _stripes = LUKS1_SLOT.unpack_from(stream.pread(48, 208 + 48 * i))
        if active == LUKS1_ACTIVE:
            slots.append({"slot": i, "type": "pbkdf2", "hash": _text(hash_spec), "iterations": iterations})
    result = Unlocked("luks1", details={
        "version": 1, "cipher": f"{_text(cipher)}-{_text(mode)}", "keySize": key_bytes * 8, "uuid": _text(uuid),
        "payloadOffset": payload * 512, "keySlots": slots,
    })
    costs = [(f"LUKS1 key slot {slot['slot']}", slot["iterations"]) for slot in slots]
    costly = next(((what, n) for what, n in [*costs, ("the LUKS1 master-key digest", _iters)]
                   if n > kdf_iteration_limit()), None)
    if keys.passwords and costly is not None:
        result.error = _too_costly(*costly, volume)
        return result
    for password in keys.passwords:
        luks = pyluksde.volume()
        try:
            luks.open_file_object(stream)
            luks.set_password(password)
            if luks.unlock():
                decryptor = LibyalDecryptor(luks, volume, "LUKS", stream.size)
                result.stream = DecryptedVolume(volume, decryptor, luks.get_size())
                return result
        except OSError as exc:
            result.error = UnlockError(f"LUKS1 volume ({result.details['cipher']}) cannot be unlocked: libluksde "
                                       f"says {libyal_reason(exc)}", volume=volume,
                                       hint="open it with cryptsetup on Linux and copy the files from there")
            return result
    _locked_error(result, volume, keys)
    return result


def _locked_error(result: Unlocked, volume: str, keys: Keys) -> None:
    """Say why a LUKS volume whose header was read stays locked: no password given, or none fitted."""
    details = result.details
    kinds = ", ".join(sorted({slot["type"] for slot in details.get("keySlots", [])})) or "none"
    version = details.get("version")
    what = f"{details.get('cipher')}, key slots: {kinds}"
    if keys.passwords:
        result.keys_failed = True
        count = len(keys.passwords)
        given = "the password given did not unlock" if count == 1 else f"none of the {count} passwords given unlocks"
        result.error = UnlockError(f"{given} {volume} (LUKS{version}, {what})",
                                   volume=volume,
                                   hint="check the passphrase (it is case-sensitive; for Azure Disk Encryption "
                                        "on Linux it is the BEK secret from Key Vault)")
    elif keys:
        result.error = UnlockError(f"no usable key was given for {volume} (LUKS{version}, {what})", volume=volume,
                                   hint="a LUKS volume opens with --password (the passphrase); --recovery-password "
                                        "and --bek are BitLocker keys")
    else:
        result.error = UnlockError(f"LUKS{version} volume is locked ({what})", volume=volume,
                                   hint="pass --password (the passphrase) to read it")


# -- LUKS2 ----------------------------------------------------------------------------------------------------


def read_luks2_metadata(stream: Stream, volume: str) -> tuple[dict[str, Any], list[str]]:
    """The JSON metadata of a LUKS2 header, from the primary copy or else the secondary; and warnings."""
    problems: list[str] = []
    for at in (0, *LUKS2_OFFSETS):
        if at + 4096 > stream.size:
            break
        raw = stream.pread(4096, at)
        if raw[:4] not in (b"LUKS", b"SKUL") or raw[4:8] != b"\xba\xbe\x00\x02":
            continue
        fields = LUKS2_HEADER.unpack_from(raw)
        hdr_size, csum_alg, hdr_offset, csum = fields[2], _text(fields[5]), fields[9], fields[11]
        if hdr_offset != at or not 4096 < hdr_size <= MAX_JSON or at + hdr_size > stream.size:
            problems.append(f"header at {at} is inconsistent")
            continue
        area = bytearray(stream.pread(hdr_size, at))
        area[448:512] = bytes(64)
        if csum_alg in hashlib.algorithms_available:
            digest = hashlib.new(csum_alg, area).digest()
            if digest != csum[: len(digest)]:
                problems.append(f"{'primary' if at == 0 else 'secondary'} header checksum mismatch")
                continue
        try:
            meta = json.loads(bytes(area[4096:]).split(b"\0", 1)[0])
        except ValueError:
            problems.append(f"JSON metadata at {at} is not valid JSON")
            continue
        warnings = [f"{volume}: LUKS2 primary header is damaged ({problems[0]}); used the copy at {at}"] \
            if at else []
        return meta, warnings
    raise VolumeError("LUKS2 header is damaged: " + ("; ".join(problems) or "no valid header copy found"),
                      volume=volume, offset=0, hint="cryptsetup luksHeaderRestore from a header backup may help")


HEADER_HINT = ("the LUKS2 header is damaged; compare with cryptsetup luksDump, and restore a header backup "
               "(cryptsetup luksHeaderRestore) if there is one")


_MISSING: Any = object()


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    for kind, name in ((bool, "boolean"), (dict, "object"), (list, "array"), (str, "string")):
        if isinstance(value, kind):
            return name
    return "number"


class _Json:
    """One object of the LUKS2 JSON metadata, read field by field: a missing field or one of the wrong type
    is a :class:`VolumeError` naming the volume and the field's path, never a ``KeyError``/``TypeError``."""

    def __init__(self, value: Any, path: str, volume: str) -> None:
        if not isinstance(value, dict):
            raise self._error(path, value, "an object", volume)
        self.value: dict[str, Any] = value
        self.path = path
        self.volume = volume

    @staticmethod
    def _error(path: str, value: Any, expected: str, volume: str) -> VolumeError:
        if value is _MISSING:
            problem = "is missing"
        elif value is None:
            problem = f"is null, expected {expected}"
        else:
            problem = f"is {_json_type(value)} {json.dumps(value)[:40]}, expected {expected}"
        return VolumeError(f"LUKS2 metadata field {path} {problem}", volume=volume, hint=HEADER_HINT)

    def _get(self, key: str, default: Any) -> Any:
        value = self.value.get(key, default)
        if value is _MISSING:
            raise self._error(f"{self.path}.{key}", value, "a value", self.volume)
        return value

    def obj(self, key: str) -> _Json:
        return _Json(self._get(key, _MISSING), f"{self.path}.{key}", self.volume)

    def objects(self, key: str) -> list[tuple[str, _Json]]:
        """The members of an object whose keys are decimal numbers (``keyslots``, ``segments``), in order."""
        parent = self.obj(key)
        for name in parent.value:
            if not name.isdigit():
                raise self._error(f"{parent.path} key {name!r}", name, "a decimal number", self.volume)
        return [(name, parent.obj(name)) for name in sorted(parent.value, key=int)]

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._error(f"{self.path}.{key}", value, "a string", self.volume)
        return value

    def number(self, key: str, default: Any = _MISSING, low: int = 0, high: int = U64_MAX) -> int:
        """An integer from ``low`` to ``high``; LUKS2 writes 64-bit ones (offsets, sizes) as decimal strings."""
        value = self._get(key, default)
        number = int(value) if isinstance(value, str) and value.isdigit() else value
        if not isinstance(number, int) or isinstance(number, bool) or not low <= number <= high:
            expected = f"an integer from {low} to {high}" if (low, high) != (0, U64_MAX) else "a non-negative integer"
            raise self._error(f"{self.path}.{key}", value, expected, self.volume)
        return number

    def hash(self, key: str) -> str:
        """A hash name restorekit can compute (PBKDF2, the anti-forensic split, digests)."""
        value = self.text(key)
        if value not in hashlib.algorithms_available:
            raise VolumeError(f"LUKS2 {self.path}.{key} names hash {value}, which restorekit cannot compute",
                              volume=self.volume, hint="open it with cryptsetup on Linux and copy the files from there")
        return value

    def base64(self, key: str) -> bytes:
        value = self.text(key)
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise self._error(f"{self.path}.{key}", value, "base64", self.volume) from None

    def texts(self, key: str) -> list[str]:
        value = self._get(key, _MISSING)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._error(f"{self.path}.{key}", value, "a list of strings", self.volume)
        return value


@dataclass(frozen=True)
class Luks2Segment:
    """The crypt segment the volume's payload is in."""

    offset: int
    #: None when ``dynamic`` (to the end of the device).
    size: int | None
    encryption: str
    sector_size: int
    iv_tweak: int


@dataclass(frozen=True)
class Luks2Keyslot:
    """A ``luks2`` key slot: where its key material is, how it is encrypted and how its key is derived."""

    name: str
    key_size: int
    kdf: Kdf
    area_offset: int
    area_encryption: str
    area_key_size: int
    stripes: int
    af_hash: str


@dataclass(frozen=True)
class Luks2Digest:
    """A ``pbkdf2`` digest that checks the volume key of the key slots it names."""

    keyslots: tuple[str, ...]
    hash: str
    iterations: int
    salt: bytes
    digest: bytes


@dataclass
class Luks2Metadata:
    """The parts of the LUKS2 JSON restorekit uses, every field checked."""

    segment: Luks2Segment
    #: Every key slot as ``details`` shows it, and the ``luks2`` ones restorekit can try.
    slots: list[dict[str, Any]]
    keyslots: list[Luks2Keyslot]
    digests: list[Luks2Digest]


def parse_luks2(raw: Any, volume: str) -> Luks2Metadata:
    """Check and type the LUKS2 JSON ``raw``; VolumeError naming the field when something is malformed."""
    meta = _Json(raw, "metadata", volume)
    segments = meta.objects("segments")
    if not segments:
        raise VolumeError("LUKS2 metadata has no segment", volume=volume, hint=HEADER_HINT)
    seg = segments[0][1]
    size = seg.text("size", "dynamic")
    segment = Luks2Segment(seg.number("offset"), None if size == "dynamic" else seg.number("size"),
                           seg.text("encryption"), seg.number("sector_size", 512, 512, 4096),
                           seg.number("iv_tweak", 0))
    slots: list[dict[str, Any]] = []
    keyslots: list[Luks2Keyslot] = []
    for name, slot in meta.objects("keyslots"):
        kind = slot.text("type")
        if kind != "luks2":
            slots.append({"slot": int(name), "type": kind, "keyType": kind, "encryption": None})
            continue
        area, af, kdf = slot.obj("area"), slot.obj("af"), slot.obj("kdf")
        kdf_type = kdf.text("type")
        if kdf_type not in KDF_TYPES:
            raise _Json._error(f"{kdf.path}.type", kdf_type, " or ".join(KDF_TYPES), volume)
        if kdf_type == "pbkdf2":
            derivation = Kdf(kdf_type, kdf.base64("salt"), kdf.hash("hash"), kdf.number("iterations", low=1,
                                                                                           high=MAX_ITERATIONS))
        else:  # Argon2's own limits, and cryptsetup's memory cap (4 GiB): a damaged header must not exhaust RAM
            cpus = kdf.number("cpus", low=1, high=16)
            derivation = Kdf(kdf_type, kdf.base64("salt"), time=kdf.number("time", low=1, high=MAX_ITERATIONS),
                             memory=kdf.number("memory", low=8 * cpus, high=ARGON2_MAX_KIB), cpus=cpus)
        key_size = slot.number("key_size", low=1, high=512)
        # The split key material (key_size * stripes bytes) must fit in the slot's area.
        stripes = af.number("stripes", low=1, high=max(1, area.number("size") // key_size))
        keyslot = Luks2Keyslot(name, key_size, derivation, area.number("offset"), area.text("encryption"),
                               area.number("key_size", low=1, high=512), stripes, af.hash("hash"))
        keyslots.append(keyslot)
        slots.append({"slot": int(name), "type": kdf_type, "keyType": kind, "encryption": keyslot.area_encryption})
    digests = [Luks2Digest(tuple(d.texts("keyslots")), d.hash("hash"), d.number("iterations", low=1,
                                                                                high=MAX_ITERATIONS),
                           d.base64("salt"), d.base64("digest"))
               for _name, d in meta.objects("digests") if d.text("type") == "pbkdf2"]
    return Luks2Metadata(segment, slots, keyslots, digests)


def _open_luks2(stream: Stream, volume: str, keys: Keys) -> Unlocked:
    result = Unlocked("luks2", details={"version": 2})
    try:
        raw, result.warnings = read_luks2_metadata(stream, volume)
        meta = parse_luks2(raw, volume)
    except VolumeError as exc:
        result.error = UnlockError(exc.message, volume=volume, offset=exc.offset, hint=exc.hint)
        return result
    segment = meta.segment
    result.details.update({"cipher": segment.encryption, "sectorSize": segment.sector_size,
                           "payloadOffset": segment.offset, "keySlots": meta.slots})
    # Checked before any key derivation: an Argon2 run costs seconds and a gigabyte, and a cipher we cannot
    # decrypt must be named as such, not reported as a wrong password.
    problem = cipher_problem(segment.encryption)
    usable = [slot for slot in meta.keyslots if cipher_problem(slot.area_encryption) is None]
    if problem is None and meta.keyslots and not usable:
        problem = cipher_problem(meta.keyslots[0].area_encryption)
    if problem is not None:
        result.error = UnlockError(f"LUKS2 {problem}, so {volume} cannot be unlocked", volume=volume,
                                   hint="open it with cryptsetup on Linux and copy the files from there")
        return result
    for password in keys.passwords:
        try:
            key = _luks2_volume_key(stream, meta, usable, password, keys, volume)
        except UnlockError as exc:
            result.error = exc
            return result
        if key is not None:
            try:
                result.stream = _luks2_payload(stream, volume, segment, key)
            except VolumeError as exc:
                result.error = exc
            return result
    _locked_error(result, volume, keys)
    return result


def _luks2_volume_key(stream: Stream, meta: Luks2Metadata, slots: list[Luks2Keyslot], password: str,
                      keys: Keys, volume: str) -> bytes | None:
    """The volume key when ``password`` opens one of ``slots`` and the key matches its digest.

    Each slot's key derivation runs once per password and command: ``keys`` keeps what it derived.
    """
    for slot in slots:
        cache = (password, slot.kdf, slot.area_key_size)
        derived = keys.derived.get(cache)
        if derived is None:
            _check_cost(slot.kdf, f"LUKS2 key slot {slot.name}", volume)
            derived = keys.derived[cache] = derive_key(slot.kdf, password.encode(), slot.area_key_size)
        material = stream.pread(slot.key_size * slot.stripes, slot.area_offset)
        try:
            plain = SectorCipher(slot.area_encryption, derived, 512).decrypt(material, 0)
        except ValueError:  # a key size the cipher does not take: this slot cannot open
            continue
        key = af_merge(plain.ljust(slot.key_size * slot.stripes, b"\0"), slot.key_size, slot.stripes, slot.af_hash)
        if _digest_matches(meta.digests, slot.name, key):
            return key
    return None


def _digest_matches(digests: list[Luks2Digest], slot: str, key: bytes) -> bool:
    return any(slot in d.keyslots
               and hashlib.pbkdf2_hmac(d.hash, key, d.salt, d.iterations, len(d.digest)) == d.digest
               for d in digests)


class Luks2Decryptor:
    """Decrypts a LUKS2 crypt segment sector by sector."""

    def __init__(self, stream: Stream, offset: int, cipher: SectorCipher, iv_tweak: int) -> None:
        self._stream = stream
        self._offset = offset
        self._cipher = cipher
        self._iv_tweak = iv_tweak

    def read_plain(self, length: int, offset: int) -> bytes:
        """Decrypt the sectors covering ``[offset, offset + length)`` and cut out the range."""
        sector = self._cipher.sector_size
        first = offset // sector
        last = (offset + length + sector - 1) // sector
        data = self._stream.pread((last - first) * sector, self._offset + first * sector)
        data += bytes((last - first) * sector - len(data))
        plain = self._cipher.decrypt(data, self._iv_tweak + first)
        skip = offset - first * sector
        return plain[skip : skip + length]


def _luks2_payload(stream: Stream, volume: str, segment: Luks2Segment, key: bytes) -> DecryptedVolume:
    size = stream.size - segment.offset if segment.size is None else segment.size
    try:
        cipher = SectorCipher(segment.encryption, key, segment.sector_size)
    except ValueError as exc:
        raise UnlockError(f"LUKS2 segment cannot be decrypted: {exc}", volume=volume,
                          hint="open it with cryptsetup on Linux and copy the files from there") from exc
    return DecryptedVolume(volume, Luks2Decryptor(stream, segment.offset, cipher, segment.iv_tweak), max(0, size))
