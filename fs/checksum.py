"""CRC-32C (Castagnoli), as VHDX, XFS v5 and LVM thin metadata checksum their structures."""

from __future__ import annotations


def crc32c(data: bytes, value: int = 0) -> int:
    """The CRC-32C of ``data``, continuing from ``value``. (The ``crc32c`` package is imported on first use: its
    import costs ~20 ms (``importlib.metadata``) that runs reading none of these formats should not pay.)"""
    import crc32c as backend

    return backend.crc32c(data, value)
