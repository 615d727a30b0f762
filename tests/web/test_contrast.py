"""WCAG AA contrast of app.css: text on the backgrounds it is drawn on, in every theme.

The stylesheet is read as it is served: custom properties resolved per theme (every block that
sets ``--bg``), translucent backgrounds composited over the panel, and the ratio computed as
WCAG 2 defines it (relative luminance of linearised sRGB, (L1 + 0.05) / (L2 + 0.05)).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).parents[2] / "src/babellens/web/static/app.css").read_text(encoding="utf-8")
AA = 4.5  # normal-size text; nothing below is large text, so 3:1 never applies

# (foreground selector, background selector) for text that sits on another rule's background;
# a rule that sets both its colour and its background is checked on its own.
INHERITED = [
    ("a", ":root --panel"),
    ("a", ":root --bg"),
    (".muted", ":root --panel"),
    (".muted", ":root --bg"),
    (".muted", ".table th"),
    (".muted", ".intro"),
    ("label", ":root --panel"),
    ("h3", ":root --panel"),
    ("footer", ":root --bg"),
    (".intro summary", ".intro"),
    (".table th a.sorted", ".table th"),
    (".form-error, .error-box, .error-line", ":root --panel"),
    (".form-error, .error-box, .error-line", ".error-box"),
    (".topbar a", ".topbar"),
    ("button", "button.cancel"),
    ("body", ".tok-hot"),
    ("body", ".chip-hot"),
    ("output", ":root --panel"),
]


def _rules(css: str) -> list[tuple[str, dict[str, str]]]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    found = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        decls = dict(
            (k.strip(), v.strip())
            for k, _, v in (d.partition(":") for d in body.split(";"))
            if v.strip()
        )
        found.append((" ".join(selector.split()), decls))
    return found


RULES = _rules(CSS)
THEMES = [decls for _, decls in RULES if "--bg" in decls]


def _var(value: str, theme: dict[str, str]) -> str:
    for _ in range(5):
        value = re.sub(
            r"var\((--[\w-]+)(?:,\s*([^)]*))?\)", lambda m: theme.get(m[1], m[2] or ""), value
        )
    return value


_NESTED = r"\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)"  # up to rgba(var(..), calc(var(..)))
COLOUR = re.compile(rf"#[0-9a-fA-F]{{3,6}}\b|rgba?{_NESTED}|var\(--[\w-]+\)")


def _first_colour(value: str) -> str | None:
    found = COLOUR.search(value)
    return found[0] if found else None


def _rgba(value: str, theme: dict[str, str]) -> tuple[float, float, float, float]:
    # an activation shade scales with the element's --a; check the fullest one (--a = 1)
    value = _var(value.replace("var(--a, 0)", "1"), theme).strip()
    if value.startswith("#"):
        h = value[1:]
        h = "".join(c * 2 for c in h) if len(h) == 3 else h
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0)
    m = re.fullmatch(r"rgba?\(([^)]*(?:\([^)]*\)[^)]*)*)\)", value)
    assert m, f"unreadable colour {value!r}"
    parts = [p.strip() for p in m[1].split(",")]
    alpha = 1.0
    if len(parts) == 4:
        product = re.fullmatch(r"calc\(([\d.]+)\s*\*\s*([\d.]+)\)", parts[3])
        alpha = float(product[1]) * float(product[2]) if product else float(parts[3])
    return (float(parts[0]), float(parts[1]), float(parts[2]), alpha)


def _over(top: tuple, bottom: tuple) -> tuple:
    a = top[3]
    return (*(a * t + (1 - a) * b for t, b in zip(top[:3], bottom[:3], strict=True)), 1.0)


def _luminance(rgb: tuple) -> float:
    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(fg: tuple, bg: tuple) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _decls(selector: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for sel, decls in RULES:
        if sel == selector:
            merged |= decls
    assert merged, f"app.css has no rule {selector!r}"
    return merged


def _background(selector: str, theme: dict[str, str]) -> tuple:
    panel = _rgba(theme["--panel"], theme)
    if selector.startswith(":root "):
        return _rgba(theme[selector.split()[1]], theme)
    if selector in (".tok-hot", ".chip-hot"):  # the fullest activation shade of a token, a chip
        rule = _decls(".tok" if selector == ".tok-hot" else ".chip")
    else:
        rule = _decls(selector)
    value = _first_colour(rule.get("background-color") or rule["background"])
    assert value, f"{selector} has no background colour"
    return _over(_rgba(value, theme), panel)


def _colour(selector: str, theme: dict[str, str]) -> tuple:
    value = _decls(selector).get("color")
    return _rgba(value or theme["--ink"], theme)


def test_the_stylesheet_has_themes_and_rules_to_check():
    assert THEMES and all({"--ink", "--muted", "--panel", "--link"} <= set(t) for t in THEMES)
    own = [s for s, d in RULES if "color" in d and ("background" in d or "background-color" in d)]
    assert {"button", "button.cancel", ".pill", ".tag", ".topbar"} <= set(own)


def test_ratio_matches_the_wcag_examples():
    black, white = (0, 0, 0, 1.0), (255, 255, 255, 1.0)
    assert ratio(black, white) == pytest.approx(21.0)
    assert ratio((118, 118, 118, 1.0), white) == pytest.approx(4.54, abs=0.01)  # #767676


@pytest.mark.parametrize("theme", range(len(THEMES)))
def test_text_meets_aa_on_its_own_background(theme):
    colours = THEMES[theme]
    low = []
    for selector, decls in RULES:
        background = _first_colour(decls.get("background-color") or decls.get("background", ""))
        if "color" not in decls or not background:
            continue
        fg = _rgba(decls["color"], colours)
        bg = _over(_rgba(background, colours), _rgba(colours["--panel"], colours))
        if ratio(fg, bg) < AA:
            low.append((selector, round(ratio(fg, bg), 2)))
    assert low == []


@pytest.mark.parametrize("theme", range(len(THEMES)))
@pytest.mark.parametrize(("fg", "bg"), INHERITED)
def test_text_meets_aa_where_it_is_drawn(theme, fg, bg):
    colours = THEMES[theme]
    assert ratio(_colour(fg, colours), _background(bg, colours)) >= AA
