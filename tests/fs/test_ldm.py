"""LDM dynamic disks on the 19 Windows Server 2003 R2 / 2008 R2 disks of ``../shared/testdata/ldm`` (libldm's test
data: every volume holds NTFS with ``test.txt`` = ``Filesystem test``), degraded arrays, and damaged databases.

The striped and RAID-5 volumes are compared with a second reader, dissect.volume's RAID streams, fed the columns'
places on the disks; a RAID-5 volume rebuilt with any one disk left out must equal the whole one byte for byte,
and so must each leg of a mirror.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import tarfile
from typing import TYPE_CHECKING

import pytest
from dissect.volume.raid import raid as dissect_raid

from restorekit.fs.containers.ldm_db import VBLK, parse_vblks
from restorekit.fs.errors import VolumeError
from restorekit.fs.stream import ExtentKind
from tests.conftest import shared
from tests.fs.volume_images import scan_files
from tests.test_files import run as run_process

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.fs.scan import VolumeInfo
    from restorekit.fs.stream import Stream

CONTENT = b"Filesystem test"
#: Each layout: its disks (images ``ldm-<name>.img``, in this order) and the volumes on them, with their labels.
LAYOUTS = {
    "2003r2-simple": (["2003r2-simple-1"], {"d0-p1/ldm/Volume1": ("simple", "Simple")}),
    "2003r2-spanned": (["2003r2-spanned-1", "2003r2-spanned-2"], {"d1-p1/ldm/Volume2": ("spanned", "Spanned")}),
    "2003r2-striped": (["2003r2-striped-1", "2003r2-striped-2"], {"d0-p1/ldm/Stripe1": ("striped", "Striped"),
                                                                  "d0-p1/ldm/Volume4": ("spanned", "Spanned2")}),
    "2003r2-mirrored": (["2003r2-mirrored-1", "2003r2-mirrored-2"],
                        {"d0-p1/ldm/Volume3": ("mirrored", "Mirrored")}),
    "2003r2-raid5": (["2003r2-raid5-1", "2003r2-raid5-2", "2003r2-raid5-3"], {"d2-p1/ldm/Raid1": ("raid5", "Raid5")}),
    "2008r2-spanned": (["2008r2-spanned-1", "2008r2-spanned-2"], {"d0-p1/ldm/Volume1": ("spanned", "Spanned")}),
    "2008r2-striped": (["2008r2-striped-1", "2008r2-striped-2"], {"d0-p1/ldm/Volume2": ("striped", "Striped")}),
    "2008r2-mirrored": (["2008r2-mirrored-1", "2008r2-mirrored-2"],
                        {"d0-p1/ldm/Volume3": ("mirrored", "Mirrored")}),
    "2008r2-raid5": (["2008r2-raid5-1", "2008r2-raid5-2", "2008r2-raid5-3"], {"d0-p1/ldm/Volume4": ("raid5", "Raid5")}),
    # The 2008 R2 group's fifth volume spans a disk of three of the sets above.
    "2008r2-spanned2": (["2008r2-raid5-1", "2008r2-striped-1", "2008r2-mirrored-1"],
                        {"d0-p1/ldm/Volume5": ("spanned", "Spanned2")}),
}


@pytest.fixture(scope="session")
def ldm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 19 disks, unpacked (sparse) once per session."""
    out = tmp_path_factory.mktemp("ldm")
    with tarfile.open(shared("ldm/ldm-data.tar.xz"), "r:xz") as tar:
        tar.extractall(out, filter="data")
    return out


def disks(ldm_dir: Path, names: list[str]) -> list[Path]:
    return [ldm_dir / f"ldm-{name}.img" for name in names]


def run(*args: str | Path) -> tuple[int, str, str]:
    """The CLI in a process with real pipes (``cat`` writes to the stdout descriptor)."""
    code, out, err = run_process(*map(str, args))
    return code, out.decode(), err


