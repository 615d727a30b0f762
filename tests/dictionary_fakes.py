"""Small dictionaries with known weights, shared by the dictionary tests."""

from __future__ import annotations

import torch

from babellens.dictionaries import SparseDictionary


def random_dictionary(
    d_in: int = 6,
    width: int = 10,
    *,
    d_out: int | None = None,
    activation: str = "topk",
    k: int | None = 3,
    kind: str = "sae",
    skip: bool = False,
    seed: int = 0,
    hook_in: str = "resid_post.1",
    hook_out: str | None = None,
) -> SparseDictionary:
    """Every parameter random (threshold included), so no term of the formula can hide."""
    sd = SparseDictionary(
        d_in,
        width,
        d_out,
        kind=kind,  # type: ignore[arg-type]
        hook_in=hook_in,
        hook_out=hook_out,
        activation=activation,  # type: ignore[arg-type]
        k=k,
        skip=skip,
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in [*sd.parameters(), sd.threshold]:
            tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.5)
        sd.threshold.abs_()
    return sd


def identity_dictionary(d: int, hook: str) -> SparseDictionary:
    """Features = the coordinates (both signs): decode(encode(x)) == x exactly."""
    sd = SparseDictionary(d, 2 * d, kind="sae", hook_in=hook, activation="relu")
    eye = torch.eye(d)
    with torch.no_grad():
        sd.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sd.W_dec.copy_(torch.cat([eye, -eye], dim=0))
    return sd


def tiny_training_setup(family: str = "llama", repeat: int = 4, window_len: int = 32):
    """A tiny model with a tokenizer and windows of the tiny texts (a few hundred tokens)."""
    from babellens.data.corpus import Corpus, Document
    from babellens.data.windows import make_windows
    from tiny_models import TINY_TEXTS, tiny_lm_with_tokenizer

    lm = tiny_lm_with_tokenizer(family)
    corpus = Corpus("tiny", tuple(Document(str(i), t * repeat) for i, t in enumerate(TINY_TEXTS)))
    return lm, make_windows(corpus, lm.tokenizer, window_len=window_len)


def write_corpus(path, n_docs: int = 24):
    """A jsonl corpus of the tiny texts with explicit train and test documents."""
    import json
    import random

    from tiny_models import TINY_TEXTS

    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n_docs):
            text = " ".join(rng.choice(TINY_TEXTS) for _ in range(3))
            split = "test" if i % 4 == 0 else "train"
            fh.write(json.dumps({"id": f"d{i}", "text": text, "split": split}) + "\n")
    return str(path)
