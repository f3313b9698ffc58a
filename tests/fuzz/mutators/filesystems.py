"""NTFS (boot sector, MFT records and their attributes, the root index), ext2/3/4 (superblock, group
descriptors, inodes, directory blocks), FAT12/16/32 (boot sector, FAT, directory entries) and XFS (superblock,
AG headers, inodes, short-form directories) layouts. Each probe returns whether it recognised its file system."""

from __future__ import annotations

import struct

from tests.fuzz.layout import Layout, read_int

NTFS_BOOT = [(11, 2, "bytesPerSector"), (13, 1, "sectorsPerCluster"), (14, 2, "reservedSectors"),
             (40, 8, "totalSectors"), (48, 8, "mftLcn"), (56, 8, "mftMirrLcn"), (64, 1, "clustersPerRecord"),
             (68, 1, "clustersPerIndex")]
MFT_RECORD = [(4, 2, "usaOffset"), (6, 2, "usaCount"), (16, 2, "sequence"), (18, 2, "linkCount"),
              (20, 2, "firstAttribute"), (22, 2, "flags"), (24, 4, "usedSize"), (28, 4, "allocatedSize"),
              (32, 8, "baseRecord")]
ATTRIBUTE = [(0, 4, "type"), (4, 4, "length"), (8, 1, "nonResident"), (9, 1, "nameLength"), (10, 2, "nameOffset"),
             (12, 2, "flags")]
RESIDENT = [(16, 4, "valueLength"), (20, 2, "valueOffset")]
NON_RESIDENT = [(16, 8, "startVcn"), (24, 8, "lastVcn"), (32, 2, "runsOffset"), (34, 2, "compressionUnit"),
                (40, 8, "allocatedSize"), (48, 8, "dataSize"), (56, 8, "initializedSize")]

EXT_SUPER = [(0, 4, "inodesCount"), (4, 4, "blocksCount"), (20, 4, "firstDataBlock"), (24, 4, "logBlockSize"),
             (32, 4, "blocksPerGroup"), (40, 4, "inodesPerGroup"), (76, 4, "revLevel"), (84, 4, "firstInode"),
             (88, 2, "inodeSize"), (92, 4, "featureCompat"), (96, 4, "featureIncompat"), (100, 4, "featureRoCompat"),
             (254, 2, "descSize"), (0x150, 4, "blocksCountHi"), (0x174, 1, "logGroupsPerFlex")]
EXT_GROUP = [(0, 4, "blockBitmap"), (4, 4, "inodeBitmap"), (8, 4, "inodeTable"), (18, 2, "flags")]
EXT_INODE = [(0, 2, "mode"), (4, 4, "sizeLo"), (26, 2, "links"), (28, 4, "blocks"), (32, 4, "flags"),
             (40, 2, "extentMagic"), (42, 2, "extentEntries"), (44, 2, "extentMax"), (46, 2, "extentDepth"),
             (52, 4, "extent0.logical"), (56, 2, "extent0.length"), (58, 2, "extent0.startHi"),
             (60, 4, "extent0.startLo"), (108, 4, "sizeHi"), (128, 2, "extraSize")]
EXT_DIRENT = [(0, 4, "inode"), (4, 2, "recLen"), (6, 1, "nameLen"), (7, 1, "fileType")]

FAT_BOOT = [(11, 2, "bytesPerSector"), (13, 1, "sectorsPerCluster"), (14, 2, "reservedSectors"), (16, 1, "fats"),
            (17, 2, "rootEntries"), (19, 2, "totalSectors16"), (22, 2, "fatSize16"), (32, 4, "totalSectors32"),
            (36, 4, "fatSize32"), (44, 4, "rootCluster")]
FAT_DIRENT = [(11, 1, "attributes"), (20, 2, "clusterHi"), (26, 2, "clusterLo"), (28, 4, "size")]

XFS_SUPER = [(4, 4, "blockSize"), (8, 8, "dataBlocks"), (56, 8, "rootIno"), (84, 4, "agBlocks"), (88, 4, "agCount"),
             (100, 2, "versionNum"), (102, 2, "sectorSize"), (104, 2, "inodeSize"), (106, 2, "inodesPerBlock"),
             (120, 1, "blockLog"), (121, 1, "sectorLog"), (122, 1, "inodeLog"), (123, 1, "inodesPerBlockLog"),
             (124, 1, "agBlockLog"), (208, 4, "featuresCompat"), (212, 4, "featuresRoCompat"),
             (216, 4, "featuresIncompat")]
