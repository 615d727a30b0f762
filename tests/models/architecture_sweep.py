"""Every causal-LM architecture of the installed transformers, built tiny and checked once.

Each architecture ends in one outcome:

- ``exact``: BabelLens binds an adapter and every shared parity check passes (hook points against
  ``output_hidden_states`` and hand computations from the adapter's weights);
- ``refused``: BabelLens raises one of its own errors, in one line that names what is missing;
- ``unbuildable``: transformers itself cannot build or run it tiny (the reason is recorded);
- ``wrong``: a parity check failed (a number differs from a plain hook), or
- ``crash``: anything else raised. The sweep test allows neither of the last two.

Run as a script to regenerate ``docs/architectures.md`` and the README's table from it:
``PYTHONPATH=src python tests/models/architecture_sweep.py --write``.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import transformers as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from babellens.capture.language_model import LanguageModel
from babellens.errors import BabelLensError
from models.tiny_configs import ARCHITECTURES, build_tiny, kind_of, shrunken_config
from parity_checks import (
    ALL_BATCH_CHECKS,
    check_early_stop,
    check_value_weights_single_token,
)

__all__ = ["Outcome", "sweep", "sweep_one"]

MAX_PARAMS = 20_000_000
"""A shrunken model above this many parameters did not shrink: transformers cannot build it tiny."""

TOL = 1e-4


@dataclass(frozen=True)
class Outcome:
    model_type: str
    kind: str
    """``decoder`` (a decoder-only transformer), ``encoder``, ``encoder-decoder``, ``recurrent``."""
    status: str
    family: str = ""
    detail: str = ""


def _inputs() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 100, (2, 10), generator=gen)
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, -3:] = 0
    ids[1, -3:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def _build(model_type: str) -> tf.PreTrainedModel | str:
    """The tiny model, or why transformers cannot build and run it tiny."""
    try:
        config = shrunken_config(model_type)
        with torch.device("meta"):
            n_params = sum(
                p.numel() for p in tf.AutoModelForCausalLM.from_config(config).parameters()
            )
        if n_params > MAX_PARAMS:
            return f"does not shrink below {n_params / 1e6:.0f}M parameters"
        model = build_tiny(model_type)
        with torch.inference_mode():
            model(**_inputs(), output_hidden_states=True, use_cache=False)
    except Exception as exc:  # transformers' own failure, not ours
        return _one_line(exc)
    return model


def _name(check: object) -> str:
    return getattr(check, "__name__", getattr(getattr(check, "func", None), "__name__", "check"))


def _checks(lm: LanguageModel) -> list:
    last = lm.adapter.n_layers - 1
    batch = [partial(check, tol=TOL) for check in ALL_BATCH_CHECKS]
    single = partial(_single_token, layer=last)
    return [*batch, single, check_early_stop]


def _single_token(lm: LanguageModel, _inputs: dict, layer: int) -> None:
    check_value_weights_single_token(lm, TOL, layer=layer)


def sweep_one(model_type: str) -> Outcome:
    """Build, bind and check one architecture; never raises."""
    kind = kind_of(model_type)
    built = _build(model_type)
    if isinstance(built, str):
        return Outcome(model_type, kind, "unbuildable", detail=built)
    try:
        lm = LanguageModel(built, None, name=model_type, source="config")
        family = lm.adapter.spec.name
        inputs = _inputs()
    except BabelLensError as exc:
        return Outcome(model_type, kind, "refused", detail=str(exc))
    for check in _checks(lm):
        try:
            with torch.inference_mode():
                check(lm, inputs)
        except AssertionError as exc:
            return Outcome(model_type, kind, "wrong", family, f"{_name(check)}: {_one_line(exc)}")
        except Exception as exc:
            return Outcome(model_type, kind, "crash", family, f"{_name(check)}: {_one_line(exc)}")
    return Outcome(model_type, kind, "exact", family)


def sweep(model_types: list[str] | None = None) -> list[Outcome]:
    """One thread: tiny matrices gain nothing from more, and lose a lot on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tf.logging.set_verbosity_error()
            return [sweep_one(mt) for mt in (model_types or ARCHITECTURES)]
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    import time

    if "--write" in sys.argv:
        from models.architecture_docs import DOCS, README, architectures_md, readme_with_table

        outcomes = sweep()
        DOCS.write_text(architectures_md(outcomes))
        README.write_text(readme_with_table(README.read_text(), outcomes))
        print(architectures_md(outcomes).split("\n\n")[2])
        sys.exit(0)
    for model_type in only or ARCHITECTURES:
        start = time.perf_counter()
        (outcome,) = sweep([model_type])
        print(
            f"{time.perf_counter() - start:5.1f}s",
            outcome.model_type,
            outcome.kind,
            outcome.status,
            outcome.family,
            outcome.detail[:150],
            flush=True,
        )
