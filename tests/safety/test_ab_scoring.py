import torch

from babellens.safety import (
    ab_prompt,
    answer_opening,
    contrast_set,
    letter_probabilities,
    letter_texts,
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


_CHAT = (
    "{% for m in messages %}<|user|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _chat_lm(merges=()):
    lm = tiny_lm_with_tokenizer("llama", merges=merges)
    lm.tokenizer.chat_template = _CHAT
    return lm


def test_a_tokenizer_that_merges_the_bracket_scores_the_merged_letter_tokens():
    # Qwen2's tokenizer makes "(A" one token: the options read "(A", ")" and the answer's first
    # token is "(A", never "(" then "A"
    lm = _chat_lm(merges=[("(", "A"), ("(", "B")])
    tok = lm.tokenizer
    merged = tok.convert_tokens_to_ids(["(A", "(B"])
    items = load_concept("sycophancy", "en").split("test")[:3]
    prompts = [ab_prompt(tok, item) for item in items]
    assert all(p.endswith("<|assistant|>\n") for p in prompts)
    assert answer_opening(tok, prompts[0]) == ""
    assert letter_texts(prompts[0]) == ("(A", "(B")
    assert list(letter_token_ids(tok, prompts[0])) == merged
    question = tok(prompts[0], add_special_tokens=False)["input_ids"]
    assert merged[0] in question and merged[1] in question  # the options' own tokens
    scores = matching_probabilities(lm, items)
    for prompt, item, score in zip(prompts, items, scores, strict=True):
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            probs = torch.softmax(lm.model(input_ids=ids).logits[0, -1].double(), -1)
        p_a, p_b = float(probs[merged[0]]), float(probs[merged[1]])
        p_match = p_a if item.matching_letter == "A" else p_b
        assert abs(score - p_match / (p_a + p_b)) < 1e-5


def test_a_tokenizer_that_keeps_the_bracket_apart_ends_the_prompt_in_it():
    lm = _chat_lm()
    item = load_concept("sycophancy", "en").split("test")[0]
    prompt = ab_prompt(lm.tokenizer, item)
    assert prompt.endswith("<|assistant|>\n(")
    ids = letter_token_ids(lm.tokenizer, prompt)
    assert [lm.tokenizer.decode([i]) for i in ids] == ["A", "B"]


def test_the_directions_read_the_merged_letter_token():
    lm = _chat_lm(merges=[("(", "A"), ("(", "B")])
    contrast = contrast_set(lm, load_concept("hallucination", "de"), "train", 4)
    merged = lm.tokenizer.convert_tokens_to_ids(["(A", "(B"])
    for text, other in zip(contrast.positives, contrast.negatives, strict=True):
        last, other_last = (lm.tokenizer(t)["input_ids"][-1] for t in (text, other))
        assert {last, other_last} == set(merged)
