"""A quick structure-aware mutation smoke test of the binary parsers: damaged headers end cleanly, never in a traceback.

Small real images (a dynamic VHD, VHDX with and without a pending log, MBR with logical partitions, GPT, an LVM2
PV, an mdadm member, LDM and Storage Spaces disks) get random values written over their header fields; most of
the time the checksums are then made right again, so the damage reaches the parsers behind them. ``restorekit
inspect --json`` must then exit 0 or 1 with at most a one-line error, and quickly. The seed is fixed, so a
failure replays; the case is named in the assertion message.
"""

from __future__ import annotations

import random
import struct
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import crc32c
import pytest
from click.testing import CliRunner

from restorekit.cli import cli
from restorekit.fs.containers.mdraid import MAX_DEVICES_1, superblock_1_checksum
from restorekit.fs.images.vhd import vhd_checksum
from tests.conftest import fixture_file, gunzip_to

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SEED = 13
MUTATIONS = 24
SLOW = 5.0  # seconds; a parser that loops on a mutated count takes far longer than a clean run

#: (offset, length) of header fields.
Fields = list[tuple[int, int]]


@dataclass
class Target:
    """An image to mutate: its fields and its checksum fixup."""

    fixture: str
    fields: Callable[[bytes], Fields]
    #: Makes the checksums right again after a mutation, so the damage reaches the parsers behind them.
    fixup: Callable[[bytearray], None]
    #: Images the mutated one needs beside it (a differencing image's parents); never mutated.
    beside: tuple[str, ...] = ()


def _u(raw: bytes, fmt: str, at: int) -> int:
    return int(struct.unpack_from(fmt, raw, at)[0])


# -- VHD ----------------------------------------------------------------------------------------------------


def vhd_fields(raw: bytes) -> Fields:
    end = len(raw) - 512
    header = _u(raw, ">Q", end + 16)
    table = _u(raw, ">Q", header + 16)
    footer = [(end + at, n) for at, n in ((16, 8), (40, 8), (48, 8), (60, 4), (68, 16))]
    dynamic = [(header + at, n) for at, n in ((8, 8), (16, 8), (28, 4), (32, 4), (40, 16))]
    locators = [(header + 576 + 24 * i + at, n) for i in range(2) for at, n in ((0, 4), (8, 4), (16, 8))]
    return footer + [(at - end, n) for at, n in footer] + dynamic + locators + [(table + 4 * i, 4) for i in range(4)]


def vhd_fixup(raw: bytearray) -> None:
    for footer in (len(raw) - 512, 0):
        struct.pack_into(">I", raw, footer + 64, vhd_checksum(bytes(raw[footer : footer + 512]), 64))
    header = _u(raw, ">Q", len(raw) - 512 + 16)
    if header + 1024 <= len(raw):
        struct.pack_into(">I", raw, header + 36, vhd_checksum(bytes(raw[header : header + 1024]), 36))


# -- VHDX ---------------------------------------------------------------------------------------------------

KIB, MIB = 1024, 1 << 20


def _vhdx_crc(raw: bytearray, at: int, length: int) -> None:
    block = bytearray(raw[at : at + length])
    block[4:8] = bytes(4)
    struct.pack_into("<I", raw, at + 4, crc32c.crc32c(bytes(block)))


def vhdx_fields(raw: bytes) -> Fields:
    fields: Fields = []
    for header in (64 * KIB, 128 * KIB):
        fields += [(header + at, n) for at, n in ((8, 8), (56, 16), (64, 2), (66, 2), (68, 4), (72, 8))]
    regions = {}
    for table in (192 * KIB, 256 * KIB):
        fields.append((table + 8, 4))
        for i in range(_u(raw, "<I", table + 8)):
            entry = table + 16 + 32 * i
            fields += [(entry, 16), (entry + 16, 8), (entry + 24, 4), (entry + 28, 4)]
            regions[raw[entry : entry + 4]] = _u(raw, "<Q", entry + 16)
    metadata = regions[b"\x06\xa2|\x8b"]  # 8B7CA206-...: the metadata region
    bat = regions[b"fw\xc2-"]  # 2DC27766-...: the BAT region
    fields.append((metadata + 10, 2))
    for i in range(_u(raw, "<H", metadata + 10)):
        entry = metadata + 32 + 32 * i
        fields += [(entry + 16, 4), (entry + 20, 4), (entry + 24, 4)]
        item = metadata + _u(raw, "<I", entry + 16)
        fields += [(item + 4 * k, 4) for k in range(16)]  # values, and a parent locator's entries
    log = _u(raw, "<Q", 64 * KIB + 72)
    fields += [(log + at, n) for at, n in ((8, 4), (12, 4), (16, 8), (24, 4), (48, 8), (56, 8), (64, 32), (96, 32))]
    return fields + [(bat + 8 * i, 8) for i in range(8)]


