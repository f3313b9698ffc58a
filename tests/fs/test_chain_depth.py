"""Deep differencing chains: opened, mapped and read without recursion; a chain past the limit is refused.

The chains are written by the project's own writers (:mod:`fixtures.vhd_writer`, :mod:`fixtures.vhdx_writer`)
with tiny virtual sizes, each child writing one sector of its own, so every byte read can be checked against
the writes applied in order. Before chains were walked iteratively, about 190 VHDs or 240 VHDX hit
RecursionError in the parser and in the mapping (nested generators, one per image).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from fixtures.vhd_writer import Parent, write_vhd
from fixtures.vhdx_writer import ParentLink, write_vhdx
from restorekit.cli import cli
from restorekit.fs.errors import UnsupportedImageError
from restorekit.fs.image import MAX_CHAIN_DEPTH, open_image

if TYPE_CHECKING:
    from pathlib import Path

SECTOR = 512
DEPTH = 300


def _sector(level: int) -> tuple[int, bytes]:
    """The write of chain level ``level`` (0 is the base): one sector, marked with its level."""
    return (level % 120) * SECTOR, f"<level {level:04d}>".encode().ljust(SECTOR, bytes([level % 251]))


def _expected(size: int, depth: int) -> bytes:
    disk = bytearray(size)
    for level in range(depth):
        at, data = _sector(level)
        disk[at : at + len(data)] = data
    return bytes(disk)


def vhd_chain(folder: Path, depth: int, size: int = 64 << 10) -> Path:
    """A dynamic VHD and ``depth - 1`` differencing children on it (4 KiB blocks); the top child."""
    path = folder / "c0000.vhd"
    write_vhd(path, size=size, writes=[_sector(0)], block_size=64 << 10)
    for level in range(1, depth):
        parent, path = path, folder / f"c{level:04d}.vhd"
        write_vhd(path, size=size, writes=[_sector(level)], parent=Parent.from_file(parent), block_size=64 << 10)
    return path


def vhdx_chain(folder: Path, depth: int, size: int = 1 << 20) -> Path:
    """A dynamic VHDX and ``depth - 1`` differencing children on it; the top child."""
    path = folder / "c0000.vhdx"
    guid = write_vhdx(path, size, [_sector(0)])
    for level in range(1, depth):
        parent, path = path, folder / f"c{level:04d}.vhdx"
        guid = write_vhdx(path, size, [_sector(level)], parent=ParentLink(guid, parent.name))
    return path


@pytest.mark.parametrize("build", [vhd_chain, vhdx_chain], ids=["vhd", "vhdx"])
def test_a_300_deep_chain_reads_and_dumps_every_byte(build, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "chain").mkdir()
    top = build(tmp_path / "chain", DEPTH)
    with open_image(top) as image:
        assert len(image.chain) == DEPTH
        assert image.chain[-1].endswith("c0000" + top.suffix)
        expected = _expected(image.size, DEPTH)
        assert image.pread(image.size, 0) == expected
        assert sum(ext.length for ext in image.extents()) == image.size
    out = tmp_path / "out.raw"
    result = CliRunner().invoke(cli, ["dd", str(top), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == expected


def test_a_chain_deeper_than_the_limit_is_a_clear_error(tmp_path: Path) -> None:
    top = vhd_chain(tmp_path, MAX_CHAIN_DEPTH + 100, size=64 << 10)
    with pytest.raises(UnsupportedImageError, match=f"differencing chain has more than {MAX_CHAIN_DEPTH} images"):
        open_image(top)
    result = CliRunner().invoke(cli, ["inspect", str(top)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {tmp_path}/c0100.vhd: differencing chain has more than {MAX_CHAIN_DEPTH} images")
