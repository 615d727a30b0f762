import torch

from babellens.safety import (
    ab_prompt,
    letter_probabilities,
    letter_token_ids,
    load_concept,
    matching_probabilities,
)
from tiny_models import tiny_lm_with_tokenizer


def test_letter_probabilities_match_a_hand_computation_with_plain_transformers():
    lm = tiny_lm_with_tokenizer("llama")
    items = load_concept("sycophancy", "en").split("test")[:3]
    prompts = [ab_prompt(lm.tokenizer, item) for item in items]
    assert all(p.endswith("(") for p in prompts)
    letters = letter_token_ids(lm.tokenizer, prompts[0])
    assert [lm.tokenizer.decode([i]) for i in letters] == ["A", "B"]
    found = letter_probabilities(lm, prompts, letters)
    scores = matching_probabilities(lm, items)
    for prompt, item, row, score in zip(prompts, items, found, scores, strict=True):
        ids = lm.tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = lm.model(input_ids=ids).logits[0, -1].double()
        probs = torch.softmax(logits, -1)
        p_a, p_b = float(probs[letters[0]]), float(probs[letters[1]])
        assert torch.allclose(
            row.double(), torch.tensor([p_a, p_b], dtype=torch.float64), atol=1e-6
        )
        p_match = p_a if item.matching_letter == "A" else p_b
        assert abs(score - p_match / (p_a + p_b)) < 1e-5