def vhdx_fixup(raw: bytearray) -> None:
    for header in (64 * KIB, 128 * KIB):
        _vhdx_crc(raw, header, 4 * KIB)
    for table in (192 * KIB, 256 * KIB):
        _vhdx_crc(raw, table, 64 * KIB)
    log, length = _u(raw, "<Q", 64 * KIB + 72), _u(raw, "<I", 64 * KIB + 68)
    if raw[log : log + 4] != b"loge":  # also when a mutated header places the log elsewhere
        return
    entry = min(_u(raw, "<I", log + 8), length)
    if entry and entry % 4096 == 0 and log + entry <= len(raw):
        _vhdx_crc(raw, log, entry)


# -- partition tables and containers (raw disk images) --------------------------------------------------------


def mbr_fields(raw: bytes) -> Fields:
    fields = [(446 + 16 * i + at, n) for i in range(4) for at, n in ((0, 1), (4, 1), (8, 4), (12, 4))]
    for i in range(4):
        if raw[446 + 16 * i + 4] in (0x05, 0x0F, 0x85):
            ebr = _u(raw, "<I", 446 + 16 * i + 8) * 512
            fields += [(ebr + 446 + 16 * j + at, n) for j in range(2) for at, n in ((4, 1), (8, 4), (12, 4))]
    return fields


def gpt_fields(raw: bytes) -> Fields:
    fields = [(512 + at, n) for at, n in ((12, 4), (24, 8), (32, 8), (40, 8), (48, 8), (72, 8), (80, 4), (84, 4))]
    entries = _u(raw, "<Q", 512 + 72) * 512
    fields += [(entries + 128 * i + at, n) for i in range(4) for at, n in ((0, 16), (32, 8), (40, 8))]
    backup = len(raw) - 512
    return fields + [(backup + at, n) for at, n in ((24, 8), (72, 8), (80, 4), (84, 4))]


def gpt_fixup(raw: bytearray) -> None:
    for header in (512, len(raw) - 512):
        if raw[header : header + 8] != b"EFI PART":
            continue
        entries, count, size = _u(raw, "<Q", header + 72) * 512, _u(raw, "<I", header + 80), _u(raw, "<I", header + 84)
        if count * size <= 1 << 20 and entries + count * size <= len(raw):
            struct.pack_into("<I", raw, header + 88, zlib.crc32(bytes(raw[entries : entries + count * size])))
        length = _u(raw, "<I", header + 12)
        if 92 <= length <= 512:
            struct.pack_into("<I", raw, header + 16, 0)
            struct.pack_into("<I", raw, header + 16, zlib.crc32(bytes(raw[header : header + length])))


PART = 2048 * 512  # where the volume fixtures' first partition starts


def lvm_fields(raw: bytes) -> Fields:
    label = PART + 512
    header = label + _u(raw, "<I", label + 20)
    mda = PART + 4096
    return ([(label + 8, 8), (label + 20, 4), (header + 32, 8)] + [(header + 40 + 8 * i, 8) for i in range(8)]
            + [(mda + 4, 16), (mda + 24, 8), (mda + 32, 8), (mda + 40, 8), (mda + 48, 8)]
            + [(mda + _u(raw, "<Q", mda + 40) + 16 * i, 16) for i in range(40)])  # the metadata text itself


def md_fields(raw: bytes) -> Fields:
    sb = PART + 4096
    return [(sb + at, n) for at, n in ((4, 4), (72, 4), (80, 8), (88, 4), (92, 4), (128, 8), (136, 8), (160, 4),
                                       (200, 8), (220, 4), (256, 2), (258, 2))]


def md_fixup(raw: bytearray) -> None:
    sb = PART + 4096
    if _u(raw, "<I", sb + 220) <= MAX_DEVICES_1:
        struct.pack_into("<I", raw, sb + 216, superblock_1_checksum(bytes(raw[sb : sb + 4096])))


