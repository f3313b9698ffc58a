"""The lines of a :class:`restorekit.fs.table.Window` (``ls --json`` and ``ls -r``), made by numpy a window at a time.

A window's lines are built at once as a byte matrix, one row per entry and a block of columns per field, in
:meth:`Entry.to_dict`'s order and spelling: literal text, the folder's path (escaped once per folder) and the name
(gathered from the table's UTF-8 names, :func:`spans`), digits of numbers right-aligned, times as
``YYYY-MM-DDTHH:MM:SS[.ffffff]``, and a field the entry does not have left empty. Empty cells hold a NUL, and
dropping the NULs (one ``bytes.translate`` of the matrix, row by row) leaves the lines one after another, as bytes:
no Python runs per field or per line. A name with a byte the output escapes (:func:`unsafe`), or an entry the format
makes itself, has its line made by Python from its :class:`Entry` and put in its place (:func:`join`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

_HEX = np.frombuffer(b"0123456789ABCDEF", np.uint8)
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint8).reshape(100, 2)


def literal(text: str | bytes, rows: int) -> np.ndarray:
    """``text`` (UTF-8) in every row."""
    data = text.encode() if isinstance(text, str) else text
    return np.broadcast_to(np.frombuffer(data, np.uint8), (rows, len(data)))


class Choices:
    """A few texts (padded with NULs to one width), picked per row by index."""

    def __init__(self, texts: Sequence[str]) -> None:
        data = [t.encode() for t in texts]
        self.table = np.zeros((len(data), max(1, *(len(d) for d in data))), np.uint8)
        self.lengths = np.array([len(d) for d in data], np.int64)
        for i, d in enumerate(data):
            self.table[i, : len(d)] = np.frombuffer(d, np.uint8)

    def pick(self, index: np.ndarray) -> np.ndarray:
        """Row i holds text ``index[i]`` (as wide as the longest picked: the padding costs every later pass)."""
        width = int(self.lengths[index].max()) if len(index) else 0
        return self.table[index, :width]


def _groups() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four-digit groups as uint32 words: all four digits; without leading zeros (NULs instead, 0 all NULs); and
    the same for a number's last group (0 is ``0``)."""
    q = np.arange(10000)
    powers = np.array([1000, 100, 10, 1])
    full = (q[:, None] // powers % 10 + ord("0")).astype(np.uint8)
    lead = np.where(q[:, None] >= powers, full, 0).astype(np.uint8)
    last = lead.copy()
    last[0, 3] = ord("0")
    return full.view("<u4").ravel(), lead.view("<u4").ravel(), last.view("<u4").ravel()


_FULL_GROUP, _LEAD_GROUP, _LAST_GROUP = _groups()


def digits(values: np.ndarray) -> np.ndarray:
    """Each unsigned value in decimal, without leading zeros (NULs in their place): four digits at a time, each
    group one gather of a word from a table."""
    v = values.astype(np.uint64)
    count = -(-len(str(int(v.max()))) // 4) if len(v) else 1
    if count <= 4:
        v = v.astype(np.int64)  # (below 10**16: signed division is the faster)
    out = np.empty((len(v), 4 * count), np.uint8)
    words = out.view("<u4")
    for k in range(count):  # the groups from the last
        scale = v.dtype.type(10 ** (4 * k))
        group = (v // scale % v.dtype.type(10000)).astype(np.int64) if k else (v % v.dtype.type(10000)).astype(np.int64)
        bare = np.take(_LAST_GROUP if k == 0 else _LEAD_GROUP, group)
        if k + 1 < count:
            bare = np.where(v >= v.dtype.type(10 ** (4 * k + 4)), np.take(_FULL_GROUP, group), bare)
        words[:, count - 1 - k] = bare
    return out


def _civil(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` of days since 1970 (Howard Hinnant's civil_from_days), as rows of 10 bytes."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    out = np.empty((len(days), 10), np.uint8)
    out[:, 4] = out[:, 7] = ord("-")
    for at, part in ((0, year // 100), (2, year % 100), (5, month), (8, day)):
        _word(out, at, "<u2")[:] = np.take(_PAIR_WORDS, part)
    return out


#: Two digits as one uint16 word.
_PAIR_WORDS = _PAIRS.copy().view("<u2").ravel()
#: The dates of 1970-2099 and the times of day, made on first use: a time is then a few gathers of whole words.
_FIRST_DAY, _DAYS = 0, 47482


@functools.cache
def _calendar() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each date's ``YYYY-MM-`` (8 bytes, one uint64) and ``DD`` (one uint16), and each second of a day's
    ``HH:MM:SS`` (one uint64)."""
    dates = _civil(np.arange(_FIRST_DAY, _FIRST_DAY + _DAYS))
    clock = np.empty((86400, 8), np.uint8)
    clock[:, 2] = clock[:, 5] = ord(":")
    second = np.arange(86400)
    for at, part in ((0, second // 3600), (3, second // 60 % 60), (6, second % 60)):
        _word(clock, at, "<u2")[:] = np.take(_PAIR_WORDS, part)
    return dates[:, :8].copy().view("<u8").ravel(), dates[:, 8:].copy().view("<u2").ravel(), clock.view("<u8").ravel()


def _word(out: np.ndarray, at: int, dtype: str) -> np.ndarray:
    """Columns ``at`` onwards of each row of ``out``, as one ``dtype`` word per row (a view to assign to)."""
    return out[:, at : at + np.dtype(dtype).itemsize].view(dtype)[:, 0]


def iso(ns: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS`` and ``.ffffff`` when not zero (as ``datetime.isoformat``) of nanoseconds since 1970
    (int64: years 1677-2262), where ``present``; all NULs elsewhere."""
    us = np.where(present, ns, 0) // 1000
    days, rest = np.divmod(us, 86400 * 10**6)
    seconds, micro = np.divmod(rest, 10**6)
    seconds, micro = seconds.astype(np.int32), micro.astype(np.int32)
    out = np.empty((len(ns), 26), np.uint8)
    date_head, date_day, times_of_day = _calendar()
    near = (days >= _FIRST_DAY) & (days < _FIRST_DAY + _DAYS)
    if near.all():
        _word(out, 0, "<u8")[:] = np.take(date_head, days - _FIRST_DAY)
        _word(out, 8, "<u2")[:] = np.take(date_day, days - _FIRST_DAY)
    else:
        out[:, 0:10] = _civil(days)
    out[:, 10] = ord("T")
    _word(out, 11, "<u8")[:] = np.take(times_of_day, seconds)
    out[:, 19] = ord(".")
    high, low = np.divmod(micro, 100)
    _word(out, 20, "<u2")[:] = np.take(_PAIR_WORDS, high // 100)
    _word(out, 22, "<u2")[:] = np.take(_PAIR_WORDS, high % 100)
    _word(out, 24, "<u2")[:] = np.take(_PAIR_WORDS, low)
    whole = micro == 0
    if whole.any():
        out[whole, 19:] = 0
    if not present.all():
        out[~present] = 0
    return out


def hex8(values: np.ndarray) -> np.ndarray:
    """Each value as 8 upper-case hex digits."""
    shifts = np.arange(28, -1, -4, dtype=np.uint32)
    return _HEX[(values.astype(np.uint32)[:, None] >> shifts) & 15]


def optional(block: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``block`` where ``present``, NULs elsewhere (no copy when it is everywhere or nowhere)."""
    if present.all():
        return block
    if not present.any():
        return block[:, :0]
    out = np.array(block, np.uint8, copy=True)
    out[~present] = 0
    return out


def spans(data: np.ndarray, begins: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Row i holds ``data[begins[i] : begins[i] + lengths[i]]``, NUL-padded to the longest."""
    width = int(lengths.max()) if len(lengths) else 0
    if not width:
        return np.zeros((len(lengths), 0), np.uint8)
    columns = np.arange(width, dtype=np.int64)
    index = begins.astype(np.int64)[:, None] + columns
    np.minimum(index, len(data) - 1, out=index)  # the padding's places: read anywhere, then cleared
    out = data[index]
    out[columns >= lengths[:, None]] = 0
    return out


#: What JSON and a text listing escape, besides C0 controls: ``"`` and ``\`` (JSON), DEL and ``\`` (text).
JSON_ESCAPED = (0x22, 0x5C)
TEXT_ESCAPED = (0x7F, 0x5C)


def unsafe(names: np.ndarray, lengths: np.ndarray, escaped: tuple[int, ...], *, c1: bool = False) -> np.ndarray:
    """Which rows of :func:`spans` hold a byte the output escapes or cannot carry as it is: a C0 control (NUL
    included), one of ``escaped``, a lone surrogate (``surrogatepass`` UTF-8: ED A0-BF), and with ``c1`` a C1
    control (C2 80-9F). (Most windows have none: one ``translate`` over the bytes shows it.)"""
    if not names.shape[1]:
        return np.zeros(len(names), bool)
    rest = names.tobytes().translate(None, _unwatched(escaped, c1))
    if rest.count(0) == len(rest) == names.size - int(lengths.sum()):  # nothing watched but the padding
        return np.zeros(len(names), bool)
    bad = (names < 0x20) & (names != 0)
    for byte in escaped:
        bad |= names == byte
    rows = bad.any(axis=1)
    rows |= np.count_nonzero(names, axis=1) != lengths  # a NUL inside a name
    lead = names[:, :-1]
    rows |= ((lead == 0xED) & (names[:, 1:] >= 0xA0)).any(axis=1)
    if c1:
        rows |= ((lead == 0xC2) & (names[:, 1:] >= 0x80) & (names[:, 1:] <= 0x9F)).any(axis=1)
    return rows


@functools.cache
def _unwatched(escaped: tuple[int, ...], c1: bool) -> bytes:
    """Every byte :func:`unsafe` need not look at (what ``translate`` deletes; made once)."""
    watched = bytes(range(0x20)) + bytes(escaped) + b"\xed" + (b"\xc2" if c1 else b"")
    return bytes(b for b in range(256) if b not in watched)


def join(blocks: list[np.ndarray], special: np.ndarray, made: list[bytes]) -> bytes:
    """The rows of the blocks side by side, NULs dropped, one after another; the rows ``special`` marks are
    replaced by ``made`` (one text each, in order)."""
    matrix = np.concatenate(blocks, axis=1)
    at = np.flatnonzero(special)
    if not len(at):
        return matrix.tobytes().translate(None, b"\0")  # (a third of a boolean mask's time)
    matrix[at] = 0
    ends = np.cumsum(np.count_nonzero(matrix, axis=1)).tolist()
    data = matrix.tobytes().translate(None, b"\0")
    pieces, last = [], 0
    for row, text in zip(at.tolist(), made, strict=True):
        cut = ends[row]
        pieces += [data[last:cut], text]
        last = cut
    pieces.append(data[last:])
    return b"".join(pieces)
