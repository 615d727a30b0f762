"""``babellens steer build|generate|evaluate|list``: steering vectors from the command line."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer
from rich.table import Table

from babellens.cli.loading import ModelArg, load_with_status
from babellens.cli.options import DtypeOpt, JsonOpt, parse_layers
from babellens.cli.output import console, err_console, print_json
from babellens.cli.params import default_of, help_of, validated
from babellens.cli.progress import job_progress
from babellens.data.prompts import chat_prompt
from babellens.errors import InvalidInputError
from babellens.jobs.kinds import SteeringEvalParams

app = typer.Typer(help="Steering vectors: build, generate with, evaluate.", no_args_is_help=True)

VectorOpt = Annotated[
    str,
    typer.Option(
        "--vector",
        help="Saved vector name, .safetensors file, or concept (caps, french, caps-de, lang-ru-vs-en).",
    ),
]
LayersOpt = Annotated[
    str | None,
    typer.Option("--layer", "--layers", help="Layers, e.g. 12 or 10-14 (default: the vector's)."),
]


def _progress(label: str):
    return job_progress(label, "texts")


def _coefficients(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(
            f"cannot read coefficients {text!r}: use e.g. -8,-4,0,4,8"
        ) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise InvalidInputError("coefficients must be finite numbers, e.g. -8,-4,0,4,8")
    return values


@app.command()
def build(
    model: ModelArg,
    data: Annotated[
        str,
        typer.Argument(
            help="Concept (caps, french, caps-LANG, lang-A-vs-B) or a .jsonl contrast file."
        ),
    ],
    layers: LayersOpt = None,
    method: Annotated[str, typer.Option(help="mean_diff or pca.")] = "mean_diff",
    read: Annotated[
        str | None, typer.Option(help="last, mean or completion_mean (default: the concept's).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Save under this name (default: the data's).")
    ] = None,
    export_gguf: Annotated[
        str | None, typer.Option(help="Also write a llama.cpp control vector here.")
    ] = None,
    dtype: DtypeOpt = "auto",
    json: JsonOpt = False,
) -> None:
    """Build a vector (positive minus negative) at each layer and save it for this model."""
    from babellens.steering.library import save_vector

    if method not in ("mean_diff", "pca"):
        raise InvalidInputError(f"method must be mean_diff or pca, got {method!r}")
    lm = load_with_status(model, quiet=json, dtype=dtype)
    vector = _build_vector(lm, data, parse_layers(layers), method, read, name, quiet=json)
    path = save_vector(vector)
    if export_gguf:
        vector.export_gguf(export_gguf, architecture=lm.adapter.spec.name)
    if json:
        print_json(vector.info)
        return
    _print_vector(vector.info)
    console.print(
        f"saved to {path}" + (f"; llama.cpp control vector at {export_gguf}" if export_gguf else "")
    )


def _build_vector(
    lm: Any,
    data: str,
    layers: list[int] | None,
    method: str,
    read: str | None,
    name: str | None,
    *,
    quiet: bool,
) -> Any:
    from babellens import steering
    from babellens.steering.library import default_layers

    contrast = steering.concept_contrast(data, lm)
    mode = read or (steering.get_concept(data).read if not data.endswith(".jsonl") else "last")
    chosen = layers or default_layers(lm.adapter.n_layers)
    with job_progress(f"reading {contrast.name}", "texts", enabled=not quiet) as bar:
        return steering.build(
            lm,
            contrast,
            chosen,
            method=method,
            read=mode,
            name=name,  # type: ignore[arg-type]
            progress=lambda d, t: bar(d, t, 0.0),
        )


def _print_vector(info: Any) -> None:
    table = Table(
        "layer",
        "norm",
        "mean cos(diff, vector)",
        title=f"{info.name}: {info.method}, read {info.read}, {info.n_examples} examples",
    )
    for layer in info.layers:
        cos = info.diff_cosine.get(layer)
        table.add_row(str(layer), f"{info.norms[layer]:.3g}", "–" if cos is None else f"{cos:.3f}")
    console.print(table)


@app.command()
def generate(
    model: ModelArg,
    vector: VectorOpt,
    prompt: Annotated[str, typer.Option(help="Instruction or text to continue.")],
    coef: Annotated[
        float, typer.Option(help="Coefficient: 1 adds one mean difference; negative steers away.")
    ] = 1.0,
    layers: LayersOpt = None,
    positions: Annotated[str, typer.Option(help="all or generated.")] = "all",
    max_new_tokens: Annotated[int, typer.Option(min=1, max=1024)] = 40,
    temperature: Annotated[float, typer.Option(min=0.0)] = 0.0,
    seed: int = 0,
    chat: Annotated[
        bool, typer.Option(help="Wrap the prompt in the model's chat template.")
    ] = True,
    dtype: DtypeOpt = "auto",
    json: JsonOpt = False,
) -> None:
    """Steered and unsteered continuations of one prompt, side by side."""
    from babellens import steering
    from babellens.steering.library import resolve_vector, steer_layers

    if not math.isfinite(coef):
        raise InvalidInputError(f"the coefficient must be a finite number, got {coef}")
    lm = load_with_status(model, quiet=json, dtype=dtype)
    vec = resolve_vector(lm, vector, parse_layers(layers))
    chosen = parse_layers(layers) or steer_layers(vec, lm.adapter.n_layers)
    text = chat_prompt(lm.tokenizer, prompt) if chat else prompt
    kwargs = {"max_new_tokens": max_new_tokens, "temperature": temperature, "seed": seed}
    plain = steering.generate(lm, text, **kwargs)[0]
    steered = steering.generate(lm, text, vec, coef, layers=chosen, positions=positions, **kwargs)[
        0
    ]  # type: ignore[arg-type]
    if json:
        fields = {"model": model, "vector": vec.info.name, "coefficient": coef, "layers": chosen}
        print_json({**fields, "prompt": prompt, "plain": plain, "steered": steered})
        return
    table = Table(
        "unsteered",
        f"{vec.info.name} × {coef:g} at layer {', '.join(map(str, chosen))}",
        show_lines=True,
    )
    table.add_row(plain, steered)
    console.print(table)


@app.command()
def evaluate(
    model: ModelArg,
    vector: VectorOpt,
    metric: Annotated[
        str, typer.Option(help=help_of(SteeringEvalParams, "metric") + ".")
    ] = default_of(SteeringEvalParams, "metric"),
    coefs: Annotated[str, typer.Option(help="Coefficients, comma separated.")] = ",".join(
        f"{c:g}" for c in default_of(SteeringEvalParams, "coefficients")
    ),
    layers: LayersOpt = None,
    prompts: Annotated[
        int, typer.Option(help=help_of(SteeringEvalParams, "prompts") + ".")
    ] = default_of(SteeringEvalParams, "prompts"),
    lang: Annotated[str, typer.Option(help=help_of(SteeringEvalParams, "lang") + ".")] = (
        default_of(SteeringEvalParams, "lang")
    ),
    max_new_tokens: Annotated[int, typer.Option()] = default_of(
        SteeringEvalParams, "max_new_tokens"
    ),
    dtype: DtypeOpt = "auto",
    json: JsonOpt = False,
) -> None:
    """Dose-response (with a random-vector control), layer sweep, KL cost and reliability."""
    params = validated(
        SteeringEvalParams,
        "steering evaluation",
        vector=vector,
        metric=metric,
        coefficients=_coefficients(coefs),
        layers=parse_layers(layers),
        prompts=prompts,
        lang=lang,
        max_new_tokens=max_new_tokens,
    )
    lm = load_with_status(model, quiet=json, dtype=dtype)
    report = _run_evaluation(lm, params, quiet=json)
    if json:
        print_json(report)
        return
    _print_evaluation(report, f"{report.vector.name} on {model}, {report.prompts} prompts")


def _run_evaluation(lm: Any, params: SteeringEvalParams, *, quiet: bool) -> Any:
    from babellens import steering
    from babellens.control import LocalControl
    from babellens.steering.library import eval_inputs, resolve_vector, steer_layers

    vec = resolve_vector(lm, params.vector, params.layers)
    texts, neutral = eval_inputs(lm, params.lang, params.prompts)
    chosen = params.layers or steer_layers(vec, lm.adapter.n_layers)
    config = steering.EvalConfig(
        coefficients=params.coefficients, layers=chosen, max_new_tokens=params.max_new_tokens
    )
    with job_progress(f"evaluating {vec.info.name}", "runs", enabled=not quiet) as bar:
        control = LocalControl(on_progress=lambda d, t, _unit, _message: bar(d, t, 0.0))
        return steering.evaluate(
            lm, vec, texts, params.metric, neutral=neutral, config=config, control=control
        )


def _print_evaluation(report: Any, title: str) -> None:
    table = Table(
        "coef",
        report.metric,
        "random control",
        "KL on neutral text",
        "degenerate",
        "wrong way",
        "sample",
        title=title,
    )
    for p in report.dose_response:
        table.add_row(
            f"{p.coefficient:g}",
            "–" if p.mean is None else f"{p.mean:.3f} ± {p.std:.3f}",
            "–" if p.control_mean is None else f"{p.control_mean:.3f}",
            "–" if p.kl is None else f"{p.kl:.3f}",
            f"{p.degenerate:.0%}",
            "–" if p.wrong_way is None else f"{p.wrong_way:.0%}",
            (p.samples[0] if p.samples else "")[:60],
        )
    console.print(table)
    sweep = ", ".join(
        f"{layer}: {'–' if v is None else f'{v:.3f}'}" for layer, v in report.layer_sweep.items()
    )
    console.print(f"layer sweep: {sweep}")
    if report.mean_diff_cosine is not None:
        console.print(
            f"mean cosine of the training differences with the vector: {report.mean_diff_cosine:.3f}"
        )


@app.command("list")
def list_cmd(model: ModelArg, json: JsonOpt = False) -> None:
    """Saved vectors of a model."""
    from babellens.steering.library import list_vectors

    infos = list_vectors(model)
    if json:
        print_json(infos)
        return
    if not infos:
        err_console.print(f"no saved vectors for {model}: `babellens steer build {model} caps`")
        return
    table = Table("name", "method", "read", "layers", "examples", "data")
    for i in infos:
        table.add_row(
            i.name, i.method, i.read, f"{min(i.layers)}–{max(i.layers)}", str(i.n_examples), i.data
        )
    console.print(table)
