"""lvm2 (placeholder until implemented)."""

from __future__ import annotations

from fs.container import Pool


class Lvm2Pool(Pool):
    """lvm2."""

    type_name = "lvm2"
