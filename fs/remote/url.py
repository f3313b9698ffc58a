"""Blob URLs as users paste them, and the one rule for showing them: never with a signature.

A URL is what ``az disk grant-access``, ``az snapshot grant-access`` or ``az storage blob generate-sas`` print
(``https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB?sv=…&sig=…``, or a managed disk's
``https://md-….blob.storage.azure.net/…/abcd?sv=…&sig=…``), or a path-style emulator URL
(``http://127.0.0.1:10000/ACCOUNT/CONTAINER/BLOB``). :attr:`BlobUrl.display` is the URL without its query, which
is what every message, log line and JSON document shows; :func:`redact` scrubs signatures from any other text.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

_SIGNATURE = re.compile(r"(?i)((?:^|[?&\s;])(?:sig|signature|accountkey|sharedaccesssignature)=)[^&\s;\"']+")


def is_url(text: str) -> bool:
    """True for an ``http(s)://`` address (a blob or container), False for a local path."""
    return text[:8].lower().startswith(("https://", "http://"))


def redact(text: str) -> str:
    """``text`` with every SAS signature and account key replaced by ``REDACTED``."""
    return _SIGNATURE.sub(r"\1REDACTED", text)


@dataclass(frozen=True)
class BlobUrl:
    """A blob or container address split into its parts; ``query`` holds the SAS token, if any."""

    scheme: str
    netloc: str
    #: The account when the host names none (path-style, as the storage emulator serves), else "".
    path_account: str
    #: Container, then the blob's name (which may contain ``/``); "" for a container URL.
    container: str
    blob: str
    query: str

    @classmethod
    def parse(cls, url: str) -> BlobUrl:
        """Split ``url``; raises ValueError when it cannot name a container."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError("not an http(s) URL")
        segments = [urllib.parse.unquote(s) for s in parts.path.split("/")[1:]]
        account = ""
        if _path_style(parts.hostname or ""):
            if not segments or not segments[0]:
                raise ValueError("a path-style URL names the account first: http://HOST:PORT/ACCOUNT/CONTAINER/BLOB")
            account, segments = segments[0], segments[1:]
        while segments and segments[-1] == "" and len(segments) > 1:
            segments = segments[:-1]  # a trailing slash on a virtual folder
        if not segments or not segments[0]:
            raise ValueError("the URL names no container")
        return cls(parts.scheme.lower(), parts.netloc, account, segments[0], "/".join(segments[1:]), parts.query)

    @property
    def account(self) -> str:
        """The storage account's name."""
        return self.path_account or self.netloc.split(".", 1)[0]

    @property
    def has_sas(self) -> bool:
        """True when the URL carries a SAS token (a ``sig`` parameter)."""
        return "sig" in urllib.parse.parse_qs(self.query)

    @property
    def sas_expiry(self) -> str | None:
        """The SAS token's ``se`` (expiry) value, which is no secret and helps explain a 403."""
        values = urllib.parse.parse_qs(self.query).get("se")
        return values[0] if values else None

    def _base(self) -> str:
        path = "/".join(urllib.parse.quote(p, safe="") for p in (self.path_account, self.container) if p)
        if self.blob:
            path += "/" + urllib.parse.quote(self.blob, safe="/")
        return f"{self.scheme}://{self.netloc}/{path}"

    @property
    def display(self) -> str:
        """The address without its query: what users are shown."""
        return self._base()

    def with_query(self, *extra: str) -> str:
        """The full address to request: the SAS token plus ``extra`` parameters (``comp=pagelist``...)."""
        query = "&".join(q for q in (*extra, self.query) if q)
        return self._base() + ("?" + query if query else "")

    def sibling(self, blob: str) -> BlobUrl:
        """Another blob of the same container, with the same SAS token (a container SAS reaches it)."""
        return BlobUrl(self.scheme, self.netloc, self.path_account, self.container, blob, self.query)

    def folder(self) -> str:
        """The virtual folder of a container URL (``config/`` of ``…/restore/config/``), "" for the root."""
        return self.blob.rstrip("/") + "/" if self.blob else ""


def _path_style(host: str) -> bool:
    if host in ("localhost",) or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
