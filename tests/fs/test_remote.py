"""Disks read where they live: blobs in a real Azure Storage endpoint (Azurite), range by range, read-only."""

from __future__ import annotations

import datetime
import gzip
import hashlib
from pathlib import Path

import pytest

from restorekit.fs.errors import RemoteError, UnknownFormatError
from restorekit.fs.image import open_image, open_source_image
from restorekit.fs.remote.auth import StorageAuth
from restorekit.fs.remote.blob import BlobSource
from restorekit.fs.remote.http import Response, RetryPolicy, Transport, status_error
from restorekit.fs.remote.url import BlobUrl, redact
from restorekit.fs.scan import Keys, scan
from tests.azurite import ACCOUNT, KEY
from tests.conftest import FIXTURES, gunzip_to
from tests.faultproxy import FaultProxy, Faults

DEMO_OS = FIXTURES / "demo" / "disks" / "os.vhd"


def upload_page_blob(azurite, container: str, name: str, data: bytes, size: int | None = None) -> str:  # type: ignore[no-untyped-def]
    """Upload ``data`` as a page blob of ``size`` bytes (writing only non-zero 4 MiB pieces); its plain URL."""
    client = azurite.service().get_container_client(container)
    if not client.exists():
        client.create_container()
    blob = client.get_blob_client(name)
    blob.create_page_blob(size or len(data))
    for offset in range(0, len(data), 4 << 20):
        piece = data[offset : offset + (4 << 20)]
        if piece.strip(b"\0"):
            blob.upload_page(piece, offset=offset, length=len(piece))
    return f"{azurite.endpoint}/{container}/{name}"


def sas_url(url: str, *, permission: str = "r", hours: float = 1) -> str:
    from azure.storage.blob import generate_blob_sas

    parsed = BlobUrl.parse(url)
    expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=hours)
    token = generate_blob_sas(ACCOUNT, parsed.container, parsed.blob, account_key=KEY, permission=permission,
                              expiry=expiry, start=expiry - datetime.timedelta(hours=abs(hours) + 1))
    return f"{url}?{token}"


@pytest.fixture(scope="module")
def demo_blob(azurite) -> str:  # type: ignore[no-untyped-def]
    return upload_page_blob(azurite, "disks", "demo-os.vhd", DEMO_OS.read_bytes())


def whole(image) -> bytes:  # type: ignore[no-untyped-def]
    return image.pread(image.size, 0)


def test_sas_url_reads_the_same_bytes_and_volumes_as_the_local_image(azurite, demo_blob: str) -> None:  # type: ignore[no-untyped-def]
    mark = azurite.log_mark()
    with open_image(sas_url(demo_blob)) as remote, open_image(DEMO_OS) as local:
        assert remote.format == local.format == "vhd-dynamic"
        assert hashlib.sha256(whole(remote)).digest() == hashlib.sha256(whole(local)).digest()
        ours = [v.to_dict() for v in scan([("os", remote)], Keys())]
        theirs = [v.to_dict() for v in scan([("os", local)], Keys())]
    assert ours == theirs
    assert azurite.methods_since(mark) <= {"GET", "HEAD"}


