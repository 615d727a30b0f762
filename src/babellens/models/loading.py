"""Find and read a model: a bundled alias, a local folder, a ``.gguf`` file or a Hugging Face hub id.

This layer stops at the Hugging Face module and its tokenizer (:class:`PretrainedModel`).
Binding them to hooks is the capture layer's job: :func:`babellens.load` (in
``babellens.capture.language_model``) wraps what :func:`load_pretrained` returns in a
``LanguageModel``, so ``models`` never imports ``capture``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError

from babellens.errors import (
    BabelLensError,
    CorruptModelFileError,
    ModelNotAvailableError,
    NotACausalLMError,
)
from babellens.hub import hub_reachable
from babellens.models.bundled import BUNDLED_MODELS, bundled_model
from babellens.models.convert import (
    cast_converted,
    convert_gguf,
    converted_folder_for,
    is_converted,
)
from babellens.models.fetch import verify
from babellens.models.precision import resolve_dtype

__all__ = [
    "PretrainedModel",
    "load_pretrained",
    "load_tokenizer",
    "resolve_dtype",
    "resolve_model_path",
]


class PretrainedModel(NamedTuple):
    """What was read from disk or the hub, before any hook is bound to it."""

    model: torch.nn.Module
    tokenizer: Any
    name: str  # what the user asked for (the alias, path or hub id)
    source: str  # bundled, gguf, folder or hub


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _converted(gguf: Path, key: str | None, dtype: torch.dtype) -> Path:
    """The cached folder of ``gguf`` in ``dtype``: float32 dequantised once, others cast from it."""
    reference = converted_folder_for(gguf, key)
    if not is_converted(reference):
        convert_gguf(gguf, reference)
    if dtype == torch.float32:
        return reference
    folder = converted_folder_for(gguf, key, dtype)
    if not is_converted(folder):
        cast_converted(reference, folder, dtype)
    return folder


def resolve_model_path(spec: str | Path, dtype: torch.dtype = torch.float32) -> tuple[str, str]:
    """(what ``from_pretrained`` gets, source kind). Bundled GGUFs are verified and converted once
    (per dtype: ``dtype`` picks which cached copy of a GGUF's weights is returned)."""
    text = str(spec)
    if text in BUNDLED_MODELS:
        model = bundled_model(text)
        if not is_converted(converted_folder_for(model.gguf_path, model.alias)):
            verify(model)
        return str(_converted(model.gguf_path, model.alias, dtype)), "bundled"
    path = Path(text).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotAvailableError(f"GGUF file {path} does not exist")
        return str(_converted(path, None, dtype)), "gguf"
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotAvailableError(
                f"{path} has no config.json: it is not a Hugging Face model folder"
            )
        return str(path), "folder"
    if path.exists() or text.startswith((".", "/", "~")) or not _HUB_ID.match(text):
        raise ModelNotAvailableError(
            f"unknown model {text!r}: give a bundled alias ({', '.join(BUNDLED_MODELS)}), a model "
            "folder, a .gguf file or a Hugging Face hub id like org/name"
        )
    return text, "hub"


def _hub_config(target: str, trust_remote_code: bool) -> tuple[Any, bool]:
    """(config, local_only): the local HF cache first; the hub only if it answers."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(
            target, trust_remote_code=trust_remote_code, local_files_only=True
        ), True
    except OSError:
        pass
    if not hub_reachable():
        raise ModelNotAvailableError(
            f"{target!r} is not in the local Hugging Face cache and the Hub cannot be reached: use a bundled "
            "alias (`babellens models list`), a local folder or a .gguf file, or connect to the network"
        )
    return AutoConfig.from_pretrained(target, trust_remote_code=trust_remote_code), False


def _text_decoder_wrapper(config: Any, archs: list[str]) -> bool:
    """A multimodal checkpoint whose causal-LM class transformers names (Gemma 3 from 4B, Llama 4,
    Mistral 3, ...): BabelLens analyses text through its language model; images are out of scope."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
    )

    causal_class = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(config.model_type)
    image_text_class = MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES.get(config.model_type)
    return bool(set(archs) & {causal_class, image_text_class} - {None})


