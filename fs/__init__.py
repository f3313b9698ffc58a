"""Read-only access to recovery-point disks: images, volumes, file systems and files."""
