from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# "auto" means bfloat16 on machines with fast bfloat16: pin it to float32 so every result a test
# compares is the same on any machine (subprocesses inherit it). bfloat16 is tested explicitly.
os.environ.setdefault("BABELLENS_DTYPE", "float32")

from tiny_models import FAMILIES, tiny_model


@pytest.fixture(params=FAMILIES)
def tiny(request: pytest.FixtureRequest):
    return tiny_model(request.param)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> str:
    """A tiny llama saved as a folder with its byte tokenizer, loadable like a user's model."""
    from tiny_models import save_tiny_folder

    return str(save_tiny_folder(tmp_path_factory.mktemp("model") / "tiny", "llama"))


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, request
) -> None:
    """Unit tests never touch the user's cache; integration tests use the real one (models pulled)."""
    if request.node.get_closest_marker("integration") is None:
        home = tmp_path_factory.mktemp("home")
        monkeypatch.setenv("BABELLENS_HOME", str(home))
        monkeypatch.setenv("BABELLENS_DB", f"sqlite:///{home / 'babellens.db'}")


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory):
    """A home for module-scoped fixtures that store files (dictionary weights): they run before
    the per-test isolation above, and once wrote into the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BABELLENS_HOME", str(tmp_path_factory.mktemp("module-home")))
        yield


def _postgres_url() -> str | None:
    import os

    url = os.environ.get("BABELLENS_TEST_POSTGRES")
    if not url and os.environ.get("CI"):
        raise RuntimeError("CI must provide BABELLENS_TEST_POSTGRES (see .ci/run)")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database of each kind (PostgreSQL from BABELLENS_TEST_POSTGRES)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = _postgres_url()
    if not url:
        pytest.skip(
            "set BABELLENS_TEST_POSTGRES=postgresql://user@host/db to run the PostgreSQL tests"
        )
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url
