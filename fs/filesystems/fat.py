"""FAT12/16/32: the BIOS parameter block gives geometry, serial number and label; pytsk3 reads files.

The FAT width follows the cluster count, as the specification says. Used bytes come from the FSInfo
sector on FAT32, and from counting free entries of the (small) FAT on FAT12/16.
"""

from __future__ import annotations

import struct
from typing import Any

from fs.errors import FilesystemError
from fs.filesystem import Filesystem

MAX_FAT_SCAN = 1 << 20


class FatFilesystem(Filesystem):
    """A FAT12, FAT16 or FAT32 file system (shown as ``fat``)."""

    type_name = "fat"

    @classmethod
    def detect(cls, stream: Any) -> bool:
        if stream.size < 512:
            return False
        boot = stream.pread(512, 0)
        if boot[510:512] != b"\x55\xaa" or boot[0] not in (0xEB, 0xE9):
            return False
        if boot[54:57] != b"FAT" and boot[82:87] != b"FAT32":
            return False
        bps, spc, reserved, nfats = struct.unpack_from("<HBHB", boot, 11)
        return bps in (512, 1024, 2048, 4096) and spc and not spc & (spc - 1) and reserved and nfats

    def _parse(self) -> None:
        boot = self.stream.pread(512, 0)
        bps, spc, reserved, nfats, root_entries, total16, _media, fat16 = struct.unpack_from("<HBHBHHBH", boot, 11)
        total32, fat32 = struct.unpack_from("<II", boot, 32)
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
        cluster = bps * spc
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
        table = self.stream.pread(length, reserved * bps)
        free = 0
        for n in range(2, clusters + 2):
            if bits == 16:
                value = table[2 * n] | table[2 * n + 1] << 8
            else:
                pair = table[n * 3 // 2] | table[n * 3 // 2 + 1] << 8
                value = pair >> 4 if n & 1 else pair & 0xFFF
            free += value == 0
        return free

    def _open_backend(self) -> Any:
        from fs.filesystems.tsk import open_tsk

        return open_tsk(self.stream)

    def _entry(self, path: str) -> Any:
        try:
            return self.backend.open(path)
        except OSError:
            return None

    def open_file(self, path: str) -> Any:
        from fs.filesystems.tsk import TskFile

        entry = self.lookup(path)
        return None if entry is None else TskFile(entry)
