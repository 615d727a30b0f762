"""What a direction costs: KL(plain || edited) of the next-token distribution on neutral text
(bundled corpus, held-out split, every language of the run), beside the same edit with the
norm-matched random direction."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from babellens.capture.interventions import Intervention
from babellens.capture.language_model import LanguageModel
from babellens.control import LocalControl, RunControl, StopRequested
from babellens.errors import BabelLensError
from babellens.safety.config import SafetyParams
from babellens.safety.interventions import ablation_interventions, row_push

__all__ = ["kl_costs", "kl_divergence", "neutral_texts"]


def neutral_texts(langs: Sequence[str], per_lang: int, chars: int = 160) -> list[str]:
    from babellens.data.corpus import load_corpus

    texts: list[str] = []
    for lang in langs:
        try:
            docs = load_corpus(split="test", languages=[lang]).documents[:per_lang]
        except BabelLensError:  # a language without bundled text adds none
            continue
        texts += [d.text[:chars] for d in docs]
    return texts


def kl_divergence(
    lm: LanguageModel,
    texts: Sequence[str],
    edits: Sequence[Intervention],
    plain: torch.Tensor | None = None,
) -> float:
    """Mean KL(plain || edited) over every real position of ``texts``; ``plain`` (the unedited
    log-probabilities) may be given so that many edits share one plain pass."""
    enc = lm.tokenize(list(texts))
    mask = enc["attention_mask"].bool()
    with torch.inference_mode():
        if plain is None:
            plain = torch.log_softmax(lm.run(enc, logits=True).logits.float(), -1)
        edited = torch.log_softmax(lm.run(enc, interventions=edits, logits=True).logits.float(), -1)
    kl = (plain.exp() * (plain - edited)).sum(-1)
    return float(kl[mask].mean())


def _edits(
    lm: LanguageModel, condition: str, vector: torch.Tensor, layer: int, rows: int
) -> list[Intervention]:
    batch = vector.float().expand(rows, -1).to(lm.device)
    if condition == "ablation":
        unit = batch / vector.norm().clamp_min(1e-12)
        return ablation_interventions(lm.adapter.n_layers, unit)
    return [row_push(layer, batch.to(lm.dtype))]


def kl_costs(
    lm: LanguageModel,
    kind: str,
    params: SafetyParams,
    directions: dict[str, torch.Tensor],
    randoms: dict[str, torch.Tensor],
    layer: int,
    texts: Sequence[str],
    control: RunControl | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Condition -> per language: the KL of its direction, and of its random control.

    One forward pass per (condition, direction or control, language): minutes on a CPU for six
    languages, so it reports progress and stops between passes when asked.
    """
    if not texts:
        return {}, {}
    control = control or LocalControl()
    if kind == "instructions":
        conditions = {"ablation": 1.0, "addition": params.add_coefficient}
    else:
        extremes = {min(params.multipliers), max(params.multipliers)} - {0.0}
        conditions = {f"x{m:g}": m for m in sorted(extremes)}
    with torch.inference_mode():
        plain = torch.log_softmax(lm.run(lm.tokenize(list(texts)), logits=True).logits.float(), -1)
    kl: dict[str, list[float]] = {}
    kl_random: dict[str, list[float]] = {}
    total, done = 2 * len(conditions) * len(params.langs), 0
    for name, scale in conditions.items():
        base = "ablation" if name == "ablation" else "addition"
        for out, source in ((kl, directions), (kl_random, randoms)):
            out[name] = []
            for lang in params.langs:
                if control.should_stop():
                    raise StopRequested
                edits = _edits(lm, base, scale * source[lang], layer, len(texts))
                out[name].append(kl_divergence(lm, texts, edits, plain))
                done += 1
                control.progress(done, total, "passes", f"KL cost: {name}, {lang}")
    return kl, kl_random
