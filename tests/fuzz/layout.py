"""Where a seed file keeps its structures, and the byte-level mutation engine that aims at them.

A :class:`Layout` lists regions (a structure's bytes), fields (integers inside them, with their width and byte
order), named special patches a format knows to be nasty (a directory entry pointing at an ancestor, a name
with ``/``), and checksum fix-ups. :func:`mutate` draws a few operations, mostly inside the regions.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from tests.fuzz.ops import Duplicate, Fixup, Op, Patch, Truncate


@dataclass(frozen=True)
class Field:
    offset: int  # in the file
    size: int  # 1, 2, 4 or 8
    big_endian: bool = False
    name: str = ""


@dataclass(frozen=True)
class Region:
    offset: int
    length: int
    kind: str


@dataclass
class Layout:
    """What a format module found in one file (offsets are in that file)."""

    file: str
    size: int
    regions: list[Region] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    specials: list[Patch] = field(default_factory=list)
    fixups: list[Fixup] = field(default_factory=list)

    def region(self, offset: int, length: int, kind: str) -> None:
        if 0 <= offset < self.size and length > 0:
            self.regions.append(Region(offset, min(length, self.size - offset), kind))

    def ints(self, base: int, spec: list[tuple[int, int, str]], *, big_endian: bool = False) -> None:
        """Fields at ``base + offset`` given as ``(offset, size, name)``."""
        for offset, size, name in spec:
            if base + offset >= 0 and base + offset + size <= self.size:
                self.fields.append(Field(base + offset, size, big_endian, name))

    def special(self, offset: int, data: bytes, note: str) -> None:
        if offset >= 0 and offset + len(data) <= self.size:
            self.specials.append(Patch(self.file, offset, data, note))

    def fixup(self, kind: str, offset: int) -> None:
        self.fixups.append(Fixup(self.file, kind, offset))


def interesting(size: int, rng: random.Random, file_size: int) -> int:
    """A boundary value for an integer of ``size`` bytes: 0, 1, -1, max signed, sizes near the file's."""
    top = (1 << (8 * size)) - 1
    pool = [0, 1, 2, top, top >> 1, (top >> 1) + 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000,
            0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 512, 4096, 65536, file_size, file_size // 512, file_size - 1,
            file_size + 1, file_size // 4096, file_size * 2]
    return rng.choice(pool) & top


def _field_op(layout: Layout, rng: random.Random, data: bytes) -> Op:
    fld = rng.choice(layout.fields)
    fmt = (">" if fld.big_endian else "<") + {1: "B", 2: "H", 4: "I", 8: "Q"}[fld.size]
    old = struct.unpack_from(fmt, data, fld.offset)[0]
    top = (1 << (8 * fld.size)) - 1
    choice = rng.random()
    if choice < 0.6:
        value = interesting(fld.size, rng, layout.size)
    elif choice < 0.8:
        value = (old + rng.choice([-1, 1, -2, 2, 8, -8, 512])) & top
    else:
        value = old ^ (1 << rng.randrange(8 * fld.size))
    return Patch(layout.file, fld.offset, struct.pack(fmt, value), f"{fld.name}={value:#x}")


def _flip_op(layout: Layout, rng: random.Random, data: bytes, region: Region) -> Op:
    at = region.offset + rng.randrange(region.length)
    if rng.random() < 0.5:
        return Patch(layout.file, at, bytes([data[at] ^ (1 << rng.randrange(8))]), f"flip in {region.kind}")
    length = min(rng.choice([1, 2, 4, 8, 16]), layout.size - at)
    fill = rng.choice([b"\0", b"\xff", bytes([rng.randrange(256)])])
    return Patch(layout.file, at, fill * length, f"fill in {region.kind}")


def mutate(layout: Layout, rng: random.Random, data: bytes) -> list[Op]:
    """One to four operations, mostly on known fields and regions, then the fix-ups that keep checksums valid."""
    ops: list[Op] = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        roll = rng.random()
        if roll < 0.35 and layout.fields:
            ops.append(_field_op(layout, rng, data))
        elif roll < 0.5 and layout.specials:
            ops.append(rng.choice(layout.specials))
        elif roll < 0.8 and layout.regions:
            ops.append(_flip_op(layout, rng, data, rng.choice(layout.regions)))
        elif roll < 0.87 and layout.regions:
            src, dst = rng.choice(layout.regions), rng.choice(layout.regions)
            length = min(src.length, dst.length, layout.size - dst.offset)
            ops.append(Duplicate(layout.file, src.offset, dst.offset, length))
        elif roll < 0.93:
            cut = rng.choice([r.offset + r.length // 2 for r in layout.regions] or [layout.size // 2])
            ops.append(Truncate(layout.file, max(0, cut)))
        else:
            ops.append(_flip_op(layout, rng, data, Region(0, layout.size, "anywhere")))
    if layout.fixups and rng.random() < 0.8:
        ops += layout.fixups
    return ops


def read_int(data: bytes, offset: int, size: int, *, big_endian: bool = False) -> int:
    """The unsigned integer at ``offset``, or 0 past the end (seed layouts are read from real, sane files)."""
    if offset < 0 or offset + size > len(data):
        return 0
    return int.from_bytes(data[offset:offset + size], "big" if big_endian else "little")


def name_specials(layout: Layout, data: bytes, names: list[str]) -> None:
    """Hostile versions of the file names the seed holds, where their bytes (UTF-8 or UTF-16LE) sit inside the
    structures found (directory blocks, MFT records, ...): a name with ``/``, a name of dots (``.``, ``..``),
    a name climbing out (``../x``)."""
    windows = {(r.offset, r.length) for r in layout.regions if r.length <= 1 << 16}
    for name in names[:40]:
        if not name:
            continue
        variants = ((name[:len(name) // 2] + "/" + name[len(name) // 2 + 1:]) if len(name) > 1 else "/",
                    "." * len(name) if len(name) <= 2 else "../" + name[3:])
        for encoding in ("utf-8", "utf-16-le"):
            raw = name.encode(encoding)
            for offset, length in windows:
                at = data.find(raw, offset, offset + length)
                if at < 0:
                    continue
                for text in variants:
                    encoded = text.encode(encoding)
                    if len(encoded) == len(raw):
                        layout.special(at, encoded, f"name {name!r} -> {text!r} ({encoding})")
