"""``babellens demo``: fetch the default model, scan the bundled corpus, show what it found."""

from __future__ import annotations

from typing import Annotated

import typer

from babellens.analyses.neuron_scan.scan import ScanConfig
from babellens.analyses.next_token_neurons import NextTokenConfig
from babellens.analyses.token_trace import trace_top_neurons
from babellens.cli.inspect_cmd import print_summary, print_trace
from babellens.cli.loading import dtype_note
from babellens.cli.options import DbOpt, DtypeOpt
from babellens.cli.output import byte_progress, console
from babellens.cli.scan_cmd import print_neuron, run_foreground
from babellens.cli.serve_cmd import serve_app
from babellens.jobs import cached_model
from babellens.models.bundled import DEFAULT_MODEL
from babellens.models.fetch import pull
from babellens.models.token_text import token_pieces
from babellens.store import Database, JobStore, ResultStore, open_database
from babellens.web.settings import WebSettings

DEMO_PROMPT = "The capital of France is Paris. Die Hauptstadt von Deutschland ist Berlin."


def _reuse_or_run(db: Database, kind: str, model: str, params: dict, unit: str) -> int:
    """A finished job with the same parameters is reused, so a second demo starts at once."""
    store = JobStore(db)

    def same(
        a: dict, b: dict
    ) -> bool:  # how often a job saves its state does not change its result
        return {k: v for k, v in a.items() if k != "checkpoint_every_s"} == {
            k: v for k, v in b.items() if k != "checkpoint_every_s"
        }

    for job in store.list(status="done", kind=kind, limit=200):
        if job.model == model and same(job.params, params):
            console.print(f"[dim]reusing {kind} job {job.id} (same model and settings)[/]")
            return job.id
    return run_foreground(db, kind, model, params, quiet=False, unit=unit).id


def demo(
    model: Annotated[str, typer.Option(help="Bundled alias to analyse.")] = DEFAULT_MODEL,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Exit after the analyses.")] = False,
    tokens: Annotated[
        int | None, typer.Option(min=1, help="Scan at most this many corpus tokens.")
    ] = None,
    prompt: Annotated[str, typer.Option(help="Prompt to trace.")] = DEMO_PROMPT,
    dtype: DtypeOpt = "auto",
    db: DbOpt = None,
) -> None:
    """The tour: pull the default model, scan the bundled corpus, find next-token neurons."""
    with byte_progress(f"fetching {model}") as progress:
        pull(model, progress=progress)
    scan_config = ScanConfig(max_tokens=tokens, dtype=dtype)  # type: ignore[arg-type]
    lm = cached_model(model, dtype=scan_config.dtype)
    console.print(f"[dim]{model} runs in {dtype_note(scan_config.dtype, lm)}[/]")
    summary = lm.summary()
    print_summary(summary)
    print_trace(trace_top_neurons(lm, prompt, summary.n_layers // 2, k=3))

    database = open_database(db)
    scan_params = scan_config.model_dump()
    scan_job = _reuse_or_run(database, "scan", model, scan_params, "tokens")
    last_quarter = list(range(summary.n_layers - max(1, summary.n_layers // 4), summary.n_layers))
    token_job = _reuse_or_run(
        database,
        "next_token_neurons",
        model,
        NextTokenConfig(layers=last_quarter, dtype=scan_config.dtype).model_dump(),
        "layers",
    )

    results = ResultStore(database)
    tokenizer = lm.tokenizer
    record = None
    for candidate in results.top_token_neurons(token_job, None, 50):
        record = results.neuron(
            scan_job, candidate.layer, candidate.neuron, lambda ids: token_pieces(tokenizer, ids)
        )
        record.congruence = candidate
        if record.max > 0:  # one that actually fired on the corpus: its examples mean something
            break
    assert record is not None
    console.rule(f"the strongest next-token neuron of {model} that fires on the corpus")
    print_neuron(record)
    console.print(
        f"\nExplore: [bold]babellens next-token-neurons {model} --top 20[/], "
        f"[bold]babellens neuron {model} LAYER INDEX[/], [bold]babellens trace {model} --text '...' --layer L --top 5[/]."
    )
    if not no_serve:
        port = WebSettings.from_env().port
        slug = model.replace("/", "--")
        console.print(
            f"This neuron in the web app: http://127.0.0.1:{port}/models/{slug}/layers/{record.layer}/neurons/{record.neuron}"
        )
        serve_app(db=db)
