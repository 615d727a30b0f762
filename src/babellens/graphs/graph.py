"""An attribution graph as computed: its nodes, in one fixed order, and the dense adjacency.

Node order (the order of the adjacency's rows and columns): active features (by layer, position,
feature), error nodes (layer-major: ``layer * n_pos + pos``), input tokens (by position), output
logits (most likely first). ``adjacency[t, s]`` is the direct effect of source ``s`` on target
``t``'s pre-activation: the source's activation times the Jacobian of the target's pre-activation
with respect to it in the frozen replacement model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["AttributionGraph", "NodeRef"]


@dataclass(frozen=True)
class NodeRef:
    """One node: kind ``feature`` | ``error`` | ``token`` | ``logit``."""

    kind: str
    layer: int  # -1 for tokens, n_layers for logits
    pos: int
    index: int  # feature index, vocabulary id (tokens and logits), or -1 for errors


@dataclass
class AttributionGraph:
    input_ids: torch.Tensor  # [n]
    n_layers: int
    features: torch.Tensor  # [F, 3]: layer, pos, feature index
    activations: torch.Tensor  # [F]
    logit_tokens: torch.Tensor  # [K]
    logit_probabilities: torch.Tensor  # [K]
    adjacency: torch.Tensor  # [N, N], rows are targets
    pre_activations: torch.Tensor  # [F + K]: each target's value (demeaned logit for logits)

    @property
    def n_pos(self) -> int:
        return int(self.input_ids.numel())

    @property
    def n_features(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_errors(self) -> int:
        return self.n_layers * self.n_pos

    @property
    def n_logits(self) -> int:
        return int(self.logit_tokens.numel())

    @property
    def n_nodes(self) -> int:
        return self.n_features + self.n_errors + self.n_pos + self.n_logits

    @property
    def error_start(self) -> int:
        return self.n_features

    @property
    def token_start(self) -> int:
        return self.n_features + self.n_errors

    @property
    def logit_start(self) -> int:
        return self.token_start + self.n_pos

    def node(self, i: int) -> NodeRef:
        """The node at row/column ``i`` of the adjacency."""
        if i < self.error_start:
            layer, pos, index = (int(v) for v in self.features[i])
            return NodeRef("feature", layer, pos, index)
        if i < self.token_start:
            layer, pos = divmod(i - self.error_start, self.n_pos)
            return NodeRef("error", layer, pos, -1)
        if i < self.logit_start:
            pos = i - self.token_start
            return NodeRef("token", -1, pos, int(self.input_ids[pos]))
        k = i - self.logit_start
        return NodeRef("logit", self.n_layers, self.n_pos - 1, int(self.logit_tokens[k]))

    def index_of(self, ref: NodeRef) -> int:
        """The row/column of ``ref`` (the inverse of :meth:`node`)."""
        if ref.kind == "feature":
            match = (self.features == torch.tensor([ref.layer, ref.pos, ref.index])).all(1)
            hits = match.nonzero()
            if hits.numel() == 0:
                raise KeyError(ref)
            return int(hits[0, 0])
        if ref.kind == "error":
            return self.error_start + ref.layer * self.n_pos + ref.pos
        if ref.kind == "token":
            return self.token_start + ref.pos
        hits = (self.logit_tokens == ref.index).nonzero()
        if hits.numel() == 0:
            raise KeyError(ref)
        return self.logit_start + int(hits[0, 0])

    def target_row(self, target: int) -> int:
        """Index into ``pre_activations`` of a feature or logit node."""
        return target if target < self.n_features else self.n_features + target - self.logit_start
