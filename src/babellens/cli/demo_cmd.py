"""``babellens demo``: fetch the default model, show what it is and trace one prompt."""

from __future__ import annotations

from typing import Annotated

import typer

from babellens.analyses.token_trace import trace_top_neurons
from babellens.cli.inspect_cmd import print_summary, print_trace
from babellens.cli.loading import load_with_status
from babellens.cli.output import byte_progress, console
from babellens.models.bundled import DEFAULT_MODEL
from babellens.models.fetch import pull

DEMO_PROMPT = "The capital of France is Paris. Die Hauptstadt von Deutschland ist Berlin."


def demo(
    model: Annotated[str, typer.Option(help="Bundled alias to analyse.")] = DEFAULT_MODEL,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Exit after the analyses.")] = False,
    prompt: Annotated[str, typer.Option(help="Prompt to trace.")] = DEMO_PROMPT,
) -> None:
    """The two-minute tour: pull the default model, summarise it, trace a bilingual prompt."""
    with byte_progress(f"fetching {model}") as progress:
        pull(model, progress=progress)
    lm = load_with_status(model)
    summary = lm.summary()
    print_summary(summary)
    layer = summary.n_layers // 2
    print_trace(trace_top_neurons(lm, prompt, layer, k=3))
    console.print(
        f"\nNext: [bold]babellens trace {model} --text '...' --layer {layer} --neuron N[/] follows one neuron; "
        f"[bold]babellens info {model} --json[/] gives the summary as JSON."
    )
    if not no_serve:
        console.print(
            "[dim]This version has no web app yet, so there is nothing to serve; done.[/]"
        )
