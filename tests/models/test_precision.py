"""dtype="auto": bfloat16 exactly where the hardware has fast bfloat16 (detection mocked both ways),
the per-dtype GGUF cache, the job model cache, and the CLI's --dtype."""

from __future__ import annotations

import json

import pytest
import torch
import transformers as tf

from babellens import load
from babellens.errors import InvalidInputError
from babellens.jobs import cached_model, put_model
from babellens.models import convert, loading, precision
from babellens.models.precision import auto_dtype, cpu_has_fast_bfloat16, dtype_name, resolve_dtype
from cli_runner import run_cli
from tiny_models import save_tiny_folder, tiny_lm_with_tokenizer


@pytest.fixture
def unpinned(monkeypatch):
    """The test suite pins auto to float32 (tests/conftest.py); these tests exercise detection."""
    monkeypatch.delenv(precision.DTYPE_ENV, raising=False)
    cpu_has_fast_bfloat16.cache_clear()
    yield
    cpu_has_fast_bfloat16.cache_clear()


@pytest.fixture
def folder(tmp_path):
    return save_tiny_folder(tmp_path / "tiny", "llama")


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        ({"amx_bf16": True, "avx512_bf16": False}, True),
        ({"amx_bf16": False, "avx512_bf16": True}, True),
        ({"amx_bf16": False, "avx512_bf16": False, "avx2": True}, False),
    ],
)
def test_cpu_detection_reads_torch_capabilities(unpinned, monkeypatch, capabilities, expected):
    monkeypatch.setattr(precision, "_torch_cpu_capabilities", lambda: capabilities)
    monkeypatch.setattr(precision, "_cpuinfo_flags", lambda: {"amx_bf16", "avx512_bf16"})
    assert cpu_has_fast_bfloat16() is expected


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu sse2 avx2 avx512f avx512_bf16", True), ("fpu amx_tile amx_bf16", True), ("avx2", False)],
)
def test_cpu_detection_falls_back_to_proc_cpuinfo(unpinned, monkeypatch, tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n")
    read_flags = precision._cpuinfo_flags
    monkeypatch.setattr(precision, "_torch_cpu_capabilities", lambda: None)
    monkeypatch.setattr(precision, "_cpuinfo_flags", lambda: read_flags(cpuinfo))
    assert cpu_has_fast_bfloat16() is expected


def test_auto_follows_the_detection_both_ways(unpinned, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda: True)
    assert auto_dtype("cpu") == torch.bfloat16 and resolve_dtype("auto") == torch.bfloat16
    monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda: False)
    assert auto_dtype("cpu") == torch.float32 and resolve_dtype("auto") == torch.float32
    monkeypatch.setattr(precision, "_cuda_has_bfloat16", lambda: True)
    assert auto_dtype("cuda") == torch.bfloat16
    monkeypatch.setattr(precision, "_cuda_has_bfloat16", lambda: False)
    assert auto_dtype("cuda:0") == torch.float32
    assert auto_dtype("meta") == torch.float32  # no fast path known: float32


def test_env_pins_auto_and_explicit_names_win(unpinned, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda: True)
    monkeypatch.setenv(precision.DTYPE_ENV, "float32")
    assert resolve_dtype("auto") == torch.float32
    assert resolve_dtype("bfloat16") == torch.bfloat16 and resolve_dtype("fp16") == torch.float16
    monkeypatch.setenv(precision.DTYPE_ENV, "float8")
    with pytest.raises(InvalidInputError, match="BABELLENS_DTYPE"):
        resolve_dtype("auto")
    with pytest.raises(InvalidInputError, match="unknown dtype 'int4'"):
        resolve_dtype("int4")
    assert dtype_name(torch.bfloat16) == "bfloat16"


@pytest.mark.parametrize(("fast", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_load_auto_matches_transformers_in_the_chosen_dtype(
    unpinned, monkeypatch, folder, fast, expected
):
    monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda: fast)
    lm = load(folder, dtype="auto")
    assert lm.dtype == expected and lm.summary().dtype == dtype_name(expected)
    plain = tf.AutoModelForCausalLM.from_pretrained(folder, dtype=expected)
    enc = lm.tokenize(["héllo wörld", "ab"])
    with torch.inference_mode():
        want = plain(**enc).logits
    torch.testing.assert_close(lm.run(enc, logits=True).logits, want, atol=0, rtol=0)


def test_library_default_stays_float32(unpinned, monkeypatch, folder):
    monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda: True)
    assert load(folder).dtype == torch.float32


def test_cached_model_resolves_auto_once_per_dtype(unpinned, monkeypatch, folder):
    monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda: True)
    auto = cached_model(str(folder))
    assert auto.dtype == torch.bfloat16 and cached_model(str(folder), dtype="bfloat16") is auto
    fp32 = cached_model(str(folder), dtype="float32")
    assert fp32.dtype == torch.float32 and fp32 is not auto


def test_put_model_answers_auto_under_its_own_dtype(unpinned, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda: True)
    lm = tiny_lm_with_tokenizer("llama")
    lm.name = "tiny-put-model-test"
    put_model(lm)
    assert cached_model(lm.name) is lm and cached_model(lm.name, dtype="float32") is lm


def test_gguf_cache_is_per_dtype_and_cast_from_the_float32_copy(monkeypatch, tmp_path):
    monkeypatch.setenv("BABELLENS_HOME", str(tmp_path / "home"))
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"not read: the conversion is replaced below")
    dequantised = []

    def fake_convert(source, folder):
        dequantised.append(source)
        save_tiny_folder(folder, "qwen2")
        (folder / convert._MARKER).write_text("{}")
        return folder

    monkeypatch.setattr(loading, "convert_gguf", fake_convert)
    bf16_folder = loading._converted(gguf, "tiny", torch.bfloat16)
    fp32_folder = loading._converted(gguf, "tiny", torch.float32)
    assert fp32_folder.name == "tiny" and bf16_folder.name == "tiny-bfloat16"
    assert dequantised == [gguf], "the GGUF is dequantised once, whatever the dtypes asked for"
    marker = json.loads((bf16_folder / convert._MARKER).read_text())
    assert marker["dtype"] == "bfloat16" and convert.is_converted(bf16_folder)
    from safetensors.torch import load_file

    cast = load_file(str(bf16_folder / "model.safetensors"))
    reference = load_file(str(fp32_folder / "model.safetensors"))
    assert cast and all(t.dtype == torch.bfloat16 for t in cast.values())
    for name, tensor in cast.items():
        assert torch.equal(tensor, reference[name].to(torch.bfloat16)), name
    assert loading._converted(gguf, "tiny", torch.bfloat16) == bf16_folder  # cached: no redo


def test_cli_prints_and_reports_the_dtype(unpinned, monkeypatch, folder, capsys):
    monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda: True)
    code, out, _ = run_cli(["info", str(folder), "--json"], capsys)
    assert code == 0 and json.loads(out)["dtype"] == "bfloat16"
    code, out, _ = run_cli(["info", str(folder), "--dtype", "float32", "--json"], capsys)
    assert code == 0 and json.loads(out)["dtype"] == "float32"
    code, _, err = run_cli(["info", str(folder)], capsys)
    assert code == 0 and "bfloat16 (auto: this cpu has fast bfloat16)" in err
    code, _, err = run_cli(["info", str(folder), "--dtype", "float8"], capsys)
    assert code == 2 and "unknown dtype 'float8'" in err
