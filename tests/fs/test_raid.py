"""fs/raid.py geometry on synthesized members (pure logic): striping zones, RAID4/5/6 parity placement and
rebuilds, md RAID10 copies, mirrors, and the extent contract (plain chunks map into the member files).

The expected layouts are written out by hand from md's definitions (drivers/md/raid0.c, raid5.c, raid10.c and
mdadm's md(4)), and parity is computed here bit by bit, independently of fs/raid.py's tables.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import pytest

from restorekit.fs.errors import CorruptImageError, VolumeError
from restorekit.fs.image import open_image
from restorekit.fs.raid import mirror, parity_raid, raid0, raid10
from restorekit.fs.stream import ExtentKind

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.fs.stream import Stream

CHUNK = 4096


def gf_mul(a: int, b: int) -> int:
    """GF(2^8) product, polynomial 0x11d, by shift and add (no tables)."""
    out = 0
    while b:
        if b & 1:
            out ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
        b >>= 1
    return out


def gf_pow2(k: int) -> int:
    out = 1
    for _ in range(k):
        out = gf_mul(out, 2)
    return out


def xor(blocks: list[bytes]) -> bytes:
    out = bytearray(len(blocks[0]))
    for block in blocks:
        for i, b in enumerate(block):
            out[i] ^= b
    return bytes(out)


def syndrome(blocks: list[tuple[int, bytes]]) -> bytes:
    """RAID6 Q: sum of {02}^k times data block k, for each ``(k, block)``."""
    out = bytearray(len(blocks[0][1]))
    for k, block in blocks:
        g = gf_pow2(k)
        for i, b in enumerate(block):
            out[i] ^= gf_mul(g, b)
    return bytes(out)


def members_from(tmp_path: Path, contents: list[bytes]) -> list[Stream]:
    out = []
    for i, data in enumerate(contents):
        path = tmp_path / f"member{i}.img"
        path.write_bytes(data)
        out.append(open_image(path))
    return out


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


# -- hand-written layouts: per stripe, what each member holds (data chunk number, "P" or "Q") ----------------

RAID5_4 = {  # 4 members, 4 stripes
    "left-asymmetric": [[0, 1, 2, "P"], [3, 4, "P", 5], [6, "P", 7, 8], ["P", 9, 10, 11]],
    "right-asymmetric": [["P", 0, 1, 2], [3, "P", 4, 5], [6, 7, "P", 8], [9, 10, 11, "P"]],
    "left-symmetric": [[0, 1, 2, "P"], [4, 5, "P", 3], [8, "P", 6, 7], ["P", 9, 10, 11]],
    "right-symmetric": [["P", 0, 1, 2], [5, "P", 3, 4], [7, 8, "P", 6], [9, 10, 11, "P"]],
    "parity-first": [["P", 0, 1, 2], ["P", 3, 4, 5], ["P", 6, 7, 8], ["P", 9, 10, 11]],
    "parity-last": [[0, 1, 2, "P"], [3, 4, 5, "P"], [6, 7, 8, "P"], [9, 10, 11, "P"]],
}
RAID6_5 = {  # 5 members, 5 stripes; Q's data order starts after Q (md's raid6_d0)
    "left-asymmetric": [["Q", 0, 1, 2, "P"], [3, 4, 5, "P", "Q"], [6, 7, "P", "Q", 8], [9, "P", "Q", 10, 11],
                        ["P", "Q", 12, 13, 14]],
    "right-asymmetric": [["P", "Q", 0, 1, 2], [3, "P", "Q", 4, 5], [6, 7, "P", "Q", 8], [9, 10, 11, "P", "Q"],
                         ["Q", 12, 13, 14, "P"]],
    "left-symmetric": [["Q", 0, 1, 2, "P"], [3, 4, 5, "P", "Q"], [7, 8, "P", "Q", 6], [11, "P", "Q", 9, 10],
                       ["P", "Q", 12, 13, 14]],
    "right-symmetric": [["P", "Q", 0, 1, 2], [5, "P", "Q", 3, 4], [7, 8, "P", "Q", 6], [9, 10, 11, "P", "Q"],
                        ["Q", 12, 13, 14, "P"]],
    "parity-first": [["P", "Q", 0, 1, 2], ["P", "Q", 3, 4, 5], ["P", "Q", 6, 7, 8], ["P", "Q", 9, 10, 11],
                     ["P", "Q", 12, 13, 14]],
    "parity-last": [[0, 1, 2, "P", "Q"], [3, 4, 5, "P", "Q"], [6, 7, 8, "P", "Q"], [9, 10, 11, "P", "Q"],
                    [12, 13, 14, "P", "Q"]],
}


RAID6_5_MORE = {  # md's DDF layouts (Q coefficients by member number) and the RAID5-plus-Q-last ones
    "ddf-zero-restart": [["P", "Q", 0, 1, 2], [3, "P", "Q", 4, 5], [6, 7, "P", "Q", 8], [9, 10, 11, "P", "Q"],
                         ["Q", 12, 13, 14, "P"]],
    "ddf-n-restart": [[0, 1, 2, "P", "Q"], [3, 4, "P", "Q", 5], [6, "P", "Q", 7, 8], ["P", "Q", 9, 10, 11],
                      ["Q", 12, 13, 14, "P"]],
    "ddf-n-continue": [[0, 1, 2, "Q", "P"], [4, 5, "Q", "P", 3], [8, "Q", "P", 6, 7], ["Q", "P", 9, 10, 11],
                       ["P", 12, 13, 14, "Q"]],
    "left-asymmetric-6": [[0, 1, 2, "P", "Q"], [3, 4, "P", 5, "Q"], [6, "P", 7, 8, "Q"], ["P", 9, 10, 11, "Q"],
                          [12, 13, 14, "P", "Q"]],
    "right-asymmetric-6": [["P", 0, 1, 2, "Q"], [3, "P", 4, 5, "Q"], [6, 7, "P", 8, "Q"], [9, 10, 11, "P", "Q"],
                           ["P", 12, 13, 14, "Q"]],
    "left-symmetric-6": [[0, 1, 2, "P", "Q"], [4, 5, "P", 3, "Q"], [8, "P", 6, 7, "Q"], ["P", 9, 10, 11, "Q"],
                         [12, 13, 14, "P", "Q"]],
    "right-symmetric-6": [["P", 0, 1, 2, "Q"], [5, "P", 3, 4, "Q"], [7, 8, "P", 6, "Q"], [9, 10, 11, "P", "Q"],
                          ["P", 12, 13, 14, "Q"]],
    "parity-first-6": [["P", 0, 1, 2, "Q"]] * 5,
}


def q_terms(row: list[int | str], ddf: bool) -> list[tuple[int, int]]:
    """``(coefficient exponent, data chunk)`` of a stripe's Q: md's order from the member after Q (the first when
    Q is last), skipping P and Q; the DDF layouts use each member's own number."""
    if ddf:
        return [(m, x) for m, x in enumerate(row) if isinstance(x, int)]
    return list(enumerate(q_order(row)))


