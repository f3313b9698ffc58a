"""Where the bytes of an array that spans members lie: striping, parity RAID 4/5/6, md RAID10 and mirrors.

Shared by mdadm (:mod:`restorekit.fs.containers.mdraid`), LVM and LDM: each reads its own metadata and hands
the members (streams of their data areas, in role order; None for a missing one) to one of

* :func:`raid0` — chunks dealt round the members; members of unequal size form md "zones", each striping over
  the members that still have room;
* :func:`parity_raid` — RAID4/5/6 with md's (and dm-raid's) parity placements; a missing member's chunks
  are rebuilt from the others (XOR for P; RAID6's Q over GF(2^8), polynomial 0x11d);
* :func:`raid10` — md RAID10 with near, far and offset copies, each chunk read from the first copy present;
* :func:`mirror` — every leg holds everything; the first leg present is read.

Every result is a :class:`restorekit.fs.stream.Stream`. Its extents point straight into the members'
own extents wherever a chunk is stored plainly, so a copy still runs in the kernel; a rebuilt chunk is a
``DATA`` extent on a :class:`RebuiltSource` (``fileno()`` None), computed when read.

Parity arithmetic runs on numpy arrays (imported on first rebuild): XOR and GF(2^8) table lookups over whole
chunks at memory speed.
"""

from __future__ import annotations

import bisect
import functools
import os
from typing import TYPE_CHECKING, Any

from restorekit.fs.errors import CorruptImageError, VolumeError
from restorekit.fs.stream import Extent, ExtentKind, Stream

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

#: Parity placements by the names mdadm uses, and md's number for each (``ALGORITHM_*``, the superblock's layout
#: field). RAID4/5 use the first six; RAID6 all of them: the DDF ones (``ddf-*``, LVM's ``raid6_zr``/``_nr``/``_nc``;
#: ``raid6_zr`` is what ``lvcreate --type raid6`` makes) and the ``-6`` ones (a RAID5 layout with Q on the last
#: member, as a RAID5 converted to RAID6 has: LVM's ``raid6_ls_6``...).
PARITY_LAYOUTS = {"left-asymmetric": 0, "right-asymmetric": 1, "left-symmetric": 2, "right-symmetric": 3,
                  "parity-first": 4, "parity-last": 5, "ddf-zero-restart": 8, "ddf-n-restart": 9,
                  "ddf-n-continue": 10, "left-asymmetric-6": 16, "right-asymmetric-6": 17, "left-symmetric-6": 18,
                  "right-symmetric-6": 19, "parity-first-6": 20}
#: The names the API's ``layout`` takes for RAID4/5 (and RAID6).
LAYOUTS = tuple(name for name, number in PARITY_LAYOUTS.items() if number <= 5)
#: Array chunks mapped per pass: each member's extents are listed once per pass, not once per chunk.
WINDOW_CHUNKS = 1024
#: Rebuilt bytes are computed in pieces of at most this size (bounds memory for a large ``pread``).
REBUILD_PIECE = 8 << 20


def raid0(members: Sequence[Stream], chunk: int, *, name: str = "", layout: str = "original",
          member_names: Sequence[str] | None = None, sizes: Sequence[int] | None = None) -> Stream:
    """Striping: chunk ``c`` of a zone lies on the zone's member ``c % n`` at row ``c // n``.

    Members of unequal size (each rounded down to whole chunks) form zones as md builds them: zone 0 stripes
    over every member up to the smallest one's size, the next zone over the members still longer, and so on.
    ``layout`` says how md picks a zone's member for multi-zone arrays: ``"original"`` (md layout 1, kernels
    before 3.14: by the array's chunk number) or ``"alternate"`` (md layout 2: by the chunk number within the
    zone). Equal members (LVM striped, LDM striped) are plain striping either way. ``sizes`` are the members'
    sizes as the array's metadata declares them (default: the streams' sizes): a member cut short then fails
    reads past its end, naming it, instead of changing the zones.
    """
    if layout not in ("original", "alternate"):
        raise ValueError(f"unknown raid0 layout {layout!r}")
    return Raid0Stream(members, chunk, name=name, alternate=layout == "alternate", member_names=member_names,
                       sizes=sizes)


