"""Container formats, one module each; the registries are in :mod:`restorekit.fs.container`."""

import restorekit.fs.container  # noqa: F401  (the base module first, so a format module can be imported on its own)
