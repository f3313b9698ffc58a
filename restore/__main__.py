"""``python -m restore`` runs the restorekit CLI."""

from restore.cli import main

main()
