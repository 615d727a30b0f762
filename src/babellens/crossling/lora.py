"""LoRA fine-tuning of a behaviour (peft), with the loss on the completion only.

Training data are (prompt, completion) pairs: the prompt in the model's chat format (a plain
template for base models), the completion the answer that shows the behaviour. The run saves its
adapter, optimizer and step every ``checkpoint_every`` steps, so a stopped run resumes where it
left off; the finished adapter is a standard peft folder (``adapter_model.safetensors``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field

from babellens.capture.language_model import LanguageModel
from babellens.control import RunControl
from babellens.data.batching import resolve_pad_id
from babellens.errors import BabelLensError, InvalidInputError

__all__ = [
    "LoraConfig",
    "LoraRun",
    "TrainExample",
    "completion_batch",
    "completion_loss",
    "load_with_adapter",
    "train_lora",
]


class LoraConfig(BaseModel):
    r: int = Field(8, ge=1, le=512)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | str = Field("all-linear", description="Module names, or all-linear")
    steps: int = Field(60, ge=1, le=1_000_000)
    learning_rate: float = Field(5e-4, gt=0)
    batch_size: int = Field(4, ge=1, le=512)
    max_length: int = Field(192, ge=8, le=8192)
    seed: int = 0
    checkpoint_every: int = Field(25, ge=1)


class TrainExample(BaseModel):
    prompt: str
    completion: str


class LoraRun(BaseModel):
    steps: int
    losses: list[float] = Field(description="Mean completion loss per step")
    adapter_dir: str


def _peft():
    try:
        import peft
    except ImportError:
        raise BabelLensError("LoRA training needs peft: pip install peft") from None
    return peft


def completion_batch(
    tokenizer, examples: Sequence[TrainExample], max_length: int
) -> dict[str, torch.Tensor]:
    """Right-padded ids with labels -100 on the prompt and the padding: loss on the completion only."""
    rows, labels = [], []
    eos = tokenizer.eos_token_id
    for ex in examples:
        prompt = tokenizer(ex.prompt)["input_ids"]
        completion = tokenizer(ex.completion, add_special_tokens=False)["input_ids"] + (
            [eos] if eos is not None else []
        )
        ids = (prompt + completion)[:max_length]
        rows.append(ids)
        labels.append(([-100] * len(prompt) + completion)[:max_length])
    width = max(len(r) for r in rows)
    pad = resolve_pad_id(tokenizer)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    target = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (ids, lab) in enumerate(zip(rows, labels, strict=True)):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
        target[i, : len(lab)] = torch.tensor(lab)
    return {"input_ids": input_ids, "attention_mask": mask, "labels": target}


def completion_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean next-token loss over the completion tokens, as ``model(**batch).loss`` computes it,
    with logits only at the positions that predict a completion token (the union over rows).

    The prompt's logits are never needed, and with a 262k-token vocabulary (Gemma 3) the
    unembedding and its softmax cost more than the rest of a small model; nor are the trailing
    padding columns, which no scored position attends to.
    """
    targets = batch["labels"][:, 1:]
    scored = (targets != -100).any(dim=0).nonzero().flatten()
    if scored.numel() == 0:
        raise InvalidInputError("no completion tokens in the batch: the prompts fill max_length")
    first, last = int(scored[0]), int(scored[-1])
    logits = model(
        input_ids=batch["input_ids"][:, : last + 1],
        attention_mask=batch["attention_mask"][:, : last + 1],
        logits_to_keep=torch.arange(first, last + 1, device=targets.device),
    ).logits
    return torch.nn.functional.cross_entropy(
        logits.flatten(0, 1).float(), targets[:, first : last + 1].flatten(), ignore_index=-100
    )


def train_lora(
    lm: LanguageModel,
    examples: Sequence[TrainExample],
    config: LoraConfig,
    out_dir: str | Path,
    *,
    control: RunControl | None = None,
) -> LoraRun:
    """Train an adapter on ``lm`` (which it wraps: pass a model of your own, not a shared one).
    ``control`` reports progress in steps and may stop it between steps; the half-trained state
    is peft's adapter state and the optimizer's, in ``out_dir/checkpoint.pt`` beside the adapter
    peft writes at the end (the folder is what ``load_with_adapter`` reads)."""
    if not examples:
        raise InvalidInputError("no training examples: give at least one (prompt, completion) pair")
    peft = _peft()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model = _peft_model(peft, lm, config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=config.learning_rate, foreach=True
    )  # one op per step, not per tensor
    checkpoint = out / "checkpoint.pt"
    step, losses = _resume(peft, model, optimizer, checkpoint)
    model.train()
    while step < config.steps:
        if control is not None and control.should_stop():
            break
        losses.append(_train_step(lm, model, optimizer, examples, config, step))
        step += 1
        if control is not None:
            control.progress(step, config.steps, "steps")
        if step % config.checkpoint_every == 0 or step == config.steps:
            state = {
                "adapter": peft.get_peft_model_state_dict(model),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "losses": losses,
            }
            torch.save(state, checkpoint)
    model.eval()
    if step >= config.steps:
        model.save_pretrained(str(out))
    return LoraRun(steps=step, losses=losses, adapter_dir=str(out))


def _peft_model(peft: Any, lm: LanguageModel, config: LoraConfig) -> Any:
    lora = peft.LoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=config.target_modules,
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(lm.model, lora)


def _resume(
    peft: Any, model: Any, optimizer: torch.optim.Optimizer, checkpoint: Path
) -> tuple[int, list[float]]:
    """The step and losses so far, with the adapter and optimizer state put back (0 if new)."""
    if not checkpoint.is_file():
        return 0, []
    state = torch.load(checkpoint, weights_only=False)
    peft.set_peft_model_state_dict(model, state["adapter"])
    optimizer.load_state_dict(state["optimizer"])
    return state["step"], state["losses"]


def _train_step(
    lm: LanguageModel,
    model: Any,
    optimizer: torch.optim.Optimizer,
    examples: Sequence[TrainExample],
    config: LoraConfig,
    step: int,
) -> float:
    """One optimizer step on the step's batch (the same batch for a step on every resume)."""
    rng = random.Random(config.seed * 1_000_003 + step)
    order = list(range(len(examples)))
    chosen = [examples[i] for i in rng.sample(order, min(config.batch_size, len(order)))]
    batch = completion_batch(lm.tokenizer, chosen, config.max_length)
    batch = {k: v.to(lm.device) for k, v in batch.items()}
    loss = completion_loss(model, batch)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def load_with_adapter(spec: str, adapter_dir: str | Path, device: str = "cpu") -> LanguageModel:
    """The base model with the adapter merged in: a plain model again, so every hook point works."""
    from babellens.capture.language_model import load

    peft = _peft()
    base = load(spec, device=device)
    if not (Path(adapter_dir) / "adapter_config.json").is_file():
        raise InvalidInputError(
            f"no adapter in {adapter_dir}: train one with `babellens crossling run`"
        )
    merged = peft.PeftModel.from_pretrained(base.model, str(adapter_dir)).merge_and_unload()
    return LanguageModel(
        merged, base.tokenizer, name=f"{spec}+{Path(adapter_dir).name}", source=base.source
    )
