"""Loading a model from the CLI, with a visible status while GGUF files are converted once."""

from __future__ import annotations

from typing import Annotated

import typer

from babellens.cli.output import err_console
from babellens.models.bundled import BUNDLED_MODELS
from babellens.models.convert import converted_folder_for, is_converted
from babellens.models.language_model import LanguageModel
from babellens.models.loading import load

ModelArg = Annotated[str, typer.Argument(help="Bundled alias, model folder, .gguf file or hub id.")]


def _needs_conversion(spec: str) -> bool:
    if spec in BUNDLED_MODELS:
        model = BUNDLED_MODELS[spec]
        return not is_converted(converted_folder_for(model.gguf_path, model.alias))
    return spec.endswith(".gguf")


def load_with_status(
    spec: str, *, quiet: bool = False, device: str = "cpu", dtype: str = "float32"
) -> LanguageModel:
    message = f"Loading {spec}"
    if _needs_conversion(spec):
        message += (
            " (first use: dequantising the GGUF into a cached safetensors folder, about a minute)"
        )
    if quiet:
        return load(spec, device=device, dtype=dtype)
    with err_console.status(message):
        lm = load(spec, device=device, dtype=dtype)
    err_console.print(f"[green]✓[/] loaded {spec}")
    return lm
