"""Disks where they live: blobs in Azure Storage read range by range, never downloaded whole, never written.

:func:`~restorekit.fs.remote.url.is_url` tells a URL from a local path; :class:`~restorekit.fs.remote.blob.BlobSource`
is a blob as a :class:`~restorekit.fs.stream.Source`; :mod:`~restorekit.fs.remote.auth` picks SAS, key or Entra ID;
:mod:`~restorekit.fs.remote.http` is the one client, which sends only GET and HEAD.
"""
