"""Tiny random configs for every causal-LM architecture of the installed transformers.

Defaults of most configs describe a multi-billion-parameter model; the sweep needs each one small
enough to build and run in well under a second. ``shrunken_config`` sets every size attribute a
config has (and those of its nested sub-configs) to a small value, then applies per-family
overrides where a default does not shrink consistently.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers as tf
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

__all__ = ["ARCHITECTURES", "build_tiny", "shrunken_config"]

ARCHITECTURES: list[str] = sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)

_VOCAB = 128
_SIZES: dict[str, Any] = {
    "num_hidden_layers": 2,
    "n_layer": 2,
    "n_layers": 2,
    "num_layers": 2,
    "hidden_size": 64,
    "n_embd": 64,
    "d_model": 64,
    "dim": 64,
    "embed_dim": 64,
    "intermediate_size": 128,
    "ffn_dim": 128,
    "n_inner": 128,
    "ffn_hidden_size": 128,
    "num_attention_heads": 4,
    "n_head": 4,
    "n_heads": 4,
    "num_heads": 4,
    "num_key_value_heads": 2,
    "n_kv_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 64,
    "n_positions": 64,
    "n_ctx": 64,
    "vocab_size": _VOCAB,
    # mixture of experts
    "num_experts": 4,
    "num_local_experts": 4,
    "n_routed_experts": 4,
    "moe_num_experts": 4,
    "num_experts_per_tok": 2,
    "moe_topk": 2,
    "moe_k": 2,
    "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 32,
    "n_group": 1,
    "topk_group": 1,
    # multi-latent attention
    "q_lora_rank": 32,
    "kv_lora_rank": 16,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 8,
    "v_head_dim": 16,
    "qk_head_dim": 16,
    # vision towers of multimodal checkpoints (never run; only built)
    "image_size": 32,
    "patch_size": 8,
    "num_channels": 3,
    "sliding_window": 16,
}
_ID_FIELDS = ("pad_token_id", "bos_token_id", "eos_token_id")
_SUB_CONFIGS = ("text_config", "vision_config", "audio_config", "language_config")

_ROTARY_WITHIN_HEAD = {"rotary_dim": 8}
_HEAD_DIM_UNSET = {"head_dim": 16}
"""Defaults that leave ``head_dim`` (or the KV head count) ``None`` for the model to derive, which
the generic shrink (it only sets what is an int) cannot reach."""
_OVERRIDES: dict[str, dict[str, Any]] = {
    "gptj": _ROTARY_WITHIN_HEAD,
    "codegen": _ROTARY_WITHIN_HEAD,
    "trocr": {"decoder_layers": 2, "decoder_ffn_dim": 128, "decoder_attention_heads": 4},
    "ministral": _HEAD_DIM_UNSET,
    "hunyuan_v1_dense": _HEAD_DIM_UNSET,
    "hunyuan_v1_moe": _HEAD_DIM_UNSET,
    "nemotron": {**_HEAD_DIM_UNSET, "num_key_value_heads": 2},
    "dots1": {"n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1},
    "deepseek_v2": {"num_experts_per_tok": 2},
    "deepseek_v3": {"first_k_dense_replace": 1},  # a dense layer 0, then experts (and shared)
    "deepseek_v32": {"mlp_layer_types": ["dense", "sparse"]},
    "granitemoeshared": {"shared_intermediate_size": 32},  # 0 would build no shared MLP
    "jetmoe": {"kv_channels": 16, "initializer_range": 0.2},  # head_dim: an alias; varied routing
    "laguna": {"num_attention_heads_per_layer": [4, 8], "moe_routed_scaling_factor": 2.5},
}
"""Per-family values where the generic shrink leaves a config inconsistent."""


_LAYER_COUNTS = ("num_hidden_layers", "n_layer", "n_layers", "num_layers")


def _per_layer(value: Any, n_layers: int | None) -> Any:
    """Per-layer lists and dicts cut to the shrunken depth (so their lengths still match)."""
    if n_layers and isinstance(value, list) and len(value) == n_layers:
        return value[: _SIZES["num_hidden_layers"]]
    if isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
        return {k: v for k, v in value.items() if k < _SIZES["num_hidden_layers"]}
    return value


def _shrunken_kwargs(config: tf.PretrainedConfig) -> dict[str, Any]:
    """Constructor arguments that shrink ``config`` (so derived attributes follow)."""
    fields = dict(config.__dict__)
    n_layers = next((fields[n] for n in _LAYER_COUNTS if isinstance(fields.get(n), int)), None)
    kwargs: dict[str, Any] = {}
    for name, value in fields.items():
        cut = _per_layer(value, n_layers)
        if cut is not value:
            kwargs[name] = cut
    for name, value in _SIZES.items():
        current = fields.get(name)
        if isinstance(current, int) and not isinstance(current, bool):
            kwargs[name] = value
    if "kv_lora_rank" in kwargs:  # latent attention: head_dim is the rotary part of a head,
        kwargs["head_dim"] = kwargs["qk_rope_head_dim"]  # and every query head has its own K/V
        kwargs["num_key_value_heads"] = kwargs["num_attention_heads"]
    for name in _ID_FIELDS:
        current = fields.get(name)
        if isinstance(current, int) and current >= _VOCAB:
            kwargs[name] = 0
    for name in _SUB_CONFIGS:
        sub = fields.get(name)
        if isinstance(sub, tf.PretrainedConfig):
            kwargs[name] = {**sub.to_dict(), **_shrunken_kwargs(sub)}
    return kwargs


def _shrink_in_place(config: tf.PretrainedConfig) -> None:
    for name, value in _SIZES.items():
        current = getattr(config, name, None)
        if isinstance(current, int) and not isinstance(current, bool):
            setattr(config, name, value)
    for name in _SUB_CONFIGS:
        sub = getattr(config, name, None)
        if isinstance(sub, tf.PretrainedConfig):
            _shrink_in_place(sub)


def shrunken_config(model_type: str) -> tf.PretrainedConfig:
    """The family's default config, shrunk through its constructor (or in place if it refuses)."""
    config_class = CONFIG_MAPPING[model_type]
    overrides = _OVERRIDES.get(model_type, {})
    try:
        return config_class(**{**_shrunken_kwargs(config_class()), **overrides})
    except Exception:  # some constructors reject consistent-looking sizes; shrink afterwards
        config = config_class(**overrides)
        _shrink_in_place(config)
        return config


