"""Where BabelLens's TopK SAE step spends its time against sparsify's: alternating rounds, one process.

    .venv/bin/python benchmarks/profile_dictionaries.py [--rounds 5] [--profile]
        [--rows-file /tmp/rows.pt] [the trainer options of run_dictionaries.py]

A shared machine's load drifts by more than the difference between the two trainers, so rates
from separate runs cannot be compared; here the two trainers run in turn, ``--rounds`` times, on
the same harvested rows (read from ``--rows-file`` when it exists, so a rerun skips the model),
and each round's ratio is taken between neighbours. ``--profile`` adds a torch.profiler table of
one more round of each (operators by self CPU time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from run_dictionaries import RESULTS, _harvest, _train_ours, _train_sparsify


def _rows(args) -> torch.Tensor:
    path = Path(args.rows_file) if args.rows_file else None
    if path is not None and path.exists():
        return torch.load(path)
    import babellens

    lm = babellens.load(args.model)
    rows, _, _ = _harvest(lm, args.hook, "train", args.tokens, 128)
    if path is not None:
        torch.save(rows, path)
    return rows


def _profile(name: str, train) -> str:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18)
    return f"== {name}\n{table}"


def _interleaved_steps(rows: torch.Tensor, args) -> dict[str, list[float]]:
    """Seconds of every optimiser step of each trainer, the two alternating step by step.

    Both see the same batches in the same order; alternating single steps puts any change of the
    machine's load on both sides, which whole-run rounds on a shared CPU cannot.
    """
    from sparsify import SparseCoder, SparseCoderConfig
    from transformers import get_linear_schedule_with_warmup

    from babellens.dictionaries import DictTrainParams, TensorSource
    from babellens.dictionaries.training import _Trainer

    hook = args.hook
    params = DictTrainParams(
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
    )
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--hook", default="resid_post.15")
    parser.add_argument("--tokens", type=int, default=8000)
    parser.add_argument("--width", type=int, default=1152)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--dead-after", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows-file", default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--interleave", type=int, default=0, help="step-alternated runs")
    args = parser.parse_args()

    rows = _rows(args)
    for _ in range(args.interleave):
        steps = _interleaved_steps(rows, args)
        ours, theirs = sum(steps["babellens"]), sum(steps["sparsify"])
        per_step = [t / o for o, t in zip(steps["babellens"], steps["sparsify"], strict=True)]
        print(
            json.dumps(
                {
                    "steps": len(per_step),
                    "babellens_s": ours,
                    "sparsify_s": theirs,
                    "throughput_ratio_total": theirs / ours,
                    "throughput_ratio_median_step": statistics.median(per_step),
                }
            ),
            flush=True,
        )
    ours_s, theirs_s, ours_cpu, theirs_cpu = [], [], [], []
    for _ in range(args.rounds):
        for train, wall, cpu in (
            (lambda: _train_ours(rows, args.hook, args), ours_s, ours_cpu),
            (lambda: _train_sparsify(rows, args), theirs_s, theirs_cpu),
        ):
            start, start_cpu = time.perf_counter(), time.process_time()
            train()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    ratios = [t / o for o, t in zip(ours_s, theirs_s, strict=True)]
    result = {
        "rows": int(rows.shape[0]),
        "epochs": args.epochs,
        "width": args.width,
        "k": args.k,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "babellens_s": ours_s,
        "sparsify_s": theirs_s,
        "babellens_cpu_s": ours_cpu,
        "sparsify_cpu_s": theirs_cpu,
        "throughput_ratio_per_round": ratios,
        "throughput_ratio_median": statistics.median(ratios),
        "throughput_ratio_best_of_each": min(theirs_s) / min(ours_s),
        "cpu_time_ratio_median": statistics.median(
            t / o for o, t in zip(ours_cpu, theirs_cpu, strict=True)
        ),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dictionaries-profile.json").write_text(json.dumps(result, indent=2))
    if args.profile:
        print(_profile("babellens", lambda: _train_ours(rows, args.hook, args)))
        print(_profile("sparsify", lambda: _train_sparsify(rows, args)))


if __name__ == "__main__":
    main()
