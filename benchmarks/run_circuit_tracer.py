"""Attribution graphs against circuit-tracer: the same graph, edge by edge, and the time of each.

    PYTHONPATH=src .venv/bin/python benchmarks/run_circuit_tracer.py [--ct-env DIR] [--repeats 3]

circuit-tracer (0.5.0) pins transformers <= 4.57.3 and BabelLens runs on transformers 5, so
circuit-tracer runs in its own virtual environment (``--ct-env``; created with ``python -m venv``
and ``pip install torch==2.13.0 circuit-tracer==0.5.0 nnsight==0.6.3`` if it is missing) through
``_circuit_tracer_side.py``, and the two sides share only files: a tiny random llama saved with
``save_pretrained``, the same random JumpReLU transcoders written in each library's layout, and
the prompt's token ids. Both build the unpruned graph of the same prompt with the same number of
threads and targets per backward pass; this script maps one node set onto the other and reports
the edge differences per edge type, and the median wall time of each. Results go to
results/circuit_tracer.json, the table in docs/graphs.md and the one in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from _circuit_tracer_conversion import (  # the test imports these through this script
    build_model,
    compare_graphs,
    ct_node_index,
    ensure_env,
    write_ct_transcoders,
)
from doc_tables import replace_section, save_result

import babellens
from babellens.graphs import GraphConfig, attribute
from babellens.graphs._simple_transcoder import random_transcoders
from babellens.graphs.graph import AttributionGraph
from babellens.graphs.transcoders import TranscoderSet

ROOT = Path(__file__).resolve().parent.parent
SIDE = Path(__file__).with_name("_circuit_tracer_side.py")
DEFAULT_ENV = Path(
    os.environ.get(
        "CIRCUIT_TRACER_ENV", Path.home() / ".cache" / "babellens" / "circuit-tracer-env"
    )
)
PROMPT = "France: Paris"


# ---- one comparison -----------------------------------------------------------------------------
class _CircuitTracerProcess:
    """circuit-tracer's side as a process that builds one graph per request (no BabelLens on its
    path), so the driver can alternate the two libraries' timed runs."""

    def __init__(self, python: Path, work: Path, args: argparse.Namespace) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}
        command = [str(python), str(SIDE), "--work", str(work), "--threads", str(args.threads)]
        command += ["--batch-size", str(args.batch_size), "--dtype", args.dtype]
        self.work, self.stderr = work, (work / "ct_stderr.txt").open("w")
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )
        self._answer()  # "ready": the model and transcoders are loaded

    def _answer(self) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@ "):
                return line[3:].strip()
        self.proc.wait()
        self.stderr.close()
        tail = (self.work / "ct_stderr.txt").read_text()[-3000:]
        raise SystemExit(f"circuit-tracer's side stopped (exit {self.proc.returncode}):\n{tail}")

    def time_one(self) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return float(self._answer())

    def finish(self) -> tuple[dict[str, torch.Tensor], dict]:
        from safetensors.torch import load_file

        assert self.proc.stdin is not None
        self.proc.stdin.close()
        if self.proc.wait() != 0:
            self._answer()
        self.stderr.close()
        info = json.loads((self.work / "ct_timings.json").read_text())
        return load_file(str(self.work / "ct_graph.safetensors")), info


