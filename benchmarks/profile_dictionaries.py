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
from run_dictionaries import (
    RESULTS,
    _harvest,
    _interleaved_summary,
    _train_ours,
    _train_sparsify,
    add_trainer_options,
)


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


def main() -> None:
    parser = argparse.ArgumentParser()
    add_trainer_options(parser, tokens=8000, width=1152)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows-file", default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--interleave", type=int, default=0, help="step-alternated runs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = _rows(args)
    result: dict = {
        "rows": int(rows.shape[0]),
        "epochs": args.epochs,
        "width": args.width,
        "k": args.k,
        "batch_size": args.batch_size,
        "dead_after": args.dead_after,
        "threads": torch.get_num_threads(),
        "interleaved": [_interleaved_summary(rows, args) for _ in range(args.interleave)],
    }
    if args.rounds:
        result["rounds"] = _rounds(rows, args)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (
        RESULTS
        / f"dictionaries-profile-dead-after-{args.dead_after}-threads-{torch.get_num_threads()}.json"
    ).write_text(json.dumps(result, indent=2))
    if args.profile:
        print(_profile("babellens", lambda: _train_ours(rows, args.hook, args)))
        print(_profile("sparsify", lambda: _train_sparsify(rows, args)))


def _rounds(rows: torch.Tensor, args) -> dict[str, object]:
    """Whole trainings, alternating: wall and process CPU seconds of each, per round."""
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
    return {
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


if __name__ == "__main__":
    main()
