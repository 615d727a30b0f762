"""One registry type behind every extension point (families, job kinds, metrics, concepts, ...).

A registry is a ``dict`` (so ``REG[name]``, ``in`` and iteration read as before) with a
decorator that registers, and a lookup whose error names what is registered: the message a user
sees for an unknown name is written once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from babellens.errors import InvalidInputError

__all__ = ["Registry"]

T = TypeVar("T")
F = TypeVar("F")


class Registry(dict[str, T]):
    """Named entries of one kind; ``what`` says the kind in error messages ("job kind")."""

    def __init__(self, what: str, hint: str = "") -> None:
        super().__init__()
        self.what = what
        self.hint = hint

    def add(self, name: str, entry: T) -> T:
        self[name] = entry
        return entry

    def decorator(self, name: str, wrap: Callable[[F], T] | None = None) -> Callable[[F], F]:
        """``@REG.decorator("name")``: registers the decorated object (or ``wrap(obj)``)."""

        def register(obj: F) -> F:
            self[name] = wrap(obj) if wrap is not None else obj  # type: ignore[assignment]
            return obj

        return register

    def lookup(self, name: str) -> T:
        """The entry called ``name``, or an error that lists the registered names."""
        try:
            return self[name]
        except KeyError:
            known = ", ".join(sorted(self)) or "none registered"
            hint = f" ({self.hint})" if self.hint else ""
            raise InvalidInputError(f"unknown {self.what} {name!r}: one of {known}{hint}") from None

    def names(self) -> list[str]:
        return sorted(self)
