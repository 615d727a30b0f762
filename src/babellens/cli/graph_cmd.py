"""``babellens graph``: attribution graphs (make one, open a file, compare languages)."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.table import Table
from typer.core import TyperGroup

from babellens.cli.loading import ModelArg, load_with_status
from babellens.cli.options import (
    DbOpt,
    ExecutorOpt,
    JsonOpt,
    RayAddressOpt,
    WorkersOpt,
    ray_options,
)
from babellens.cli.output import console, err_console, print_json
from babellens.cli.progress import job_progress
from babellens.errors import InvalidInputError

__all__ = ["app"]


class _DefaultMake(TyperGroup):
    """``babellens graph MODEL ...`` means ``babellens graph make MODEL ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["make", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultMake,
    help="Attribution graphs through transcoder features: make, open, compare.",
    no_args_is_help=True,
)

TranscodersOpt = Annotated[
    str,
    typer.Option(
        "--transcoders",
        help="Per-layer transcoder set: a stored set's id (`babellens dict list`) or a folder "
        "of layer_L.safetensors.",
    ),
]


def _config(**values: Any):
    from babellens.graphs.attribution import GraphConfig

    return GraphConfig(**{k: v for k, v in values.items() if v is not None})


def _transcoders(spec: str, db_url: str | None) -> Any:
    from babellens.store import open_database
    from babellens.store.transcoder_sets import load_transcoder_set

    return load_transcoder_set(open_database(db_url), spec)


@app.command("make")
def make(
    model: ModelArg,
    prompt: Annotated[str, typer.Option("--prompt", help="The prompt whose next token to trace.")],
    transcoders: TranscodersOpt,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write Neuronpedia graph JSON here.")
    ] = None,
    node_threshold: Annotated[float, typer.Option(min=0.01, max=1.0)] = 0.8,
    edge_threshold: Annotated[float, typer.Option(min=0.01, max=1.0)] = 0.98,
    max_logits: Annotated[int, typer.Option(min=1, max=50)] = 10,
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Targets per backward.")] = 32,
    max_feature_nodes: Annotated[int | None, typer.Option(min=1)] = None,
    json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Trace one prompt: nodes, pruned edges, replacement and completeness scores."""
    from babellens.graphs.build import build_graph
    from babellens.graphs.neuronpedia import write_graph_json

    config = _config(
        node_threshold=node_threshold,
        edge_threshold=edge_threshold,
        max_logits=max_logits,
        batch_size=batch_size,
        max_feature_nodes=max_feature_nodes,
    )
    tcs = _transcoders(transcoders, db)
    lm = load_with_status(model, quiet=json, dtype="float32")  # exact edges need float32
    from babellens.control import LocalControl

    with job_progress("attribution", "targets", enabled=not json) as bar:
        control = LocalControl(on_progress=lambda d, t, _u, _m: bar(d, t, 0.0))
        built = build_graph(lm, tcs, prompt, config, transcoders_id=transcoders, control=control)
    if out is not None:
        write_graph_json(built.report, out)
    if json:
        print_json(built.report)
        return
    _print_graph(built.report, n_features=built.graph.n_features)
    if out is not None:
        err_console.print(f"[green]✓[/] wrote {out}")


@app.command("open")
def open_graph(
    file: Annotated[
        Path, typer.Argument(help="A graph JSON file (BabelLens, Neuronpedia, circuit-tracer).")
    ],
    db: DbOpt = None,
    store: Annotated[
        bool, typer.Option(help="Import it into the database (the web app shows it).")
    ] = True,
    json: JsonOpt = False,
) -> None:
    """Check and import a graph file; print what it holds."""
    from babellens.graphs.neuronpedia import read_graph_json

    report = read_graph_json(file)
    job_id = _import(report, db, file) if store else None
    if json:
        print_json({"job_id": job_id, "graph": report.model_dump(mode="json")})
        return
    _print_graph(report)
    if job_id is not None:
        err_console.print(f"[green]✓[/] imported as job {job_id}: /graphs/{job_id}")


def _import(report: Any, db_url: str | None, file: Path) -> int:
    from babellens.store import JobStore, open_database
    from babellens.store.reports import ReportStore

    db = open_database(db_url)
    jobs = JobStore(db)
    job = jobs.create(
        "graph",
        report.metadata.scan,
        {"prompt": report.metadata.prompt, "transcoders": f"file:{file.name}"},
    )
    ReportStore(db).save(job.id, report, model=report.metadata.scan)
    jobs.finish(job.id, "done", summary={"imported": file.name, "nodes": len(report.nodes)})
    return job.id


@app.command("compare")
def compare(
    model: ModelArg,
    transcoders: TranscodersOpt,
    prompts: Annotated[
        Path | None,
        typer.Option(
            "--prompts",
            help='JSON {"parallel": {"en": "...", ...}, "control": ["...", ...]} (default: '
            '"The capital of France is" in en ru bg de es fr zh, unrelated controls).',
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 32,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = 2,
    json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Per layer, the influence share of features common to all languages' graphs vs a control."""
    from babellens.graphs.compare import compare_graphs

    ray = ray_options(executor, ray_address, workers)
    parallel, control = _read_prompts(prompts)
    if ray is not None:
        report = _compare_on_ray(model, transcoders, parallel, control, batch_size, ray, db, json)
    else:
        tcs = _transcoders(transcoders, db)
        lm = load_with_status(model, quiet=json, dtype="float32")  # exact edges need float32
        with job_progress("graphs", "prompts", enabled=not json) as bar:
            report = compare_graphs(
                lm,
                tcs,
                parallel,
                control,
                _config(batch_size=batch_size),
                on_graph=lambda d, t: bar(d, t, 0.0),
            )
    if json:
        print_json(report)
        return
    table = Table(
        "layer",
        "shared (parallel)",
        "shared (control)",
        "features",
        "control features",
        title=f"{model}: influence carried by features common to all graphs",
    )
    for row in report.layers:
        table.add_row(
            str(row.layer),
            f"{row.shared_fraction:.3f}",
            f"{row.control_fraction:.3f}",
            str(row.shared_features),
            str(row.control_shared_features),
        )
    console.print(table)


