"""The cross-lingual report in a real browser: every chart draws, the layer slider redraws the
similarity heatmaps, the launcher and the extend form reject bad languages in place. Saves docs/img/crossling.png.

The report is the stored result of a real run on gemma3-270m when ``tests/data/`` has one (so
the README's screenshot shows real numbers), else the hand-made one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from babellens.crossling import ExperimentReport
from babellens.store import JobStore, open_database
from crossling_reports import finish_with_report, make_report
from server_process import served

from .test_browser import ARGS, IMG, _chromium

pytestmark = [pytest.mark.integration, pytest.mark.browser]

REAL_RUN = Path(__file__).parents[1] / "data" / "crossling-gemma3-270m.json"


@pytest.fixture(scope="module")
def report_site(tmp_path_factory):
    chromium = _chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('crossling') / 'site.db'}"
    db = open_database(url)
    jobs = JobStore(db)
    if REAL_RUN.is_file():
        report = ExperimentReport.model_validate_json(REAL_RUN.read_text(encoding="utf-8"))
    else:
        report = make_report("gemma3-270m")
    job = jobs.create("crossling", report.model, report.config.model_dump(mode="json"))
    finish_with_report(db, job.id, report)
    from playwright.sync_api import sync_playwright

    with served(url) as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        yield {"base": base, "job": job.id, "browser": browser, "report": report}
        browser.close()


def test_report_charts_and_layer_slider(report_site):
    context = report_site["browser"].new_context(viewport={"width": 1280, "height": 1500})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{report_site['base']}/crossling/{report_site['job']}")
    for chart in (
        "transfer-chart",
        "rates-chart",
        "sim-chart",
        "control-chart",
        "steer-chart",
        "lens-chart",
    ):
        page.wait_for_selector(f"#{chart} .main-svg")
    sim = report_site["report"].similarity
    slider = page.locator("#layer-slider")
    slider.fill("0")
    assert page.locator("#layer-value").inner_text() == str(sim.layers[0])
    cell = f"{sim.cosine[sim.layers[0]][0][1]:.2f}"
    assert cell in page.locator("#sim-chart").inner_text()
    slider.fill(str(len(sim.layers) - 1))
    assert page.locator("#layer-value").inner_text() == str(sim.layers[-1])
    slider.fill(str(round(0.3 * (len(sim.layers) - 1))))
    slider.blur()  # the screenshot without the keyboard focus ring
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / "crossling.png"))  # the first screen: transfer, rates, vectors
    trained = report_site["report"].config.train_langs[0]
    page.fill("#extend-form input[name=train_langs]", trained)  # already trained: refused in place
    page.click("#extend-form button")
    page.wait_for_selector("#extend-form .form-error:not([hidden])")
    assert "already trained" in page.locator("#extend-form .form-error").inner_text()
    page.goto(report_site["base"] + "/crossling")
    page.fill("#crossling-form input[name=train_langs]", "xx")
    page.click("#crossling-form button")
    page.wait_for_selector("#crossling-form .form-error:not([hidden])")
    assert "xx" in page.locator("#crossling-form .form-error").inner_text()
    context.close()
    assert errors == [], errors
