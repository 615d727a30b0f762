"""The MCP search tool links every hit to its page: a neuron's, or a dictionary feature's."""

from __future__ import annotations

import pytest
from tests.store.test_explanations import _unit

from babellens.agents.tools import AgentTools
from babellens.autointerp.units import UnitRef, feature_unit
from babellens.errors import NotFoundError
from babellens.store import JobStore, open_database
from babellens.store.dictionaries import DictionaryStore
from babellens.store.explanations import ExplanationStore
from babellens.web.queries import model_slug
from babellens.web.unit_paths import unit_path
from dictionary_fakes import random_dictionary


def test_search_hits_link_neuron_and_feature_pages(tmp_path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'a.db'}")
    model = "org/tiny-model"
    feature = _unit(0).model_copy(update={"unit": feature_unit(7, 3, 11)})
    neuron = _unit(3)
    imported = _unit(1).model_copy(update={"unit": UnitRef(source="sae-x", layer=1, index=2)})
    job = JobStore(db).create("explain", model, {})
    ExplanationStore(db).save(job.id, model, [feature, neuron, imported])
    tools = AgentTools(db, base_url="http://host:9/")
    slug = model_slug(model)
    hits = {h["unit"]: h["url"] for h in tools.search(model, "dates")["hits"]}
    assert hits == {
        "dict:7/3/11": "http://host:9/dictionaries/7/features/11?member=3",
        "neuron/2/3": f"http://host:9/models/{slug}/layers/2/neurons/3",
    }
    paris = tools.search(model, "Paris")["hits"]
    assert [(h["unit"], h["url"]) for h in paris] == [("sae-x/1/2", None)]
    assert unit_path(slug, feature.unit) == "/dictionaries/7/features/11?member=3"


def test_a_feature_dashboard_holds_its_explanations_and_page(tmp_path) -> None:

    db = open_database(f"sqlite:///{tmp_path / 'd.db'}")
    model = "org/tiny-model"
    dict_id = (
        DictionaryStore(db)
        .save([random_dictionary(d_in=8, width=20)], model=model, source="trained")
        .id
    )
    unit = feature_unit(dict_id, 0, 11)
    job = JobStore(db).create("explain", model, {})
    ExplanationStore(db).save(job.id, model, [_unit(2).model_copy(update={"unit": unit})])
    tools = AgentTools(db, base_url="http://host:9")
    dash = tools.unit_dashboard(model, unit.key)
    assert dash["unit"] == f"dict:{dict_id}/0/11" and dash["hook_in"] == "resid_post.1"
    assert [(e["text"], e["detection"], e["detection_random"]) for e in dash["explanations"]] == [
        ("closing brackets in Python code", 0.8, 0.5)
    ]
    assert dash["url"] == f"http://host:9/dictionaries/{dict_id}/features/11?member=0"
    assert dash["max"] is None and dash["top_examples"] == []  # not scanned yet
    with pytest.raises(NotFoundError, match="belongs to org/tiny-model"):
        tools.unit_dashboard("another", unit.key)
    with pytest.raises(NotFoundError, match=r"features 0\.\.19"):
        tools.unit_dashboard(model, f"dict:{dict_id}/0/20")
