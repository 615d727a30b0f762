"""The two libraries' conventions, bridged: circuit-tracer's environment, a tiny model both load,
the transcoders in its layout, and the edge-by-edge comparison of the two graphs.

Used by ``run_circuit_tracer.py`` (and tested in tests/bench without circuit-tracer installed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from babellens.graphs.graph import AttributionGraph
from babellens.graphs.transcoders import TranscoderSet

# nnsight is pinned too: circuit-tracer 0.5.0 asks for nnsight>=0.6 but imports
# nnsight.intervention.tracing, which nnsight 0.7 moved; 0.6.3 is the newest that has it.
CT_PINS = ("torch==2.13.0", "circuit-tracer==0.5.0", "nnsight==0.6.3")
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
