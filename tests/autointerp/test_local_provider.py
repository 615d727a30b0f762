from __future__ import annotations

import pytest
import torch

from babellens.autointerp import LocalProvider, get_provider
from babellens.errors import InvalidInputError
from tiny_models import tiny_lm_with_tokenizer

TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)
QUESTIONS = ["Say hi.", "What is the capital of France? Answer in one word.", "2+2="]
TINY_QUESTIONS = ["Say hi.", "Name a big city.", "2+2="]  # within the tiny model's 64 positions


def _chat(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def _plain_greedy(lm, ids: list[int], max_tokens: int) -> str:
    """The reference: transformers' own generate on one unpadded prompt."""
    with torch.inference_mode():
        out = lm.model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=max_tokens,
            do_sample=False,
            temperature=None,
            top_k=None,
            top_p=None,
            pad_token_id=lm.tokenizer.pad_token_id,
        )
    return lm.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True).strip()


@pytest.fixture(scope="module")
def tiny_chat():
    lm = tiny_lm_with_tokenizer("llama")
    lm.tokenizer.chat_template = TEMPLATE
    return LocalProvider(lm, batch_size=2)


def test_chat_template_is_applied_once_with_one_bos(tiny_chat):
    ids = tiny_chat._prompt_ids(_chat("hi"))
    text = tiny_chat.lm.tokenizer.decode(ids)
    assert text == "<bos><system>Be brief.\n<user>hi\n<assistant>"
    assert ids.count(tiny_chat.lm.tokenizer.bos_token_id) == 1


def test_batched_left_padded_answers_match_plain_generate(tiny_chat):
    batch = [_chat(q) for q in TINY_QUESTIONS]
    answers = tiny_chat.complete_many(batch, max_tokens=6)
    assert answers == [_plain_greedy(tiny_chat.lm, tiny_chat._prompt_ids(m), 6) for m in batch]
    assert tiny_chat.complete(batch[1], max_tokens=6) == answers[1]
    assert any(answers)


def test_sampling_is_seeded(tiny_chat):
    one = tiny_chat.complete_many([_chat("x")] * 2, max_tokens=6, temperature=1.0)
    two = tiny_chat.complete_many([_chat("x")] * 2, max_tokens=6, temperature=1.0)
    assert one == two


def test_base_model_without_template_gets_a_transcript():
    provider = LocalProvider(tiny_lm_with_tokenizer("llama"))
    ids = provider._prompt_ids(_chat("hi"))
    assert provider.lm.tokenizer.decode(ids, skip_special_tokens=True) == (
        "System: Be brief.\n\nUser: hi\n\nAssistant:"
    )
    answer = provider.complete(_chat("hi"), max_tokens=3)
    assert answer == _plain_greedy(provider.lm, ids, 3)  # the transcript is what is generated from


def test_bad_requests_are_clear_errors(tiny_chat):
    with pytest.raises(InvalidInputError, match="at least one message"):
        tiny_chat.complete([])
    with pytest.raises(InvalidInputError, match="max_tokens"):
        tiny_chat.complete(_chat("x"), max_tokens=0)


@pytest.mark.integration
def test_bundled_chat_model_answers():
    provider = get_provider("local:smollm2-135m", batch_size=4)
    assert provider.name == "local:smollm2-135m"
    batch = [[{"role": "user", "content": q}] for q in QUESTIONS]
    answers = provider.complete_many(batch, max_tokens=8)
    assert all(a.strip() for a in answers)
    assert "<|im_end|>" not in "".join(answers)
    assert answers == [_plain_greedy(provider.lm, provider._prompt_ids(m), 8) for m in batch]
