"""Container formats, one module each; the registries are in :mod:`fs.container`."""

import fs.container  # noqa: F401  (the base module first, so a format module can be imported on its own)
