"""The package layers of docs/extending.md, read from the imports (ast), module- and function-level.

A package may import only its own layer and the ones below it, and no two packages may import
each other. There is no exception: a new upward import or cycle fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "babellens"

LAYERS: list[set[str]] = [
    {"errors", "paths", "hub", "registry", "control", "params", "report"},
    {"models"},  # finds, reads and describes a model: loading, specs, adapters, model math
    {"capture"},  # hooks over the adapter, and the LanguageModel handle that runs them
    {"data"},
    {
        "analyses",
        "steering",
        "lookups",
        "crossling",
        "autointerp",
        "dictionaries",
        "graphs",
        "safety",
        "explain",
        "units",
    },
    {"store"},
    {"jobs"},
    {"web", "cli", "bench", "mcp", "agents"},
    {"__init__", "__main__"},
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "babellens" else None


def _imports() -> dict[tuple[str, str], str]:
    edges: dict[tuple[str, str], str] = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        me = parts[1]  # the package, or the top-level module
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = list(parts[: -node.level])
                    targets = [".".join(base + ([node.module] if node.module else []))]
                elif node.module:
                    targets = [node.module]
            for target in targets:
                other = _package(target)
                if other and other != me:
                    edges.setdefault((me, other), str(path.relative_to(SRC)))
    return edges


def test_every_package_has_a_layer():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in SRC.glob("*.py")}
    assert packages - set(RANK) == set()


def test_no_package_imports_a_higher_layer():
    upward = {(a, b): where for (a, b), where in _imports().items() if RANK[b] > RANK[a]}
    assert upward == {}


def test_no_two_packages_import_each_other():
    edges = set(_imports())
    cycles = {tuple(sorted(e)) for e in edges if (e[1], e[0]) in edges}
    assert cycles == set()
