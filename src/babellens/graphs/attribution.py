"""Edges of an attribution graph by batched vector-Jacobian products through the frozen model.

One frozen forward pass of ``batch_size`` copies of the prompt is kept; each backward pass
injects, in every row, one target's read vector (a feature's encoder column at its MLP input, or
a logit's demeaned unembedding column at the final norm's output) and reads the gradients at the
embedding and at every MLP output. A source's edge is its output vector (decoder row times
activation, error vector, embedding) dotted with that gradient. Memory is the kept forward pass
plus the dense adjacency; both are estimated before anything runs.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from babellens.capture.language_model import LanguageModel
from babellens.control import LocalControl, RunControl, StopRequested
from babellens.errors import InvalidInputError
from babellens.graphs.frozen import FrozenPass, FrozenReplacement
from babellens.graphs.graph import AttributionGraph
from babellens.graphs.transcoders import TranscoderSet

__all__ = ["GraphConfig", "attribute", "estimate_memory_bytes"]

_CHECKPOINT_SECONDS = 20.0


class GraphConfig(BaseModel):
    """How a graph is computed and pruned; the job kind and the CLI take these fields."""

    model_config = ConfigDict(extra="forbid")

    max_logits: int = Field(10, ge=1, le=50, description="at most this many output logit nodes")
    logit_probability: float = Field(
        0.95, gt=0, le=1, description="logit nodes: most likely tokens up to this total probability"
    )
    batch_size: int = Field(32, ge=1, le=1024, description="targets per backward pass")
    max_feature_nodes: int | None = Field(
        None,
        ge=1,
        description="at most this many feature nodes (largest activations); the rest join the errors",
    )
    memory_limit_gb: float | None = Field(
        None, gt=0, description="refuse graphs estimated above this (default: half the free RAM)"
    )
    node_threshold: float = Field(0.8, gt=0, le=1, description="pruning: influence kept by nodes")
    edge_threshold: float = Field(0.98, gt=0, le=1, description="pruning: influence kept by edges")


def _active_features(fr: FrozenReplacement, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    rows, values = [], []
    for layer, f in enumerate(fr.clean.features):
        pos, idx = f.nonzero(as_tuple=True)
        rows.append(torch.stack([torch.full_like(pos, layer), pos, idx], dim=1))
        values.append(f[pos, idx])
    features = torch.cat(rows).cpu()
    acts = torch.cat(values).float().cpu()
    if limit is not None and features.shape[0] > limit:
        keep = acts.abs().topk(limit).indices.sort().values
        features, acts = features[keep], acts[keep]
    return features, acts


def _logit_nodes(logits: torch.Tensor, config: GraphConfig) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.softmax(logits.double(), dim=-1)
    top = probs.topk(min(config.max_logits, probs.numel()))
    cumulative = top.values.cumsum(0)
    count = int((cumulative < config.logit_probability).sum()) + 1
    count = min(count, top.values.numel())
    return top.indices[:count].cpu(), top.values[:count].float().cpu()


def estimate_memory_bytes(lm: LanguageModel, n_pos: int, n_features: int, config: Any) -> int:
    """Kept activations of the batched frozen pass plus the dense adjacency (a deliberate overestimate)."""
    a = lm.adapter
    element = torch.finfo(lm.dtype).bits // 8
    per_layer = n_pos * a.d_model * 24 + a.n_heads * n_pos * n_pos * 3
    per_layer += n_pos * (a.n_heads + 2 * a.n_kv_heads) * a.head_dim * 2
    forward = config.batch_size * a.n_layers * per_layer * element
    n_nodes = n_features + (a.n_layers + 1) * n_pos + config.max_logits
    adjacency = n_nodes * n_nodes * 4 * 2
    return int(forward + adjacency)


def _memory_limit(config: GraphConfig) -> int:
    if config.memory_limit_gb is not None:
        return int(config.memory_limit_gb * 2**30)
    import psutil

    return int(psutil.virtual_memory().available * 0.5)


def attribute(
    lm: LanguageModel,
    transcoders: TranscoderSet,
    input_ids: torch.Tensor,
    config: GraphConfig | None = None,
    control: RunControl | None = None,
) -> AttributionGraph:
    """The full (unpruned) attribution graph of one prompt's next-token prediction."""
    config = config or GraphConfig()
    control = control or LocalControl()
    fr = FrozenReplacement(lm, transcoders, input_ids)
    features, acts = _active_features(fr, config.max_feature_nodes)
    if config.max_feature_nodes is not None:
        fr.keep_only(features)
    need, limit = (
        estimate_memory_bytes(lm, fr.n_pos, features.shape[0], config),
        _memory_limit(config),
    )
    if need > limit:
        raise InvalidInputError(
            f"this graph needs about {need / 2**30:.1f} GiB ({fr.n_pos} tokens, "
            f"{features.shape[0]} active features), more than the {limit / 2**30:.1f} GiB allowed: "
            "use a shorter prompt, a smaller batch size or a max feature count"
        )
    logit_tokens, logit_probs = _logit_nodes(fr.clean.logits[-1], config)
    graph = AttributionGraph(
        input_ids=fr.clean.input_ids,
        n_layers=fr.n_layers,
        features=features,
        activations=acts,
        logit_tokens=logit_tokens,
        logit_probabilities=logit_probs,
        adjacency=torch.zeros(0),
        pre_activations=torch.zeros(0),
    )
    rows = _target_rows(fr, graph, config, control)
    graph.adjacency = _square(graph, rows)
    graph.pre_activations = _pre_activations(fr, graph)
    return graph


