"""What an ``explain`` job started from the web may ask for beyond its parameter model's limits.

The kind's parameters accept any provider spec, and an ``openai:`` spec names a URL the server
would then call: from the web, the explainer and judge are the model-free ones or a bundled model
run in-process, and a server is named from the CLI. The corpus sample is held to the operator's
token cap, like a scan's budget. The dictionary and member are checked against the store before
the job exists, so a bad id or member is a 400 of one line, not a failed job.
"""

from __future__ import annotations

from typing import Any

from babellens.errors import InvalidInputError
from babellens.models.bundled import BUNDLED_MODELS
from babellens.store.database import Database
from babellens.web.settings import WebSettings

__all__ = ["check_explain_job"]

_LOCAL = "local:"


def _check_provider(field: str, spec: str, model_free: str) -> None:
    if spec == model_free or (spec.startswith(_LOCAL) and spec[len(_LOCAL) :] in BUNDLED_MODELS):
        return
    raise InvalidInputError(
        f"{field}: from the web use {model_free!r} or local:MODEL with a bundled model "
        f"({', '.join(BUNDLED_MODELS)}); name a server with `babellens explain --{field}`"
    )


def check_explain_job(
    db: Database, model: str, params: dict[str, Any], settings: WebSettings
) -> None:
    """Refuse, in one line, what a web-started explain job may not do or would fail on."""
    from babellens.jobs.explain_features import feature_members
    from babellens.jobs.explain_job import MODEL_FREE_EXPLAINER, MODEL_FREE_JUDGE

    _check_provider("explainer", params["explainer"], MODEL_FREE_EXPLAINER)
    _check_provider("judge", params["judge"], MODEL_FREE_JUDGE)
    if params["corpus_tokens"] > settings.max_job_tokens:
        raise InvalidInputError(f"corpus_tokens is limited to {settings.max_job_tokens}")
    feature_members(db, model, params["dictionary"], params["member"], params["units"])
