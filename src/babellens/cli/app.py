"""The Typer application and the entry point that turns user errors into one line and exit 2."""

from __future__ import annotations

import os
import sys

import typer

from babellens.cli import bench_cmd, crossling_cmd, jobs_cmd, models_cmd, safety_cmd, steer_cmd
from babellens.cli.demo_cmd import demo
from babellens.cli.dict_cmd import app as dict_app
from babellens.cli.explain_cmd import app as explanations_app
from babellens.cli.explain_cmd import explain
from babellens.cli.feature_cmd import feature
from babellens.cli.graph_cmd import app as graph_app
from babellens.cli.inspect_cmd import info, trace
from babellens.cli.lens_cmd import logit_lens_cmd
from babellens.cli.lookups_cmd import lookups
from babellens.cli.mcp_cmd import mcp
from babellens.cli.output import err_console
from babellens.cli.scan_cmd import neuron, next_token_neurons_cmd, scan
from babellens.cli.serve_cmd import serve
from babellens.errors import BabelLensError

__all__ = ["app", "main"]

app = typer.Typer(
    name="babellens",
    help="BabelLens: an interpretability workbench for any Hugging Face causal language model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(models_cmd.app, name="models")
app.add_typer(bench_cmd.app, name="bench")
app.add_typer(jobs_cmd.app, name="jobs")
app.add_typer(steer_cmd.app, name="steer")
app.add_typer(crossling_cmd.app, name="crossling")
app.add_typer(graph_app, name="graph")
app.add_typer(safety_cmd.app, name="safety")
app.command()(info)
app.command()(trace)
app.command()(demo)
app.command()(scan)
app.command()(neuron)
app.command("next-token-neurons")(next_token_neurons_cmd)
app.command()(serve)
app.command("logit-lens")(logit_lens_cmd)
app.command()(lookups)
app.add_typer(dict_app, name="dict")
app.command()(feature)
app.command()(explain)
app.add_typer(explanations_app, name="explanations")
app.command()(mcp)

EXIT_USER_ERROR = 2


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: a :class:`BabelLensError` prints one line and exits 2."""
    _quiet_libraries()
    try:
        app(args=argv)  # standalone: usage errors print click's message and exit 2
    except BabelLensError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)
