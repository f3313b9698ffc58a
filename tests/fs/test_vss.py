"""Volume Shadow Copies (``fs/vss.py``): every store of the shared VSS images, checked against libvshadow
(pyvshadow, a second reader), against the per-sector MD5s shipped with ``vss_2003`` (ground truth), and file by
file against pyfsntfs reading through pyvshadow; forwarders and the reverse list on synthesized volumes; damaged
catalogs and block lists as one-line errors.

The images (``../shared/testdata/vss``): ``vsstest.qcow2`` (1 GiB bare NTFS, 2 stores; ``qemu-img convert -O raw``),
``ntfs-samples.tgz`` (``ntfs.raw``: 64 GiB sparse MBR disk, 2 stores, the newest offline) and ``vss_2003.tgz``
(128 GiB sparse MBR disk, Windows Server 2003, 6 stores, two offline), unpacked sparse with ``tar xzf``.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pyvshadow

from restorekit.fs.errors import VolumeError
from restorekit.fs.image import open_image
from restorekit.fs.scan import Keys, scan, shadow_volume, split_store_id
from restorekit.fs.stream import ExtentKind
from restorekit.fs.vss import BLOCK, read_catalog, set_bit_runs
from tests.conftest import require_tool, shared
from tests.fs import vss_images

if TYPE_CHECKING:
    from restorekit.fs.scan import VolumeInfo
    from restorekit.fs.stream import Stream

#: image name → (file, id of the NTFS volume, its offset in the image, store ids oldest first, stores not listed).
IMAGES = {
    "vsstest": ("vsstest.raw", "d0", 0, ["600f0b69-5bdf-11e3-9d6c-005056c00008",
                                         "600f0b6d-5bdf-11e3-9d6c-005056c00008"], set()),
    "ntfs-samples": ("ntfs.raw", "d0-p1", 2048 * 512, ["779439b4-ce6a-11ea-8bd1-525400123456",
                                                       "779439c8-ce6a-11ea-8bd1-525400123456"], {2}),
    "vss_2003": ("vss_2003.raw", "d0-p1", 63 * 512, ["12e5a133-8722-11e9-9178-525400123456",
                                                     "12e5a134-8722-11e9-9178-525400123456",
                                                     "12e5a137-8722-11e9-9178-525400123456",
                                                     "4ace022f-877d-11e9-8446-525400123456",
                                                     "4ace0230-877d-11e9-8446-525400123456",
                                                     "4ace0231-877d-11e9-8446-525400123456"], {4, 6}),
}


@pytest.fixture(scope="session")
def vss_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three images unpacked once per session (the tar archives keep their holes: about 220 MiB on disk)."""
    qemu_img, tar = require_tool("qemu-img"), require_tool("tar")
    folder = tmp_path_factory.mktemp("vss")
    subprocess.run([qemu_img, "convert", "-O", "raw", shared("vss/vsstest.qcow2"), folder / "vsstest.raw"],
                   check=True)
    for archive in ("vss/ntfs-samples.tgz", "vss/vss_2003.tgz"):
        subprocess.run([tar, "xzf", shared(archive), "-C", folder], check=True)
    return folder


def _volumes(path: Path) -> dict[str, VolumeInfo]:
    return {v.id: v for v in scan([("d0", open_image(path))], Keys(), evidence=False)}


def _libvshadow(info: VolumeInfo) -> Any:
    assert info.stream is not None
    volume = pyvshadow.volume()
    volume.open_file_object(info.stream)  # a Stream is a file object (read, seek, tell, get_size)
    return volume


