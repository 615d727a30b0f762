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
import sys
import tempfile
import time
from pathlib import Path

import torch
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
# nnsight is pinned too: circuit-tracer 0.5.0 asks for nnsight>=0.6 but imports
# nnsight.intervention.tracing, which nnsight 0.7 moved; 0.6.3 is the newest that has it.
CT_PINS = ("torch==2.13.0", "circuit-tracer==0.5.0", "nnsight==0.6.3")
PROMPT = "France: Paris"
SOURCE_KINDS = ("feature", "error", "token")
TARGET_KINDS = ("feature", "logit")


def ensure_env(env: Path) -> Path:
    """circuit-tracer's interpreter, creating its venv first (minutes, from PyPI) if missing."""
    python = env / "bin" / "python"
    if python.exists():
        return python
    print(
        f"circuit-tracer's environment {env} is missing: creating it "
        f"(python -m venv {env}; pip install {' '.join(CT_PINS)})",
        flush=True,
    )
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *CT_PINS], check=True)
    return python


# ---- the shared inputs --------------------------------------------------------------------------
def _byte_tokenizer():
    """A byte-level tokenizer (<pad> <bos> <eos> + 256 bytes) built offline, no merges."""
    import transformers as tf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2} | {
        ch: i + 3 for i, ch in enumerate(sorted(alphabet))
    }
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", 1)]
    )
    return tf.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )


