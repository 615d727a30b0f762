"""``babellens dict train|eval|list|scan|import|export`` and ``babellens feature ID INDEX``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from babellens.cli.dict_options import train_params
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
from babellens.cli.progress import job_progress
from babellens.dictionaries.config import DictTrainParams, resolve_hooks, resolve_width
from babellens.errors import BabelLensError, InvalidInputError
from babellens.jobs import cached_model, run_job
from babellens.jobs.registry import validate_params
from babellens.models.devices import available_device
from babellens.store import JobStore, open_database
from babellens.store.dictionaries import DictionaryInfo, DictionaryStore

__all__ = ["app"]

app = typer.Typer(help="Sparse dictionaries: SAEs and transcoders.", no_args_is_help=True)


def _run_training(db, model: str, params: DictTrainParams, quiet: bool, ray: Any = None):
    from babellens.jobs.dictionary_jobs import LIVE_METRICS

    job = JobStore(db).create("dict_train", model, params.model_dump(mode="json"))
    if not quiet:
        err_console.print(f"job {job.id}: dict_train of {model} (database {db.url})")
    columns = (
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tokens"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[metrics]}"),
    )
    with Progress(*columns, console=err_console, disable=quiet) as bar:
        task = bar.add_task("train", total=None, metrics="")

        def update(done: int, total: int, _rate: float) -> None:
            bar.update(task, completed=done, total=total, metrics=LIVE_METRICS.get(job.id, ""))

        finished = run_job(db, job.id, on_progress=update, ray=ray)
    if finished.status != "done":
        first = (finished.error or finished.status).splitlines()[0]
        raise BabelLensError(f"job {job.id} {finished.status}: {first}")
    return finished


@app.command()
def train(
    model: ModelArg,
    hook: Annotated[str | None, typer.Option(help="SAE hook point, e.g. resid_post.6.")] = None,
    kind: Annotated[str, typer.Option(help="sae, transcoder, or an encoder (= an SAE).")] = "sae",
    activation: Annotated[
        str | None, typer.Option(help="topk, batchtopk, jumprelu or relu.")
    ] = None,
    layers: Annotated[str | None, typer.Option(help="Transcoder layers: 3,4 or all.")] = None,
    width: Annotated[str | None, typer.Option(help="Features: 16x (× d_model) or 4096.")] = None,
    k: Annotated[int, typer.Option("--k", help="Active features per token.")] = 32,
    skip: Annotated[bool, typer.Option(help="Transcoder skip connection.")] = False,
    tokens: Annotated[int, typer.Option(help="Training tokens per epoch.")] = 200_000,
    epochs: Annotated[int, typer.Option(help="Passes over the tokens.")] = 1,
    cache: Annotated[
        bool, typer.Option(help="Cache activations on disk for later epochs.")
    ] = False,
    corpus: Annotated[
        str, typer.Option(help="Corpus (bundled, file, folder, hf:NAME).")
    ] = "babel-mini",
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    batch_size: Annotated[int, typer.Option(help="Rows per optimiser step.")] = 1024,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    device: Annotated[str, typer.Option(help="Where the dictionary trains.")] = "cpu",
    eval_tokens: Annotated[int, typer.Option(help="Held-out tokens evaluated after.")] = 4096,
    name: Annotated[str | None, typer.Option(help="A label.")] = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = 2,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Train an SAE or transcoder (a resumable job); prints the new dictionary's id.

    With ``--executor ray`` the model's forward passes (the harvest) run on Ray workers and the
    dictionary trains here, on the same rows in the same order as a local run.
    """
    ray = ray_options(executor, ray_address, workers)
    params = train_params(
        kind,
        activation,
        width,
        layers,
        hook=hook,
        k=k,
        skip=skip,
        tokens=tokens,
        epochs=epochs,
        cache=cache,
        corpus=corpus,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        device=device,
        eval_tokens=eval_tokens,
        name=name,
    )
    available_device(params.device)  # it trains here, on Ray too (only the harvest fans out)
    lm = cached_model(model)
    resolve_hooks(params, lm.adapter.n_layers)  # one-line errors before the job starts
    resolve_width(params, lm.adapter.d_model)
    finished = _run_training(open_database(db), model, params, quiet=json, ray=ray)
    s = finished.summary
    if json:
        print_json({"id": s["dictionary_id"], "job_id": finished.id, **s})
        return
    _print_trained(s)