def _auto_model_class(config: Any) -> Any:
    """``AutoModelForCausalLM``, or the image-text class for a multimodal checkpoint that the
    causal-LM mapping does not list (LLaVA, Mistral 3, ...): its language model is what runs."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return AutoModelForCausalLM
    return AutoModelForImageTextToText


def _check_causal(config: Any, name: str) -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    archs = list(getattr(config, "architectures", None) or [])
    wrapper = _text_decoder_wrapper(config, archs)
    causal_arch = wrapper or any("CausalLM" in a or "LMHead" in a for a in archs)
    if (
        getattr(config, "is_encoder_decoder", False)
        or (config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not wrapper)
        or (archs and not causal_arch)
    ):
        kind = (
            "an encoder-decoder"
            if getattr(config, "is_encoder_decoder", False)
            else "not a causal (decoder-only)"
        )
        raise NotACausalLMError(
            f"{name} is {kind} language model ({config.model_type}, {', '.join(archs) or 'no architectures'}); "
            "BabelLens analyses decoder-only causal LMs such as llama, gemma, qwen, gpt2 or pythia"
        )


def _from_pretrained(
    target: str,
    source: str,
    name: str,
    dtype: torch.dtype,
    trust_remote_code: bool,
    attn_implementation: str | None,
) -> tuple[torch.nn.Module, Any]:
    from transformers import AutoConfig, AutoTokenizer

    local_only = True
    try:
        if source == "hub":
            config, local_only = _hub_config(target, trust_remote_code)
        else:
            config = AutoConfig.from_pretrained(
                target, trust_remote_code=trust_remote_code, local_files_only=True
            )
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelNotAvailableError(
                f"{name} needs custom code from its repository; rerun with --trust-remote-code if you trust it"
            ) from exc
        raise NotACausalLMError(f"{name}: {str(exc).splitlines()[0]}") from exc
    except OSError as exc:
        raise ModelNotAvailableError(
            f"could not load {name!r} from the Hugging Face Hub (no such model, or no access): check the id, "
            "or use a bundled alias (`babellens models list`), a local folder or a .gguf file"
        ) from exc
    _check_causal(config, name)
    try:
        kwargs: dict[str, Any] = {
            "dtype": dtype,
            "trust_remote_code": trust_remote_code,
            "local_files_only": local_only,
        }
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        model = _auto_model_class(config).from_pretrained(target, config=config, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(
            target, trust_remote_code=trust_remote_code, local_files_only=local_only
        )
    except (OSError, SafetensorError) as exc:
        raise CorruptModelFileError(
            f"could not read the weights or tokenizer of {name} ({str(exc).splitlines()[0][:160]}); "
            "the files may be missing, truncated or corrupt"
        ) from exc
    return model, tokenizer


def load_pretrained(
    spec: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float32",
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
) -> PretrainedModel:
    """Read any causal LM and its tokenizer, on ``device`` in ``dtype``.

    ``spec``: a bundled alias (``smollm2-135m``, ``gemma3-270m``, ``qwen2.5-coder-0.5b``), a folder
    written by ``save_pretrained``, a ``.gguf`` file (dequantised once into a cached folder) or a
    hub id. ``trust_remote_code`` stays off unless the caller turns it on.

    ``dtype``: float32 by default, so library results are exact and reproducible on any machine;
    ``"auto"`` picks bfloat16 where the device has fast bfloat16 (what the CLI, the demo and
    jobs use; see :mod:`babellens.models.precision`), or name one: float32, bfloat16, float16.
    """
    name = str(spec)
    target_device = _resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target_device)
    target, source = resolve_model_path(spec, torch_dtype)
    model, tokenizer = _from_pretrained(
        target, source, name, torch_dtype, trust_remote_code, attn_implementation
    )
    try:
        model = model.to(target_device)
    except (RuntimeError, AssertionError) as exc:
        raise BabelLensError(
            f"cannot move the model to {device!r}: {str(exc).splitlines()[0]}"
        ) from exc
    return PretrainedModel(model, tokenizer, name, source)


def load_tokenizer(spec: str | Path) -> Any:
    """Only the tokenizer (for decoding stored token ids without loading weights)."""
    from transformers import AutoTokenizer

    target, source = resolve_model_path(spec)
    try:
        return AutoTokenizer.from_pretrained(target, local_files_only=source != "hub")
    except OSError as exc:
        raise ModelNotAvailableError(
            f"cannot load the tokenizer of {spec}: {str(exc).splitlines()[0][:160]}"
        ) from exc
