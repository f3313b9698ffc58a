"""``restorekit inspect`` on the volume fixtures: the tree a person reads, keys, and errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from restorekit.cli import cli
from tests.fs.volume_images import LUKS1_PASSWORD, shared_image, volume_fixture


def inspect(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["inspect", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_tree_shows_disk_partition_container_volume(tmp_path: Path, readonly) -> None:  # type: ignore[no-untyped-def]
    a, b = volume_fixture("lvm-a", tmp_path), volume_fixture("lvm-b", tmp_path)
    readonly([a, b])
    code, out, _ = inspect(a, b)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"d0  raw  10.0 MiB  {a}"
    assert lines[1] == "└── d0-p1  9.0 MiB  [Linux LVM]  lvm2"
    assert lines[2].startswith("    ├── d0-p1/vgdata/lvhome  6.0 MiB  ext4 \"home\"")
    assert lines[3].startswith("    └── d0-p1/vgdata/lvlogs  2.0 MiB  fat \"LOGS\"")
    assert "└── d1-p1  8.0 MiB  [Linux LVM]  lvm2" in lines


def test_locked_and_unknown_volumes_never_hide_readable_ones(tmp_path: Path) -> None:
    paths = [volume_fixture("gpt-windows", tmp_path), shared_image("bitlocker/aes-xts_128.bin.gz", tmp_path),
             volume_fixture("spaces", tmp_path)]
    code, out, _ = inspect(*paths)
    assert code == 0
    assert "├── d0-p1  2.0 MiB  [EFI system]  fat \"SYSTEM\"" in out
    assert "OS: Windows Server 2022 Datacenter build 20348" in out
    assert "└── d1  48.7 MiB  bitlocker AES-128-XTS (locked)" in out
    assert "! d1: BitLocker volume is locked" in out
    assert "storage-spaces" in out


def test_json_has_disks_and_volumes(tmp_path: Path) -> None:
    path = volume_fixture("luks1", tmp_path)
    result = CliRunner().invoke(cli, ["inspect", str(path), "--json", "--password", LUKS1_PASSWORD])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["disks"][0]["format"] == "raw"
    (volume,) = [v for v in doc["volumes"] if v["encryption"]]
    assert volume["encryption"] == "luks1" and volume["locked"] is False


def test_wrong_key_is_an_error_naming_the_volume(tmp_path: Path) -> None:
    path = shared_image("bitlocker/recovery_password.bin.gz", tmp_path)
    code, out, err = inspect(path, "--recovery-password", "111111-222222-333333-444444-555555-666666-777777-888888")
    assert code == 1
    assert "(locked)" in out  # the listing still shows
    assert err == ("Error: d0: no usable key was given for d0 (BitLocker Windows 7 or later, protectors: recovery "
                   "password, password). The recovery password given is malformed: group 7 (777777) is too large (each "
                   "group is below 720896); pass --recovery-password or --password to read it\n")


def test_bek_unlocks(tmp_path: Path) -> None:
    path = shared_image("bitlocker/recovery_key.bin.gz", tmp_path)
    bek = shared_image("bitlocker/recovery_key.bek", tmp_path)
    code, out, _ = inspect(path, "--bek", bek)
    assert code == 0
    assert "(unlocked)" in out


def test_find_everywhere_skips_an_unreadable_volume_and_still_finds(tmp_path: Path) -> None:
    """An NTFS whose $MFT record 0 is damaged cannot be read: find over all volumes warns, carries on, and exits 1
    (the search was not complete)."""
    import struct

    from tests.conftest import fixture_file, gunzip_to

    ntfs = gunzip_to(fixture_file("images/files/ntfs.img.gz"), tmp_path)
    ext4 = gunzip_to(fixture_file("images/files/ext4.img.gz"), tmp_path)
    boot = ntfs.read_bytes()[:512]
    (bps, spc), mft_cluster = struct.unpack_from("<HB", boot, 11), struct.unpack_from("<Q", boot, 48)[0]
    with open(ntfs, "r+b") as f:
        f.seek(mft_cluster * bps * spc)
        f.write(b"BAAD")  # the $MFT record's "FILE" signature
    result = CliRunner().invoke(cli, ["find", str(ntfs), str(ext4), "**/hello.txt"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["d1:/hello.txt"]
    assert "d0: /: ntfs file system cannot be read" in result.stderr and "volume skipped" in result.stderr
    named = CliRunner().invoke(cli, ["ls", str(ntfs), "d0:/"])
    assert named.exit_code == 1
    assert named.stderr.startswith("Error: d0: /: ntfs file system cannot be read")
