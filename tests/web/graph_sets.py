"""A graph traced through a *stored* transcoder set, scanned, with one feature explained.

Shared by the graph page tests and the graph browser test. The set's members are stored in
reverse layer order, so a member index differs from the layer it reads (layers 0 and 2): a link
built from the layer alone would point at the wrong member's feature and the tests would see it.
"""

from __future__ import annotations

from types import SimpleNamespace

from babellens.autointerp.pipeline import ExplainedUnit
from babellens.autointerp.units import UnitRef
from babellens.capture.language_model import load
from babellens.dictionaries.model import SparseDictionary
from babellens.graphs.report import GraphReport
from babellens.jobs import run_job
from babellens.store import JobStore, open_database
from babellens.store.dictionaries import DictionaryStore
from babellens.store.explanations import ExplanationStore
from babellens.store.reports import ReportStore
from graphs.fake_transcoders import fake_transcoders
from tiny_models import save_tiny_folder

from .conftest import write_corpus

EXPLANATION = "<i>capital</i> cities & their countries"


def _as_stored_members(model: str) -> dict[int, SparseDictionary]:
    members = {}
    for layer, fake in fake_transcoders(load(model), width=16).items():
        tc = SparseDictionary(
            fake.d_in,
            fake.width,
            kind="transcoder",
            hook_in=fake.hook_in,
            hook_out=fake.hook_out,
            activation="jumprelu",
        )
        tc.load_state_dict({k: getattr(fake, k) for k in tc.state_dict()})
        members[layer] = tc
    return members


def _explain(db, model: str, dict_id: int, member: int, index: int) -> None:
    jobs = JobStore(db)
    job = jobs.create("explain", model, {})
    unit = ExplainedUnit(
        unit=UnitRef(source=f"dict:{dict_id}", layer=member, index=index),
        explanation=EXPLANATION,
        explainer="tokens",
        judge="keywords",
        scores=[],
        n_activating=3,
        threshold=0.0,
        max_activation=1.0,
        train_examples=[],
        test_examples=[],
        top_tokens=["Paris"],
    )
    ExplanationStore(db).save(job.id, model, [unit])
    jobs.finish(job.id, "done", summary={})


def build_set_graph(root, prompt: str) -> SimpleNamespace:
    """A tiny llama, its stored and scanned transcoder set, and a graph job traced through it."""
    model = str(save_tiny_folder(root / "tiny", "llama"))
    corpus = root / "corpus.jsonl"
    write_corpus(corpus)
    url = f"sqlite:///{root / 'sets.db'}"
    db = open_database(url)
    members = _as_stored_members(model)
    order = sorted(members, reverse=True)  # member m reads layer order[m]
    info = DictionaryStore(db).save([members[la] for la in order], model=model, source="test")
    jobs = JobStore(db)
    scan = jobs.create(
        "dict_scan",
        model,
        {"dictionary_id": info.id, "corpus": str(corpus), "k": 4, "window_len": 24},
    )
    assert run_job(db, scan.id).status == "done"
    graph = jobs.create("graph", model, {"prompt": prompt, "transcoders": str(info.id)})
    assert run_job(db, graph.id).status == "done"
    report = ReportStore(db).get(graph.id, GraphReport)
    explained = next(n for n in report.nodes if n.feature_type == "cross layer transcoder")
    member_of = {layer: m for m, layer in enumerate(order)}
    _explain(db, model, info.id, member_of[int(explained.layer)], explained.feature)
    return SimpleNamespace(
        db=db,
        url=url,
        model=model,
        dict_id=info.id,
        scan_job=scan.id,
        job_id=graph.id,
        members=members,
        member_of=member_of,
        explained=explained,
    )
