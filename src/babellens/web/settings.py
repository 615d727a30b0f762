"""The web app's settings: one table, each field documented (``docs/web.md`` lists them all).

Every field can be set from the environment as ``BABELLENS_<NAME>`` (upper case), and the ``serve``
command's options override the environment.
"""

from __future__ import annotations

import os
from ipaddress import ip_address

from pydantic import BaseModel, Field, ValidationError, model_validator

from babellens.errors import InvalidInputError

__all__ = ["WebSettings"]


class WebSettings(BaseModel):
    db: str | None = Field(
        None, description="Database URL (SQLite file or PostgreSQL); default: the user database"
    )
    host: str = Field("127.0.0.1", description="Interface to bind; loopback unless a token is set")
    port: int = Field(8000, ge=1, le=65535, description="TCP port")
    token: str | None = Field(
        None, description="Access token that mutating routes require when bound beyond loopback"
    )
    max_prompt_chars: int = Field(
        4000, ge=1, description="Longest prompt text a live query accepts, in characters"
    )
    max_prompt_tokens: int = Field(
        512, ge=1, description="Longest prompt a live query runs, in tokens"
    )
    max_top_k: int = Field(50, ge=1, description="Largest k for per-token top neurons")
    max_page_size: int = Field(500, ge=1, description="Most rows one list page returns")
    max_job_tokens: int = Field(
        50_000_000, ge=1, description="Largest token budget a job started from the web may ask for"
    )
    job_workers: int = Field(1, ge=1, le=16, description="Jobs the app runs at the same time")
    model_roots: list[str] = Field(
        default_factory=list,
        description="Folders under which local model and corpus paths may be named (comma separated in the environment)",
    )
    max_coefficient: float = Field(
        200.0, gt=0, description="Largest steering coefficient (absolute value) a request may use"
    )
    max_new_tokens: int = Field(
        128, ge=1, description="Most tokens a steered generation may ask for"
    )
    executor: str = Field(
        "local",
        pattern="^(local|ray)$",
        description="Where web-started scans run: local threads or a Ray cluster",
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster address (auto, ray://host:10001); none starts a local instance",
    )
    ray_workers: int = Field(
        2, ge=1, le=1024, description="Ray actors per scan (each loads the model once)"
    )
    device: str = Field("cpu", description="Device for live queries (cpu, cuda, cuda:1, mps)")

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> WebSettings:
        if not self.loopback and not self.token:
            raise InvalidInputError(
                f"binding to {self.host} exposes the app: give --token or set BABELLENS_TOKEN"
            )
        return self

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def auth_required(self) -> bool:
        return not self.loopback

    @classmethod
    def from_env(cls, **overrides: object) -> WebSettings:
        """Settings from ``BABELLENS_*`` variables, then the given overrides (None = unset)."""
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = os.environ.get(f"BABELLENS_{name.upper()}")
            if raw is not None:
                values[name] = [p for p in raw.split(",") if p] if name == "model_roots" else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            raise InvalidInputError(f"setting {where}: {message}" if where else message) from None
