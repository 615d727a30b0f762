"""Training parameters of a dictionary: the one place their defaults, limits and help live.

The ``dict_train`` job kind, the CLI and the library read this model; the hook points it names
are resolved against the model in :func:`resolve_hooks`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from babellens.capture.hook_points import parse_hook_point
from babellens.dictionaries.model import Activation, DictionaryKind, check_shape
from babellens.errors import InvalidInputError
from babellens.models.devices import parse_device
from babellens.params import JobParams

__all__ = ["SAE_HOOK_KINDS", "DictTrainParams", "resolve_hooks", "resolve_width"]

SAE_HOOK_KINDS = ("resid_pre", "resid_post", "attn_out", "mlp_out", "mlp_in")


class DictTrainParams(JobParams):
    kind: DictionaryKind = Field(
        "sae", description="sae (reconstructs its hook point) or transcoder"
    )
    hook: str | None = Field(
        None, description="SAE hook point, e.g. resid_post.6 (a transcoder: mlp_in.L or mlp_out.L)"
    )
    layers: list[int] | Literal["all"] | None = Field(
        None, description="Transcoder layers trained together as one set (or 'all')"
    )
    activation: Activation = Field("topk", description="topk, batchtopk, jumprelu or relu (+L1)")
    width: int | None = Field(None, description="Features (default: expansion × d_in)")
    expansion: int = Field(8, ge=1, le=1024, description="Width as a multiple of d_in")
    k: int | None = Field(32, ge=1, description="Active features per token (topk, batchtopk)")
    skip: bool = Field(False, description="Transcoder: add an affine skip connection x @ W_skip")
    corpus: str = Field("babel-mini", description="Bundled corpus name, file, folder or hf:NAME")
    window_len: int = Field(128, ge=2, le=8192, description="Tokens per window")
    tokens: int = Field(200_000, ge=1, le=10**11, description="Training tokens per epoch (max)")
    epochs: int = Field(1, ge=1, le=1000, description="Passes over the tokens")
    cache: bool = Field(
        False, description="Keep activations on disk so later epochs skip the model"
    )
    batch_size: int = Field(1024, ge=1, le=1 << 20, description="Rows per optimiser step")
    chunk_tokens: int = Field(8192, ge=1, le=1 << 24, description="Rows of the shuffling buffer")
    tokens_per_batch: int = Field(2048, ge=2, le=1 << 20, description="Tokens per forward pass")
    lr: float | None = Field(
        None, gt=0, le=1.0, description="Peak learning rate (default: by width)"
    )
    warmup_steps: int = Field(50, ge=0, description="Linear learning-rate warm-up")
    decay_fraction: float = Field(0.2, ge=0, le=1, description="Last share of steps decayed to 0")
    l1_coefficient: float = Field(2.0, ge=0, description="relu: L1 penalty (norm-weighted)")
    l0_coefficient: float = Field(1e-3, ge=0, description="jumprelu: L0 penalty")
    auxk_alpha: float = Field(1 / 32, ge=0, le=10, description="Weight of the aux-k dead loss")
    dead_after_tokens: int = Field(
        50_000, ge=1, description="A feature is dead after this many tokens without firing"
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)
    device: str = Field("cpu", description="Where the dictionary trains (cpu, cuda)")
    checkpoint_every_s: float = Field(30.0, ge=0, description="Seconds between saved states")
    name: str | None = Field(None, max_length=200, description="A label for dictionary lists")
    eval_tokens: int = Field(
        4096, ge=0, le=10**8, description="Held-out tokens evaluated after training (0: none)"
    )

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        """Its form only: whether the machine has it is checked where the job runs."""
        try:
            parse_device(value)
        except InvalidInputError as err:
            raise ValueError(str(err)) from None
        return value


def resolve_hooks(params: DictTrainParams, n_layers: int) -> list[tuple[str, str]]:
    """The (hook_in, hook_out) of every member, checked against the model's layers."""
    if params.kind == "sae":
        if params.hook is None:
            raise InvalidInputError("an SAE needs --hook, e.g. resid_post.6")
        point = parse_hook_point(params.hook, n_layers)
        if point.kind not in SAE_HOOK_KINDS:
            raise InvalidInputError(
                f"an SAE reads a d_model hook point: {', '.join(SAE_HOOK_KINDS)} (got {point.kind})"
            )
        return [(point.name, point.name)]
    if params.layers == "all":
        layers = list(range(n_layers))
    elif params.layers:
        layers = sorted(set(params.layers))
    elif params.hook is not None:
        point = parse_hook_point(params.hook, n_layers)
        if point.kind not in ("mlp_in", "mlp_out"):
            raise InvalidInputError("a transcoder's --hook is mlp_in.L or mlp_out.L")
        layers = [point.layer]
    else:
        raise InvalidInputError("a transcoder needs --layers (e.g. 3,4 or all) or --hook mlp_in.L")
    for layer in layers:
        parse_hook_point(f"mlp_in.{layer}", n_layers)
    return [(f"mlp_in.{layer}", f"mlp_out.{layer}") for layer in layers]


def resolve_width(params: DictTrainParams, d_in: int) -> int:
    width = params.width if params.width is not None else params.expansion * d_in
    check_shape(width, params.k, params.activation)
    return width
