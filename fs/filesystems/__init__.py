"""File-system formats, one module each; the registry is :data:`fs.filesystem.FILESYSTEMS`."""

import fs.filesystem  # noqa: F401  (the base module first, so a format module can be imported on its own)
