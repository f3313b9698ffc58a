"""The seed corpus: the committed fixtures, the shared real-world images, and images built here with real tools
(mke2fs, mkfs.fat + mtools, mkntfs, mkfs.xfs, cryptsetup), each as a :class:`Target` the campaign mutates.

Seeds are prepared once into a cache folder: gunzipped, built, then probed unmutated with ``inspect --json``
and ``find --json`` so the fuzzer knows each target's volume ids, one file to ``cat``, and the file names whose
bytes it can make hostile.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
SHARED = ROOT.parent / "shared" / "testdata"
SCENARIOS = ROOT / "tests" / "restore" / "scenarios"
EPOCH = "1794312000"
UUID = "5a7f2b8c-0d1e-4f3a-9b6c-7d8e9f0a1b2c"  # 2026-11-10T12:00:00Z, as the fixtures use


@dataclass
class Target:
    """One recovery point to mutate: its files (input name -> seed file), which of them to mutate, the PATH
    arguments, extra options (keys), and what probing the unmutated seed found."""

    name: str
    kind: str  # "image" or "json"
    files: dict[str, Path]
    mutable: list[str]
    args: list[str]
    keys: list[str] = field(default_factory=list)  # unlock options, for every command
    plan_options: list[str] = field(default_factory=list)  # for plan only (--target-vm, --storage-account)
    volumes: list[str] = field(default_factory=list)
    sample: str | None = None
    names: list[str] = field(default_factory=list)


def _gunzip(src: Path, dest: Path) -> Path:
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        tmp.rename(dest)
    return dest


def _untar(archive: Path, member: str, dest: Path) -> Path:
    """One member of a (compressed) tar archive, extracted into the cache (holes stay holes)."""
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            info = tar.getmember(member)
            info.name = dest.name + ".part"
            tar.extract(info, dest.parent, filter="data")
        (dest.parent / info.name).rename(dest)
    return dest


def _seed(cache: Path, relative: str) -> Path:
    """A fixture (``fixtures/...``) or shared (``shared:...``) file, decompressed into the cache; ``archive!member``
    names one file of a tar archive."""
    if "!" in relative:
        archive, member = relative.split("!", 1)
        return _untar(SHARED / archive.removeprefix("shared:"), member,
                      cache / archive.replace(":", "/") / member)
    src = SHARED / relative.removeprefix("shared:") if relative.startswith("shared:") else FIXTURES / relative
    if src.suffix == ".gz":
        return _gunzip(src, cache / relative.replace(":", "/").removesuffix(".gz"))
    return src


def _run(cmd: list[str], **kwargs: object) -> bool:
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=120, **kwargs)  # type: ignore[call-overload]
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _tree(root: Path) -> None:
    """A small source tree with what file systems make hard: deep and wide folders, long and unicode names,
    symlinks (one climbing out), an empty file, a sparse-ish file."""
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "b" / "c" / "deep.txt").write_text("deep\n")
    (root / "wide").mkdir()
    for i in range(40):
        (root / "wide" / f"file-{i:02d}.txt").write_text(f"{i}\n" * (i + 1))
    (root / ("L" * 200 + ".txt")).write_text("long name\n")
    (root / "ünïcödé €.txt").write_text("unicode\n")
    (root / "empty").write_bytes(b"")
    (root / "big.bin").write_bytes(bytes(range(256)) * 300)
    (root / "up").symlink_to("../../../../etc/passwd")
    (root / "inside").symlink_to("a/b/c/deep.txt")


def _raid5(cache: Path) -> dict[str, Path] | None:
    """Three md RAID5 members (superblock 1.2, left-symmetric) holding the built ext4 seed: parity, rebuilds and
    the member table are fuzzed with every member given."""
    ext4 = _built(cache).get("ext4.img")
    if ext4 is None:
        return None
    from fixtures.build_raid import MdArray, build_md_array

    out = cache / "built" / "raid5"
    if not (out / "member2.img").exists():
        out.mkdir(parents=True, exist_ok=True)
        build_md_array(out, ext4.read_bytes(), MdArray(level=5, raid_disks=3, layout=2))
    return {f"member{role}.img": out / f"member{role}.img" for role in range(3)}


def _built(cache: Path) -> dict[str, Path]:
    """Images made here by real tools; a missing tool leaves its seed out (``.ci/run`` installs them)."""
    out = cache / "built"
    out.mkdir(parents=True, exist_ok=True)
    tree = out / "tree"
    if not tree.exists():
        _tree(tree)
    # TEST_DIR etc.: mkfs.xfs's own QA escape that lets it make a file system under 300 MB
    env = {"E2FSPROGS_FAKE_TIME": EPOCH, "SOURCE_DATE_EPOCH": EPOCH, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "TEST_DIR": "1", "TEST_DEV": "1", "QA_CHECK_FS": "1", "PYTHONPATH": str(ROOT)}
    recipes: dict[str, tuple[int, list[list[str]]]] = {
        "ext4.img": (4, [["mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", "-L", "fz", "-U",
                          UUID, "-E", f"hash_seed={UUID}",
                          "-d", str(tree), "{img}"]]),
        "fat16.img": (16, [["mkfs.fat", "-F", "16", "--invariant", "-n", "FZ", "{img}"],
                          ["mcopy", "-s", "-i", "{img}", str(tree / "a"), str(tree / "wide"), str(tree / "empty"),
                           str(tree / "ünïcödé €.txt"), "::/"]]),
        "ntfs.img": (2, [["mkntfs", "-q", "-F", "-f", "-T", "-L", "fz", "-s", "512", "-c", "512", "{img}"]]),
        # two shadow copies (VSS catalog, block lists, an overlay) written into the free end of an NTFS volume
        "ntfs-vss.img": (8, [["mkntfs", "-q", "-F", "-f", "-T", "-L", "fz", "-s", "512", "-c", "512", "{img}"],
                             [sys.executable, "-m", "tests.fs.vss_images", "{img}"]]),
        "xfs.img": (16, [["mkfs.xfs", "-q", "-f", "-p", str(out / "proto"), "{img}"]]),
        "luks2.img": (20, [["cryptsetup", "luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2",
                            "--pbkdf-force-iterations", "1000", "--key-file", str(out / "key"), "{img}"]]),
        "luks1.img": (4, [["cryptsetup", "luksFormat", "-q", "--type", "luks1", "--pbkdf-force-iterations", "1000",
                           "--key-file", str(out / "key"), "{img}"]]),
    }
    (out / "key").write_text("fuzz-pass")
    (out / "proto").write_text(f"/dev/null\n0 0\nd--755 0 0\nhello ---644 0 0 {tree / 'big.bin'}\n"
                               f"sub d--755 0 0\ndeep ---644 0 0 {tree / 'a/b/c/deep.txt'}\n$\n$\n")
    built: dict[str, Path] = {}
    for name, (mib, steps) in recipes.items():
        img = out / name
        if not img.exists():
            part = out / f"{name}.part"
            with open(part, "wb") as f:
                f.truncate(mib << 20)
            if not all(_run([arg.replace("{img}", str(part)) for arg in step], env=env) for step in steps):
                part.unlink()
                tools = ", ".join(f"{step[0]} ({PACKAGES.get(step[0], 'restorekit tests')})" for step in steps)
                print(f"fuzz seed {name} not built: {tools} failed or missing", file=sys.stderr)
                continue
            _run(["fallocate", "--dig-holes", str(part)])  # zeros as holes: runs copy only the data
            part.rename(img)
        built[name] = img
    return built


PACKAGES = {"mke2fs": "e2fsprogs", "mkfs.fat": "dosfstools", "mcopy": "mtools", "mkntfs": "ntfs-3g",
            "mkfs.xfs": "xfsprogs", "cryptsetup": "cryptsetup-bin"}  # the Debian packages of the seed tools
IMAGES = {  # target name: (files, unlock options); the first file is the PATH argument, or all (MULTI_DISK)
    "base-raw": (["images/base.raw.gz"], []),
    "base-dynamic-vhd": (["images/base-dynamic.vhd.gz"], []),
    "base-fixed-vhd": (["images/base-fixed.vhd.gz"], []),
    "base-dynamic-vhdx": (["images/base-dynamic.vhdx.gz"], []),
    "base-fixed-vhdx": (["images/base-fixed.vhdx.gz"], []),
    "chain-vhd": (["images/chain-vhd/child2.vhd.gz", "images/chain-vhd/child1.vhd.gz",
                   "images/chain-vhd/base.vhd.gz"], []),
    "chain-vhdx": (["images/vhdx/chain-vhdx/child2.avhdx.gz", "images/vhdx/chain-vhdx/child1.avhdx.gz",
                    "images/vhdx/chain-vhdx/base.vhdx.gz"], []),
    "vhdx-log": (["images/vhdx/log/pending-log.vhdx.gz"], []),
    "ext4": (["images/files/ext4.img.gz"], []),
    "ntfs": (["images/files/ntfs.img.gz"], []),
    "ntfs-vdl": (["images/files/ntfs-vdl.img.gz"], []),
    "fat12": (["images/files/fat12.img.gz"], []),
    "fat32": (["images/files/fat32.img.gz"], []),
    "xfs": (["images/files/xfs.img.gz"], []),
    "gpt-windows": (["images/volumes/gpt-windows.img.gz"], []),
    "mbr-logical": (["images/volumes/mbr-logical.img.gz"], []),
    "lvm": (["images/volumes/lvm-a.img.gz", "images/volumes/lvm-b.img.gz"], []),
    "md": (["images/volumes/md-a.img.gz", "images/volumes/md-b.img.gz"], []),
    "luks1": (["images/volumes/luks1.img.gz"], ["--password", "luks1-pass"]),
    "luks2": (["images/volumes/luks2-pbkdf2.img.gz"], ["--password", "luks2-pass"]),
    "ldm": (["images/volumes/ldm.img.gz"], []),
    # Real dynamic disks: an MBR disk with a simple volume (2003 R2), and a GPT mirror leg that reads alone (2008 R2).
    "ldm-mbr-simple": (["shared:ldm/ldm-data.tar.xz!ldm-2003r2-simple-1.img"], []),
    "ldm-gpt-mirror": (["shared:ldm/ldm-data.tar.xz!ldm-2008r2-mirrored-2.img"], []),
    "spaces": (["images/volumes/spaces.img.gz"], []),
    "dfvfs-ext2-vhd": (["shared:dfvfs/ext2.vhd"], []),
    "dfvfs-differential": (["shared:dfvfs/image-differential.vhd", "shared:dfvfs/image.vhd"], []),
    # No keys for these two: BitLocker's key derivation takes 3 s a run and this LUKS2 argon2 slot 10 s and
    # 800 MiB; their metadata parsers are what is fuzzed here (the pbkdf2 LUKS seeds unlock).
    "bitlocker": (["shared:bitlocker/aes-xts_128.bin.gz"], []),
    "luks2-argon2": (["shared:luks/aes-xts-plain64.bin.gz"], []),
    "tsk-vhd": (["shared:peers/sleuthkit/data/image.vhd"], []),
}
#: Targets whose files are disks of one recovery point (pool members): each is a PATH argument.
MULTI_DISK = {"lvm", "md"}
BUILT_KEYS = {"luks2.img": ["--password", "fuzz-pass"], "luks1.img": ["--password", "fuzz-pass"]}


DEMO = {"recoverypoint.json": FIXTURES / "demo" / "recoverypoint.json",
        "disks/os.vhd": FIXTURES / "demo" / "disks" / "os.vhd",
        "disks/data0.vhdx": FIXTURES / "demo" / "disks" / "data0.vhdx"}


def _form1(cache: Path) -> dict[str, Path]:
    config = next((FIXTURES / "demo-form1").glob("config-*.json"))
    files = {config.name: config}
    for image in sorted((FIXTURES / "images" / "demo-form1").glob("*.vhd.gz")):
        files[image.name.removesuffix(".gz")] = _seed(cache, str(image.relative_to(FIXTURES)))
    return files


def _json_targets(cache: Path) -> list[Target]:
    demo, form1 = DEMO, _form1(cache)
    config = next(name for name in form1 if name.endswith(".json"))
    return [
        Target("recoverypoint-json", "json", demo, ["recoverypoint.json"], ["in"]),
        Target("config-json", "json", form1, [config], ["in"]),
        Target("target-vm-json", "json", {**demo, "target-vm.json": FIXTURES / "demo" / "target-vm.json"},
               ["target-vm.json"], ["in"],
               plan_options=["--option", "replace-disks", "--target-vm", "in/target-vm.json"]),
        Target("storage-account-json", "json",
               {**demo, "storage-account.json": SCENARIOS / "storage-account-show.json"}, ["storage-account.json"],
               ["in"], plan_options=["--storage-account", "in/storage-account.json"]),
    ]


def _sparse_copy(src: Path, dest: Path) -> None:
    """Copy only the data extents (SEEK_DATA/SEEK_HOLE): the 300 MiB XFS seed holds a few MiB."""
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        at = 0
        while at < size:
            try:
                at = os.lseek(fin.fileno(), at, os.SEEK_DATA)
            except OSError:  # no data past here
                break
            end = os.lseek(fin.fileno(), at, os.SEEK_HOLE)
            fin.seek(at)
            fout.seek(at)
            while at < end:
                chunk = fin.read(min(end - at, 1 << 20))
                fout.write(chunk)
                at += len(chunk)
        fout.truncate(size)


def materialize(target: Target, folder: Path) -> None:
    """Copies of the target's seed files under ``folder`` (the ``in/`` of a run)."""
    for name, seed in target.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        _sparse_copy(seed, folder / name)