def build_tiny(model_type: str, seed: int = 0) -> tf.PreTrainedModel:
    """A float32 random model of ``model_type``; raises whatever transformers raises."""
    torch.manual_seed(seed)
    config = shrunken_config(model_type)
    model = tf.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():  # non-trivial norms and biases, so parity sees them
        for name, param in model.named_parameters():
            if "norm" in name.lower() or name.split(".")[-2].startswith("ln"):
                param.add_(torch.randn_like(param) * 0.1)
            elif name.endswith("bias"):
                param.normal_(0, 0.1)
    return model.eval()


_ENCODERS = """bert bert-generation big_bird camembert data2vec-text electra ernie megatron-bert rembert
roberta roberta-prelayernorm roc_bert roformer xlm-roberta xlm-roberta-xl xmod xlm xlnet reformer"""
"""Bidirectional encoders (and XLNet's permutation LM) that transformers can run as decoders."""
_RECURRENT_UNSEEN = "xlstm lfm2 lfm2_moe"
"""Recurrent or hybrid models whose tiny build shows neither a sequence-mixing convolution, a
state-space parameter nor a per-layer type naming one (xLSTM's cells; LFM2's convolution layers
vanish when the config is cut to two layers). Every other recurrent or hybrid model is found by
:func:`_mixes_without_attention` from its config and modules."""
_AUDIO = "musicgen musicgen_melody moshi whisper"
"""Audio models whose decoder predicts codebooks or needs an encoder's states."""

