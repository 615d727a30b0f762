"""Steering: a playground (steered and unsteered side by side) and evaluation reports."""

from fastapi import APIRouter, Depends

from babellens.errors import InvalidInputError
from babellens.jobs.kinds import SteeringEvalParams
from babellens.steering import concept_names
from babellens.steering.evaluate import SteeringReport
from babellens.steering.library import list_vectors
from babellens.store import Job, JobStore, ReportStore
from babellens.web.charts import steering_charts
from babellens.web.deps import DbDep, JobId, LiveDep, RunnerDep, SettingsDep, require_token
from babellens.web.pages import page
from babellens.web.queries import NotFoundError, finished_job, model_card, model_cards
from babellens.web.schemas import EvaluationPage, SteeringPage, SteerRequest, SteerResult

router = APIRouter()


@page(router, "/steering", "steering.html", title="Steering", nav=25)
def steering_page(db: DbDep, settings: SettingsDep) -> SteeringPage:
    cards = model_cards(db)
    evaluations = [
        j for j in JobStore(db).list(kind="steering_eval", limit=50) if j.status == "done"
    ]
    return SteeringPage(
        models=cards,
        vectors={c.slug: list_vectors(c.model) for c in cards},
        concepts=concept_names(),
        evaluations=evaluations,
        max_coefficient=settings.max_coefficient,
        max_new_tokens=settings.max_new_tokens,
    )


@router.post(
    "/api/models/{slug}/steer",
    response_model=SteerResult,
    tags=["steering"],
    dependencies=[Depends(require_token)],
)
def steer(db: DbDep, live: LiveDep, slug: str, body: SteerRequest) -> SteerResult:
    """Unsteered and steered continuations of one prompt, side by side."""
    card = model_card(db, slug)
    for layer in body.layers or []:
        if not 0 <= layer < card.n_layers:
            raise NotFoundError(f"{card.model} has layers 0..{card.n_layers - 1}, not {layer}")
    return live.steer(card.model, body)


class EvaluationRequest(SteeringEvalParams):
    model: str


@router.post(
    "/api/steering/evaluations",
    response_model=Job,
    status_code=201,
    tags=["steering"],
    dependencies=[Depends(require_token)],
)
def start_evaluation(db: DbDep, runner: RunnerDep, body: EvaluationRequest) -> Job:
    """Queue a steering evaluation (dose-response, layer sweep, costs) for a scanned model."""
    card = model_card(db, body.model.replace("/", "--"))
    params = SteeringEvalParams(**body.model_dump(exclude={"model"}))
    if any(not abs(c) < 1e6 for c in params.coefficients):
        raise InvalidInputError("coefficients must be finite numbers below 1e6 in size")
    job = JobStore(db).create("steering_eval", card.model, params.model_dump())
    runner.submit(job.id)
    return job


@page(router, "/steering/evaluations/{job_id}", "steering_eval.html", title="Steering evaluation")
def evaluation_page(db: DbDep, job_id: JobId) -> EvaluationPage:
    job = finished_job(db, job_id, "steering_eval", "steering evaluation")
    report = ReportStore(db).get(job_id, SteeringReport)
    return EvaluationPage(job=job, report=report, charts=steering_charts(report))
