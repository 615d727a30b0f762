"""Request dependencies: the app's database, live models, job runner and access check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request

from babellens.jobs import LocalRunner
from babellens.store import Database
from babellens.web.live import LiveQueries
from babellens.web.settings import WebSettings

__all__ = [
    "DbDep",
    "JobId",
    "LayerIndex",
    "LiveDep",
    "NeuronIndex",
    "RunnerDep",
    "SettingsDep",
    "require_token",
]


def _db(request: Request) -> Database:
    return request.app.state.db


def _live(request: Request) -> LiveQueries:
    return request.app.state.live


def _runner(request: Request) -> LocalRunner:
    return request.app.state.runner


def _settings(request: Request) -> WebSettings:
    return request.app.state.settings


DbDep = Annotated[Database, Depends(_db)]
LiveDep = Annotated[LiveQueries, Depends(_live)]
RunnerDep = Annotated[LocalRunner, Depends(_runner)]
SettingsDep = Annotated[WebSettings, Depends(_settings)]

# path parameters bounded so that no number reaches the database it cannot hold (int4)
JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Job id")]
LayerIndex = Annotated[int, Path(ge=0, le=100_000, description="Layer index")]
NeuronIndex = Annotated[int, Path(ge=0, le=10_000_000, description="Neuron index within the layer")]


def require_token(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    x_babellens_token: Annotated[str | None, Header()] = None,
) -> None:
    """Mutating routes: open on loopback; beyond it, the token must come with the request."""
    if not settings.auth_required:
        return
    given = x_babellens_token or (authorization or "").removeprefix("Bearer ").strip()
    if not given or not hmac.compare_digest(given.encode(), (settings.token or "").encode()):
        raise HTTPException(
            401, "this server needs its access token: send 'Authorization: Bearer TOKEN'"
        )
