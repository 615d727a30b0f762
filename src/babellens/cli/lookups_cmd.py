"""``babellens lookups MODEL``: attention->MLP context look-ups as a job, and its stored reports."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from babellens.autointerp.head_explainers import HEAD_EXPLAINER_TOKENS, HEAD_SCORER_KEYWORDS
from babellens.cli.loading import ModelArg
from babellens.cli.options import DbOpt, JsonOpt, parse_layers
from babellens.cli.output import console, print_json
from babellens.cli.scan_cmd import run_foreground
from babellens.data.corpus import BUNDLED_CORPUS, load_corpus
from babellens.errors import InvalidInputError
from babellens.jobs import cached_model
from babellens.lookups.config import DEFAULT_EXPLAINER, LookupsConfig, default_layers
from babellens.lookups.report import LookupsReport
from babellens.store import open_database
from babellens.store.lookups import LookupsStore

__all__ = ["lookups", "print_report"]


def _check_provider(spec: str, option: str, model_free: str) -> None:
    """A provider spec, or the option's model-free name (``tokens`` / ``keywords``)."""
    from babellens.autointerp import provider_names

    if spec == model_free:
        return
    name, sep, target = spec.partition(":")
    if not sep or not target or name not in provider_names():
        raise InvalidInputError(
            f"{option} {spec!r}: use openai:BASE_URL:MODEL (any OpenAI-compatible server), "
            "local:ALIAS (an in-process chat model, e.g. local:qwen2.5-coder-0.5b) or "
            f"{model_free} (model-free, no LLM)"
        )


CorpusOpt = Annotated[
    str, typer.Option(help="Bundled corpus, .txt/.jsonl/.parquet, folder, hf:NAME.")
]
ExplainerOpt = Annotated[
    str,
    typer.Option(
        help="tokens (model-free: over-represented context words), openai:URL:MODEL or local:ALIAS."
    ),
]
ScorerOpt = Annotated[
    str | None,
    typer.Option(
        help="Yes/No scorer: keywords (model-free: the snippet has a quoted word), or a provider "
        "(default: the explainer's; keywords for tokens)."
    ),
]
LayersOpt = Annotated[str | None, typer.Option(help="Layers, e.g. 26-29 (default: last quarter).")]
NeuronsOpt = Annotated[int, typer.Option(min=0, max=1000, help="Next-token neurons per layer.")]
WholeWordsOpt = Annotated[
    bool, typer.Option(help="Next-token neurons' top token must be a whole word.")
]
RandomNeuronsOpt = Annotated[
    int | None,
    typer.Option(min=0, max=1000, help="Random baseline neurons per layer (default: as many)."),
]
PromptsOpt = Annotated[
    int, typer.Option(min=2, max=1000, help="Max-activating train windows per neuron.")
]
TestPromptsOpt = Annotated[
    int | None,
    typer.Option(min=2, max=1000, help="Test windows per neuron (default: as --prompts)."),
]
TokensOpt = Annotated[
    int | None, typer.Option("--tokens", min=1, help="Corpus tokens per split (default: all).")
]
WindowOpt = Annotated[int, typer.Option(min=8, max=4096, help="Window length in tokens.")]
RuleOpt = Annotated[str, typer.Option(help="Active heads: mean+2std or top3.")]
ExplainExamplesOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=1000,
        help="Active (and inactive) examples shown to the explainer (default: all).",
    ),
]
TruncationOpt = Annotated[
    str, typer.Option(help="exact (shortest suffix) or binary (the paper's search).")
]
MaxHeadsOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=10000,
        help="Explain at most N heads per neuron, most often active first (default: all).",
    ),
]
AblationOpt = Annotated[bool, typer.Option(help="Run the head-ablation check.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the random baseline.")]
ReportOpt = Annotated[
    int | None,
    typer.Option("--report", help="Show the stored report of this job instead of running."),
]
ListOpt = Annotated[
    bool, typer.Option("--list", help="List the stored reports of MODEL instead of running.")
]


