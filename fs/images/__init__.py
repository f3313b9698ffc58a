"""Image formats, one module each; the registry is :data:`fs.image.IMAGE_FORMATS`."""
