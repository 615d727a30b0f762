"""Steps 3-7 for one neuron: truncate, attribute, explain the heads, score them, ablate them."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from babellens.autointerp import HeadExplainer
from babellens.capture.language_model import LanguageModel
from babellens.data.batching import pad_batch, resolve_pad_id
from babellens.lookups.ablation import head_ablation_drop, token_probabilities
from babellens.lookups.attribution import active_heads, head_attributions
from babellens.lookups.config import LookupsConfig
from babellens.lookups.prompts_data import MaxPrompt
from babellens.lookups.report import ExampleRecord, HeadFrequency, HeadLookup, NeuronLookup
from babellens.lookups.selection import NeuronTarget
from babellens.lookups.summary import head_ablation, missing_class, score_answers
from babellens.lookups.truncation import truncate

_TINY = 1e-30  # log of a probability that underflowed to 0

__all__ = ["Attributed", "analyse_neuron", "attribute_prompts"]


class _Clock:
    """Wall seconds per step, summed over the calls of one neuron."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.monotonic() - start


@dataclass
class Attributed:
    """One truncated prompt with every head's attribution and the active set."""

    prompt: MaxPrompt
    ids: list[int]
    activation: float
    original: float
    values: torch.Tensor  # [layer, n_heads]
    active: set[tuple[int, int]]


def _truncated(
    lm: LanguageModel, t: NeuronTarget, prompts: Sequence[MaxPrompt], config: LookupsConfig
) -> tuple[list[tuple[MaxPrompt, list[int], float, float]], int]:
    kept, dropped = [], 0
    for p in prompts:
        if p.value <= 0:  # a neuron that never fires here has nothing to look up
            dropped += 1
            continue
        cut = truncate(
            lm,
            list(p.token_ids),
            t.layer,
            t.neuron,
            ratio=config.ratio,
            max_tokens=config.max_prompt_tokens,
            method=config.truncation,
            batch_size=config.batch_size,
        )
        if cut is None:
            dropped += 1
            continue
        kept.append((p, list(cut.ids), float(cut.activation), float(cut.original)))
    return kept, dropped


def attribute_prompts(
    lm: LanguageModel,
    t: NeuronTarget,
    prompts: Sequence[MaxPrompt],
    config: LookupsConfig,
    clock: _Clock | None = None,
) -> tuple[list[Attributed], int, str | None]:
    """Truncated prompts with their head attributions at the last token, batched."""
    clock = clock or _Clock()
    with clock("truncate"):
        kept, dropped = _truncated(lm, t, prompts, config)
    out: list[Attributed] = []
    method = None
    for start in range(0, len(kept), config.batch_size):
        chunk = kept[start : start + config.batch_size]
        input_ids, mask = pad_batch([ids for _, ids, _, _ in chunk], resolve_pad_id(lm.tokenizer))
        with clock("attribute"):
            attr = head_attributions(
                lm, input_ids, mask, t.layer, t.neuron, method=config.attribution
            )
        method = attr.method
        for row, (p, ids, act, orig) in enumerate(chunk):
            values = attr.values[row]
            active = set(active_heads(values, rule=config.active_rule, k=config.top_k_heads))
            out.append(Attributed(p, ids, act, orig, values, active))
    return out, dropped, method


def _example(lm: LanguageModel, a: Attributed, split: str, head: tuple[int, int]) -> ExampleRecord:
    text = lm.tokenizer.decode(a.ids, skip_special_tokens=True)
    return ExampleRecord(
        split=split,
        window=a.prompt.window,
        doc_id=a.prompt.doc_id,
        lang=a.prompt.lang,
        text=text,  # type: ignore[arg-type]
        n_tokens=len(a.ids),
        activation=a.activation,
        original=a.original,
        attribution=float(a.values[head[0], head[1]]),
        active=head in a.active,
    )


