"""The replacement model: every MLP replaced by its transcoder, attention and norms frozen.

One clean forward pass records what the freeze needs: each norm's input, output and scale, each
attention layer's query and key projections (so its pattern is the clean one whatever flows in
through the values), each MLP's input and output and its transcoder's features. In a frozen pass

* a norm computes ``y_clean + L(x) - L(x_clean)`` with ``L`` the norm at its clean scale: the value
  is the clean output exactly when ``x`` is the clean input, and the map is affine in ``x``;
* the query and key projections return their clean outputs, so the pattern is a constant and
  attention is linear in the values;
* an MLP returns ``mlp_out_clean + (f - f_clean) @ W_dec + skip(x) - skip(x_clean)
  + (e - 1) * error``: with the clean features ``f`` and error scale ``e = 1`` that is the real
  MLP output, and the error node (``mlp_out - reconstruction``) is a constant source.

So the replacement model's logits equal the real model's, and everything between nodes is linear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError
from babellens.graphs.transcoders import TranscoderSet, check_transcoders
from babellens.models.norms import NormAffine, norm_affine

__all__ = ["CleanPass", "FeatureFn", "FrozenPass", "FrozenReplacement"]

FeatureFn = Callable[[int, torch.Tensor], torch.Tensor]
"""``(layer, mlp_in [B, n, d]) -> features [B or 1, n, width]`` for a frozen pass."""


@dataclass
class _NormRecord:
    affine: NormAffine
    y: torch.Tensor  # [1, n, d] clean output
    inverse_scale: torch.Tensor  # [1, n]
    linear_clean: torch.Tensor  # L(x_clean)

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        return self.affine.centre(x) * self.affine.gamma * self.inverse_scale.unsqueeze(-1)


@dataclass
class CleanPass:
    """What the real model computed on the prompt (batch of one, positions first)."""

    input_ids: torch.Tensor  # [n]
    embed: torch.Tensor  # [n, d]: what the embedding writes to the residual stream
    mlp_in: list[torch.Tensor]  # per layer [n, d]
    mlp_out: list[torch.Tensor]  # per layer [n, d]
    features: list[torch.Tensor]  # per layer [n, width]
    errors: list[torch.Tensor]  # per layer [n, d]: mlp_out - reconstruction
    patterns: list[torch.Tensor]  # per layer [heads, n, n]
    final_hidden: torch.Tensor  # [n, d]: the final norm's output
    logits: torch.Tensor  # [n, vocab]


@dataclass
class FrozenPass:
    """A frozen forward pass's read points and the probes gradients are read from."""

    mlp_in: list[torch.Tensor]
    final_hidden: torch.Tensor
    embed_probe: torch.Tensor | None = None
    mlp_probes: list[torch.Tensor] = field(default_factory=list)
    z_probes: list[torch.Tensor] = field(default_factory=list)


