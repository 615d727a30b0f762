"""Cross-lingual experiments: the list of runs, a launcher, and each run's report."""

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from babellens.crossling.config import ExperimentConfig, default_rates
from babellens.crossling.lora import LoraConfig
from babellens.crossling.report import ExperimentReport
from babellens.data.prompts import instruction_languages
from babellens.errors import InvalidInputError
from babellens.models.bundled import BUNDLED_MODELS
from babellens.store import Job, JobStore, ReportStore
from babellens.web.charts import crossling_charts
from babellens.web.deps import DbDep, JobId, RunnerDep, SettingsDep, require_token
from babellens.web.pages import page
from babellens.web.queries import finished_job
from babellens.web.routes.jobs import check_model
from babellens.web.schemas import Chart

router = APIRouter()

_Lang = str  # checked against the bundled instruction files, which may grow


class CrosslingPage(BaseModel):
    runs: list[Job] = Field(description="Experiments, newest first, in any state")
    models: list[str] = Field(description="Bundled aliases to suggest")
    languages: list[str] = Field(description="Languages with bundled instructions")
    auth_required: bool


class ExperimentRequest(BaseModel):
    """What the launcher asks for; the rest of the experiment keeps its defaults."""

    model: str = Field(max_length=300)
    behaviour: str = Field("caps", max_length=40)
    train_langs: list[_Lang] = Field(default_factory=lambda: ["en"], min_length=1, max_length=3)
    eval_langs: list[_Lang] = Field(
        default_factory=lambda: ["en", "ru", "bg", "de", "es", "fr"], min_length=1, max_length=12
    )
    prompts: int = Field(32, ge=1, le=200, description="Held-out prompts per language")
    max_new_tokens: int = Field(64, ge=1, le=256)
    steps: int = Field(60, ge=1, le=2000, description="LoRA training steps")


class ExtendRequest(BaseModel):
    train_langs: list[_Lang] = Field(min_length=1, max_length=3, description="Languages to add")


class ReportPage(BaseModel):
    job: Job
    report: ExperimentReport
    charts: list[Chart] = Field(default_factory=list, description="What the charts plot")


@page(router, "/crossling", "crossling.html", title="Cross-lingual", nav=27)
def crossling_page(db: DbDep, settings: SettingsDep) -> CrosslingPage:
    return CrosslingPage(
        runs=JobStore(db).list(kind="crossling", limit=100),
        models=list(BUNDLED_MODELS),
        languages=instruction_languages(),
        auth_required=settings.auth_required,
    )


@router.post(
    "/api/crossling/experiments",
    response_model=Job,
    status_code=201,
    tags=["crossling"],
    dependencies=[Depends(require_token)],
)
def start_experiment(
    db: DbDep, runner: RunnerDep, settings: SettingsDep, body: ExperimentRequest
) -> Job:
    """Queue a transfer experiment (LoRA in the training languages, rates in every evaluation
    language, concept vectors, steering, logit lens); follow it at /jobs/{id}."""
    check_model(body.model, settings)
    known = set(instruction_languages())
    unknown = sorted({*body.train_langs, *body.eval_langs} - known)
    if unknown:
        raise InvalidInputError(
            f"no bundled instructions in {', '.join(unknown)}: use {', '.join(sorted(known))}"
        )
    if body.max_new_tokens > settings.max_new_tokens:
        raise InvalidInputError(f"max_new_tokens is limited to {settings.max_new_tokens}")
    config = ExperimentConfig(
        behaviour=body.behaviour,
        train_langs=body.train_langs,
        eval_langs=body.eval_langs,
        lora=LoraConfig(steps=body.steps),
        rates=default_rates(body.prompts, body.max_new_tokens),
    )
    from babellens.crossling.behaviours import get_behaviour

    get_behaviour(config.behaviour)
    job = JobStore(db).create("crossling", body.model, config.model_dump(mode="json"))
    runner.submit(job.id)
    return job


@router.post(
    "/api/crossling/experiments/{job_id}/extend",
    response_model=Job,
    status_code=202,
    tags=["crossling"],
    dependencies=[Depends(require_token)],
)
def extend_experiment(db: DbDep, runner: RunnerDep, job_id: JobId, body: ExtendRequest) -> Job:
    """Add LoRA conditions (training languages) to a finished experiment: it runs again from its
    cache, so only the new adapters are trained and measured; follow it at /jobs/{id}."""
    from babellens.crossling.experiment import extended_config

    jobs = JobStore(db)
    job = jobs.get(job_id)
    if job.kind != "crossling":
        raise InvalidInputError(f"job {job_id} is a {job.kind} job, not a crossling experiment")
    config = extended_config(job.params, body.train_langs)
    job = jobs.reopen(job_id, config.model_dump(mode="json"))
    runner.submit(job_id)
    return job


@page(router, "/crossling/{job_id}", "crossling_report.html", title="Cross-lingual experiment")
def report_page(db: DbDep, job_id: JobId) -> ReportPage:
    job = finished_job(db, job_id, "crossling", "cross-lingual experiment")
    report = ReportStore(db).get(job_id, ExperimentReport)
    return ReportPage(job=job, report=report, charts=crossling_charts(report))