def _frequencies(train: Sequence[Attributed]) -> list[HeadFrequency]:
    counts = Counter(h for a in train for h in a.active)
    n = max(len(train), 1)
    return [
        HeadFrequency(layer=layer, head=head, fraction=c / n)
        for (layer, head), c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _explain_head(
    lm: LanguageModel,
    t: NeuronTarget,
    head: tuple[int, int],
    train: Sequence[Attributed],
    test: Sequence[Attributed],
    config: LookupsConfig,
    explainer: HeadExplainer,
    scorer: HeadExplainer,
    fraction: float,
    clean: torch.Tensor | None,
    clock: _Clock,
) -> HeadLookup:
    train_ex = [_example(lm, a, "train", head) for a in train]
    test_ex = [_example(lm, a, "test", head) for a in test]
    limit = config.explain_examples
    active = [e.text + t.token for e in train_ex if e.active][:limit]
    inactive = [e.text + t.token for e in train_ex if not e.active][:limit]
    with clock("explain"):
        explanation = explainer.explain(active, inactive, t.token)
    truth = [e.active for e in test_ex]
    score, unparsed = None, 0
    note = missing_class(truth)  # as in the paper, such pairs are skipped: no scorer calls
    if note is None:
        with clock("score"):
            answers = scorer.score(explanation, [e.text + t.token for e in test_ex], t.token)
        for e, answer in zip(test_ex, answers, strict=True):
            e.predicted = answer
        unparsed = sum(a is None for a in answers)
        score, note = score_answers(truth, answers, config.unparsed)
    if clean is not None:
        with clock("ablate"):
            drops = head_ablation_drop(
                lm,
                [a.ids for a in train],
                head[0],
                head[1],
                t.token_id,
                batch_size=config.batch_size,
                clean=clean,
            )
        for e, d, p in zip(train_ex, drops.tolist(), clean.tolist(), strict=True):
            e.ablation_drop, e.probability = float(d), float(p)
            e.ablated_probability = float(p - d)
            e.logprob_drop = math.log(max(p, _TINY)) - math.log(max(p - d, _TINY))
            e.relative_drop = d / p if p > 0 else None
    # the ablated head must be the one the attribution marked: recount its active prompts
    marked = sum(e.active for e in train_ex) / len(train_ex) if train_ex else None
    lookup = HeadLookup(
        layer=head[0],
        head=head[1],
        active_fraction=fraction,
        attributed_fraction=marked,
        explanation=explanation,
        score=score,
        score_note=note,
        n_test=len(test_ex),
        n_unparsed=unparsed,
        examples=train_ex + test_ex,
    )
    return head_ablation(lookup)


def analyse_neuron(
    lm: LanguageModel,
    t: NeuronTarget,
    train_prompts: Sequence[MaxPrompt],
    test_prompts: Sequence[MaxPrompt],
    config: LookupsConfig,
    explainer: HeadExplainer,
    scorer: HeadExplainer,
) -> NeuronLookup:
    """Everything the report holds about one neuron."""
    started = time.monotonic()
    clock = _Clock()
    train, dropped_train, method = attribute_prompts(lm, t, train_prompts, config, clock)
    test, dropped_test, _ = attribute_prompts(lm, t, test_prompts, config, clock)
    frequent = _frequencies(train)
    chosen = [f for f in frequent if config.min_active <= f.fraction <= config.max_active]
    chosen = chosen[: config.max_heads]  # most often active first; None keeps them all
    clean = None  # P(token) without ablation: one pass shared by every head of this neuron
    if config.ablation and chosen and train:
        with clock("ablate"):
            clean = token_probabilities(lm, [a.ids for a in train], t.token_id, config.batch_size)
    heads = [
        _explain_head(
            lm,
            t,
            (f.layer, f.head),
            train,
            test,
            config,
            explainer,
            scorer,
            f.fraction,
            clean,
            clock,
        )
        for f in chosen
    ]
    return NeuronLookup(
        group=t.group,
        layer=t.layer,
        neuron=t.neuron,
        token_id=t.token_id,
        token=t.token,
        congruence=t.congruence,
        n_train=len(train),
        n_test=len(test),
        n_dropped=dropped_train + dropped_test,
        attribution_method=method,
        frequent_heads=frequent,
        heads=heads,
        seconds=time.monotonic() - started,
        phase_seconds=clock.seconds,
    )
