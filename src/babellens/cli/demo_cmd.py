"""``babellens demo``: fetch the default model, scan the bundled corpus, show what it found.

The featured neuron is chosen by evidence a newcomer can check on the page: among the most
congruent next-token neurons, the one whose top examples are most often followed by a token it
promotes, shown beside the same count for a random neuron of its layer.
"""

from __future__ import annotations

import random
from typing import Annotated

import typer

from babellens.analyses.neuron_scan.scan import ScanConfig
from babellens.analyses.next_token_neurons import NextTokenConfig
from babellens.analyses.token_trace import trace_top_neurons
from babellens.analyses.unit_evidence import FollowEvidence, followed_fraction
from babellens.cli.inspect_cmd import print_summary, print_trace
from babellens.cli.loading import dtype_note
from babellens.cli.options import DbOpt, DtypeOpt
from babellens.cli.output import byte_progress, console
from babellens.cli.scan_cmd import print_neuron, run_foreground
from babellens.cli.serve_cmd import serve_app
from babellens.errors import InvalidInputError
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


def _no_text(ids: list[int]) -> list[str]:
    return [""] * len(ids)


def _evidence(
    results: ResultStore, scan_job: int, token_job: int, layer: int, neuron: int
) -> FollowEvidence | None:
    congruence = results.token_neuron(token_job, layer, neuron)
    if congruence is None:
        return None
    promoted = [t.token_id for t in congruence.promoted]
    record = results.neuron(scan_job, layer, neuron, _no_text)
    if record.max <= 0:  # never fired on the corpus: its examples show nothing
        return None
    followed, counted = followed_fraction(
        ((ex.token_ids, ex.position) for ex in record.examples), set(promoted)
    )
    return FollowEvidence(
        layer=layer,
        neuron=neuron,
        followed=followed,
        examples=counted,
        promoted=promoted,
        congruence=congruence.word_score,
    )


def featured_neuron(
    results: ResultStore,
    scan_job: int,
    token_job: int,
    d_mlp: int,
    *,
    candidates: int = 200,
    min_examples: int = 5,
    seed: int = 0,
) -> tuple[FollowEvidence, FollowEvidence]:
    """(the best-evidenced of the ``candidates`` most congruent neurons, a random neuron of the
    same layer as its control); ties go to the more congruent neuron."""
    best: FollowEvidence | None = None
    for candidate in results.top_token_neurons(token_job, None, candidates):
        ev = _evidence(results, scan_job, token_job, candidate.layer, candidate.neuron)
        if ev is None or ev.examples < min_examples:
            continue
        if best is None or ev.fraction > best.fraction:
            best = ev
    if best is None:
        raise InvalidInputError(
            "no next-token neuron fired on enough of the corpus to judge: scan more tokens"
        )
    rng = random.Random(seed)
    control = None
    for _ in range(1000):
        neuron = rng.randrange(d_mlp)
        if neuron != best.neuron:
            control = _evidence(results, scan_job, token_job, best.layer, neuron)
        if control is not None:
            return best, control
    raise InvalidInputError("no neuron of the featured layer fired on the corpus: scan more tokens")


def _print_evidence(best: FollowEvidence, control: FollowEvidence) -> None:
    if best.followed == 0:
        console.print(
            "[yellow]No evidence yet:[/] among the most congruent next-token neurons that fire, "
            "none has a top example followed by a token it promotes in this scan (a random "
            f"neuron of layer {best.layer}: {control.followed} of {control.examples}). This is "
            "the most congruent of them; scan more of the corpus for stronger evidence."
        )
        return
    console.print(
        f"Why this neuron: [bold]{best.followed} of its {best.examples}[/] top examples are "
        f"followed by one of the {len(best.promoted)} tokens it promotes "
        f"({best.fraction:.0%}); a random neuron of layer {best.layer} "
        f"({control.layer}/{control.neuron}), with its own promoted tokens: "
        f"{control.followed} of {control.examples} ({control.fraction:.0%})."
    )


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
    best, control = featured_neuron(results, scan_job, token_job, summary.d_mlp)
    record = results.neuron(
        scan_job, best.layer, best.neuron, lambda ids: token_pieces(tokenizer, ids)
    )
    record.congruence = results.token_neuron(token_job, best.layer, best.neuron)
    console.rule(f"a next-token neuron of {model} whose examples are followed by what it predicts")
    print_neuron(record)
    _print_evidence(best, control)
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
