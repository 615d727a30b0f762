"""What an agent can ask BabelLens, as plain functions over the store and the live model queries.

Kept apart from the MCP wiring (:mod:`babellens.agents.server`) so the same tools can be tested
without a protocol and served by another one. Every answer is JSON-ready and carries the web
page's address, so an agent can hand a person a link to what it found. Limits are the web app's
(:class:`~babellens.web.settings.WebSettings`): an agent can ask no more than a browser can.
"""

from __future__ import annotations

from typing import Any

from babellens.autointerp.units import NEURON_SOURCE, UnitRef, dictionary_id_of, parse_unit
from babellens.errors import InvalidInputError, NotFoundError
from babellens.store.database import Database
from babellens.web.live import LiveQueries
from babellens.web.settings import WebSettings
from babellens.web.unit_paths import feature_path, neuron_path, unit_path

__all__ = ["AgentTools"]

_EXAMPLE_CONTEXT = 12


def _example(ex: Any) -> dict[str, Any]:
    """A top example as text, the maximum token between [[ ]] (compact for an agent's context)."""
    lo = max(0, ex.position - _EXAMPLE_CONTEXT)
    hi = min(len(ex.tokens), ex.position + 4)
    parts = [f"[[{t}]]" if i == ex.position else t for i, t in enumerate(ex.tokens[lo:hi], lo)]
    return {"value": round(ex.value, 4), "lang": ex.lang, "text": "".join(parts)}


