"""How a remote read is authorised, the ways Azure users already authorise: a SAS token, a key, or Entra ID.

In order: a SAS token in the URL is used as it is; else an account key (``--account-key``, ``AZURE_STORAGE_KEY``,
or the ``AccountKey`` of ``AZURE_STORAGE_CONNECTION_STRING`` when its ``AccountName`` matches) signs a short-lived,
read-and-list container SAS with the Azure SDK, so every request stays a plain GET; else a Microsoft Entra token
from ``azure-identity``'s ``DefaultAzureCredential`` (after ``az login``, a managed identity, or the
``AZURE_CLIENT_*`` variables), for accounts and disks that require it. The SDK and azure-identity are imported
only when they are needed. No key, token or signature is ever part of a message.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from restorekit.fs.errors import RemoteError

if TYPE_CHECKING:
    from restorekit.fs.remote.url import BlobUrl

#: Scope of a Microsoft Entra token for Azure Storage.
STORAGE_SCOPE = "https://storage.azure.com/.default"
#: How long a SAS signed from an account key lives; a run longer than this gets a new one per blob opened.
KEY_SAS_LIFETIME = datetime.timedelta(hours=12)


class TokenCredential(Protocol):
    """What azure-identity's credentials offer (``DefaultAzureCredential``, ``AzureCliCredential``, ...)."""

    def get_token(self, *scopes: str) -> Any:
        """An object with ``token`` and ``expires_on`` (seconds since the epoch)."""
        ...


@dataclass
class StorageAuth:
    """The credentials a run may use; :meth:`authorize` picks one for each blob URL."""

    account_key: str | None = None
    #: ``AccountName=…;AccountKey=…`` (a connection string), used for URLs of that account.
    connection_string: str | None = None
    #: A Microsoft Entra credential; None means ``DefaultAzureCredential`` when one is needed.
    credential: TokenCredential | None = None
    _token: Any = field(default=None, repr=False)
    _signed: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_environment(cls, account_key: str | None = None) -> StorageAuth:
        """``--account-key`` if given, else ``AZURE_STORAGE_KEY``; plus ``AZURE_STORAGE_CONNECTION_STRING``."""
        return cls(account_key=account_key or os.environ.get("AZURE_STORAGE_KEY") or None,
                   connection_string=os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or None)

    def key_for(self, account: str) -> str | None:
        """The account key to sign with for ``account``, or None."""
        if self.account_key:
            return self.account_key
        if self.connection_string:
            fields = dict(part.split("=", 1) for part in self.connection_string.split(";") if "=" in part)
            if fields.get("AccountName") == account and fields.get("AccountKey"):
                return fields["AccountKey"]
        return None

    def authorize(self, url: BlobUrl) -> tuple[BlobUrl, dict[str, str]]:
        """The URL to request (with a SAS) and the headers to send (a bearer token) for ``url``."""
        if url.has_sas:
            return url, {}
        key = self.key_for(url.account)
        if key is not None:
            with self._lock:
                sas, until = self._signed.get((url.account, url.container), ("", 0.0))
                if until - time.time() < 600:
                    sas = _container_sas(url, key)
                    self._signed[url.account, url.container] = (sas, time.time() + KEY_SAS_LIFETIME.total_seconds())
            return dataclasses.replace(url, query=sas), {}
        return url, {"Authorization": f"Bearer {self.bearer(url)}"}

    def bearer(self, url: BlobUrl) -> str:
        """A current Microsoft Entra access token for Azure Storage (refreshed five minutes before expiry)."""
        with self._lock:
            if self._token is None or self._token.expires_on - time.time() < 300:
                credential = self.credential
                if credential is None:
                    credential = self.credential = _default_credential(url)
                try:
                    self._token = credential.get_token(STORAGE_SCOPE)
                except Exception as exc:  # azure-identity raises its own ClientAuthenticationError family
                    raise RemoteError(
                        f"no credentials: the URL has no SAS token, no account key is set, and Microsoft Entra "
                        f"sign-in failed ({type(exc).__name__})", image=url.display,
                        hint="pass a SAS URL (az disk grant-access --access-level Read), or --account-key / "
                             "AZURE_STORAGE_KEY, or sign in with az login") from None
            return str(self._token.token)


def _container_sas(url: BlobUrl, key: str) -> str:
    from azure.storage.blob import generate_container_sas

    now = datetime.datetime.now(datetime.UTC)
    try:
        return generate_container_sas(url.account, url.container, account_key=key, permission="rl",
                                      start=now - datetime.timedelta(minutes=5), expiry=now + KEY_SAS_LIFETIME)
    except (ValueError, TypeError) as exc:  # not base64, wrong length
        raise RemoteError("the account key is not a valid storage account key", image=url.display,
                          hint="copy it again: az storage account keys list -n ACCOUNT") from exc


def _default_credential(url: BlobUrl) -> TokenCredential:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise RemoteError("the URL has no SAS token and no account key is set", image=url.display,
                          hint="pass a SAS URL or --account-key, or pip install azure-identity and az login") from None
    # Its chain logs each credential it tried as a warning; the one-line error below says what matters.
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    credential: TokenCredential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    return credential