def q_order(row: list[int | str]) -> list[int]:
    """The data chunks of a stripe in the order md feeds them to the Q syndrome: from the member after Q."""
    n = len(row)
    q = row.index("Q")
    d0 = 0 if q == n - 1 else q + 1
    return [row[(d0 + k) % n] for k in range(n) if row[(d0 + k) % n] not in ("P", "Q")]  # type: ignore[misc]


def lay_out(table: list[list[int | str]], data: list[bytes], repeat: int, ddf: bool = False) -> list[bytes]:
    """The member images of ``data`` chunks laid out by ``table`` (repeated ``repeat`` times down the members)."""
    n = len(table[0])
    per_stripe = sum(isinstance(x, int) for x in table[0])
    members = [bytearray() for _ in range(n)]
    for r in range(repeat):
        for s, row in enumerate(table):
            base = (r * len(table) + s) * per_stripe - min(x for x in row if isinstance(x, int))
            stripe = {x: data[base + x] for x in row if isinstance(x, int)}
            for m, x in enumerate(row):
                if x == "P":
                    members[m] += xor(list(stripe.values()))
                elif x == "Q":
                    members[m] += syndrome([(k, stripe[x]) for k, x in q_terms(row, ddf)])
                else:
                    members[m] += stripe[x]
    return [bytes(m) for m in members]


def read_all(stream: Stream) -> bytes:
    stream.seek(0)
    return stream.read()


def copied(stream: Stream) -> bytes:
    """The bytes a copier would write: every extent read through its source (as fs/copy.py does)."""
    out = bytearray(stream.size)
    for ext in stream.extents():
        if ext.kind is ExtentKind.DATA:
            assert ext.source is not None
            out[ext.offset : ext.offset + ext.length] = ext.source.pread(ext.length, ext.source_offset)
    return bytes(out)


