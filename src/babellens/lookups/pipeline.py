"""The whole context look-up analysis as one resumable call.

Phases: choose the neurons (congruence; next-token neurons plus a random baseline), collect each
one's max-activating train and test prompts (from a finished scan when it holds exactly those,
else one targeted pass per split), then analyse the neurons one by one. Everything a later phase
needs lives in :class:`LookupsState`, which ``checkpoint`` receives after the prompts and after
every neuron: a run resumed from it redoes only the neuron it was in, and the providers' answer
cache makes that neuron's explainer and scorer calls free the second time.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from babellens.analyses.next_token_neurons import (
    NextTokenConfig,
    NextTokenNeuron,
    next_token_neurons,
)
from babellens.autointerp import ChatProvider, HeadExplainer
from babellens.capture.language_model import LanguageModel
from babellens.control import LocalControl, RunControl, StopRequested
from babellens.data.batching import resolve_pad_id
from babellens.data.corpus import Corpus, load_corpus
from babellens.data.windows import batches, make_windows
from babellens.lookups.config import SPLIT_RULE, LookupsConfig, default_layers
from babellens.lookups.explainers import explanation_cache_dir, head_explainers
from babellens.lookups.neuron import analyse_neuron
from babellens.lookups.prompts_data import (
    MaxPrompt,
    StoredInputs,
    Target,
    collect_prompts,
)
from babellens.lookups.report import LookupsReport, NeuronLookup, SplitInfo
from babellens.lookups.selection import NeuronTarget, select_neurons
from babellens.lookups.summary import ablation_summary, group_summary

__all__ = ["LookupsState", "build_report", "explanation_cache_dir", "prepare", "run_lookups"]

Progress = Callable[[int, int], None]
"""(steps done, steps total): a step is one corpus batch of the prompt passes or one neuron."""


class LookupsState(BaseModel):
    """What a resumed run needs: the chosen neurons, their prompts, and the neurons done."""

    layers: list[int]
    targets: list[NeuronTarget]
    prompts: dict[str, list[list[Any]]] = Field(description="'split:layer:neuron' -> prompts")
    split: SplitInfo
    pass_steps: int = Field(0, description="Corpus batches the prompt passes took")
    done: list[NeuronLookup] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)

    def prompts_of(self, split: str, t: NeuronTarget) -> list[MaxPrompt]:
        return [
            MaxPrompt.from_json(p) for p in self.prompts.get(f"{split}:{t.layer}:{t.neuron}", [])
        ]

    @property
    def total_steps(self) -> int:
        return self.pass_steps + len(self.targets)


# ---- phase 1: neurons --------------------------------------------------------------------------
def _token_neurons(
    lm: LanguageModel, layers: list[int], stored_inputs: StoredInputs | None, model: str
) -> list[NextTokenNeuron]:
    stored = (
        stored_inputs.token_neurons(model, layers, lm.adapter.d_mlp)
        if stored_inputs is not None
        else None
    )
    return stored if stored is not None else next_token_neurons(lm, NextTokenConfig(layers=layers))


# ---- phase 2: prompts --------------------------------------------------------------------------
def _interleaved(part: Corpus) -> Corpus:
    """The documents round-robin across languages, so that a token budget (which takes the first
    windows) samples every language rather than the first files. Deterministic."""
    groups: dict[str, list] = defaultdict(list)
    for doc in part.documents:
        groups[doc.lang or ""].append(doc)
    rounds = max((len(g) for g in groups.values()), default=0)
    order = [
        groups[lang][i] for i in range(rounds) for lang in sorted(groups) if i < len(groups[lang])
    ]
    return Corpus(part.name, tuple(order))


def _split_prompts(
    lm: LanguageModel,
    corpus: Corpus,
    split: str,
    targets: Sequence[Target],
    config: LookupsConfig,
    stored: StoredInputs | None,
    model: str,
    progress: Callable[[int, int], None],
) -> tuple[dict[Target, list[MaxPrompt]], int, str, int]:
    """(prompts per target, windows, source, corpus batches of the pass)."""
    part = (
        _interleaved(corpus.split(split)) if config.max_tokens is not None else corpus.split(split)
    )  # type: ignore[arg-type]
    windows = make_windows(
        part, lm.tokenizer, window_len=config.window_len, max_tokens=config.max_tokens
    )
    k = config.prompts if split == "train" else config.test_prompts
    found: dict[Target, list[MaxPrompt]] = {}
    source = []
    scan = _usable_scan(stored, model, split, targets, config, k) if windows else None
    if scan is not None:
        found = stored.prompts_from_scan(scan, targets, k, has_bos=windows[0].has_bos)  # type: ignore[union-attr]
        source.append(f"scan job {scan}")
    missing = [t for t in targets if t not in found]
    steps = 0
    if missing:
        pad = resolve_pad_id(lm.tokenizer)
        steps = sum(
            1 for _ in batches(windows, tokens_per_batch=config.tokens_per_batch, pad_id=pad)
        )
        docs = part.documents
        found |= collect_prompts(
            lm,
            windows,
            missing,
            k,
            tokens_per_batch=config.tokens_per_batch,
            doc_info=lambda d: (docs[d].id, docs[d].lang),
            progress=progress,
        )
        source.append("targeted pass")
    return found, len(windows), " + ".join(source) or "none", steps


def _usable_scan(
    stored: StoredInputs | None,
    model: str,
    split: str,
    targets: Sequence[Target],
    config: LookupsConfig,
    k: int,
) -> int | None:
    """A finished scan whose top-k holds this split's prompts exactly, if one was stored."""
    if stored is None or not config.use_scan or config.max_tokens is not None:
        return None
    return stored.find_scan(
        model,
        corpus=config.corpus,
        split=split,
        window_len=config.window_len,
        max_tokens=config.max_tokens,
        layers=sorted({t[0] for t in targets}),
        k=k,
    )