def _probe(target: Target, work: Path) -> None:
    """Volume ids, a file to cat and the file names, from the unmutated seed."""
    shutil.rmtree(work / "in", ignore_errors=True)
    materialize(target, work / "in")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "restorekit", *argv, *target.args, *tail, *target.keys],
                              capture_output=True, text=True, timeout=120, check=False, cwd=work)

    tail = ["--json"]
    inspect = run("inspect")
    if inspect.returncode == 0:
        volumes = json.loads(inspect.stdout)["volumes"]
        target.volumes = [v["id"] for v in volumes if v.get("fileAccess")]
        target.volumes += [c["id"] for v in volumes for c in v.get("shadowCopies") or []]  # VOLUME@vssN
    tail = ["**", "--json"]
    found = run("find")
    entries = json.loads(found.stdout) if found.stdout.startswith("[") else []
    files = [e for e in entries if e.get("type") == "file"]
    if files:
        target.sample = f"{files[0]['volume']}:{files[0]['path']}"
    target.names = sorted({e["path"].rsplit("/", 1)[-1] for e in entries if e.get("path")}, key=len)[-40:]


def _fingerprint() -> str:
    """Changes when a seed source or this module changes, so a stale cache is rebuilt."""
    sources = sorted({*FIXTURES.rglob("*.gz"), *FIXTURES.glob("demo*/**/*.json"), *SHARED.rglob("*"),
                      Path(__file__)})
    stats = [f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sources if p.is_file()]
    return hashlib.sha256("\n".join(stats).encode()).hexdigest()


