"""The base of every stored report: a pydantic model with a kind and a schema version.

An analysis declares its report by subclassing :class:`Report` (so it needs nothing from the
store); the store keeps it with its kind and version and refuses to misread another version.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

__all__ = ["Report"]


class Report(BaseModel):
    """Base of a stored report: subclasses set ``report_kind`` and ``report_version``."""

    report_kind: ClassVar[str] = ""
    report_version: ClassVar[int] = 1
