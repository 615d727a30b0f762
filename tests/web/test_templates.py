"""Rules the templates and scripts keep, read from their text: a unit's address is written only
by the link macros, and no page opens a modal alert()."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).parents[2] / "src" / "babellens" / "web"
TEMPLATES = sorted((WEB / "templates").glob("*.html"))
SCRIPTS = sorted((WEB / "static").rglob("*.js"))
# a neuron's, a feature's or a look-up head's page, written by hand
UNIT_URL = re.compile(r"/neurons/|/features/|/heads/")


def test_templates_link_units_only_through_the_macros():
    assert len(TEMPLATES) > 20
    macros = (WEB / "templates" / "_macros.html").read_text(encoding="utf-8")
    for name in ("neuron_href", "neuron_link", "feature_link", "head_link"):
        assert f"{{% macro {name}(" in macros
    by_hand = [
        f"{t.name}:{i}: {line.strip()}"
        for t in TEMPLATES
        if t.name != "_macros.html"
        for i, line in enumerate(t.read_text(encoding="utf-8").splitlines(), 1)
        if UNIT_URL.search(line)
    ]
    assert by_hand == []


def test_scripts_build_neuron_urls_through_one_helper():
    page_url = re.compile(r"(?<!/api)/models/[^\s\"'`]*/neurons/")  # a page, not an API route
    assert page_url.search((WEB / "static" / "api.js").read_text(encoding="utf-8"))
    for script in SCRIPTS:
        if script.name != "api.js":
            assert not page_url.search(script.read_text(encoding="utf-8")), script.name


def test_no_alert_anywhere():
    call = re.compile(r"(?<![\w.-])alert\s*\(")
    found = [
        f"{f.relative_to(WEB)}:{i}"
        for f in [*TEMPLATES, *SCRIPTS]
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if call.search(line.split("//")[0])
    ]
    assert found == []
