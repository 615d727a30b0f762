"""The home page: models analysed, recent runs, and a form that starts a new analysis."""

from fastapi import APIRouter

from babellens.jobs.registry import job_kind_spec, job_kinds
from babellens.models.bundled import BUNDLED_MODELS
from babellens.store import JobStore
from babellens.web.deps import DbDep, SettingsDep
from babellens.web.job_forms import job_form
from babellens.web.pages import page
from babellens.web.queries import model_cards
from babellens.web.schemas import HomePage

router = APIRouter()


@page(router, "/", "home.html", title="Models", nav=10, json_path="/index.json")
def home(db: DbDep, settings: SettingsDep) -> HomePage:
    return HomePage(
        models=model_cards(db),
        recent_jobs=JobStore(db).list(limit=8),
        job_kinds=job_kinds(),
        # the neuron scan first: it is what every other page reads
        job_forms=[
            job_form(k)
            for k in map(job_kind_spec, sorted(job_kinds(), key=lambda n: (n != "scan", n)))
            if k.web
        ],
        suggested_models=list(BUNDLED_MODELS),
        auth_required=settings.auth_required,
    )