@pytest.mark.parametrize("layout", sorted(RAID5_4))
def test_raid5_layouts_read_and_rebuild_each_member(tmp_path: Path, layout: str) -> None:
    rng = random.Random(layout)
    data = [rng.randbytes(CHUNK) for _ in range(12 * 2)]
    contents = lay_out(RAID5_4[layout], data, repeat=2)
    members = members_from(tmp_path, contents)
    level = 4 if layout.startswith("parity") else 5
    whole = b"".join(data)
    array = parity_raid(level, members, CHUNK, len(whole), layout=layout, name="md/r5")
    assert read_all(array) == whole
    assert copied(array) == whole
    # Plain reads map into the members' files: copy_file_range applies.
    assert all(ext.source is not None and ext.source.fileno() is not None for ext in array.extents())
    for lost in range(4):
        degraded = parity_raid(level, [None if i == lost else m for i, m in enumerate(members)], CHUNK, len(whole),
                               layout=layout)
        assert read_all(degraded) == whole, lost
        assert copied(degraded) == whole, lost
        rebuilt = [ext for ext in degraded.extents() if ext.source is not None and ext.source.fileno() is None]
        # Only the lost member's data chunks are rebuilt, one extent each (a parity-only member has none).
        on_lost = sum(isinstance(row[lost], int) for row in RAID5_4[layout]) * 2
        assert len(rebuilt) == on_lost and all(ext.length == CHUNK for ext in rebuilt)


@pytest.mark.parametrize("layout", sorted(RAID6_5 | RAID6_5_MORE))
def test_raid6_layouts_rebuild_one_or_two_lost_members(tmp_path: Path, layout: str) -> None:
    rng = random.Random(layout)
    data = [rng.randbytes(CHUNK) for _ in range(15)]
    contents = lay_out((RAID6_5 | RAID6_5_MORE)[layout], data, repeat=1, ddf=layout.startswith("ddf"))
    members = members_from(tmp_path, contents)
    whole = b"".join(data)
    assert read_all(parity_raid(6, members, CHUNK, len(whole), layout=layout)) == whole
    # Every pair of lost members: two data, data + P, data + Q, P + Q; and every single one.
    for a in range(5):
        for b in range(a, 5):
            degraded = parity_raid(6, [None if i in (a, b) else m for i, m in enumerate(members)], CHUNK,
                                   len(whole), layout=layout)
            assert copied(degraded) == whole, (a, b)


def test_too_many_lost_members_is_an_error_naming_them(tmp_path: Path) -> None:
    members = members_from(tmp_path, [bytes(CHUNK * 4)] * 4)
    names = ["role 0", "role 1", "role 2", "role 3"]
    with pytest.raises(VolumeError, match=r"md/x: raid5 array is missing 2 members \(role 1 and role 3\); parity "
                                          r"can rebuild one"):
        parity_raid(5, [members[0], None, members[2], None], CHUNK, 3 * 4 * CHUNK, layout="left-symmetric",
                    name="md/x", member_names=names)
    with pytest.raises(VolumeError, match=r"raid6 array is missing 3 members \(role 0, role 1 and role 2\)"):
        parity_raid(6, [None, None, None, members[3]], CHUNK, 2 * 4 * CHUNK, layout="left-symmetric",
                    member_names=names)


def test_truncated_member_is_rebuilt_past_its_end_or_named(tmp_path: Path) -> None:
    rng = random.Random(3)
    data = [rng.randbytes(CHUNK) for _ in range(12)]
    contents = lay_out(RAID5_4["left-symmetric"], data, repeat=1)
    contents[1] = contents[1][: 2 * CHUNK]  # member 1 ends after two stripes
    members = members_from(tmp_path, contents)
    whole = b"".join(data)
    assert copied(parity_raid(5, members, CHUNK, len(whole), layout="left-symmetric")) == whole
    contents[2] = contents[2][: 3 * CHUNK]
    members = members_from(tmp_path, contents)
    array = parity_raid(5, members, CHUNK, len(whole), layout="left-symmetric", name="md/t")
    with pytest.raises(CorruptImageError, match=r"md/t: stripe 3 of the raid5 array cannot be rebuilt: member 1 "
                                                r"and member 2 are missing or too short there"):
        copied(array)