def test_account_key_and_connection_string(azurite, demo_blob: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with open_image(demo_blob, auth=StorageAuth(account_key=KEY)) as image:
        assert image.format == "vhd-dynamic"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.delenv("AZURE_STORAGE_KEY", raising=False)
    with open_image(demo_blob) as image:
        assert image.pread(8, image.size - 512 if image.format == "raw" else 0)


def test_expired_sas_is_one_clear_line_without_the_signature(demo_blob: str) -> None:
    url = sas_url(demo_blob, hours=-1)
    signature = next(p for p in url.split("?", 1)[1].split("&") if p.startswith("sig=")).split("=", 1)[1]
    with pytest.raises(RemoteError) as caught:
        open_image(url)
    text = str(caught.value)
    assert "HTTP 403" in text and "SAS" in text and "grant-access" in text
    assert signature not in text and "sig=" not in text and "\n" not in text


def test_wrong_key_and_missing_blob(azurite, demo_blob: str) -> None:  # type: ignore[no-untyped-def]
    wrong = "A" * 86 + "=="
    with pytest.raises(RemoteError, match="HTTP 403"):
        open_image(demo_blob, auth=StorageAuth(account_key=wrong))
    with pytest.raises(RemoteError, match="HTTP 404"):
        open_image(sas_url(f"{azurite.endpoint}/disks/no-such.vhd"))


def test_blob_overwritten_mid_read_fails_instead_of_mixing_bytes(azurite) -> None:  # type: ignore[no-untyped-def]
    url = upload_page_blob(azurite, "disks", "changing.raw", bytes(range(256)) * 4096 * 8)  # 8 MiB
    with open_image(sas_url(url)) as image:
        assert image.pread(512, 0)[:4] == bytes(range(4))
        blob = azurite.service().get_blob_client("disks", "changing.raw")
        blob.upload_page(b"\xff" * 512, offset=4 << 20, length=512)
        with pytest.raises(RemoteError, match="changed while it was being read"):
            image.pread(512, 6 << 20)


def test_sparse_4tib_page_blob_inspects_without_fetching_holes(azurite) -> None:  # type: ignore[no-untyped-def]
    disk = gzip.decompress((FIXTURES / "images" / "base.raw.gz").read_bytes())
    url = upload_page_blob(azurite, "disks", "huge.raw", disk, size=4 << 40)
    with open_image(sas_url(url)) as image:
        assert image.size == 4 << 40
        volumes = scan([("d0", image)], Keys())
        fetched = image.source.transport.bytes
    assert [(v.id, v.filesystem) for v in volumes if v.filesystem] == [
        ("d0-p1", "fat"), ("d0-p2", "ext4"), ("d0-p3", "ntfs")]
    assert fetched < 8 << 20, fetched


def test_redact() -> None:
    text = "https://a.blob.core.windows.net/c/b?sv=2021&se=2026&sr=b&sp=r&sig=abc%2Bdef%3D and AccountKey=xyz=="
    assert redact(text) == ("https://a.blob.core.windows.net/c/b?sv=2021&se=2026&sr=b&sp=r&sig=REDACTED "
                            "and AccountKey=REDACTED")


def test_url_forms() -> None:
    managed = BlobUrl.parse("https://md-abc.z1.blob.storage.azure.net/xyz/abcd?sv=1&sig=s")
    assert (managed.account, managed.container, managed.blob, managed.has_sas) == ("md-abc", "xyz", "abcd", True)
    assert managed.display == "https://md-abc.z1.blob.storage.azure.net/xyz/abcd"
    emulator = BlobUrl.parse("http://127.0.0.1:10000/devstoreaccount1/restore/config/")
    assert (emulator.account, emulator.container, emulator.folder()) == ("devstoreaccount1", "restore", "config/")
    with pytest.raises(ValueError):
        BlobUrl.parse("https://acct.blob.core.windows.net/")


def test_only_get_and_head(azurite, demo_blob: str) -> None:  # type: ignore[no-untyped-def]
    mark = azurite.log_mark()
    with open_image(sas_url(demo_blob)) as image:
        whole(image)
        assert image.source.transport.methods <= {"GET", "HEAD"}
    assert azurite.methods_since(mark) <= {"GET", "HEAD"}


def test_survives_503s_and_dropped_connections_with_identical_bytes(azurite) -> None:  # type: ignore[no-untyped-def]
    data = hashlib.sha256(b"seed").digest() * (24 << 15)  # 24 MiB, not compressible, no holes
    upload_page_blob(azurite, "disks", "flaky.raw", data)
    proxy = FaultProxy(azurite.endpoint.rsplit("/", 1)[0], Faults(status_503=3, drop_before=5, drop_mid_body=7))
    try:
        url = sas_url(f"{proxy.endpoint_base}/{ACCOUNT}/disks/flaky.raw")
        policy = RetryPolicy(first_delay=0.01, max_delay=0.05)
        source = BlobSource(BlobUrl.parse(url), StorageAuth(), transport=Transport(policy))
        with open_source_image(source) as image:
            assert image.pread(4096, 123) == data[123 : 123 + 4096]
            source.prefetch(0, len(data))
            assert hashlib.sha256(image.pread(len(data), 0)).digest() == hashlib.sha256(data).digest()
        assert proxy.injected >= 3
    finally:
        proxy.stop()


def test_gives_up_in_bounded_time_with_one_line(azurite) -> None:  # type: ignore[no-untyped-def]
    proxy = FaultProxy(azurite.endpoint.rsplit("/", 1)[0], Faults(status_503=1))
    try:
        url = sas_url(f"{proxy.endpoint_base}/{ACCOUNT}/disks/flaky.raw")
        transport = Transport(RetryPolicy(attempts=4, first_delay=0.01, max_delay=0.02))
        with pytest.raises(RemoteError) as caught:
            BlobSource(BlobUrl.parse(url), StorageAuth(), transport=transport)
        assert "gave up after 4 attempts: HTTP 503 ServerBusy" in str(caught.value), str(caught.value)
        assert "sig=" not in str(caught.value)
    finally:
        proxy.stop()


class StaticToken:
    """A Microsoft Entra token as ``azure-identity`` credentials hand them out: Azurite's OAuth mode checks the
    audience, issuer and lifetime of a JWT, not its signature (it has no tenant's keys)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str) -> object:
        import base64
        import json
        import time
        from types import SimpleNamespace

        assert scopes == ("https://storage.azure.com/.default",)
        self.calls += 1
        now = int(time.time())

        def part(doc: dict[str, object]) -> str:
            return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

        claims = {"aud": "https://storage.azure.com", "iss": "https://sts.windows.net/ab1f708d-50f6-404c-a006-d71b2ac7a606/",
                  "iat": now - 60, "nbf": now - 60, "exp": now + 3600, "oid": "0d3c6a3e-0a7c-4d4e-8a7e-0f1e2d3c4b5a",
                  "tid": "ab1f708d-50f6-404c-a006-d71b2ac7a606"}
        token = f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"
        return SimpleNamespace(token=token, expires_on=now + 3600)


class NoSignIn:
    """A credential with nobody signed in, failing as azure-identity's do."""

    def get_token(self, *scopes: str) -> object:
        from azure.core.exceptions import ClientAuthenticationError

        raise ClientAuthenticationError("no account signed in")


def test_entra_token_auth(tmp_path: Path) -> None:
    from tests.azurite import Azurite

    server = Azurite(tmp_path, oauth=True)
    try:
        url = upload_page_blob(server, "disks", "demo-os.vhd", DEMO_OS.read_bytes())
        credential = StaticToken()
        source = BlobSource(BlobUrl.parse(url), StorageAuth(credential=credential),
                            transport=Transport(ca_certs=server.ca_certs))
        with open_source_image(source) as image, open_image(DEMO_OS) as local:
            assert whole(image) == whole(local)
        assert credential.calls == 1  # one token, reused until it nears expiry
        with pytest.raises(RemoteError, match="Microsoft Entra sign-in failed") as caught:
            BlobSource(BlobUrl.parse(url), StorageAuth(credential=NoSignIn()),
                       transport=Transport(ca_certs=server.ca_certs))
        assert "az login" in str(caught.value)
    finally:
        server.stop()


def test_differencing_chain_of_blobs_reads_like_the_local_chain(azurite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name in ("base.vhd", "child1.vhd", "child2.vhd"):
        local = gunzip_to(FIXTURES / "images" / "chain-vhd" / f"{name}.gz", tmp_path)
        upload_page_blob(azurite, "chain", name, local.read_bytes())
    from tests.test_remote_cli import container_sas

    url = f"{azurite.endpoint}/chain/child2.vhd?{container_sas('chain')}"
    with open_image(url) as remote, open_image(tmp_path / "child2.vhd") as local:
        assert remote.chain == [f"{azurite.endpoint}/chain/{n}" for n in ("child2.vhd", "child1.vhd", "base.vhd")]
        assert whole(remote) == whole(local)


def test_a_blob_that_is_not_a_disk_and_a_read_past_the_end(azurite) -> None:  # type: ignore[no-untyped-def]
    client = azurite.service().get_container_client("disks")
    client.upload_blob("notes.json", b'{"not": "a disk"}\n', overwrite=True)
    with pytest.raises(UnknownFormatError, match="is not a disk image"):
        open_image(sas_url(f"{azurite.endpoint}/disks/notes.json"))
    # Azurite answers a range past the end with the whole blob, never 416: the status's message is checked here.
    error = status_error(Response(416, {"x-ms-error-code": "InvalidRange"}, b""), "https://a.blob.core.windows.net/c/d")
    assert str(error) == ("https://a.blob.core.windows.net/c/d: read past the end of the blob (HTTP 416 InvalidRange). "
                          "The blob is shorter than its disk image says; it is truncated or still uploading")
    assert error.status == 416


def test_a_vhdx_in_a_block_blob_reads_like_the_file(azurite) -> None:  # type: ignore[no-untyped-def]
    """Restore-disks staging output and copies made with azcopy can be block blobs: no page ranges, all data."""
    local = FIXTURES / "demo" / "disks" / "data0.vhdx"
    client = azurite.service().get_container_client("disks")
    client.upload_blob("data0-block.vhdx", local.read_bytes(), overwrite=True)
    with open_image(sas_url(f"{azurite.endpoint}/disks/data0-block.vhdx")) as remote, open_image(local) as mine:
        assert remote.source.blob_type == "BlockBlob"
        assert (remote.format, whole(remote)) == (mine.format, whole(mine))