def prepare(
    lm: LanguageModel,
    config: LookupsConfig,
    *,
    stored: StoredInputs | None = None,
    model: str | None = None,
    progress: Progress | None = None,
) -> LookupsState:
    """Phases 1 and 2: the neurons and their prompts."""
    model = model or lm.name
    started = time.monotonic()
    layers = default_layers(lm.adapter.n_layers, config)
    neurons = _token_neurons(lm, layers, stored, model)
    targets = select_neurons(
        neurons,
        layers,
        config.neurons_per_layer,
        config.n_random,
        config.seed,
        whole_words=config.whole_words,
    )
    selected = time.monotonic()
    corpus = load_corpus(config.corpus)
    prompts, info, steps = _all_prompts(lm, corpus, targets, config, stored, model, progress)
    timings = {"select_s": selected - started, "prompts_s": time.monotonic() - selected}
    return LookupsState(
        layers=layers,
        targets=targets,
        prompts=prompts,
        split=_split_info(corpus, info),
        pass_steps=steps,
        timings=timings,
    )


def _all_prompts(
    lm: LanguageModel,
    corpus: Corpus,
    targets: Sequence[NeuronTarget],
    config: LookupsConfig,
    stored: StoredInputs | None,
    model: str,
    progress: Progress | None,
) -> tuple[dict[str, list[list[Any]]], dict[str, Any], int]:
    """Both splits' prompts as JSON by ``split:layer:neuron``, (windows, source) per split, and
    the corpus batches they took (the progress counts them before the neurons)."""
    keys = [(t.layer, t.neuron) for t in targets]
    offset = [0]

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(offset[0] + done, offset[0] + total + len(targets))

    prompts: dict[str, list[list[Any]]] = {}
    info: dict[str, Any] = {}
    for split in ("train", "test"):
        found, n_windows, source, steps = _split_prompts(
            lm, corpus, split, keys, config, stored, model, report
        )
        offset[0] += steps
        info[split] = (n_windows, source)
        prompts |= {
            f"{split}:{layer}:{neuron}": [p.to_json() for p in ps]
            for (layer, neuron), ps in found.items()
        }
    return prompts, info, offset[0]