_NOT_DECODER_TRANSFORMERS: dict[str, str] = {
    **dict.fromkeys(_ENCODERS.split(), "encoder"),
    **dict.fromkeys(_RECURRENT_UNSEEN.split(), "recurrent"),
    **dict.fromkeys(_AUDIO.split(), "audio"),
}


_MIXER_WORDS = ("linear", "mamba", "recurrent", "conv")
"""Per-layer type names (``layer_types``, ``layers_block_type``, ``block_types``) of a mixer that
is not softmax attention: linear attention, a state-space or recurrent layer, a short
convolution. ("hybrid" alone says nothing: ZAYA calls its convolutional attention that.)"""
_STATE_PARAMS = {"A_log", "time_decay", "dt_bias"}
"""Parameters only state-space (Mamba's ``A_log``, ``dt_bias``) and RWKV (``time_decay``) layers
carry."""
_TOWERS = ("vision", "audio", "image", "speech", "visual")
"""Module path words of a multimodal checkpoint's encoders, whose convolutions are not the
language model's."""


def _layer_type_names(config: tf.PretrainedConfig) -> set[str]:
    names: set[str] = set()
    for cfg in (config, getattr(config, "text_config", None)):
        for field in ("layer_types", "layers_block_type", "block_types"):
            value = getattr(cfg, field, None)
            if isinstance(value, list | tuple):
                names |= {v for v in value if isinstance(v, str)}
    return names


def _sequence_mixing_modules(config: tf.PretrainedConfig) -> bool:
    """A state-space parameter, or a depthwise (per-channel) convolution along positions that is
    not inside an attention module: the modules of a layer that mixes tokens without softmax
    attention. Built on the meta device, so it costs no memory."""
    with torch.device("meta"):
        model = tf.AutoModelForCausalLM.from_config(config)
    if {name.rpartition(".")[2] for name, _ in model.named_parameters()} & _STATE_PARAMS:
        return True
    for name, module in model.named_modules():
        parts = name.lower().split(".")
        inside_attention = any(p.endswith(("attn", "attention")) for p in parts[:-1])
        in_tower = any(w in p for p in parts for w in _TOWERS)
        depthwise = isinstance(module, torch.nn.Conv1d) and module.groups == module.in_channels > 1
        if depthwise and not inside_attention and not in_tower:
            return True
    return False


def _mixes_without_attention(model_type: str) -> bool:
    """Recurrent or hybrid: a layer mixes positions by something other than softmax attention,
    read from the default config's per-layer types and the tiny model's modules."""
    config_class = CONFIG_MAPPING[model_type]
    try:
        names = _layer_type_names(config_class())
    except Exception:  # a default that does not validate: judged by its modules alone
        names = set()
    if any(word in name for name in names for word in _MIXER_WORDS):
        return True
    try:
        return _sequence_mixing_modules(shrunken_config(model_type))
    except Exception:  # transformers cannot build it tiny: nothing more to read
        return False


def kind_of(model_type: str) -> str:
    """``decoder`` (decoder-only transformer, incl. multimodal wrappers), ``encoder``,
    ``encoder-decoder``, ``recurrent`` (state-space, hybrid) or ``audio``."""
    config = CONFIG_MAPPING[model_type]
    if model_type in _NOT_DECODER_TRANSFORMERS:
        return _NOT_DECODER_TRANSFORMERS[model_type]
    try:
        fields = config().__dict__
    except Exception:  # a default that does not validate: judged by its class alone
        fields = {}
    if fields.get("is_encoder_decoder") or "encoder_layers" in fields:
        return "encoder-decoder"
    if _mixes_without_attention(model_type):
        return "recurrent"
    return "decoder"
