"""File-system formats, one module each; the registry is :data:`restorekit.fs.filesystem.FILESYSTEMS`."""

import restorekit.fs.filesystem  # noqa: F401  (the base module first, so a format module can be imported on its own)