def parity_raid(level: int, members: Sequence[Stream | None], chunk: int, size: int, *, layout: str,
                name: str = "", member_names: Sequence[str] | None = None) -> Stream:
    """RAID4, RAID5 or RAID6 of ``size`` data bytes; ``None`` members are missing and rebuilt from parity.

    ``layout`` is one of :data:`LAYOUTS` (RAID6 also those of :data:`PARITY_LAYOUTS`); RAID4 keeps its parity on
    one member (``"parity-last"`` as md does,
    ``"parity-first"`` as LVM's raid4 does). Raises :class:`VolumeError` naming the missing members when more
    are missing than the level can rebuild (one for RAID4/5, two for RAID6).
    """
    return ParityStream(level, members, chunk, size, layout=layout, name=name, member_names=member_names)


def raid10(members: Sequence[Stream | None], chunk: int, size: int, *, near: int = 2, far: int = 1,
           offset: bool = False, far_set_size: int = 0, name: str = "",
           member_names: Sequence[str] | None = None) -> Stream:
    """md RAID10 of ``size`` data bytes with ``near`` copies on adjacent members and ``far`` copies in later
    sections (or, with ``offset``, in the following chunk rows shifted by ``near`` members); each chunk is read
    from the first copy present. ``far_set_size`` is the width of the sets of members far copies rotate in (md's
    layout bits 17-18; 0, the original layout, means all members). Raises :class:`VolumeError` when some chunk has
    no copy on any member present."""
    return Raid10Stream(members, chunk, size, near=near, far=far, offset=offset, far_set_size=far_set_size, name=name,
                        member_names=member_names)


def mirror(members: Sequence[Stream | None], size: int, *, name: str = "",
           member_names: Sequence[str] | None = None) -> Stream:
    """RAID1: every leg holds the ``size`` bytes; the first leg present (and long enough) is read."""
    return MirrorStream(members, size, name=name, member_names=member_names)


def _names(count: int, names: Sequence[str] | None) -> list[str]:
    if names is not None and len(names) != count:
        raise ValueError("one name per member")
    return list(names) if names is not None else [f"member {i}" for i in range(count)]


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class RebuiltSource:
    """The bytes of an array that no member stores plainly: rebuilt from parity when read (no file to copy from).

    ``pread(length, offset)`` takes offsets of the array itself.
    """

    def __init__(self, array: ChunkedArray) -> None:
        self.name = f"{array.name or 'array'} (rebuilt from parity)"
        self._array = array

    def pread(self, length: int, offset: int) -> bytes:
        return self._array.read_rebuilt(offset, length)

    def fileno(self) -> int | None:
        return None


class _MemberExtents:
    """One member's extents over a range of its bytes, listed once and sliced per chunk."""

    def __init__(self, stream: Stream, lo: int, hi: int) -> None:
        self.extents = list(stream.extents(lo, hi - lo))
        self.starts = [ext.offset for ext in self.extents]

    def slice(self, dev_off: int, length: int, at: int) -> Iterator[Extent]:
        """The member's bytes ``[dev_off, dev_off + length)`` as extents at array offset ``at``."""
        end = dev_off + length
        for ext in self.extents[max(0, bisect.bisect_right(self.starts, dev_off) - 1) :]:
            if ext.offset >= end:
                return
            lo, hi = max(dev_off, ext.offset), min(end, ext.offset + ext.length)
            if hi <= lo:
                continue
            if ext.kind is ExtentKind.DATA:
                yield Extent(at + lo - dev_off, hi - lo, ExtentKind.DATA, ext.source,
                             ext.source_offset + lo - ext.offset)
            else:
                yield Extent(at + lo - dev_off, hi - lo, ExtentKind.ZERO)


