"""Context look-up pages and their JSON twins, against the stored report."""

from __future__ import annotations

import pytest

from babellens.jobs import run_job
from babellens.store import JobStore
from babellens.store.lookups import LookupsStore
from babellens.web.pages import templates
from lookups_fakes import SCRIPTS, ScriptedProvider, tiny_config, write_corpus

_number = templates.env.filters["num"]  # how the pages print a number
XSS = "<script>alert('x')</script> active on <b>bold</b> text"


@pytest.fixture(scope="module")
def report(scanned):
    SCRIPTS["web"] = ScriptedProvider("web", explanation=XSS)
    corpus = write_corpus(scanned.root / "lookups.jsonl")
    job = JobStore(scanned.db).create(
        "lookups", scanned.model, tiny_config(corpus, explainer="fake:web").model_dump()
    )
    with pytest.MonkeyPatch.context() as mp:  # module scope: the per-test home is not set yet
        mp.setenv("BABELLENS_HOME", str(scanned.root / "home"))
        assert run_job(scanned.db, job.id).status == "done"
    return LookupsStore(scanned.db).get(job.id)


def test_list_page_shows_the_run(client, report):
    data = client.get("/lookups.json").json()
    (row,) = data["reports"]
    assert row["job_id"] == report.job_id and row["neurons"] == len(report.neurons)
    assert row["groups"] == [g.model_dump(mode="json") for g in report.groups]
    html = client.get("/lookups").text
    assert f'href="/lookups/{report.job_id}"' in html and "What am I looking at?" in html


def test_report_page_and_its_twin(client, report):
    twin = client.get(f"/lookups/{report.job_id}.json")
    body = twin.json()
    charts = {c["id"]: c for c in body.pop("charts")}  # the one addition: what the charts plot
    assert twin.status_code == 200 and body == report.model_dump(mode="json")
    scored = [h.score for n in report.neurons for h in n.heads if n.group == "next_token"]
    assert charts["lookups-scores"]["series"][0]["y"] == [s for s in scored if s is not None]
    html = client.get(f"/lookups/{report.job_id}").text
    assert "Explanation scores" in html and "paper: GPT-2 small" in html and "0.650" in html
    for n in report.neurons:
        for h in n.heads:
            assert (
                f"/lookups/{report.job_id}/neurons/{n.layer}/{n.neuron}/heads/{h.layer}/{h.head}"
                in html
            )


def test_head_page_shows_one_pair_escaped(client, report):
    n, h = next((n, h) for n in report.neurons for h in n.heads)
    path = f"/lookups/{report.job_id}/neurons/{n.layer}/{n.neuron}/heads/{h.layer}/{h.head}"
    data = client.get(path + ".json").json()
    assert data["head"] == h.model_dump(mode="json") and data["model"] == report.model
    assert data["neuron"]["layer"] == n.layer and all(
        x["examples"] == [] for x in data["neuron"]["heads"]
    )
    html = client.get(path).text
    assert "<script>alert(" not in html and "&lt;script&gt;alert(" in html
    assert html.count("<tr>") >= len(h.examples)


def test_report_and_head_pages_show_the_ablation_fidelity(client, report):
    """P(token) before, the log-prob and relative drops, and the attribution check, beside the
    absolute drop: on the page, in its chart, and per example on the head page."""
    html = client.get(f"/lookups/{report.job_id}").text
    ablated = [(n, h) for n in report.neurons for h in n.heads if h.attributed_fraction is not None]
    assert ablated and all(h.attributed_fraction == h.active_fraction for _, h in ablated)
    assert f"{len(ablated)} of {len(ablated)} (neuron, head) pairs" in html
    a = report.ablation[0]
    assert a.clean_probability is not None and a.relative_drop_active is not None
    assert f"median {_number(a.clean_probability.median)}" in html
    assert f"median {_number(a.relative_drop_active.median)}" in html
    charts = {c["id"]: c for c in client.get(f"/lookups/{report.job_id}.json").json()["charts"]}
    relative = [
        e.relative_drop
        for n, h in ablated
        if n.group == "next_token"
        for e in h.examples
        if e.active and e.relative_drop is not None
    ]
    assert relative and charts["lookups-relative-drops"]["series"][0]["y"] == relative
    n, h = ablated[0]
    page = client.get(
        f"/lookups/{report.job_id}/neurons/{n.layer}/{n.neuron}/heads/{h.layer}/{h.head}"
    ).text
    train = [e for e in h.examples if e.split == "train"]
    assert train and all(
        f"<td>{_number(e.logprob_drop)}</td><td>{_number(e.relative_drop)}</td>" in page
        for e in train
    )
    assert "ablated head = attribution's pick</span><b>yes</b>" in page


@pytest.mark.parametrize(
    "path",
    [
        "/lookups/999.json",
        "/lookups/{job}/neurons/0/0/heads/0/0.json",
        "/lookups/{scan}.json",
        "/lookups/{job}/neurons/2/0/heads/1/99999.json",
    ],
)
def test_missing_reports_and_pairs_are_404(client, report, scanned, path):
    answer = client.get(path.format(job=report.job_id, scan=scanned.scan_id))
    assert answer.status_code == 404 and answer.json()["error"]