def test_raid0_zones_of_unequal_members(tmp_path: Path) -> None:
    # Members of 4, 1 and 3 chunks: zone 0 stripes over all three for 1 row (3 chunks), zone 1 over members 0
    # and 2 for 2 rows, zone 2 over member 0 alone for one row.
    sizes = [4, 1, 3]
    contents = [random.Random(16 * m + r).randbytes(CHUNK) for m, rows in enumerate(sizes) for r in range(rows)]
    per_member = []
    at = 0
    for rows in sizes:
        per_member.append(b"".join(contents[at : at + rows]))
        at += rows
    members = members_from(tmp_path, [*per_member[:2], per_member[2] + b"x" * 100])  # a tail under one chunk
    cell = {name: random.Random(v).randbytes(CHUNK) for name, v in
            {"a0": 0, "a1": 1, "a2": 2, "a3": 3, "b0": 16, "c0": 32, "c1": 33, "c2": 34}.items()}
    original = raid0(members, CHUNK, name="md/s")
    # original layout: a zone's member is the array chunk number modulo the zone's width
    assert read_all(original) == b"".join(cell[k] for k in ["a0", "b0", "c0", "c1", "a1", "c2", "a2", "a3"])
    alternate = raid0(members, CHUNK, layout="alternate")
    assert read_all(alternate) == b"".join(cell[k] for k in ["a0", "b0", "c0", "a1", "c1", "a2", "c2", "a3"])
    assert copied(alternate) == read_all(alternate)
    assert all(ext.source is not None and ext.source.fileno() is not None for ext in original.extents())


def test_raid0_equal_members_and_missing_or_short_member(tmp_path: Path) -> None:
    rng = random.Random(9)
    data = [rng.randbytes(CHUNK) for _ in range(9)]
    members = members_from(tmp_path, [b"".join(data[m::3]) for m in range(3)])
    assert read_all(raid0(members, CHUNK)) == b"".join(data)
    with pytest.raises(VolumeError, match="striped array is missing role 1; striping keeps no second copy"):
        raid0([members[0], None, members[2]], CHUNK, member_names=["role 0", "role 1", "role 2"])  # type: ignore[list-item]


RAID10 = {  # (near, far, offset) with 4 members: per member row, the array chunk it holds
    (2, 1, False): [[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5], [6, 6, 7, 7]],
    # far 2: the first half is plain striping, the second half holds the copies shifted by one member
    (1, 2, False): [[0, 1, 2, 3], [4, 5, 6, 7], [3, 0, 1, 2], [7, 4, 5, 6]],
    # offset 2: each row is followed by its copy shifted by one member
    (1, 2, True): [[0, 1, 2, 3], [3, 0, 1, 2], [4, 5, 6, 7], [7, 4, 5, 6]],
}


@pytest.mark.parametrize("geometry", sorted(RAID10))
def test_raid10_layouts_and_any_copy(tmp_path: Path, geometry: tuple[int, int, bool]) -> None:
    near, far, offset = geometry
    rng = random.Random(str(geometry))
    data = [rng.randbytes(CHUNK) for _ in range(8)]
    rows = RAID10[geometry]
    members = members_from(tmp_path, [b"".join(data[row[m]] for row in rows) for m in range(4)])
    whole = b"".join(data)
    array = raid10(members, CHUNK, len(whole), near=near, far=far, offset=offset)
    assert read_all(array) == whole
    for lost in range(4):  # any one member may go
        degraded = raid10([None if i == lost else m for i, m in enumerate(members)], CHUNK, len(whole), near=near,
                          far=far, offset=offset)
        assert copied(degraded) == whole
    with pytest.raises(VolumeError, match="raid10 array is missing member 0 and member 1, which hold every copy"):
        raid10([None, None, *members[2:]], CHUNK, len(whole), near=near, far=far, offset=offset)


def test_raid10_near2_on_three_members(tmp_path: Path) -> None:
    rng = random.Random(7)
    data = [rng.randbytes(CHUNK) for _ in range(6)]
    rows = [[0, 0, 1], [1, 2, 2], [3, 3, 4], [4, 5, 5]]
    members = members_from(tmp_path, [b"".join(data[row[m]] for row in rows) for m in range(3)])
    array = raid10([members[0], None, members[2]], CHUNK, 6 * CHUNK)
    assert copied(array) == b"".join(data)


def test_mirror_reads_the_first_leg_present_and_the_next_past_its_end(tmp_path: Path) -> None:
    data = os.urandom(8 * CHUNK)
    members = members_from(tmp_path, [data[: 3 * CHUNK], data])
    assert copied(mirror([None, *members], len(data))) == data
    assert copied(mirror(members, len(data))) == data
    with pytest.raises(VolumeError, match="mirror has none of its 2 legs"):
        mirror([None, None], len(data), name="md/m")
