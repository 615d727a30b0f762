"""The app in a real browser (Playwright driving Debian's Chromium) against ``babellens serve`` on a
small database scanned with the bundled smollm2-135m. Saves the README's screenshots to docs/img/.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from babellens.data.corpus import load_corpus
from babellens.store.schema import NeuronStatRow, ScanWindowRow
from babellens.web.queries import model_slug
from server_process import served

from .conftest import XSS, build_scanned_db

pytestmark = [pytest.mark.integration, pytest.mark.browser]

MODEL = "smollm2-135m"
IMG = Path(__file__).parents[2] / "docs" / "img"
CHROMIUM = os.environ.get("BABELLENS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _chromium() -> str:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("BABELLENS_REQUIRE_BROWSER"):
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (see .ci/run)")
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium to run the browser tests")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    chromium = _chromium()
    root = tmp_path_factory.mktemp("browser")
    corpus = root / "corpus.jsonl"
    docs = load_corpus("babel-mini", split="train").documents
    with corpus.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "xss", "text": XSS, "lang": "html", "split": "train"}) + "\n")
        for doc in docs[::25]:
            fh.write(
                json.dumps({"id": doc.id, "text": doc.text, "lang": doc.lang, "split": "train"})
                + "\n"
            )
    url = f"sqlite:///{root / 'site.db'}"
    db, scan_id, _ = build_scanned_db(
        url, MODEL, str(corpus), token_layers=[28, 29], max_tokens=3000, window_len=64, k=10
    )
    from playwright.sync_api import sync_playwright

    with served(url) as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        yield {
            "base": base,
            "db": db,
            "scan_id": scan_id,
            "browser": browser,
            "slug": model_slug(MODEL),
        }
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
    assert errors == [], errors  # no script error, and no alert() from hostile tokens


def _xss_window(site) -> int:
    with site["db"].session() as s:
        return s.scalar(
            select(ScanWindowRow.window).where(
                ScanWindowRow.job_id == site["scan_id"], ScanWindowRow.doc_id == "xss"
            )
        )


def _shot(pg, name: str) -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(IMG / f"{name}.png"))


def test_home_and_model_pages(site, page):
    page.goto(site["base"] + "/")
    page.wait_for_selector(".card")
    assert MODEL in page.locator(".card h2").first.inner_text()
    _shot(page, "home")
    page.click(".card")
    page.wait_for_selector("#layer-chart .main-svg")  # Plotly drew the layer chart
    assert page.locator("table.table tbody tr").count() == 30
    _shot(page, "model")


def test_neuron_page_shows_highlighted_examples(site, page):
    ranked = httpx.get(
        f"{site['base']}/models/{site['slug']}/layers/29.json?sort=congruence&limit=200"
    ).json()
    xss = _xss_window(site)
    with site["db"].session() as s:  # for the README: a next-token neuron that fired, on prose
        examples = {
            r.neuron: r.examples
            for r in s.scalars(
                select(NeuronStatRow).where(
                    NeuronStatRow.job_id == site["scan_id"], NeuronStatRow.layer == 29
                )
            )
        }
    neuron = next(
        n["neuron"]
        for n in ranked["neurons"]
        if n["max"] > 1 and all(e["window"] != xss for e in examples[n["neuron"]])
    )
    page.goto(f"{site['base']}/models/{site['slug']}/layers/29/neurons/{neuron}")
    page.wait_for_selector("#histogram .main-svg")
    examples = page.locator("li.example")
    assert examples.count() == 10
    top = examples.first.locator(".tok-max")
    assert top.count() == 1
    shade = top.evaluate("el => getComputedStyle(el).backgroundColor")
    assert shade.startswith("rgba(232, 115, 12") or shade.startswith("rgb(232, 115, 12"), shade
    assert float(top.get_attribute("data-act")) > 0
    _shot(page, "neuron")
    page.click("#test-it button")
    page.wait_for_selector("#test-it .result .tok", state="attached")
    assert page.locator("#test-it .result .tok").count() > 3
    page.locator("li.example").first.scroll_into_view_if_needed()
    _shot(page, "neuron-examples")


def test_live_prompt_shows_activations(site, page):
    page.goto(site["base"] + "/live")
    page.fill("textarea[name=text]", "The capital of France is Paris.")
    page.fill("input[name=layer]", "20")
    page.click("#live-form button")
    page.wait_for_selector("#live-result tbody tr", state="attached")
    rows = page.locator("#live-result tbody tr")
    assert rows.count() == 7  # 'The capital of France is Paris.' in smollm2 tokens
    assert rows.nth(5).locator("a.chip").count() == 3
    href = rows.nth(5).locator("a.chip").first.get_attribute("href")
    assert href.startswith(f"/models/{site['slug']}/layers/20/neurons/")
    _shot(page, "live")


def test_hostile_tokens_render_as_text(site, page):
    window = _xss_window(site)
    with site["db"].session() as s:
        rows = s.scalars(
            select(NeuronStatRow).where(
                NeuronStatRow.job_id == site["scan_id"], NeuronStatRow.layer == 0
            )
        ).all()
        row = next(r for r in rows if any(e["window"] == window for e in r.examples))
    page.goto(f"{site['base']}/models/{site['slug']}/layers/0/neurons/{row.neuron}")
    example = page.locator("li.example").filter(has_text="xss").first
    text = example.locator(".tokens-box").inner_text()
    assert "onerror" in text and "alert" in text
    assert page.locator("li.example img").count() == 0
    assert page.locator("main script:not([type]):not([src])").count() == 0
    assert page.evaluate("() => document.querySelectorAll('img[src=x]').length") == 0
    page.locator("#test-it textarea").fill(XSS)
    page.click("#test-it button")
    page.wait_for_selector("#test-it .result .tok", state="attached")
    assert "<img" in page.locator("#test-it .result").inner_text()
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0


def test_steering_playground_and_evaluation(site, page):
    page.goto(site["base"] + "/steering")
    page.fill("#steer-form textarea[name=prompt]", "Describe a quiet morning in a small village.")
    page.locator("#steer-form input[name=coefficient]").fill("1.5")
    page.fill("#steer-form input[name=max_new_tokens]", "24")
    page.click("#steer-form button")
    page.wait_for_selector("#steer-result:not([hidden])", timeout=180_000)
    steered = page.locator("#steer-result .steered").inner_text()
    plain = page.locator("#steer-result .plain").inner_text()
    upper = sum(c.isupper() for c in steered) / max(1, sum(c.isalpha() for c in steered))
    assert upper > 0.5 and steered != plain, (plain, steered)
    _shot(page, "steering")
    body = {
        "model": MODEL,
        "vector": "caps",
        "coefficients": [-1, 0, 0.5, 1, 1.5],
        "prompts": 4,
        "max_new_tokens": 16,
        "layers": [8],
    }
    job = httpx.post(site["base"] + "/api/steering/evaluations", json=body, timeout=30).json()
    page.goto(f"{site['base']}/jobs/{job['id']}")
    page.wait_for_selector("#job .progress[data-status=done]", timeout=300_000)
    page.goto(f"{site['base']}/steering/evaluations/{job['id']}")
    page.wait_for_selector("#dose-chart .main-svg")
    page.wait_for_selector("#effects-chart .main-svg")
    _shot(page, "steering-evaluation")


def test_start_a_job_and_watch_it_finish(site, page):
    """Last: its finished scan becomes the model's latest, which the other pages show."""
    page.goto(site["base"] + "/")
    page.fill("#new-job input[name=model]", MODEL)
    page.fill("#new-job fieldset[data-kind=scan] [data-param=max_tokens]", "256")
    page.click("#new-job button")
    page.wait_for_url("**/jobs/*")
    page.wait_for_selector("#job .progress[data-status=done]", timeout=180_000)
    assert "256/256" in page.locator("#job .progress .label").inner_text()
    assert page.locator(".job-done").is_visible()
    _shot(page, "job")