def _square(graph: AttributionGraph, rows: torch.Tensor) -> torch.Tensor:
    n = graph.n_nodes
    adjacency = torch.zeros(n, n)
    adjacency[: graph.n_features] = rows[: graph.n_features]
    adjacency[graph.logit_start :] = rows[graph.n_features :]
    return adjacency


def _fingerprint(graph: AttributionGraph, config: GraphConfig) -> dict[str, Any]:
    return {
        "ids": graph.input_ids.tolist(),
        "n_features": graph.n_features,
        "logits": graph.logit_tokens.tolist(),
        "batch_size": config.batch_size,
    }


def _target_rows(
    fr: FrozenReplacement, graph: AttributionGraph, config: GraphConfig, control: RunControl
) -> torch.Tensor:
    """``[F + K, N]``: the incoming edges of every feature, then of every logit."""
    n_targets = graph.n_features + graph.n_logits
    rows = torch.zeros(n_targets, graph.n_nodes)
    done = 0
    meta = _fingerprint(graph, config)
    saved = control.load_state()
    if saved is not None and saved.meta == meta:
        done = saved.done
        rows[:done] = saved.tensors["rows"]
    batch = min(config.batch_size, n_targets)
    frozen = fr.run(batch, probes=True)
    sources = _SourceVectors(fr, graph)
    last_save = time.monotonic()
    while done < n_targets:
        if control.should_stop():
            control.save_state({"rows": rows[:done].clone()}, meta, done)
            raise StopRequested
        chunk = range(done, min(done + batch, n_targets))
        grads = _backward(fr, graph, frozen, chunk)
        rows[chunk.start : chunk.stop] = sources.edges(grads)[: len(chunk)].float().cpu()
        done = chunk.stop
        control.progress(done, n_targets, unit="targets")
        if time.monotonic() - last_save > _CHECKPOINT_SECONDS and done < n_targets:
            control.save_state({"rows": rows[:done].clone()}, meta, done)
            last_save = time.monotonic()
    return rows


def _read_vectors(
    fr: FrozenReplacement, graph: AttributionGraph
) -> tuple[torch.Tensor, torch.Tensor]:
    """Demeaned unembedding columns ``[K, d]`` and bias offsets ``[K]`` of the logit nodes."""
    w_u = fr.adapter.w_u.detach()
    tokens = graph.logit_tokens.to(w_u.device)
    columns = (w_u[:, tokens] - w_u.mean(dim=1, keepdim=True)).T
    b_u = fr.adapter.b_u
    offsets = torch.zeros(len(tokens), dtype=w_u.dtype, device=w_u.device)
    if b_u is not None:
        offsets = b_u.detach()[tokens] - b_u.detach().mean()
    return columns, offsets


