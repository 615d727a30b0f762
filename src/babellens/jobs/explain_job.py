"""The ``explain`` job kind: explain and score all neurons of a layer, all features of a stored
dictionary (every member of a set, member by member, or one member), or a list of units.

Explainer and judge are named by one string each: ``tokens`` / ``keywords`` (model-free) or a
provider spec (``local:qwen2.5-coder-0.5b``, ``openai:http://127.0.0.1:8765/v1:MODEL``), whose
answers go through the request cache so a resumed job never asks twice. The estimated cost is
checked against ``max_calls`` / ``max_tokens`` before any work starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from babellens.autointerp.budget import check_budget, estimate_cost
from babellens.autointerp.explainers import Explainer, LLMExplainer, TokenStatsExplainer
from babellens.autointerp.pipeline import ExplainConfig, ExplainedUnit, explain_units
from babellens.autointerp.provider import ChatProvider, get_provider
from babellens.autointerp.sampling import SamplerConfig
from babellens.autointerp.scoring import SCORERS, Judge, KeywordJudge, LLMJudge
from babellens.autointerp.summary import summarize
from babellens.autointerp.units import NEURON_SOURCE, UnitRef, parse_unit
from babellens.capture.language_model import LanguageModel
from babellens.data.windows import Window
from babellens.errors import InvalidInputError
from babellens.jobs.context import JobContext
from babellens.jobs.explain_features import FeatureMember, feature_members
from babellens.jobs.explain_members import MemberPlan, explain_members
from babellens.jobs.ray_explain import ray_explain_units
from babellens.jobs.ray_fanout import local_control
from babellens.jobs.registry import JobParams, job_kind

__all__ = [
    "MODEL_FREE_EXPLAINER",
    "MODEL_FREE_JUDGE",
    "ExplainParams",
    "build_pair",
    "resolve_units",
    "run_explain",
]

MODEL_FREE_EXPLAINER = "tokens"
MODEL_FREE_JUDGE = "keywords"


class ExplainParams(JobParams):
    layer: int | None = Field(None, ge=0, le=1000, description="Explain every neuron of this layer")
    units: list[str] | None = Field(
        None, max_length=100_000, description="Or these units: LAYER/INDEX or SOURCE/LAYER/INDEX"
    )
    limit: int | None = Field(
        None, ge=1, le=1_000_000, description="Only the first N units (of each member of a set)"
    )
    dictionary: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="Or every feature of this stored dictionary or set (`babellens dict list`)",
    )
    member: str | None = Field(
        None,
        max_length=64,
        description="A set's member: its position (0, 1, ...) or its input hook (mlp_in.15); "
        "without it, every member of the set",
    )
    explainer: str = Field(
        MODEL_FREE_EXPLAINER,
        max_length=500,
        description="'tokens' (model-free) or a provider: local:ALIAS, openai:URL:MODEL",
    )
    judge: str = Field(
        MODEL_FREE_JUDGE,
        max_length=500,
        description="'keywords' (model-free) or a provider spec, as for the explainer",
    )
    scorers: list[str] = Field(default_factory=lambda: list(SCORERS), min_length=1, max_length=2)
    corpus: str | None = Field(
        None, max_length=1000, description="Corpus (default: the bundled one)"
    )
    corpus_tokens: int = Field(
        32_768, ge=256, le=10_000_000, description="Corpus tokens to sample from"
    )
    window_len: int = Field(64, ge=8, le=2048)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    batch_units: int = Field(16, ge=1, le=1024, description="Units per batch and checkpoint")
    max_calls: int | None = Field(None, ge=0, description="Refuse to start above this many calls")
    max_tokens: int | None = Field(
        None, ge=0, description="Refuse to start above this many estimated tokens"
    )
    concurrency: int = Field(4, ge=1, le=256, description="Requests in flight (openai providers)")
    cache: bool = Field(True, description="Cache provider answers on disk")
    seed: int = 0


def resolve_units(
    params: ExplainParams, n_layers: int, d_mlp: int, features: FeatureMember | None = None
) -> list[UnitRef]:
    """The units to explain: a layer's neurons, a dictionary member's features, or a list."""
    if features is not None:
        if params.layer is not None:
            raise InvalidInputError(
                "give a layer (--layer) or a dictionary (--dictionary), not both"
            )
        units = features.units(params.units)
        return units[: params.limit] if params.limit else units
    if (params.layer is None) == (params.units is None):
        raise InvalidInputError(
            "give either a layer (--layer), a dictionary (--dictionary) or a list of units (--units)"
        )
    if params.layer is not None:
        if params.layer >= n_layers:
            raise InvalidInputError(f"layer {params.layer} out of range: the model has {n_layers}")
        units = [UnitRef(source=NEURON_SOURCE, layer=params.layer, index=i) for i in range(d_mlp)]
    else:
        units = [parse_unit(u) for u in params.units or []]
    return units[: params.limit] if params.limit else units


def _provider(spec: str, params: ExplainParams, built: dict[str, ChatProvider]) -> ChatProvider:
    if spec not in built:
        from babellens.store.database import data_home

        options: dict[str, Any] = (
            {"concurrency": params.concurrency} if spec.startswith("openai:") else {}
        )
        cache = data_home() / "autointerp-cache" if params.cache else None
        built[spec] = get_provider(spec, cache_dir=cache, **options)
    return built[spec]


def build_pair(params: ExplainParams) -> tuple[Explainer, Judge]:
    """The explainer and judge the params name (one provider object when both name the same)."""
    built: dict[str, ChatProvider] = {}
    explainer: Explainer = (
        TokenStatsExplainer()
        if params.explainer == MODEL_FREE_EXPLAINER
        else LLMExplainer(_provider(params.explainer, params, built))
    )
    judge: Judge = (
        KeywordJudge()
        if params.judge == MODEL_FREE_JUDGE
        else LLMJudge(_provider(params.judge, params, built))
    )
    return explainer, judge


def _estimate(params: ExplainParams, n_units: int):
    return estimate_cost(
        n_units,
        params.sampler,
        params.scorers,
        llm_explainer=params.explainer != MODEL_FREE_EXPLAINER,
        llm_judge=params.judge != MODEL_FREE_JUDGE,
    )


@job_kind("explain", params=ExplainParams)  # web: babellens.web.explain_limits
def run_explain(ctx: JobContext) -> dict[str, Any]:
    """Explain and score units (Delphi-style sampling, detection and fuzzing, random baselines)."""
    from babellens.data.corpus import load_corpus
    from babellens.data.windows import make_windows
    from babellens.jobs.model_cache import cached_model

    params: ExplainParams = ctx.params  # type: ignore[assignment]
    members = feature_members(ctx.db, ctx.job.model, params.dictionary, params.member, params.units)
    lm = cached_model(ctx.job.model)
    n_layers, d_mlp = lm.adapter.n_layers, lm.adapter.d_mlp
    plans = [MemberPlan(m, resolve_units(params, n_layers, d_mlp, m)) for m in members or []]
    units = [u for p in plans for u in p.units] if plans else resolve_units(params, n_layers, d_mlp)
    cost = _estimate(params, len(units))
    check_budget(cost, params.max_calls, params.max_tokens)
    windows = make_windows(
        load_corpus(params.corpus),
        lm.tokenizer,
        window_len=params.window_len,
        max_tokens=params.corpus_tokens,
    )
    if plans:
        results, explainer, judge = _explain_features(ctx, params, lm, windows, plans)
    else:
        results, explainer, judge = _explain_neurons(ctx, params, lm, windows, units)
    summary = {
        "source": plans[0].member.source if plans else NEURON_SOURCE,
        "units": len(units),
        "explained": len(results),
        "skipped": len(units) - len(results),
        "explainer": explainer,
        "judge": judge,
        "estimated_calls": cost.calls,
        "scores": [s.model_dump() for s in summarize(results)],
        "executor": "ray" if ctx.ray is not None and not plans else "local",
    }
    return summary | ({"members": [p.member.member for p in plans]} if plans else {})


def _config(params: ExplainParams) -> ExplainConfig:
    return ExplainConfig(
        sampler=params.sampler,
        scorers=params.scorers,
        batch_units=params.batch_units,
        seed=params.seed,
    )


def _explain_neurons(
    ctx: JobContext,
    params: ExplainParams,
    lm: LanguageModel,
    windows: list[Window],
    units: list[UnitRef],
) -> tuple[list[ExplainedUnit], str, str]:
    """The explained (and stored) units, and the explainer's and judge's names. On Ray,
    explainer and judge are built inside every actor only (a local provider's model is not
    loaded here too)."""
    from babellens.store.explanations import ExplanationStore

    config = _config(params)
    if ctx.ray is not None:
        dumped = params.model_dump(mode="json")
        results = ray_explain_units(ctx.job.model, windows, units, dumped, config, ctx.ray, ctx)
        names = (
            (results[0].explainer, results[0].judge)
            if results
            else (params.explainer, params.judge)
        )
    else:
        explainer, judge = build_pair(params)
        results = explain_units(lm, windows, units, explainer, judge, config, local_control(ctx))
        names = (explainer.name, judge.name)
    ExplanationStore(ctx.db).save(ctx.job.id, ctx.job.model, results)
    return results, *names


def _explain_features(
    ctx: JobContext,
    params: ExplainParams,
    lm: LanguageModel,
    windows: list[Window],
    plans: list[MemberPlan],
) -> tuple[list[ExplainedUnit], str, str]:
    """Dictionary features, member by member, stored as each member finishes. Explained
    locally, also on Ray: their activations come from the stored dictionary, which the actors
    do not load."""
    explainer, judge = build_pair(params)
    results = explain_members(
        ctx.db,
        ctx.job.id,
        ctx.job.model,
        lm,
        windows,
        plans,
        explainer,
        judge,
        _config(params),
        local_control(ctx),
    )
    return results, explainer.name, judge.name
