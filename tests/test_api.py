"""The Python API (``restorekit.open`` → ``Session``) gives what the commands give, on the demo, the file fixtures,
the LUKS fixtures and a disk in Azure Storage (Azurite): the same volumes and entries, the same bytes through a
seekable file, the same extraction report and exit status, and one unlock per session."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

import restorekit
from restorekit.cli import cli
from restorekit.fs.errors import EntryNotFoundError, FilesystemError, OutputError, RestoreKitError, UnlockError
from restorekit.request import RestoreRequest
from tests.conftest import FIXTURES, fixture_file, gunzip_to
from tests.fs.volume_images import LUKS1_PASSWORD, LUKS2_PASSWORD, volume_fixture

if TYPE_CHECKING:
    from pathlib import Path

DEMO = str(FIXTURES / "demo")


def cli_json(*args: str) -> object:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_public_names_and_cheap_import() -> None:
    assert restorekit.open is restorekit.api.open and restorekit.Session is restorekit.api.Session
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        restorekit.nope  # noqa: B018
    # `import restorekit` (every command starts with it) does not load the API and its backends
    probe = "import sys, restorekit; assert 'restorekit.api' not in sys.modules and 'pyfsntfs' not in sys.modules"
    subprocess.run([sys.executable, "-c", probe], check=True)


def rp_size(where: str) -> int:
    with restorekit.open(DEMO) as rp:
        return rp.stat(where).size


def test_disks_and_volumes_are_what_inspect_prints() -> None:
    with restorekit.open(DEMO) as rp:
        doc = {"disks": [d.to_dict() for d in rp.disks], "volumes": [v.to_dict() for v in rp.volumes()]}
        assert rp.volume("os-p3").label == "Windows"
        with pytest.raises(FilesystemError, match=r"no volume 'os-p9'.*Volumes: os-p1, os-p2, os-p3, lun0-p1"):
            rp.volume("os-p9")
    assert json.loads(json.dumps(doc)) == cli_json("inspect", DEMO)


def test_listing_and_find_are_what_ls_and_find_print() -> None:
    with restorekit.open(DEMO) as rp:
        listing = [{"volume": "os-p3", **e.to_dict()} for e in rp.walk("os-p3:/")]
        found = [{"volume": vid, **e.to_dict()} for vid, e in rp.find("**/*.txt")]
        entry = rp.stat("os-p3:/users/administrator/desktop/NOTES.TXT")  # NTFS: case-insensitive
        with pytest.raises(EntryNotFoundError) as caught:
            rp.stat("lun0-p1:/srv/nothing")
    assert listing == cli_json("ls", DEMO, "os-p3:/", "-r")
    assert found == cli_json("find", DEMO, "**/*.txt")
    assert (entry.type, entry.size) == ("file", rp_size("os-p3:/Users/Administrator/Desktop/notes.txt"))
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, RestoreKitError)
    assert str(caught.value) == "lun0-p1: /srv/nothing: no such file or folder"


def test_open_is_a_seekable_binary_file_with_the_bytes_cat_writes(tmp_path: Path) -> None:
    target = "lun0-p1:/srv/data/backups/db-2026-11-16.sql.gz"
    cat = subprocess.run([sys.executable, "-m", "restorekit", "cat", DEMO, target], capture_output=True, check=True)
    with restorekit.open(DEMO) as rp, rp.open(target) as f:
        assert isinstance(f, io.BufferedReader) and f.seekable() and f.readable() and not f.writable()
        whole = f.read()
        assert whole == cat.stdout
        assert f.seek(10) == 10 and f.read(5) == whole[10:15]
        assert f.seek(-3, io.SEEK_END) == len(whole) - 3 and f.read() == whole[-3:]
        assert f.read(10) == b""  # at the end
        f.seek(0)
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(cat.stdout).hexdigest()
        with open(tmp_path / "copy", "wb") as out:
            assert rp.copy(target, out.fileno()) == len(whole)
        assert (tmp_path / "copy").read_bytes() == whole
        with pytest.raises(FilesystemError, match="os-p3: /Users: is a dir, not a file"):
            rp.open("os-p3:/Users")


def test_extract_report_is_the_exit_status_of_extract(tmp_path: Path) -> None:
    """The ext4 file fixture holds a FIFO: skipped, so not complete (the CLI's exit 1), listed the same way."""
    image = gunzip_to(fixture_file("images/files/ext4.img.gz"), tmp_path)
    with restorekit.open(image) as rp:
        report = rp.extract(["d0:/"], tmp_path / "api", verify=True)
    result = CliRunner().invoke(cli, ["extract", str(image), "d0:/", "-o", str(tmp_path / "cli"), "--verify",
                                      "--json"])
    assert not report.complete and result.exit_code == 1
    assert report.to_dict() == json.loads(result.stdout)
    assert any("fifo" in path for path, _reason in report.skipped)
    assert (tmp_path / "api" / "SHA256SUMS").read_bytes() == (tmp_path / "cli" / "SHA256SUMS").read_bytes()


def test_extract_collisions_write_nothing_and_tar_goes_whole(tmp_path: Path) -> None:
    with restorekit.open(DEMO) as rp:
        with pytest.raises(OutputError, match="would both be written as 'Boot'; nothing was written"):
            rp.extract(["os-p1:/EFI/Boot", "os-p1:/EFI/Microsoft/Boot"], tmp_path / "out")
        assert not (tmp_path / "out").exists()
        report = rp.extract(["os-p1:/EFI"], tar=tmp_path / "efi.tar")
        assert report.complete and report.files == 3
        with pytest.raises(OutputError, match="already exists"):
            rp.extract(["os-p1:/EFI"], tar=tmp_path / "efi.tar")
        with pytest.raises(OutputError, match="is an image of this recovery point; it is never written"):
            rp.extract(["os-p1:/EFI"], tar=FIXTURES / "demo" / "disks" / "os.vhd")
        with pytest.raises(ValueError, match="exactly one of output"):
            rp.extract(["os-p1:/EFI"])
    import tarfile

    with tarfile.open(tmp_path / "efi.tar") as tar:
        assert "EFI/Boot/bootx64.efi" in tar.getnames()


def test_plan_template_and_describe_are_what_the_commands_give(tmp_path: Path) -> None:
    with restorekit.open(DEMO) as rp:
        plan = rp.plan()
        doc = rp.describe()
        result = rp.template(tmp_path / "tpl", RestoreRequest(target_resource_group="rg-restore"))
    assert json.loads(json.dumps(plan.to_dict())) == cli_json("plan", DEMO)
    assert json.loads(json.dumps(doc)) == cli_json("show", DEMO)
    cli_doc = cli_json("template", DEMO, "-o", str(tmp_path / "tpl2"), "--target-resource-group", "rg-restore")
    assert json.loads(result.template_file.read_text()) == json.loads((tmp_path / "tpl2" / "azuredeploy.json")
                                                                      .read_text())
    assert result.deploy_command == cli_doc["deployCommand"].replace("tpl2", "tpl")  # type: ignore[index]


def test_one_session_unlocks_once(tmp_path: Path) -> None:
    """The key is asked for once however many calls read the volume (the LUKS2 derivation runs once too)."""
    image = volume_fixture("luks2-pbkdf2", tmp_path)
    asked: list[str] = []

    def prompt(volume: str, what: str, retry: bool) -> str:
        asked.append(volume)
        return LUKS2_PASSWORD

    keys = restorekit.Keys(prompt=prompt)
    with restorekit.open(image, keys=keys) as rp:
        names = [e.name for e in rp.ls("d0:/")]
        rp.stat("d0:/")
        [v.locked for v in rp.volumes()]
        rp.extract(["d0:/"], tmp_path / "out")
    assert asked == ["d0"]
    assert len(keys.derived) == 1
    assert names and sorted(os.listdir(tmp_path / "out" / "d0")) == sorted(names)


def test_unlock_says_why_and_keeps_only_working_keys(tmp_path: Path) -> None:
    luks1, luks2 = volume_fixture("luks1", tmp_path), volume_fixture("luks2-pbkdf2", tmp_path)
    with restorekit.open(luks1, luks2) as rp:
        assert [v.locked for v in rp.volumes()] == [True, True]
        with pytest.raises(UnlockError, match=r"^d0: the password given did not unlock d0 \(LUKS1"):
            rp.unlock("d0", password="not-it")
        assert rp.keys.entries == []  # a key that opened nothing is not kept
        with pytest.raises(UnlockError, match="d1: the password given did not unlock d1"):
            rp.unlock("d1", password=LUKS1_PASSWORD)  # d0's key, given for d1: not tried on d0
        assert [v.id for v in rp.unlock("*", password=LUKS1_PASSWORD)] == ["d0"]
        assert [v.id for v in rp.unlock("d1", password=LUKS2_PASSWORD)] == ["d1"]
        assert [v.locked for v in rp.volumes()] == [False, False]
        rp.check_keys()
        with pytest.raises(FilesystemError, match="no volume 'd7'"):
            rp.unlock("d7", password="x")
        with pytest.raises(UnlockError, match="no key given"):
            rp.unlock("d0")
    with pytest.raises(ValueError, match="session is closed"):
        rp.volumes()


def test_a_blob_url(azurite) -> None:  # type: ignore[no-untyped-def]
    """A disk where it lives in Azure Storage reads as the local one does."""
    from tests.fs.test_remote import sas_url, upload_page_blob

    url = sas_url(upload_page_blob(azurite, "api", "data0.vhdx", (FIXTURES / "demo" / "disks" / "data0.vhdx")
                                   .read_bytes()))
    with restorekit.open(url) as rp, rp.open("d0-p1:/srv/data/customers.csv") as f:
        remote = f.read()
    with restorekit.open(FIXTURES / "demo" / "disks" / "data0.vhdx") as rp, \
            rp.open("d0-p1:/srv/data/customers.csv") as f:
        assert remote == f.read()


#: What the command modules may import at run time besides the API: argument parsing, names and constants for
#: formatting, and the error and key types. Opening, scanning, reading, extracting and planning go through the API
#: (``dd`` reads one image and is not yet on it).
CLI_MAY_IMPORT = {
    "restorekit": {"api", "schema"}, "restorekit.files": {"split_arguments"},
    "restorekit.fs.entry": {"DIRECTORY", "FILE", "SYMLINK", "iso_time"}, "restorekit.fs.errors": {"RestoreKitError"},
    "restorekit.fs.keys": {"Keys", "read_keychain", "read_password_file"},
    "restorekit.fs.remote.url": {"is_url", "redact"}, "restorekit.jsonio": {"dumps", "escape_surrogates"},
    "restorekit.request": {"OPTIONS", "RestoreRequest", "load_az_json", "load_os_release", "parse_luns"},
    "restorekit.targetvm": {"lun_label", "check_target_vm"}, "restorekit.template.draft": {"DISK_SOURCES"},
}


def test_the_commands_call_the_api_not_the_internals() -> None:
    import ast

    from tests.conftest import ROOT

    for module in sorted((ROOT / "restore" / "cli").glob("*.py")):
        if module.name == "dd.py":
            continue
        for node in ast.parse(module.read_text("utf-8")).body:  # module level: TYPE_CHECKING imports are inside an if
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("restorekit") \
                    and not (node.module or "").startswith("restorekit.cli"):
                names = {alias.name for alias in node.names}
                assert names <= CLI_MAY_IMPORT.get(node.module or "", set()), f"{module.name}: {node.module} {names}"
