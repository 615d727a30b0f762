"""A graph's transcoders by name: a stored dictionary set's id, or a folder of layer files.

Graphs (an analysis) know nothing of the store; the jobs, the CLI and the web resolve the name a
user gives (``--transcoders 7``, ``dict:7`` or a folder) here, so a set trained with
``babellens dict train MODEL --kind transcoder --layers all`` traces without an export step.
"""

from __future__ import annotations

import re

from babellens.errors import InvalidInputError
from babellens.graphs.transcoders import TranscoderSet, load_transcoder_dir
from babellens.store.database import Database
from babellens.store.dictionaries import DictionaryInfo, DictionaryStore

__all__ = ["load_transcoder_set", "member_of_layer", "stored_set_id"]

_STORED = re.compile(r"^(?:dict:)?(\d+)$")
_MLP_IN = re.compile(r"^mlp_in\.(\d+)$")


def stored_set_id(spec: str) -> int | None:
    """The dictionary id ``spec`` names (``7`` or ``dict:7``), or None for a folder."""
    match = _STORED.match(spec.strip())
    return int(match[1]) if match else None


def load_transcoder_set(db: Database, spec: str) -> TranscoderSet:
    """Layer -> transcoder for ``spec``: a stored set's members keyed by the layer they read."""
    dict_id = stored_set_id(spec)
    if dict_id is None:
        return load_transcoder_dir(spec)
    info = DictionaryStore(db).get(dict_id)
    if info.kind != "transcoder":
        raise InvalidInputError(
            f"dictionary {dict_id} is a {info.kind}, not a transcoder set: "
            "train one with `babellens dict train MODEL --kind transcoder --layers all`"
        )
    members = DictionaryStore(db).load(dict_id)
    layers: TranscoderSet = {}
    for tc in members:
        match = _MLP_IN.match(tc.hook_in)
        if match is None:
            raise InvalidInputError(
                f"dictionary {dict_id} reads {tc.hook_in}, not an MLP input: not a graph transcoder"
            )
        layers[int(match[1])] = tc
    return layers


def member_of_layer(info: DictionaryInfo) -> dict[int, int]:
    """Layer -> the member index that reads its MLP input: how a graph node's layer finds its
    feature page (``?member=``), since a set's members need not be stored in layer order."""
    found = ((m, _MLP_IN.match(hook_in)) for m, (hook_in, _) in enumerate(info.members))
    return {int(match[1]): m for m, match in found if match is not None}
