"""mdraid (placeholder until implemented)."""

from __future__ import annotations

from fs.container import Pool


class MdraidPool(Pool):
    """mdraid."""

    type_name = "mdraid"
