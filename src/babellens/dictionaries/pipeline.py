"""From a model and parameters to trained, evaluated dictionaries: what the job and CLI call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from babellens.capture.language_model import LanguageModel
from babellens.control import RunControl
from babellens.data.corpus import load_corpus
from babellens.data.windows import Window, make_windows
from babellens.dictionaries.activations import ActivationSource, Harvester
from babellens.dictionaries.config import DictTrainParams, resolve_hooks, resolve_width
from babellens.dictionaries.evaluate import MemberEval, evaluate_dictionaries
from babellens.dictionaries.model import SparseDictionary
from babellens.dictionaries.training import TrainedDictionaries, train_dictionaries
from babellens.errors import InvalidInputError
from babellens.paths import babellens_home

__all__ = ["evaluate_on_corpus", "metrics_summary", "split_windows", "train"]


def split_windows(
    lm: LanguageModel, corpus: str, split: str | None, window_len: int, max_tokens: int | None
) -> list[Window]:
    """Windows of one split of a corpus (train for training, test for held-out evaluation)."""
    loaded = load_corpus(corpus, split=split)  # type: ignore[arg-type]
    windows = make_windows(loaded, lm.tokenizer, window_len=window_len, max_tokens=max_tokens)
    if not windows:
        raise InvalidInputError(f"the {split or 'whole'} split of {corpus!r} has no tokens")
    return windows


def train(
    lm: LanguageModel,
    params: DictTrainParams,
    control: RunControl | None = None,
    harvester: Harvester | None = None,
) -> TrainedDictionaries:
    """Train the dictionaries ``params`` describe on the corpus's train split.

    ``harvester``: where the model runs over the chunks (default: ``lm`` here; the Ray executor
    passes its workers). The rows, and so the weights, are the same either way.
    """
    hooks = resolve_hooks(params, lm.adapter.n_layers)
    width = resolve_width(params, lm.adapter.d_model)
    windows = split_windows(lm, params.corpus, "train", params.window_len, params.tokens)
    source = ActivationSource(
        lm,
        windows,
        [h for pair in hooks for h in pair],
        seed=params.seed,
        chunk_tokens=params.chunk_tokens,
        tokens_per_batch=params.tokens_per_batch,
        cache_dir=babellens_home() / "activations" if params.cache else None,
        harvester=harvester,
    )
    kind = "sae" if params.kind == "sae" else "transcoder"
    return train_dictionaries(source, hooks, kind, width, params, control)


def evaluate_on_corpus(
    lm: LanguageModel,
    dictionaries: Sequence[SparseDictionary],
    *,
    corpus: str,
    split: str | None = "test",
    tokens: int = 4096,
    window_len: int = 128,
    downstream: bool = True,
    control: RunControl | None = None,
) -> list[MemberEval]:
    windows = split_windows(lm, corpus, split, window_len, tokens)
    return evaluate_dictionaries(lm, dictionaries, windows, downstream=downstream, control=control)


def metrics_summary(evals: Sequence[MemberEval], corpus: str, split: str | None) -> dict[str, Any]:
    """Members' evaluations and their means: what the table row and `dict list` show."""

    def mean(key: str) -> float | None:
        values = [getattr(e, key) for e in evals if getattr(e, key) is not None]
        return sum(values) / len(values) if values else None

    keys = ("fvu", "explained_variance", "l0", "dead_fraction", "dense_fraction")
    keys += ("ce_clean", "ce_spliced", "ce_recovered_vs_zero", "ce_recovered_vs_mean", "kl_spliced")
    return {
        "eval": {
            "corpus": corpus,
            "split": split,
            "tokens": evals[0].tokens if evals else 0,
            **{k: mean(k) for k in keys},
            "members": [e.model_dump() for e in evals],
        }
    }
