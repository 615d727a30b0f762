"""The graph page in a real browser: it draws, a click shows a node, a pin is saved, and an
intervention shows the replacement and the real model's next tokens side by side; a feature node
of a graph traced through a stored transcoder set opens its feature's dashboard, by mouse and by
keyboard, with a link to the feature's page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from babellens.capture.language_model import load
from babellens.graphs.report import GraphReport
from babellens.graphs.transcoders import save_transcoder_dir
from babellens.jobs import run_job
from babellens.store import JobStore, open_database
from babellens.store.reports import ReportStore
from graphs.fake_transcoders import fake_transcoders
from server_process import served
from tiny_models import save_tiny_folder

from .graph_sets import EXPLANATION, build_set_graph

pytestmark = [pytest.mark.browser]

CHROMIUM = os.environ.get("BABELLENS_CHROMIUM", "/usr/bin/chromium")
IMG = Path(__file__).parents[2] / "docs" / "img"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium to run the browser tests")
    root = tmp_path_factory.mktemp("graphbrowser")
    model = str(save_tiny_folder(root / "tiny", "llama"))
    tcs = str(save_transcoder_dir(fake_transcoders(load(model), width=16), root / "tcs"))
    url = f"sqlite:///{root / 'site.db'}"
    db = open_database(url)
    job = JobStore(db).create("graph", model, {"prompt": "<b>Paris</b> is", "transcoders": tcs})
    assert run_job(db, job.id).status == "done"
    from playwright.sync_api import sync_playwright

    with served(url) as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield {"base": base, "db": db, "job": job.id, "browser": browser}
        browser.close()


def test_open_a_graph_pin_a_node_and_intervene(site) -> None:
    context = site["browser"].new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site['base']}/graphs/{site['job']}")
    page.wait_for_selector("#graph-svg .graph-node")
    report = ReportStore(site["db"]).get(site["job"], GraphReport)
    assert page.locator("#graph-svg .graph-node").count() == len(report.nodes)
    feature = next(n for n in report.nodes if n.feature_type == "cross layer transcoder")
    page.locator(f'[data-node="{feature.node_id}"]').dispatch_event("click")
    page.wait_for_selector("#pin-node")
    assert feature.node_id in page.locator("#graph-svg").inner_html()
    panel = page.locator("#feature-panel")
    assert panel.inner_text() == "no stored dictionary for this graph"  # random transcoders
    assert page.locator("#feature-page-link").count() == 0
    page.click("#pin-node")
    page.wait_for_function(
        f"document.getElementById('pinned-list').textContent.includes('{feature.node_id}')"
    )
    page.fill("#scale", "0")
    page.click("#intervene")
    page.wait_for_function(
        "!document.getElementById('intervention').hidden"
        " || !document.querySelector('#graph-side .form-error').hidden",
        timeout=180_000,
    )
    assert page.locator("#graph-side .form-error").is_hidden(), page.locator(
        "#graph-side .form-error"
    ).inner_text()
    assert page.locator("#replacement-table tr").count() == 6  # header + top 5
    assert page.locator("#real-table tr").count() == 6
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / "graph.png"), full_page=True)
    saved = ReportStore(site["db"]).get(site["job"], GraphReport).qParams
    assert saved.pinnedIds == [feature.node_id]
    assert errors == []
    context.close()


@pytest.fixture(scope="module")
def set_site(site, tmp_path_factory, module_home):
    traced = build_set_graph(tmp_path_factory.mktemp("graphsetbrowser"), "<b>Paris</b> is")
    with served(traced.url) as (base, _):
        yield {"base": base, "traced": traced, "browser": site["browser"]}


def _feature_page(set_site):
    context = set_site["browser"].new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    traced = set_site["traced"]
    page.goto(f"{set_site['base']}/graphs/{traced.job_id}")
    page.wait_for_selector("#graph-svg .graph-node")
    return context, page, errors


def test_a_click_on_a_feature_node_opens_its_dashboard(set_site) -> None:
    context, page, errors = _feature_page(set_site)
    traced = set_site["traced"]
    node = traced.explained
    member = traced.member_of[int(node.layer)]
    href = f"/dictionaries/{traced.dict_id}/features/{node.feature}?member={member}"
    page.locator(f'#graph-svg [data-node="{node.node_id}"]').dispatch_event("click")
    page.wait_for_selector("#feature-panel #feature-page-link")
    panel = page.locator("#feature-panel")
    assert panel.locator("h3").text_content().startswith(f"Feature {node.feature} of dictionary")
    assert f"(mlp_in.{node.layer})" in panel.locator("h3").text_content()
    assert EXPLANATION in panel.text_content()  # as text: the markup in it is not parsed
    assert panel.locator(".feature-explanation i").count() == 0
    assert panel.locator("ol.examples li.example").count() == 4  # the scan kept k=4
    assert page.locator("#feature-page-link").get_attribute("href") == href
    assert page.locator("#node-detail h3", has_text="Strongest inputs").count() == 1
    page.click("#feature-page-link")
    page.wait_for_url(f"**{href}")
    assert page.locator("main h1").inner_text().startswith(f"Feature {node.feature} of dictionary")
    assert errors == []
    context.close()


def test_enter_on_a_node_row_opens_its_dashboard_and_keeps_the_focus(set_site) -> None:
    context, page, errors = _feature_page(set_site)
    traced = set_site["traced"]
    report = ReportStore(traced.db).get(traced.job_id, GraphReport)
    node = [n for n in report.nodes if n.feature_type == "cross layer transcoder"][-1]
    page.click("details.chart-data summary")
    row = page.locator(f'[data-open-node="{node.node_id}"]')
    row.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#feature-panel #feature-page-link")
    member = traced.member_of[int(node.layer)]
    assert page.locator("#feature-page-link").get_attribute("href") == (
        f"/dictionaries/{traced.dict_id}/features/{node.feature}?member={member}"
    )
    assert f"Feature {node.feature} " in page.locator("#feature-panel h3").text_content()
    assert page.evaluate("document.activeElement.dataset.openNode") == node.node_id
    svg_node = page.locator(f'#graph-svg [data-node="{node.node_id}"]')
    assert svg_node.get_attribute("stroke") == "#111"  # the graph marks the node opened
    assert errors == []
    context.close()
