"""A mixture-of-experts model in the web app: its layers' units are (expert, neuron) pairs, the
neuron page says which expert and over how many routed tokens, and the live traces give no
activation (null) where a token went to another expert."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import transformers as tf
from fastapi.testclient import TestClient

from babellens import load
from babellens.web import WebSettings, create_app
from babellens.web.queries import model_slug
from models.tiny_configs import shrunken_config
from tiny_models import byte_tokenizer
from web.conftest import build_scanned_db, write_corpus

TEXT = "Der schnelle braune Fuchs springt"


@pytest.fixture(scope="module")
def moe(tmp_path_factory):
    root = tmp_path_factory.mktemp("moe")
    config = shrunken_config("mixtral")
    config.vocab_size = 259
    torch.manual_seed(0)
    tf.MixtralForCausalLM(config).save_pretrained(root / "mixtral")
    byte_tokenizer().save_pretrained(root / "mixtral")
    model = str(root / "mixtral")
    write_corpus(root / "corpus.jsonl")
    db, _, _ = build_scanned_db(
        f"sqlite:///{root / 'moe.db'}", model, str(root / "corpus.jsonl"), window_len=24, k=4
    )
    lm = load(model)
    with TestClient(create_app(WebSettings(db=db.url), db)) as client:
        yield SimpleNamespace(client=client, slug=model_slug(model), lm=lm)


def _plain_expert_post(lm, layer: int) -> torch.Tensor:
    enc = lm.tokenize(TEXT)
    out = lm.run(enc, capture=[f"expert_post.{layer}"])[f"expert_post.{layer}"][0]
    return out.float().reshape(out.shape[0], -1)


def test_an_expert_units_page_and_its_json_twin(moe):
    a = moe.lm.adapter
    unit = a.n_experts * a.d_expert - 1  # the last expert's last neuron: beyond d_mlp's range
    path = f"/models/{moe.slug}/layers/1/neurons/{unit}"
    record = moe.client.get(f"{path}.json").json()["record"]
    assert (record["expert"], record["expert_neuron"]) == (a.n_experts - 1, a.d_expert - 1)
    assert record["routed_tokens"] == sum(record["histogram"]["counts"]) > 0
    assert any(v is None for ex in record["examples"] for v in ex["activations"])
    page = moe.client.get(path)
    assert page.status_code == 200
    assert f"expert {a.n_experts - 1}, neuron {a.d_expert - 1}" in page.text
    assert "tok-unrouted" in page.text and "of routed tokens" in page.text
    beyond = moe.client.get(f"/models/{moe.slug}/layers/1/neurons/{unit + 1}.json")
    assert beyond.status_code == 404 and f"units 0..{unit}" in beyond.json()["error"]


def test_live_traces_of_expert_units_match_a_plain_capture(moe):
    expected = _plain_expert_post(moe.lm, 1)
    unit = 3
    trace = moe.client.post(
        f"/api/models/{moe.slug}/layers/1/neurons/{unit}/trace", json={"text": TEXT}
    ).json()
    want = [
        None if torch.isnan(v) else pytest.approx(float(v), abs=1e-6) for v in expected[:, unit]
    ]
    assert trace["activations"] == want and None in trace["activations"]
    top = moe.client.post(
        f"/api/models/{moe.slug}/top-neurons", json={"text": TEXT, "layer": 1, "k": 3}
    ).json()
    for row, values in zip(top["activations"], expected, strict=True):
        best = values.nan_to_num(float("-inf")).topk(3)
        assert [c["neuron"] for c in row] == best.indices.tolist()
        assert all(not torch.isnan(values[c["neuron"]]) for c in row)  # routed units only
