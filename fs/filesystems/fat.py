"""FAT12/16/32: the BIOS parameter block gives geometry, serial number and label; files are read directly.

The FAT width follows the cluster count, as the specification says. Used bytes come from the FSInfo
sector on FAT32, and from counting free entries of the (small) FAT on FAT12/16.

Files: directories are parsed by :mod:`restorekit.fs.filesystems.fat_dir` (long names, 8.3 names, times, attributes;
times are local wall-clock time read as UTC, see there). A file's cluster chain, followed through the
active FAT, becomes runs of contiguous clusters in the volume, so a copy is a kernel copy per run and no
Python runs per cluster of data. Names are matched without regard to case (long or 8.3 name), as Windows
does. A chain that is shorter than the file, loops, or leaves the volume makes that one file fail.
"""

from __future__ import annotations

import array
import itertools
import struct
import sys
from typing import TYPE_CHECKING, Any

from restorekit.fs.entry import DIRECTORY, FILE, BackendSource, Entry, FileStream, Run
from restorekit.fs.errors import EntryNotFoundError, FilesystemError
from restorekit.fs.filesystem import Filesystem
from restorekit.fs.filesystems.fat_dir import ATTR_DIRECTORY, TIME_NOTE, FatNode, parse_directory

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_FAT_SCAN = 1 << 20
#: FAT bytes read at a time (and kept, up to :data:`FAT_CACHE` pieces) while following chains.
FAT_PIECE, FAT_CACHE = 64 << 10, 64
#: A directory holds at most 65,536 records of 32 bytes.
MAX_DIRECTORY = 65536 * 32
FAT32_ENTRY, FAT32_MIRROR_OFF, FAT32_ACTIVE = 0x0FFFFFFF, 0x80, 0x0F
HINT = "the FAT or a directory is damaged; fsck.fat -n on a copy (restorekit dd) says more"

