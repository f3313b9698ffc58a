"""storage-spaces (placeholder until implemented)."""

from __future__ import annotations

from fs.container import Pool


class StorageSpacesPool(Pool):
    """storage-spaces."""

    type_name = "storage-spaces"
