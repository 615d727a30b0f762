"""``babellens explain`` (explain and score units as a job) and ``babellens explanations``
(search, export and import them)."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel
from rich.markup import escape
from rich.table import Table

from babellens.cli.loading import ModelArg
from babellens.cli.options import (
    DbOpt,
    ExecutorOpt,
    JsonOpt,
    RayAddressOpt,
    WorkersOpt,
    ray_options,
)
from babellens.cli.output import console, err_console, print_json
from babellens.cli.params import help_of
from babellens.errors import InvalidInputError
from babellens.jobs.explain_job import ExplainParams

if TYPE_CHECKING:
    from babellens.store.database import Database

__all__ = ["app", "explain"]

app = typer.Typer(help="Search, export and import unit explanations.", no_args_is_help=True)

ScorerOpt = Annotated[
    list[str] | None, typer.Option("--scorer", help="detection and/or fuzzing (default: both).")
]


def _from_job(field: str) -> Any:
    """An option documented by the explain job's parameter model, which also holds its default
    and checks its limits (one place for the CLI, the web form and the API)."""
    return typer.Option(help=help_of(ExplainParams, field) + ".")


_DEFAULTS = ExplainParams()
LayerOpt = Annotated[int | None, _from_job("layer")]
UnitsOpt = Annotated[
    str | None,
    typer.Option(
        help="Or these units, comma-separated: 3/17,3/40 or neuron/3/17; with --dictionary, "
        "feature indices: 5,17."
    ),
]
DictionaryOpt = Annotated[int | None, _from_job("dictionary")]
MemberOpt = Annotated[str | None, _from_job("member")]
LimitOpt = Annotated[int | None, _from_job("limit")]
ExplainerOpt = Annotated[str, _from_job("explainer")]
JudgeOpt = Annotated[str, _from_job("judge")]
CorpusOpt = Annotated[str | None, _from_job("corpus")]
CorpusTokensOpt = Annotated[int, _from_job("corpus_tokens")]
MaxCallsOpt = Annotated[int | None, _from_job("max_calls")]
MaxTokensOpt = Annotated[int | None, _from_job("max_tokens")]
ConcurrencyOpt = Annotated[int, _from_job("concurrency")]


def explain(
    model: ModelArg,
    layer: LayerOpt = None,
    units: UnitsOpt = None,
    dictionary: DictionaryOpt = None,
    member: MemberOpt = None,
    limit: LimitOpt = None,
    explainer: ExplainerOpt = _DEFAULTS.explainer,
    judge: JudgeOpt = _DEFAULTS.judge,
    scorer: ScorerOpt = None,
    corpus: CorpusOpt = None,
    corpus_tokens: CorpusTokensOpt = _DEFAULTS.corpus_tokens,
    max_calls: MaxCallsOpt = None,
    max_tokens: MaxTokensOpt = None,
    concurrency: ConcurrencyOpt = _DEFAULTS.concurrency,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = 2,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Explain and score units: detection and fuzzing, each beside a random explanation's score."""
    from babellens.cli.scan_cmd import run_foreground
    from babellens.store import open_database

    # every option named like a job parameter is that parameter, checked by the job's model
    given = {k: v for k, v in locals().items() if k in ExplainParams.model_fields}
    params = _explain_params(scorer, **given)
    database = open_database(db)
    _check_dictionary(database, model, params)
    ray = ray_options(executor, ray_address, workers)
    dumped = params.model_dump(exclude_none=True)
    finished = run_foreground(database, "explain", model, dumped, quiet=json, unit="units", ray=ray)
    if json:
        print_json(finished)
        return
    _print_scores(finished.id, finished.summary)


def _explain_params(scorer: list[str] | None, **options: Any) -> BaseModel:
    """The job's parameters: a layer, a dictionary or a list of units, and the scorers if named."""
    from babellens.jobs.registry import validate_params

    layer, units = options.get("layer"), options.get("units")
    if layer is not None and options.get("dictionary") is not None:
        raise InvalidInputError(
            "give a layer (--layer L) or a dictionary (--dictionary ID), not both"
        )
    if options.get("dictionary") is None and (layer is None) == (units is None):
        raise InvalidInputError(
            "give either a layer (--layer L), a dictionary (--dictionary ID) or a list of units "
            "(--units 3/17,3/40)"
        )
    listed = [u.strip() for u in units.split(",") if u.strip()] if units else None
    raw = {**options, "units": listed}
    if scorer:
        raw["scorers"] = scorer
    return validate_params(ExplainParams, raw, what="explain job")


