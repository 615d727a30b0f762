"""``babellens safety run|report``: refusal, sycophancy and hallucination directions per language."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from babellens.cli.loading import ModelArg
from babellens.cli.options import DbOpt, JsonOpt
from babellens.cli.output import console, print_json
from babellens.safety.config import SafetyParams

if TYPE_CHECKING:
    from babellens.safety import SafetyRate, SafetyReport

_FIELDS = SafetyParams.model_fields  # the defaults live in the parameter model only

app = typer.Typer(help="Safety concepts across languages.", no_args_is_help=True)


def _langs(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@app.command()
def run(
    model: ModelArg,
    concept: Annotated[
        str, typer.Option(help="refusal, sycophancy, hallucination (or a folder under --data-dir).")
    ] = "refusal",
    langs: Annotated[str, typer.Option(help="Languages, comma separated.")] = ",".join(
        _FIELDS["langs"].default_factory()
    ),  # type: ignore[misc]
    test_items: Annotated[
        int, typer.Option(min=2, help="Held-out items per language and cell.")
    ] = _FIELDS["test_items"].default,
    layers: Annotated[
        str, typer.Option(help="Layers to sweep, comma separated ('' = middle half).")
    ] = "",
    data_dir: Annotated[str | None, typer.Option(help="A folder of concept folders.")] = None,
    max_new_tokens: Annotated[
        int, typer.Option(min=1, max=256, help="Refusal answer length.")
    ] = _FIELDS["max_new_tokens"].default,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Build the concept's direction per language, compare them and measure their transfer, as a
    job (resume it with `babellens jobs resume ID`)."""
    from babellens.cli.scan_cmd import run_foreground
    from babellens.jobs.registry import validate_params
    from babellens.store import open_database

    raw = {
        "concept": concept,
        "langs": _langs(langs),
        "test_items": test_items,
        "layers": [int(x) for x in _langs(layers)] or None,
        "data_dir": data_dir,
        "max_new_tokens": max_new_tokens,
    }
    params = validate_params(SafetyParams, raw, what="safety run")
    database = open_database(db)
    job = run_foreground(
        database, "safety", model, params.model_dump(mode="json"), quiet=json, unit="steps"
    )
    _show(_load(database, job.id), job.id, json)


@app.command()
def report(
    run_id: Annotated[int, typer.Argument(help="The experiment's job id.", min=1)],
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show a finished safety experiment: base rates, cosines, transfer matrix, costs."""
    from babellens.cli.job_lookup import job_of_kind
    from babellens.store import open_database

    database = open_database(db)
    job_of_kind(database, run_id, "safety", "safety experiment", done=True)
    _show(_load(database, run_id), run_id, json)


def _load(database, job_id: int) -> SafetyReport:
    from babellens.safety import SafetyReport
    from babellens.store.reports import ReportStore

    return ReportStore(database).get(job_id, SafetyReport)


def _show(result: SafetyReport, job_id: int, json: bool) -> None:
    if json:
        print_json(result)
    else:
        print_report(result, job_id)


def _cell(rate: SafetyRate) -> str:
    return f"{rate.mean:.0f} [{rate.low:.0f}, {rate.high:.0f}]"


def print_report(r: SafetyReport, job_id: int) -> None:
    console.print(
        f"[bold]safety {r.concept}[/] of {r.model} (job {job_id}): layer {r.layer} chosen from "
        f"{r.layers[0]}..{r.layers[-1]}, {r.train_pairs} training pairs, {r.test_items} test items"
    )
    base = Table("lang", "harmful refused %" if r.kind == "instructions" else "P(matching) %")
    if r.kind == "instructions":
        base.add_column("harmless refused %")
        base.add_column("in language %")
    for b in r.base:
        cells = [b.lang, _cell(b.rate)]
        if r.kind == "instructions":
            cells += [_cell(b.harmless) if b.harmless else "", f"{b.in_language or 0:.0f}"]
        base.add_row(*cells)
    console.print(base)
    at = r.layers.index(r.layer)
    cos = Table("cosine", *r.langs, title=f"cosine at layer {r.layer} (shuffled-label control)")
    for i, lang in enumerate(r.langs):
        cos.add_row(
            lang,
            *(
                f"{r.cosine[r.layer][i][j]:.2f} ({r.control[r.layer][i][j]:.2f})"
                for j in range(len(r.langs))
            ),
        )
    console.print(cos if at >= 0 else "")
    for condition, matrix in r.transfer.items():
        table = Table(
            "direction \\ eval", *r.langs, title=f"{condition} (random direction in the last row)"
        )
        for lang, row in zip(r.langs, matrix, strict=True):
            table.add_row(lang, *(_cell(c) for c in row))
        table.add_row("random", *(_cell(c) for c in r.random[condition]))
        console.print(table)
    for condition, values in r.kl.items():
        pairs = ", ".join(
            f"{lang} {v:.3f} (random {rv:.3f})"
            for lang, v, rv in zip(r.langs, values, r.kl_random.get(condition, values), strict=True)
        )
        console.print(f"KL on neutral text, {condition}: {pairs}")
    if r.detector:
        console.print(
            "refusal detector agreement with hand labels: "
            + ", ".join(f"{d.lang} {d.agreement:.0f}% of {d.items}" for d in r.detector)
        )
    console.print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in r.seconds.items()))