def _alternate(
    lm, transcoders: TranscoderSet, ids: torch.Tensor, ct: _CircuitTracerProcess, args
) -> tuple[AttributionGraph, list[float], list[float]]:
    """``repeats`` rounds of one BabelLens graph (``attribute``: clean pass, every backward, no
    pruning) then one circuit-tracer graph (``attribute``, the same work) of the same ids."""
    config = GraphConfig(batch_size=args.batch_size)
    ours, theirs, graph = [], [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        graph = attribute(lm, transcoders, ids, config)
        ours.append(time.perf_counter() - start)
        theirs.append(ct.time_one())
    assert graph is not None
    return graph, ours, theirs


def _model_agreement(lm, graph: AttributionGraph, ct: dict[str, torch.Tensor]) -> dict:
    """The two sides read the same model and transcoders: logits, logit nodes, activations."""
    with torch.no_grad():
        logits = lm.model(input_ids=graph.input_ids[None].to(lm.device)).logits[0, -1]
    index = ct_node_index(graph, ct)[: graph.n_features]
    kept = index >= 0
    ours = graph.activations[kept].double()
    theirs = ct["activation_values"].double()[index[kept]]
    return {
        "same_logit_tokens": graph.logit_tokens.tolist() == ct["logit_tokens"].tolist(),
        "logit_nodes": graph.n_logits,
        "max_abs_logit_diff": float(
            (logits.double().cpu() - ct["last_logits"].double()).abs().max()
        ),
        "max_abs_activation_diff": float((ours - theirs).abs().max()),
    }


def run_case(args: argparse.Namespace, python: Path, work: Path, family: str, skip: bool) -> dict:
    """One model, one transcoder set (with or without skip), both graphs, the comparison."""
    dtype = getattr(torch, args.dtype)
    transcoders: TranscoderSet = random_transcoders(  # type: ignore[assignment]
        args.layers,
        args.d_model,
        args.width,
        seed=args.seed,
        activation="jumprelu",
        skip=skip,
        dtype=dtype,
    )
    folder = work / "ct_transcoders"
    for old in folder.glob("layer_*.safetensors"):
        old.unlink()
    write_ct_transcoders(transcoders, folder)
    lm = babellens.load(str(work / "model"), dtype=dtype)
    ids = lm.tokenize(args.prompt)["input_ids"][0]
    (work / "ids.json").write_text(json.dumps(ids.tolist()))
    process = _CircuitTracerProcess(python, work, args)
    graph, times, ct_times = _alternate(lm, transcoders, ids, process, args)
    ct, ct_info = process.finish()
    comparison = compare_graphs(graph, ct)
    ours_s, theirs_s = statistics.median(times), statistics.median(ct_times)
    return {
        "family": family,
        "skip": skip,
        "tokens": graph.n_pos,
        "features": graph.n_features,
        **comparison,
        "model": _model_agreement(lm, graph, ct),
        "babellens_s": [round(t, 3) for t in times],
        "circuit_tracer_s": [round(t, 3) for t in ct_times],
        "babellens_median_s": round(ours_s, 3),
        "circuit_tracer_median_s": round(theirs_s, 3),
        "time_ratio": round(ours_s / theirs_s, 2),
        "best_time_ratio": round(min(times) / min(ct_times), 2),
        "circuit_tracer_versions": {
            k: ct_info[k] for k in ("circuit_tracer", "transformers", "torch", "backend")
        },
    }


# ---- tables -------------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return f"{x:.1e}" if x else "0"


def agreement_table(record: dict) -> list[str]:
    """docs/graphs.md: per case and edge type, the largest difference against the largest edge."""
    lines = [
        f"Tiny random models ({record['families']}; {record['layers']} layers, d_model "
        f"{record['d_model']}), random JumpReLU transcoders of width {record['width']}, prompt {record['prompt']!r}, "
        f"{record['dtype']} in both, unpruned; {record['hardware']}, {record['date']}.",
        "",
        "| model | skip | edge type | edges | max abs diff | largest edge | relative |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for case in record["cases"]:
        rows = {**case["by_type"], "all matched": case["all"]}
        for name, d in rows.items():
            lines.append(
                f"| {case['family']} | {'yes' if case['skip'] else 'no'} "
                f"| {name.replace('->', '→')} | {d['edges']} "
                f"| {_fmt(d['max_abs_diff'])} | {d['max_abs_edge']:.3g} | {_fmt(d['relative'])} |"
            )
    return lines


def timing_table(record: dict) -> list[str]:
    """Matched nodes and the median wall time of each library, per case."""
    lines = [
        f"{record['hardware']}, {record['dtype']}, {record['batch_size']} targets per backward in "
        f"both, median of {record['repeats']} alternating runs; load average {record['load_average']} while it "
        f"ran (a shared machine); {record['date']}.",
        "",
        "| model | skip | tokens | matched nodes (features / errors / tokens / logits) | max abs edge diff "
        "| BabelLens (s) | circuit-tracer (s) | BabelLens / circuit-tracer: median (best) |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for c in record["cases"]:
        n = c["nodes"]
        lines.append(
            f"| {c['family']} | {'yes' if c['skip'] else 'no'} | {c['tokens']} | {n['matched']} of "
            f"{n['babellens']} ({n['matched_feature']} / {n['matched_error']} / "
            f"{n['matched_token']} / {n['matched_logit']}) | {_fmt(c['all']['max_abs_diff'])} "
            f"| {c['babellens_median_s']} | {c['circuit_tracer_median_s']} "
            f"| {c['time_ratio']}x ({c['best_time_ratio']}x) |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ct-env", type=Path, default=DEFAULT_ENV)
    parser.add_argument("--families", default="llama,qwen3", help="llama and/or qwen3")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-docs", action="store_true", help="only print: no results, no docs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    python = ensure_env(args.ct_env)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="babellens-ct-") as tmp:
        work = Path(tmp)
        cases = []
        for family in args.families.split(","):
            shutil.rmtree(work / "model", ignore_errors=True)
            build_model(work / "model", args.layers, args.d_model, args.seed, family)
            cases += [run_case(args, python, work, family, skip) for skip in (False, True)]
        for case in cases:
            print(json.dumps(case), flush=True)
    keys = ("families", "layers", "d_model", "width", "prompt", "dtype")
    settings = {k: getattr(args, k) for k in keys}
    settings |= {"batch_size": args.batch_size, "repeats": args.repeats, "threads": args.threads}
    load = f"{load_before:.1f}–{os.getloadavg()[0]:.1f}"
    if args.no_docs:
        return
    # float64 is the comparison of record (docs tables); other dtypes are saved beside it
    name = "circuit_tracer" if args.dtype == "float64" else f"circuit_tracer_{args.dtype}"
    record = save_result(name, {**settings, "load_average": load, "cases": cases})
    if args.dtype == "float64":
        replace_section("ct-agreement", agreement_table(record), doc=ROOT / "docs" / "graphs.md")
        replace_section("ct-timing", timing_table(record), doc=ROOT / "docs" / "graphs.md")
        replace_section("circuit-tracer", timing_table(record))


if __name__ == "__main__":
    main()
