"""Partition table formats, one module each; the registry is :data:`restorekit.fs.partition.PARTITION_TABLES`."""

import restorekit.fs.partition  # noqa: F401  (the base module first, so a format module can be imported on its own)
