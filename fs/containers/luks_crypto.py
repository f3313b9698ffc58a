"""The cryptography LUKS needs: key derivation (PBKDF2, Argon2), anti-forensic merge, sector ciphers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Kdf:
    """A LUKS2 ``kdf`` object, its fields checked: PBKDF2 (``hash``, ``iterations``) or Argon2 (``time``,
    ``memory`` in KiB, ``cpus``)."""

    type: str
    salt: bytes
    hash: str = ""
    iterations: int = 0
    time: int = 0
    memory: int = 0
    cpus: int = 0


KDF_TYPES = ("pbkdf2", "argon2i", "argon2id")


def derive_key(kdf: Kdf, password: bytes, length: int) -> bytes:
    """The key ``kdf`` derives from ``password``."""
    if kdf.type == "pbkdf2":
        return hashlib.pbkdf2_hmac(kdf.hash, password, kdf.salt, kdf.iterations, length)
    if kdf.type in ("argon2i", "argon2id"):
        from argon2.low_level import Type, hash_secret_raw

        return hash_secret_raw(password, kdf.salt, time_cost=kdf.time, memory_cost=kdf.memory,
                               parallelism=kdf.cpus, hash_len=length,
                               type=Type.ID if kdf.type == "argon2id" else Type.I)
    raise ValueError(f"key derivation {kdf.type} is not supported")


#: The dm-crypt cipher specs :class:`SectorCipher` decrypts, for messages.
SUPPORTED_CIPHERS = "aes-xts-plain64, aes-xts-plain, aes-cbc-plain64, aes-cbc-plain and aes-cbc-essiv:HASH"


def cipher_problem(spec: str) -> str | None:
    """Why :class:`SectorCipher` cannot decrypt the dm-crypt cipher ``spec``, or None when it can."""
    parts = spec.split("-")
    iv = parts[2].split(":") if len(parts) == 3 else []
    if (len(parts) != 3 or parts[0] != "aes" or parts[1] not in ("xts", "cbc")
            or iv[0] not in ("plain", "plain64", "essiv") or (iv[0] == "essiv") != (len(iv) == 2)
            or (iv[0] == "essiv" and iv[1] not in hashlib.algorithms_available)):
        return f"cipher {spec} is not supported (restorekit decrypts {SUPPORTED_CIPHERS})"
    return None


def _diffuse(block: bytes, hash_name: str) -> bytes:
    size = hashlib.new(hash_name).digest_size
    out = bytearray()
    for i in range((len(block) + size - 1) // size):
        part = block[i * size : (i + 1) * size]
        out += hashlib.new(hash_name, i.to_bytes(4, "big") + part).digest()[: len(part)]
    return bytes(out)


def af_merge(material: bytes, key_size: int, stripes: int, hash_name: str) -> bytes:
    """Undo LUKS's anti-forensic split: XOR and diffuse ``stripes`` stripes into one key."""
    acc = bytes(key_size)
    for i in range(stripes - 1):
        stripe = material[i * key_size : (i + 1) * key_size]
        acc = _diffuse(bytes(a ^ b for a, b in zip(acc, stripe, strict=True)), hash_name)
    last = material[(stripes - 1) * key_size : stripes * key_size]
    return bytes(a ^ b for a, b in zip(acc, last, strict=True))


class SectorCipher:
    """A dm-crypt style cipher spec (``aes-xts-plain64``, ``aes-cbc-essiv:sha256``) over fixed sectors."""

    def __init__(self, spec: str, key: bytes, sector_size: int) -> None:
        # Imported here, when a LUKS volume is unlocked: commands that never decrypt do not pay for it.
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        problem = cipher_problem(spec)
        if problem is not None:
            raise ValueError(problem)
        _aes, self.mode, self.iv = spec.split("-")
        self.sector_size = sector_size
        mode = modes.XTS if self.mode == "xts" else modes.CBC
        self._decryptor = lambda tweak: Cipher(algorithms.AES(key), mode(tweak)).decryptor()
        if self.iv.startswith("essiv"):
            salt = hashlib.new(self.iv.split(":")[1], key).digest()
            self._essiv = Cipher(algorithms.AES(salt), modes.ECB()).encryptor()

    def _tweak(self, sector: int) -> bytes:
        if self.iv == "plain":
            sector &= 0xFFFFFFFF
        raw = sector.to_bytes(16, "little")
        return self._essiv.update(raw) if self.iv.startswith("essiv") else raw

    def decrypt(self, data: bytes, first_sector: int) -> bytes:
        """Decrypt whole sectors, numbering the first one ``first_sector``."""
        out = bytearray()
        size = self.sector_size
        for i in range(0, len(data), size):
            tweak = self._tweak(first_sector + i // size)
            out += self._decryptor(tweak).update(data[i : i + size])
        return bytes(out)
