"""Live queries: run a typed prompt through a model and read its neurons.

One loaded model per model id is shared by every request (and by jobs in the same process); a
lock per model serialises the forward passes, so 8 concurrent requests all succeed, each waiting
its turn instead of splitting two cores eight ways. Requests run in the server's thread pool, so
page views never wait behind them.

Live models are separate instances from the ones background jobs use: capture hooks are installed
on modules, so a live pass on a model a scan is hooking would see (and feed) the scan's hooks.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict

from babellens.analyses.token_trace import (
    NeuronTrace,
    TopNeuronsTrace,
    layer_units,
    trace_neuron,
    trace_top_neurons,
)
from babellens.capture.language_model import LanguageModel, load
from babellens.errors import InvalidInputError
from babellens.web.schemas import SteerRequest, SteerResult
from babellens.web.settings import WebSettings

__all__ = ["MIN_TEMPERATURE", "LiveQueries"]

MIN_TEMPERATURE = 0.05  # below it the softmax overflows into NaN


class LiveQueries:
    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()
        self._models: dict[str, LanguageModel] = {}

    def _lock(self, model: str) -> threading.Lock:
        with self._guard:
            return self._locks[model]

    def put(self, lm: LanguageModel) -> None:
        """Serve an already loaded model under its name (tests, notebooks)."""
        self._models[lm.name] = lm

    def _model(self, model: str) -> LanguageModel:
        """Called with the model's lock held, so a model loads once however many ask."""
        if model not in self._models:
            self._models[model] = load(model, device=self.settings.device)
        return self._models[model]

    def _check_text(self, lm: LanguageModel, text: str) -> None:
        limit = self.settings.max_prompt_chars
        if len(text) > limit:
            raise InvalidInputError(f"the prompt has {len(text)} characters; the limit is {limit}")
        if not text.strip():
            raise InvalidInputError("the prompt is empty: type some text")
        n_tokens = len(lm.tokenizer(text)["input_ids"])
        if n_tokens > self.settings.max_prompt_tokens:
            raise InvalidInputError(
                f"the prompt has {n_tokens} tokens; the limit is {self.settings.max_prompt_tokens}"
            )

    def top_neurons(self, model: str, text: str, layer: int, k: int) -> TopNeuronsTrace:
        if k > self.settings.max_top_k:
            raise InvalidInputError(f"k must be at most {self.settings.max_top_k}, got {k}")
        with self._lock(model):
            lm = self._model(model)
            self._check_text(lm, text)
            return trace_top_neurons(lm, text, layer, k=min(k, layer_units(lm, layer)))

    def neuron(self, model: str, text: str, layer: int, neuron: int) -> NeuronTrace:
        with self._lock(model):
            lm = self._model(model)
            self._check_text(lm, text)
            return trace_neuron(lm, text, layer, neuron)

    def steer(self, model: str, request: SteerRequest) -> SteerResult:
        """Unsteered and steered continuations of one prompt (a concept's vector is built on first
        use and saved, under the model's lock)."""
        from babellens.data.prompts import chat_prompt
        from babellens.steering import generate
        from babellens.steering.library import resolve_vector, steer_layers

        limit = self.settings.max_coefficient
        if not math.isfinite(request.coefficient) or abs(request.coefficient) > limit:
            raise InvalidInputError(f"the coefficient must be a finite number within ±{limit:g}")
        if 0 < request.temperature < MIN_TEMPERATURE:
            raise InvalidInputError(f"temperature must be 0 (greedy) or at least {MIN_TEMPERATURE}")
        if request.max_new_tokens > self.settings.max_new_tokens:
            raise InvalidInputError(f"max_new_tokens is limited to {self.settings.max_new_tokens}")
        with self._lock(model):
            lm = self._model(model)
            self._check_text(lm, request.prompt)
            vector = resolve_vector(lm, request.vector, request.layers, allow_files=False)
            layers = request.layers or steer_layers(vector, lm.adapter.n_layers)
            text = chat_prompt(lm.tokenizer, request.prompt) if request.chat else request.prompt
            kwargs = {
                "max_new_tokens": request.max_new_tokens,
                "temperature": request.temperature,
                "seed": request.seed,
            }
            plain = generate(lm, text, **kwargs)[0]  # type: ignore[arg-type]
            steered = generate(
                lm,
                text,
                vector,
                request.coefficient,
                layers=layers,
                positions=request.positions,
                **kwargs,
            )[0]  # type: ignore[arg-type]
        return SteerResult(
            model=model,
            vector=vector.info,
            coefficient=request.coefficient,
            layers=layers,
            plain=plain,
            steered=steered,
        )