class FatFilesystem(Filesystem):
    """A FAT12, FAT16 or FAT32 file system (shown as ``fat``)."""

    type_name = "fat"
    case_insensitive = True
    time_note = TIME_NOTE

    def _parse(self) -> None:
        boot = self.stream.pread(512, 0)
        bps, spc, reserved, nfats, root_entries, total16, _media, fat16 = struct.unpack_from("<HBHBHHBH", boot, 11)
        total32, fat32, ext_flags, _version, root_cluster = struct.unpack_from("<IIHHI", boot, 32)
        total = total16 or total32
        fat_sectors = fat16 or fat32
        root_sectors = (root_entries * 32 + bps - 1) // bps
        data_sectors = total - reserved - nfats * fat_sectors - root_sectors
        if data_sectors <= 0:
            raise FilesystemError("FAT boot sector is damaged (no data area)", volume=self.volume, offset=0,
                                  hint="fsck.fat -n on a copy says more")
        clusters = data_sectors // spc
        bits = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
        self.variant = "fat"
        self.fat_bits = bits
        self.size = total * bps
        self.cluster_size = cluster = bps * spc
        self.clusters = clusters
        active = ext_flags & FAT32_ACTIVE if bits == 32 and ext_flags & FAT32_MIRROR_OFF else 0
        self.fat_offset = (reserved + active * fat_sectors) * bps
        self.fat_length = fat_sectors * bps
        self.root_offset = (reserved + nfats * fat_sectors) * bps
        self.root_length = root_sectors * bps
        self.data_offset = self.root_offset + self.root_length
        self.root_cluster = root_cluster if bits == 32 else 0
        at = 67 if bits == 32 else 39  # extended BPB: serial number, then the 11-byte label
        serial = struct.unpack_from("<I", boot, at)[0]
        self.uuid = f"{serial >> 16:04X}-{serial & 0xFFFF:04X}"
        label = boot[at + 4 : at + 15].decode("ascii", "replace").rstrip()
        self.label = "" if label == "NO NAME" else label
        free = self._free_clusters(boot, bits, bps, reserved, fat_sectors, clusters)
        if free is not None:
            self.used = max(0, clusters - free) * cluster

    def _free_clusters(self, boot: bytes, bits: int, bps: int, reserved: int, fat_sectors: int,
                       clusters: int) -> int | None:
        if bits == 32:
            fsinfo = struct.unpack_from("<H", boot, 48)[0]
            info = self.stream.pread(512, fsinfo * bps)
            if info[:4] != b"RRaA" or info[484:488] != b"rrAa":
                return None
            free = struct.unpack_from("<I", info, 488)[0]
            return None if free == 0xFFFFFFFF or free > clusters else free
        length = (clusters + 2) * bits // 8 + 2
        if length > MAX_FAT_SCAN or length > fat_sectors * bps:
            return None
        table = FatTable(self.stream.pread(length, reserved * bps), bits)
        return sum(table.value(n) == 0 for n in range(2, clusters + 2))

    # -- files -------------------------------------------------------------------------------------------

    def _open_backend(self) -> Any:
        return FatChains(self)

    @property
    def root(self) -> FatNode:
        """The root folder (no directory record of its own)."""
        return FatNode(name="", short_name="", attr=ATTR_DIRECTORY, cluster=self.root_cluster, size=0, position=0)

    def _entry(self, path: str) -> FatNode | None:
        node = self.root
        for part in path.split("/"):
            if not part:
                continue
            if not node.is_dir:
                return None
            wanted = part.casefold()
            node = next((child for child in self._nodes(node)
                         if child.name.casefold() == wanted or child.short_name.casefold() == wanted), None)
            if node is None:
                return None
        return node

    def _nodes(self, folder: FatNode) -> Iterator[FatNode]:
        """The live entries of ``folder``."""
        if folder.position == 0 and self.fat_bits != 32:  # FAT12/16: the root folder is a fixed region
            data = self.stream.pread(self.root_length, self.root_offset)
            yield from parse_directory(data, lambda at: self.root_offset + at)
            return
        runs = self.backend.runs(self._cluster(folder), MAX_DIRECTORY)
        data = b"".join(self.stream.pread(run.length, run.volume_offset or 0) for run in runs)
        yield from parse_directory(data, lambda at: _locate(runs, at))

    def _cluster(self, node: FatNode) -> int:
        return node.cluster if self.fat_bits == 32 else node.cluster & 0xFFFF

    def _folder_key(self, folder: Entry) -> int:
        """A FAT folder is its first cluster (``Entry.inode`` is where its record is): 0 for the root, as in a
        ``..`` record, so a subfolder record pointing at an ancestor's clusters is a cycle for :meth:`walk`."""
        cluster = self._cluster(folder.handle)
        return 0 if not folder.handle.position or cluster == self.root_cluster else cluster

    def _children(self, handle: FatNode) -> Iterator[tuple[str | None, FatNode]]:
        for node in self._nodes(handle):
            yield node.name, node

    def _make_entry(self, path: str, name: str, handle: FatNode) -> Entry:
        return Entry(path=path, name=name, type=DIRECTORY if handle.is_dir else FILE,
                     size=0 if handle.is_dir else handle.size, inode=handle.position // 32, mtime=handle.mtime,
                     atime=handle.atime, crtime=handle.crtime, attributes=handle.attributes,
                     short_name=handle.short_name or None, handle=handle)

    def _open_stream(self, entry: Entry, stream: str | None) -> FileStream:
        if stream:
            raise EntryNotFoundError("FAT has no alternate data streams", volume=self.volume,
                                     path=f"{entry.path}:{stream}")
        node: FatNode = entry.handle
        size = 0 if node.is_dir else node.size
        runs = self.backend.runs(self._cluster(node), size) if size else []
        mapped = sum(run.length for run in runs)
        if mapped < size:
            raise FilesystemError(f"its cluster chain ends after {mapped} of {size} bytes", volume=self.volume,
                                  path=entry.path, offset=node.position, hint=HINT)
        return FileStream(size, self.stream, runs, BackendSource(f"{self.volume}:{entry.path}", _past_end))

    def open_file(self, path: str) -> FileStream | None:
        node = self.lookup(path)
        if node is None:
            return None
        return self.open_stream(self._make_entry(path, node.name, node))


def _locate(runs: list[Run], at: int) -> int:
    """The volume offset of byte ``at`` of the data that ``runs`` hold."""
    for run in runs:
        if at < run.offset + run.length:
            return (run.volume_offset or 0) + at - run.offset
    return 0


def _past_end(length: int, offset: int) -> bytes:
    raise OSError(f"its clusters lie past the end of the volume ({length} bytes at file offset {offset}); "
                  "the image is truncated")


