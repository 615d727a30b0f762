"""The dtype a scan ran in travels from the job (auto resolved to bfloat16 here) to the pages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from babellens.store import JobStore
from babellens.web.app import create_app
from babellens.web.queries import model_slug
from babellens.web.settings import WebSettings
from tiny_models import save_tiny_folder

from .conftest import build_scanned_db, write_corpus


@pytest.fixture(scope="module")
def bf16_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("bf16")
    model = str(save_tiny_folder(root / "tiny", "llama"))
    write_corpus(root / "corpus.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BABELLENS_DTYPE", "bfloat16")  # what auto means on a CPU with AVX-512 BF16
        db, scan_id, _ = build_scanned_db(
            f"sqlite:///{root / 'web.db'}", model, str(root / "corpus.jsonl"), window_len=24, k=4
        )
    app = create_app(WebSettings(db=db.url), db)
    with TestClient(app) as client:
        yield client, db, scan_id, model_slug(model)


def test_scan_job_records_its_dtype_and_the_pages_show_it(bf16_site):
    client, db, scan_id, slug = bf16_site
    job = JobStore(db).get(scan_id)
    assert job.params["dtype"] == "auto" and job.summary["model_summary"]["dtype"] == "bfloat16"
    page = client.get(f"/models/{slug}.json").json()
    assert page["card"]["dtype"] == "bfloat16"
    assert "<b>bfloat16</b>" in client.get(f"/models/{slug}").text
    neuron = client.get(f"/models/{slug}/layers/0/neurons/1.json").json()
    assert neuron["card"]["dtype"] == "bfloat16"
    assert (
        "scanned in</span><b>bfloat16</b>" in client.get(f"/models/{slug}/layers/0/neurons/1").text
    )