def _check_dictionary(db: Database, model: str, params: BaseModel) -> None:
    """Refuse an unknown dictionary, another model's, or a missing member before any job exists."""
    from babellens.jobs.explain_features import feature_members

    raw = params.model_dump()
    feature_members(db, model, raw["dictionary"], raw["member"], raw["units"])


def _print_scores(job_id: int, s: dict) -> None:
    console.print(
        f"[green]✓[/] job {job_id}: {s['explained']} of {s['units']} units explained by "
        f"{escape(s['explainer'])}, judged by {escape(s['judge'])} ({s['skipped']} fired too rarely)"
    )
    table = Table(title="mean over units, 95% bootstrap interval over units")
    for col in (
        "scorer",
        "units",
        "explanation",
        "random explanation",
        "beats random",
        "examples/unit",
    ):
        table.add_column(col)
    for row in s["scores"]:
        rand = (
            "—"
            if row["random_mean"] is None
            else (f"{row['random_mean']:.3f} [{row['random_low']:.3f}, {row['random_high']:.3f}]")
        )
        table.add_row(
            row["scorer"],
            str(row["units"]),
            f"{row['mean']:.3f} [{row['low']:.3f}, {row['high']:.3f}]",
            rand,
            f"{row['wins']}/{row['units']}",
            f"{row['examples_per_unit']:g}",
        )
    console.print(table)


@app.command("search")
def search_cmd(
    model: ModelArg,
    query: Annotated[str, typer.Argument(help="Words, or a description when --meaning.")],
    meaning: Annotated[
        bool, typer.Option("--meaning", help="By meaning (embeddings), not words.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Find units by their explanations (full text over explanations and tokens, or by meaning)."""
    from babellens.autointerp.embedding import default_embedder
    from babellens.store import open_database
    from babellens.store.explanation_search import search_explanations

    embedder = default_embedder() if meaning else None
    hits = search_explanations(open_database(db), model, query, embedder=embedder, limit=limit)
    if json:
        print_json(hits)
        return
    table = Table(title=f"{len(hits)} units for {query!r} ({'meaning' if meaning else 'text'})")
    for col in ("unit", "match", "detection (random)", "explanation"):
        table.add_column(col)
    for h in hits:
        e = h.explanation
        det = "—" if e.detection is None else f"{e.detection:.2f} ({e.detection_random or 0:.2f})"
        table.add_row(e.unit.key, f"{h.match:.3f}", det, escape(e.text))
    console.print(table)


@app.command("export")
def export_cmd(
    model: ModelArg,
    out: Annotated[Path, typer.Argument(help="JSON file to write (Neuronpedia's export format).")],
    layer: Annotated[int, typer.Option(help="Layer to export.")],
    source: Annotated[str, typer.Option(help="neuron or a dictionary id.")] = "neuron",
    model_id: Annotated[str | None, typer.Option(help="modelId to write (default: MODEL).")] = None,
    db: DbOpt = None,
) -> None:
    """Write a layer's explanations in Neuronpedia's explanation export format."""
    from babellens.store import open_database
    from babellens.store.explanation_exchange import to_neuronpedia
    from babellens.store.explanations import ExplanationStore

    found = ExplanationStore(open_database(db)).for_layer(model, layer, source)
    if not found:
        raise InvalidInputError(
            f"no explanations of {model} layer {layer}: run `babellens explain` first"
        )
    records = to_neuronpedia([found[i] for i in sorted(found)], model_id or model)
    out.write_text(jsonlib.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    err_console.print(f"wrote {len(records)} explanations to {out}")


@app.command("import")
def import_cmd(
    model: ModelArg,
    path: Annotated[Path, typer.Argument(help="A Neuronpedia explanation export (JSON list).")],
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Read explanations in Neuronpedia's format into the store, under a new job."""
    from babellens.store import open_database
    from babellens.store.explanation_exchange import import_neuronpedia

    try:
        records = jsonlib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot read {path} as JSON ({exc}): give a Neuronpedia export"
        ) from None
    if not isinstance(records, list):
        raise InvalidInputError(f"{path} is not a JSON list of explanations")
    job_id = import_neuronpedia(open_database(db), model, records)
    if json:
        print_json({"job_id": job_id, "imported": len(records)})
    else:
        console.print(f"[green]✓[/] imported {len(records)} explanations as job {job_id}")
