"""The numpy formatting of table walks' JSON lines (``fs/table_json.py``) against the per-entry formatting it
replaces: times as ``iso_time`` writes them, numbers as ``str``, reparse tags in hex, names and the rows made apart."""

from __future__ import annotations

import numpy as np

from restorekit.fs import table_json as tj
from restorekit.fs.entry import iso_time


def texts(matrix: np.ndarray) -> list[str]:
    return [bytes(row[row != 0]).decode() for row in matrix]


def test_times_in_every_year_as_iso_time_writes_them() -> None:
    """Nanoseconds in an int64 span the years 1677-2262: all of them, and 1970-2099 (made from tables)."""
    rng = np.random.default_rng(7)
    wide = rng.integers(-(2**63) + 1, 2**63 - 1, 50000)
    recent = rng.integers(0, 4102444800 * 10**9, 50000)
    whole = recent - recent % 10**9  # no fraction: isoformat leaves it out
    edges = np.array([0, 1, -1, 999, -(10**9), 10**9, 2**63 - 1, -(2**63) + 1, 4102444800 * 10**9 - 1])
    for ns in (wide, recent, whole, edges):
        ns = ns.astype(np.int64)
        present = np.ones(len(ns), bool)
        present[::5] = False
        got = texts(tj.iso(ns, present))
        assert got == [iso_time(int(v))[:-1] if p else "" for v, p in zip(ns, present, strict=True)]


def test_numbers_and_tags() -> None:
    values = np.array([0, 1, 9, 10, 99, 100, 123456789, 2**32 - 1, 2**63, 2**64 - 1], np.uint64)
    assert texts(tj.digits(values)) == [str(int(v)) for v in values]
    assert texts(tj.digits(np.array([7, 42], np.uint32))) == ["7", "42"]
    tags = np.array([0x80000013, 0xA000000C, 0x1], np.uint32)
    assert texts(tj.hex8(tags)) == ["80000013", "A000000C", "00000001"]


def test_join_drops_the_empty_cells_and_splices_the_rows_made_apart() -> None:
    n = 3
    blocks = [tj.literal("<", n), tj.optional(tj.literal("x", n), np.array([True, False, True])),
              tj.Choices(["a", "bcd", ""]).pick(np.array([1, 2, 0])), tj.literal(">", n)]
    assert tj.join(blocks, np.zeros(n, bool), []) == b"<xbcd><><xa>"
    assert tj.join(blocks, np.array([False, True, False]), [b"[made]"]) == b"<xbcd>[made]<xa>"
    assert tj.join(blocks, np.array([True, False, True]), [b"1", b""]) == b"1<>"


def test_spans_and_what_the_output_must_escape() -> None:
    names = ["a", "", "b\\c", 'q"', "tab\t", "\x7f", "\x85", "\udc80x", "caf\u00e9", "\ud55c", "nul\0"]
    data = [name.encode("utf-8", "surrogatepass") for name in names]
    lengths = np.array([len(d) for d in data])
    blob = np.frombuffer(b"".join(data), np.uint8)
    rows = tj.spans(blob, np.cumsum(lengths) - lengths, lengths)
    assert [bytes(row[: len(d)]) for row, d in zip(rows, data, strict=True)] == data
    assert not rows[lengths == 0].any() and rows.shape == (len(names), max(lengths))
    json = tj.unsafe(rows, lengths, tj.JSON_ESCAPED).tolist()
    text = tj.unsafe(rows, lengths, tj.TEXT_ESCAPED, c1=True).tolist()
    # backslash, quote, C0 (tab, NUL), lone surrogate; DEL and C1 only for text; é and Hangul (ED 95 9C) are safe
    assert json == [False, False, True, True, True, False, False, True, False, False, True]
    assert text == [False, False, True, False, True, True, True, True, False, False, True]
