"""Loading a model from the CLI, with a visible status while GGUF files are converted once."""

from __future__ import annotations

from typing import Annotated

import typer

from babellens.capture.language_model import LanguageModel, load
from babellens.cli.output import err_console
from babellens.models.bundled import BUNDLED_MODELS
from babellens.models.convert import converted_folder_for, is_converted
from babellens.models.precision import AUTO, dtype_name, resolve_dtype

ModelArg = Annotated[str, typer.Argument(help="Bundled alias, model folder, .gguf file or hub id.")]


def _needs_conversion(spec: str) -> bool:
    if spec in BUNDLED_MODELS:
        model = BUNDLED_MODELS[spec]
        return not is_converted(converted_folder_for(model.gguf_path, model.alias))
    return spec.endswith(".gguf")


def dtype_note(requested: str, lm: LanguageModel) -> str:
    """``bfloat16 (auto: this cpu has fast bfloat16)``: what a command prints beside its model."""
    name = dtype_name(lm.dtype)
    if requested != AUTO:
        return name
    fast = "has" if name == "bfloat16" else "has no"
    return f"{name} (auto: this {lm.device.type} {fast} fast bfloat16)"


def load_with_status(
    spec: str, *, quiet: bool = False, device: str = "cpu", dtype: str = AUTO
) -> LanguageModel:
    """Load for a command: ``dtype`` defaults to auto; the chosen dtype is printed (unless quiet)."""
    resolve_dtype(dtype, device)  # an unknown name fails before any loading starts
    message = f"Loading {spec}"
    if _needs_conversion(spec):
        message += (
            " (first use: dequantising the GGUF into a cached safetensors folder, about a minute)"
        )
    if quiet:
        return load(spec, device=device, dtype=dtype)
    with err_console.status(message):
        lm = load(spec, device=device, dtype=dtype)
    err_console.print(f"[green]✓[/] loaded {spec} in {dtype_note(dtype, lm)}")
    return lm
