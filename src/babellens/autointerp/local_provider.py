"""``local``: a ``transformers`` chat model in this process (a bundled alias, a folder, a GGUF file).

No server to run and nothing leaves the machine; the price is speed, so ``complete_many`` batches
the requests with left padding. The chat template is applied as token ids (not text re-tokenised),
so models whose template already writes ``<bos>`` do not get a second one.
"""

from __future__ import annotations

import threading
from typing import Any

import torch

from babellens.autointerp.provider import Message, provider
from babellens.capture.language_model import LanguageModel
from babellens.data.batching import pad_batch, resolve_pad_id
from babellens.errors import InvalidInputError

__all__ = ["LocalProvider"]


def _plain_transcript(messages: list[Message]) -> str:
    """For a base model without a chat template: a transcript it can continue."""
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join([*lines, "Assistant:"])


class LocalProvider:
    """Greedy (temperature 0) or seeded sampled answers from an in-process model."""

    def __init__(self, lm: LanguageModel, *, batch_size: int = 8, seed: int = 0) -> None:
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        if lm.tokenizer is None:
            raise InvalidInputError(f"{lm.name} has no tokenizer: a chat provider needs one")
        self.lm = lm
        self.name = f"local:{lm.name}"
        self.batch_size = batch_size
        self.seed = seed
        self._lock = threading.Lock()  # one generate at a time: the model is shared

    @classmethod
    def from_spec(
        cls, target: str, *, device: str = "cpu", dtype: str = "float32", **options: Any
    ) -> LocalProvider:
        from babellens.capture.language_model import load

        return cls(load(target, device=device, dtype=dtype), **options)

    def __repr__(self) -> str:
        return f"LocalProvider({self.name!r})"

    def complete(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> str:
        return self.complete_many([messages], max_tokens=max_tokens, temperature=temperature)[0]

    def complete_many(
        self, batch: list[list[Message]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> list[str]:
        if max_tokens < 1:
            raise InvalidInputError(f"max_tokens must be at least 1, got {max_tokens}")
        prompts = [self._prompt_ids(messages) for messages in batch]
        # similar lengths together: less padding, and the same batches whatever the input order
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        answers: list[str] = [""] * len(prompts)
        with self._lock:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                texts = self._generate([prompts[i] for i in chunk], max_tokens, temperature)
                for i, text in zip(chunk, texts, strict=True):
                    answers[i] = text.strip()
        return answers

    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        tok = self.lm.tokenizer
        if not messages:
            raise InvalidInputError("a chat request needs at least one message")
        if getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if not isinstance(ids, list):  # transformers 5 returns a BatchEncoding
                ids = ids["input_ids"]
            return list(ids)
        return list(tok(_plain_transcript(messages))["input_ids"])

    def _generate(self, prompts: list[list[int]], max_tokens: int, temperature: float) -> list[str]:
        tok, lm = self.lm.tokenizer, self.lm
        pad = resolve_pad_id(tok)
        ids, mask = pad_batch(prompts, pad, side="left")  # every row ends at its last token
        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "pad_token_id": pad}
        if temperature > 0:
            torch.manual_seed(self.seed)
            kwargs |= {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        else:
            kwargs |= {"do_sample": False, "temperature": None, "top_k": None, "top_p": None}
        stop = self._stop_ids()
        if stop:
            kwargs["eos_token_id"] = stop
        with torch.inference_mode():
            out = lm.model.generate(
                input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), **kwargs
            )
        return tok.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)

    def _stop_ids(self) -> list[int]:
        """End of turn as well as end of text: GGUF-converted chat models often set only one."""
        tok = self.lm.tokenizer
        found = set()
        configured = getattr(self.lm.model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            found.add(configured)
        elif configured:
            found.update(configured)
        if tok.eos_token_id is not None:
            found.add(tok.eos_token_id)
        for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"):
            token_id = tok.convert_tokens_to_ids(marker)
            if isinstance(token_id, int) and token_id != tok.unk_token_id and token_id >= 0:
                found.add(token_id)
        return sorted(found)


@provider("local")
def _make_local(target: str, **options: Any) -> LocalProvider:
    return LocalProvider.from_spec(target, **options)
