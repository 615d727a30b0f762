"""The shared-expert half of :class:`~babellens.models.adapters.adapter.ModelAdapter`.

A shared expert is an ordinary MLP that a mixture-of-experts layer runs on every token beside
the routed experts, so its neurons are units like a dense layer's: these methods give its
weights in math orientation (``x @ W``) and the per-token factor its output is written with.
Kept apart so the adapter stays one screen per concern.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch import nn

from babellens.errors import InvalidInputError
from babellens.models.adapters.spec import ArchitectureSpec, SharedExpert

__all__ = ["SharedExpertAdapter"]


class SharedExpertAdapter:
    """Shared-expert weights of a bound model; :class:`ModelAdapter` supplies the rest."""

    spec: ArchitectureSpec
    _modules: dict[str, nn.Module]
    n_layers: int

    if TYPE_CHECKING:  # supplied by ModelAdapter and ExpertsAdapter

        def module(self, template: str, layer: int = 0) -> nn.Module: ...

        def check_layer(self, layer: int) -> int: ...

        def is_moe_layer(self, layer: int) -> bool: ...

        def _in_out(self, module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]: ...

    def has_shared_expert(self, layer: int) -> bool:
        """Whether mixture-of-experts layer ``layer`` runs a shared expert (dense layers: no)."""
        shared = self.spec.shared_expert
        return (
            shared is not None
            and self.is_moe_layer(self.check_layer(layer))
            and self.spec.path(shared.module, layer) in self._modules
        )

    @cached_property
    def shared_layers(self) -> list[int]:
        return [layer for layer in range(self.n_layers) if self.has_shared_expert(layer)]

    def _shared(self, layer: int) -> SharedExpert:
        if not self.has_shared_expert(layer):
            where = f"layers with one: {self.shared_layers}" if self.shared_layers else "none has"
            raise InvalidInputError(
                f"layer {layer} has no shared expert ({where}); its MLP neurons are "
                f"{'expert_post' if self.is_moe_layer(layer) else 'mlp_post'}.{layer}"
            )
        return self.spec.shared_expert  # type: ignore[return-value]

    def _shared_in_parts(
        self, layer: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(W_in, b_in, W_gate) of the shared expert, a fused ``[gate | up]`` split gate first."""
        shared = self._shared(layer)
        weight, bias = self._in_out(self.module(shared.w_in, layer))
        if shared.gate_up_fused:
            gate, w_in = weight.chunk(2, dim=1)
            return w_in, bias.chunk(2)[1] if bias is not None else None, gate
        gate = self._in_out(self.module(shared.w_gate, layer))[0] if shared.w_gate else None
        return weight, bias, gate

    def w_in_shared(self, layer: int) -> torch.Tensor:
        """``[d_model, d_shared]``: the shared expert's (up) input projection."""
        return self._shared_in_parts(layer)[0]

    def b_in_shared(self, layer: int) -> torch.Tensor | None:
        return self._shared_in_parts(layer)[1]

    def w_gate_shared(self, layer: int) -> torch.Tensor | None:
        """``[d_model, d_shared]`` for a gated shared expert (SwiGLU), else ``None``."""
        return self._shared_in_parts(layer)[2]

    def w_out_shared(self, layer: int) -> torch.Tensor:
        """``[d_shared, d_model]``: row ``n`` is what shared neuron ``n`` writes (before the
        per-token :meth:`shared_gate`)."""
        return self._in_out(self.module(self._shared(layer).w_out, layer))[0]

    def b_out_shared(self, layer: int) -> torch.Tensor | None:
        return self._in_out(self.module(self._shared(layer).w_out, layer))[1]

    def d_shared(self, layer: int) -> int:
        """Neurons of layer ``layer``'s shared expert."""
        return int(self.w_out_shared(layer).shape[0])

    def w_shared_gate(self, layer: int) -> torch.Tensor | None:
        """``[d_model, 1]``: the projection of the MLP's input whose sigmoid scales the shared
        output per token (Qwen2-MoE's ``shared_expert_gate``), or ``None`` (a factor of 1)."""
        gate = self._shared(layer).output_gate
        return self._in_out(self.module(gate, layer))[0] if gate else None

    def shared_gate(self, layer: int, mlp_in: torch.Tensor) -> torch.Tensor:
        """``[..., 1]``: what the shared expert's output is multiplied by at each token, from
        the MLP's input (``mlp_in``): ``sigmoid(mlp_in @ W_gate + b)`` where the family gates
        it, else ones. A shared neuron writes ``gate * post * W_out_shared[n]``."""
        gate = self._shared(layer).output_gate
        if gate is None:
            return torch.ones(*mlp_in.shape[:-1], 1, dtype=mlp_in.dtype, device=mlp_in.device)
        return torch.sigmoid(self.module(gate, layer)(mlp_in))
