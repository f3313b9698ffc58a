"""``ls --json`` lines of a :class:`restorekit.fs.table.Window`, with the numbers and times formatted by numpy.

A line is ``{"volume": …, "path": …, "name": …`` (two strings JSON-escaped by the C encoder) followed by a *tail*:
type, size, inode, the four times, owners or attributes, link count and flags, in :meth:`Entry.to_dict`'s order
and spelling. The tails of a whole window are built at once as a byte matrix, one row per entry and a block of
columns per field: digits of numbers right-aligned, times as ``YYYY-MM-DDTHH:MM:SS[.ffffff]``, and a field the
entry does not have left empty. Empty cells hold a NUL, and dropping the NULs (one boolean mask over the matrix,
row by row) leaves the tails one after another, each ended by a separator: text that one ``split`` cuts into
strings. No Python runs per field, only per line.
"""

from __future__ import annotations

from json.encoder import encode_basestring
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

_END = 1  # ends a tail in the packed text (JSON text never holds a raw U+0001)
_HEX = np.frombuffer(b"0123456789ABCDEF", np.uint8)
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint8).reshape(100, 2)
_POW10 = np.array([10**k for k in range(19, -1, -1)], np.uint64)


def literal(text: str, rows: int) -> np.ndarray:
    """``text`` in every row."""
    return np.broadcast_to(np.frombuffer(text.encode(), np.uint8), (rows, len(text.encode())))


class Choices:
    """A few texts (padded with NULs to one width), picked per row by index."""

    def __init__(self, texts: Sequence[str]) -> None:
        data = [t.encode() for t in texts]
        self.table = np.zeros((len(data), max(1, *(len(d) for d in data))), np.uint8)
        for i, d in enumerate(data):
            self.table[i, : len(d)] = np.frombuffer(d, np.uint8)

    def pick(self, index: np.ndarray) -> np.ndarray:
        """Row i holds text ``index[i]``."""
        return self.table[index]


def digits(values: np.ndarray) -> np.ndarray:
    """Each unsigned value in decimal, without leading zeros (NULs in their place)."""
    v = values.astype(np.uint64)
    width = len(str(int(v.max()))) if len(v) else 1
    if width <= 9:
        v = v.astype(np.int64)
    powers = _POW10[20 - width :].astype(v.dtype)
    out = ((v[:, None] // powers) % powers.dtype.type(10)).astype(np.uint8) + np.uint8(48)
    lead = v[:, None] < powers
    lead[:, -1] = False
    out[lead] = 0
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
    out[:, [4, 7]] = ord("-")
    out[:, [0, 1, 2, 3, 5, 6, 8, 9]] = _PAIRS[np.stack([year // 100, year % 100, month, day], axis=1)].reshape(-1, 8)
    return out


#: The dates of 1970-2099 and the times of day, made once: a time is then two gathers and the microseconds.
_FIRST_DAY, _DAYS = 0, 47482
_DATES = _civil(np.arange(_FIRST_DAY, _FIRST_DAY + _DAYS))
_clock = np.arange(86400)
_TIMES_OF_DAY = np.concatenate([_PAIRS[_clock // 3600], np.full((86400, 1), ord(":"), np.uint8),
                                _PAIRS[_clock // 60 % 60], np.full((86400, 1), ord(":"), np.uint8),
                                _PAIRS[_clock % 60]], axis=1)


def iso(ns: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS`` and ``.ffffff`` when not zero (as ``datetime.isoformat``) of nanoseconds since 1970
    (int64: years 1677-2262), where ``present``; all NULs elsewhere."""
    us = np.where(present, ns, 0) // 1000
    days, rest = np.divmod(us, 86400 * 10**6)
    seconds, micro = np.divmod(rest, 10**6)
    out = np.empty((len(ns), 26), np.uint8)
    near = (days >= _FIRST_DAY) & (days < _FIRST_DAY + _DAYS)
    if near.all():
        out[:, 0:10] = _DATES[days - _FIRST_DAY]
    else:
        out[:, 0:10] = _civil(days)
    out[:, 10] = ord("T")
    out[:, 11:19] = _TIMES_OF_DAY[seconds]
    out[:, 19] = ord(".")
    out[:, 20:26] = _PAIRS[np.stack([micro // 10000, micro // 100 % 100, micro % 100], axis=1)].reshape(-1, 6)
    out[micro == 0, 19:] = 0
    out[~present] = 0
    return out


def hex8(values: np.ndarray) -> np.ndarray:
    """Each value as 8 upper-case hex digits."""
    shifts = np.arange(28, -1, -4, dtype=np.uint32)
    return _HEX[(values.astype(np.uint32)[:, None] >> shifts) & 15]


def optional(block: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``block`` where ``present``, NULs elsewhere."""
    out = np.array(block, np.uint8, copy=True)
    out[~present] = 0
    return out


def pack(blocks: list[np.ndarray]) -> list[str]:
    """The rows of the blocks side by side, NULs dropped: one string per row."""
    rows = len(blocks[0])
    matrix = np.concatenate([*blocks, np.full((rows, 1), _END, np.uint8)], axis=1)
    text = matrix[matrix != 0].tobytes().decode()
    return text.split(chr(_END))[:-1]


def lines(volume: str, paths: list[str], names: list[str], tails: list[str]) -> list[str]:
    """``{"volume": …, "path": …, "name": …`` and the tail of each entry."""
    head = '{"volume": ' + encode_basestring(volume) + ', "path": '
    return [f'{head}{p}, "name": {n}{t}' for p, n, t in
            zip(map(encode_basestring, paths), map(encode_basestring, names), tails, strict=True)]
