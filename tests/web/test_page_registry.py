"""Pages are one extension point: every registered page answers in HTML and as its JSON twin,
and every chart on them carries its text alternative with the page model's numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from babellens.web import PAGES

from .every_page import every_page
from .html_probe import PageProbe

TEMPLATES = Path(__file__).parents[2] / "src" / "babellens" / "web" / "templates"
CHART_PAGES = {
    "/models/{slug}": {"layer-chart"},
    "/models/{slug}/layers/{layer}/neurons/{neuron}": {"histogram"},
    "/dictionaries/{dict_id}/features/{index}": {"histogram"},
    "/steering/evaluations/{job_id}": {"dose-chart", "cost-chart", "sweep-chart", "effects-chart"},
    "/lookups/{job_id}": {"lookups-scores", "lookups-drops", "lookups-relative-drops"},
    "/crossling/{job_id}": {
        "transfer-chart",
        "rates-chart",
        "sim-chart",
        "control-chart",
        "sim-layers-chart",
        "steer-chart",
        "lens-chart",
    },
}


@pytest.fixture(scope="module")
def urls(scanned) -> dict[str, str]:
    return every_page(scanned)


def _twin(info, url: str) -> str:
    path, _, query = url.partition("?")
    twin = f"{path}.json" if info.json_path == f"{info.path}.json" else info.json_path
    return f"{twin}?{query}" if query else twin


def test_the_registry_lists_every_page_with_its_template_and_model():
    assert {"home", "model", "layer", "neuron", "evaluation_page", "graph_page"} <= set(PAGES)
    home = PAGES.lookup("home")
    assert (home.path, home.json_path, home.template) == ("/", "/index.json", "home.html")
    for info in PAGES.values():
        assert (TEMPLATES / info.template).is_file(), info.name
        assert info.model.model_json_schema()["type"] == "object", info.name


def test_every_registered_page_answers_html_and_its_json_twin(client, urls):
    assert {info.path for info in PAGES.values()} == set(urls)  # a new page needs an address here
    for info in PAGES.values():
        url = urls[info.path]
        html = client.get(url)
        assert html.status_code == 200, (url, html.text[:300])
        assert html.headers["content-type"].startswith("text/html")
        twin = client.get(_twin(info, url))
        assert twin.status_code == 200 and twin.headers["content-type"] == "application/json", url
        asked = client.get(url, headers={"Accept": "application/json"})
        assert asked.json() == twin.json(), url
        assert set(twin.json()) == set(info.model.model_fields), url  # the registered model


def _same(cell: str, value: float | str | None) -> bool:
    """A table cell's exact value (its data-value) against the twin's: labels as text, numbers
    as the same float, a missing value as an empty cell."""
    if value is None:
        return cell == ""
    if isinstance(value, str):
        return cell == value
    return float(cell) == value


def _check_table(probe: PageProbe, chart: dict) -> None:
    expected = []
    for si, s in enumerate(chart["series"]):
        for i, x in enumerate(s["x"]):
            values = [x, s["y"][i]]
            if any(t["low"] for t in chart["series"]):
                values += [
                    (s["low"] or [None] * len(s["x"]))[i],
                    (s["high"] or [None] * len(s["x"]))[i],
                ]
            expected.append(((str(si), str(i)), values))
    rows = probe.rows(chart["id"])
    assert len(rows) == len(expected) > 0, chart["id"]
    for row, (where, values) in zip(rows, expected, strict=True):
        assert (row["attrs"]["data-series"], row["attrs"]["data-index"]) == where
        assert len(row["values"]) == len(values), (chart["id"], where)
        assert all(map(_same, row["values"], values)), (chart["id"], where, row, values)


def test_every_chart_has_a_label_and_a_data_table_with_the_models_numbers(client, urls):
    drawn = {}
    for path, url in urls.items():
        page = client.get(_twin(next(i for i in PAGES.values() if i.path == path), url)).json()
        probe = PageProbe(client.get(url).text)
        charts = page.get("charts", []) if isinstance(page, dict) else []
        drawn[path] = {c["id"] for c in charts}
        for chart in charts:
            _, attrs = probe.by_id(chart["id"])
            assert attrs["role"] == "img" and chart["summary"] in attrs["aria-label"], chart["id"]
            _check_table(probe, chart)
        for tag, attrs in probe.elements:  # no drawing surface without its alternative
            if tag in ("svg", "canvas") or "chart" in attrs.get("class", "").split():
                assert attrs.get("role") == "img" and attrs.get("aria-label"), (url, attrs)
    assert {p: ids for p, ids in drawn.items() if ids} == CHART_PAGES


def test_the_graph_lists_its_nodes_with_their_influence(client, urls):
    url = urls["/graphs/{job_id}"]
    graph = client.get(f"{url}.json").json()["graph"]
    probe = PageProbe(client.get(url).text)
    _, svg = probe.by_id("graph-svg")
    assert svg["role"] == "img" and f"{len(graph['nodes'])} nodes" in svg["aria-label"]
    rows = probe.rows("graph-svg")
    assert len(rows) == len(graph["nodes"]) > 0
    for row, node in zip(rows, graph["nodes"], strict=True):
        assert _same(row["values"][0], node["influence"]), node["node_id"]


def test_job_progress_bars_say_their_progress(client, scanned):
    probe = PageProbe(client.get(f"/jobs/{scanned.scan_id}").text)
    (bar,) = [a for t, a in probe.elements if "progress" in a.get("class", "").split()]
    job = client.get(f"/jobs/{scanned.scan_id}.json").json()
    assert bar["role"] == "progressbar" and bar["aria-label"] == f"job {job['id']}: done"
    assert (bar["aria-valuenow"], bar["aria-valuemax"]) == (str(job["done"]), str(job["total"]))
