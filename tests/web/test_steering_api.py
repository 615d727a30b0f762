"""The steering playground endpoint and steering evaluations run as jobs."""

from __future__ import annotations

import json

import pytest

from babellens import steering
from babellens.capture.language_model import load
from babellens.steering import ContrastPair, ContrastSet
from babellens.steering.library import save_vector

from .test_jobs_api import _events

PAIRS = [
    ContrastPair(
        prompt=f"Q: item {i}? A:", positive=f"THING {i} IS HERE", negative=f"thing {i} is here"
    )
    for i in range(5)
]


@pytest.fixture
def shout(scanned):
    lm = load(scanned.model)
    vector = steering.build(
        lm, ContrastSet(name="shout", pairs=PAIRS), layers=[1, 2], read="completion_mean"
    )
    save_vector(vector)
    return vector


def test_playground_zero_coefficient_is_the_plain_generation(client, scanned, shout):
    body = {"prompt": "Tell me a thing", "vector": "shout", "coefficient": 0, "max_new_tokens": 6}
    answer = client.post(f"/api/models/{scanned.slug}/steer", json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["plain"] == result["steered"] and result["layers"] == [1]  # nearest 30% of depth
    strong = client.post(
        f"/api/models/{scanned.slug}/steer", json={**body, "coefficient": 60, "layers": [1]}
    ).json()
    assert (
        strong["plain"] == result["plain"]
        and strong["steered"] != strong["plain"]
        and strong["layers"] == [1]
    )
    page = client.get("/steering.json").json()
    assert [v["name"] for v in page["vectors"][scanned.slug]] == ["shout"]
    assert "caps" in page["concepts"]


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"vector": "telepathy"}, 400, "unknown concept"),
        ({"coefficient": 1e9}, 400, "within ±200"),
        ({"layers": [7]}, 404, "layers 0..2"),
        ({"layers": [0]}, 400, "has layers [1, 2]"),
        ({"max_new_tokens": 1000}, 400, "limited to 128"),
        ({"prompt": ""}, 422, "prompt"),
        ({"positions": "some"}, 422, "positions"),
    ],
)
def test_bad_steering_requests_get_a_4xx(client, scanned, shout, change, status, words):
    body = {"prompt": "hi", "vector": "shout", "coefficient": 1, "max_new_tokens": 2} | change
    answer = client.post(f"/api/models/{scanned.slug}/steer", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


def test_an_evaluation_runs_as_a_job_and_renders_its_curves(client, scanned, shout):
    body = {
        "model": scanned.model,
        "vector": "shout",
        "coefficients": [-3, 3],
        "prompts": 2,
        "max_new_tokens": 4,
    }
    answer = client.post("/api/steering/evaluations", json=body)
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    assert _events(client, job_id)[-1] == ("end", "done")
    page = client.get(f"/steering/evaluations/{job_id}.json").json()
    report = page["report"]
    assert [p["coefficient"] for p in report["dose_response"]] == [-3.0, 0.0, 3.0]
    assert report["vector"]["name"] == "shout" and sorted(report["layer_sweep"]) == ["1", "2"]
    html = client.get(f"/steering/evaluations/{job_id}").text
    data = html.split('id="chart-data">', 1)[1].split("</script>", 1)[0]
    dose = json.loads(data)["charts"][0]
    assert dose["id"] == "dose-chart" and dose["y_label"] == "uppercase_fraction"
    assert dose["series"][0]["y"] == [p["mean"] for p in report["dose_response"]]
    assert client.get(f"/steering/evaluations/{scanned.scan_id}.json").status_code == 404
    assert (
        client.post("/api/steering/evaluations", json={**body, "model": "gpt2"}).status_code == 404
    )


def test_a_concept_is_built_at_its_default_layers_whatever_the_first_request_asks(client, scanned):
    body = {"prompt": "hi", "vector": "caps", "coefficient": 1, "layers": [1], "max_new_tokens": 2}
    assert client.post(f"/api/models/{scanned.slug}/steer", json=body).status_code == 200
    saved = {v["name"]: v for v in client.get("/steering.json").json()["vectors"][scanned.slug]}
    assert saved["caps"]["layers"] == [0, 1]  # default_layers(3): a fifth to half of the depth
    path = {"prompt": "hi", "vector": "/etc/passwd.safetensors", "max_new_tokens": 2}
    answer = client.post(f"/api/models/{scanned.slug}/steer", json=path)
    assert answer.status_code == 400 and "not a path" in answer.json()["error"]
    tiny = client.post(f"/api/models/{scanned.slug}/steer", json={**body, "temperature": 1e-300})
    assert tiny.status_code == 400 and "temperature" in tiny.json()["error"]
