"""``babellens crossling run|report``: does a behaviour trained in one language show up in others?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from babellens.cli.loading import ModelArg
from babellens.cli.options import DbOpt, JsonOpt
from babellens.cli.output import console, print_json
from babellens.cli.progress import job_progress
from babellens.errors import BabelLensError, InvalidInputError

if TYPE_CHECKING:
    from babellens.crossling import ConceptSimilarity, ExperimentConfig, ExperimentReport
    from babellens.store import Database

app = typer.Typer(help="Cross-lingual transfer experiments.", no_args_is_help=True)


def _langs(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


TrainFileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--train-file",
        help="LANG=FILE (or FILE with one training language): a JSONL file of "
        '{"instruction", "answer"} pairs to train on instead of the model\'s own answers.',
    ),
]


def _train_files(specs: list[str] | None, train_langs: list[str]) -> dict[str, str]:
    """``LANG=FILE`` pairs (a bare FILE names the only training language), checked and absolute."""
    from babellens.crossling import read_training_file

    files = {}
    for spec in specs or []:
        lang, sep, path = spec.partition("=")
        if not sep:
            if len(train_langs) != 1:
                raise InvalidInputError(f"--train-file {spec}: say which language, e.g. de={spec}")
            lang, path = train_langs[0], spec
        if lang not in train_langs:
            raise InvalidInputError(
                f"--train-file {spec}: {lang!r} is not a training language here"
            )
        read_training_file(path)  # a bad file fails now, not after the base-model steps
        files[lang] = str(Path(path).resolve())
    return files


@app.command()
def run(
    model: ModelArg,
    behaviour: Annotated[str, typer.Option(help="Behaviour to train (caps).")] = "caps",
    train_lang: Annotated[str, typer.Option(help="Training language(s), comma separated.")] = "en",
    eval_langs: Annotated[
        str, typer.Option(help="Evaluation languages, comma separated.")
    ] = "en,ru,bg,de,es,fr",
    prompts: Annotated[
        int, typer.Option(min=1, max=1000, help="Held-out prompts per language.")
    ] = 32,
    max_new_tokens: Annotated[int, typer.Option(min=1, max=1024, help="Answer length.")] = 64,
    steps: Annotated[int, typer.Option(min=1, help="LoRA training steps.")] = 60,
    train_examples: Annotated[
        int, typer.Option(min=1, help="Training instructions answered by the base model.")
    ] = 48,
    vectors: Annotated[bool, typer.Option(help="Compare concept vectors per language.")] = True,
    steering: Annotated[bool, typer.Option(help="Cross-language steering curves.")] = True,
    lens_targets: Annotated[
        str, typer.Option(help="Logit-lens target languages, comma separated ('' to skip).")
    ] = "de,ru,zh,ja",
    train_file: TrainFileOpt = None,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Train LoRA in the training language(s) and measure the behaviour in every evaluation
    language, as a job (resume it with `babellens jobs resume ID`)."""
    from babellens.cli.scan_cmd import run_foreground
    from babellens.crossling import LoraConfig
    from babellens.crossling.config import default_rates
    from babellens.store import open_database

    config = _experiment_config(
        behaviour=behaviour,
        train_langs=_langs(train_lang),
        eval_langs=_langs(eval_langs),
        train_files=_train_files(train_file, _langs(train_lang)),
        train_examples=train_examples,
        lora=LoraConfig(steps=steps),
        rates=default_rates(prompts, max_new_tokens),
        vectors=vectors,
        steering=steering,
        logit_lens_targets=_langs(lens_targets),
    )
    database = open_database(db)
    params = config.model_dump(mode="json")
    job = run_foreground(database, "crossling", model, params, quiet=json, unit="steps")
    _show(database, job.id, json=json)


def _experiment_config(**fields: Any) -> ExperimentConfig:
    from babellens.crossling import ExperimentConfig

    try:
        return ExperimentConfig(**fields)
    except ValidationError as exc:
        raise InvalidInputError(f"bad experiment settings: {exc.errors()[0]['msg']}") from None


def _show(database: Database, run_id: int, *, json: bool) -> None:
    """The stored report of a finished experiment, as JSON or as tables."""
    from babellens.crossling import ExperimentReport
    from babellens.store import ReportStore

    report = ReportStore(database).get(run_id, ExperimentReport)
    if json:
        print_json(report)
    else:
        print_report(report, run_id)