def _backward(
    fr: FrozenReplacement, graph: AttributionGraph, frozen: FrozenPass, chunk: range
) -> list[torch.Tensor]:
    """Gradients at the embedding and every MLP output, one target per batch row."""
    outputs, injections = [], []
    batch = frozen.final_hidden.shape[0]
    by_layer: dict[int, list[tuple[int, int, int]]] = {}
    logit_rows: list[tuple[int, int]] = []
    for row, target in enumerate(chunk):
        if target < graph.n_features:
            layer, pos, index = (int(v) for v in graph.features[target])
            by_layer.setdefault(layer, []).append((row, pos, index))
        else:
            logit_rows.append((row, target - graph.n_features))
    for layer, entries in by_layer.items():
        x = frozen.mlp_in[layer]
        w_enc = fr.transcoders[layer].W_enc.detach().to(x.dtype)
        inject = torch.zeros_like(x)
        r, p, i = (torch.tensor(col, device=x.device) for col in zip(*entries, strict=True))
        inject[r, p] = w_enc[:, i].T
        outputs.append(x)
        injections.append(inject)
    if logit_rows:
        h = frozen.final_hidden
        columns, _ = _read_vectors(fr, graph)
        inject = torch.zeros_like(h)
        r, k = (torch.tensor(col, device=h.device) for col in zip(*logit_rows, strict=True))
        inject[r, -1] = columns[k].to(h.dtype)
        outputs.append(h)
        injections.append(inject)
    inputs = [frozen.embed_probe, *frozen.mlp_probes]
    grads = torch.autograd.grad(outputs, inputs, injections, retain_graph=True, allow_unused=True)
    shape = (batch, fr.n_pos, fr.adapter.d_model)
    return [
        g if g is not None else torch.zeros(shape, dtype=frozen.final_hidden.dtype) for g in grads
    ]


_DENSE_EDGE_LIMIT = 1 << 25  # elements of the [batch, pos, features] product before gathering


def _feature_edges(grad: torch.Tensor, pos: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """``[batch, features]``: each feature's decoder vector (times its activation) dotted with the
    gradient at its own position.

    One matrix product over every position, then a gather of each feature's own position, is the
    fastest form for graph-sized inputs (a BLAS call instead of a gathered copy of the gradients
    and an elementwise sum: the step took most of a graph's time). Past the limit the product
    would be mostly wasted work, so the gathered form is used.
    """
    batch, n_pos, _ = grad.shape
    if batch * n_pos * vectors.shape[0] > _DENSE_EDGE_LIMIT:
        return torch.einsum("bfd,fd->bf", grad[:, pos, :], vectors)
    every = grad @ vectors.T  # [batch, pos, features]
    return every.gather(1, pos.view(1, 1, -1).expand(batch, 1, -1)).squeeze(1)


class _SourceVectors:
    """Each source's output vector, grouped so one batched product gives a row of edges."""

    def __init__(self, fr: FrozenReplacement, graph: AttributionGraph) -> None:
        self.embed = fr.clean.embed
        self.n_logits = graph.n_logits
        self.errors = torch.stack(fr.clean.errors)  # [L, n, d]
        self.groups = []
        for layer in range(fr.n_layers):
            mask = graph.features[:, 0] == layer
            pos, index = graph.features[mask, 1], graph.features[mask, 2]
            w_dec = fr.transcoders[layer].W_dec.detach().to(self.embed.dtype)
            vectors = w_dec[index.to(w_dec.device)] * graph.activations[mask].to(w_dec).unsqueeze(1)
            self.groups.append((pos.to(w_dec.device), vectors))

    def edges(self, grads: list[torch.Tensor]) -> torch.Tensor:
        g_embed, g_mlp = grads[0], grads[1:]
        feature_edges = [
            _feature_edges(g_mlp[layer], pos, vectors)
            for layer, (pos, vectors) in enumerate(self.groups)
        ]
        error_edges = (torch.stack(g_mlp, dim=1) * self.errors).sum(-1).flatten(1)
        token_edges = (g_embed * self.embed).sum(-1)
        batch = g_embed.shape[0]
        logit_cols = torch.zeros(batch, self.n_logits, dtype=g_embed.dtype, device=g_embed.device)
        return torch.cat([*feature_edges, error_edges, token_edges, logit_cols], dim=1)


def _pre_activations(fr: FrozenReplacement, graph: AttributionGraph) -> torch.Tensor:
    """The targets' values in the clean pass: feature pre-activations, then demeaned logits."""
    values = torch.zeros(len(graph.features), dtype=torch.float64)
    with torch.no_grad():  # values, not part of any backward pass
        for layer in graph.features[:, 0].unique().tolist():
            rows = (graph.features[:, 0] == layer).nonzero().flatten()
            pos, index = graph.features[rows, 1], graph.features[rows, 2]
            tc = fr.transcoders[layer]
            x = fr.clean.mlp_in[layer][pos].to(tc.W_enc.dtype)  # [n, d]
            pre = (x * tc.W_enc[:, index].T).sum(-1) + tc.b_enc[index]
            values[rows] = pre.double().cpu()
        columns, offsets = _read_vectors(fr, graph)
        logits = fr.clean.final_hidden[-1] @ columns.T.to(fr.clean.final_hidden) + offsets
    return torch.cat([values, logits.double().cpu()])
