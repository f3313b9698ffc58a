"""File-system formats, one module each; the registry is :data:`restorekit.fs.filesystem.FILESYSTEMS`, which
detects them with :mod:`restorekit.fs.filesystems.signatures` and imports a format's module once it is found."""
