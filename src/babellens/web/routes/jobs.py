"""Jobs: list, one job's page, start, cancel, and a live progress stream (server-sent events)."""

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from babellens.data.corpus import BUNDLED_CORPUS
from babellens.errors import InvalidInputError, InvalidParametersError
from babellens.jobs.registry import job_kind_spec, job_kinds
from babellens.models.bundled import BUNDLED_MODELS
from babellens.store import Database, Job, JobStore
from babellens.web.deps import DbDep, JobId, RunnerDep, SettingsDep, require_token
from babellens.web.explain_limits import check_explain_job
from babellens.web.pages import page
from babellens.web.queries import NotFoundError
from babellens.web.schemas import JobKindInfo, JobKindList, JobList, JobRequest
from babellens.web.settings import WebSettings

router = APIRouter()

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,95}$")
_HUB_DATASET = re.compile(
    r"^[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$"
)  # a name, never a path
_TERMINAL = {"done", "failed", "cancelled"}
_DEFAULT_WEB_TOKENS = 20_000  # a scan started from the web without a budget: about a minute


def _get(db: Database, job_id: int) -> Job:
    try:
        return JobStore(db).get(job_id)
    except InvalidInputError as exc:
        raise NotFoundError(str(exc)) from exc


def _under_roots(spec: str, settings: WebSettings) -> bool:
    try:
        path = Path(spec).expanduser().resolve()
        roots = [Path(root).expanduser().resolve() for root in settings.model_roots]
    except (ValueError, RuntimeError, OSError):  # NUL bytes, ~unknown-user, unreadable roots
        return False
    return any(path.is_relative_to(root) for root in roots)


def check_model(model: str, settings: WebSettings) -> None:
    """Bundled aliases and hub ids are fine; a local path only under an allowed root."""
    try:
        local = Path(model).exists()
    except (ValueError, OSError):
        local = False
    if model in BUNDLED_MODELS or (_HUB_ID.match(model) and ".." not in model and not local):
        return
    if _under_roots(model, settings):
        return
    raise InvalidInputError(
        f"{model!r} is neither a bundled model nor a hub id; local paths must lie under a folder in BABELLENS_MODEL_ROOTS"
    )


def _check_corpus(corpus: str, settings: WebSettings) -> None:
    hub_dataset = corpus.startswith("hf:") and _HUB_DATASET.match(corpus[3:]) and ".." not in corpus
    if corpus == BUNDLED_CORPUS or hub_dataset or _under_roots(corpus, settings):
        return
    raise InvalidInputError(
        f"corpus {corpus!r}: use {BUNDLED_CORPUS!r}, hf:NAME, or a path under BABELLENS_MODEL_ROOTS"
    )


def _merged_params(body: JobRequest) -> dict[str, Any]:
    """``params`` with the top-level shorthands folded in (a field given twice must agree)."""
    params = dict(body.params)
    for name in ("corpus", "max_tokens", "layers"):
        value = getattr(body, name)
        if value is None:
            continue
        if name in params and params[name] != value:
            raise InvalidInputError(f"{name} is given twice, with different values")
        params[name] = value
    return params


_PATH_SUFFIXES = ("_dir", "_file", "_files", "_path")


def _apply_web_limits(
    kind: str, params: dict[str, Any], fields: set[str], settings: WebSettings
) -> None:
    """What the web may ask for beyond the kind's own limits: corpora and files under the allowed
    roots, a scan's token budget within the operator's cap."""
    if "corpus" in fields and params.get("corpus") is not None:
        _check_corpus(params["corpus"], settings)
    for name in fields:
        value = params.get(name)
        if not name.endswith(_PATH_SUFFIXES) or not value:
            continue
        paths = (
            value.values()
            if isinstance(value, dict)
            else [value]
            if isinstance(value, str)
            else value
        )
        for path in paths:
            if not _under_roots(str(path), settings):
                raise InvalidInputError(
                    f"{name}: {path!r} is not under a folder in BABELLENS_MODEL_ROOTS"
                )
    if kind == "scan":
        budget = params.get("max_tokens")
        if budget is None:
            params["max_tokens"] = min(settings.max_job_tokens, _DEFAULT_WEB_TOKENS)
        elif isinstance(budget, int) and budget > settings.max_job_tokens:
            raise InvalidInputError(f"max_tokens is limited to {settings.max_job_tokens}")


def job_params(body: JobRequest, settings: WebSettings) -> dict[str, Any]:
    """The validated parameters of a job the web starts, as the job will read them."""
    try:
        kind = job_kind_spec(body.kind)
    except InvalidInputError as exc:
        raise InvalidParametersError(f"kind: {exc}") from None
    if not kind.web:
        raise InvalidInputError(
            f"job kind {body.kind!r} is started from its own page or the CLI, not POST /api/jobs"
        )
    params = _merged_params(body)
    _apply_web_limits(kind.name, params, set(kind.params.model_fields), settings)
    return kind.validate(params).model_dump(mode="json")


@router.get("/api/job-kinds", response_model=JobKindList, tags=["jobs"])
def list_job_kinds() -> JobKindList:
    """Every registered job kind with the JSON schema of its parameters."""
    return JobKindList(kinds=job_kind_infos())


def job_kind_infos() -> list[JobKindInfo]:
    return [job_kind_spec(name).info() for name in job_kinds()]


@page(router, "/jobs", "jobs.html", title="Jobs", nav=30)
def jobs_page(db: DbDep, settings: SettingsDep) -> JobList:
    return JobList(jobs=JobStore(db).list(limit=100), auth_required=settings.auth_required)


@page(router, "/jobs/{job_id}", "job.html", title="Job")
def job_page(db: DbDep, job_id: JobId) -> Job:
    return _get(db, job_id)


@router.post(
    "/api/jobs",
    response_model=Job,
    status_code=201,
    tags=["jobs"],
    dependencies=[Depends(require_token)],
)
def start_job(db: DbDep, runner: RunnerDep, settings: SettingsDep, body: JobRequest) -> Job:
    """Queue an analysis and start it in the background; follow it at /jobs/{id}."""
    check_model(body.model, settings)
    params = job_params(body, settings)
    if body.kind == "explain":
        check_explain_job(db, body.model, params, settings)
    job = JobStore(db).create(body.kind, body.model, params)
    runner.submit(job.id)
    return job


@router.post(
    "/api/jobs/{job_id}/cancel",
    response_model=Job,
    tags=["jobs"],
    dependencies=[Depends(require_token)],
)
def cancel_job(db: DbDep, job_id: JobId) -> Job:
    """Ask a queued or running job to stop (it keeps its checkpoint)."""
    _get(db, job_id)
    return JobStore(db).request_cancel(job_id)


@router.get(
    "/api/jobs/{job_id}/events",
    tags=["jobs"],
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(request: Request, db: DbDep, job_id: JobId) -> StreamingResponse:
    """Server-sent events: the job's record twice a second until it ends."""
    await run_in_threadpool(_get, db, job_id)

    async def stream() -> AsyncIterator[str]:
        while True:
            job = await run_in_threadpool(_get, db, job_id)
            yield f"event: progress\ndata: {job.model_dump_json()}\n\n"
            if job.status in _TERMINAL or await request.is_disconnected():
                yield f"event: end\ndata: {job.status}\n\n"
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
