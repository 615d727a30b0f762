"""What a context look-up run reuses from earlier jobs: congruence and scan top-k windows.

Implements :class:`babellens.lookups.prompts_data.StoredInputs`, so that the look-ups package
itself never reads the database.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from babellens.analyses.next_token_neurons import NextTokenNeuron
from babellens.lookups.prompts_data import MaxPrompt, Target
from babellens.store.database import Database
from babellens.store.results import ResultStore
from babellens.store.schema import JobRow

__all__ = ["StoredLookupsInputs"]


class StoredLookupsInputs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def token_neurons(
        self, model: str, layers: Sequence[int], d_mlp: int
    ) -> list[NextTokenNeuron] | None:
        """Every neuron's congruence in ``layers`` from the newest finished job, when that job
        folded the final norm in (as the look-ups do) and covers all of them."""
        results = ResultStore(self.db)
        job_id = results.latest_job(model, "next_token_neurons")
        if job_id is None:
            return None
        with self.db.session() as s:
            params = s.get(JobRow, job_id).params  # type: ignore[union-attr]
        if not params.get("fold_final_norm", True):
            return None
        found = [
            n
            for layer in layers
            for n in results.top_token_neurons(job_id, layer, d_mlp, words_only=False)
        ]
        return found if len(found) == d_mlp * len(layers) else None

    def find_scan(
        self,
        model: str,
        *,
        corpus: str,
        split: str,
        window_len: int,
        max_tokens: int | None,
        layers: Sequence[int],
        k: int,
    ) -> int | None:
        """The newest finished scan whose windows and top-k are exactly what this run needs."""
        with self.db.session() as s:
            rows = s.scalars(
                select(JobRow)
                .where(JobRow.model == model, JobRow.kind == "scan", JobRow.status == "done")
                .order_by(JobRow.id.desc())
            ).all()
            for row in rows:
                p = row.params
                if (
                    p.get("corpus") == corpus
                    and p.get("split") == split
                    and p.get("window_len") == window_len
                    and p.get("max_tokens") == max_tokens
                    and int(p.get("k", 0)) >= k
                    and (p.get("layers") is None or set(layers) <= set(p["layers"]))
                ):
                    return row.id
        return None

    def prompts_from_scan(
        self, job_id: int, targets: Sequence[Target], k: int, *, has_bos: bool
    ) -> dict[Target, list[MaxPrompt]]:
        """The scan's top windows of the targets whose top ``k`` it holds exactly, cut at the peak.

        The scan ranks windows by their maximum over every token, BOS included. When none of a
        target's first ``k`` examples peaks at BOS, those windows are exactly the top ``k`` by the
        maximum without BOS (any other window's maximum is no higher); otherwise the target is left
        out, for the targeted pass to compute.
        """
        results = ResultStore(self.db)
        out: dict[Target, list[MaxPrompt]] = {}
        for layer, neuron in targets:
            examples = results.neuron(job_id, layer, neuron, lambda ids: [""] * len(ids)).examples[
                :k
            ]
            if has_bos and any(e.position == 0 for e in examples):
                continue
            out[(layer, neuron)] = [
                MaxPrompt(
                    e.window,
                    e.doc_id,
                    e.lang,
                    e.position,
                    e.value,
                    tuple(e.token_ids[: e.position + 1]),
                )
                for e in examples
            ]
        return out
