"""Tiny randomly initialised models, one per supported family, built from configs (no download)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import transformers as tf

from babellens.capture.language_model import LanguageModel

COMMON = {"vocab_size": 128, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
LLAMA_SHAPE = {
    "num_hidden_layers": 3,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "max_position_embeddings": 64,
}


def _configs(vocab_size: int = 128) -> dict[str, tf.PretrainedConfig]:
    COMMON = {**globals()["COMMON"], "vocab_size": vocab_size}
    return {
        "llama": tf.LlamaConfig(**LLAMA_SHAPE, **COMMON),
        "mistral": tf.MistralConfig(**LLAMA_SHAPE, **COMMON),
        "qwen2": tf.Qwen2Config(**LLAMA_SHAPE, **COMMON),
        "qwen3": tf.Qwen3Config(**LLAMA_SHAPE, **COMMON),
        "gemma2": tf.Gemma2Config(**LLAMA_SHAPE, **COMMON),
        "gemma3": tf.Gemma3TextConfig(**LLAMA_SHAPE, **COMMON),
        "phi3": tf.Phi3Config(**LLAMA_SHAPE, **COMMON),
        "gpt2": tf.GPT2Config(n_layer=3, n_embd=32, n_head=4, n_positions=64, **COMMON),
        "gpt_neox": tf.GPTNeoXConfig(
            num_hidden_layers=3,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            max_position_embeddings=64,
            **COMMON,
        ),
    }


FAMILIES = list(_configs())


def tiny_hf_model(family: str, seed: int = 0, vocab_size: int = 128) -> tf.PreTrainedModel:
    """A float32 tiny model with random weights, biases included where the family has them."""
    torch.manual_seed(seed)
    config = _configs(vocab_size)[family]
    model = tf.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():  # random non-trivial norms and biases so parity tests see them
        for name, param in model.named_parameters():
            if "norm" in name or "ln" in name.split(".")[-2]:
                param.add_(torch.randn_like(param) * 0.1)
            elif name.endswith("bias"):
                param.normal_(0, 0.1)
    return model


def tiny_model(family: str, seed: int = 0) -> LanguageModel:
    return LanguageModel(tiny_hf_model(family, seed), None, name=f"tiny-{family}", source="config")


def byte_tokenizer(merges: Sequence[tuple[str, str]] = ()) -> tf.PreTrainedTokenizerFast:
    """A byte-level tokenizer (256 bytes + <pad> <bos> <eos>), built offline, no merges.

    ``merges`` adds merged tokens after the bytes and splits words the way Qwen2's tokenizer does
    (a punctuation mark joins the letters after it), so ``[("(", "A")]`` makes ``(A`` one token.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2} | {
        ch: i + 3 for i, ch in enumerate(sorted(alphabet))
    }
    vocab |= {a + b: len(vocab) + i for i, (a, b) in enumerate(merges)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=list(merges)))
    if merges:
        words = Regex(r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+")
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(words, behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", 1)]
    )
    return tf.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )


def save_tiny_folder(path, family: str = "llama"):
    """A loadable model folder (config, weights, tokenizer) with a 259-token byte vocabulary."""
    model = tiny_hf_model(family, vocab_size=259)
    model.save_pretrained(path)
    byte_tokenizer().save_pretrained(path)
    return path


def tiny_inputs(
    batch: int = 2, length: int = 10, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids with the second row right-padded (the last 3 positions masked)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 128, (batch, length), generator=gen)
    mask = torch.ones(batch, length, dtype=torch.long)
    if batch > 1:
        mask[1, -3:] = 0
        ids[1, -3:] = 0
    return ids, mask


def tiny_lm_with_tokenizer(
    family: str = "llama", seed: int = 0, merges: Sequence[tuple[str, str]] = ()
) -> LanguageModel:
    """A tiny model with the byte tokenizer (and ``merges``), loaded like a user's model."""
    return LanguageModel(
        tiny_hf_model(family, seed, vocab_size=259 + len(merges)),
        byte_tokenizer(merges),
        name=f"tiny-{family}",
        source="config",
    )


TINY_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Der schnelle braune Fuchs springt über den faulen Hund!",
    "Le renard brun rapide saute par-dessus le chien paresseux; 42 fois.",
    "Быстрая бурая лиса прыгает через ленивую собаку.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "def f(x):\n    return x * 2  # double",
]
