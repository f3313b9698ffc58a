"""ldm (placeholder until implemented)."""

from __future__ import annotations

from fs.container import Pool


class LdmPool(Pool):
    """ldm."""

    type_name = "ldm"