class FrozenReplacement:
    """A model, its transcoders and one prompt, with the clean pass already recorded."""

    def __init__(self, lm: LanguageModel, transcoders: TranscoderSet, input_ids: torch.Tensor):
        adapter = lm.adapter
        problem = adapter.spec.values_problem
        if problem is not None:  # freezing q/k then leaves heads linear in x W_V: not here
            raise InvalidInputError(
                f"attribution graphs are unavailable for {adapter.spec.name}: it has {problem}, "
                "so frozen patterns do not make attention linear in per-head W_V"
            )
        check_transcoders(transcoders, adapter.n_layers, adapter.d_model)
        ids = input_ids.reshape(-1)
        if ids.numel() == 0:
            raise InvalidInputError("the prompt has no tokens: give a non-empty prompt")
        self.lm, self.adapter, self.transcoders = lm, adapter, transcoders
        self.n_layers, self.n_pos = adapter.n_layers, int(ids.numel())
        self._ids = ids.to(lm.device).unsqueeze(0)
        self._norm_modules = self._find_norms()
        self._qk_modules = self._find_qk()
        self._norms: dict[str, _NormRecord] = {}
        self._qk: dict[str, torch.Tensor] = {}
        self.clean = self._record_clean()

    # ---- modules -----------------------------------------------------------------------------
    def _find_norms(self) -> dict[str, nn.Module]:
        a, spec = self.adapter, self.adapter.spec
        found = {
            spec.path(template, layer): a.module(template, layer)
            for layer in range(self.n_layers)
            for template in spec.norms.values()
        }
        found[spec.final_norm] = a.final_norm
        return found

    def _find_qk(self) -> dict[str, tuple[nn.Module, str]]:
        a, spec = self.adapter, self.adapter.spec
        found: dict[str, tuple[nn.Module, str]] = {}
        for layer in range(self.n_layers):
            if spec.attn_qkv is not None:
                found[spec.path(spec.attn_qkv, layer)] = (a.module(spec.attn_qkv, layer), "qkv")
                continue
            for template in (spec.attn_q, spec.attn_k):
                found[spec.path(template, layer)] = (a.module(template, layer), "qk")
        return found

    # ---- the clean pass ------------------------------------------------------------------------
    def _record_clean(self) -> CleanPass:
        a, spec = self.adapter, self.adapter.spec
        seen: dict[str, Any] = {"mlp_in": {}, "mlp_out": {}, "patterns": {}, "norm": {}}
        with ExitStack() as stack:
            hooks = []
            hooks.append(
                a.module(spec.embed).register_forward_hook(
                    lambda m, args, out: seen.__setitem__("embed", out.detach())
                )
            )
            for path, module in self._norm_modules.items():
                hooks.append(module.register_forward_hook(_recorder(seen["norm"], path, both=True)))
            for path, (module, _) in self._qk_modules.items():
                hooks.append(module.register_forward_hook(_recorder(self._qk, path)))
            for layer in range(self.n_layers):
                mlp = a.module(spec.mlp, layer)
                hooks.append(mlp.register_forward_hook(_mlp_recorder(seen, layer)))
                attn = a.module(spec.attn, layer)
                hooks.append(attn.register_forward_hook(_pattern_recorder(seen, layer)))
            for handle in hooks:
                stack.callback(handle.remove)
            logits = self.lm.run(self._ids, logits=True, eager=True, grad="no_grad").logits
        for path, (x, y) in seen["norm"].items():
            affine = norm_affine(self._norm_modules[path], x.shape[-1], x.dtype)
            inv = affine.inverse_scale(x.double(), y.double()).to(x.dtype)
            record = _NormRecord(affine, y, inv, torch.empty(0))
            record.linear_clean = record.linear(x)
            self._norms[path] = record
        return self._clean_from(seen, logits)

    def _clean_from(self, seen: dict[str, Any], logits: torch.Tensor) -> CleanPass:
        features, errors = [], []
        for layer in range(self.n_layers):
            tc = self.transcoders[layer]
            x, out = seen["mlp_in"][layer], seen["mlp_out"][layer]
            with torch.no_grad():
                f = tc.encode(x.to(tc.W_enc.dtype)).to(x.dtype)
                errors.append(out - tc.decode(f, x))
            features.append(f)
        final_path = self.adapter.spec.final_norm
        return CleanPass(
            input_ids=self._ids[0].cpu(),
            embed=seen["embed"][0],
            mlp_in=[seen["mlp_in"][i][0] for i in range(self.n_layers)],
            mlp_out=[seen["mlp_out"][i][0] for i in range(self.n_layers)],
            features=[f[0] for f in features],
            errors=[e[0] for e in errors],
            patterns=[seen["patterns"][i] for i in range(self.n_layers)],
            final_hidden=seen["norm"][final_path][1][0],
            logits=logits[0],
        )

    def keep_only(self, features: torch.Tensor) -> None:
        """Make only ``features`` ([F, 3]: layer, pos, index) nodes; the rest join the errors.

        A capped graph stays complete: what the dropped features wrote is then part of what the
        error node of their (layer, position) holds, ``mlp_out - reconstruction(kept)``.
        """
        for layer in range(self.n_layers):
            rows = features[features[:, 0] == layer]
            f = self.clean.features[layer]
            kept = torch.zeros_like(f)
            pos, idx = rows[:, 1].to(f.device), rows[:, 2].to(f.device)
            kept[pos, idx] = f[pos, idx]
            tc, x = self.transcoders[layer], self.clean.mlp_in[layer]
            with torch.no_grad():
                recon = tc.decode(kept.to(tc.W_dec.dtype), x.to(tc.W_dec.dtype)).to(x.dtype)
            self.clean.features[layer] = kept
            self.clean.errors[layer] = self.clean.mlp_out[layer] - recon

    # ---- frozen passes -------------------------------------------------------------------------
    def clean_features(self) -> FeatureFn:
        return lambda layer, x: self.clean.features[layer].unsqueeze(0)

    def live_features(self, scales: dict[int, torch.Tensor] | None = None) -> FeatureFn:
        """Features recomputed from the frozen model's MLP inputs, scaled where asked."""

        def features(layer: int, x: torch.Tensor) -> torch.Tensor:
            tc = self.transcoders[layer]
            f = tc.encode(x.to(tc.W_enc.dtype)).to(x.dtype)
            scale = (scales or {}).get(layer)
            return f if scale is None else f * scale.to(f)

        return features

    def run(
        self,
        batch: int = 1,
        *,
        features: FeatureFn | None = None,
        embed_scale: torch.Tensor | None = None,
        error_scale: torch.Tensor | None = None,
        probes: bool = False,
        head_probes: bool = False,
    ) -> FrozenPass:
        """One frozen forward pass of ``batch`` copies of the prompt (rows are independent)."""
        features = features or self.clean_features()
        result = FrozenPass(mlp_in=[None] * self.n_layers, final_hidden=torch.empty(0))  # type: ignore[list-item]
        device, dtype = self.lm.device, self.lm.dtype
        shape = (batch, self.n_pos, self.adapter.d_model)
        if probes:
            result.embed_probe = torch.zeros(shape, device=device, dtype=dtype, requires_grad=True)
            result.mlp_probes = [
                torch.zeros(shape, device=device, dtype=dtype, requires_grad=True)
                for _ in range(self.n_layers)
            ]
        if head_probes:
            z_shape = (batch, self.n_pos, self.adapter.n_heads * self.adapter.head_dim)
            result.z_probes = [
                torch.zeros(z_shape, device=device, dtype=dtype, requires_grad=True)
                for _ in range(self.n_layers)
            ]
        with ExitStack() as stack:
            self._install(stack, result, features, embed_scale, error_scale)
            out = self.lm.run(
                self._ids.expand(batch, -1),
                final_hidden=True,
                eager=True,
                grad="grad" if probes or head_probes else "no_grad",
            )
            result.final_hidden = out.final_hidden
        return result

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The unembedding (and any final soft-cap) applied to final-norm outputs."""
        return self.lm.unembed(hidden, normed=True)

    def _install(
        self,
        stack: ExitStack,
        result: FrozenPass,
        features: FeatureFn,
        embed_scale: torch.Tensor | None,
        error_scale: torch.Tensor | None,
    ) -> None:
        a, spec = self.adapter, self.adapter.spec

        def embed_hook(module: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
            if embed_scale is not None:
                out = out * embed_scale.to(out).view(1, -1, 1)
            return out + result.embed_probe if result.embed_probe is not None else out

        handles = [a.module(spec.embed).register_forward_hook(embed_hook)]
        for path, module in self._norm_modules.items():
            handles.append(module.register_forward_hook(_frozen_norm_hook(self._norms[path])))
        for path, (module, how) in self._qk_modules.items():
            handles.append(module.register_forward_hook(self._frozen_qk_hook(self._qk[path], how)))
        for layer, probe in enumerate(result.z_probes):
            o_proj = a.module(spec.attn_o, layer)
            handles.append(o_proj.register_forward_pre_hook(_add_to_input(probe)))
        for handle in handles:
            stack.callback(handle.remove)
        for layer in range(self.n_layers):
            mlp = a.module(spec.mlp, layer)
            scale = None if error_scale is None else error_scale[layer]
            stack.enter_context(
                _patched_forward(mlp, self._mlp_forward(layer, result, features, scale))
            )

    def _mlp_forward(
        self,
        layer: int,
        result: FrozenPass,
        features: FeatureFn,
        error_scale: torch.Tensor | None,
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        tc, clean = self.transcoders[layer], self.clean
        out_clean, f_clean = clean.mlp_out[layer], clean.features[layer]
        x_clean = clean.mlp_in[layer]

        def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            result.mlp_in[layer] = x
            w_dec = tc.W_dec.to(x.dtype)
            out = out_clean + (features(layer, x) - f_clean) @ w_dec
            if tc.W_skip is not None:
                w_skip = tc.W_skip.to(x.dtype)
                out = out + (x @ w_skip - x_clean @ w_skip)
            if error_scale is not None:
                out = out + (error_scale.to(x).view(-1, 1) - 1) * clean.errors[layer]
            if result.mlp_probes:
                out = out + result.mlp_probes[layer]
            return out

        return forward

    def _frozen_qk_hook(self, clean: torch.Tensor, how: str) -> Callable[..., torch.Tensor]:
        a = self.adapter
        hd, nq, nkv = a.head_dim, a.n_heads, a.n_kv_heads

        def hook(module: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
            batch = out.shape[0]
            fixed = clean.expand(batch, *clean.shape[1:])
            if how == "qk":
                return fixed
            if a.spec.qkv_layout == "per_head":
                live = out.reshape(*out.shape[:-1], nq, 3, hd)
                frozen = fixed.reshape(*out.shape[:-1], nq, 3, hd)
                return torch.cat([frozen[..., :2, :], live[..., 2:, :]], dim=-2).reshape(out.shape)
            qk = (nq + nkv) * hd
            return torch.cat([fixed[..., :qk], out[..., qk:]], dim=-1)

        return hook


def _recorder(store: dict[str, Any], key: str, both: bool = False) -> Callable[..., None]:
    def hook(module: nn.Module, args: Any, out: Any) -> None:
        out = out[0] if isinstance(out, tuple) else out
        store[key] = (args[0].detach(), out.detach()) if both else out.detach()

    return hook


def _mlp_recorder(seen: dict[str, Any], layer: int) -> Callable[..., None]:
    def hook(module: nn.Module, args: Any, out: Any) -> None:
        seen["mlp_in"][layer] = args[0].detach()
        seen["mlp_out"][layer] = (out[0] if isinstance(out, tuple) else out).detach()

    return hook


def _pattern_recorder(seen: dict[str, Any], layer: int) -> Callable[..., None]:
    def hook(module: nn.Module, args: Any, out: Any) -> None:
        pattern = out[1] if isinstance(out, tuple) and len(out) > 1 else None
        if pattern is not None:
            seen["patterns"][layer] = pattern[0].detach()

    return hook


def _frozen_norm_hook(record: _NormRecord) -> Callable[..., torch.Tensor]:
    def hook(module: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
        return record.y + (record.linear(args[0]) - record.linear_clean)

    return hook


def _add_to_input(probe: torch.Tensor) -> Callable[..., tuple[Any, ...]]:
    def hook(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (args[0] + probe, *args[1:])

    return hook


@contextmanager
def _patched_forward(module: nn.Module, forward: Callable[..., torch.Tensor]) -> Iterator[None]:
    """Swap one module instance's forward (the real MLP then costs nothing in frozen passes)."""
    module.forward = forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        del module.forward
