"""Attribution graphs: a prompt's circuit through transcoder features (see docs/graphs.md)."""

from babellens.graphs.attribution import GraphConfig, attribute, estimate_memory_bytes
from babellens.graphs.frozen import FrozenReplacement
from babellens.graphs.graph import AttributionGraph, NodeRef
from babellens.graphs.transcoders import (
    TranscoderLike,
    TranscoderSet,
    check_transcoders,
    load_transcoder_dir,
)

__all__ = [
    "AttributionGraph",
    "FrozenReplacement",
    "GraphConfig",
    "NodeRef",
    "TranscoderLike",
    "TranscoderSet",
    "attribute",
    "check_transcoders",
    "estimate_memory_bytes",
    "load_transcoder_dir",
]
