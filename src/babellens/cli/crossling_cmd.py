"""``babellens crossling run``: does a behaviour trained in one language show up in the others?"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from babellens.cli.loading import ModelArg
from babellens.cli.options import JsonOpt
from babellens.cli.output import console, err_console, print_json

app = typer.Typer(help="Cross-lingual transfer experiments.", no_args_is_help=True)


def _langs(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@app.command()
def run(
    model: ModelArg,
    behaviour: Annotated[str, typer.Option(help="Behaviour to train (caps).")] = "caps",
    train_lang: Annotated[str, typer.Option(help="Training language(s), comma separated.")] = "en",
    eval_langs: Annotated[
        str, typer.Option(help="Evaluation languages, comma separated.")
    ] = "en,ru,bg,de,es,fr",
    prompts: Annotated[
        int, typer.Option(min=1, max=1000, help="Held-out prompts per language.")
    ] = 20,
    steps: Annotated[int, typer.Option(min=1, help="LoRA training steps.")] = 100,
    train_examples: Annotated[
        int, typer.Option(min=1, help="Training instructions answered by the base model.")
    ] = 60,
    out: Annotated[str, typer.Option(help="Folder for the adapters.")] = "crossling-runs",
    json: JsonOpt = False,
) -> None:
    """Train LoRA in the training language(s), measure the behaviour in every evaluation language."""
    from babellens.crossling import ExperimentConfig, LoraConfig, RateConfig, run_experiment

    config = ExperimentConfig(behaviour=behaviour, train_langs=_langs(train_lang), eval_langs=_langs(eval_langs),
                              train_examples=train_examples, lora=LoraConfig(steps=steps), rates=RateConfig(prompts=prompts))  # fmt: skip
    report = run_experiment(
        model, config, out, progress=None if json else lambda m: err_console.print(f"[dim]{m}[/]")
    )
    if json:
        print_json(report)
        return
    table = Table(
        "condition",
        *config.eval_langs,
        title=f"{behaviour} rate (%) on {model}, {prompts} prompts per language",
    )
    for c in report.conditions:
        table.add_row(
            c.condition,
            *[
                f"{c.rates[ev].mean:.1f} [{c.rates[ev].low:.0f}–{c.rates[ev].high:.0f}]"
                for ev in config.eval_langs
            ],
        )
    console.print(table)
    console.print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in report.timings_s.items()))
