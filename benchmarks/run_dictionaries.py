"""BabelLens's TopK SAE trainer against sparsify's, on the same activations, in one process.

    .venv/bin/python benchmarks/run_dictionaries.py [--model smollm2-135m] [--hook resid_post.15]
        [--tokens 30000] [--width 2304] [--k 32] [--epochs 2] [--batch-size 256] [--seed 0]
        [--repeat 2] [--interleave 3]

Activations are harvested once from the model (train split for training, test split held out)
and both trainers see exactly the same rows in the same seeded order, with the same width, k,
batch size, token budget, Adam learning rate, warm-up and aux-k settings. sparsify's side is its
own ``SparseCoder`` (forward, FVU and aux-k loss, gradient projection, decoder renormalisation)
driven the way its ``Trainer.fit`` drives it. Reported: held-out FVU at equal L0 (ratio ours /
sparsify), dead fractions, training rows/s of each, the bare forward pass to the hook's layer as
the cost reference, and CE loss recovered on held-out text for both dictionaries. The throughput
ratio is the median of ``--interleave`` runs in which the two trainers alternate single steps on
the same batches, so a shared machine's changing load falls on both alike (best-of-``--repeat``
whole runs, which it does not, are kept beside it as ``throughput_ratio_best_of_runs``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def _harvest(
    lm, hook: str, split: str, tokens: int, window_len: int
) -> tuple[torch.Tensor, float, list]:
    from babellens.dictionaries import harvest_rows
    from babellens.dictionaries.pipeline import split_windows

    windows = split_windows(lm, "babel-mini", split, window_len, tokens)
    start = time.perf_counter()
    rows = harvest_rows(lm, windows, [hook], 2048)[hook]
    return rows, rows.shape[0] / (time.perf_counter() - start), windows


def _params(hook: str, args, **overrides):
    """The trainer settings both benchmark paths give BabelLens, from the shared options."""
    from babellens.dictionaries import DictTrainParams

    return DictTrainParams(
        hook=hook,
        width=args.width,
        k=args.k,
        epochs=args.epochs,
        batch_size=args.batch_size,
        chunk_tokens=8192,
        lr=args.lr,
        warmup_steps=args.warmup,
        seed=args.seed,
        dead_after_tokens=args.dead_after,
        **overrides,
    )


def add_trainer_options(parser: argparse.ArgumentParser, tokens: int, width: int) -> None:
    """The options shared with profile_dictionaries.py: model, hook and training settings."""
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--hook", default="resid_post.15")
    parser.add_argument("--tokens", type=int, default=tokens)
    parser.add_argument("--width", type=int, default=width)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--dead-after", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)


def _train_ours(rows: torch.Tensor, hook: str, args) -> tuple[object, float]:
    from babellens.dictionaries import TensorSource, train_dictionaries

    params = _params(hook, args, checkpoint_every_s=1e9)
    source = TensorSource({hook: rows}, seed=args.seed, chunk_tokens=8192)
    start = time.perf_counter()
    result = train_dictionaries(source, [(hook, hook)], "sae", args.width, params)
    seconds = time.perf_counter() - start
    return result.dictionaries[0], rows.shape[0] * args.epochs / seconds


def _train_sparsify(rows: torch.Tensor, args) -> tuple[object, float]:
    from sparsify import SparseCoder, SparseCoderConfig
    from transformers import get_linear_schedule_with_warmup

    from babellens.dictionaries import TensorSource

    torch.manual_seed(args.seed)
    sae = SparseCoder(rows.shape[1], SparseCoderConfig(num_latents=args.width, k=args.k))
    total_steps = math.ceil(rows.shape[0] / args.batch_size) * args.epochs
    optimizer = torch.optim.Adam(sae.parameters(), lr=args.lr)
    schedule = get_linear_schedule_with_warmup(optimizer, args.warmup, total_steps)
    since_fired = torch.zeros(args.width, dtype=torch.long)
    source = TensorSource({"x": rows}, seed=args.seed, chunk_tokens=8192)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        for chunk in source.chunks(epoch):
            for begin in range(0, chunk.n_rows, args.batch_size):
                x = chunk.rows["x"][begin : begin + args.batch_size]
                dead = since_fired >= args.dead_after
                out = sae(x, dead_mask=dead)
                (out.fvu + out.auxk_loss / 32).backward()
                sae.remove_gradient_parallel_to_decoder_directions()
                optimizer.step()
                optimizer.zero_grad()
                schedule.step()
                sae.set_decoder_norm_to_unit_norm()
                since_fired += x.shape[0]
                since_fired[out.latent_indices.flatten().unique()] = 0
    seconds = time.perf_counter() - start
    return sae, rows.shape[0] * args.epochs / seconds


def _interleaved_steps(rows: torch.Tensor, args) -> dict[str, list[float]]:
    """Seconds of every optimiser step of each trainer, the two alternating step by step.

    Both see the same batches in the same order; alternating single steps puts any change of the
    machine's load on both sides, which whole-run rounds on a shared CPU cannot.
    """
    from sparsify import SparseCoder, SparseCoderConfig
    from transformers import get_linear_schedule_with_warmup

    from babellens.dictionaries import TensorSource
    from babellens.dictionaries.training import _Trainer

    hook = args.hook
    params = _params(hook, args)
    source = TensorSource({hook: rows}, seed=args.seed, chunk_tokens=8192)
    torch.manual_seed(args.seed)
    ours = _Trainer(source, [(hook, hook)], "sae", args.width, params)
    torch.manual_seed(args.seed)
    sae = SparseCoder(rows.shape[1], SparseCoderConfig(num_latents=args.width, k=args.k))
    optimizer = torch.optim.Adam(sae.parameters(), lr=args.lr)
    schedule = get_linear_schedule_with_warmup(optimizer, args.warmup, ours.total_steps)
    since_fired = torch.zeros(args.width, dtype=torch.long)

    def theirs_step(x: torch.Tensor) -> None:
        out = sae(x, dead_mask=since_fired >= args.dead_after)
        (out.fvu + out.auxk_loss / 32).backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        optimizer.step()
        optimizer.zero_grad()
        schedule.step()
        sae.set_decoder_norm_to_unit_norm()
        since_fired.add_(x.shape[0])
        since_fired[out.latent_indices.flatten().unique()] = 0

    seconds: dict[str, list[float]] = {"babellens": [], "sparsify": []}
    first = True
    for epoch in range(args.epochs):
        for chunk in source.chunks(epoch):
            if first:
                ours.initialise(chunk)
                first = False
            x_all = chunk.rows[hook]
            for begin in range(0, chunk.n_rows, args.batch_size):
                x = x_all[begin : begin + args.batch_size]
                for name, step in (
                    ("babellens", lambda x=x: ours.train_step({hook: x})),
                    ("sparsify", lambda x=x: theirs_step(x)),
                ):
                    start = time.perf_counter()
                    step()
                    seconds[name].append(time.perf_counter() - start)
    return seconds


def _interleaved_summary(rows: torch.Tensor, args) -> dict[str, float]:
    steps = _interleaved_steps(rows, args)
    ours, theirs = sum(steps["babellens"]), sum(steps["sparsify"])
    per_step = [t / o for o, t in zip(steps["babellens"], steps["sparsify"], strict=True)]
    summary = {
        "steps": len(per_step),
        "babellens_s": ours,
        "sparsify_s": theirs,
        "throughput_ratio_total": theirs / ours,
        "throughput_ratio_median_step": statistics.median(per_step),
    }
    print(json.dumps(summary), flush=True)
    return summary


def _held_out(sd, x: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        f = sd.encode(x)
        err = (sd.decode(f, x) - x).pow(2).sum()
    var = (x - x.mean(0)).pow(2).sum()
    return {
        "fvu": float(err / var),
        "l0": float((f > 0).sum(-1).float().mean()),
        "dead_fraction": float(((f > 0).sum(0) == 0).float().mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    add_trainer_options(parser, tokens=30_000, width=2304)
    parser.add_argument("--test-tokens", type=int, default=4096)
    parser.add_argument("--ce-tokens", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs of each trainer")
    parser.add_argument(
        "--interleave", type=int, default=3, help="step-alternated runs (the throughput ratio)"
    )
    args = parser.parse_args()

    import babellens
    from babellens.dictionaries.evaluate import evaluate_dictionaries
    from babellens.dictionaries.formats import import_dictionaries

    lm = babellens.load(args.model)
    train_rows, forward_rate, _ = _harvest(lm, args.hook, "train", args.tokens, 128)
    test_rows, _, test_windows = _harvest(lm, args.hook, "test", args.test_tokens, 128)
    ours_rate = theirs_rate = 0.0
    for _ in range(args.repeat):  # alternated, best of each: a shared CPU's load drifts
        ours, rate = _train_ours(train_rows, args.hook, args)
        ours_rate = max(ours_rate, rate)
        theirs, rate = _train_sparsify(train_rows, args)
        theirs_rate = max(theirs_rate, rate)
    folder = Path(tempfile.mkdtemp()) / "sparsify"
    theirs.save_to_disk(folder / "layers.15")  # read back through our sparsify reader
    (theirs_as_ours,), _ = import_dictionaries(folder / "layers.15", "sparsify", args.hook)
    result: dict = {
        "model": args.model,
        "hook": args.hook,
        "width": args.width,
        "k": args.k,
        "train_rows": int(train_rows.shape[0]),
        "epochs": args.epochs,
        "seed": args.seed,
        "repeat": args.repeat,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "test_rows": int(test_rows.shape[0]),
        "threads": torch.get_num_threads(),
        "forward_to_hook_rows_per_s": forward_rate,
        "babellens": {**_held_out(ours, test_rows), "train_rows_per_s": ours_rate},
        "sparsify": {**_held_out(theirs_as_ours, test_rows), "train_rows_per_s": theirs_rate},
    }
    ce_windows = [w for w in test_windows][: max(1, args.ce_tokens // 128)]
    for name, sd in (("babellens", ours), ("sparsify", theirs_as_ours)):
        (ev,) = evaluate_dictionaries(lm, [sd], ce_windows)
        result[name] |= {
            "ce_clean": ev.ce_clean,
            "ce_spliced": ev.ce_spliced,
            "ce_zero": ev.ce_zero_ablated,
            "ce_mean": ev.ce_mean_ablated,
            "ce_recovered_vs_zero": ev.ce_recovered_vs_zero,
            "ce_recovered_vs_mean": ev.ce_recovered_vs_mean,
            "kl": ev.kl_spliced,
        }
    result["fvu_ratio_ours_over_sparsify"] = result["babellens"]["fvu"] / result["sparsify"]["fvu"]
    result["throughput_ratio_best_of_runs"] = ours_rate / theirs_rate
    interleaved = [_interleaved_summary(train_rows, args) for _ in range(args.interleave)]
    result["interleaved"] = interleaved
    if interleaved:
        result["throughput_ratio_ours_over_sparsify"] = statistics.median(
            i["throughput_ratio_total"] for i in interleaved
        )
    result["training_vs_forward_ratio"] = ours_rate / forward_rate
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dictionaries-{args.model}-{args.hook}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
