"""A container (or a virtual folder in one) as a restore-disks job left it: list its blobs, read a small one.

Listing sends ``GET ?restype=container&comp=list`` (the SAS needs list permission, ``sp=rl``, as a container
SAS from ``az storage container generate-sas --permissions rl`` has; an account key or Entra role gives it too).
"""

from __future__ import annotations

import dataclasses
import urllib.parse
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from restorekit.fs.errors import RemoteError
from restorekit.fs.remote.http import Transport

if TYPE_CHECKING:
    from restorekit.fs.remote.auth import StorageAuth
    from restorekit.fs.remote.url import BlobUrl

#: A restore-disks folder holds a config, a template and a VHD per disk; more names than this is not one.
MAX_NAMES = 10_000
#: The largest JSON document read from a blob (a config-*.json is a few KiB).
MAX_DOCUMENT = 16 << 20


def list_blob_names(url: BlobUrl, auth: StorageAuth, transport: Transport | None = None) -> list[str]:
    """Names of the blobs directly in ``url``'s container or virtual folder (not in sub-folders)."""
    transport = transport or Transport()
    names: list[str] = []
    marker = ""
    while True:
        target, headers = auth.authorize(url)
        params = ["restype=container", "comp=list", "delimiter=%2F"]
        if url.folder():
            params.append("prefix=" + urllib.parse.quote(url.folder(), safe=""))
        if marker:
            params.append("marker=" + urllib.parse.quote(marker, safe=""))
        container = dataclasses.replace(url, blob="", query=target.query)
        response = transport.send("GET", container.with_query(*params), headers, name=url.display, ok=(200,))
        try:
            root = ET.fromstring(response.data)
        except ET.ParseError:
            raise RemoteError("the storage service sent a blob list that is not XML", image=url.display) from None
        names += [name for blob in root.iter("Blob") if (name := blob.findtext("Name"))]
        if len(names) > MAX_NAMES:
            raise RemoteError(f"holds more than {MAX_NAMES} blobs: not a restore-disks job's output",
                              image=url.display, hint="give the folder that holds the job's config-*.json")
        marker = root.findtext("NextMarker") or ""
        if not marker:
            return names


def read_small_blob(url: BlobUrl, auth: StorageAuth, transport: Transport | None = None) -> bytes:
    """The whole of a small blob (a JSON document); refuses one over :data:`MAX_DOCUMENT` bytes."""
    transport = transport or Transport()
    target, headers = auth.authorize(url)
    head = transport.send("HEAD", target.with_query(), headers, name=url.display, ok=(200,))
    size = int(head.headers.get("content-length", "0") or 0)
    if size > MAX_DOCUMENT:
        raise RemoteError(f"is {size} bytes, too large for a JSON document", image=url.display)
    if size == 0:
        return b""
    etag = head.headers.get("etag", "")
    response = transport.send("GET", target.with_query(), {**headers, **({"If-Match": etag} if etag else {})},
                              name=url.display, ok=(200,))
    return response.data