def header_fields(raw: bytes) -> Fields:
    """LDM and Storage Spaces: the MBR/GPT fields, and the first sectors of the first partition."""
    table = gpt_fields(raw) if raw[512:520] == b"EFI PART" else mbr_fields(raw)
    return table + [(PART + 16 * i, 16) for i in range(32)] + [(6 * 512 + 16 * i, 16) for i in range(32)]


def no_fixup(raw: bytearray) -> None:
    return None


TARGETS = {
    "vhd-dynamic": Target("images/base-dynamic.vhd.gz", vhd_fields, vhd_fixup),
    "vhd-differencing": Target("images/chain-vhd/child1.vhd.gz", vhd_fields, vhd_fixup,
                               ("images/chain-vhd/base.vhd.gz",)),
    "vhdx": Target("images/vhdx/chain-vhdx/base.vhdx.gz", vhdx_fields, vhdx_fixup),
    "vhdx-differencing": Target("images/vhdx/chain-vhdx/child1.avhdx.gz", vhdx_fields, vhdx_fixup,
                                ("images/vhdx/chain-vhdx/base.vhdx.gz",)),
    "vhdx-log": Target("images/vhdx/log/pending-log.vhdx.gz", vhdx_fields, vhdx_fixup),
    "mbr-ebr": Target("images/volumes/mbr-logical.img.gz", mbr_fields, no_fixup),
    "gpt": Target("images/volumes/gpt-windows.img.gz", gpt_fields, gpt_fixup),
    "lvm": Target("images/volumes/lvm-a.img.gz", lvm_fields, no_fixup),
    "mdadm": Target("images/volumes/md-a.img.gz", md_fields, md_fixup),
    "ldm": Target("images/volumes/ldm.img.gz", header_fields, gpt_fixup),
    "spaces": Target("images/volumes/spaces.img.gz", header_fields, gpt_fixup),
}


def _value(rng: random.Random, old: bytes) -> bytes:
    """A new value for a field: random, all zeros or ones, near the old one, or the old one scaled up."""
    n = len(old)
    choice = rng.randrange(6)
    if choice == 0:
        return rng.randbytes(n)
    if choice == 1:
        return bytes(n)
    if choice == 2:
        return b"\xff" * n
    big = n in (2, 4, 8) and old[:1] == b"\0"  # a big-endian field of a VHD starts with zeros
    number = int.from_bytes(old, "big" if big else "little")
    if choice == 3:
        number += rng.choice((-1, 1, -512, 512, 4096, 1 << 20))
    elif choice == 4:
        number <<= rng.randrange(1, 8 * n)
    else:
        number = rng.randrange(1 << (8 * n))
    return (number % (1 << (8 * n))).to_bytes(n, "big" if big else "little")


@pytest.mark.parametrize("name", list(TARGETS))
def test_mutated_headers_end_cleanly(name: str, tmp_path: Path) -> None:
    target = TARGETS[name]
    path = gunzip_to(fixture_file(target.fixture), tmp_path)
    for parent in target.beside:
        gunzip_to(fixture_file(parent), tmp_path)
    original = path.read_bytes()
    fields = [(at, n) for at, n in target.fields(original) if at >= 0 and at + n <= len(original)]
    rng = random.Random(f"{SEED}:{name}")
    runner = CliRunner()
    for case in range(MUTATIONS):
        raw = bytearray(original)
        changes = []
        for _ in range(rng.randrange(1, 4)):
            at, n = rng.choice(fields)
            raw[at : at + n] = _value(rng, bytes(raw[at : at + n]))
            changes.append(f"{at:#x}={bytes(raw[at : at + n]).hex()}")
        if rng.random() < 0.75:
            target.fixup(raw)
        path.write_bytes(raw)
        start = time.perf_counter()
        result = runner.invoke(cli, ["inspect", str(path), "--json"])
        took = time.perf_counter() - start
        what = f"{name} case {case} ({', '.join(changes)})"
        assert result.exit_code in (0, 1), f"{what}: exit {result.exit_code}\n{result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{what}: {type(result.exception).__name__}: {result.exception}"
        )
        assert len(result.stderr.splitlines()) <= 1, f"{what}: {result.stderr}"
        assert took < SLOW, f"{what}: took {took:.1f} s"
