"""The shuffled-label control of a finished safety run, rebuilt with the current code: only the
directions stage runs again (the rows and costs do not depend on the control).

For runs made before the control's signs summed to zero (A/B concepts with 7 training pairs per
letter kept 1/7 of the concept direction in every control). The rebuilt directions must give the
run's own cosine matrix back; the largest difference is written beside the new control.

    python benchmarks/safety_control.py benchmarks/results/safety-smollm2-135m-sycophancy.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def main() -> None:
    import babellens
    from babellens.crossling.similarity import cosine_matrix
    from babellens.safety import language_directions, load_concept

    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path, help="A run's JSON from benchmarks/run_safety.py")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = json.loads(args.run.read_text(encoding="utf-8"))
    started = time.perf_counter()
    lm = babellens.load(run["model"])
    layers, langs = run["layers"], run["langs"]
    found = {
        lang: language_directions(
            lm, load_concept(run["concept"], lang), layers, n=run["train_pairs"], batch_size=32
        )
        for lang in langs
    }
    cosine, control, gap = {}, {}, 0.0
    for layer in layers:
        cosine[layer] = cosine_matrix([found[lang].directions[layer] for lang in langs])
        control[layer] = cosine_matrix([found[lang].shuffled[layer] for lang in langs])
        old = run["cosine"][str(layer)]
        pairs = zip(cosine[layer], old, strict=True)
        gap = max(gap, *(abs(a - b) for r, s in pairs for a, b in zip(r, s, strict=True)))
    out = args.run.with_name(args.run.stem + "-control.json")
    data = {
        "run": args.run.name,
        "model": run["model"],
        "concept": run["concept"],
        "langs": langs,
        "layer": run["layer"],
        "control": control,
        "old_control": run["control"],
        "cosine_max_abs_diff_vs_run": gap,
        "seconds": time.perf_counter() - started,
    }
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"cosine matrix reproduced within {gap:.2e}; control -> {out}")


if __name__ == "__main__":
    main()
