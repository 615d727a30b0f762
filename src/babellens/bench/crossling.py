"""The two hot paths of a cross-lingual run against their plain versions, in the same process.

- A LoRA step with logits only at the completion positions (:func:`completion_loss`) against the
  same step through ``model(**batch).loss``, which unembeds every position.
- A dose-response curve answered in shared batches (one push per row) against one generation per
  coefficient, as the steering module alone would do it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel

from babellens.bench.steering import PROMPTS
from babellens.capture.language_model import LanguageModel
from babellens.crossling.lora import LoraConfig, TrainExample, completion_batch, completion_loss
from babellens.crossling.rates import RateConfig, Steering, behaviour_rate, behaviour_rates
from babellens.steering import ContrastPair, ContrastSet, build

__all__ = ["CrosslingBenchResult", "bench_crossling"]


class CrosslingBenchResult(BaseModel):
    model: str
    lora_batch: int
    lora_rounds: int
    lora_full_loss_s: float
    lora_completion_loss_s: float
    lora_ratio: float
    curve_points: int
    curve_prompts: int
    curve_new_tokens: int
    curve_separate_s: float
    curve_shared_s: float
    curve_ratio: float


def _lora_steps(lm: LanguageModel, rounds: int) -> tuple[int, float, float]:
    import peft

    examples = [
        TrainExample(prompt=f"Question: {q}\nAnswer:", completion=(q + " ") * 6) for q in PROMPTS
    ]
    config = LoraConfig()
    model = peft.get_peft_model(
        lm.model,
        peft.LoraConfig(
            r=config.r,
            lora_alpha=config.alpha,
            target_modules=config.target_modules,
            task_type="CAUSAL_LM",
        ),
    )
    batch = completion_batch(lm.tokenizer, examples, config.max_length)
    losses: dict[str, Callable[[], object]] = {
        "full": lambda: model(**batch).loss,
        "completion": lambda: completion_loss(model, batch),
    }
    totals = dict.fromkeys(losses, 0.0)
    try:
        for round_ in range(rounds + 1):  # the first round warms up
            for name, loss in losses.items():
                start = time.perf_counter()
                loss().backward()  # type: ignore[attr-defined]
                model.zero_grad(set_to_none=True)
                if round_:
                    totals[name] += time.perf_counter() - start
    finally:
        model.unload()  # the caller's model without the adapter layers again
    return len(examples), totals["full"], totals["completion"]


def bench_crossling(
    lm: LanguageModel, *, rounds: int = 3, prompts: int = 8, new_tokens: int = 32
) -> CrosslingBenchResult:
    """Both comparisons on ``lm``; the curve is the experiment's default: 2 vectors × 3 pushes + 0."""
    from babellens.crossling.behaviours import get_behaviour

    batch, full_s, completion_s = _lora_steps(lm, rounds)
    layer = round(0.3 * (lm.adapter.n_layers - 1))
    pairs = [ContrastPair(positive=q.upper(), negative=q) for q in PROMPTS]
    vector = build(lm, ContrastSet(name="bench", pairs=pairs), [layer], read="mean")
    conditions = [None] + [Steering(vector, c * s, (layer,)) for s in (1, -1) for c in (0.5, 1, 2)]
    metric = get_behaviour("caps").metric
    config = RateConfig(prompts=prompts, max_new_tokens=new_tokens, batch_size=64)
    start = time.perf_counter()
    behaviour_rates(lm, [("en", c) for c in conditions], metric, config)
    shared_s = time.perf_counter() - start
    start = time.perf_counter()
    for condition in conditions:
        behaviour_rate(lm, "en", metric, config, steering=condition)
    separate_s = time.perf_counter() - start
    return CrosslingBenchResult(
        model=lm.name,
        lora_batch=batch,
        lora_rounds=rounds,
        lora_full_loss_s=full_s,
        lora_completion_loss_s=completion_s,
        lora_ratio=completion_s / full_s,
        curve_points=len(conditions),
        curve_prompts=prompts,
        curve_new_tokens=new_tokens,
        curve_separate_s=separate_s,
        curve_shared_s=shared_s,
        curve_ratio=shared_s / separate_s,
    )
