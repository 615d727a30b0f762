"""Every chart page in a real browser (Chromium) on the tiny store: the chart modules draw each
chart of the page model without a script error, and an activation is reachable by keyboard,
showing on focus the value it shows on hover."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from server_process import served

from .every_page import every_page
from .test_page_registry import CHART_PAGES

pytestmark = [pytest.mark.browser]

CHROMIUM = os.environ.get("BABELLENS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def site(scanned):
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium to run the browser tests")
    urls = every_page(scanned)
    from playwright.sync_api import sync_playwright

    with served(scanned.db.url) as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield {"base": base, "urls": urls, "browser": browser}
        browser.close()


@pytest.fixture
def page(site):
    context = site["browser"].new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield pg
    context.close()
    assert errors == [], errors


@pytest.mark.parametrize("path", sorted(CHART_PAGES))
def test_the_chart_module_draws_every_chart_of_the_page(site, page, path):
    page.goto(site["base"] + site["urls"][path])
    for chart in sorted(CHART_PAGES[path]):
        page.wait_for_selector(f"#{chart} .main-svg", state="attached", timeout=20_000)
        hidden = page.locator(f"#{chart} svg").evaluate_all(
            "svgs => svgs.every((s) => s.getAttribute('aria-hidden') === 'true')"
        )
        assert hidden, chart  # the container is the image; Plotly's layers are not read out
        assert page.locator(f"#{chart}").get_attribute("role") == "img"


def test_tab_reaches_an_activation_and_focus_shows_its_value(site, page):
    page.goto(site["base"] + site["urls"]["/models/{slug}/layers/{layer}/neurons/{neuron}"])
    page.wait_for_selector("li.example .tok")
    for _ in range(300):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('tok')"):
            break
    focused = page.evaluate(
        """() => {
          const el = document.activeElement;
          const after = getComputedStyle(el, "::after");
          return { act: el.dataset.act, shown: after.content, outline: getComputedStyle(el).outlineStyle,
                   inExample: !!el.closest("li.example") };
        }"""
    )
    assert focused["inExample"] and focused["outline"] == "solid", focused
    assert focused["shown"] == f'"{focused["act"]}"'  # the tooltip is the value
    url = site["base"] + site["urls"]["/models/{slug}/layers/{layer}/neurons/{neuron}"]
    first = httpx.get(f"{url}.json").json()["record"]["examples"][0]
    value = first["activations"][max(first["position"] - 40, 0)]  # the example's first token
    assert focused["act"] == f"{value:.4g}"
    page.locator("li.example .tok").first.hover()
    hover = page.locator("li.example .tok").first.evaluate(
        "el => [getComputedStyle(el, '::after').content, el.dataset.act]"
    )
    assert hover[0] == f'"{hover[1]}"'  # hover shows the same value


def test_a_graph_node_opens_from_the_keyboard(site, page):
    page.goto(site["base"] + site["urls"]["/graphs/{job_id}"])
    page.wait_for_selector("#graph-svg .graph-node")
    page.locator("#graph-svg .graph-node").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#node-detail h3")
    assert page.evaluate("document.activeElement.classList.contains('graph-node')")


def test_every_page_loads_its_scripts_without_an_error(site, page):
    """Each page's modules import and run (the page fixture fails on any script error)."""
    for url in site["urls"].values():
        page.goto(site["base"] + url)
        page.wait_for_load_state("networkidle")
        assert page.locator("main h1").count() == 1, url
