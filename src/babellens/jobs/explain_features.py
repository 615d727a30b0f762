"""Which dictionary members an ``explain`` job explains, their units, and their activations.

Kept out of :mod:`babellens.jobs.explain_job` so that module only names the choice (neurons or
features) and the pipeline stays one code path for both: a feature job differs from a neuron job
only by its units (``dict:<id>`` sources) and by the activations handed to ``explain_units``.
The checks here need only the store row, so the CLI runs them before it creates a job and a bad
id, model or member costs one line, not a failed job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from babellens.autointerp.activations import LayerActivations
from babellens.autointerp.units import (
    NEURON_SOURCE,
    UnitRef,
    dictionary_id_of,
    dictionary_source,
    parse_unit,
)
from babellens.errors import InvalidInputError
from babellens.store.database import Database
from babellens.store.dictionaries import DictionaryInfo, DictionaryStore

if TYPE_CHECKING:
    from babellens.capture.language_model import LanguageModel
    from babellens.control import RunControl
    from babellens.data.windows import Window

__all__ = ["FeatureMember", "feature_members", "resolve_members"]


def resolve_members(info: DictionaryInfo, member: str | None) -> list[int]:
    """The members' positions: every member when none is named (a set explained whole), else
    the one named by its position (``15``) or its input hook (``mlp_in.15``)."""
    hooks = [hook_in for hook_in, _ in info.members]
    if member is None:
        return list(range(len(hooks)))
    text = member.strip()
    if text.isdigit():
        if int(text) >= len(hooks):
            raise InvalidInputError(
                f"member {text} out of range: dictionary {info.id} has members 0..{len(hooks) - 1}"
                " (omit --member to explain them all)"
            )
        return [int(text)]
    if text not in hooks:
        names = ", ".join(hooks[:8]) + (" ..." if len(hooks) > 8 else "")
        raise InvalidInputError(f"dictionary {info.id} has no member {text!r} (it has {names})")
    return [hooks.index(text)]


@dataclass(frozen=True)
class FeatureMember:
    """One dictionary (or one member of a set) whose features a job explains."""

    info: DictionaryInfo
    member: int

    @property
    def source(self) -> str:
        return dictionary_source(self.info.id)

    def units(self, listed: Sequence[str] | None) -> list[UnitRef]:
        """Every feature, or the listed ones (a feature index, or the unit key ``dict:ID/M/I``)."""
        if listed is None:
            return [
                UnitRef(source=self.source, layer=self.member, index=i) for i in range(self.width)
            ]
        units = [
            UnitRef(source=self.source, layer=self.member, index=int(u.strip()))
            if u.strip().isdigit()
            else parse_unit(u)
            for u in listed
        ]
        for u in units:
            if (u.source, u.layer) != (self.source, self.member) or u.index >= self.width:
                raise InvalidInputError(
                    f"unit {u} is not a feature of member {self.member} of dictionary "
                    f"{self.info.id} (features 0..{self.width - 1})"
                )
        return units

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def hook_in(self) -> str:
        return self.info.members[self.member][0]

    def activations(
        self,
        db: Database,
        lm: LanguageModel,
        windows: Sequence[Window],
        control: RunControl | None = None,
    ) -> dict[int, LayerActivations]:
        """The member's feature activations, keyed as ``explain_units`` looks them up."""
        from babellens.autointerp.feature_activations import collect_feature_activations

        (sd,) = DictionaryStore(db).load(self.info.id, self.hook_in)
        acts = collect_feature_activations(
            lm, sd, windows, source=self.source, member=self.member, control=control
        )
        return {self.member: acts}


def _listed_dictionary(listed: Sequence[str] | None) -> tuple[int, str] | None:
    """The one dictionary and member a list of ``dict:ID/M/I`` units names, if it names one."""
    refs = [parse_unit(u) for u in listed or [] if not u.strip().isdigit()]
    if not refs or {r.source for r in refs} == {NEURON_SOURCE}:
        return None
    named = {(dictionary_id_of(r.source), r.layer) for r in refs}
    dict_id, member = next(iter(named))
    if len(named) != 1 or dict_id is None:
        raise InvalidInputError(
            "explain the features of one dictionary member at a time (and neurons separately): "
            "units of a dictionary read dict:ID/MEMBER/FEATURE"
        )
    return dict_id, str(member)


def feature_members(
    db: Database,
    model: str,
    dictionary: int | None,
    member: str | None,
    units: Sequence[str] | None = None,
) -> list[FeatureMember] | None:
    """The members a job's parameters name (``--dictionary`` with or without ``--member``, or
    ``dict:`` units), checked against the store and the job's model; None for a neuron job.
    Without a member, a set's every member, in order; listed ``dict:`` units pick theirs."""
    named = _listed_dictionary(units)
    if dictionary is None:
        if named is None:
            if member is not None:
                raise InvalidInputError("--member needs --dictionary ID")
            return None
        dictionary, member = named
    elif member is None and named is not None and named[0] == dictionary:
        member = named[1]
    info = DictionaryStore(db).get(dictionary)
    if info.model != model:
        raise InvalidInputError(
            f"dictionary {info.id} was made for {info.model}, not {model}: "
            f"`babellens dict list --model {model}` shows this model's"
        )
    return [FeatureMember(info, m) for m in resolve_members(info, member)]
