"""The base of every parameter model: what a job kind, an analysis config or a request accepts.

It lives at the bottom of the package so that analyses can declare the parameters their job
kinds take without importing the jobs layer. Unknown fields are an error, never ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["JobParams"]


class JobParams(BaseModel):
    """Base of every kind's parameter model: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")
