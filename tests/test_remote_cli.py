"""Every command on disks read where they live (a real Azure Storage endpoint, Azurite) gives what it gives on
the same images locally: inspect, ls, find, cat, extract, dd, show, plan and template; form 1 from a container,
a manifest mixing local and remote disks, SAS / key / connection-string auth, and no signature in any output."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.azurite import ACCOUNT, KEY
from tests.conftest import FIXTURES, gunzip_to
from tests.fs.test_remote import sas_url, upload_page_blob

DEMO = FIXTURES / "demo"
FORM1 = FIXTURES / "demo-form1"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, check=False,
                          env={**os.environ, **(env or {})})


def container_sas(container: str) -> str:
    import datetime

    from azure.storage.blob import generate_container_sas

    expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    return generate_container_sas(ACCOUNT, container, account_key=KEY, permission="rl", expiry=expiry)


@pytest.fixture(scope="module")
def demo_urls(azurite) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The demo's two disks as page blobs (SAS URLs) under the names the manifest gives them."""
    return {name: sas_url(upload_page_blob(azurite, "demo", name, (DEMO / "disks" / name).read_bytes()))
            for name in ("os.vhd", "data0.vhdx")}


def signature(url: str) -> str:
    return re.search(r"sig=([^&]+)", url).group(1)  # type: ignore[union-attr]


def no_secret(proc: subprocess.CompletedProcess[bytes], *urls: str) -> None:
    text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert "Traceback" not in text
    for url in urls:
        assert signature(url) not in text
    assert "sig=" not in text


def remote_manifest(tmp_path: Path, urls: dict[str, str], remote: set[str]) -> Path:
    doc = json.loads((DEMO / "recoverypoint.json").read_text("utf-8"))
    for disk in doc["disks"]:
        name = Path(disk["image"]).name
        disk["image"] = urls[name] if name in remote else str((DEMO / disk["image"]).resolve())
    path = tmp_path / "rp" / "recoverypoint.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc), "utf-8")
    return path


def strip_images(doc: dict) -> dict:  # type: ignore[type-arg]
    for disk in doc["disks"]:
        disk.pop("image", None)
        disk.pop("chain", None)
        disk.pop("allocatedBytes", None)  # what the storage holds: a page blob leaves zero pages unwritten
    return doc


def test_inspect_ls_cat_of_remote_disks_equal_local(demo_urls: dict[str, str], tmp_path: Path) -> None:
    manifest = remote_manifest(tmp_path, demo_urls, {"os.vhd", "data0.vhdx"})
    remote = run("inspect", str(manifest), "--json")
    local = run("inspect", str(DEMO), "--json")
    assert remote.returncode == local.returncode == 0, remote.stderr
    no_secret(remote, *demo_urls.values())
    remote_doc, local_doc = json.loads(remote.stdout), json.loads(local.stdout)
    assert remote_doc["disks"][0]["image"].endswith("/demo/os.vhd")
    assert strip_images(remote_doc) == strip_images(local_doc)
    for args in (["ls", "os-p3:/", "-r", "--json"], ["ls", "lun0-p1:/", "-r", "--json"],
                 ["find", "**/*.csv", "--json"], ["cat", "os-p3:/Windows/System32/drivers/etc/hosts"]):
        ours, theirs = run(args[0], str(manifest), *args[1:]), run(args[0], str(DEMO), *args[1:])
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), args
        assert theirs.stdout and theirs.returncode == 0


def test_bare_sas_url_extract_and_dd(demo_urls: dict[str, str], tmp_path: Path) -> None:
    url = demo_urls["data0.vhdx"]
    out, mine = tmp_path / "remote", tmp_path / "local"
    proc = run("extract", url, "d0-p1:/", "-o", str(out), "--verify", "--json")
    assert proc.returncode == 0, proc.stderr
    no_secret(proc, url)
    assert run("extract", str(DEMO / "disks" / "data0.vhdx"), "d0-p1:/", "-o", str(mine), "--verify").returncode == 0
    assert (out / "SHA256SUMS").read_text() == (mine / "SHA256SUMS").read_text()
    dd = run("dd", url, "-o", str(tmp_path / "disk.raw"), "--json")
    assert dd.returncode == 0, dd.stderr
    no_secret(dd, url)
    local = run("dd", str(DEMO / "disks" / "data0.vhdx"), "-o", "-")
    assert hashlib.sha256((tmp_path / "disk.raw").read_bytes()).digest() == hashlib.sha256(local.stdout).digest()


def test_mixed_manifest_show_plan_template(demo_urls: dict[str, str], tmp_path: Path) -> None:
    manifest = remote_manifest(tmp_path, demo_urls, {"data0.vhdx"})
    show = run("show", str(manifest), "--json")
    assert show.returncode == 0, show.stderr
    no_secret(show, *demo_urls.values())
    plan = run("plan", str(manifest), "--json")
    assert plan.returncode in (0, 3), plan.stderr
    no_secret(plan, *demo_urls.values())
    template = run("template", str(manifest), "-o", str(tmp_path / "tpl"), "--json")
    assert template.returncode == 0, template.stderr
    no_secret(template, *demo_urls.values())


def test_form1_from_a_container_url(azurite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = next(FORM1.glob("config-*.json"))
    client = azurite.service().get_container_client("restore-job")
    client.create_container()
    client.upload_blob(config.name, config.read_bytes())
    local = tmp_path / "local"
    local.mkdir()
    shutil.copy(config, local)
    for image in sorted((FIXTURES / "images" / "demo-form1").glob("*.vhd.gz")):
        disk = gunzip_to(image, local)
        upload_page_blob(azurite, "restore-job", disk.name, disk.read_bytes())
    url = f"{azurite.endpoint}/restore-job?{container_sas('restore-job')}"
    remote = run("inspect", url, "--json")
    assert remote.returncode == 0, remote.stderr
    no_secret(remote, url)
    theirs = run("inspect", str(local), "--json")
    assert strip_images(json.loads(remote.stdout)) == strip_images(json.loads(theirs.stdout))
    show = run("show", url, "--json")
    assert show.returncode == 0, show.stderr
    no_secret(show, url)
    assert json.loads(show.stdout)["form"] == 1


def test_account_key_option_and_connection_string(demo_urls: dict[str, str]) -> None:
    plain = demo_urls["os.vhd"].split("?", 1)[0]
    keyed = run("inspect", plain, "--account-key", KEY, "--json")
    assert keyed.returncode == 0, keyed.stderr
    assert KEY not in (keyed.stdout + keyed.stderr).decode()
    denied = run("inspect", plain, env={"AZURE_STORAGE_KEY": "A" * 86 + "=="})
    assert denied.returncode == 1
    err = denied.stderr.decode()
    assert err.startswith("Error: ") and "HTTP 403" in err and len(err.strip().splitlines()) == 1


def test_expired_sas_and_missing_blob_are_one_line(azurite, demo_urls: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    expired = sas_url(demo_urls["os.vhd"].split("?", 1)[0], hours=-1)
    proc = run("ls", expired, "d0-p3:/")
    assert proc.returncode == 1
    no_secret(proc, expired)
    err = proc.stderr.decode()
    assert "HTTP 403" in err and "grant-access" in err and len(err.strip().splitlines()) == 1
    missing = run("inspect", sas_url(f"{azurite.endpoint}/demo/nope.vhd"))
    assert missing.returncode == 1 and "HTTP 404" in missing.stderr.decode()
