"""Evaluate a steering vector the way a reviewer expects.

- dose-response: the behaviour metric against the coefficient, both signs, beside a random vector
  of the same norm per layer (the control: does *any* push of that size do this?);
- layer sweep at one coefficient;
- cost: KL divergence of the next-token distribution on neutral text (plain ‖ steered), and the
  fraction of degenerate (repetitive) outputs;
- reliability: per-prompt effects (how many move the wrong way) and the mean cosine of the
  training differences with the vector.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from pydantic import BaseModel, Field

from babellens.capture.language_model import LanguageModel
from babellens.control import LocalControl, RunControl, StopRequested
from babellens.report import Report
from babellens.steering.apply import apply, generate
from babellens.steering.metrics import Metric, get_metric
from babellens.steering.vector import SteeringVector, VectorInfo

__all__ = [
    "DosePoint",
    "EvalConfig",
    "SteeringReport",
    "degenerate",
    "evaluate",
    "kl_cost",
    "random_like",
]


class EvalConfig(BaseModel):
    coefficients: list[float] = Field(default_factory=lambda: [-2.0, -1.0, 0.0, 1.0, 2.0])
    layers: list[int] | None = Field(
        None, description="Layers to steer (default: all of the vector's)"
    )
    sweep_layers: list[int] | None = Field(
        None, description="Layers for the sweep (default: the vector's)"
    )
    sweep_coefficient: float | None = Field(None, description="Default: the largest coefficient")
    positions: str = "all"
    max_new_tokens: int = Field(24, ge=1, le=512)
    temperature: float = Field(0.0, ge=0.0)
    seed: int = 0
    control: bool = True


class DosePoint(BaseModel):
    coefficient: float
    mean: float | None = Field(
        description="Mean over prompts (None when no output could be scored)"
    )
    std: float | None
    control_mean: float | None = None
    kl: float | None = Field(
        None, description="Mean KL(plain ‖ steered) of next-token distributions on neutral text"
    )
    degenerate: float = Field(description="Fraction of outputs that repeat themselves")
    wrong_way: float | None = Field(
        None, description="Fraction of prompts that moved against the coefficient's sign"
    )
    samples: list[str] = Field(description="The first few outputs, to read")


class SteeringReport(Report):
    report_kind: ClassVar[str] = "steering_eval"
    report_version: ClassVar[int] = 1

    vector: VectorInfo
    metric: str
    prompts: int
    dose_response: list[DosePoint]
    layer_sweep: dict[int, float | None]
    per_prompt_effects: dict[float, list[float | None]] = Field(
        description="metric(c) − metric(0) per prompt"
    )
    mean_diff_cosine: float | None


def random_like(vector: SteeringVector, seed: int = 0) -> SteeringVector:
    """A random direction per layer with the same norm: the control for a dose-response curve."""
    gen = torch.Generator().manual_seed(seed)
    directions = {}
    for layer, v in vector.directions.items():
        r = torch.randn(v.shape, generator=gen)
        directions[layer] = r / r.norm() * v.float().norm()
    info = vector.info.model_copy(update={"name": f"random-{vector.info.name}", "method": "random"})
    return SteeringVector(info=info, directions=directions)


def degenerate(text: str, n: int = 3) -> bool:
    """Repetitive: fewer than half of the word n-grams are distinct (or a run of one token)."""
    words = text.split()
    if len(words) < 2 * n:
        return len(words) >= 4 and len(set(words)) == 1
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) < 0.5


def _next_token_probs(lm: LanguageModel, texts: Sequence[str]) -> torch.Tensor:
    """[n, vocab] next-token distribution after each text (right padding: read the last real token)."""
    enc = lm.tokenize(list(texts))
    logits = lm.run(enc, logits=True).logits
    last = enc["attention_mask"].sum(1) - 1
    return torch.softmax(logits[torch.arange(len(texts)), last].float(), dim=-1).cpu()


def kl_cost(
    lm: LanguageModel,
    vector: SteeringVector,
    coefficient: float,
    neutral: Sequence[str],
    layers: Sequence[int] | None = None,
) -> float:
    """Mean KL(plain ‖ steered) of the next-token distribution over every position of ``neutral``,
    steered at every position (the cost of the direction itself, whatever positions the
    behaviour is steered at)."""
    enc = lm.tokenize(list(neutral))
    mask = enc["attention_mask"].bool()
    with torch.inference_mode():
        plain = torch.log_softmax(lm.run(enc, logits=True).logits.float(), -1)
        with apply(lm, vector, coefficient, layers):
            steered = torch.log_softmax(lm.run(enc, logits=True).logits.float(), -1)
    kl = (plain.exp() * (plain - steered)).sum(-1)
    return float(kl[mask].mean())


def _score(
    lm: LanguageModel,
    metric: Metric,
    prompts: Sequence[str],
    vector: SteeringVector | None,
    coefficient: float,
    config: EvalConfig,
) -> tuple[list[float], list[str]]:
    if metric.kind == "probs":
        with torch.inference_mode():
            if vector is None:
                probs = _next_token_probs(lm, prompts)
            elif (
                config.positions == "generated"
            ):  # right padding: one prompt at a time, so -1 is real
                with apply(lm, vector, coefficient, config.layers, "generated"):
                    probs = torch.cat([_next_token_probs(lm, [p]) for p in prompts])
            else:
                with apply(lm, vector, coefficient, config.layers):
                    probs = _next_token_probs(lm, prompts)
        return [metric.fn(p) for p in probs], []
    outputs = generate(
        lm,
        prompts,
        vector,
        coefficient,
        layers=config.layers,
        positions=config.positions,  # type: ignore[arg-type]
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        seed=config.seed,
    )
    return [metric.fn(text) for text in outputs], outputs


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return None, None
    mean = sum(finite) / len(finite)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in finite) / len(finite))


def evaluate(
    lm: LanguageModel,
    vector: SteeringVector,
    prompts: Sequence[str],
    metric: str | Metric | Callable[[str], float] = "uppercase_fraction",
    *,
    neutral: Sequence[str] = (),
    config: EvalConfig | None = None,
    control: RunControl | None = None,
) -> SteeringReport:
    """Dose-response beside the random control, layer sweep and costs. Each scored run is one
    unit of progress and is saved through ``control``, so a stopped or killed evaluation resumes
    at the run it was in and ends with the report of an uninterrupted one."""
    config = config or EvalConfig()
    chosen = get_metric(metric, lm.tokenizer)
    runs = _Runs(lm, vector, prompts, chosen, config, control or LocalControl())
    coefficients = sorted(set(config.coefficients) | {0.0})
    scored, controls = runs.dose_response(coefficients)
    points, effects = _dose_points(lm, vector, coefficients, scored, controls, neutral, config)
    sweep_c = (
        config.sweep_coefficient
        if config.sweep_coefficient is not None
        else max(coefficients, key=abs)
    )
    cosines = list(vector.info.diff_cosine.values())
    return SteeringReport(
        vector=vector.info,
        metric=chosen.name,
        prompts=len(prompts),
        dose_response=points,
        layer_sweep=runs.layer_sweep(sweep_c),
        per_prompt_effects=effects,
        mean_diff_cosine=sum(cosines) / len(cosines) if cosines else None,
    )


Scored = tuple[list[float], list[str]]
"""One run's metric per prompt and its outputs (none for a next-token metric)."""