def _print_trained(s: dict[str, Any]) -> None:
    fvu = f"FVU {s['fvu']:.3f}" if s.get("fvu") is not None else "not evaluated"
    console.print(
        f"[green]✓[/] dictionary {s['dictionary_id']}: {s['kind']} × {s['members']}, width "
        f"{s['width']}, {s['tokens_trained']:,} tokens; held-out {fvu}. "
        f"Try: babellens dict scan {s['dictionary_id']}"
    )


@app.command("list")
def list_cmd(
    model: Annotated[str | None, typer.Argument(help="Only this model's dictionaries.")] = None,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Stored dictionaries with their provenance and held-out metrics."""
    rows = DictionaryStore(open_database(db)).list(model)
    if json:
        print_json(rows)
        return
    table = Table(title="dictionaries")
    for col in (
        "id",
        "model",
        "kind",
        "hook",
        "members",
        "width",
        "k",
        "tokens",
        "FVU",
        "L0",
        "CE rec.",
    ):
        table.add_column(col)
    for r in rows:
        ev = r.metrics.get("eval", {})
        table.add_row(
            str(r.id),
            escape(r.model),
            f"{r.kind}/{r.activation}",
            r.hook_in,
            str(len(r.members)),
            str(r.width),
            str(r.k or ""),
            f"{r.tokens_trained:,}",
            _num(ev.get("fvu")),
            _num(ev.get("l0"), 1),
            _num(ev.get("ce_recovered_vs_zero")),
        )
    console.print(table)


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


@app.command("eval")
def eval_cmd(
    dictionary: Annotated[int, typer.Argument(help="Dictionary id.")],
    corpus: Annotated[
        str | None, typer.Option(help="Corpus (default: the training corpus).")
    ] = None,
    split: Annotated[str, typer.Option(help="test (held out), train or all.")] = "test",
    tokens: Annotated[int, typer.Option(min=1, help="Tokens to evaluate.")] = 4096,
    downstream: Annotated[
        bool, typer.Option(help="CE loss with the dictionary spliced in.")
    ] = True,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """FVU, L0, dead/dense fractions and CE loss recovered (vs zero and mean ablation)."""
    from babellens.dictionaries.features import check_model_width
    from babellens.dictionaries.pipeline import evaluate_on_corpus, metrics_summary

    if split not in ("train", "test", "all"):
        raise InvalidInputError("--split must be train, test or all")
    database = open_database(db)
    store = DictionaryStore(database)
    info = store.get(dictionary)
    lm = cached_model(info.model)
    members = store.load(dictionary)
    for sd in members:
        check_model_width(sd, lm)
    chosen = corpus or info.corpus or "babel-mini"
    evals = evaluate_on_corpus(
        lm,
        members,
        corpus=chosen,
        split=None if split == "all" else split,
        tokens=tokens,
        downstream=downstream,
    )
    summary = metrics_summary(evals, chosen, split)["eval"]
    if json:
        print_json({"id": dictionary, **summary})
        return
    console.print(f"dictionary {dictionary} on {chosen} ({split}, {summary['tokens']:,} tokens)")
    for e in evals:
        line = f"  {e.hook_in}: FVU {e.fvu:.3f}  L0 {e.l0:.1f}  dead {e.dead_fraction:.1%}  dense {e.dense_fraction:.1%}"
        if e.ce_clean is not None:
            line += (
                f"  CE clean {e.ce_clean:.3f} / spliced {e.ce_spliced:.3f} / zero "
                f"{e.ce_zero_ablated:.3f} / mean {e.ce_mean_ablated:.3f}  recovered "
                f"{_num(e.ce_recovered_vs_zero)} (vs zero) {_num(e.ce_recovered_vs_mean)} (vs mean)"
                f"  KL {e.kl_spliced:.4f}"
            )
        console.print(line)


@app.command()
def scan(
    dictionary: Annotated[int, typer.Argument(help="Dictionary id.")],
    corpus: Annotated[str, typer.Option(help="Corpus.")] = "babel-mini",
    split: Annotated[str, typer.Option(help="train, test or all.")] = "train",
    k: Annotated[int, typer.Option("--k", help="Top examples per feature.")] = 20,
    tokens: Annotated[int | None, typer.Option(help="Stop after N tokens.")] = None,
    window: Annotated[int, typer.Option(help="Window length.")] = 128,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = 2,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Scan the features like neurons: top-k contexts, histogram, density (a resumable job)."""
    from babellens.jobs.dictionary_jobs import DictScanParams

    ray = ray_options(executor, ray_address, workers)
    database = open_database(db)
    info = DictionaryStore(database).get(dictionary)
    raw = {
        "dictionary_id": dictionary,
        "corpus": corpus,
        "split": split,
        "k": k,
        "max_tokens": tokens,
        "window_len": window,
    }
    params = validate_params(DictScanParams, raw, what="dict scan")
    job = JobStore(database).create("dict_scan", info.model, params.model_dump())
    with job_progress(f"scan dictionary {dictionary}", "tokens", enabled=not json) as bar:
        finished = run_job(database, job.id, on_progress=bar, ray=ray)
    if finished.status != "done":
        first = (finished.error or finished.status).splitlines()[0]
        raise BabelLensError(f"job {job.id} {finished.status}: {first}")
    if json:
        print_json({"id": dictionary, "job_id": job.id, **finished.summary})
    else:
        console.print(
            f"[green]✓[/] scanned {finished.summary['tokens']:,} tokens (job {job.id}). "
            f"Try: babellens feature {dictionary} 0"
        )


@app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="A dictionary file or folder.")],
    model: Annotated[str, typer.Option(help="The model it belongs to.")],
    fmt: Annotated[
        str, typer.Option("--format", help="auto, babellens, saelens, sparsify, gemmascope.")
    ] = "auto",
    hook: Annotated[str | None, typer.Option(help="Hook point, when the files do not say.")] = None,
    name: Annotated[str | None, typer.Option(help="A label.")] = None,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Store a dictionary from BabelLens, SAELens, sparsify or Gemma Scope files."""
    from babellens.capture.hook_points import parse_hook_point
    from babellens.dictionaries.features import check_model_width
    from babellens.dictionaries.formats import import_dictionaries

    members, provenance = import_dictionaries(path, fmt, hook)
    lm = cached_model(model)
    for sd in members:
        parse_hook_point(sd.hook_in, lm.adapter.n_layers)
        check_model_width(sd, lm)
    info = DictionaryStore(open_database(db)).save(
        members,
        model=model,
        source=f"imported:{provenance.get('format', fmt)}",
        provenance={k: v for k, v in provenance.items() if isinstance(v, str | int | float | None)},
        name=name,
    )
    _report(info, json, "imported")


@app.command()
def export(
    dictionary: Annotated[int, typer.Argument(help="Dictionary id.")],
    fmt: Annotated[
        str, typer.Option("--format", help="saelens, sparsify or babellens.")
    ] = "saelens",
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("."),
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write a stored dictionary in SAELens's or sparsify's layout."""
    from babellens.dictionaries.formats import export_dictionaries

    store = DictionaryStore(open_database(db))
    info = store.get(dictionary)
    written = export_dictionaries(store.load(dictionary), fmt, out, info.model)
    if json:
        print_json({"id": dictionary, "format": fmt, "written": [str(p) for p in written]})
    else:
        console.print(
            f"[green]✓[/] wrote {len(written)} {fmt} dictionar{'y' if len(written) == 1 else 'ies'} under {out}"
        )