def _compare_on_ray(
    model: str,
    transcoders: str,
    parallel: dict[str, str] | None,
    control: list[str] | None,
    batch_size: int,
    ray: Any,
    db_url: str | None,
    quiet: bool,
) -> Any:
    """A ``graph_compare`` job whose graphs are built on Ray actors; its stored report."""
    from babellens.cli.scan_cmd import run_foreground
    from babellens.graphs.compare import CompareReport
    from babellens.store import open_database
    from babellens.store.reports import ReportStore

    db = open_database(db_url)
    params = {
        "transcoders": transcoders,
        "prompts": parallel,
        "control_prompts": control,
        "batch_size": batch_size,
    }
    finished = run_foreground(
        db, "graph_compare", model, params, quiet=quiet, unit="prompts", ray=ray
    )
    return ReportStore(db).get(finished.id, CompareReport)


def _read_prompts(path: Path | None) -> tuple[dict[str, str] | None, list[str] | None]:
    if path is None:
        return None, None
    try:
        data = jsonlib.loads(path.read_text(encoding="utf-8"))
    except (OSError, jsonlib.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read the prompts file {str(path)!r}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("parallel"), dict):
        raise InvalidInputError(
            'the prompts file is {"parallel": {"lang": "prompt", ...}, "control": [...]}'
        )
    control = data.get("control")
    return {str(k): str(v) for k, v in data["parallel"].items()}, (
        [str(p) for p in control] if isinstance(control, list) else None
    )


def _print_graph(report: Any, n_features: int | None = None) -> None:
    meta = report.metadata
    scores = meta.scores
    head = f"{meta.scan}: {meta.prompt!r}: {len(report.nodes)} nodes, {len(report.links)} links"
    if n_features is not None:
        head += f" (pruned from {n_features} active features)"
    console.print(head)
    if scores:
        console.print(
            f"replacement score {scores.get('replacement', 0):.3f}, completeness "
            f"{scores.get('completeness', 0):.3f} (1 = no error nodes needed; random transcoders ≈ 0)"
        )
    logits = Table("output token", "probability", title="logit nodes")
    for node in report.nodes:
        if node.feature_type == "logit":
            logits.add_row(node.clerp, f"{node.token_prob:.3f}")
    console.print(logits)
    features = sorted(
        (n for n in report.nodes if n.feature_type == "cross layer transcoder"),
        key=lambda n: -(n.influence or 0),
    )[:10]
    table = Table("node", "layer", "position", "activation", "influence", title="top features")
    for node in features:
        table.add_row(
            node.node_id,
            node.layer,
            str(node.ctx_idx),
            f"{node.activation or 0:.3f}",
            f"{node.influence or 0:.3f}",
        )
    console.print(table)
