"""``python -m restorekit`` runs the restorekit CLI."""

from restorekit.cli import main

main()
