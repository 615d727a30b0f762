"""The API schema is the contract: an OpenAPI snapshot guards it, and every setting is documented."""

from __future__ import annotations

import json
import os
from pathlib import Path

from babellens.web import WebSettings

SNAPSHOT = Path(__file__).with_name("openapi_snapshot.json")
DOCS = Path(__file__).parents[2] / "docs" / "web.md"


def test_openapi_schema_matches_the_snapshot(app):
    """Regenerate after an intended change: BABELLENS_UPDATE_SNAPSHOT=1 pytest tests/web/test_schema.py"""
    schema = app.openapi()
    schema["info"].pop("version", None)
    if os.environ.get("BABELLENS_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert schema == json.loads(SNAPSHOT.read_text(encoding="utf-8")), (
        "the API schema changed: if intended, regenerate with BABELLENS_UPDATE_SNAPSHOT=1"
    )


def test_every_setting_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    for name, field in WebSettings.model_fields.items():
        assert f"`{name}`" in text, f"docs/web.md does not document the setting {name}"
        assert f"`BABELLENS_{name.upper()}`" in text
        assert field.description, name


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BABELLENS_PORT", "9001")
    monkeypatch.setenv("BABELLENS_MODEL_ROOTS", "/a,/b")
    settings = WebSettings.from_env(host="localhost")
    assert (settings.port, settings.model_roots, settings.host) == (9001, ["/a", "/b"], "localhost")
    assert WebSettings.from_env(port=8123).port == 8123  # an option beats the environment


def _removed_or_changed(old: object, new: object, path: str = "") -> list[str]:
    """Where ``new`` drops or alters something of ``old`` (keys ``new`` adds are fine)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = [f"removed {path}/{k}" for k in old if k not in new]
        for k in old.keys() & new.keys():
            found += _removed_or_changed(old[k], new[k], f"{path}/{k}")
        return found
    return [] if old == new else [f"changed {path}"]


def test_the_schema_only_grows_from_the_snapshot(app):
    """Between two snapshots the contract may gain paths, models and fields, never lose one."""
    schema = app.openapi()
    schema["info"].pop("version", None)
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert _removed_or_changed(snapshot, schema) == []
    assert _removed_or_changed({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == []
    assert _removed_or_changed({"a": {"b": 1}}, {"a": {"b": 2}}) == ["changed /a/b"]