@app.command()
def trace(
    dictionary: Annotated[int, typer.Argument(help="Dictionary id.")],
    text: Annotated[str, typer.Option(help="Text to run through the model.")],
    member: Annotated[str | None, typer.Option(help="Member of a set (its hook point).")] = None,
    top: Annotated[int, typer.Option(min=1, max=100, help="Features per token.")] = 5,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """The most active features at every token of a text."""
    from babellens.dictionaries.features import top_features_per_token

    store = DictionaryStore(open_database(db))
    info = store.get(dictionary)
    if info.is_set and member is None:
        raise InvalidInputError(
            f"dictionary {dictionary} is a set: pass --member, e.g. {info.members[0][0]}"
        )
    (sd,) = store.load(dictionary, member)
    rows = top_features_per_token(cached_model(info.model), sd, text, top)
    if json:
        print_json(rows)
        return
    table = Table(title=f"top features of dictionary {dictionary} ({sd.hook_in})")
    table.add_column("pos")
    table.add_column("token")
    table.add_column("features (index activation)")
    for r in rows:
        table.add_row(
            str(r.position), escape(repr(r.token)), "  ".join(f"{i} {v:.2f}" for i, v in r.features)
        )
    console.print(table)


def _report(info: DictionaryInfo, json: bool, verb: str) -> None:
    if json:
        print_json(info)
    else:
        console.print(
            f"[green]✓[/] {verb} dictionary {info.id}: {info.kind}/{info.activation} on "
            f"{info.hook_in} of {info.model}, width {info.width}, {len(info.members)} member(s)"
        )
