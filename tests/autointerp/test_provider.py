from __future__ import annotations

import pytest

from babellens.autointerp import (
    PROVIDERS,
    CachedProvider,
    ChatProvider,
    get_provider,
    provider,
    provider_names,
)
from babellens.errors import InvalidInputError

from .fakes import CountingProvider


@pytest.fixture
def fake_kind():
    made: list[tuple[str, dict]] = []
    previous = PROVIDERS.get("fake")  # other tests (lookups) register their own "fake"

    @provider("fake")
    def make(target: str, **options) -> CountingProvider:
        made.append((target, options))
        return CountingProvider(name=f"fake:{target}")

    yield made
    if previous is None:
        PROVIDERS.pop("fake")
    else:
        PROVIDERS["fake"] = previous


def test_builtins_are_registered():
    assert {"openai", "local"} <= set(provider_names())


def test_registered_kind_gets_its_target_and_options(fake_kind, tmp_path):
    p = get_provider("fake:a:b", temperature_cap=1)
    assert isinstance(p, CountingProvider) and isinstance(p, ChatProvider)
    assert fake_kind == [("a:b", {"temperature_cap": 1})]
    cached = get_provider("fake:x", cache_dir=tmp_path / "cache")
    assert isinstance(cached, CachedProvider) and cached.name == "fake:x"
    assert cached.complete([{"role": "user", "content": "q"}]) == "answer to q"
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1


@pytest.mark.parametrize(
    ("spec", "problem"),
    [("nothing", "NAME:TARGET"), ("openai:", "NAME:TARGET"), ("nope:x", "unknown provider 'nope'")],
)
def test_bad_specs_are_clear_errors(spec, problem):
    with pytest.raises(InvalidInputError, match=problem):
        get_provider(spec)


def test_provider_names_are_one_word():
    with pytest.raises(InvalidInputError):
        provider("a:b")
