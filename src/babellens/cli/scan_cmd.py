"""``babellens scan``, ``neuron`` and ``next-token-neurons``: the neuron dashboards' engine."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from babellens.analyses.neuron_scan.scan import ScanConfig
from babellens.analyses.next_token_neurons import NextTokenConfig, NextTokenNeuron
from babellens.cli.loading import ModelArg
from babellens.cli.options import (
    DbOpt,
    DtypeOpt,
    ExecutorOpt,
    JsonOpt,
    RayAddressOpt,
    WorkersOpt,
    parse_layers,
    ray_options,
)
from babellens.cli.output import console, err_console, print_json
from babellens.cli.progress import job_progress
from babellens.data.corpus import BUNDLED_CORPUS, load_corpus
from babellens.errors import BabelLensError, InvalidInputError
from babellens.jobs import cached_model, run_job
from babellens.jobs.ray_scan import RayOptions
from babellens.models.loading import load_tokenizer
from babellens.models.token_text import token_pieces
from babellens.store import Database, Job, JobStore, NeuronRecord, ResultStore, open_database

__all__ = ["neuron", "next_token_neurons_cmd", "run_foreground", "scan"]


def run_foreground(
    db: Database,
    kind: str,
    model: str,
    params: dict,
    *,
    quiet: bool,
    unit: str,
    ray: RayOptions | None = None,
) -> Job:
    """Create a job and run it here with a progress bar; user errors exit 2 via BabelLensError."""
    job = JobStore(db).create(kind, model, params)
    if not quiet:
        err_console.print(f"job {job.id}: {kind} of {model} (database {db.url})")
    with job_progress(f"{kind} {model}", unit, enabled=not quiet) as bar:
        finished = run_job(db, job.id, on_progress=bar, ray=ray)
    if finished.status != "done":
        first = (finished.error or finished.status).splitlines()[0]
        raise BabelLensError(f"job {job.id} {finished.status}: {first}")
    return finished


def scan(
    model: ModelArg,
    corpus: Annotated[
        str, typer.Option(help="Bundled corpus, .txt/.jsonl/.parquet file or folder, hf:NAME.")
    ] = BUNDLED_CORPUS,
    split: Annotated[str, typer.Option(help="train, test or all.")] = "train",
    tokens: Annotated[
        int | None, typer.Option("--tokens", min=1, help="Stop after N corpus tokens.")
    ] = None,
    layers: Annotated[str | None, typer.Option(help="Layers, e.g. 0,3,5-7 (default: all).")] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="Top examples per neuron.")] = 20,
    window: Annotated[int, typer.Option(min=2, max=8192, help="Window length in tokens.")] = 128,
    checkpoint_every: Annotated[
        float, typer.Option(min=0, help="Seconds between saved partial states.")
    ] = 60.0,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = 2,
    dtype: DtypeOpt = "auto",
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Stream a corpus through the model once; keep per neuron top-k contexts, histogram, density."""
    ray = ray_options(executor, ray_address, workers)
    if split not in ("train", "test", "all"):
        raise InvalidInputError("--split must be train, test or all")
    try:
        config = ScanConfig(
            corpus=corpus,
            split=split,
            layers=parse_layers(layers),
            k=k,
            window_len=window,
            max_tokens=tokens,
            checkpoint_every_s=checkpoint_every,
            dtype=dtype,
        )
    except ValidationError as exc:
        raise InvalidInputError(str(exc.errors()[0]["msg"])) from None
    _check_inputs(model, config, checked_here=ray is None)
    finished = run_foreground(
        open_database(db), "scan", model, config.model_dump(), quiet=json, unit="tokens", ray=ray
    )
    if json:
        print_json(finished)
    else:
        _print_scan(model, finished)


def _check_inputs(model: str, config: ScanConfig, *, checked_here: bool) -> None:
    """One-line errors before a job exists: the layers (only where the model loads here: on Ray
    the workers load it) and the corpus."""
    if checked_here:
        lm = cached_model(model, dtype=config.dtype)
        for layer in config.layers or []:
            lm.adapter.check_layer(layer)
    split = None if config.split == "all" else config.split
    load_corpus(config.corpus, split=split)  # type: ignore[arg-type]


def _print_scan(model: str, finished: Job) -> None:
    s = finished.summary
    console.print(
        f"[green]✓[/] job {finished.id}: scanned {s['tokens']:,} tokens in {s['windows']} windows of "
        f"{s['documents']} documents, layers {s['layers'][0]}..{s['layers'][-1]}, "
        f"in {s['model_summary']['dtype']}. "
        f"Try: babellens neuron {model} {s['layers'][len(s['layers']) // 2]} 0"
    )