def digest(stream: Stream) -> str:
    h = hashlib.sha256()
    for pos in range(0, stream.size, 4 << 20):
        h.update(stream.pread(min(4 << 20, stream.size - pos), pos))
    return h.hexdigest()


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_volume_lists_and_extracts_test_txt(layout: str, ldm_dir: Path, tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    names, expected = LAYOUTS[layout]
    paths = disks(ldm_dir, names)
    readonly(paths)
    volumes, _ = scan_files(paths)
    for vid, (kind, label) in expected.items():
        info = volumes[vid]
        assert (info.layout or {}).get("type") == kind and info.label == label, (vid, info.warnings)
        assert info.filesystem == "ntfs" and info.file_access(), info.warnings
        assert all(d["volume"] for d in info.layout["disks"])  # type: ignore[index]
        code, out, err = run("ls", *paths, f"{vid}:/")
        assert code == 0 and "test.txt" in out.splitlines(), err
        code, out, err = run("cat", *paths, f"{vid}:/test.txt")
        assert (code, out, err) == (0, CONTENT.decode(), "")
        target = tmp_path / vid.replace("/", "_")
        code, _, err = run("extract", *paths, f"{vid}:/test.txt", "-o", target, "--verify")
        assert code == 0, err
        assert (target / "test.txt").read_bytes() == CONTENT


def test_all_nineteen_disks_give_eleven_volumes(ldm_dir: Path) -> None:
    paths = sorted(ldm_dir.glob("ldm-*.img"))
    volumes, _ = scan_files(paths)
    pooled = {vid.split("/ldm/")[1] + "@" + (v.pool_name or ""): v for vid, v in volumes.items() if "/ldm/" in vid}
    assert len(pooled) == 11 and all(v.file_access() for v in pooled.values())
    assert {v.label for v in pooled.values()} == {"Simple", "Spanned", "Striped", "Spanned2", "Mirrored", "Raid5"}
    assert all(not v.warnings for v in volumes.values() if v.container == "ldm"), "a whole group reads cleanly"


def test_inspect_shows_type_disks_and_missing_disks_by_name(ldm_dir: Path) -> None:
    a, _b = disks(ldm_dir, ["2003r2-spanned-1", "2003r2-spanned-2"])
    code, out, _ = run("inspect", a)
    assert code == 0
    assert "d0-p1/ldm/Volume2  94.0 MiB  spanned over Disk3 (missing), Disk2 (d0-p1)" in out
    assert "ldm/Volume2: cannot be read: Disk3 is missing; add the disk(s) that hold it" in out
    code, out, _ = run("inspect", a, "--json")
    (vol,) = [v for v in json.loads(out)["volumes"] if v["id"] == "d0-p1/ldm/Volume2"]
    assert vol["layout"]["type"] == "spanned" and vol["fileAccess"] is False
    assert [(d["name"], d["volume"]) for d in vol["layout"]["disks"]] == [("Disk3", None), ("Disk2", "d0-p1")]
    assert vol["layout"]["disks"][0]["guid"] == "004c32fa-91e1-41ac-83b3-bc1baff2dc93"


def test_spanned_volume_with_a_disk_missing_is_one_clear_error(ldm_dir: Path) -> None:
    (a,) = disks(ldm_dir, ["2008r2-spanned-1"])
    code, out, err = run("ls", a, "d0-p1/ldm/Volume1:/")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Disk2 is missing" in err, err


def named(paths: list[Path], name: str) -> VolumeInfo:
    """The volume ``ldm/<name>`` found on ``paths`` (under whichever member holds its first bytes)."""
    volumes, _ = scan_files(paths)
    (vol,) = [v for vid, v in volumes.items() if vid.endswith(f"/ldm/{name}")]
    return vol


def whole_and_digest(ldm_dir: Path, layout: str) -> tuple[list[Path], str, str]:
    """The layout's disks, its volume's name and the SHA-256 of the volume read with every disk present."""
    names, expected = LAYOUTS[layout]
    paths = disks(ldm_dir, names)
    (vid,) = expected
    whole = scan_files(paths)[0][vid]
    assert whole.stream is not None
    return paths, vid.rsplit("/", 1)[1], digest(whole.stream)


def test_striped_volume_with_a_disk_missing_names_it(ldm_dir: Path) -> None:
    vol = named(disks(ldm_dir, ["2008r2-striped-2"]), "Volume2")
    assert vol.stream is None and "Disk3 is missing; a striped volume needs every disk" in vol.warnings[0]


@pytest.mark.parametrize("release", ["2003r2", "2008r2"])
def test_raid5_reads_with_any_one_disk_left_out(release: str, ldm_dir: Path) -> None:
    paths, name, reference = whole_and_digest(ldm_dir, f"{release}-raid5")
    for left_out in range(3):
        vol = named([p for i, p in enumerate(paths) if i != left_out], name)
        assert vol.stream is not None and vol.file_access(), vol.warnings
        assert any("rebuilds the missing member from parity" in w for w in vol.warnings)
        assert digest(vol.stream) == reference, f"rebuilt without {paths[left_out].name}"
    vol = named(paths[:1], name)
    assert vol.stream is None and "RAID-5 reads with one disk missing at most" in vol.warnings[0]


@pytest.mark.parametrize("release", ["2003r2", "2008r2"])
def test_mirror_reads_from_either_leg_alone(release: str, ldm_dir: Path) -> None:
    paths, name, reference = whole_and_digest(ldm_dir, f"{release}-mirrored")
    for leg in paths:
        vol = named([leg], name)
        assert vol.stream is not None and vol.file_access() and digest(vol.stream) == reference
        assert "mirror reads from its remaining leg" in vol.warnings[0]
        code, out, _ = run("cat", leg, f"{vol.id}:/test.txt")
        assert (code, out) == (0, CONTENT.decode())


def _columns(stream: Stream, opened: list[tuple[str, Stream]], paths: list[Path]) -> list[tuple[Path, int, int]]:
    """(image, byte offset, size) of each column of a striped or RAID-5 volume, as our database reader found them."""
    members = getattr(stream, "members", None)
    assert members, "the array keeps its columns"
    images = {id(image): path for (_, image), path in zip(opened, paths, strict=True)}
    return [(images[id(column.base)], column.offset, column.size) for column in members]


@pytest.mark.parametrize("layout", ["2003r2-striped", "2008r2-striped", "2003r2-raid5", "2008r2-raid5"])
def test_striped_and_raid5_match_dissect_volume(layout: str, ldm_dir: Path) -> None:
    """dissect.volume's RAID0 and RAID5 (left-symmetric) streams over the same columns give the same bytes."""
    names, expected = LAYOUTS[layout]
    paths = disks(ldm_dir, names)
    vid = next(v for v, (kind, _) in expected.items() if kind in ("striped", "raid5"))
    volumes, opened = scan_files(paths)
    ours = volumes[vid]
    assert ours.stream is not None and ours.layout is not None
    columns = _columns(ours.stream, opened, paths)
    files = [open(path, "rb") for path, _, _ in columns]  # noqa: SIM115 (closed below)
    try:
        disk_map = {i: (0, dissect_raid.PhysicalDisk(fh, offset, size))
                    for i, (fh, (_, offset, size)) in enumerate(zip(files, columns, strict=True))}
        level, layout_id = (5, 2) if ours.layout["type"] == "raid5" else (0, 0)
        theirs = dissect_raid.VirtualDisk("v", "u", ours.size, level, layout_id, ours.layout["chunk"], len(columns),
                                  disk_map).open()
        chunk = ours.layout["chunk"]
        for pos in range(0, ours.size, 4 << 20):
            length = min(4 << 20, ours.size - pos)
            theirs.seek(pos)
            # dissect's RAID456 read returns too much when one read spans chunks: ask it a chunk at a time.
            expected = b"".join(theirs.read(chunk) for _ in range(0, length, chunk))
            assert ours.stream.pread(length, pos) == expected, f"{vid} differs at {pos}"
    finally:
        for fh in files:
            fh.close()


def test_copies_map_to_the_disk_files(ldm_dir: Path) -> None:
    """Spanned and striped volumes keep the extent contract: every data run is a run of an image file."""
    paths = disks(ldm_dir, ["2003r2-striped-1", "2003r2-striped-2"])
    volumes, _ = scan_files(paths)
    for vid in ("d0-p1/ldm/Stripe1", "d0-p1/ldm/Volume4"):
        stream = volumes[vid].stream
        assert stream is not None
        runs = list(stream.extents())
        assert sum(r.length for r in runs) == stream.size
        data = [r for r in runs if r.kind is ExtentKind.DATA]
        assert data and all(r.source is not None and r.source.fileno() is not None for r in data)


def test_a_damaged_database_copy_gives_way_to_another_disk(ldm_dir: Path, tmp_path: Path) -> None:
    a, b = disks(ldm_dir, ["2003r2-spanned-1", "2003r2-spanned-2"])
    damaged = tmp_path / a.name
    shutil.copyfile(a, damaged)
    raw = bytearray(damaged.read_bytes())
    vmdb = raw.find(b"VMDB", 0x6000)
    first = vmdb + 512
    struct.pack_into(">H", raw, first + 12 + 4 * 128, 7)  # a record's fragment number past its count
    # make it the newest copy, so it is read first
    struct.pack_into(">Q", raw, vmdb + 0x75, struct.unpack_from(">Q", raw, vmdb + 0x75)[0] + 1)
    damaged.write_bytes(raw)
    volumes, _ = scan_files([damaged, b])
    vol = volumes["d1-p1/ldm/Volume2"]
    assert vol.file_access()
    group = volumes["d0-p1"].warnings
    assert any("LDM VBLK at byte" in w and "fragment 7" in w for w in group), group


# -- the VBLK parser on synthesized slots ----------------------------------------------------------------------


def slot(record: int, entry: int, total: int, data: bytes, size: int = 128) -> bytes:
    head = VBLK + struct.pack(">IIHH", 0, record, entry, total)
    return (head + data).ljust(size, b"\0")[:size]


def disk_record(oid: int, name: str, guid: bytes, length: int | None = None) -> bytes:
    fields = bytes([1, oid, len(name)]) + name.encode() + guid
    return struct.pack(">HBBI", 0, 0, 0x44, len(fields) if length is None else length) + fields


def test_vblk_records_split_over_fragments_are_joined() -> None:
    record = disk_record(3, "Disk1", bytes(range(16)), length=150).ljust(8 + 150, b"\0")
    raw = slot(7, 1, 2, record[112:]) + slot(0, 0, 0, b"") + slot(7, 0, 2, record[:112])
    db = parse_vblks(raw, 128, "d0")
    assert db.disks[3].name == "Disk1" and db.disks[3].guid == "00010203-0405-0607-0809-0a0b0c0d0e0f"


def test_damaged_names_stay_on_one_line() -> None:
    db = parse_vblks(slot(7, 0, 1, disk_record(3, "Dis\nk/1", bytes(16))), 128, "d0")
    assert db.disks[3].name == "Dis?k/1"


@pytest.mark.parametrize(("raw", "message"), [
    (slot(7, 0, 2, disk_record(3, "Disk1", bytes(16))) + slot(7, 0, 2, b""), "has fragment 0 twice"),
    (slot(7, 2, 2, b""), "is fragment 2 of record 7, which has 2 fragments"),
    (slot(7, 0, 2, b"") + slot(7, 1, 3, b""), "fragments disagree on how many there are"),
    (slot(7, 0, 3, disk_record(3, "Disk1", bytes(16))) + slot(7, 2, 3, b""), "lacks 1 of its 3 fragments (1)"),
    (slot(7, 0, 1, disk_record(3, "Disk1", bytes(16), length=500)), "declares 500 bytes but its fragments hold 104"),
    (slot(7, 0, 1, disk_record(3, "Disk1", bytes(16), length=12)), "disk record ends after 12 bytes"),
    (slot(7, 0, 1, struct.pack(">HBBI", 0, 0, 0x44, 4) + bytes([9]) + bytes(3)), "has a 9-byte number"),
    (slot(7, 0, 1, disk_record(3, "Disk1", bytes(16))) + slot(8, 0, 1, disk_record(3, "Disk2", bytes(16))),
     "object id 3 is used twice (Disk2 and Disk1)"),
])
def test_damaged_vblks_are_one_line_errors(raw: bytes, message: str) -> None:
    with pytest.raises(VolumeError, match="LDM") as caught:
        parse_vblks(raw, 128, "d0", 4096)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("d0: ")


# -- evidence for the planner ---------------------------------------------------------------------------------


def test_plan_says_restorekit_can_recover_striped_and_dynamic_volumes(ldm_dir: Path) -> None:
    paths = disks(ldm_dir, ["2003r2-striped-1", "2003r2-striped-2", "2003r2-raid5-1", "2003r2-raid5-2"])
    code, out, _ = run("plan", *paths, "--option", "files", "--json")
    assert code == 3  # Azure's own file recovery is blocked by dynamic disks (R91)
    (files,) = json.loads(out)["options"]
    assert files["verdict"] == "blocked" and any(f["rule"] == "R91" for f in files["findings"])
    ours = files["restorekit"]
    assert ours["canRecover"] is True
    assert ours["readableVolumes"] == ["d0-p1/ldm/Stripe1", "d3-p1/ldm/Raid1", "d0-p1/ldm/Volume4"]
    assert "read without a disk, from the redundancy left: d3-p1/ldm/Raid1 (raid5: missing Disk10)" in ours["note"]
    assert "cannot assemble d0-p1/ldm/Volume1 (simple: missing Disk1)" in ours["note"]
    code, out, _ = run("plan", *paths, "--option", "files")
    assert "restorekit: can recover (d0-p1/ldm/Stripe1, d3-p1/ldm/Raid1, d0-p1/ldm/Volume4)" in out


def test_used_bytes_unknown_while_a_pool_volume_misses_disks() -> None:
    from restorekit.evidence import Evidence

    member = {"id": "d0-p1", "container": "ldm", "pool": "g"}
    ntfs = {"id": "d0-p1/ldm/Volume1", "parent": "d0-p1", "pool": "g", "filesystem": "ntfs", "used": 10,
            "layout": {"type": "simple", "disks": [{"name": "Disk1", "volume": "d0-p1"}]}}
    lost = {"id": "d0-p1/ldm/Volume2", "parent": "d0-p1", "pool": "g", "filesystem": None,
            "layout": {"type": "spanned", "disks": [{"name": "Disk1", "volume": "d0-p1"}, {"name": "Disk2"}]}}
    assert Evidence(scanned=True, volumes=[member, ntfs]).used_bytes() == 10
    evidence = Evidence(scanned=True, volumes=[member, ntfs, lost])
    assert evidence.incomplete() == [lost] and evidence.used_bytes() is None


def test_volume_ids_stay_unique_and_safe_when_names_are_damaged(ldm_dir: Path, tmp_path: Path) -> None:
    (simple,) = disks(ldm_dir, ["2003r2-simple-1"])
    raw = bytearray(simple.read_bytes())
    vmdb = raw.find(b"VMDB", 0x6000)
    for old, new in ((b"\x07Volume1", b"\x07Vol:/e1"), (b"\x07Volume2", b"\x07Volume4")):
        at = raw.find(old, vmdb)
        raw[at : at + len(new)] = new
    damaged = tmp_path / simple.name
    damaged.write_bytes(raw)
    volumes, _ = scan_files([damaged])
    ldm = sorted(vid for vid in volumes if "/ldm/" in vid)
    assert "d0-p1/ldm/Vol__e1" in ldm and "d0-p1/ldm/Volume4" in ldm
    assert any(vid.startswith("d0-p1/ldm/Volume4-") for vid in ldm)  # the second "Volume4", told apart by its id
    assert volumes["d0-p1/ldm/Vol__e1"].label == "Simple"


def test_a_disk_cut_before_its_database_still_names_its_group(ldm_dir: Path, tmp_path: Path) -> None:
    (simple,) = disks(ldm_dir, ["2003r2-simple-1"])
    cut = tmp_path / simple.name
    with open(simple, "rb") as src, open(cut, "wb") as out:
        out.write(src.read(40 << 20))
    volumes, _ = scan_files([cut])
    member = volumes["d0-p1"]
    assert member.pool_name == "Red-nzv8x6obywgDg0"
    assert "the LDM database (1048576 bytes at 51380224) lies past the end of the disk (41943040 bytes)" in \
        "; ".join(member.warnings)
    code, out, err = run("ls", cut, "d0-p1/ldm/Volume1:/")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and "d0-p1/ldm/Volume1" in err


def test_a_disk_image_cut_inside_a_partition_is_named(ldm_dir: Path, tmp_path: Path) -> None:
    """The second disk of the pair keeps the database; the first is cut 30 MB in, inside the volume's first part."""
    first, second = disks(ldm_dir, ["2003r2-spanned-2", "2003r2-spanned-1"])
    cut = tmp_path / first.name
    with open(first, "rb") as src, open(cut, "wb") as out:
        out.write(src.read(30_000_000))
    volumes, _ = scan_files([cut, second])
    vol = volumes["d0-p1/ldm/Volume2"]
    assert vol.stream is not None and not vol.file_access()
    assert "ldm/Volume2: Disk3's image ends 19315328 bytes before the end of its partition Disk3-01" in vol.warnings[0]


@pytest.mark.parametrize(("name", "sector", "offset", "value", "vid"), [
    ("2003r2-simple-1", 6, 0, b"XXXXXXXX", "d0-p1/ldm/Volume1"),  # MBR: the copy at the disk's end is found
    ("2008r2-mirrored-2", 2081, 0x0C, b"\x00\x07", "d0-p3/ldm/Volume3"),  # GPT: the copy 1856 sectors in is read
], ids=["mbr-magic-wiped", "gpt-unknown-version"])
def test_a_damaged_privhead_gives_way_to_its_copies(name: str, sector: int, offset: int, value: bytes, vid: str,
                                                    ldm_dir: Path, tmp_path: Path) -> None:
    (disk,) = disks(ldm_dir, [name])
    raw = bytearray(disk.read_bytes())
    assert raw[sector * 512 : sector * 512 + 8] == b"PRIVHEAD"
    raw[sector * 512 + offset : sector * 512 + offset + len(value)] = value
    damaged = tmp_path / disk.name
    damaged.write_bytes(raw)
    volumes, _ = scan_files([damaged])
    assert volumes[vid].file_access(), volumes[vid].warnings