def lookups(
    model: ModelArg,
    corpus: CorpusOpt = BUNDLED_CORPUS,
    explainer: ExplainerOpt = DEFAULT_EXPLAINER,
    scorer: ScorerOpt = None,
    layers: LayersOpt = None,
    neurons: NeuronsOpt = 20,
    whole_words: WholeWordsOpt = True,
    random_neurons: RandomNeuronsOpt = None,
    prompts: PromptsOpt = 30,
    test_prompts: TestPromptsOpt = None,
    tokens: TokensOpt = None,
    window: WindowOpt = 128,
    rule: RuleOpt = "mean+2std",
    explain_examples: ExplainExamplesOpt = None,
    truncation: TruncationOpt = "exact",
    max_heads: MaxHeadsOpt = None,
    ablation: AblationOpt = True,
    seed: SeedOpt = 0,
    report: ReportOpt = None,
    list_reports: ListOpt = False,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """Explain which attention heads feed each next-token neuron, score the explanations, ablate."""
    database = open_database(db)
    store = LookupsStore(database)
    if list_reports or report is not None:
        _show_stored(store, model, None if list_reports else report, json)
        return
    _check_choices(truncation, rule, explainer, scorer)
    config = _config(
        corpus=corpus,
        explainer=explainer,
        scorer=scorer,
        layers=parse_layers(layers),
        neurons_per_layer=neurons,
        whole_words=whole_words,
        random_neurons_per_layer=random_neurons,
        prompts=prompts,
        test_prompts=test_prompts or prompts,
        max_tokens=tokens,
        window_len=window,
        active_rule=rule,
        explain_examples=explain_examples,
        max_heads=max_heads,
        truncation=truncation,
        ablation=ablation,
        seed=seed,
    )
    load_corpus(corpus)  # a missing corpus fails here, in one line, before the model loads
    default_layers(cached_model(model).adapter.n_layers, config)  # bad layers: before the job
    job = run_foreground(database, "lookups", model, config.model_dump(), quiet=json, unit="steps")
    _print(store.get(job.id), json)


def _show_stored(store: LookupsStore, model: str, report: int | None, json: bool) -> None:
    """The stored reports of ``model`` (``report`` None), or the one of job ``report``."""
    if report is not None:
        _print(store.get(report), json)
        return
    listing = store.list(model)
    if json:
        print_json(listing)
        return
    _print_listing(model, listing)


def _check_choices(truncation: str, rule: str, explainer: str, scorer: str | None) -> None:
    """The options a pydantic field cannot say in its message as a CLI user needs it."""
    if truncation not in ("exact", "binary"):
        raise InvalidInputError(f"--truncation must be exact or binary, got {truncation!r}")
    if rule not in ("mean+2std", "top3"):
        raise InvalidInputError(f"--rule must be mean+2std or top3, got {rule!r}")
    _check_provider(explainer, "--explainer", HEAD_EXPLAINER_TOKENS)
    if scorer is not None:
        _check_provider(scorer, "--scorer", HEAD_SCORER_KEYWORDS)


def _config(**fields: object) -> LookupsConfig:
    try:
        return LookupsConfig(**fields)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise InvalidInputError(str(exc.errors()[0]["msg"])) from None


def _print(report: LookupsReport, json: bool) -> None:
    print_json(report) if json else print_report(report)


def _dist(d) -> str:
    return "–" if d is None else f"{d.mean:.3g} ± {d.std:.3g} (median {d.median:.3g}, n={d.n})"


def print_report(r: LookupsReport) -> None:
    console.print(
        f"[bold]{escape(r.model)}[/] context look-ups (job {r.job_id}), layers "
        f"{', '.join(map(str, r.layers))}; explainer {escape(r.explainer)}, scorer {escape(r.scorer)}"
    )
    for table in (_scores(r), _ablation(r), _fidelity(r), _pairs(r)):
        console.print(table)
    console.print(_attribution_check(r))
    console.print(f"wall time {r.timings.get('total_s', 0):.0f} s")


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    return table


def _scores(r: LookupsReport) -> Table:
    """Explanation scores per group, beside the paper's."""
    table = _table(
        "explanation scores (balanced accuracy on held-out prompts)",
        ("neurons", "group", "(neuron, head) pairs", "scored", "score", "skewness test p"),
    )
    for g in r.groups:
        p = "–" if g.skewness is None else f"{g.skewness.p_value:.3g}"
        table.add_row(str(g.neurons), g.group, str(g.pairs), str(g.scored), _dist(g.score), p)
    for ref in r.paper:
        if ref.score_mean is not None:
            table.add_row(
                "",
                f"paper: {ref.model}",
                "",
                "",
                f"{ref.score_mean:.3f} ± {ref.score_std:.3f}",
                "",
                style="dim",
            )
    return table


def _ablation(r: LookupsReport) -> Table:
    """The head-ablation check: drops for active and inactive heads, beside the paper's."""
    table = _table(
        "drop in P(token) when the head's values are zeroed",
        ("group", "head active", "head inactive", "KS p"),
    )
    for a in r.ablation:
        ks = "–" if a.ks is None else f"{a.ks.p_value:.3g}"
        table.add_row(a.group, _dist(a.active), _dist(a.inactive), ks)
    small = r.paper[0]
    table.add_row(
        f"paper: {small.model}", f"{small.drop_active}", f"{small.drop_inactive}", "", style="dim"
    )
    return table


def _fidelity(r: LookupsReport) -> Table:
    table = _table(
        "the same drops beside P(token) before ablation",
        ("group", "P(token) clean", "log-prob drop act/inact", "relative drop act/inact"),
    )
    for a in r.ablation:
        table.add_row(
            a.group,
            _dist(a.clean_probability),
            f"{_dist(a.logprob_drop_active)} / {_dist(a.logprob_drop_inactive)}",
            f"{_dist(a.relative_drop_active)} / {_dist(a.relative_drop_inactive)}",
        )
    return table


def _attribution_check(r: LookupsReport) -> str:
    """Whether each ablated head is the one the attribution marked active on its prompts."""
    checked = [
        h
        for n in r.neurons
        for h in n.heads
        if h.attributed_fraction is not None and h.clean_probability is not None
    ]
    if not checked:
        return "ablated head = attribution's pick: no head was ablated"
    same = sum(abs(h.attributed_fraction - h.active_fraction) < 1e-9 for h in checked)  # type: ignore[operator]
    return f"ablated head = attribution's pick: {same} of {len(checked)} (neuron, head) pairs"


def _pairs(r: LookupsReport) -> Table:
    table = _table(
        "explained (neuron, head) pairs",
        ("group", "neuron", "token", "head", "active", "score", "explanation"),
    )
    for n in r.neurons:
        for h in n.heads:
            score = f"{h.score:.2f}" if h.score is not None else f"– ({h.score_note})"
            table.add_row(
                n.group,
                f"{n.layer}/{n.neuron}",
                escape(repr(n.token)),
                f"{h.layer}.{h.head}",
                f"{h.active_fraction:.0%}",
                score,
                escape(h.explanation or ""),
            )
    return table


def _print_listing(model: str, listing) -> None:
    if not listing:
        console.print(
            f"no context look-up reports of {escape(model)}: run `babellens lookups {escape(model)}`"
        )
        return
    table = _table(
        f"context look-up reports of {escape(model)}",
        ("job", "created", "explainer", "neurons", "next-token score", "random score"),
    )
    for item in listing:
        scores = {g.group: _dist(g.score) for g in item.groups}
        table.add_row(
            str(item.job_id),
            f"{item.created_at:%Y-%m-%d %H:%M}",
            escape(item.explainer),
            str(item.neurons),
            scores.get("next_token", "–"),
            scores.get("random", "–"),
        )
    console.print(table)