def load(cache: Path) -> list[Target]:
    """Every target, probed; the probe results are cached in ``cache/targets.json`` until a source changes."""
    cache.mkdir(parents=True, exist_ok=True)
    index = cache / "targets.json"
    fingerprint = _fingerprint()
    if index.exists() and (saved := json.loads(index.read_text()))["fingerprint"] == fingerprint:
        return [Target(**{**t, "files": {k: Path(v) for k, v in t["files"].items()}}) for t in saved["targets"]]
    targets: list[Target] = []
    for name, (files, keys) in IMAGES.items():
        if any(f.startswith("shared:") for f in files) and not SHARED.exists():
            continue
        seeds = {Path(f).name.removesuffix(".gz"): _seed(cache, f) for f in files}
        args = [f"in/{n}" for n in seeds] if name in MULTI_DISK else [f"in/{next(iter(seeds))}"]
        targets.append(Target(name, "image", seeds, list(seeds), args, keys))
    if (members := _raid5(cache)) is not None:
        targets.append(Target("built-raid5", "image", members, list(members), [f"in/{n}" for n in members], []))
    for name, path in _built(cache).items():
        targets.append(Target(f"built-{name.removesuffix('.img')}", "image", {name: path}, [name], [f"in/{name}"],
                              BUILT_KEYS.get(name, [])))
    targets += _json_targets(cache)
    for target in targets:
        _probe(target, cache)
    shutil.rmtree(cache / "in", ignore_errors=True)
    saved = {"fingerprint": fingerprint,
             "targets": [{**t.__dict__, "files": {k: str(v) for k, v in t.files.items()}} for t in targets]}
    index.with_suffix(".part").write_text(json.dumps(saved, indent=1))
    index.with_suffix(".part").rename(index)
    return targets