@pytest.mark.parametrize("name", list(IMAGES))
def test_catalog_lists_every_store(vss_dir: Path, name: str) -> None:
    """Every store, oldest first as vss1..vssN, with libvshadow's identifiers and creation times; offline stores
    (which vssadmin does not list) are included and marked."""
    file, volume_id, offset, store_ids, hidden = IMAGES[name]
    info = _volumes(vss_dir / file)[volume_id]
    assert info.offset == offset
    theirs = _libvshadow(info)
    assert [c["storeId"] for c in info.shadow_copies] == store_ids
    assert [theirs.get_store(i).identifier for i in range(theirs.number_of_stores)] == store_ids
    for i, copy in enumerate(info.shadow_copies):
        assert copy["id"] == f"{volume_id}@vss{i + 1}"
        assert copy["number"] == i + 1
        assert copy["listed"] is (i + 1 not in hidden)
        assert copy["hiddenReason"] == (None if copy["listed"] else "offline")
        created = theirs.get_store(i).creation_time.isoformat()
        assert copy["created"].startswith(created[:26].rstrip("0")), (copy["created"], created)
        assert copy["volumeSize"] == theirs.get_store(i).volume_size


def _compared_blocks(store: Stream, rng: random.Random) -> list[int]:
    """The blocks where a store differs from the volume (held by some store, zero by the bitmap), their
    neighbours, the first and last MiB, and 400 others at random."""
    blocks: set[int] = set()
    for block_map in store._maps:  # type: ignore[attr-defined]
        blocks.update(block_map.keys)
    for start, end in set_bit_runs(store._unused_bits, 0, store.size):  # type: ignore[attr-defined]
        blocks.update((start, end - BLOCK, end))
    near = {b + d for b in blocks for d in (-BLOCK, BLOCK)}
    edges = set(range(0, 1 << 20, BLOCK)) | set(range(store.size - (1 << 20), store.size, BLOCK))
    sample = {rng.randrange(store.size // BLOCK) * BLOCK for _ in range(400)}
    return sorted(b for b in blocks | near | edges | sample if 0 <= b < store.size)


@pytest.mark.parametrize("name", list(IMAGES))
def test_every_store_reads_as_libvshadow_reads_it(vss_dir: Path, name: str) -> None:
    """Block by block, every store equals libvshadow's reading of it; vsstest's stores are compared whole."""
    file, volume_id, _offset, store_ids, _hidden = IMAGES[name]
    volumes = _volumes(vss_dir / file)
    theirs = _libvshadow(volumes[volume_id])
    rng = random.Random(14)
    for number in range(1, len(store_ids) + 1):
        ours = shadow_volume(volumes, f"{volume_id}@vss{number}")
        assert ours is not None and ours.stream is not None
        store = ours.stream
        reference = theirs.get_store(number - 1)
        assert store.size == reference.volume_size
        whole = store.size <= 1 << 30
        step = 4 << 20 if whole else BLOCK
        for offset in range(0, store.size, step) if whole else _compared_blocks(store, rng):
            reference.seek(offset)
            assert store.pread(step, offset) == reference.read(step), f"vss{number} differs at 0x{offset:x}"


def test_vss_2003_matches_the_shipped_sector_hashes(vss_dir: Path) -> None:
    """``vss_2003_hashes.txt``: per store (its sequence number), a 16 KiB block's offset in the volume and the MD5
    of each of its 32 sectors; the file covers the four listed stores (1, 2, 3, 5), 80 blocks."""
    volumes = _volumes(vss_dir / "vss_2003.raw")
    lines = shared("vss/vss_2003_hashes.txt").read_text().splitlines()
    checked: dict[int, int] = {}
    for line in lines:
        sequence, offset, _flags, md5s = line.split("\t")
        info = shadow_volume(volumes, f"d0-p1@vss{sequence}")
        assert info is not None and info.stream is not None
        assert info.shadow_copies == [] and volumes["d0-p1"].shadow_copies[int(sequence) - 1]["sequence"] == int(
            sequence)
        data = info.stream.pread(BLOCK, int(offset))
        assert [hashlib.md5(data[i : i + 512]).hexdigest() for i in range(0, BLOCK, 512)] == md5s.split(" ")
        checked[int(sequence)] = checked.get(int(sequence), 0) + 1
    assert checked == {1: 35, 2: 23, 3: 11, 5: 11}


def _pyfsntfs_files(volume: Any) -> dict[str, tuple[int, str]]:
    """path → (size, sha256) of every file below the root, read by pyfsntfs (NTFS metadata files left out)."""
    out: dict[str, tuple[int, str]] = {}
    pending = [("", volume.get_root_directory())]
    while pending:
        path, folder = pending.pop()
        for entry in folder.sub_file_entries:
            child = f"{path}/{entry.name}"
            if (entry.name.startswith("$") and not path) or entry.name == "System Volume Information":
                continue
            if entry.file_attribute_flags & 0x10:
                pending.append((child, entry))
            else:
                data = entry.read_buffer(entry.size) if entry.size else b""
                out[child] = (entry.size, hashlib.sha256(data).hexdigest())
    return out


@pytest.mark.parametrize("name", list(IMAGES))
def test_every_store_lists_and_reads_the_files_pyfsntfs_reads(vss_dir: Path, name: str) -> None:
    """Each store's files through restorekit (its own VSS reader, then its NTFS layer) are the files pyfsntfs
    finds through libvshadow: the same paths, sizes and bytes. Files a store holds in copied blocks map to the
    image file itself, so they are copied in the kernel."""
    import pyfsntfs

    file, volume_id, _offset, store_ids, _hidden = IMAGES[name]
    volumes = _volumes(vss_dir / file)
    theirs = _libvshadow(volumes[volume_id])
    for number in range(1, len(store_ids) + 1):
        info = shadow_volume(volumes, f"{volume_id}@vss{number}")
        assert info is not None and info.fs is not None, info and info.warnings
        fs = info.fs
        ours: dict[str, tuple[int, str]] = {}
        for entry in fs.walk(fs.stat("/")):
            top = entry.path.split("/")[1]
            if entry.is_dir or top.startswith("$") or top == "System Volume Information":
                continue
            stream = fs.open_stream(entry)
            for ext in stream.extents():
                assert ext.kind is not ExtentKind.DATA or ext.source is not None
                if ext.kind is ExtentKind.DATA and ext.length >= 4096:  # non-resident: straight from the image
                    assert ext.source is not None and ext.source.fileno() is not None, (entry.path, ext)
            ours[entry.path] = (entry.size, hashlib.sha256(stream.read()).hexdigest())
        reference = pyfsntfs.volume()
        reference.open_file_object(theirs.get_store(number - 1))
        assert ours == _pyfsntfs_files(reference), f"vss{number}"
        assert ours, f"vss{number} has no files"


def run(*args: str | Path) -> tuple[int, bytes, str]:
    proc = subprocess.run([sys.executable, "-m", "restorekit", *map(str, args)], capture_output=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr.decode()


def test_files_that_differ_between_stores(vss_dir: Path, tmp_path: Path) -> None:
    """ntfs-samples: the oldest store holds /shadow_1.txt, the newest (offline, hidden from vssadmin) /shadow_2.txt,
    the live volume neither; extract from a store with --verify restores the old bytes."""
    image = vss_dir / "ntfs.raw"
    code, out, err = run("ls", image, "d0-p1@vss1:/", "d0-p1@vss2:/", "d0-p1:/")
    assert code == 0, err
    listing = out.decode().split()
    assert "shadow_1.txt" in listing and "shadow_2.txt" in listing
    code, out, err = run("find", image, "d0-p1@vss1:/shadow_*", "d0-p1@vss2:/shadow_*", "d0-p1:/shadow_*")
    assert (code, out.decode().split()) == (0, ["d0-p1@vss1:/shadow_1.txt", "d0-p1@vss2:/shadow_2.txt"]), err
    code, one, err = run("cat", image, "d0-p1@vss1:/shadow_1.txt")
    assert code == 0 and one.startswith(b"shadow_1"), err
    code, out, err = run("extract", image, "d0-p1@vss2:/shadow_2.txt", "d0-p1@vss1:/shadow_1.txt", "-o",
                         tmp_path / "out", "--verify", "--json")
    assert code == 0, err
    assert json.loads(out)["files"] == 2
    assert (tmp_path / "out" / "shadow_1.txt").read_bytes() == one
    assert (tmp_path / "out" / "shadow_2.txt").read_bytes().startswith(b"shadow_2")
    code, _out, err = run("cat", image, "d0-p1@vss1:/shadow_2.txt")
    assert code == 1 and err.count("\n") == 1 and "d0-p1@vss1: /shadow_2.txt" in err
    code, out, err = run("find", image, "shadow_*")  # a search of every volume leaves the shadow copies out
    assert (code, out) == (0, b""), err
    code, _out, err = run("extract", image, "d0-p1@vss1:/shadow_1.txt", "-o", tmp_path / "kept", "--parents")
    assert code == 0 and (tmp_path / "kept" / "d0-p1@vss1" / "shadow_1.txt").read_bytes() == one, err


def test_inspect_lists_shadow_copies(vss_dir: Path) -> None:
    code, out, err = run("inspect", vss_dir / "vss_2003.raw", "--json")
    assert code == 0, err
    (volume,) = json.loads(out)["volumes"]
    assert [(c["id"], c["listed"]) for c in volume["shadowCopies"]] == [
        ("d0-p1@vss1", True), ("d0-p1@vss2", True), ("d0-p1@vss3", True), ("d0-p1@vss4", False),
        ("d0-p1@vss5", True), ("d0-p1@vss6", False)]
    assert volume["shadowCopies"][0]["created"] == "2019-06-04T23:43:01.484375Z"
    code, out, err = run("inspect", vss_dir / "ntfs.raw")
    assert code == 0, err
    lines = out.decode().splitlines()
    assert lines[2] == ("    ├── d0-p1@vss1  shadow copy of 2020-07-25 12:26:04 UTC  "
                        "store {779439b4-ce6a-11ea-8bd1-525400123456}")
    assert lines[3].endswith("store {779439c8-ce6a-11ea-8bd1-525400123456}  not listed by Windows (offline)")


def test_a_store_is_read_only_when_named(vss_dir: Path) -> None:
    """Scanning reads the catalog only: no store's block list is read until a shadow copy is opened."""
    volumes = _volumes(vss_dir / "vss_2003.raw")
    copies = volumes["d0-p1"].shadow
    assert copies is not None and copies._maps == {}
    shadow_volume(volumes, "d0-p1@vss5", filesystem=False)
    assert sorted(copies._maps) == [4, 5]  # vss5 and the stores after it


def test_shadow_copy_addressing_errors(vss_dir: Path, tmp_path: Path) -> None:
    image = vss_dir / "vsstest.raw"
    code, _out, err = run("ls", image, "d0@vss3:/")
    assert (code, err) == (1, "Error: d0: no shadow copy vss3 (this volume has vss1 to vss2). See the shadowCopies "
                              "of restorekit inspect\n")
    code, _out, err = run("ls", image, "d9@vss1:/")
    assert code == 1 and err.startswith("Error: d9@vss1: no volume 'd9'") and err.count("\n") == 1
    assert split_store_id("os-p3@vss12") == ("os-p3", 12)
    assert split_store_id("os-p3@vss0") is None and split_store_id("os-p3@vss") is None
    assert split_store_id("lun0-p1/vg/lv@vss1") == ("lun0-p1/vg/lv", 1)


# -- synthesized layouts: forwarders, the reverse list, not-used descriptors ----------------------------------


def test_forwarders_and_overlays_read_as_libvshadow_reads_them(tmp_path: Path) -> None:
    """Three stores using every descriptor kind (see :func:`vss_images.layouts`), every block of every store."""
    image = vss_images.layouts()
    path = tmp_path / "layouts.raw"
    path.write_bytes(image)
    copies = read_catalog(open_image(path), "d0")
    assert copies is not None and len(copies.stores) == 3
    theirs = pyvshadow.volume()
    theirs.open(str(path))
    for number in (1, 2, 3):
        store, reference = copies.open(number), theirs.get_store(number - 1)
        for block in range(len(image) // BLOCK):
            reference.seek(block * BLOCK)
            assert store.pread(BLOCK, block * BLOCK) == reference.read(BLOCK), f"vss{number} block {block}"
    oldest = copies.open(1)
    volume = copies.volume
    assert oldest.pread(16, 41 * BLOCK)[:8] == struct.pack("<II", 160, 7) and oldest.block_runs(41 * BLOCK) == [
        (0, BLOCK, volume, 160 * BLOCK)]  # forwarded to block 42, which the second store holds in block 160
    assert oldest.block_runs(46 * BLOCK) == [(0, BLOCK, volume, 155 * BLOCK)]  # the reverse list
    assert copies.open(3).block_runs(100 * BLOCK) == [(0, BLOCK, None, 0)]  # unused in the newest store
    assert copies.open(2).block_runs(100 * BLOCK) == [(0, BLOCK, volume, 100 * BLOCK)]


def _damage(tmp_path: Path, patches: list[tuple[int, bytes]]) -> Path:
    image = vss_images.layouts()
    for offset, data in patches:
        image[offset : offset + len(data)] = data
    path = tmp_path / "damaged.raw"
    path.write_bytes(image)
    return path


CATALOG = vss_images.CATALOG_BLOCK * BLOCK
BLOCK_LIST = 17 * BLOCK  # the oldest store's


@pytest.mark.parametrize(("patches", "message"), [
    ([(CATALOG + 40, struct.pack("<Q", CATALOG))], "catalog block chain loops back to itself"),
    ([(CATALOG + 40, struct.pack("<Q", 1 << 40))], "catalog block offset lies past the volume's end"),
    ([(CATALOG + 20, struct.pack("<I", 5))], "catalog block is not one"),
])
def test_damaged_catalog_is_one_line(tmp_path: Path, patches: list[tuple[int, bytes]], message: str) -> None:
    path = _damage(tmp_path, patches)
    with pytest.raises(VolumeError, match=message) as caught:
        read_catalog(open_image(path), "d0")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("d0: shadow copy")
    code, _out, err = run("ls", path, "d0@vss1:/")
    assert code == 1 and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize(("patches", "message"), [
    ([(BLOCK_LIST + 40, struct.pack("<Q", BLOCK_LIST))], "block list block chain loops back to itself"),
    ([(BLOCK_LIST + 40, struct.pack("<Q", BLOCK_LIST + BLOCK * 1000))], "past the volume's end"),
    ([(BLOCK_LIST + 128 + 16, struct.pack("<Q", 1 << 50))], "points past the volume's"),
    ([(BLOCK_LIST + 128, struct.pack("<Q", 1 << 50))], "points past the volume's"),
    ([(BLOCK_LIST + 32, struct.pack("<Q", 0))], "block list block is not one"),
])
def test_damaged_block_list_is_one_line(tmp_path: Path, patches: list[tuple[int, bytes]], message: str) -> None:
    """The damage shows when the store is opened (the catalog lists it); the other stores stay readable."""
    path = _damage(tmp_path, patches)
    copies = read_catalog(open_image(path), "d0")
    assert copies is not None and len(copies.stores) == 3
    with pytest.raises(VolumeError, match=message) as caught:
        copies.open(1)
    assert "\n" not in str(caught.value) and "vss1" in str(caught.value)
    assert copies.open(2).size == copies.open(3).size
    code, _out, err = run("cat", path, "d0@vss1:/x")
    assert code == 1 and err.count("\n") == 1 and message in err, err


def test_damaged_catalog_on_a_real_volume_is_a_warning(vss_dir: Path, tmp_path: Path,
                                                       readonly) -> None:  # type: ignore[no-untyped-def]
    """vsstest with its catalog's last block pointing back at the first: inspect lists the volume with the
    reason, the files of the volume itself stay readable, and the image is never written."""
    copy = tmp_path / "vsstest.raw"
    subprocess.run(["cp", "--sparse=always", vss_dir / "vsstest.raw", copy], check=True)
    with copy.open("r+b") as f:
        f.seek(115589120 + 40)
        f.write(struct.pack("<Q", 115539968))
    readonly([copy])
    code, out, err = run("inspect", copy, "--json")
    assert code == 0, err
    (volume,) = json.loads(out)["volumes"]
    assert volume["shadowCopies"] == [] and volume["fileAccess"] is True
    assert any("catalog block chain loops back to itself" in w for w in volume["warnings"])
    code, out, err = run("ls", copy, "d0:/")
    assert code == 0 and b"syslog.gz" in out, err
    code, _out, err = run("ls", copy, "d0@vss1:/")
    assert code == 1 and "loops back" in err and err.count("\n") == 1


def test_no_catalog_and_diff_area_elsewhere(tmp_path: Path) -> None:
    """A VSS header without a catalog (shadow copies enabled, none taken) lists none; one whose diff area is on
    another volume says so in one line instead of reading the wrong volume's offsets."""
    path = _damage(tmp_path, [(0x1E00 + 48, struct.pack("<Q", 0))])
    copies = read_catalog(open_image(path), "d0")
    assert copies is not None and copies.stores == []
    with pytest.raises(VolumeError, match=r"no shadow copy vss1 \(this volume has none\)"):
        copies.open(1)
    path = _damage(tmp_path, [(0x1E00 + 80, bytes(range(1, 17)))])
    with pytest.raises(VolumeError, match="diff area is on another volume") as caught:
        read_catalog(open_image(path), "d0")
    assert "\n" not in str(caught.value)
    assert read_catalog(open_image(_damage(tmp_path, [(0x1E00, bytes(16))])), "d0") is None  # no VSS header


def test_bitmap_runs() -> None:
    """Runs of set bits in any window of a bitmap, across the 4 KiB pieces it is read in, as a bit-by-bit walk
    finds them; a window of a 16 MiB bitmap with a run every other bit (a 2 TiB volume's worst case) is read in
    its own bytes only."""
    rng = random.Random(5)

    def walk(bits: bytes, start: int, end: int) -> list[tuple[int, int]]:
        runs: list[tuple[int, int]] = []
        for block in range(start // BLOCK, min(len(bits) * 8, -(-end // BLOCK))):
            if bits[block // 8] >> block % 8 & 1:
                lo, hi = max(start, block * BLOCK), min(end, (block + 1) * BLOCK)
                if runs and runs[-1][1] == lo:
                    runs[-1] = (runs[-1][0], hi)
                else:
                    runs.append((lo, hi))
        return runs

    for _ in range(40):
        bits = bytes(rng.choice([0, 255, rng.randrange(256)]) for _ in range(rng.choice([1, 300, 4096, 9000])))
        start = rng.randrange(len(bits) * 8 * BLOCK)
        end = rng.randrange(start, len(bits) * 8 * BLOCK + 3 * BLOCK) + 1
        assert list(set_bit_runs(bits, start, end)) == walk(bits, start, end)
    worst = b"\x55" * (16 << 20)
    window = list(set_bit_runs(worst, 1 << 40, (1 << 40) + (1 << 20)))
    assert window == [((1 << 40) + i * 2 * BLOCK, (1 << 40) + (i * 2 + 1) * BLOCK) for i in range(32)]


def test_diff_area_on_another_volume(tmp_path: Path) -> None:
    """``vssadmin add shadowstorage /for=D: /on=E:``: D's header names E as the volume of its diff area, and the
    catalog, the store and its copies lie in E. Built with mkntfs and ntfscp: D's file rewritten after the
    shadow copy was taken, the blocks that changed copied into E as the store's (copy on write). The shadow copy
    is found with both disks (E by its catalog), reads the old file from E's blocks, and without E is a warning
    and a one-line error naming the missing volume."""
    mkntfs, ntfscp = require_tool("mkntfs"), require_tool("ntfscp")
    volume, storage = tmp_path / "d.img", tmp_path / "e.img"
    for path in (volume, storage):
        with path.open("wb") as f:
            f.truncate(8 << 20)
        subprocess.run([mkntfs, "-q", "-F", "-f", "-L", path.stem, str(path)], check=True, capture_output=True)
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_bytes(b"the report as it was on Monday\n" * 2000)
    new.write_bytes(b"the report as it is on Friday!\n" * 2000)
    subprocess.run([ntfscp, "-f", str(volume), str(old), "report.txt"], check=True, capture_output=True)
    before = volume.read_bytes()
    subprocess.run([ntfscp, "-f", str(volume), str(new), "report.txt"], check=True, capture_output=True)
    after = bytearray(volume.read_bytes())
    changed = [b for b in range(len(after) // BLOCK) if before[b * BLOCK : (b + 1) * BLOCK] != after[b * BLOCK :
                                                                                                (b + 1) * BLOCK]]
    assert changed
    store_area = bytearray(storage.read_bytes())
    blocks = len(store_area) // BLOCK
    copies_at = blocks - 24 - len(changed)
    for i, block in enumerate(changed):
        store_area[(copies_at + i) * BLOCK : (copies_at + i + 1) * BLOCK] = before[block * BLOCK : (block + 1) * BLOCK]
    store = vss_images.Store([(block, 0, copies_at + i, 0, 0) for i, block in enumerate(changed)])
    vss_images.write_shadow_copies(store_area, [store], blocks - 20, volume=after)
    volume.write_bytes(after)
    storage.write_bytes(store_area)

    code, out, err = run("inspect", volume, storage, "--json")
    assert code == 0, err
    d0, d1 = json.loads(out)["volumes"]
    assert [(c["id"], c["diffAreaVolume"]) for c in d0["shadowCopies"]] == [("d0@vss1", "d1")]
    assert d1["shadowCopies"] == [] and d0["warnings"] == []
    code, out, err = run("inspect", volume, storage)
    assert code == 0 and "    └── d0@vss1  shadow copy of " in out.decode() and out.decode().splitlines()[2].endswith(
        "  diff area on d1"), out.decode()
    assert run("cat", volume, storage, "d0@vss1:/report.txt")[1] == old.read_bytes()
    assert run("cat", volume, storage, "d0:/report.txt")[1] == new.read_bytes()
    volumes = {v.id: v for v in scan([("d0", open_image(volume)), ("d1", open_image(storage))], Keys())}
    info = shadow_volume(volumes, "d0@vss1")
    assert info is not None and info.fs is not None
    sources = {e.source.name for e in info.fs.extents(info.fs.stat("/report.txt")) if e.source is not None}
    assert sources == {str(storage)}  # the old bytes come straight from E's image file

    code, out, err = run("inspect", volume, "--json")
    (alone,) = json.loads(out)["volumes"]
    assert code == 0 and alone["shadowCopies"] == []
    assert alone["warnings"] == [f"d0: the shadow copies' diff area is on another volume ({vss_images.STORAGE_ID}), "
                                 "which is not in this recovery point (at offset 0x00001e00). Give the disk that "
                                 "holds that volume too"]
    code, _out, err = run("ls", volume, "d0@vss1:/")
    assert code == 1 and err.count("\n") == 1 and "diff area is on another volume" in err