class _Runs:
    """The scored runs of one evaluation, each saved in the checkpoint's metadata as it ends."""

    def __init__(
        self,
        lm: LanguageModel,
        vector: SteeringVector,
        prompts: Sequence[str],
        metric: Metric,
        config: EvalConfig,
        control: RunControl,
    ) -> None:
        self.lm, self.vector, self.prompts, self.metric = lm, vector, prompts, metric
        self.config, self.control = config, control
        self.random = random_like(vector, config.seed) if config.control else None
        n = len(set(config.coefficients) | {0.0})
        self.sweep_layers = config.sweep_layers or sorted(vector.directions)
        # the random control at 0 is the steered run at 0: not a run of its own
        self.total = n + (n - 1 if self.random else 0) + len(self.sweep_layers)
        saved = self.control.load_state()
        self.done: dict[str, Scored] = (
            {k: (v[0], v[1]) for k, v in saved.meta.get("runs", {}).items()} if saved else {}
        )

    def run(
        self, key: str, vector: SteeringVector, coefficient: float, config: EvalConfig
    ) -> Scored:
        if key not in self.done:
            if self.control.should_stop():
                raise StopRequested
            self.done[key] = _score(self.lm, self.metric, self.prompts, vector, coefficient, config)
            runs = {k: [list(v), list(o)] for k, (v, o) in self.done.items()}
            self.control.save_state({}, {"runs": runs}, len(self.done))
        self.control.progress(len(self.done), self.total, "runs")
        return self.done[key]

    def dose_response(
        self, coefficients: list[float]
    ) -> tuple[dict[float, Scored], dict[float, float | None]]:
        """Per coefficient the steered scores (0 runs once: the per-prompt baseline) and the
        random control's mean (at 0 the control adds nothing either: the same outputs)."""
        scored: dict[float, Scored] = {}
        controls: dict[float, float | None] = {}
        for c in coefficients:
            scored[c] = self.run(f"vector:{c!r}", self.vector, c, self.config)
            if self.random is None:
                continue
            if c == 0:
                controls[c] = _mean_std(scored[c][0])[0]
            else:
                controls[c] = _mean_std(self.run(f"random:{c!r}", self.random, c, self.config)[0])[
                    0
                ]
        return scored, controls

    def layer_sweep(self, coefficient: float) -> dict[int, float | None]:
        sweep = {}
        for layer in self.sweep_layers:
            one = self.config.model_copy(update={"layers": [layer]})
            sweep[layer] = _mean_std(self.run(f"layer:{layer}", self.vector, coefficient, one)[0])[
                0
            ]
        return sweep


def _dose_points(
    lm: LanguageModel,
    vector: SteeringVector,
    coefficients: list[float],
    scored: dict[float, Scored],
    controls: dict[float, float | None],
    neutral: Sequence[str],
    config: EvalConfig,
) -> tuple[list[DosePoint], dict[float, list[float | None]]]:
    baseline = scored[0.0][0]
    points, effects = [], {}
    for c in coefficients:
        values, outputs = scored[c]
        mean, std = _mean_std(values)
        effects[c] = [
            None if math.isnan(v - b) else v - b for v, b in zip(values, baseline, strict=True)
        ]
        wrong = [e for e in effects[c] if e is not None and c != 0 and e * c < 0]
        points.append(
            DosePoint(
                coefficient=c,
                mean=mean,
                std=std,
                control_mean=controls.get(c),
                kl=kl_cost(lm, vector, c, neutral, config.layers) if neutral else None,
                degenerate=sum(degenerate(o) for o in outputs) / len(outputs) if outputs else 0.0,
                wrong_way=len(wrong) / len(values) if c != 0 else None,
                samples=outputs[:3],
            )
        )
    return points, effects
