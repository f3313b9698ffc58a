"""Mutations as lists of small, replayable operations on the input files of one run.

An operation is applied to the files' bytes in order; a minimizer drops operations or narrows patches and
replays the rest. Checksum fix-ups are operations too, so a mutated field reaches the parser behind the
checksum that would otherwise reject it.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import crc32c

if TYPE_CHECKING:
    from collections.abc import Callable

Files = dict[str, bytearray]


class Op(Protocol):
    file: str

    def apply(self, files: Files) -> None: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Patch:
    """Overwrite bytes at ``offset`` (growing the file with zeros if it ends before)."""

    file: str
    offset: int
    data: bytes
    note: str = ""

    def apply(self, files: Files) -> None:
        buf = files[self.file]
        end = self.offset + len(self.data)
        if end > len(buf):
            buf.extend(bytes(end - len(buf)))
        buf[self.offset:end] = self.data

    def describe(self) -> dict[str, Any]:
        return {"op": "patch", "file": self.file, "offset": self.offset, "data": self.data.hex(), "note": self.note}

    def narrowed(self, original: bytes) -> list[Patch]:
        """The patch cut down to the bytes that differ from ``original`` (the file before it), split in runs."""
        runs: list[Patch] = []
        start = None
        for i, byte in enumerate(self.data):
            differs = self.offset + i >= len(original) or original[self.offset + i] != byte
            if differs and start is None:
                start = i
            elif not differs and start is not None:
                runs.append(replace(self, offset=self.offset + start, data=self.data[start:i]))
                start = None
        if start is not None:
            runs.append(replace(self, offset=self.offset + start, data=self.data[start:]))
        return runs


@dataclass(frozen=True)
class Truncate:
    """Cut the file to ``size`` bytes."""

    file: str
    size: int

    def apply(self, files: Files) -> None:
        del files[self.file][self.size:]

    def describe(self) -> dict[str, Any]:
        return {"op": "truncate", "file": self.file, "size": self.size}


@dataclass(frozen=True)
class Duplicate:
    """Copy ``length`` bytes from ``source`` over ``dest`` (a table entry repeated, a structure moved)."""

    file: str
    source: int
    dest: int
    length: int

    def apply(self, files: Files) -> None:
        buf = files[self.file]
        chunk = bytes(buf[self.source:self.source + self.length])
        Patch(self.file, self.dest, chunk).apply(files)

    def describe(self) -> dict[str, Any]:
        return {"op": "duplicate", "file": self.file, "source": self.source, "dest": self.dest, "length": self.length}


def _crc32c_raw(data: bytes) -> int:
    """CRC-32C without the final inversion (ext4's ``ext4_chksum(~0, ...)``)."""
    return crc32c.crc32c(data) ^ 0xFFFFFFFF


def _fix_gpt(buf: bytearray, at: int) -> None:
    size = struct.unpack_from("<I", buf, at + 12)[0]
    entries_lba, count, entry_size = struct.unpack_from("<QII", buf, at + 72)
    base = at - struct.unpack_from("<Q", buf, at + 24)[0] * 512  # the disk's start, from the header's own LBA
    start = base + entries_lba * 512
    if start >= 0 and count * entry_size <= 1 << 20 and start + count * entry_size <= len(buf):
        struct.pack_into("<I", buf, at + 88, zlib.crc32(buf[start:start + count * entry_size]))
    if 92 <= size <= 512:
        struct.pack_into("<I", buf, at + 16, 0)
        struct.pack_into("<I", buf, at + 16, zlib.crc32(buf[at:at + size]))


def _fix_vhd(buf: bytearray, at: int) -> None:
    size = 512 if buf[at:at + 8] == b"conectix" else 1024
    field = 64 if size == 512 else 36
    struct.pack_into(">I", buf, at + field, 0)
    struct.pack_into(">I", buf, at + field, ~sum(buf[at:at + size]) & 0xFFFFFFFF)


def _fix_vhdx(buf: bytearray, at: int) -> None:
    size = 4096 if buf[at:at + 4] == b"head" else 65536  # headers: 4 KiB; region table and log entries: 64 KiB
    if buf[at:at + 4] == b"loge":
        size = struct.unpack_from("<I", buf, at + 8)[0]
        if not 0 < size <= 1 << 24:
            return
    struct.pack_into("<I", buf, at + 4, 0)
    struct.pack_into("<I", buf, at + 4, crc32c.crc32c(bytes(buf[at:at + size])))


def _fix_ext4_super(buf: bytearray, at: int) -> None:
    if struct.unpack_from("<I", buf, at + 0x64)[0] & 0x400:  # metadata_csum
        struct.pack_into("<I", buf, at + 0x3FC, _crc32c_raw(bytes(buf[at:at + 0x3FC])))


def _fix_xfs_super(buf: bytearray, at: int) -> None:
    sector = struct.unpack_from(">H", buf, at + 102)[0] or 512
    struct.pack_into("<I", buf, at + 224, 0)
    struct.pack_into("<I", buf, at + 224, crc32c.crc32c(bytes(buf[at:at + min(sector, 4096)])))


def _fix_xfs_inode(buf: bytearray, at: int, size: int) -> None:
    struct.pack_into("<I", buf, at + 100, 0)
    struct.pack_into("<I", buf, at + 100, crc32c.crc32c(bytes(buf[at:at + size])))


def _fix_luks2(buf: bytearray, at: int) -> None:
    size = struct.unpack_from(">Q", buf, at + 8)[0]
    if not 4096 <= size <= 4 << 20 or at + size > len(buf):
        return
    buf[at + 448:at + 512] = bytes(64)
    buf[at + 448:at + 480] = hashlib.sha256(bytes(buf[at:at + size])).digest()


def _fix_md1(buf: bytearray, at: int) -> None:
    max_dev = struct.unpack_from("<I", buf, at + 220)[0]
    size = 256 + 2 * min(max_dev, 1920)
    struct.pack_into("<I", buf, at + 216, 0)
    csum = sum(struct.unpack_from(f"<{size // 4}I", buf, at)) + (buf[at + size - 2] | buf[at + size - 1] << 8
                                                                  if size % 4 else 0)
    struct.pack_into("<I", buf, at + 216, ((csum & 0xFFFFFFFF) + (csum >> 32)) & 0xFFFFFFFF)


FIXERS: dict[str, Callable[[bytearray, int], None]] = {
    "gpt": _fix_gpt, "vhd": _fix_vhd, "vhdx": _fix_vhdx, "ext4-super": _fix_ext4_super,
    "xfs-super": _fix_xfs_super, "luks2": _fix_luks2, "md1": _fix_md1,
}


@dataclass(frozen=True)
class Fixup:
    """Recompute the checksum of the structure of ``kind`` at ``offset`` (after the patches before it)."""

    file: str
    kind: str
    offset: int

    def apply(self, files: Files) -> None:
        buf = files[self.file]
        kind, _, size = self.kind.partition(":")
        if self.offset < len(buf):
            try:
                if size:
                    _fix_xfs_inode(buf, self.offset, int(size))
                else:
                    FIXERS[kind](buf, self.offset)
            except struct.error:  # the structure was truncated away: nothing to fix
                return

    def describe(self) -> dict[str, Any]:
        return {"op": "fixup", "file": self.file, "kind": self.kind, "offset": self.offset}


def describe_all(ops: list[Op]) -> str:
    return json.dumps([op.describe() for op in ops], indent=1)
