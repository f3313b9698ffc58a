"""The one HTTP client of remote reading: GET and HEAD only, keep-alive, bounded retries.

Why plain ranged GETs on urllib3 rather than the Azure SDK's ``BlobClient.download_blob()``: for a page blob the
SDK follows every read with a second request that lists the page ranges of the *whole* blob, so one 512-byte
read costs about a hundred times a plain GET (measured against the storage emulator). urllib3 is already what
the SDK's transport sits on; it keeps HTTP/1.1 connections alive per host (Azure Storage speaks no HTTP/2), and a
pool of them serves parallel range requests. The SDK is still used for what it is right for: signing (a SAS
from an account key) and Microsoft Entra tokens (:mod:`restorekit.fs.remote.auth`).

Only ``GET`` and ``HEAD`` are ever sent: a recovery point is never written, leased or snapshotted.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from restorekit.fs.errors import RemoteError

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Statuses worth another try: timeouts, throttling, the service's own transient failures.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: The API version sent with every request (Microsoft Entra bearer tokens need one of 2017-11-09 or later).
API_VERSION = "2021-08-06"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` per request, spread over at most ``total_seconds``."""

    attempts: int = 7
    total_seconds: float = 120.0
    first_delay: float = 0.2
    max_delay: float = 8.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


@dataclass(frozen=True)
class Response:
    """A finished response: status, headers (lower-case names) and the whole body."""

    status: int
    headers: Mapping[str, str]
    data: bytes

    @property
    def error_code(self) -> str:
        """Azure's ``x-ms-error-code`` (``AuthenticationFailed``, ``BlobNotFound``...), or ""."""
        return self.headers.get("x-ms-error-code", "")


class Transport:
    """A pool of keep-alive connections that sends GET/HEAD with retries; counts requests and bytes."""

    def __init__(self, policy: RetryPolicy | None = None, *, connections: int = 16,
                 ca_certs: str | None = None) -> None:
        self.policy = policy or RetryPolicy()
        timeout = urllib3.Timeout(connect=self.policy.connect_timeout, read=self.policy.read_timeout)
        self._pool = urllib3.PoolManager(num_pools=8, maxsize=connections, block=True, retries=False,
                                         timeout=timeout, ca_certs=ca_certs)
        #: Requests sent (every attempt counts) and body bytes received.
        self.requests = 0
        self.bytes = 0
        #: Methods sent, for tests that prove reading is read-only.
        self.methods: set[str] = set()

    def send(self, method: str, url: str, headers: Mapping[str, str], *, name: str,
             ok: tuple[int, ...] = (200, 206)) -> Response:
        """Send ``method`` (GET or HEAD) to ``url``; retry transient failures; raise :class:`RemoteError`
        naming ``name`` (the URL without its signature) for anything else."""
        if method not in ("GET", "HEAD"):
            raise AssertionError(f"remote reading never sends {method}")
        policy = self.policy
        deadline = time.monotonic() + policy.total_seconds
        delay = policy.first_delay
        last = ""
        for attempt in range(1, policy.attempts + 1):
            try:
                self.requests += 1
                self.methods.add(method)
                raw = self._pool.request(method, url, headers={"x-ms-version": API_VERSION, **headers},
                                         preload_content=True, redirect=False)
            except Urllib3Error as exc:
                last = f"the connection failed ({type(exc).__name__})"
            else:
                response = Response(raw.status, {k.lower(): v for k, v in raw.headers.items()}, raw.data)
                self.bytes += len(response.data)
                if response.status in ok:
                    return response
                if response.status not in RETRY_STATUSES:
                    raise status_error(response, name)
                last = f"HTTP {response.status} {response.error_code}".rstrip()
                retry_after = _retry_after(response)
                if retry_after is not None:
                    delay = max(delay, retry_after)
            if attempt == policy.attempts or time.monotonic() + delay > deadline:
                break
            time.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, policy.max_delay)
        raise RemoteError(f"gave up after {attempt} attempts: {last}", image=name,
                          hint="the storage endpoint did not answer reliably; check the network and try again")

    def close(self) -> None:
        self._pool.clear()


def status_error(response: Response, name: str) -> RemoteError:
    """The one-line error for a final HTTP status, with what to do about it."""
    error = _status_error(response, name)
    error.status = response.status
    return error


def _status_error(response: Response, name: str) -> RemoteError:
    status, code = response.status, response.error_code
    said = f"HTTP {status}" + (f" {code}" if code else "")
    if status == 403:
        return RemoteError(f"access denied ({said})", image=name, hint=(
            "the SAS token has expired or lacks read permission, the account key is wrong, or your Microsoft "
            "Entra identity lacks the Storage Blob Data Reader role; get a new SAS (az disk grant-access "
            "--access-level Read, az storage blob generate-sas --permissions r) or pass --account-key"))
    if status == 404:
        return RemoteError(f"not found ({said})", image=name,
                           hint="check the URL; a disk's SAS URL stops working once access is revoked")
    if status == 412:
        return RemoteError(f"the blob changed while it was being read ({said})", image=name, hint=(
            "something wrote to it since it was opened; read a snapshot of the disk instead "
            "(az snapshot create, then az snapshot grant-access)"))
    if status == 416:
        return RemoteError(f"read past the end of the blob ({said})", image=name,
                           hint="the blob is shorter than its disk image says; it is truncated or still uploading")
    return RemoteError(f"the storage service refused the request ({said})", image=name)


def _retry_after(response: Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(float(value), 30.0)
    except ValueError:
        return None
