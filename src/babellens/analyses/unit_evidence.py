"""Evidence a newcomer can check that a next-token neuron does what its weights say.

A neuron's congruence says which tokens it *would* promote; its scan examples say where it
*does* fire. When the two agree, the token that actually follows its strongest contexts is one it
promotes. :func:`followed_fraction` counts that over its top examples; the same count for a
random neuron of the same layer (with its own promoted tokens) is the control. The demo features
the neuron with the best evidence, not merely the highest congruence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

__all__ = ["FollowEvidence", "followed_fraction"]


class FollowEvidence(BaseModel):
    layer: int
    neuron: int
    followed: int = Field(description="Top examples whose next token is one the neuron promotes")
    examples: int = Field(description="Top examples that have a next token in their window")
    promoted: list[int] = Field(description="The promoted token ids that were looked for")
    congruence: float

    @property
    def fraction(self) -> float:
        return self.followed / self.examples if self.examples else 0.0


def followed_fraction(
    examples: Iterable[tuple[Sequence[int], int]], promoted: set[int]
) -> tuple[int, int]:
    """(examples followed by a promoted token, examples with a next token at all).

    ``examples``: (window token ids, position of the neuron's maximum) per top example; an example
    whose maximum is the window's last token has no next token and is left out.
    """
    followed = counted = 0
    for token_ids, position in examples:
        if position + 1 >= len(token_ids):
            continue
        counted += 1
        followed += token_ids[position + 1] in promoted
    return followed, counted