class FatTable:
    """Entries of a FAT (or of a piece of one starting at an entry boundary), by cluster number."""

    def __init__(self, data: bytes, bits: int) -> None:
        self.bits = bits
        self.data = data
        if bits == 12:
            self.count = len(data) * 2 // 3
            return
        self.values = array.array("H" if bits == 16 else "I")
        self.values.frombytes(data[: len(data) - len(data) % self.values.itemsize])
        if sys.byteorder == "big":
            self.values.byteswap()
        self.count = len(self.values)

    def value(self, n: int) -> int:
        """The entry for cluster ``n`` (FAT32's top four bits masked off)."""
        if self.bits == 12:
            pair = self.data[n * 3 // 2] | self.data[n * 3 // 2 + 1] << 8
            return pair >> 4 if n & 1 else pair & 0xFFF
        return self.values[n] & FAT32_ENTRY if self.bits == 32 else self.values[n]


class FatChains:
    """Follows cluster chains through the active FAT, reading it in pieces (a FAT32 FAT can be large)."""

    def __init__(self, fs: FatFilesystem) -> None:
        self.fs = fs
        self.bad = {12: 0xFF7, 16: 0xFFF7, 32: 0x0FFFFFF7}[fs.fat_bits]
        self.per_piece = FAT_PIECE * 8 // fs.fat_bits
        self.pieces: dict[int, FatTable] = {}

    def _piece(self, index: int) -> FatTable:
        piece = self.pieces.get(index)
        if piece is None:
            if self.fs.fat_bits == 12:  # at most 4,084 clusters: 6 KiB, read whole
                data = self.fs.stream.pread((self.fs.clusters + 2) * 3 // 2 + 1, self.fs.fat_offset)
            else:
                start = index * FAT_PIECE
                data = self.fs.stream.pread(min(FAT_PIECE, self.fs.fat_length - start), self.fs.fat_offset + start)
            if len(self.pieces) >= FAT_CACHE:
                self.pieces.pop(next(iter(self.pieces)))
            piece = self.pieces[index] = FatTable(data, self.fs.fat_bits)
        return piece

    def next_cluster(self, n: int) -> int:
        """The FAT entry of cluster ``n``."""
        if self.fs.fat_bits == 12:
            return self._piece(0).value(n)
        index, at = divmod(n, self.per_piece)
        piece = self._piece(index)
        if at >= piece.count:
            raise self._error(f"cluster {n} has no FAT entry", n)
        return piece.value(at)

    def runs(self, first: int, limit: int) -> list[Run]:
        """Runs of the chain from cluster ``first`` covering up to ``limit`` bytes (fewer if the chain ends)."""
        fs = self.fs
        size = fs.cluster_size
        runs: list[Run] = []
        if first == 0:
            return runs
        start = cluster = first
        count = pos = 0
        wanted = min(-(-limit // size), fs.clusters)
        while True:
            if not 2 <= cluster < fs.clusters + 2:
                raise self._error(f"cluster chain leads to cluster {cluster}, outside the volume", cluster)
            step = self._contiguous(cluster, wanted - count - 1)
            cluster += step
            count += step + 1
            done = count >= wanted
            following = self.next_cluster(cluster) if not done else 0
            if done or following != cluster + 1:
                length = (cluster - start + 1) * size
                runs.append(Run(pos, length, fs.data_offset + (start - 2) * size))
                pos += length
                start = following
            if done or following >= self.bad:
                break
            if following < 2:
                raise self._error(f"cluster chain runs into free cluster entry {following}", cluster)
            cluster = following
        if following == self.bad:
            raise self._error(f"cluster chain runs into a cluster marked bad after cluster {cluster}", cluster)
        ordered = sorted(runs, key=lambda run: run.volume_offset or 0)
        for before, after in itertools.pairwise(ordered):
            if (before.volume_offset or 0) + before.length > (after.volume_offset or 0):
                raise self._error("cluster chain loops back on itself", first)
        return runs

    def _contiguous(self, n: int, limit: int) -> int:
        """How many clusters after ``n`` (at most ``limit``) each point to the next: one FAT piece at a time.

        Slices of the FAT are compared with the ascending numbers they would hold, doubling the slice while they
        match and halving it to find where they stop, so a contiguous file costs a few comparisons in C, not a
        Python step per cluster. FAT12 volumes (at most 4,084 clusters) go one cluster at a time.
        """
        if limit <= 0 or self.fs.fat_bits == 12:
            return 0
        index, at = divmod(n, self.per_piece)
        values = self._piece(index).values
        most = min(limit, len(values) - at, self.fs.clusters + 1 - n)
        done, step = 0, 64
        while done < most:
            size = min(step, most - done)
            want = array.array(values.typecode, range(n + done + 1, n + done + 1 + size))
            got = values[at + done : at + done + size]
            if got == want:
                done += size
                step *= 2
                continue
            same, differs = 0, size  # got[:same] == want[:same]; got[:differs] != want[:differs]
            while differs - same > 1:
                middle = (same + differs) // 2
                if got[:middle] == want[:middle]:
                    same = middle
                else:
                    differs = middle
            return done + same
        return done

    def _error(self, message: str, cluster: int) -> FilesystemError:
        return FilesystemError(message, volume=self.fs.volume,
                               offset=self.fs.fat_offset + cluster * self.fs.fat_bits // 8, hint=HINT)
