"""Azurite, Microsoft's Azure Storage emulator, for the remote-reading tests: a real storage endpoint on loopback.

:func:`azurite_binary` installs the pinned npm package into ``tests/.node/`` (git-ignored) the first time a test
needs it; :class:`Azurite` starts it on 127.0.0.1 at a free port with in-memory storage and a debug log (the
request log the read-only tests inspect), and stops it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent / ".node"
AZURITE_VERSION = "3.35.0"
ACCOUNT = "devstoreaccount1"
#: The emulator's well-known development key (public; documented by Microsoft).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_binary() -> Path:
    """The ``azurite-blob`` script, installed with npm on first use."""
    binary = NODE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        message = "npm is not installed (Debian package npm): the remote tests run Azurite, an npm package"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    NODE_DIR.mkdir(exist_ok=True)
    subprocess.run([npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--loglevel=error",
                    f"azurite@{AZURITE_VERSION}"], check=True, capture_output=True)
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Azurite:
    """A running blob endpoint: ``endpoint`` is ``http://127.0.0.1:PORT/devstoreaccount1``."""

    def __init__(self, workdir: Path, *, oauth: bool = False) -> None:
        self.port = free_port()
        self.log = workdir / "azurite-debug.log"
        #: With ``oauth``, Azurite serves HTTPS (it checks bearer tokens only there) with a certificate made here.
        self.ca_certs: str | None = None
        extra: list[str] = []
        if oauth:
            cert, key = _self_signed(workdir)
            self.ca_certs = str(cert)
            extra = ["--cert", str(cert), "--key", str(key), "--oauth", "basic"]
        scheme = "https" if oauth else "http"
        self.endpoint = f"{scheme}://127.0.0.1:{self.port}/{ACCOUNT}"
        self.connection_string = (f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={KEY};"
                                  f"BlobEndpoint={self.endpoint};")
        self._stderr = open(workdir / "azurite-stderr.log", "wb")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [str(azurite_binary()), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--inMemoryPersistence",
             "--skipApiVersionCheck", "--loose", "--silent", "--debug", str(self.log), *extra],
            stdout=subprocess.DEVNULL, stderr=self._stderr)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()
                raise RuntimeError(f"azurite exited: {(workdir / 'azurite-stderr.log').read_text(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("azurite did not start within 30 s")

    def service(self):  # type: ignore[no-untyped-def]
        """An SDK client for setting up blobs (the tests' side, never restorekit's)."""
        from azure.storage.blob import BlobServiceClient

        if self.ca_certs:
            return BlobServiceClient.from_connection_string(self.connection_string, connection_verify=self.ca_certs)
        return BlobServiceClient.from_connection_string(self.connection_string)

    def methods_since(self, mark: int) -> set[str]:
        """HTTP methods of the requests Azurite logged after byte ``mark`` of its debug log."""
        text = self.log.read_bytes()[mark : self.log_mark()].decode(errors="replace")
        return set(re.findall(r"RequestMethod=(\w+)", text))

    def log_mark(self) -> int:
        """Where the debug log ends once Azurite has written out what it was still writing (it logs
        asynchronously, so a request made just before may land after a mark taken at once)."""
        size, still = -1, 0
        deadline = time.monotonic() + 5
        while still < 3 and time.monotonic() < deadline:
            now = self.log.stat().st_size if self.log.exists() else 0
            still = still + 1 if now == size else 0
            size = now
            time.sleep(0.05)
        return size

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()


def _self_signed(workdir: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = workdir / "azurite-cert.pem", workdir / "azurite-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
