"""``babellens info`` and ``babellens trace``: what a model is, and what its neurons do on a text."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from babellens.analyses.token_trace import (
    NeuronTrace,
    TopNeuronsTrace,
    trace_neuron,
    trace_top_neurons,
)
from babellens.capture.hook_points import HOOK_KINDS
from babellens.cli.loading import ModelArg, load_with_status
from babellens.cli.options import DtypeOpt
from babellens.cli.output import console, print_json
from babellens.errors import InvalidInputError
from babellens.models.summary import ModelSummary

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def info(model: ModelArg, dtype: DtypeOpt = "auto", json: JsonOpt = False) -> None:
    """Architecture summary and hook point names."""
    lm = load_with_status(model, quiet=json, dtype=dtype)
    summary = lm.summary()
    if json:
        print_json(summary)
    else:
        print_summary(summary)


def print_summary(s: ModelSummary) -> None:
    table = Table(title=f"{s.name}  ({s.hf_class}, family {s.architecture})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key in (
        "source",
        "model_type",
        "n_layers",
        "d_model",
        "d_mlp",
        "n_heads",
        "n_kv_heads",
        "head_dim",
        "vocab_size",
        "gated_mlp",
        "parallel_residual",
        "dtype",
        "device",
    ):
        table.add_row(key, str(getattr(s, key)))
    if s.heads_per_layer:
        table.add_row("heads per layer", ", ".join(map(str, s.heads_per_layer)))
    table.add_row("n_params", f"{s.n_params / 1e6:.1f} M")
    table.add_row("hook points", _hook_point_lines(s))
    console.print(table)


def _hook_point_lines(s: ModelSummary) -> str:
    """The kinds this model has, each with its layers: expert points only where a layer is a
    mixture of experts, so a dense model lists no router."""
    layers: dict[str, list[int]] = {}
    for name in s.hook_points:
        kind, _, layer = name.rpartition(".")
        layers.setdefault(kind, []).append(int(layer))
    lines = []
    for kind, hook in HOOK_KINDS.items():
        found = sorted(layers.get(kind, []))
        if not found:
            continue
        where = f"0..{s.n_layers - 1}" if len(found) == s.n_layers else ",".join(map(str, found))
        lines.append(f"{kind}.{{{where}}}  [dim]{escape(hook.description)}[/]")
    return "\n".join(lines)


def trace(
    model: ModelArg,
    text: Annotated[str, typer.Option("--text", help="The prompt.")],
    layer: Annotated[int, typer.Option("--layer", help="MLP layer.")],
    neuron: Annotated[int | None, typer.Option("--neuron", help="One neuron to follow.")] = None,
    top: Annotated[
        int | None, typer.Option("--top", help="The K most active neurons per token.")
    ] = None,
    dtype: DtypeOpt = "auto",
    expert: Annotated[
        int | None,
        typer.Option("--expert", help="Mixture-of-experts layers: the expert of --neuron."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Per token, one neuron's activation (mlp_post) or the K most active neurons; on a
    mixture-of-experts layer the units are (expert, neuron), shown only where routed."""
    if neuron is not None and top is not None:
        raise InvalidInputError("give either --neuron or --top, not both")
    lm = load_with_status(model, quiet=json, dtype=dtype)
    if lm.adapter.is_moe_layer(lm.adapter.check_layer(layer)):
        _trace_experts(lm, text, layer, expert, neuron, top, json)
        return
    result = (
        trace_neuron(lm, text, layer, neuron)
        if neuron is not None
        else trace_top_neurons(lm, text, layer, 5 if top is None else top)
    )
    if json:
        print_json(result)
    else:
        print_trace(result)


def _trace_experts(lm, text: str, layer: int, expert, neuron, top, json: bool) -> None:
    from babellens.analyses.expert_trace import trace_expert_neuron, trace_top_expert_neurons

    if (neuron is None) != (expert is None):
        raise InvalidInputError(f"layer {layer} routes to experts: give --expert E with --neuron N")
    if neuron is not None:
        result = trace_expert_neuron(lm, text, layer, expert, neuron)
    else:
        result = trace_top_expert_neurons(lm, text, layer, 5 if top is None else top)
    if json:
        print_json(result)
        return
    table = Table(title=f"{result.model}: expert_post.{layer} (units only where routed)")
    table.add_column("#", justify="right")
    table.add_column("token")
    if neuron is not None:
        table.add_column(f"expert {expert} neuron {neuron}", justify="right")
        table.add_column("routing weight", justify="right")
        rows = zip(result.tokens, result.activations, result.routing_weights, strict=True)
        for i, (tok, act, weight) in enumerate(rows):
            table.add_row(
                str(i), repr(tok), "not routed" if act is None else f"{act:+.3f}", f"{weight:.3f}"
            )
    else:
        table.add_column(f"top {result.k} units expert/neuron:activation (routing weight)")
        for i, (tok, units) in enumerate(zip(result.tokens, result.activations, strict=True)):
            cells = (
                f"{u.expert}/{u.neuron}:{u.activation:+.2f} ({u.routing_weight:.2f})" for u in units
            )
            table.add_row(str(i), repr(tok), "  ".join(cells))
    console.print(table)


def print_trace(result: NeuronTrace | TopNeuronsTrace) -> None:
    if isinstance(result, NeuronTrace):
        peak = max((abs(a) for a in result.activations), default=1.0) or 1.0
        line = Text()
        for tok, act in zip(result.tokens, result.activations, strict=True):
            shade = int(255 * (1 - min(abs(act) / peak, 1.0)))
            colour = f"rgb(255,{shade},{shade})" if act > 0 else f"rgb({shade},{shade},255)"
            line.append(tok.replace("\n", "⏎"), style=f"black on {colour}")
        console.print(
            f"layer {result.layer}, neuron {result.neuron} (red: positive, blue: negative)"
        )
        console.print(line)
    table = Table(title=f"{result.model}: mlp_post.{result.layer}")
    table.add_column("#", justify="right")
    table.add_column("token")
    if isinstance(result, NeuronTrace):
        table.add_column(f"neuron {result.neuron}", justify="right")
        for i, (tok, act) in enumerate(zip(result.tokens, result.activations, strict=True)):
            table.add_row(str(i), repr(tok), f"{act:+.3f}")
    else:
        table.add_column(f"top {result.k} neurons (activation)")
        for i, (tok, acts) in enumerate(zip(result.tokens, result.activations, strict=True)):
            table.add_row(
                str(i), repr(tok), "  ".join(f"{a.neuron}:{a.activation:+.2f}" for a in acts)
            )
    console.print(table)
