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
import struct
from typing import TYPE_CHECKING, Any

from restorekit.fs.container import Encryption, Unlocked
from restorekit.fs.containers.luks_crypto import SectorCipher, af_merge, derive_key
from restorekit.fs.errors import VolumeError
from restorekit.fs.volume import DecryptedVolume, LibyalDecryptor

if TYPE_CHECKING:
    from restorekit.fs.scan import Keys
    from restorekit.fs.stream import Stream

MAGIC = b"LUKS\xba\xbe"
LUKS1_HEADER = struct.Struct(">6sH32s32s32sII20s32sI40s")
LUKS1_SLOT = struct.Struct(">II32sII")
LUKS1_ACTIVE = 0x00AC71F3
LUKS2_HEADER = struct.Struct(">6sHQQ48s32s64s40s48sQ184s64s")
LUKS2_OFFSETS = (0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000)
MAX_JSON = 4 << 20


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


class LuksEncryption(Encryption):
    """A LUKS1 or LUKS2 volume."""

    type_name = "luks"
    SIGNATURES = ((MAGIC, 0),)

    @classmethod
    def open(cls, stream: Stream, volume: str, keys: Keys) -> Unlocked:
        version = struct.unpack(">H", stream.pread(2, 6))[0]
        if version == 1:
            return _open_luks1(stream, volume, keys)
        if version == 2:
            return _open_luks2(stream, volume, keys)
        result = Unlocked(f"luks{version}")
        result.warnings.append(f"{volume}: LUKS version {version} is unknown; the volume cannot be read")
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
            result.warnings.append(f"{volume}: LUKS1 cannot be opened: {exc.args[0].split('.')[0]}")
            return result
    _locked_warning(result, volume, keys)
    return result


def _locked_warning(result: Unlocked, volume: str, keys: Keys) -> None:
    details = result.details
    kinds = ", ".join(sorted({slot["type"] for slot in details.get("keySlots", [])})) or "none"
    what = f"LUKS{details.get('version')} volume ({details.get('cipher')}; key slots: {kinds})"
    if keys.passwords:
        result.keys_failed = True
        result.warnings.append(f"{volume}: {what} is locked: none of the {len(keys.passwords)} password(s) given "
                               "opens a key slot")
    else:
        result.warnings.append(f"{volume}: {what} is locked; pass --password to read it")


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


def _open_luks2(stream: Stream, volume: str, keys: Keys) -> Unlocked:
    result = Unlocked("luks2")
    try:
        meta, result.warnings = read_luks2_metadata(stream, volume)
    except VolumeError as exc:
        result.warnings.append(str(exc))
        return result
    segment = meta.get("segments", {}).get("0", {})
    slots = [{"slot": int(name), "type": slot.get("kdf", {}).get("type", slot.get("type", "?")),
              "keyType": slot.get("type"), "encryption": slot.get("area", {}).get("encryption")}
             for name, slot in sorted(meta.get("keyslots", {}).items(), key=lambda kv: int(kv[0]))]
    result.details = {"version": 2, "cipher": segment.get("encryption"), "sectorSize": segment.get("sector_size"),
                      "payloadOffset": int(segment.get("offset", 0)), "keySlots": slots}
    for password in keys.passwords:
        key = _luks2_volume_key(stream, meta, password.encode())
        if key is not None:
            try:
                result.stream = _luks2_payload(stream, volume, segment, key)
            except VolumeError as exc:
                result.warnings.append(str(exc))
            return result
    _locked_warning(result, volume, keys)
    return result


def _luks2_volume_key(stream: Stream, meta: dict[str, Any], password: bytes) -> bytes | None:
    """The volume key when ``password`` opens a key slot and the key matches its digest."""
    for name, slot in sorted(meta.get("keyslots", {}).items(), key=lambda kv: int(kv[0])):
        if slot.get("type") != "luks2":
            continue
        try:
            area, af, kdf = slot["area"], slot["af"], slot["kdf"]
            key_size = int(slot["key_size"])
            derived = derive_key(kdf, password, int(area["key_size"]))
            material = stream.pread(key_size * int(af["stripes"]), int(area["offset"]))
            plain = SectorCipher(area["encryption"], derived, 512).decrypt(material, 0)
            key = af_merge(plain, key_size, int(af["stripes"]), af["hash"])
        except (KeyError, ValueError):
            continue
        if _digest_matches(meta, name, key):
            return key
    return None


def _digest_matches(meta: dict[str, Any], slot: str, key: bytes) -> bool:
    for digest in meta.get("digests", {}).values():
        if slot not in digest.get("keyslots", []) or digest.get("type") != "pbkdf2":
            continue
        expected = base64.b64decode(digest["digest"])
        got = hashlib.pbkdf2_hmac(digest["hash"], key, base64.b64decode(digest["salt"]), int(digest["iterations"]),
                                  len(expected))
        if got == expected:
            return True
    return False


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


def _luks2_payload(stream: Stream, volume: str, segment: dict[str, Any], key: bytes) -> DecryptedVolume:
    offset = int(segment["offset"])
    sector = int(segment.get("sector_size", 512))
    size = stream.size - offset if segment.get("size", "dynamic") == "dynamic" else int(segment["size"])
    try:
        cipher = SectorCipher(segment["encryption"], key, sector)
    except ValueError as exc:
        raise VolumeError(f"LUKS2 cipher {segment['encryption']} is not supported: {exc}", volume=volume,
                          hint="restorekit decrypts aes-xts-plain64 and aes-cbc-essiv:sha256") from exc
    return DecryptedVolume(volume, Luks2Decryptor(stream, offset, cipher, int(segment.get("iv_tweak", 0))),
                           max(0, size))
