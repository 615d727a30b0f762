"""Which attention heads carry an edge: the edge split by head through the frozen patterns.

Between two nodes the frozen replacement model is linear, and a source's output vector ``u``
(written at position ``p``) reaches a later target only along the residual stream or by being
read, at position ``p``, by the values of some attention layer's heads. Splitting every path at
the first head that reads ``u`` partitions them, so

    edge = direct + sum over (layer L, head h) of  sum_q A_L[h, q, p] * g_L[q, h] . (N_L,p(u) W_V^h)

where ``A_L`` is the frozen pattern, ``N_L,p`` the frozen pre-attention norm at position ``p``
(``u`` itself first goes through the frozen post-MLP norm in families that have one),
and ``g_L`` the gradient of the target with respect to the head outputs (before ``W_O``) in the
frozen model, which holds everything downstream, later heads included. An edge across positions
has no direct part, so its head split sums to the edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from babellens.errors import InvalidInputError
from babellens.graphs.frozen import FrozenPass, FrozenReplacement
from babellens.graphs.graph import AttributionGraph
from babellens.graphs.report import GraphReport

__all__ = ["HeadSplit", "split_edge_by_head", "split_link_by_head"]


@dataclass
class HeadSplit:
    source: int
    target: int
    edge: float
    heads: torch.Tensor  # [n_layers, n_heads]: each head's share of the edge
    direct: float  # the part along the residual stream alone (0 across positions)

    def top(self, k: int = 5) -> list[tuple[int, int, float]]:
        """The ``k`` heads carrying the most of the edge, as (layer, head, weight)."""
        flat = self.heads.flatten()
        order = flat.abs().argsort(descending=True)[:k]
        n_heads = self.heads.shape[1]
        return [(int(i) // n_heads, int(i) % n_heads, float(flat[i])) for i in order]


def _target_value(fr: FrozenReplacement, graph: AttributionGraph, target: int, run: FrozenPass):
    node = graph.node(target)
    if node.kind == "feature":
        tc = fr.transcoders[node.layer]
        x = run.mlp_in[node.layer][0, node.pos]
        return x @ tc.W_enc[:, node.index].to(x) + tc.b_enc[node.index].to(x)
    if node.kind != "logit":
        raise InvalidInputError("the target of an edge is a feature or a logit node")
    w_u = fr.adapter.w_u.detach()
    column = (w_u[:, node.index] - w_u.mean(dim=1)).to(run.final_hidden)
    return run.final_hidden[0, -1] @ column


def _source_vector(fr: FrozenReplacement, graph: AttributionGraph, source: int) -> torch.Tensor:
    node = graph.node(source)
    if node.kind == "feature":
        tc = fr.transcoders[node.layer]
        activation = graph.activations[source].to(fr.clean.embed)
        return tc.W_dec[node.index].to(fr.clean.embed) * activation
    if node.kind == "error":
        return fr.clean.errors[node.layer][node.pos]
    if node.kind == "token":
        return fr.clean.embed[node.pos]
    raise InvalidInputError("the source of an edge is a feature, error or token node")


def split_edge_by_head(
    fr: FrozenReplacement,
    graph: AttributionGraph,
    source: int,
    target: int,
    *,
    restrict: bool = True,
) -> HeadSplit:
    """The edge ``source -> target`` of ``graph`` (computed on ``fr``'s prompt) split by head.

    With ``restrict``, ``fr`` is set to the graph's feature nodes first (a capped graph's errors
    hold the rest).
    """
    if restrict:
        fr.keep_only(graph.features)
    a, spec = fr.adapter, fr.adapter.spec
    run = fr.run(1, head_probes=True)
    value = _target_value(fr, graph, target, run)
    grads = torch.autograd.grad(value, run.z_probes, allow_unused=True)
    src = graph.node(source)
    u = torch.zeros(
        1, fr.n_pos, a.d_model, dtype=fr.clean.embed.dtype, device=fr.clean.embed.device
    )
    u[0, src.pos] = _source_vector(fr, graph, source)
    post_mlp = spec.norms.get("mlp_out")
    if post_mlp is not None and src.kind != "token":  # Gemma: the MLP output is normed first
        u = fr._norms[spec.path(post_mlp, src.layer)].linear(u)
    heads = torch.zeros(a.n_layers, a.n_heads, dtype=torch.float64)
    for layer in range(src.layer + 1, a.n_layers):
        group = a.n_heads // a.kv_heads_at(layer)
        grad = grads[layer]
        if grad is None:
            continue
        norm = fr._norms[spec.path(spec.norms["attn_in"], layer)]
        read = norm.linear(u)[0, src.pos]  # [d]
        values = torch.einsum("d,kde->ke", read, a.w_v(layer).detach().to(read))  # [kv, hd]
        values = values.repeat_interleave(group, dim=0)  # [heads, hd]
        g = grad[0].reshape(fr.n_pos, a.n_heads, a.head_dim)  # [q, heads, hd]
        pattern = fr.clean.patterns[layer][:, :, src.pos].to(g)  # [heads, q]
        heads[layer] = torch.einsum("hq,qhe,he->h", pattern, g, values).double()
    edge = float(graph.adjacency[target, source])
    return HeadSplit(source, target, edge, heads, edge - float(heads.sum()))


def split_link_by_head(
    fr: FrozenReplacement, report: GraphReport, source_id: str, target_id: str
) -> HeadSplit:
    """The same for a link of a stored (pruned) graph, named by its node ids."""
    nodes = report.node_by_id()
    link = next(
        (lk for lk in report.links if lk.source == source_id and lk.target == target_id), None
    )
    if link is None or source_id not in nodes or target_id not in nodes:
        raise InvalidInputError(f"the graph has no edge {source_id} -> {target_id}")
    n_layers = report.n_layers
    feats = [n for n in report.nodes if n.ref(n_layers).kind == "feature"]
    logits = [n for n in report.nodes if n.feature_type == "logit"]
    features = torch.tensor(
        [[int(n.layer), n.ctx_idx, int(n.feature or 0)] for n in feats], dtype=torch.long
    ).reshape(-1, 3)
    graph = AttributionGraph(
        input_ids=fr.clean.input_ids,
        n_layers=n_layers,
        features=features,
        activations=torch.tensor([float(n.activation or 0) for n in feats]),
        logit_tokens=torch.tensor([int(n.feature or 0) for n in logits], dtype=torch.long),
        logit_probabilities=torch.tensor([n.token_prob for n in logits]),
        adjacency=torch.zeros(0),
        pre_activations=torch.zeros(0),
    )
    source = graph.index_of(nodes[source_id].ref(n_layers))
    target = graph.index_of(nodes[target_id].ref(n_layers))
    graph.adjacency = torch.zeros(graph.n_nodes, graph.n_nodes)
    graph.adjacency[target, source] = link.weight
    return split_edge_by_head(fr, graph, source, target, restrict=False)