def _split_info(corpus: Corpus, info: dict[str, Any]) -> SplitInfo:
    return SplitInfo(
        rule=SPLIT_RULE,
        train_documents=len(corpus.split("train").documents),
        test_documents=len(corpus.split("test").documents),
        train_windows=info["train"][0],
        test_windows=info["test"][0],
        train_source=info["train"][1],
        test_source=info["test"][1],
    )


# ---- phase 3: neurons one by one ---------------------------------------------------------------
def build_report(
    model: str,
    config: LookupsConfig,
    state: LookupsState,
    explainer: str,
    scorer: str,
    job_id: int | None = None,
) -> LookupsReport:
    order = {(t.group, t.layer, t.neuron): i for i, t in enumerate(state.targets)}
    neurons = sorted(state.done, key=lambda n: order.get((n.group, n.layer, n.neuron), len(order)))
    timings = {**state.timings, "neurons_s": sum(n.seconds for n in neurons)}
    timings["total_s"] = (
        timings.get("select_s", 0) + timings.get("prompts_s", 0) + timings["neurons_s"]
    )
    return LookupsReport(
        job_id=job_id,
        model=model,
        config=config,
        explainer=explainer,
        scorer=scorer,
        layers=state.layers,
        split=state.split,
        groups=[group_summary(neurons, "next_token"), group_summary(neurons, "random")],
        ablation=[ablation_summary(neurons, "next_token"), ablation_summary(neurons, "random")],
        neurons=neurons,
        timings=timings,
    )


def _steps(control: RunControl) -> Progress:
    """Progress in steps that also polls the stop: a step is the unit a stop may end."""

    def report(done: int, total: int) -> None:
        control.progress(done, total, "steps")
        if control.should_stop():
            raise StopRequested

    return report


def _save(control: RunControl, state: LookupsState) -> None:
    control.save_state({}, state.model_dump(mode="json"), state.pass_steps + len(state.done))


def run_lookups(
    lm: LanguageModel,
    config: LookupsConfig | None = None,
    *,
    stored: StoredInputs | None = None,
    model: str | None = None,
    explainer: ChatProvider | HeadExplainer | None = None,
    scorer: ChatProvider | HeadExplainer | None = None,
    state: LookupsState | None = None,
    control: RunControl | None = None,
    job_id: int | None = None,
) -> LookupsReport:
    """Run the analysis under ``control`` (progress in steps, a stop polled between steps, the
    state saved after the corpus pass and after every neuron); it resumes from the control's
    checkpoint, or from ``state`` when one is given. ``stored`` lets it reuse earlier jobs'
    congruence and scans (``StoredLookupsInputs(db)`` from the store).

    ``explainer``/``scorer`` (a chat provider, asked with the paper's prompts, or any
    :class:`HeadExplainer`) default to what the config names: the model-free ``tokens`` /
    ``keywords`` pair, or providers whose answers are cached under :func:`explanation_cache_dir`.
    """
    config = config or LookupsConfig()
    model = model or lm.name
    control = control or LocalControl()
    if state is None:
        saved = control.load_state()
        state = LookupsState.model_validate(saved.meta) if saved is not None else None
    if state is None:
        state = prepare(lm, config, stored=stored, model=model, progress=_steps(control))
        _save(control, state)
    explainer, scorer = head_explainers(config, explainer, scorer)
    finished = {(n.group, n.layer, n.neuron) for n in state.done}
    for i, t in enumerate(state.targets):
        _steps(control)(state.pass_steps + i, state.total_steps)
        if (t.group, t.layer, t.neuron) in finished:
            continue
        lookup = analyse_neuron(
            lm,
            t,
            state.prompts_of("train", t),
            state.prompts_of("test", t),
            config,
            explainer,
            scorer,
        )
        state.done.append(lookup)
        _save(control, state)
    control.progress(state.total_steps, state.total_steps, "steps")
    return build_report(model, config, state, explainer.name, scorer.name, job_id)
