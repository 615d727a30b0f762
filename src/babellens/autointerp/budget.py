"""What an explain run will cost before it starts, so a budget cap can refuse it up front.

Counts are upper bounds from the sampler's sizes (a unit that fires too rarely is skipped and
costs nothing); tokens are estimated at 1.3 per example token plus the fixed prompt text, and
the answer's ``max_tokens``. A model-free explainer or judge costs no calls.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from babellens.autointerp.sampling import SamplerConfig
from babellens.errors import InvalidInputError

__all__ = ["Cost", "check_budget", "estimate_cost"]

_PROMPT_TOKENS = 150
_TOKENS_PER_EXAMPLE_TOKEN = 1.3
_EXPLAIN_ANSWER = 60
_JUDGE_ANSWER = 6


class Cost(BaseModel):
    calls: int = Field(description="Chat requests (explainer and judge together)")
    tokens: int = Field(description="Prompt and answer tokens, estimated")
    explainer_calls: int
    judge_calls: int


def estimate_cost(
    n_units: int,
    sampler: SamplerConfig,
    scorers: list[str],
    *,
    llm_explainer: bool,
    llm_judge: bool,
) -> Cost:
    example = sampler.ctx_len * _TOKENS_PER_EXAMPLE_TOKEN
    explain_calls = n_units if llm_explainer else 0
    explain_tokens = explain_calls * (_PROMPT_TOKENS + sampler.n_train * example + _EXPLAIN_ANSWER)
    # every held-out example is judged twice per scorer: the unit's explanation and a random one
    per_unit = len(scorers) * 2 * (sampler.n_test + sampler.n_non_activating)
    judge_calls = n_units * per_unit if llm_judge else 0
    judge_tokens = judge_calls * (_PROMPT_TOKENS + example + _JUDGE_ANSWER)
    return Cost(
        calls=explain_calls + judge_calls,
        tokens=int(explain_tokens + judge_tokens),
        explainer_calls=explain_calls,
        judge_calls=judge_calls,
    )


def check_budget(cost: Cost, max_calls: int | None, max_tokens: int | None) -> None:
    """Refuse, with the numbers, a run whose estimate exceeds either cap."""
    if max_calls is not None and cost.calls > max_calls:
        raise InvalidInputError(
            f"this run needs up to {cost.calls:,} calls ({cost.explainer_calls:,} explainer, "
            f"{cost.judge_calls:,} judge) but max_calls is {max_calls:,}: raise it, or explain "
            "fewer units (--limit) or fewer examples"
        )
    if max_tokens is not None and cost.tokens > max_tokens:
        raise InvalidInputError(
            f"this run needs about {cost.tokens:,} tokens but max_tokens is {max_tokens:,}: "
            "raise it, or explain fewer units (--limit) or fewer examples"
        )
