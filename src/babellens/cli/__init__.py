"""The ``babellens`` command. Thin: parses, calls the library, prints (``--json`` for machines)."""

from babellens.cli.app import app, main

__all__ = ["app", "main"]
