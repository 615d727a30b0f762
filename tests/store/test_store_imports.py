"""The store persists what analyses produce and computes nothing: what it imports from the layers
below is the result types it stores (pydantic models, dictionaries as tensors plus config) and
their file formats, never an accumulator, a model run or an embedder (read with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

STORE = Path(__file__).parents[2] / "src" / "babellens" / "store"
FOUNDATIONS = ("errors", "paths", "hub", "registry", "control", "params", "report", "store")

PERSISTED = {
    "babellens.analyses.neuron_scan.histogram": {"bin_edges"},  # the fixed bins of stored counts
    "babellens.analyses.neuron_scan.expert_units": {"unit_parts"},  # stored MoE unit numbering
    "babellens.analyses.next_token_neurons": {"NextTokenNeuron", "TokenScore"},
    "babellens.autointerp.pipeline": {"ExplainedUnit"},
    "babellens.autointerp.units": {"NEURON_SOURCE", "UnitRef"},
    "babellens.data.corpus": {"Corpus"},
    "babellens.data.windows": {"Window"},
    "babellens.dictionaries.model": {"SparseDictionary"},
    "babellens.dictionaries.native": {"load_native", "save_native"},  # safetensors + JSON config
    "babellens.graphs.transcoders": {"TranscoderSet", "load_transcoder_dir"},
    "babellens.lookups.prompts_data": {"MaxPrompt", "Target"},
    "babellens.lookups.report": {"GroupSummary", "LookupsReport"},
}


def _imported() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in STORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("babellens."):
                package = node.module.split(".")[1]
                if package not in FOUNDATIONS:
                    found.setdefault(node.module, set()).update(a.name for a in node.names)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("babellens.") for a in node.names), path
    return found


def test_the_store_imports_only_the_types_it_persists():
    imported = _imported()
    extra = {m: names - PERSISTED.get(m, set()) for m, names in imported.items()}
    assert {m: names for m, names in extra.items() if names} == {}
    assert "babellens.analyses.neuron_scan.accumulator" not in imported  # the example
    assert not any(m.startswith("babellens.autointerp.embedding") for m in imported)