XFS_INODE = [(2, 2, "mode"), (4, 1, "version"), (5, 1, "format"), (16, 4, "nlink"), (56, 8, "size"),
             (64, 8, "nblocks"), (72, 4, "extsize"), (76, 4, "nextents"), (82, 1, "forkOffset")]
MAX_RECORDS = 48


def ntfs(layout: Layout, data: bytes, base: int, size: int) -> bool:
    if data[base + 3:base + 11] != b"NTFS    ":
        return False
    layout.region(base, 512, "ntfs.boot")
    layout.ints(base, NTFS_BOOT)
    sector = read_int(data, base + 11, 2) or 512
    cluster = sector * (data[base + 13] or 1)
    raw = data[base + 64]
    record = cluster * raw if raw < 128 else 1 << (256 - raw)
    mft = base + read_int(data, base + 48, 8) * cluster
    _vss(layout, data, base, size)
    if not 256 <= record <= 4096:
        return True
    for index in range(MAX_RECORDS):
        at = mft + index * record
        if at + record > base + size or data[at:at + 4] != b"FILE":
            continue
        layout.region(at, record, "ntfs.mftRecord")
        layout.ints(at, MFT_RECORD)
        _ntfs_attributes(layout, data, at, record, index)
    return True


VSS_ID = bytes.fromhex("6b87083876c1484eb7ae04046e6cc752")
VSS_BLOCK_HEADER = [(20, 4, "recordType"), (24, 8, "relativeOffset"), (32, 8, "currentOffset"), (40, 8, "nextOffset")]
VSS_CATALOG_ENTRY = [(0, 8, "entryType"), (8, 8, "volumeSizeOrBlockList"), (32, 8, "sequenceOrHeader"),
                     (40, 8, "flagsOrRanges"), (48, 8, "createdOrBitmap"), (72, 8, "previousBitmap")]


def _vss(layout: Layout, data: bytes, base: int, size: int) -> None:
    """Volume Shadow Copy metadata: the header at 0x1e00, the catalog, each store's block list and bitmap."""
    if data[base + 0x1E00:base + 0x1E10] != VSS_ID:
        return
    layout.region(base + 0x1E00, 512, "vss.header")
    layout.ints(base + 0x1E00, [(20, 4, "recordType"), (48, 8, "catalogOffset")])
    catalog = read_int(data, base + 0x1E30, 8)
    if not 0 < catalog < size or data[base + catalog:base + catalog + 16] != VSS_ID:
        return
    at = base + catalog
    layout.region(at, 0x4000, "vss.catalog")
    layout.ints(at, VSS_BLOCK_HEADER)
    layout.special(at + 40, struct.pack("<Q", catalog), "VSS catalog block pointing at itself")
    for entry in range(at + 128, at + 0x4000, 128):
        kind = read_int(data, entry, 8)
        if kind not in (2, 3):
            continue
        layout.ints(entry, VSS_CATALOG_ENTRY)
        if kind == 3:
            for offset, what in ((read_int(data, entry + 8, 8), "vss.blockList"),
                                 (read_int(data, entry + 48, 8), "vss.bitmap")):
                if 0 < offset < size:
                    layout.region(base + offset, 0x4000, what)
                    layout.ints(base + offset, VSS_BLOCK_HEADER)
                    layout.special(base + offset + 40, struct.pack("<Q", offset), f"{what} block pointing at itself")


def _ntfs_attributes(layout: Layout, data: bytes, record_at: int, record: int, index: int) -> None:
    at = record_at + read_int(data, record_at + 20, 2)
    while record_at < at < record_at + record - 16 and read_int(data, at, 4) != 0xFFFFFFFF:
        kind, length = read_int(data, at, 4), read_int(data, at + 4, 4)
        layout.ints(at, ATTRIBUTE)
        layout.ints(at, NON_RESIDENT if data[at + 8] else RESIDENT)
        value = at + read_int(data, at + 20, 2)
        if kind == 0x30 and not data[at + 8]:  # $FILE_NAME: parent reference, name length
            layout.ints(value, [(0, 8, "parentRef"), (48, 8, "allocatedSize"), (56, 8, "realSize"),
                                (64, 1, "nameLength")])
            layout.special(value, struct.pack("<Q", index | (1 << 48)), "$FILE_NAME parent is the file itself")
        if kind == 0x90 and not data[at + 8]:  # $INDEX_ROOT: entries name files; point them at this folder
            entry = value + 16 + read_int(data, value + 16, 4)
            for _ in range(32):
                entry_length = read_int(data, entry + 8, 2)
                if entry_length < 16 or data[entry + 12] & 2:
                    break
                layout.ints(entry, [(0, 8, "entry.fileRef"), (8, 2, "entry.length"), (10, 2, "entry.keyLength"),
                                    (12, 4, "entry.flags")])
                layout.special(entry, struct.pack("<Q", index | (5 << 48)), "index entry names its own folder")
                entry += entry_length
        if length < 24:
            break
        at += length