def build_model(
    folder: Path, n_layers: int, d_model: int, seed: int = 0, family: str = "llama"
) -> Path:
    """A tiny random llama or qwen3 and its tokenizer, saved where both libraries read it.

    circuit-tracer's nnsight backend, the one that takes a local folder, maps only Llama, Qwen3,
    Gemma 2/3 and GPT-OSS. Gemma's embedding is scaled by sqrt(d_model) and its transcoders read
    and write other points (around the extra norms), which would compare conventions rather than
    graphs, so the two plain ones are used. Norm weights are perturbed so the frozen norms matter.
    """
    import transformers as tf

    torch.manual_seed(seed)
    config_class = {"llama": tf.LlamaConfig, "qwen3": tf.Qwen3Config}[family]
    config = config_class(
        vocab_size=259,
        hidden_size=d_model,
        intermediate_size=2 * d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=d_model // 4,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    model = tf.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.add_(torch.randn_like(param) * 0.1)
    model.save_pretrained(folder)
    _byte_tokenizer().save_pretrained(folder)
    readable_by_transformers_4(folder)
    return folder


def readable_by_transformers_4(folder: Path) -> None:
    """Rewrite the two fields of a transformers-5 folder that transformers 4.57 reads otherwise.

    * ``tokenizer_class``: v5 writes ``TokenizersBackend``, a class 4.57 does not have; the
      tokenizer itself (tokenizer.json) is the same, so ``PreTrainedTokenizerFast`` reads it.
    * ``rope_theta``: v5 nests it in ``rope_parameters``, which 4.57 ignores (it would fall back
      on its default); written at the top level too, so both read the same rotary base.
    The logits of both sides are compared afterwards, so a field missed here would show.
    """
    tok_file = folder / "tokenizer_config.json"
    tok = json.loads(tok_file.read_text())
    tok["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_file.write_text(json.dumps(tok, indent=2))
    cfg_file = folder / "config.json"
    cfg = json.loads(cfg_file.read_text())
    rope = cfg.get("rope_parameters") or {}
    if "rope_theta" in rope:
        cfg["rope_theta"] = rope["rope_theta"]
    cfg_file.write_text(json.dumps(cfg, indent=2))


def write_ct_transcoders(transcoders: TranscoderSet, folder: Path) -> Path:
    """The same transcoders in circuit-tracer's ``load_relu_transcoder`` layout, one file a layer.

    Conversions (BabelLens keeps the SparseDictionary layout, ``x @ W_enc``, ``x @ W_skip``):
    ``W_enc`` is stored transposed (circuit-tracer encodes with ``F.linear(x, W_enc, b_enc)``, so
    ``[width, d_in]``); ``W_skip`` is stored transposed (it computes ``x @ W_skip.T``); the
    JumpReLU threshold is ``activation_function.threshold`` (its loader picks JumpReLU when that
    key is present, ReLU otherwise). ``W_dec`` ``[width, d_out]``, ``b_enc`` and ``b_dec`` are
    the same. Tensors keep their dtype, so a float64 set stays float64.
    """
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    for layer, tc in transcoders.items():
        if tc.activation not in ("jumprelu", "relu"):
            raise ValueError(
                f"circuit-tracer reads JumpReLU or ReLU transcoders, not {tc.activation}"
            )
        tensors = {
            "W_enc": tc.W_enc.detach().T,
            "W_dec": tc.W_dec.detach(),
            "b_enc": tc.b_enc.detach(),
            "b_dec": tc.b_dec.detach(),
        }
        if tc.activation == "jumprelu":
            tensors["activation_function.threshold"] = tc.threshold.detach()
        if tc.W_skip is not None:
            tensors["W_skip"] = tc.W_skip.detach().T
        tensors = {k: v.contiguous().cpu() for k, v in tensors.items()}
        save_file(tensors, str(folder / f"layer_{layer}.safetensors"))
    return folder


# ---- mapping the two graphs onto each other ------------------------------------------------------
def ct_node_index(graph: AttributionGraph, ct: dict[str, torch.Tensor]) -> torch.Tensor:
    """For every BabelLens node, its row/column in circuit-tracer's adjacency, or -1.

    Both order nodes as features (layer, position, index), errors (``layer * n_pos + pos``),
    tokens (by position), logits; what differs is which nodes exist. circuit-tracer drops every
    feature at position 0 (its ``zero_positions``: the first token is taken to be a BOS whose
    features are artefacts) and zeroes the error vectors there, so position 0's MLP outputs are
    constants in its graph. BabelLens keeps them as nodes. Those BabelLens nodes map to -1 (the
    pos-0 error nodes exist in both, but circuit-tracer's are zero vectors, so they map to -1
    too and are reported apart); every other node maps one to one. Logits map by token id.
    """
    n_pos, n_layers = graph.n_pos, graph.n_layers
    ct_features = ct["active_features"].tolist()
    n_ct = len(ct_features)
    feature_at = {tuple(f): i for i, f in enumerate(ct_features)}
    logit_at = {int(t): i for i, t in enumerate(ct["logit_tokens"].tolist())}
    index = torch.full((graph.n_nodes,), -1, dtype=torch.long)
    for i, (layer, pos, idx) in enumerate(graph.features.tolist()):
        index[i] = feature_at.get((layer, pos, idx), -1)
    for layer in range(n_layers):
        for pos in range(1, n_pos):
            index[graph.error_start + layer * n_pos + pos] = n_ct + layer * n_pos + pos
    index[graph.token_start : graph.logit_start] = n_ct + n_layers * n_pos + torch.arange(n_pos)
    ct_logit_start = n_ct + (n_layers + 1) * n_pos
    for k, token in enumerate(graph.logit_tokens.tolist()):
        if token in logit_at:
            index[graph.logit_start + k] = ct_logit_start + logit_at[token]
    return index


def _kinds(graph: AttributionGraph) -> list[str]:
    return [graph.node(i).kind for i in range(graph.n_nodes)]


def _difference(a: torch.Tensor, b: torch.Tensor) -> dict[str, float | int]:
    """Largest absolute difference, the largest edge, and their ratio (0 for an empty block)."""
    if a.numel() == 0:
        return {"edges": 0, "max_abs_diff": 0.0, "max_abs_edge": 0.0, "relative": 0.0}
    diff = float((a - b).abs().max())
    scale = float(b.abs().max())
    return {
        "edges": int(a.numel()),
        "max_abs_diff": diff,
        "max_abs_edge": scale,
        "relative": diff / scale if scale > 0 else 0.0,
    }


def compare_graphs(graph: AttributionGraph, ct: dict[str, torch.Tensor]) -> dict:
    """Edge differences over every matched (target, source) pair, per edge type and overall."""
    index = ct_node_index(graph, ct)
    kinds = _kinds(graph)
    ours, theirs = graph.adjacency.double(), ct["adjacency"].double()
    matched = index >= 0
    blocks: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
    for target in TARGET_KINDS:
        rows = torch.tensor([i for i, k in enumerate(kinds) if k == target and matched[i]])
        for source in SOURCE_KINDS:
            cols = torch.tensor([i for i, k in enumerate(kinds) if k == source and matched[i]])
            if rows.numel() == 0 or cols.numel() == 0:
                blocks[source, target] = (torch.zeros(0), torch.zeros(0))
                continue
            a = ours[rows][:, cols].flatten()
            blocks[source, target] = (a, theirs[index[rows]][:, index[cols]].flatten())
    by_type = {f"{s}->{t}": _difference(a, b) for (s, t), (a, b) in blocks.items()}
    to_logits = [blocks[s, "logit"] for s in SOURCE_KINDS]
    by_type["*->logit"] = _difference(*(torch.cat(parts) for parts in zip(*to_logits, strict=True)))
    everything = (torch.cat(parts) for parts in zip(*blocks.values(), strict=True))
    unmatched = [i for i in range(graph.n_nodes) if not matched[i]]
    return {
        "all": _difference(*everything),
        "by_type": by_type,
        "nodes": _node_counts(graph, ct, index, kinds),
        "left_out": _left_out(graph, ct, unmatched, kinds),
    }


def _node_counts(
    graph: AttributionGraph, ct: dict[str, torch.Tensor], index: torch.Tensor, kinds: list[str]
) -> dict[str, int]:
    counts = {"babellens": graph.n_nodes, "circuit_tracer": int(ct["adjacency"].shape[0])}
    for kind in ("feature", "error", "token", "logit"):
        counts[f"matched_{kind}"] = sum(
            1 for i, k in enumerate(kinds) if k == kind and index[i] >= 0
        )
    counts["matched"] = int((index >= 0).sum())
    counts["circuit_tracer_unmatched_features"] = int(ct["active_features"].shape[0]) - int(
        counts["matched_feature"]
    )
    return counts


def _left_out(
    graph: AttributionGraph, ct: dict[str, torch.Tensor], unmatched: list[int], kinds: list[str]
) -> dict[str, float | int]:
    """What the mapping leaves out, with its size, so nothing disappears silently."""
    n_ct, n_pos = int(ct["active_features"].shape[0]), graph.n_pos
    ct_pos0_errors = [n_ct + layer * n_pos for layer in range(graph.n_layers)]
    cols = torch.tensor(unmatched, dtype=torch.long)
    return {
        "babellens_pos0_features": sum(1 for i in unmatched if kinds[i] == "feature"),
        "babellens_pos0_errors": sum(1 for i in unmatched if kinds[i] == "error"),
        "babellens_max_abs_edge_from_them": float(graph.adjacency[:, cols].abs().max())
        if cols.numel()
        else 0.0,
        "circuit_tracer_max_abs_edge_from_pos0_errors": float(
            ct["adjacency"][:, ct_pos0_errors].abs().max()
        ),
    }


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
