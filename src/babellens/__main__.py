"""``python -m babellens`` runs the CLI."""

from babellens.cli import main

main()
