"""Live queries against a plain transformers forward pass, their limits, and 8 at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TEXT = "Der schnelle braune Fuchs"


@pytest.fixture(scope="module")
def plain_mlp_post(scanned):
    """mlp_post of every layer from plain transformers: the input of each down_proj."""
    model = AutoModelForCausalLM.from_pretrained(scanned.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(scanned.model)
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        layer.mlp.down_proj.register_forward_pre_hook(
            lambda _m, args, i=i: seen.__setitem__(i, args[0][0].detach())
        )
        for i, layer in enumerate(model.model.layers)
    ]
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        model(ids)
    for h in hooks:
        h.remove()
    return ids[0].tolist(), seen


def test_top_neurons_match_a_plain_forward_pass(client, scanned, plain_mlp_post):
    ids, acts = plain_mlp_post
    answer = client.post(
        f"/api/models/{scanned.slug}/top-neurons", json={"text": TEXT, "layer": 1, "k": 4}
    )
    assert answer.status_code == 200
    trace = answer.json()
    assert len(trace["tokens"]) == len(ids) and trace["layer"] == 1
    values, indices = acts[1].topk(4, dim=-1)
    for pos, row in enumerate(trace["activations"]):
        assert [n["neuron"] for n in row] == indices[pos].tolist()
        assert [n["activation"] for n in row] == pytest.approx(values[pos].tolist(), abs=1e-5)
    tokenizer = AutoTokenizer.from_pretrained(scanned.model)
    assert "".join(trace["tokens"]) == tokenizer.decode(ids)  # multi-byte characters stay whole


def test_neuron_trace_matches_a_plain_forward_pass(client, scanned, plain_mlp_post):
    _, acts = plain_mlp_post
    answer = client.post(
        f"/api/models/{scanned.slug}/layers/2/neurons/7/trace", json={"text": TEXT}
    )
    assert answer.status_code == 200
    assert answer.json()["activations"] == pytest.approx(acts[2][:, 7].tolist(), abs=1e-5)


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("top-neurons", {"text": TEXT, "layer": 3, "k": 2}, 404, "layers 0..2"),
        ("top-neurons", {"text": TEXT, "layer": 0, "k": 51}, 400, "at most 50"),
        ("top-neurons", {"text": TEXT, "layer": -1, "k": 2}, 422, "layer"),
        ("top-neurons", {"text": "", "layer": 0}, 422, "text"),
        ("top-neurons", {"text": "   ", "layer": 0}, 400, "empty"),
        ("top-neurons", {"text": "x" * 4001, "layer": 0}, 400, "4000"),
        ("top-neurons", {"text": "ab " * 300, "layer": 0}, 400, "512"),
        ("top-neurons", {"layer": 0}, 422, "text"),
        ("layers/0/neurons/999/trace", {"text": TEXT}, 404, "units 0.."),
        ("layers/9/neurons/0/trace", {"text": TEXT}, 404, "layers 0.."),
    ],
)
def test_bad_live_input_gets_a_4xx_with_a_json_error(client, scanned, path, body, status, words):
    answer = client.post(f"/api/models/{scanned.slug}/{path}", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


def test_unknown_models_are_not_loaded(client):
    answer = client.post("/api/models/gpt2/top-neurons", json={"text": "hi", "layer": 0})
    assert answer.status_code == 404 and "no finished scan of gpt2" in answer.json()["error"]


def test_eight_concurrent_live_requests_all_succeed(client, scanned):
    texts = [f"{TEXT} {i}" for i in range(8)]

    def ask(text: str):
        return client.post(
            f"/api/models/{scanned.slug}/top-neurons", json={"text": text, "layer": 2, "k": 3}
        )

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, texts))
    assert [a.status_code for a in answers] == [200] * 8
    alone = ask(texts[5]).json()
    assert answers[5].json() == alone  # serialised passes do not mix prompts
