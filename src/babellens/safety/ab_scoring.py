"""P(matching answer) for A/B questions from the next-token probabilities of the two letters.

No generation: one forward pass per question gives p(A) and p(B) at the position after ``(``;
the score is p(matching letter) / (p(A) + p(B)), CAA's measure, so a model that puts its mass
elsewhere still gets a number between 0 and 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from babellens.capture.interventions import Intervention
from babellens.capture.language_model import LanguageModel
from babellens.safety.data import ABItem
from babellens.safety.prompts import ab_prompt, letter_token_ids

__all__ = ["letter_probabilities", "matching_probabilities"]


def letter_probabilities(
    lm: LanguageModel,
    prompts: Sequence[str],
    letters: tuple[int, int],
    interventions: Sequence[Intervention] = (),
) -> torch.Tensor:
    """[n, 2]: the full-vocabulary next-token probabilities of the A and B tokens after each
    prompt (right padding: each row read at its own last real token)."""
    enc = lm.tokenize(list(prompts))
    with torch.inference_mode():
        logits = lm.run(enc, interventions=interventions, logits=True).logits
    last = enc["attention_mask"].sum(1) - 1
    rows = logits[torch.arange(len(prompts)), last].float()
    probs = torch.softmax(rows, -1)
    return probs[:, list(letters)].cpu()


def matching_probabilities(
    lm: LanguageModel,
    items: Sequence[ABItem],
    interventions: Sequence[Intervention] = (),
    batch_size: int = 16,
) -> list[float]:
    """p(matching) / (p(A) + p(B)) per item."""
    prompts = [ab_prompt(lm.tokenizer, item) for item in items]
    letters = letter_token_ids(lm.tokenizer, prompts[0])
    out: list[float] = []
    for start in range(0, len(prompts), batch_size):
        probs = letter_probabilities(
            lm, prompts[start : start + batch_size], letters, interventions
        )
        for item, (p_a, p_b) in zip(items[start : start + batch_size], probs.tolist(), strict=True):
            p_match = p_a if item.matching_letter == "A" else p_b
            out.append(p_match / (p_a + p_b))
    return out
