"""Explanations on the neuron page, in the layer table, and in the model's search."""

from __future__ import annotations

from tests.store.test_explanations import _unit

from babellens.store import JobStore
from babellens.store.explanations import ExplanationStore

HOSTILE = '<img src=x onerror=alert(1)> "marta"'


def _store(scanned) -> None:
    units = [_unit(i) for i in range(4)]
    units[3] = units[3].model_copy(update={"explanation": HOSTILE})
    job = JobStore(scanned.db).create("explain", scanned.model, {})
    ExplanationStore(scanned.db).save(job.id, scanned.model, units)


def test_explanations_show_on_pages_and_search(client, scanned) -> None:
    _store(scanned)
    base = f"/models/{scanned.slug}"
    page = client.get(f"{base}/layers/2/neurons/1.json").json()
    assert [(e["text"], e["detection"], e["detection_random"]) for e in page["explanations"]] == [
        ("the word Paris and other French cities", 0.8, 0.5)
    ]
    html = client.get(f"{base}/layers/2/neurons/3").text
    assert "<img src=x" not in html and "&lt;img src=x" in html
    layer = client.get(f"{base}/layers/2.json?sort=neuron&descending=false").json()
    by_neuron = {n["neuron"]: n for n in layer["neurons"]}
    assert by_neuron[1]["explanation"] == "the word Paris and other French cities"
    assert by_neuron[1]["detection"] == 0.8 and by_neuron[5]["explanation"] is None
    found = client.get(f"{base}/search.json", params={"q": "French", "by": "explanation"}).json()
    assert [(h["layer"], h["neuron"]) for h in found["hits"]] == [(2, 1)]
    none = client.get(f"{base}/search.json", params={"q": "zebra", "by": "explanation"}).json()
    assert none["hits"] == [] and "babellens explain" in none["note"]
    bad = client.get(f"{base}/search.json", params={"q": "??", "by": "explanation"})
    assert bad.status_code == 400
