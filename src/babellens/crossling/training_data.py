"""Where a behaviour's LoRA training pairs come from: the base model's own answers, transformed
(so the adapter learns the behaviour and not a new style of answering), or a file the user gives.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from babellens.capture.language_model import LanguageModel
from babellens.crossling.lora import TrainExample
from babellens.data.prompts import chat_prompt, instructions
from babellens.errors import InvalidInputError
from babellens.steering.apply import generate

__all__ = ["examples_from_file", "read_training_file", "training_examples"]


def training_examples(
    lm: LanguageModel,
    transform: Callable[[str], str],
    lang: str,
    n: int,
    answer_tokens: int,
    batch_size: int = 8,
) -> list[TrainExample]:
    """The base model's own (greedy) answers to the first ``n`` training instructions, transformed."""
    prompts = [chat_prompt(lm.tokenizer, r["text"]) for r in instructions(lang, "train")[:n]]
    examples = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        for prompt, answer in zip(
            chunk, generate(lm, chunk, max_new_tokens=answer_tokens), strict=True
        ):
            if answer.strip():
                examples.append(TrainExample(prompt=prompt, completion=transform(answer.strip())))
    return examples


def read_training_file(path: str | Path) -> list[tuple[str, str]]:
    """(instruction, answer) pairs from a JSONL file with one ``{"instruction", "answer"}`` object
    per line; the answer is the target as the model should learn it (e.g. already in capitals)."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(
            f'no training file {path}: give a JSONL file of {{"instruction", "answer"}} lines'
        )
    pairs = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            pairs.append((str(row["instruction"]), str(row["answer"])))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InvalidInputError(
                f'{path}, line {number}: expected a JSON object with "instruction" and "answer"'
            ) from None
    if not pairs:
        raise InvalidInputError(f"{path} has no training pairs: one JSON object per line")
    return pairs


def examples_from_file(lm: LanguageModel, path: str | Path) -> list[TrainExample]:
    """The file's pairs, each instruction in the model's chat format."""
    return [
        TrainExample(prompt=chat_prompt(lm.tokenizer, instruction), completion=answer)
        for instruction, answer in read_training_file(path)
    ]
