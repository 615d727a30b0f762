"""Jobs from the web: start, follow over server-sent events, cancel; access control."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from babellens.errors import InvalidInputError
from babellens.store import JobStore
from babellens.web import WebSettings, create_app


@pytest.fixture(scope="module")
def roots_client(scanned):
    settings = WebSettings(db=scanned.db.url, model_roots=[str(scanned.root)])
    with TestClient(create_app(settings, scanned.db)) as c:
        yield c


def _events(client, job_id: int) -> list[tuple[str, str]]:
    events, name = [], None
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, line.removeprefix("data: ")))
    return events


def test_a_job_started_from_the_web_runs_and_streams_its_progress(roots_client, scanned):
    corpus = str(scanned.root / "corpus.jsonl")
    answer = roots_client.post(
        "/api/jobs", json={"model": scanned.model, "corpus": corpus, "max_tokens": 200}
    )
    assert answer.status_code == 201, answer.text
    job = answer.json()
    assert job["status"] == "queued" and job["params"]["max_tokens"] == 200
    events = _events(roots_client, job["id"])
    assert events[-1] == ("end", "done")
    progress = [json.loads(data) for name, data in events if name == "progress"]
    last = progress[-1]
    assert last["status"] == "done" and last["done"] == last["total"] >= 200
    assert roots_client.get(f"/jobs/{job['id']}.json").json()["summary"]["tokens"] == last["total"]
    assert "Open " in roots_client.get(f"/jobs/{job['id']}").text


def test_cancel_a_queued_job(roots_client, scanned):
    queued = JobStore(scanned.db).create("scan", scanned.model, {"max_tokens": 10})
    answer = roots_client.post(f"/api/jobs/{queued.id}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    again = roots_client.post(f"/api/jobs/{queued.id}/cancel")
    assert again.status_code == 400 and "already cancelled" in again.json()["error"]
    assert roots_client.post("/api/jobs/99999/cancel").status_code == 404
    assert roots_client.get("/api/jobs/99999/events").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "/etc/passwd"}, 400, "BABELLENS_MODEL_ROOTS"),
        ({"model": "../../secret/model"}, 400, "BABELLENS_MODEL_ROOTS"),
        ({"model": "smollm2-135m", "corpus": "/etc/shadow"}, 400, "corpus"),
        ({"model": "smollm2-135m", "max_tokens": 0}, 422, "max_tokens"),
        ({"model": "smollm2-135m", "max_tokens": 10**12}, 400, "limited"),
        ({"model": "smollm2-135m", "kind": "rm -rf"}, 422, "kind"),
        ({"model": ""}, 422, "model"),
    ],
)
def test_job_requests_are_checked(client, body, status, words):
    answer = client.post("/api/jobs", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


def test_beyond_loopback_mutating_routes_need_the_token(scanned):
    with pytest.raises(InvalidInputError, match="BABELLENS_TOKEN"):
        WebSettings.from_env(host="0.0.0.0")
    settings = WebSettings(db=scanned.db.url, host="0.0.0.0", token="s3cret")
    with TestClient(create_app(settings, scanned.db)) as c:
        body = {"model": "smollm2-135m", "kind": "scan", "max_tokens": 0}
        assert c.post("/api/jobs", json={**body, "max_tokens": 5}).status_code == 401
        wrong = c.post(
            "/api/jobs", json={**body, "max_tokens": 5}, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401 and "access token" in wrong.json()["error"]
        job = JobStore(scanned.db).create("scan", "smollm2-135m", {"max_tokens": 5})
        assert c.post(f"/api/jobs/{job.id}/cancel").status_code == 401
        ok = c.post(f"/api/jobs/{job.id}/cancel", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert c.get("/index.json").json()["auth_required"] is True  # reading stays open
        assert 'name="token"' in c.get("/").text


def test_a_running_job_does_not_block_pages_or_live_queries(roots_client, scanned):
    """A job kind that holds its thread until released: everything else must still answer."""
    import threading

    from babellens.jobs.registry import JOB_KINDS, job_kind

    started, release = threading.Event(), threading.Event()

    @job_kind("_test_blocking")
    def _blocking(ctx):
        ctx.progress(1, 2)
        started.set()
        assert release.wait(60)
        ctx.progress(2, 2)
        return {}

    try:
        job = JobStore(scanned.db).create("_test_blocking", scanned.model, {})
        roots_client.app.state.runner.submit(job.id)
        assert started.wait(30)
        assert roots_client.get("/").status_code == 200
        listed = roots_client.get("/jobs.json").json()["jobs"]
        assert next(j for j in listed if j["id"] == job.id)["status"] == "running"
        live = roots_client.post(
            f"/api/models/{scanned.slug}/top-neurons", json={"text": "abc", "layer": 0}
        )
        assert live.status_code == 200
        release.set()
        assert [e for e in _events(roots_client, job.id) if e[0] == "end"] == [("end", "done")]
    finally:
        release.set()
        JOB_KINDS.pop("_test_blocking", None)


def test_cross_site_posts_and_foreign_hosts_are_refused(client, scanned):
    job = JobStore(scanned.db).create("scan", scanned.model, {"max_tokens": 10})
    forged = client.post(f"/api/jobs/{job.id}/cancel", headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and "cross-site" in forged.json()["error"]
    assert client.post(f"/api/jobs/{job.id}/cancel", headers={"Origin": "null"}).status_code == 403
    rebound = client.get("/index.json", headers={"Host": "evil.example:8000"})
    assert rebound.status_code == 400 and "unknown host" in rebound.json()["error"]
    same = client.post(f"/api/jobs/{job.id}/cancel", headers={"Origin": "http://testserver"})
    assert same.status_code == 200


@pytest.mark.parametrize("model", ["~nosuchuser/m", "a\u0000b", "../../etc"])
def test_odd_paths_are_refused_not_crashed(client, model):
    answer = client.post("/api/jobs", json={"model": model})
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("corpus", ["hf:/home/alice/private", "hf:../x", "hf:~/data"])
def test_hf_corpora_must_be_dataset_names(client, corpus):
    answer = client.post("/api/jobs", json={"model": "smollm2-135m", "corpus": corpus})
    assert answer.status_code == 400 and "corpus" in answer.json()["error"]


def test_a_non_ascii_token_is_a_401_not_a_crash(scanned):
    settings = WebSettings(db=scanned.db.url, host="0.0.0.0", token="s3cret")
    with TestClient(create_app(settings, scanned.db)) as c:
        answer = c.post(
            "/api/jobs",
            json={"model": "smollm2-135m"},
            headers={"Authorization": "Bearer é".encode("latin-1")},
        )
        assert answer.status_code == 401


@pytest.mark.parametrize(
    ("body", "words"),
    [
        # what the first version answered 201 to, silently running k=20 and 20,000 tokens
        ({"kind": "scan", "model": "smollm2-135m", "params": {"k": -5, "max_tokens": 300}}, "k:"),
        ({"kind": "scan", "model": "smollm2-135m", "params": {"top_k": 5}}, "top_k"),
        ({"kind": "steering_eval", "model": "smollm2-135m", "params": {"prompts": 0}}, "prompts"),
        ({"kind": "scan", "model": "smollm2-135m", "params": {}, "speed": "max"}, "speed"),
        ({"kind": "no_such_kind", "model": "smollm2-135m"}, "no_such_kind"),
        ({"kind": "dict_train", "model": "smollm2-135m", "params": {"device": "gpu"}}, "device"),
    ],
)
def test_job_parameters_are_validated_by_the_kinds_model(client, body, words):
    answer = client.post("/api/jobs", json=body)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["error"]


def test_paths_in_any_kinds_parameters_must_lie_under_the_roots(client):
    body = {"kind": "safety", "model": "smollm2-135m", "params": {"data_dir": "/etc"}}
    answer = client.post("/api/jobs", json=body)
    assert answer.status_code == 400 and "data_dir" in answer.json()["error"]
    body = {"kind": "dict_train", "model": "smollm2-135m", "params": {"corpus": "/etc/shadow"}}
    answer = client.post("/api/jobs", json=body)
    assert answer.status_code == 400 and "corpus" in answer.json()["error"]


def test_a_job_stores_the_parameters_its_kind_will_read(client):
    from babellens.analyses.neuron_scan.scan import ScanConfig

    params = {"k": 5, "max_tokens": 300, "layers": [0, 1]}
    answer = client.post(
        "/api/jobs", json={"kind": "scan", "model": "smollm2-135m", "params": params}
    )
    assert answer.status_code == 201, answer.text
    client.post(f"/api/jobs/{answer.json()['id']}/cancel")
    assert answer.json()["params"] == ScanConfig(**params).model_dump(mode="json")
    twice = client.post(
        "/api/jobs",
        json={"kind": "scan", "model": "smollm2-135m", "params": {"k": 5}, "max_tokens": 300},
    )
    assert twice.status_code == 201 and twice.json()["params"]["max_tokens"] == 300
    client.post(f"/api/jobs/{twice.json()['id']}/cancel")
    clash = client.post(
        "/api/jobs",
        json={"model": "smollm2-135m", "params": {"max_tokens": 5}, "max_tokens": 300},
    )
    assert clash.status_code == 400 and "twice" in clash.json()["error"]


def test_job_kinds_list_every_kind_with_its_parameter_schema(client):
    from babellens.jobs.registry import job_kind_spec, job_kinds

    kinds = {k["name"]: k for k in client.get("/api/job-kinds").json()["kinds"]}
    assert set(kinds) == set(job_kinds()) >= {"scan", "next_token_neurons", "steering_eval"}
    scan = kinds["scan"]
    assert scan["web"] is True
    assert scan["params_schema"] == job_kind_spec("scan").params.model_json_schema()
    assert scan["params_schema"]["properties"]["k"]["minimum"] == 1
    assert scan["params_schema"]["additionalProperties"] is False
    assert kinds["lookups"]["web"] is False
    refused = client.post("/api/jobs", json={"kind": "lookups", "model": "smollm2-135m"})
    assert refused.status_code == 400 and "own page or the CLI" in refused.json()["error"]