def ext(layout: Layout, data: bytes, base: int, size: int) -> bool:
    sb = base + 1024
    if read_int(data, sb + 56, 2) != 0xEF53:
        return False
    layout.region(sb, 1024, "ext.superblock")
    layout.ints(sb, EXT_SUPER)
    layout.fixup("ext4-super", sb)
    block = 1024 << min(read_int(data, sb + 24, 4), 6)
    desc = read_int(data, sb + 254, 2) if read_int(data, sb + 96, 4) & 0x80 else 32
    gdt = base + (read_int(data, sb + 20, 4) + 1) * block
    layout.region(gdt, block, "ext.groupDescriptors")
    for group in range(min(read_int(data, sb + 0, 4) // max(read_int(data, sb + 40, 4), 1), 8)):
        layout.ints(gdt + group * max(desc, 32), EXT_GROUP)
    inode_size = read_int(data, sb + 88, 2) or 128
    table = base + read_int(data, gdt + 8, 4) * block
    for ino in range(2, min(read_int(data, sb + 40, 4), 40) + 1):
        at = table + (ino - 1) * inode_size
        if at + inode_size > base + size or not read_int(data, at, 2):
            continue
        layout.region(at, inode_size, "ext.inode")
        layout.ints(at, EXT_INODE)
        if read_int(data, at, 2) & 0xF000 == 0x4000 and read_int(data, at + 40, 2) == 0xF30A:
            start = read_int(data, at + 60, 4) | read_int(data, at + 58, 2) << 32
            _ext_dir_block(layout, data, base + start * block, block, ino)
    return True


def _ext_dir_block(layout: Layout, data: bytes, at: int, block: int, ino: int) -> None:
    layout.region(at, block, "ext.dirBlock")
    pos = at
    while pos + 8 <= at + block and len(layout.fields) < 4000:
        rec_len, name_len = read_int(data, pos + 4, 2), data[pos + 6]
        if rec_len < 8:
            break
        layout.ints(pos, EXT_DIRENT)
        name = data[pos + 8:pos + 8 + name_len]
        if name not in (b".", b".."):
            layout.special(pos, struct.pack("<I", 2), "entry points at the root (an ancestor: cycle)")
            layout.special(pos, struct.pack("<I", ino), "entry points at its own folder (cycle)")
            layout.special(pos + 6, b"\xff", "name longer than the entry")
            if name_len >= 2:
                layout.special(pos + 8, b"..", "name starts with '..'")
                layout.special(pos + 8 + name_len // 2, b"/", "name with '/'")
        pos += rec_len


def fat(layout: Layout, data: bytes, base: int, size: int) -> bool:
    boot = data[base:base + 512]
    if boot[510:512] != b"\x55\xaa" or not (boot[54:57] == b"FAT" or boot[82:85] == b"FAT"):
        return False
    layout.region(base, 512, "fat.boot")
    layout.ints(base, FAT_BOOT)
    sector, per_cluster = read_int(boot, 11, 2) or 512, boot[13] or 1
    reserved, fats = read_int(boot, 14, 2), boot[16]
    fat_sectors = read_int(boot, 22, 2) or read_int(boot, 36, 4)
    fat_at = base + reserved * sector
    layout.region(fat_at, min(fat_sectors * sector, 4096), "fat.table")
    root_entries = read_int(boot, 17, 2)
    root = fat_at + fats * fat_sectors * sector
    data_at = root + root_entries * 32
    cluster = sector * per_cluster
    fat32 = root_entries == 0
    if fat32:
        root = data_at + (read_int(boot, 44, 4) - 2) * cluster
    width = 4 if fat32 else (2 if boot[54:59] == b"FAT16" else 0)
    _fat_dir(layout, data, root, max(root_entries * 32, cluster) if not fat32 else cluster, data_at, cluster,
             fat_at, width, depth=0)
    return True


def _fat_dir(layout: Layout, data: bytes, at: int, length: int, data_at: int, cluster: int, fat_at: int,
             width: int, depth: int) -> None:
    layout.region(at, length, "fat.directory")
    here = (at - data_at) // cluster + 2 if at >= data_at else 0
    for pos in range(at, at + length, 32):
        first = data[pos] if pos < len(data) else 0
        if first == 0:
            break
        if first in (0xE5, 0x2E):
            continue
        layout.ints(pos, FAT_DIRENT)
        attributes = data[pos + 11]
        if attributes == 0x0F:
            layout.special(pos + 1, "/".encode("utf-16-le"), "long name with '/'")
            continue
        layout.special(pos + 4, b"/", "8.3 name with '/'")
        start = read_int(data, pos + 26, 2) | read_int(data, pos + 20, 2) << 16
        if attributes & 0x10:
            layout.special(pos + 26, struct.pack("<H", here), "folder entry points at its own folder (cycle)")
            layout.special(pos + 26, struct.pack("<H", 0), "folder entry points at the root (cycle)")
            if depth < 3 and start >= 2:
                _fat_dir(layout, data, data_at + (start - 2) * cluster, cluster, data_at, cluster, fat_at, width,
                         depth + 1)
        if width and start >= 2:
            layout.special(fat_at + start * width, struct.pack("<I" if width == 4 else "<H", start),
                           "cluster chain loops on itself")


def xfs(layout: Layout, data: bytes, base: int, size: int) -> bool:
    if data[base:base + 4] != b"XFSB":
        return False
    sector = read_int(data, base + 102, 2, big_endian=True) or 512
    layout.region(base, sector, "xfs.superblock")
    layout.ints(base, XFS_SUPER, big_endian=True)
    layout.region(base + sector, 3 * sector, "xfs.agHeaders")
    layout.fixup("xfs-super", base)
    block = read_int(data, base + 4, 4, big_endian=True)
    inode_size = read_int(data, base + 104, 2, big_endian=True)
    per_block_log, ag_block_log = data[base + 123], data[base + 124]
    ag_blocks = read_int(data, base + 84, 4, big_endian=True)
    root = read_int(data, base + 56, 8, big_endian=True)
    for ino in range(root, root + 16):
        agno, agbno = ino >> (ag_block_log + per_block_log), (ino >> per_block_log) & ((1 << ag_block_log) - 1)
        at = base + (agno * ag_blocks + agbno) * block + (ino & ((1 << per_block_log) - 1)) * inode_size
        if at + inode_size > base + size or data[at:at + 2] != b"IN":
            continue
        layout.region(at, inode_size, "xfs.inode")
        layout.ints(at, XFS_INODE, big_endian=True)
        fork = at + (176 if data[at + 4] >= 3 else 100)
        if data[at + 5] == 1 and read_int(data, at + 2, 2, big_endian=True) & 0xF000 == 0x4000:
            _xfs_shortform(layout, data, fork, ino, root)
        if data[at + 4] >= 3:
            layout.fixup(f"xfs-inode:{inode_size}", at)
    return True


def _xfs_shortform(layout: Layout, data: bytes, at: int, ino: int, root: int) -> None:
    count, wide = data[at], data[at + 1]
    width = 8 if wide else 4
    layout.ints(at, [(0, 1, "sf.count"), (1, 1, "sf.i8count"), (2, width, "sf.parent")], big_endian=True)
    layout.special(at + 2, ino.to_bytes(width, "big"), "folder is its own parent (cycle)")
    pos = at + 2 + width
    for _ in range(count):
        name_len = data[pos]
        layout.ints(pos, [(0, 1, "sf.nameLength"), (1, 2, "sf.offset")], big_endian=True)
        inode_at = pos + 3 + name_len + 1  # with the ftype byte (v5 file systems)
        layout.special(inode_at, root.to_bytes(width, "big"), "entry points at the root (cycle)")
        layout.special(pos + 3, b"/", "name with '/'")
        layout.special(pos, b"\xff", "name longer than the fork")
        pos = inode_at + width
