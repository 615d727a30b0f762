"""``babellens logit-lens``: which language do the middle layers think in?"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from babellens.cli.loading import ModelArg, load_with_status
from babellens.cli.options import DtypeOpt, JsonOpt
from babellens.cli.output import console, print_json
from babellens.cli.progress import job_progress

__all__ = ["logit_lens_cmd"]


def logit_lens_cmd(
    model: ModelArg,
    source: Annotated[str, typer.Option(help="Language of the words to translate.")] = "fr",
    target: Annotated[str, typer.Option(help="Language to translate into.")] = "zh",
    words: Annotated[int, typer.Option(min=1, max=1000, help="Translation prompts.")] = 40,
    shots: Annotated[int, typer.Option(min=0, max=10, help="Solved examples per prompt.")] = 4,
    dtype: DtypeOpt = "auto",
    json: JsonOpt = False,
) -> None:
    """Per layer, the probability of the correct translation and of its English equivalent."""
    from babellens.analyses.logit_lens import LogitLensConfig, logit_lens

    lm = load_with_status(model, quiet=json, dtype=dtype)
    config = LogitLensConfig(source=source, target=target, words=words, shots=shots)
    with job_progress(f"logit lens {source}->{target}", "prompts", enabled=not json) as bar:
        result = logit_lens(lm, config, progress=lambda d, t: bar(d, t, 0.0))
    if json:
        print_json(result)
        return
    table = Table(
        "layer",
        f"P({target} answer)",
        "P(English word)",
        "",
        title=f"{model}: {result.prompts} {source}->{target} prompts ({result.skipped} ambiguous skipped)",
    )
    for row in result.layers:
        bar_t = "█" * round(20 * row.p_target)
        bar_e = "░" * round(20 * (row.p_english or 0))
        english = "–" if row.p_english is None else f"{row.p_english:.3f}"
        table.add_row(
            str(row.layer), f"{row.p_target:.3f}", english, f"[orange3]{bar_t}[/][blue]{bar_e}[/]"
        )
    console.print(table)
