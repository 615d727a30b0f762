"""The circuit-tracer half of benchmarks/run_circuit_tracer.py, run in circuit-tracer's own venv.

circuit-tracer pins transformers <= 4.57 while BabelLens runs on transformers 5, so this script
runs in a separate interpreter and shares only plain files with the driver: it reads a model
folder (``save_pretrained``), a folder of per-layer transcoders already written in
circuit-tracer's own layout (``ct_transcoders/``) and the prompt's token ids (``ids.json``); it
writes the last graph's tensors (``ct_graph.safetensors``) and its timings (``ct_timings.json``).
Timed runs are requested line by line on stdin. It imports only circuit_tracer, torch and
transformers (plus the standard library and safetensors, which both depend on), so nothing of
BabelLens can leak into the measurement.

    CT_ENV/bin/python benchmarks/_circuit_tracer_side.py --work DIR --threads 2 < requests

(one ``run`` line per timed graph; end of input writes the files.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from circuit_tracer import ReplacementModel, attribute
from circuit_tracer.transcoder import load_transcoder_set
from safetensors.torch import save_file

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _load(work: Path, dtype: torch.dtype):
    """The replacement model on the nnsight backend: the one that takes a local HF folder.

    The TransformerLens backend only knows its list of official hub names, so an offline tiny
    model has to go through nnsight, which reads the folder with AutoConfig/AutoModel.
    """
    files = sorted((work / "ct_transcoders").glob("layer_*.safetensors"))
    paths = {int(f.stem.removeprefix("layer_")): str(f) for f in files}
    transcoders = load_transcoder_set(
        paths,
        scan="babellens-benchmark",
        feature_input_hook="mlp.hook_in",
        feature_output_hook="mlp.hook_out",
        device=torch.device("cpu"),
        dtype=dtype,
        lazy_encoder=False,
        lazy_decoder=False,
    )
    return ReplacementModel.from_pretrained_and_transcoders(
        str(work / "model"),
        transcoders,
        backend="nnsight",
        device=torch.device("cpu"),
        dtype=dtype,
    )


def _timed_graphs(model, ids: torch.Tensor, batch_size: int):
    """One unpruned graph per ``run`` line on stdin, its wall time answered on stdout.

    The driver times BabelLens between these requests, so the two libraries alternate and drift
    on a busy machine hits both alike; this process idles on the read meanwhile. Protocol lines
    start with ``@@`` so anything a library prints cannot be mistaken for one.
    """
    times, graph = [], None
    print("@@ ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start = time.perf_counter()
        graph = attribute(ids, model, batch_size=batch_size, max_feature_nodes=None)
        times.append(time.perf_counter() - start)
        print(f"@@ {times[-1]}", flush=True)
    return graph, times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float64")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = DTYPES[args.dtype]
    ids = torch.tensor(json.loads((args.work / "ids.json").read_text()), dtype=torch.long)
    model = _load(args.work, dtype)
    logits, _ = model.get_activations(ids)
    graph, times = _timed_graphs(model, ids, args.batch_size)
    tensors = {
        "adjacency": graph.adjacency_matrix,
        "active_features": graph.active_features,
        "activation_values": graph.activation_values,
        "selected_features": graph.selected_features,
        "input_tokens": graph.input_tokens,
        "logit_tokens": torch.tensor([t.vocab_idx for t in graph.logit_targets]),
        "logit_probabilities": graph.logit_probabilities,
        "last_logits": logits.reshape(-1, logits.shape[-1])[-1],
    }
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in tensors.items()},
        str(args.work / "ct_graph.safetensors"),
    )
    import circuit_tracer
    import transformers

    info = {
        "times_s": times,
        "median_s": statistics.median(times),
        "threads": torch.get_num_threads(),
        "dtype": args.dtype,
        "batch_size": args.batch_size,
        "circuit_tracer": circuit_tracer.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "backend": "nnsight",
    }
    (args.work / "ct_timings.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
