"""Test images for the benchmarks, built with real tools under bench/.work and reused between runs."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for fixtures/ (bench/ runs as a script)
from fixtures.build_raid import MdArray, build_md_array
from fixtures.lvm_writer import metadata_text, pv_header

WORK = Path(__file__).resolve().parent / ".work"
#: Outputs: beside WORK on the same file system, but not in the images' folder, where restorekit writes nothing.
OUT = Path(__file__).resolve().parent / ".out"
GiB = 1 << 30
MiB = 1 << 20
BLOCK = 2 * MiB
#: Where the partition of a partitioned bench image starts (sectors), as fls -o takes it.
PARTITION_SECTOR = 2048


def build_vhd(virtual: int, allocated_blocks: int) -> Path:
    """A dynamic VHD of ``virtual`` bytes with ``allocated_blocks`` random 2 MiB blocks, made by qemu-img."""
    path = WORK / f"dyn-{virtual // GiB}g-{allocated_blocks * BLOCK >> 20}m.vhd"
    if path.exists():
        return path
    WORK.mkdir(exist_ok=True)
    raw = WORK / "src.raw"
    rnd = random.Random(7)
    with open(raw, "wb") as f:
        f.truncate(virtual)
        for block in sorted(rnd.sample(range(virtual // BLOCK), allocated_blocks)):
            f.seek(block * BLOCK)
            f.write(rnd.randbytes(BLOCK))
    _to_vhd(raw, path, force_size=True)
    return path


def build_gpt_ntfs_vhd() -> Path:
    """A 1 GiB dynamic VHD: GPT with an EFI FAT partition and a 1000 MiB NTFS partition, made by real tools."""
    path = WORK / "gpt-ntfs-1g.vhd"
    if path.exists():
        return path
    WORK.mkdir(exist_ok=True)
    raw = WORK / "gpt-ntfs-1g.raw"
    with open(raw, "wb") as f:
        f.truncate(GiB)
    subprocess.run(["sgdisk", "-n1:2048:+16M", "-t1:EF00", "-n2:0:0", "-t2:0700", str(raw)], check=True,
                   stdout=subprocess.DEVNULL)
    ntfs_start = (2048 + 16 * 2048) * 512
    subprocess.run(["mkfs.vfat", "-F", "16", "--offset", "2048", str(raw), str(16 * 1024)], check=True,
                   stdout=subprocess.DEVNULL)
    part = WORK / "ntfs.part"
    with open(part, "wb") as f:
        f.truncate(GiB - ntfs_start - 34 * 512)
    subprocess.run(["mkntfs", "-F", "-Q", "-q", "-L", "Windows", "-p", str(ntfs_start // 512), "-H", "255",
                    "-S", "63", str(part)], check=True)
    _place(part, raw, ntfs_start)
    _to_vhd(raw, path, force_size=True)
    return path


def big_file_sha256(size_mib: int) -> str:
    """The SHA-256 of the ``big.bin`` of :func:`build_fs_vhd` (computed once, kept beside the images)."""
    cached = WORK / f"big-{size_mib}m.sha256"
    if cached.exists():
        return cached.read_text().strip()
    digest = hashlib.sha256()
    for chunk in _big_file_chunks(size_mib):
        digest.update(chunk)
    cached.write_text(digest.hexdigest() + "\n")
    return digest.hexdigest()


def _big_file_chunks(size_mib: int) -> Iterator[bytes]:
    rnd = random.Random(9)
    for _ in range(size_mib):
        yield rnd.randbytes(MiB)


def build_fs_vhd(kind: str, size_mib: int) -> Path:
    """A dynamic VHD holding one ``kind`` (ntfs/ext4) file system, whole disk, with a random ``big.bin``."""
    path = WORK / f"{kind}-{size_mib}m.vhd"
    if path.exists():
        return path
    raw = WORK / f"{kind}.raw"
    _fs_with_big_file(kind, size_mib, raw)
    _to_vhd(raw, path)
    return path


def build_fs_raw(kind: str, size_mib: int) -> Path:
    """A raw disk image holding one ``kind`` file system, whole disk, with the random ``big.bin``."""
    path = WORK / f"{kind}-{size_mib}m.raw"
    if not path.exists():
        _fs_with_big_file(kind, size_mib, path)
    return path


def build_md_members(kind: str, size_mib: int, level: int, raid_disks: int, chunk: int) -> list[Path]:
    """Members (superblock 1.2, files) of an md array at ``level`` holding :func:`build_fs_raw`'s file system,
    laid out by fixtures/build_raid.py (RAID5: left-symmetric, md's default)."""
    folder = WORK / f"md-raid{level}-{raid_disks}x-{chunk >> 10}k-{kind}-{size_mib}m"
    members = [folder / f"member{role}.img" for role in range(raid_disks)]
    if all(m.exists() for m in members):
        return members
    data = build_fs_raw(kind, size_mib).read_bytes()
    _fresh(folder)
    return build_md_array(folder, data, MdArray(level, raid_disks, chunk=chunk, layout=2 if level in (5, 6) else 0))


def _fs_with_big_file(kind: str, size_mib: int, target: Path) -> None:
    src = _fresh(WORK / "fs-src")
    with open(src / "big.bin", "wb") as f:
        for chunk in _big_file_chunks(size_mib):
            f.write(chunk)
    big_file_sha256(size_mib)
    _make_fs(kind, src, target, (size_mib + 200) * MiB)
    shutil.rmtree(src)


#: The striped LV of :func:`build_lvm_striped`: LVM's default stripe size and extent size.
LVM_STRIPE = 64 << 10
LVM_EXTENT = 4 * MiB


def build_lvm_striped(size_mib: int) -> list[Path]:
    """Two PV images of VG ``vgbench`` whose LV ``lvstriped`` stripes (64 KiB) the ext4 of :func:`build_fs_raw`
    over both; the labels and metadata come from the tests' LVM writer (``pvck`` and ``vgcfgrestore`` check it
    there), the data is dealt out chunk by chunk and holes stay holes."""
    paths = [WORK / f"lvm-striped-{size_mib}m-pv{i}.img" for i in range(2)]
    if all(p.exists() for p in paths):
        return paths
    fs = build_fs_raw("ext4", size_mib)
    extents = -(-fs.stat().st_size // (2 * LVM_EXTENT)) * 2
    per_pv = extents // 2 * LVM_EXTENT
    pe_start = MiB
    ids = ["benchA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAAAA", "benchB-BBBB-BBBB-BBBB-BBBB-BBBB-BBBBBB"]
    pvs = {f"pv{i}": {"id": ids[i], "device": f"/dev/sd{'ab'[i]}", "status": ["ALLOCATABLE"], "flags": [],
                      "dev_size": (pe_start + per_pv) // 512, "pe_start": pe_start // 512,
                      "pe_count": extents // 2} for i in range(2)}
    lv = {"id": "benchL-LLLL-LLLL-LLLL-LLLL-LLLL-LLLLLL", "status": ["READ", "WRITE", "VISIBLE"], "flags": [],
          "segment_count": 1, "segment1": {"start_extent": 0, "extent_count": extents, "type": "striped",
                                           "stripe_count": 2, "stripe_size": LVM_STRIPE // 512,
                                           "stripes": ["pv0", 0, "pv1", 0]}}
    vg = {"id": "benchV-VVVV-VVVV-VVVV-VVVV-VVVV-VVVVVV", "seqno": 1, "format": "lvm2",
          "status": ["RESIZEABLE", "READ", "WRITE"], "flags": [], "extent_size": LVM_EXTENT // 512, "max_lv": 0,
          "max_pv": 0, "metadata_copies": 0, "physical_volumes": pvs, "logical_volumes": {"lvstriped": lv}}
    text = metadata_text("vgbench", vg).encode()
    outs = []
    for i, path in enumerate(paths):
        out = open(path, "wb")  # noqa: SIM115 (both stay open while the chunks are dealt)
        out.write(pv_header(ids[i], pe_start + per_pv, pe_start, text))
        out.truncate(pe_start + per_pv)
        outs.append(out)
    with open(fs, "rb") as f:
        n = 0
        while chunk := f.read(LVM_STRIPE):
            if chunk.count(0) != len(chunk):
                os.pwrite(outs[n % 2].fileno(), chunk, pe_start + (n // 2) * LVM_STRIPE)
            n += 1
    for out in outs:
        out.close()
    return paths


def build_tree_vhd(kind: str, folders: int, files_per_folder: int) -> Path:
    """A dynamic VHD, GPT with one ``kind`` partition at sector 2048, holding ``folders`` x ``files`` small files."""
    count = folders * files_per_folder
    path = WORK / f"tree-{kind}-{count}.vhd"
    if path.exists():
        return path
    src = _fresh(WORK / "tree-src")
    for d in range(folders):
        folder = src / f"dir{d:04d}"
        folder.mkdir()
        for i in range(files_per_folder):
            (folder / f"file{i:05d}.txt").write_bytes(f"{d}/{i}\n".encode() * (1 + i % 300))
    part = WORK / f"tree-{kind}.part"
    size = 512 * MiB
    _make_fs(kind, src, part, size)
    shutil.rmtree(src)
    raw = WORK / f"tree-{kind}.raw"
    with open(raw, "wb") as f:
        f.truncate(size + 2 * MiB)
    subprocess.run(["sgdisk", f"-n1:{PARTITION_SECTOR}:+{size // MiB}M", "-t1:0700", str(raw)], check=True,
                   stdout=subprocess.DEVNULL)
    _place(part, raw, PARTITION_SECTOR * 512)
    _to_vhd(raw, path, force_size=True)
    return path


#: The trees of the ``walk`` section: 200 files per folder, ``dir0000/file00000.txt`` on.
WALK_FILES_PER_FOLDER = 200


def walk_file_bytes(folder: int, index: int) -> bytes:
    """The contents of ``dir{folder}/file{index}.txt`` in the walk trees: 1 file in 4 empty, the others 1-700
    bytes (small enough for NTFS to keep most of them resident in their MFT records)."""
    if index % 4 == 0:
        return b""
    size = 1 + (folder * 131 + index * 37) % 700
    line = f"dir{folder:04d}/file{index:05d}.txt\n".encode()
    return (line * (size // len(line) + 1))[:size]


def walk_image(kind: str, count: int, container: str) -> Path:
    """Where the walk image of ``count`` files on ``kind`` lives, as a ``raw`` disk or a dynamic ``vhd``."""
    return WORK / f"walk-{kind}-{count}.{container}"


def build_walk_images(counts: list[int], kinds: tuple[str, ...] = ("ext4", "ntfs"),
                      timings: dict[str, float] | None = None) -> None:
    """Build the walk images of ``counts`` files that are missing: per file system and count a GPT disk with one
    partition at sector 2048 holding ``count // 200`` folders of 200 small files, kept as a sparse raw image and
    as a dynamic VHD of the same disk. The source tree is made once on disk and grows folder by folder from the
    smallest count to the largest (each file system is made from it), then deleted. Seconds per step go to
    ``timings`` (``"tree 200000"``, ``"ext4 200000"``, ...)."""
    import time

    missing = [(count, kind) for count in sorted(counts) for kind in kinds
               if not (walk_image(kind, count, "raw").exists() and walk_image(kind, count, "vhd").exists())]
    if not missing:
        return
    src = WORK / "walk-src"
    src.mkdir(parents=True, exist_ok=True)
    made = 0
    for count, kind in missing:
        folders = count // WALK_FILES_PER_FOLDER
        start = time.perf_counter()
        if made != folders:
            made = _walk_tree(src, folders)
            if timings is not None:
                timings[f"tree {count}"] = time.perf_counter() - start
            start = time.perf_counter()
        _walk_disk(kind, count, src)
        if timings is not None:
            timings[f"{kind} {count}"] = time.perf_counter() - start
    shutil.rmtree(src)


def _walk_tree(src: Path, folders: int) -> int:
    """Make ``src`` hold exactly ``folders`` folders of the walk tree (adding or removing whole folders)."""
    for extra in sorted(src.iterdir()):
        if int(extra.name[3:]) >= folders:
            shutil.rmtree(extra)
    for d in range(folders):
        folder = src / f"dir{d:04d}"
        if folder.is_dir() and len(os.listdir(folder)) == WALK_FILES_PER_FOLDER:
            continue
        folder.mkdir(exist_ok=True)
        for i in range(WALK_FILES_PER_FOLDER):
            with open(folder / f"file{i:05d}.txt", "wb") as f:
                f.write(walk_file_bytes(d, i))
    return folders


def _walk_disk(kind: str, count: int, src: Path) -> None:
    """The raw disk and the dynamic VHD of one walk image, from the tree ``src``."""
    part = WORK / f"walk-{kind}.part"
    size = (count * 6 << 10) + 512 * MiB  # 4 KiB of data per ext4 file at most, 1 KiB MFT record per NTFS file
    size -= size % MiB
    _make_fs(kind, src, part, size, inodes=count + count // 100 + 4096)
    raw, vhd = walk_image(kind, count, "raw"), walk_image(kind, count, "vhd")
    tmp = raw.with_suffix(".raw.tmp")
    with open(tmp, "wb") as f:
        f.truncate(size + 2 * MiB)
    subprocess.run(["sgdisk", f"-n1:{PARTITION_SECTOR}:+{size // MiB}M", "-t1:0700", str(tmp)], check=True,
                   stdout=subprocess.DEVNULL)
    _place(part, tmp, PARTITION_SECTOR * 512)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=on",
                    str(tmp), str(vhd)], check=True)
    tmp.rename(raw)


def _make_fs(kind: str, src: Path, target: Path, size: int, inodes: int | None = None) -> None:
    """Make a ``kind`` file system of ``size`` bytes in the file ``target`` holding the tree ``src`` (ext4: with
    at least ``inodes`` inodes when given)."""
    with open(target, "wb") as f:
        f.truncate(size)
    if kind == "ext4":
        subprocess.run(["mke2fs", "-q", "-t", "ext4", *(["-N", str(inodes)] if inodes else []), "-d", str(src),
                        str(target)], check=True)
        return
    subprocess.run(["mkntfs", "-q", "-F", "-f", str(target)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    mnt = WORK / "mnt"
    mnt.mkdir(exist_ok=True)
    subprocess.run(["ntfs-3g", "-o", "big_writes,noatime", str(target), str(mnt)], check=True)
    try:
        subprocess.run(["cp", "-r", "--no-preserve=all", f"{src}/.", str(mnt)], check=True)
    finally:
        subprocess.run(["fusermount", "-u", str(mnt)], check=True)


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _place(part: Path, raw: Path, offset: int) -> None:
    """Copy the file ``part`` into ``raw`` at byte ``offset`` (holes stay holes), then delete ``part``."""
    subprocess.run(["dd", f"if={part}", f"of={raw}", "bs=1M", f"seek={offset}", "oflag=seek_bytes",
                    "conv=notrunc,sparse", "status=none"], check=True)
    part.unlink()


def _to_vhd(raw: Path, path: Path, *, force_size: bool = False) -> None:
    options = "subformat=dynamic,force_size=on" if force_size else "subformat=dynamic"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", options, str(raw), str(path)],
                   check=True)
    raw.unlink()


#: The logical volume of :func:`build_lvm_disks`: VG, LV, and the MiB it holds on each disk.
LV_ID, LV_HALF_MIB = "d0-p1/vgbench/data", 400


def build_lvm_disks() -> tuple[Path, Path, list[tuple[int, int]]]:
    """Two 512 MiB raw disks, GPT with one Linux LVM partition at sector 2048 each, and one VG whose linear LV
    ``data`` holds 400 MiB of random bytes on each disk (made with pvcreate/vgcreate on loop devices and
    vgcfgrestore, as ``fixtures/build_volumes.py`` does: no device-mapper needed). Returns the disks and, per
    disk, where the LV's half starts in it and how long it is; the LV's bytes are ``lv_chunks()``."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from fixtures.build_volumes import _lv, lay_out_vg, loop  # the fixture build's LVM steps

    disks = [WORK / "lvm-bench-a.raw", WORK / "lvm-bench-b.raw"]
    layout = WORK / "lvm-bench.layout"
    if all(d.exists() for d in disks) and layout.exists():
        starts = [int(x) for x in layout.read_text().split()]
        return disks[0], disks[1], [(s, LV_HALF_MIB * MiB) for s in starts]
    WORK.mkdir(exist_ok=True)
    part, size = PARTITION_SECTOR * 512, 512 * MiB
    for disk in disks:
        with open(disk, "wb") as f:
            f.truncate(size)
        subprocess.run(["sgdisk", f"-n1:{PARTITION_SECTOR}:0", "-t1:8E00", str(disk)], check=True,
                       stdout=subprocess.DEVNULL)
    part_size = size - part - 34 * 512
    extents = LV_HALF_MIB // 4
    with loop(disks[0], part, part_size) as dev_a, loop(disks[1], part, part_size) as dev_b:
        pe_starts, _listing = lay_out_vg(
            [(dev_a, "AAAAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAAAA"), (dev_b, "BBBBBB-BBBB-BBBB-BBBB-BBBB-BBBB-BBBBBB")],
            "vgbench", "4m", WORK,
            lambda pv_a, pv_b: _lv("data", "dddddd-dddd-dddd-dddd-dddd-dddd-dddddd",
                                   [(0, extents, pv_a, 0), (extents, extents, pv_b, 0)]))
    starts = [part + pe_start for pe_start in pe_starts]
    chunks = lv_chunks()
    for disk, start in zip(disks, starts, strict=True):
        with open(disk, "r+b") as f:
            f.seek(start)
            for _ in range(LV_HALF_MIB):
                f.write(next(chunks))
    layout.write_text(" ".join(map(str, starts)))
    return disks[0], disks[1], [(s, LV_HALF_MIB * MiB) for s in starts]


def lv_chunks() -> Iterator[bytes]:
    """The LV's bytes of :func:`build_lvm_disks`, 1 MiB at a time."""
    rnd = random.Random(11)
    for _ in range(2 * LV_HALF_MIB):
        yield rnd.randbytes(MiB)