class ChunkedArray(Stream):
    """An array laid out in chunks over members: a subclass says where array chunk ``c`` is stored
    (:meth:`_place`) and, for parity levels, how to rebuild it (:meth:`_rebuild`)."""

    def __init__(self, members: Sequence[Stream | None], chunk: int, size: int, *, name: str,
                 member_names: Sequence[str] | None) -> None:
        if chunk <= 0:
            raise VolumeError(f"chunk size {chunk} is not positive", volume=name or None,
                              hint="the array's metadata is damaged")
        super().__init__(size)
        self.members = list(members)
        self.chunk = chunk
        self.name = name
        self.member_names = _names(len(self.members), member_names)
        self.rebuilt = RebuiltSource(self)

    def has(self, member: int, dev_off: int, length: int) -> bool:
        """Whether member ``member`` is present and holds ``[dev_off, dev_off + length)``."""
        stream = self.members[member]
        return stream is not None and dev_off + length <= stream.size

    def _place(self, c: int, inner: int, length: int) -> tuple[int, int] | None:
        """``(member, byte offset in it)`` of ``length`` bytes at ``inner`` of array chunk ``c`` stored plainly,
        or None when they must be rebuilt."""
        raise NotImplementedError

    def _rebuild(self, c: int, inner: int, length: int) -> bytes:
        """The bytes of array chunk ``c`` at ``inner`` when no member stores them plainly (or an error naming
        the members that would)."""
        raise NotImplementedError

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        pos, end = offset, offset + length
        window = WINDOW_CHUNKS * self.chunk
        while pos < end:
            stop = min(end, (pos // window + 1) * window)
            pieces: list[tuple[int, int, int | None, int]] = []  # array offset, length, member, member offset
            spans: dict[int, list[int]] = {}
            at = pos
            while at < stop:
                c, inner = divmod(at, self.chunk)
                n = min(self.chunk - inner, stop - at)
                placed = self._place(c, inner, n)
                if placed is None:
                    pieces.append((at, n, None, 0))
                else:
                    member, dev_off = placed
                    pieces.append((at, n, member, dev_off))
                    span = spans.setdefault(member, [dev_off, dev_off + n])
                    span[0], span[1] = min(span[0], dev_off), max(span[1], dev_off + n)
                at += n
            listed = {}
            for member, (lo, hi) in spans.items():
                stream = self.members[member]
                assert stream is not None
                listed[member] = _MemberExtents(stream, lo, hi)
            for at, n, member, dev_off in pieces:
                if member is None:
                    yield Extent(at, n, ExtentKind.DATA, self.rebuilt, at)
                else:
                    yield from listed[member].slice(dev_off, n, at)
            pos = stop

    def read_rebuilt(self, offset: int, length: int) -> bytes:
        """``length`` bytes at array ``offset``: plain chunks read from their member, the others rebuilt."""
        length = max(0, min(length, self.size - offset))
        parts = []
        pos, end = offset, offset + length
        while pos < end:
            c, inner = divmod(pos, self.chunk)
            n = min(self.chunk - inner, end - pos, REBUILD_PIECE)
            placed = self._place(c, inner, n)
            if placed is None:
                parts.append(self._rebuild(c, inner, n))
            else:
                stream = self.members[placed[0]]
                assert stream is not None
                parts.append(stream.pread(n, placed[1]))
            pos += n
        return b"".join(parts)


# -- RAID0 ----------------------------------------------------------------------------------------------------


class Raid0Stream(ChunkedArray):
    """md RAID0 zones (see :func:`raid0`)."""

    def __init__(self, members: Sequence[Stream], chunk: int, *, name: str, alternate: bool,
                 member_names: Sequence[str] | None, sizes: Sequence[int] | None = None) -> None:
        if not members:
            raise VolumeError("a striped array needs at least one member", volume=name or None)
        missing = [i for i, m in enumerate(members) if m is None]
        names = _names(len(members), member_names)
        if missing:
            raise VolumeError(f"striped array is missing {_join([names[i] for i in missing])}; striping keeps no "
                              "second copy, so its files cannot be read without it", volume=name or None,
                              hint="add the disk that holds the missing member")
        declared = [m.size for m in members] if sizes is None else list(sizes)
        rows = [size // chunk if chunk > 0 else 0 for size in declared]
        #: Zones as (first array chunk, first member row, members in role order, rows in the zone).
        self.zones: list[tuple[int, int, list[int], int]] = []
        first, start = 0, 0
        for bound in sorted(set(rows)):
            inside = [i for i, r in enumerate(rows) if r > start]
            if bound > start and inside:
                self.zones.append((first, start, inside, bound - start))
                first += (bound - start) * len(inside)
                start = bound
        self.zone_starts = [z[0] for z in self.zones]
        self.alternate = alternate
        super().__init__(members, chunk, first * chunk, name=name, member_names=names)

    def locate(self, c: int) -> tuple[int, int]:
        """``(member, byte offset in it)`` where array chunk ``c`` starts."""
        first, start, inside, _rows = self.zones[bisect.bisect_right(self.zone_starts, c) - 1]
        zc = c - first
        return inside[(zc if self.alternate else c) % len(inside)], (start + zc // len(inside)) * self.chunk

    def _place(self, c: int, inner: int, length: int) -> tuple[int, int] | None:
        member, dev_off = self.locate(c)
        dev_off += inner
        if not self.has(member, dev_off, length):
            raise CorruptImageError(f"{self.member_names[member]} ends at {self.members[member].size} bytes "  # type: ignore[union-attr]
                                    f"but the array needs its byte {dev_off + length - 1}", volume=self.name or None,
                                    offset=dev_off, hint="the member is truncated; copy its disk again")
        return member, dev_off


# -- RAID4/5/6 ------------------------------------------------------------------------------------------------


@functools.cache
def _gf_tables() -> tuple[Any, Any, Any]:
    """numpy tables of GF(2^8) with polynomial 0x11d: ``exp`` (510 entries), ``log``, and ``mul[a]`` as a
    256-byte lookup table per factor."""
    import numpy as np

    exp = np.zeros(512, dtype=np.uint8)
    log = np.zeros(256, dtype=np.int32)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    exp[255:510] = exp[:255]
    mul = np.zeros((256, 256), dtype=np.uint8)
    nonzero = np.arange(1, 256)
    for a in range(1, 256):
        mul[a, 1:] = exp[log[a] + log[nonzero]]
    return exp, log, mul


def gf_pow2(k: int) -> int:
    """``{02}^k`` in GF(2^8) (k may be negative)."""
    exp, _log, _mul = _gf_tables()
    return int(exp[k % 255])


def gf_inv(a: int) -> int:
    """The multiplicative inverse of ``a`` (not zero) in GF(2^8)."""
    exp, log, _mul = _gf_tables()
    return int(exp[(255 - int(log[a])) % 255])


def gf_product(a: int, b: int) -> int:
    """``a`` times ``b`` in GF(2^8)."""
    return int(_gf_tables()[2][a][b])


def gf_mul(factor: int, data: Any) -> Any:
    """``factor`` times every byte of the uint8 array ``data``."""
    return _gf_tables()[2][factor][data]


class ParityStream(ChunkedArray):
    """RAID4/5/6 (see :func:`parity_raid`)."""

    def __init__(self, level: int, members: Sequence[Stream | None], chunk: int, size: int, *, layout: str,
                 name: str, member_names: Sequence[str] | None) -> None:
        if level not in (4, 5, 6):
            raise ValueError(f"parity RAID level {level} is not 4, 5 or 6")
        known = PARITY_LAYOUTS if level == 6 else LAYOUTS
        if layout not in known:
            raise VolumeError(f"raid{level} layout {layout!r} is not read by restorekit (it reads "
                              f"{', '.join(known)})", volume=name or None)
        if level == 4 and layout not in ("parity-first", "parity-last"):
            raise VolumeError(f"raid4 keeps parity on one member; layout {layout!r} is not one of parity-first, "
                              "parity-last", volume=name or None, hint="the array's metadata is damaged")
        self.level = level
        self.parities = 2 if level == 6 else 1
        self.layout = PARITY_LAYOUTS[layout]
        names = _names(len(members), member_names)
        if len(members) < self.parities + 1:
            raise VolumeError(f"raid{level} needs at least {self.parities + 1} members, the metadata says "
                              f"{len(members)}", volume=name or None, hint="the array's metadata is damaged")
        self.data_disks = len(members) - self.parities
        self._buffers: list[Any] = []
        missing = [names[i] for i, m in enumerate(members) if m is None]
        if len(missing) > self.parities:
            can = "one" if self.parities == 1 else "two"
            raise VolumeError(f"raid{level} array is missing {len(missing)} members ({_join(missing)}); parity "
                              f"can rebuild {can}, so its files cannot be read", volume=name or None,
                              hint="add the disks that hold the missing members")
        super().__init__(members, chunk, size, name=name, member_names=names)

    def geometry(self, stripe: int) -> tuple[int, int, list[int]]:
        """``(P member, Q member or -1, data members in order)`` of a stripe, as md's raid5_compute_sector."""
        n, nd = len(self.members), self.data_disks
        order = range(nd)
        rot = stripe % n
        q = -1
        if self.parities == 1:
            if self.layout in (0, 2):  # left: parity moves from the last member backwards
                p = nd - rot
            elif self.layout in (1, 3):  # right: parity moves from the first member forwards
                p = rot
            else:
                p = 0 if self.layout == 4 else nd
            if self.layout in (2, 3):  # symmetric: data continues after the parity, wrapping
                data = [(p + 1 + d) % n for d in order]
            else:
                data = [d + 1 if d >= p else d for d in order]
            return p, q, data
        if self.layout in (0, 1, 8, 9):  # asymmetric: data restarts at the first member
            if self.layout == 9:  # as left-asymmetric, but the first stripe is D D D P Q
                rot = (stripe + 1) % n
            p = rot if self.layout in (1, 8) else n - 1 - rot
            if p == n - 1:
                q, data = 0, [d + 1 for d in order]
            else:
                q, data = p + 1, [d + 2 if d >= p else d for d in order]
        elif self.layout in (2, 3):  # symmetric
            p = n - 1 - rot if self.layout == 2 else rot
            q = (p + 1) % n
            data = [(p + 2 + d) % n for d in order]
        elif self.layout == 10:  # as left-symmetric, but Q before P
            p = n - 1 - rot
            q = (p + n - 1) % n
            data = [(p + 1 + d) % n for d in order]
        elif self.layout == 4:
            p, q, data = 0, 1, [d + 2 for d in order]
        elif self.layout == 5:
            p, q, data = nd, nd + 1, list(order)
        else:  # 16-20: a RAID5 layout over the first n - 1 members, Q on the last
            rot, q = stripe % (n - 1), n - 1
            p = {16: nd - rot, 17: rot, 18: nd - rot, 19: rot, 20: 0}[self.layout]
            if self.layout in (18, 19):
                data = [(p + 1 + d) % (n - 1) for d in order]
            else:
                data = [d + 1 if d >= p else d for d in order]
        return p, q, data

    def syndrome_slots(self, stripe: int) -> dict[int, int]:
        """The Q coefficient exponent of each data member of a stripe: md walks the members from the one after
        Q (or from the first when Q is last), skipping P and Q; the DDF layouts use the member's own number."""
        n = len(self.members)
        p, q, data = self.geometry(stripe)
        if self.layout in (8, 9, 10):
            return {m: m for m in data}
        d0 = 0 if q == n - 1 else q + 1
        slots, slot = {}, 0
        for k in range(n):
            m = (d0 + k) % n
            if m not in (p, q):
                slots[m] = slot
                slot += 1
        return slots

    def _place(self, c: int, inner: int, length: int) -> tuple[int, int] | None:
        stripe, d = divmod(c, self.data_disks)
        member = self.geometry(stripe)[2][d]
        dev_off = stripe * self.chunk + inner
        return (member, dev_off) if self.has(member, dev_off, length) else None

    def _rebuild(self, c: int, inner: int, length: int) -> bytes:
        stripe, d = divmod(c, self.data_disks)
        p, q, data = self.geometry(stripe)
        target = data[d]
        dev_off = stripe * self.chunk + inner
        lost = [m for m in range(len(self.members)) if not self.has(m, dev_off, length)]
        lost_data = [m for m in data if m in lost]
        if p not in lost and len(lost_data) == 1:
            return bytes(self._xor([m for m in [*data, p] if m != target], dev_off, length).tobytes())
        if self.parities == 2 and q not in lost and len(lost_data) <= 2 and len(lost) <= 2:
            slots = self.syndrome_slots(stripe)
            # Q' = Q ^ sum of g^slot * D over the data members present: what the lost ones contribute.
            qx = self._read_array(q, dev_off, self._buffer(2, length))
            for m in data:
                if m not in lost:
                    qx ^= gf_mul(gf_pow2(slots[m]), self._read_array(m, dev_off, self._buffer(3, length)))
            if len(lost_data) == 1:  # the data member and P are lost: D = g^-slot * Q'
                return bytes(gf_mul(gf_pow2(-slots[target]), qx).tobytes())
            # Two data members x, y lost: P' = D_x ^ D_y and Q' = g^x D_x ^ g^y D_y.
            px = self._xor([m for m in [*data, p] if m not in lost], dev_off, length)
            x, y = lost_data
            gx, gy = gf_pow2(slots[x]), gf_pow2(slots[y])
            inv = gf_inv(gx ^ gy)
            dx = gf_mul(inv, qx) ^ gf_mul(gf_product(inv, gy), px)
            return bytes((dx if target == x else dx ^ px).tobytes())
        names = [self.member_names[m] for m in lost]
        raise CorruptImageError(f"stripe {stripe} of the raid{self.level} array cannot be rebuilt: "
                                f"{_join(names)} {'is' if len(names) == 1 else 'are'} missing or too short there",
                                volume=self.name or None, offset=dev_off,
                                hint=f"raid{self.level} rebuilds at most {self.parities} member(s) per stripe")

    def _buffer(self, slot: int, length: int) -> Any:
        """Work area ``slot`` (0-3, never aliasing each other) as a numpy uint8 array of ``length`` bytes, kept
        between rebuilds: a fresh half-megabyte array costs a page fault per page on every chunk."""
        import numpy as np

        while len(self._buffers) <= slot:
            self._buffers.append(np.empty(0, dtype=np.uint8))
        if len(self._buffers[slot]) < length:
            self._buffers[slot] = np.empty(length, dtype=np.uint8)
        return self._buffers[slot][:length]

    def _read_array(self, member: int, dev_off: int, buf: Any) -> Any:
        """The member's ``len(buf)`` bytes at ``dev_off``, read straight into the numpy array ``buf``."""
        stream = self.members[member]
        assert stream is not None
        view = memoryview(buf)
        for ext in stream.extents(dev_off, len(buf)):
            at = ext.offset - dev_off
            part = view[at : at + ext.length]
            fd = ext.source.fileno() if ext.source is not None else None
            done = 0
            if fd is not None:
                while done < ext.length:
                    n = os.preadv(fd, [part[done:]], ext.source_offset + done)
                    if n == 0:
                        break  # the file ends early: pread below names the truncation
                    done += n
            if ext.kind is ExtentKind.ZERO:
                buf[at : at + ext.length] = 0
            elif done < ext.length:
                assert ext.source is not None
                part[done:] = ext.source.pread(ext.length - done, ext.source_offset + done)
        return buf

    def _xor(self, members: list[int], dev_off: int, length: int) -> Any:
        """The XOR of the members' bytes at ``dev_off``, in work area 0 (work area 1 is used too)."""
        import numpy as np

        acc = self._read_array(members[0], dev_off, self._buffer(0, length))
        for m in members[1:]:
            np.bitwise_xor(acc, self._read_array(m, dev_off, self._buffer(1, length)), out=acc)
        return acc


# -- RAID10 ---------------------------------------------------------------------------------------------------


class Raid10Stream(ChunkedArray):
    """md RAID10 (see :func:`raid10`)."""

    def __init__(self, members: Sequence[Stream | None], chunk: int, size: int, *, near: int, far: int,
                 offset: bool, far_set_size: int, name: str, member_names: Sequence[str] | None) -> None:
        n = len(members)
        if near < 1 or far < 1 or near * far > n or not 0 <= far_set_size <= n:
            raise VolumeError(f"raid10 with {near} near and {far} far copies (far sets of {far_set_size or n}) cannot "
                              f"fit on {n} members",
                              volume=name or None, hint="the array's metadata is damaged")
        if chunk <= 0:
            raise VolumeError(f"chunk size {chunk} is not positive", volume=name or None)
        self.near, self.far, self.offset = near, far, offset
        self.far_set_size = far_set_size or n
        # md's calc_sectors: the chunks each member uses, and how far apart the far copies start.
        used = -(-(size // chunk) * near * far // n)
        self.stride = 1 if offset else used // far
        super().__init__(members, chunk, size, name=name, member_names=member_names)
        lost = [i for i, m in enumerate(members) if m is None]
        for c in range(n):  # the copies' members repeat every n chunks
            if all(m in lost for m, _row in self.copies(c)):
                names = [self.member_names[i] for i in lost]
                raise VolumeError(f"raid10 array is missing {_join(names)}, which hold every copy of some "
                                  "chunks; its files cannot be read", volume=name or None,
                                  hint="add the disks that hold the missing members")

    def copies(self, c: int) -> list[tuple[int, int]]:
        """``(member, chunk row)`` of every copy of array chunk ``c``, in md's order (as __raid10_find_phys)."""
        n, fss = len(self.members), self.far_set_size
        last_set_start = (n // fss - 1) * fss
        last_set_size = fss + n % fss
        row, dev = divmod(c * self.near, n)
        if self.offset:
            row *= self.far
        out = []
        for _k in range(self.near):
            d, r = dev, row
            out.append((d, r))
            for _f in range(1, self.far):
                fset = d // fss
                d += self.near
                if n % fss and d > last_set_start:
                    d = (d - last_set_start) % last_set_size + last_set_start
                else:
                    d = d % fss + fss * fset
                r += self.stride
                out.append((d, r))
            dev += 1
            if dev >= n:
                dev, row = 0, row + 1
        return out

    def _place(self, c: int, inner: int, length: int) -> tuple[int, int] | None:
        for member, row in self.copies(c):
            dev_off = row * self.chunk + inner
            if self.has(member, dev_off, length):
                return member, dev_off
        return None

    def _rebuild(self, c: int, inner: int, length: int) -> bytes:
        names = [self.member_names[m] for m, _row in self.copies(c)]
        raise CorruptImageError(f"chunk {c} of the raid10 array has no readable copy: {_join(names)} "
                                "are missing or too short there", volume=self.name or None,
                                offset=c * self.chunk + inner, hint="the members are truncated; copy their disks again")


# -- RAID1 ----------------------------------------------------------------------------------------------------


class MirrorStream(Stream):
    """RAID1 legs (see :func:`mirror`); a leg cut short gives way to the next one past its end."""

    def __init__(self, members: Sequence[Stream | None], size: int, *, name: str,
                 member_names: Sequence[str] | None) -> None:
        super().__init__(size)
        self.members = list(members)
        self.name = name
        self.member_names = _names(len(self.members), member_names)
        if not any(m is not None for m in self.members):
            raise VolumeError(f"mirror has none of its {len(self.members)} legs", volume=name or None,
                              hint="add a disk that holds one of them")

    def _map(self, offset: int, length: int) -> Iterator[Extent]:
        pos, end = offset, offset + length
        while pos < end:
            leg = next((m for m in self.members if m is not None and m.size > pos), None)
            if leg is None:
                names = [n for m, n in zip(self.members, self.member_names, strict=True) if m is not None]
                raise CorruptImageError(f"every leg of the mirror ends before byte {pos} ({_join(names)})",
                                        volume=self.name or None, offset=pos,
                                        hint="the legs are truncated; copy their disks again")
            stop = min(end, leg.size)
            yield from leg.extents(pos, stop - pos)
            pos = stop