def neuron(
    model: ModelArg,
    layer: Annotated[int, typer.Argument(help="Layer.")],
    index: Annotated[int, typer.Argument(help="Neuron index.")],
    job: Annotated[
        int | None, typer.Option(help="Scan job id (default: the latest done scan of MODEL).")
    ] = None,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Stats, histogram, top examples, and promoted/suppressed tokens of one neuron."""
    database = open_database(db)
    results = ResultStore(database)
    job_id = job or results.latest_job(model, "scan")
    if job_id is None:
        raise InvalidInputError(
            f"no finished scan of {model} in {database.url}: run `babellens scan {model}` first"
        )
    tokenizer = load_tokenizer(model)
    record = results.neuron(job_id, layer, index, lambda ids: token_pieces(tokenizer, ids))
    token_job = results.latest_job(model, "next_token_neurons")
    if token_job is not None:
        record.congruence = results.token_neuron(token_job, layer, index)
    if json:
        print_json(record)
    else:
        print_neuron(record)


def print_neuron(r: NeuronRecord) -> None:
    console.print(f"[bold]{r.model}[/] layer {r.layer} neuron {r.neuron}  (scan job {r.job_id})")
    of = "tokens"
    if r.shared_neuron is not None:
        console.print(f"shared expert, neuron {r.shared_neuron}: every token goes through it")
    if r.expert is not None:
        console.print(
            f"expert {r.expert}, neuron {r.expert_neuron}: {r.routed_tokens:,} scanned tokens "
            "routed to this expert (grey: routed elsewhere, no activation)"
        )
        of = "routed tokens"
    console.print(f"max {r.max:.3f}   mean {r.mean:.4f}   density {r.density:.2%} of {of} > 0")
    blocks = " ▁▂▃▄▅▆▇█"
    peak = max(r.histogram.counts) or 1
    spark = "".join(blocks[min(8, round(8 * c / peak))] if c else " " for c in r.histogram.counts)
    console.print(f"histogram (log-linear bins, -512 … 512): [cyan]{spark.strip()}[/]")
    table = Table(
        title="top examples (darker = more active; ▶ marks the maximum)", show_lines=False
    )
    for col in ("#", "value", "lang", "context"):
        table.add_column(col)
    for ex in r.examples:
        line = Text()
        lo, hi = max(0, ex.position - 12), min(len(ex.tokens), ex.position + 4)
        for i in range(lo, hi):
            tok = ex.tokens[i].replace("\n", "⏎")
            a = ex.activations[i]
            if a is None:  # routed to another expert: no activation here
                line.append(tok, style="grey50 on grey93")
                continue
            shade = int(255 * (1 - min(max(a, 0.0) / (r.max or 1.0), 1.0)))
            line.append(
                ("▶" if i == ex.position else "") + tok, style=f"black on rgb(255,{shade},{shade})"
            )
        table.add_row(str(ex.rank), f"{ex.value:.3f}", ex.lang or "", line)
    console.print(table)
    if r.congruence is not None:
        _print_tokens(r.congruence)


def _print_tokens(n: NextTokenNeuron) -> None:
    console.print(f"congruence score {n.score:.3f}")
    console.print(
        "promotes:   " + "  ".join(f"{escape(repr(t.token))} {t.score:+.2f}" for t in n.promoted)
    )
    console.print(
        "suppresses: " + "  ".join(f"{escape(repr(t.token))} {t.score:+.2f}" for t in n.suppressed)
    )


def next_token_neurons_cmd(
    model: ModelArg,
    layer: Annotated[
        int | None, typer.Option(help="Only this layer (default: all layers).")
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=10000, help="How many neurons to list.")] = 20,
    all_tokens: Annotated[
        bool, typer.Option("--all-tokens", help="Rank by any token, not whole words only.")
    ] = False,
    dtype: DtypeOpt = "auto",
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Neurons whose output weights most promote one token (congruence W_out · W_U)."""
    database = open_database(db)
    results = ResultStore(database)
    job_id = results.latest_job(model, "next_token_neurons")
    if job_id is None:
        job_id = _run_next_token_neurons(database, model, layer, dtype, quiet=json)
    rows = results.top_token_neurons(job_id, layer, top, words_only=not all_tokens)
    if not rows:
        raise InvalidInputError(f"no next-token neurons for layer {layer} in job {job_id}")
    if json:
        print_json(rows)
        return
    _print_token_neurons(model, layer, rows)


def _run_next_token_neurons(
    database: Database, model: str, layer: int | None, dtype: str, *, quiet: bool
) -> int:
    """The analysis as a job here (none stored yet); its id."""
    try:
        config = NextTokenConfig(dtype=dtype)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise InvalidInputError(str(exc.errors()[0]["msg"])) from None
    lm = cached_model(model, dtype=config.dtype)
    if layer is not None:
        lm.adapter.check_layer(layer)
    params = config.model_dump()
    return run_foreground(
        database, "next_token_neurons", model, params, quiet=quiet, unit="layers"
    ).id


def _print_token_neurons(model: str, layer: int | None, rows: list) -> None:
    table = Table(
        title=f"next-token neurons of {model}" + (f", layer {layer}" if layer is not None else "")
    )
    for col in ("layer", "neuron", "score", "top word", "promotes"):
        table.add_column(col)
    for n in rows:
        word = f"{n.word_token.token!r} {n.word_score:.2f}" if n.word_token else ""
        table.add_row(
            str(n.layer),
            str(n.neuron),
            f"{n.score:.2f}",
            escape(word),
            escape("  ".join(repr(t.token) for t in n.promoted[:5])),
        )
    console.print(table)