class AgentTools:
    def __init__(
        self,
        db: Database,
        *,
        settings: WebSettings | None = None,
        allow_jobs: bool = False,
        base_url: str = "http://127.0.0.1:8000",
    ) -> None:
        self.db = db
        self.settings = settings or WebSettings(db=db.url)
        self.live = LiveQueries(self.settings)
        self.allow_jobs = allow_jobs
        self.base_url = base_url.rstrip("/")
        self._runner: Any = None

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _unit_url(self, slug: str, unit: UnitRef) -> str | None:
        """A neuron's page or a dictionary feature's (None for a source no page shows)."""
        path = unit_path(slug, unit)
        return None if path is None else self._url(path)

    def _card(self, model: str):
        from babellens.web.queries import model_card, model_slug

        return model_card(self.db, model_slug(model))

    # ---- reading the store ----------------------------------------------------------------------
    def list_models(self) -> dict[str, Any]:
        from babellens.store.explanations import ExplanationStore
        from babellens.web.queries import model_cards

        store = ExplanationStore(self.db)
        models = [
            {
                "model": c.model,
                "layers": c.n_layers,
                "units_per_layer": c.d_mlp,
                "tokens_scanned": c.tokens,
                "languages": c.languages,
                "explanations": store.count(c.model),
                "url": self._url(f"/models/{c.slug}"),
            }
            for c in model_cards(self.db)
        ]
        return {"models": models}

    def list_units(
        self, model: str, layer: int, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        from babellens.web.queries import layer_page

        card = self._card(model)
        limit = max(1, min(limit, self.settings.max_page_size))
        page = layer_page(
            self.db, card, layer, sort="max", descending=True, offset=offset, limit=limit
        )
        units = [
            {
                "unit": f"{NEURON_SOURCE}/{layer}/{n.neuron}",
                "max": round(n.max, 4),
                "density": round(n.density, 6),
                "explanation": n.explanation,
                "detection": n.detection,
                "detection_random": n.detection_random,
                "url": self._url(neuron_path(card.slug, layer, n.neuron)),
            }
            for n in page.neurons
        ]
        return {
            "model": model,
            "layer": layer,
            "total": page.total,
            "offset": offset,
            "units": units,
        }

    def unit_dashboard(self, model: str, unit: str) -> dict[str, Any]:
        from babellens.store.explanations import ExplanationStore
        from babellens.web.queries import neuron_record

        ref = parse_unit(unit)
        if dictionary_id_of(ref.source) is not None:
            return self._feature_dashboard(model, ref)
        if ref.source != NEURON_SOURCE:
            raise NotFoundError(
                f"only neurons and dictionary features (dict:ID/MEMBER/FEATURE) have dashboards, "
                f"not {ref.source!r}"
            )
        card = self._card(model)
        record = neuron_record(self.db, card, ref.layer, ref.index)
        explanations = ExplanationStore(self.db).for_unit(model, ref)
        return {
            "unit": ref.key,
            "max": round(record.max, 4),
            "mean": round(record.mean, 4),
            "density": round(record.density, 6),
            "top_examples": [_example(e) for e in record.examples[:10]],
            "explanations": [e.model_dump(mode="json", exclude={"record"}) for e in explanations],
            "url": self._url(neuron_path(card.slug, ref.layer, ref.index)),
        }

    def _feature_dashboard(self, model: str, ref: UnitRef) -> dict[str, Any]:
        """A dictionary feature's dashboard: the feature page's record and explanations."""
        from babellens.web.routes.dictionaries import feature

        dict_id = dictionary_id_of(ref.source)
        page = feature(self.db, dict_id, ref.index, member=ref.layer)  # type: ignore[arg-type]
        if page.info.model != model:
            raise NotFoundError(f"dictionary {dict_id} belongs to {page.info.model}, not {model}")
        r = page.record
        return {
            "unit": ref.key,
            "hook_in": page.hook_in,
            "max": None if r is None else round(r.max, 4),
            "mean": None if r is None else round(r.mean, 4),
            "density": None if r is None else round(r.density, 6),
            "top_examples": [] if r is None else [_example(e) for e in r.examples[:10]],
            "promoted": [t.token for t in page.promoted],
            "explanations": [
                e.model_dump(mode="json", exclude={"record"}) for e in page.explanations
            ],
            "url": self._url(feature_path(dict_id, ref.layer, ref.index)),  # type: ignore[arg-type]
        }

    def search(self, model: str, query: str, by: str = "text", limit: int = 10) -> dict[str, Any]:
        from babellens.autointerp.embedding import default_embedder
        from babellens.store.explanation_search import search_explanations
        from babellens.web.queries import model_slug

        if by not in ("text", "meaning"):
            raise InvalidInputError(f"by must be 'text' or 'meaning', got {by!r}")
        embedder = default_embedder() if by == "meaning" else None
        hits = search_explanations(
            self.db, model, query, embedder=embedder, limit=max(1, min(limit, 100))
        )
        slug = model_slug(model)
        return {
            "query": query,
            "by": by,
            "hits": [
                {
                    "unit": h.explanation.unit.key,
                    "explanation": h.explanation.text,
                    "match": h.match,
                    "detection": h.explanation.detection,
                    "detection_random": h.explanation.detection_random,
                    "url": self._unit_url(slug, h.explanation.unit),
                }
                for h in hits
            ],
        }

    # ---- live queries -------------------------------------------------------------------------
    def run_prompt(self, model: str, prompt: str, layer: int, k: int = 5) -> dict[str, Any]:
        return self.live.top_neurons(model, prompt, layer, k).model_dump(mode="json")

    def trace_token(self, model: str, prompt: str, unit: str) -> dict[str, Any]:
        ref = parse_unit(unit)
        if ref.source != NEURON_SOURCE:
            raise InvalidInputError(
                f"only neuron units can be traced here so far, not {ref.source!r}"
            )
        return self.live.neuron(model, prompt, ref.layer, ref.index).model_dump(mode="json")

    def steer(
        self,
        model: str,
        prompt: str,
        vector: str = "caps",
        coefficient: float = 4.0,
        max_new_tokens: int = 32,
    ) -> dict[str, Any]:
        from babellens.web.schemas import SteerRequest

        request = SteerRequest(
            prompt=prompt, vector=vector, coefficient=coefficient, max_new_tokens=max_new_tokens
        )
        return self.live.steer(model, request).model_dump(mode="json")

    # ---- jobs (only with allow_jobs) -----------------------------------------------------------
    def _check_jobs(self) -> None:
        if not self.allow_jobs:
            raise InvalidInputError(
                "jobs are off: start the server with `babellens mcp --allow-jobs`"
            )

    def start_job(
        self, kind: str, model: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        from babellens.jobs.registry import job_kind_spec
        from babellens.jobs.runner import LocalRunner
        from babellens.store.jobs import JobStore

        self._check_jobs()
        validated = job_kind_spec(kind).validate(params or {})
        job = JobStore(self.db).create(kind, model, validated.model_dump(exclude_none=True))
        if self._runner is None:
            self._runner = LocalRunner(self.db)
        self._runner.submit(job.id)
        return {
            "job_id": job.id,
            "kind": kind,
            "status": job.status,
            "url": self._url(f"/jobs/{job.id}"),
        }

    def poll_job(self, job_id: int) -> dict[str, Any]:
        from babellens.store.jobs import JobStore

        self._check_jobs()
        job = JobStore(self.db).get(job_id)
        return {
            "job_id": job.id,
            "kind": job.kind,
            "status": job.status,
            "done": job.done,
            "total": job.total,
            "error": job.error,
            "summary": job.summary,
            "url": self._url(f"/jobs/{job.id}"),
        }

    def close(self) -> None:
        if self._runner is not None:
            self._runner.shutdown(wait=False)
