"""The scan through the CLI, end to end, against the bare forward pass: what a user waits for.

    .venv/bin/python benchmarks/run_cli_scan.py [ALIAS] [--small 10000] [--large 40000]

``babellens scan MODEL --tokens N`` runs as a fresh process twice (N = small, then large), each
into its own database: loading, tokenising, the scan, checkpoints and storing the result are all
in its wall time. The marginal rate ``(large - small) / (t_large - t_small)`` removes what does
not grow with the corpus (start-up, model load). The reference is the decoder without the
unembedding, in the model's dtype, on the same number of tokens of the same corpus, timed in this
process between the two CLI runs (so drift on a shared machine hits both). Target (issue #20):
marginal CLI rate at least 0.85x the forward rate.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from doc_tables import replace_section, save_result

import babellens
from babellens.bench.scan import repeated_windows
from babellens.data.batching import resolve_pad_id
from babellens.data.corpus import load_corpus
from babellens.data.windows import batches
from babellens.models.precision import cpu_has_fast_bfloat16, dtype_name

RESULTS = Path(__file__).resolve().parent / "results"
CLI = Path(sys.executable).with_name("babellens")


def _corpus_file(folder: Path, copies: int) -> Path:
    """The bundled corpus repeated ``copies`` times as a JSONL file (enough tokens for --large)."""
    path = folder / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for copy in range(copies):
            for doc in load_corpus().documents:
                out.write(json.dumps({"id": f"{copy}-{doc.id}", "text": doc.text}) + "\n")
    return path


def _cli_scan(model: str, corpus: Path, tokens: int, folder: Path) -> float:
    db = f"sqlite:///{folder / f'cli-{tokens}.db'}"
    command = [str(CLI), "scan", model, "--corpus", str(corpus), "--split", "all"]
    start = time.perf_counter()
    subprocess.run(
        [*command, "--tokens", str(tokens), "--db", db, "--json"], check=True, capture_output=True
    )
    return time.perf_counter() - start


def _forward_rate(lm, tokens: int) -> float:
    """Tokens/s of the decoder without the unembedding over ``tokens`` corpus tokens."""
    windows = repeated_windows(lm, tokens)
    pad = resolve_pad_id(lm.tokenizer)
    spent, counted = 0.0, 0
    with torch.inference_mode():
        for batch in batches(windows, tokens_per_batch=2048, pad_id=pad):
            start = time.perf_counter()
            lm.adapter.decoder(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
            )
            spent += time.perf_counter() - start
            counted += int(batch.attention_mask.sum())
    return counted / spent


def _hardware() -> str:
    """The CPU's name and whether it has bfloat16 units: what ``dtype="auto"`` decided on."""
    name = next(
        (
            line.partition(":")[2].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    units = "bfloat16 units" if cpu_has_fast_bfloat16() else "no bfloat16 units"
    return f"{name} CPU ({units}), {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="smollm2-135m")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=40_000)
    args = parser.parse_args()
    lm = babellens.load(args.model, dtype="auto")  # as the CLI
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        corpus = _corpus_file(folder, copies=3)
        _forward_rate(lm, 2048)  # warm-up
        small_s = _cli_scan(args.model, corpus, args.small, folder)
        forward_a = _forward_rate(lm, args.large - args.small)
        large_s = _cli_scan(args.model, corpus, args.large, folder)
        forward_b = _forward_rate(lm, args.large - args.small)
    marginal = (args.large - args.small) / (large_s - small_s)
    forward = (forward_a + forward_b) / 2
    result = {
        "model": args.model,
        "dtype": dtype_name(lm.dtype),
        "tokens": [args.small, args.large],
        "cli_wall_s": [round(small_s, 1), round(large_s, 1)],
        "cli_marginal_tokens_per_s": round(marginal, 1),
        "forward_no_unembed_tokens_per_s": round(forward, 1),
        "forward_runs_tokens_per_s": [round(forward_a, 1), round(forward_b, 1)],
        "ratio": round(marginal / forward, 3),
    }
    save_result(f"cli-scan-{args.model}-cpu-{result['dtype']}", result, _hardware())
    write_doc()


def write_doc() -> None:
    rows = []
    for path in sorted(RESULTS.glob("cli-scan-*.json")):
        r = json.loads(path.read_text())
        small, large = r["tokens"]
        rows.append(
            f"| {r['model']} | {r['hardware']} | {r['dtype']} | {small:,} → {large:,} "
            f"| {r['cli_wall_s'][0]} / {r['cli_wall_s'][1]} | {r['cli_marginal_tokens_per_s']:.0f} "
            f"| {r['forward_no_unembed_tokens_per_s']:.0f} | **{r['ratio']:.2f}×** | {r['date']} |"
        )
    replace_section(
        "cli-scan",
        [
            "| model | hardware | dtype | tokens | CLI wall s | CLI marginal tok/s "
            "| forward tok/s | CLI ÷ forward | date |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
        ],
    )


if __name__ == "__main__":
    main()
