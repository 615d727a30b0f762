"""Look-up test helpers: a small corpus, a config that runs in seconds, and a scripted chat provider: a fixed explanation, Yes/No by a rule, counted.

Registered as the provider kind ``fake``: ``fake:NAME`` builds ``SCRIPTS[NAME]``, so jobs and the
CLI (which build providers from a spec string) reach the same scripted object a test holds.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable

from babellens.autointerp import Message, provider
from babellens.lookups.config import LookupsConfig
from tiny_models import TINY_TEXTS

EXPLANATION = "The head is active when the text is about animals."


def tag_of(explanation: str) -> str:
    """The part of a scripted explanation that tells one head's from another's."""
    return explanation.rpartition(" ")[2]


class ScriptedProvider:
    """Explains every head with :data:`EXPLANATION` plus a tag hashed from the request (so two heads
    get different explanations); answers each scoring request with ``answer(snippet, tag)``."""

    def __init__(
        self,
        name: str,
        answer: Callable[[str, str], str] = lambda _s, _t: "Yes",
        fail_after: int | None = None,
        explanation: str = EXPLANATION,
    ) -> None:
        self.name = f"fake:{name}"
        self.explanation = explanation
        self.answer = answer
        self.fail_after = fail_after
        self.explain_calls = 0
        self.score_calls = 0
        self.snippets: list[str] = []

    @property
    def calls(self) -> int:
        return self.explain_calls + self.score_calls

    def complete(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> str:
        return self.complete_many([messages], max_tokens=max_tokens, temperature=temperature)[0]

    def complete_many(
        self, batch: list[list[Message]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> list[str]:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("scripted crash")  # between batches: every answer so far delivered
        answers = []
        for messages in batch:
            user = messages[-1]["content"]
            if "Snippets where the head is ACTIVE" in user:
                self.explain_calls += 1
                answers.append(
                    f"{self.explanation} #{hashlib.sha256(user.encode()).hexdigest()[:8]}"
                )
                continue
            self.score_calls += 1
            snippet = next(json.loads(line) for line in user.splitlines() if line.startswith('"'))
            self.snippets.append(snippet)
            tag = next(w for w in user.split() if w.startswith("#"))
            answers.append(self.answer(snippet, tag))
        return answers


SCRIPTS: dict[str, ScriptedProvider] = {}


@provider("fake")
def _fake(target: str, **_options: object) -> ScriptedProvider:
    return SCRIPTS[target]


def write_corpus(path, n_docs: int = 16, seed: int = 0) -> str:
    """Random word salad, a quarter of it marked test."""
    rng = random.Random(seed)
    words = [w for t in TINY_TEXTS for w in t.split()]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n_docs):
            text = " ".join(rng.choice(words) for _ in range(24))
            split = "test" if i % 4 == 0 else "train"
            fh.write(json.dumps({"id": f"d{i}", "text": text, "lang": "xx", "split": split}) + "\n")
    return str(path)


def tiny_config(corpus: str, **overrides) -> LookupsConfig:
    """Every knob small: a run takes seconds. top3 makes every prompt have active heads."""
    base = dict(
        corpus=corpus,
        layers=[2],
        neurons_per_layer=2,
        random_neurons_per_layer=1,
        whole_words=False,
        prompts=6,
        test_prompts=6,
        window_len=16,
        active_rule="top3",
        min_active=0.1,
        max_active=0.9,
        explainer="fake:unused",
        batch_size=4,
    )
    return LookupsConfig(**{**base, **overrides})
