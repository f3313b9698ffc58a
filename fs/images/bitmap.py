"""Runs of equal bits in allocation bitmaps (VHD sector bitmaps are MSB-first, VHDX ones LSB-first)."""

from __future__ import annotations

#: Each byte with its bit order reversed, to read an MSB-first bitmap as an LSB-first one.
_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))
#: Bits handled per big-integer piece, so that each shift stays short.
_PIECE = 8192


def bitmap_runs(bitmap: bytes, count: int, *, msb_first: bool = False) -> tuple[tuple[int, int, bool], ...]:
    """Runs of (first bit, end bit, bit set) over the first ``count`` bits of ``bitmap``.

    An all-clear or all-set 8192-bit piece costs one comparison; a mixed one a few big-integer operations
    per run, so no Python runs per bit.
    """
    if msb_first:
        bitmap = bitmap[: (count + 7) // 8].translate(_REVERSED)
    runs: list[tuple[int, int, bool]] = []

    def add(start: int, end: int, present: bool) -> None:
        if runs and runs[-1][2] == present:
            runs[-1] = (runs[-1][0], end, present)
        else:
            runs.append((start, end, present))

    for base in range(0, count, _PIECE):
        n = min(_PIECE, count - base)
        full = (1 << n) - 1
        bits = int.from_bytes(bitmap[base // 8 : (base + n + 7) // 8], "little") & full
        if bits in (0, full):
            add(base, base + n, bits == full)
            continue
        pos = 0
        while pos < n:
            rest = bits >> pos
            present = bool(rest & 1)
            flips = ~rest if present else rest  # the lowest set bit of ``flips`` is where the run ends
            length = min((flips & -flips).bit_length() - 1 if flips else n - pos, n - pos)
            add(base + pos, base + pos + length, present)
            pos += length
    return tuple(runs)