@app.command()
def extend(
    run_id: Annotated[int, typer.Argument(help="The experiment's job id.", min=1)],
    train_lang: Annotated[str, typer.Option(help="Further training language(s), comma separated.")],
    train_file: TrainFileOpt = None,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Add LoRA conditions to a finished experiment: only the new adapters are trained and
    measured, every other step comes from the run's cache, and the report gains their rows."""
    from babellens.cli.job_lookup import job_of_kind
    from babellens.crossling.experiment import extended_config
    from babellens.jobs import run_job
    from babellens.store import JobStore, open_database

    database = open_database(db)
    jobs = JobStore(database)
    job = job_of_kind(database, run_id, "crossling", "crossling experiment", done=False)
    config = extended_config(
        job.params, _langs(train_lang), _train_files(train_file, _langs(train_lang))
    )
    jobs.reopen(run_id, config.model_dump(mode="json"))
    with job_progress(f"crossling {job.model} (+{train_lang})", "steps", enabled=not json) as bar:
        finished = run_job(database, run_id, on_progress=bar)
    if finished.status != "done":
        first = (finished.error or finished.status).splitlines()[0]
        raise BabelLensError(f"job {run_id} {finished.status}: {first}")
    _show(database, run_id, json=json)


@app.command()
def report(
    run_id: Annotated[int, typer.Argument(help="The experiment's job id.", min=1)],
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show a finished experiment: rates, transfer, vector similarity, steering, timings."""
    from babellens.cli.job_lookup import job_of_kind
    from babellens.store import open_database

    database = open_database(db)
    job_of_kind(database, run_id, "crossling", "crossling experiment", done=True)
    _show(database, run_id, json=json)


@app.command()
def adapters(
    model: Annotated[str | None, typer.Option(help="Only adapters of this base model.")] = None,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Adapters trained by finished experiments; load one with
    `babellens.jobs.crossling_adapters.load_adapter(db, ID)`."""
    from babellens.jobs.crossling_adapters import list_adapters
    from babellens.store import open_database

    found = list_adapters(open_database(db), model)
    if json:
        print_json(found)
        return
    table = Table("id", "base model", "behaviour", "language", "steps", "final loss", "folder")
    for a in found:
        loss = "" if a.final_loss is None else f"{a.final_loss:.3f}"
        table.add_row(a.id, a.model, a.behaviour, a.lang, str(a.steps), loss, a.path)
    console.print(table if found else "no adapters yet: `babellens crossling run MODEL` trains one")


def print_report(report: ExperimentReport, run_id: int) -> None:
    config = report.config
    langs = config.eval_langs
    table = Table(
        "condition",
        *langs,
        title=f"{config.behaviour} rate (%) on {report.model}, "
        f"{config.rates.prompts} prompts per language (run {run_id})",
    )
    for c in report.conditions:
        table.add_row(
            c.condition,
            *[
                f"{c.rates[ev].mean:.1f} [{c.rates[ev].low:.0f}–{c.rates[ev].high:.0f}]"
                for ev in langs
            ],
        )
    for train, row in report.transfer.items():
        table.add_row(f"transfer {train}", *[f"{row[ev]:+.1f}" for ev in langs])
    for c in report.conditions:
        shares = [c.rates[ev].in_language for ev in langs]
        if any(x is not None for x in shares):
            table.add_row(
                f"{c.condition}: % in its language",
                *["—" if x is None else f"{x:.0f}" for x in shares],
            )
    console.print(table)
    if report.similarity is not None:
        _print_similarity(report.similarity)
    if report.steering:
        curves = Table(
            "answers in",
            "vector",
            *[f"×{c:g}" for c in config.steer_coefficients],
            title=f"steering the base model at layer {report.steering[0].layer} (% {config.behaviour})",
        )
        for curve in report.steering:
            curves.add_row(curve.lang, curve.vector_lang, *[f"{r.mean:.0f}" for r in curve.rates])
        console.print(curves)
    for r in report.recovery:
        verdict = "recovered" if r.recovered else "not recovered"
        console.print(
            f"lora-{r.adapter_lang} in {r.lang}, steered with the {r.vector_lang} vector ×{r.coefficient:g}: "
            f"{r.before.mean:.1f}% → {r.after.mean:.1f}% ({verdict})"
        )
    console.print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in report.timings_s.items()))


def _print_similarity(sim: ConceptSimilarity) -> None:
    n = len(sim.langs)

    def off_diagonal(m: list[list[float]]) -> float:
        return sum(m[i][j] for i in range(n) for j in range(n) if i != j) / max(n * (n - 1), 1)

    table = Table(
        "layer",
        "mean cosine across languages",
        "shuffled control",
        title=f"{sim.concept} vectors, {', '.join(sim.langs)}",
    )
    for layer in sim.layers:
        table.add_row(
            str(layer),
            f"{off_diagonal(sim.cosine[layer]):.2f}",
            f"{off_diagonal(sim.control[layer]):.2f}",
        )
    console.print(table)
