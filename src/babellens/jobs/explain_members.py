"""Explain and score the features of one or more dictionary members in one job, member by member.

A per-layer transcoder set is one dictionary id with a member per layer; a job over the whole set
runs, for each member in turn, exactly what a job over that member alone runs (its activations,
then :func:`~babellens.autointerp.pipeline.explain_units` with the same config, so its random
partners are drawn among that member's features), and stores each member's rows as soon as the
member is done. The stored rows are therefore the per-member jobs' rows, and a resumed job skips
the members already stored (member granularity) and resumes the member it was in from that
member's own pipeline checkpoint (batch granularity).

The job's checkpoint holds the finished members' positions and, under its own key, the current
member's pipeline state; progress counts two steps (explained, scored) per unit asked over the
whole set, so a bar moves once across every member rather than restarting at each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from babellens.autointerp.explainers import Explainer
from babellens.autointerp.pipeline import ExplainConfig, ExplainedUnit, explain_units
from babellens.autointerp.scoring import Judge
from babellens.autointerp.units import UnitRef
from babellens.capture.language_model import LanguageModel
from babellens.control import Checkpoint, RunControl, StopRequested
from babellens.data.windows import Window
from babellens.jobs.explain_features import FeatureMember
from babellens.store.database import Database
from babellens.store.explanations import ExplanationStore

__all__ = ["MEMBERS_DONE", "MemberPlan", "explain_members"]

MEMBERS_DONE = "members_done"
"""Checkpoint meta key: positions of the members whose rows are stored."""
_CURRENT = "member"
_STATE = "member_state"
_UNIT = "units"


@dataclass(frozen=True)
class MemberPlan:
    """One member to explain and the units of it that were asked for."""

    member: FeatureMember
    units: list[UnitRef]


@dataclass
class _MemberControl:
    """The job's control as one member's pipeline sees it: only this member's checkpoint, and
    progress as this member's share (``offset`` .. ``offset + span``) of the set's ``total``."""

    control: RunControl
    member: int
    finished: list[int]
    offset: int
    span: int
    total: int
    label: str
    _steps: int = field(default=0)
    """The pipeline's own total (two steps per unit that fires often enough), once it said."""

    def _overall(self, done: int) -> int:
        if self._steps <= 0:
            return self.offset + min(done, self.span)
        return self.offset + done * self.span // self._steps

    def progress(self, done: int, total: int, unit: str = "", message: str = "") -> None:
        # the activations pass counts windows: the bar stays at the member's start meanwhile
        if unit == _UNIT:
            self._steps = total
        overall = self._overall(done) if unit == _UNIT else self.offset
        text = f"{self.label}: {message}" if message else self.label
        self.control.progress(overall, self.total, _UNIT, text)

    def should_stop(self) -> bool:
        return self.control.should_stop()

    def save_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], done: int) -> None:
        wrapped = {MEMBERS_DONE: self.finished, _CURRENT: self.member, _STATE: meta}
        self.control.save_state(tensors, wrapped, self._overall(done))

    def load_state(self) -> Checkpoint | None:
        state = self.control.load_state()
        if state is None or state.meta.get(_CURRENT) != self.member:
            return None
        return Checkpoint(state.tensors, state.meta.get(_STATE, {}), state.done)


def explain_members(
    db: Database,
    job_id: int,
    model: str,
    lm: LanguageModel,
    windows: Sequence[Window],
    plans: Sequence[MemberPlan],
    explainer: Explainer,
    judge: Judge,
    config: ExplainConfig,
    control: RunControl,
) -> list[ExplainedUnit]:
    """Every planned member's explained units, in plan order; each member's rows are stored
    under ``job_id`` when it finishes (members stored by an earlier run are read back)."""
    store = ExplanationStore(db)
    state = control.load_state()
    finished: list[int] = list(state.meta.get(MEMBERS_DONE, [])) if state is not None else []
    total = sum(2 * len(p.units) for p in plans)
    results: list[ExplainedUnit] = []
    offset = 0
    for number, plan in enumerate(plans, start=1):
        position, span = plan.member.member, 2 * len(plan.units)
        if position in finished:
            results.extend(store.of_job(job_id, position))
            offset += span
            continue
        label = f"member {number} of {len(plans)} ({plan.member.hook_in})"
        sub = _MemberControl(control, position, finished, offset, span, total, label)
        activations = plan.member.activations(db, lm, windows, sub)
        explained = explain_units(
            lm, windows, plan.units, explainer, judge, config, sub, activations=activations
        )
        del activations  # one member's activations in memory at a time
        store.save(job_id, model, explained, layer=position)
        results.extend(explained)
        finished.append(position)
        offset += span
        control.save_state({}, {MEMBERS_DONE: finished}, offset)
        control.progress(offset, total, _UNIT, f"{label}: stored {len(explained)} units")
        if control.should_stop() and number < len(plans):
            raise StopRequested
    return results
