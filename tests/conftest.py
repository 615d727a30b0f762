from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import FAMILIES, tiny_model


@pytest.fixture(params=FAMILIES)
def tiny(request: pytest.FixtureRequest):
    return tiny_model(request.param)


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, request
) -> None:
    """Unit tests never touch the user's cache; integration tests use the real one (models pulled)."""
    if request.node.get_closest_marker("integration") is None:
        monkeypatch.setenv("BABELLENS_HOME", str(tmp_path_factory.mktemp("home")))
