"""``babellens crossling report`` prints every section of a stored report."""

from __future__ import annotations

from babellens.store import JobStore, open_database
from cli_runner import run_cli
from crossling_reports import finish_with_report, make_report


def test_report_prints_rates_transfer_similarity_steering_and_recovery(
    tmp_path, capsys, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    monkeypatch.setenv("BABELLENS_DB", url)
    db = open_database(url)
    jobs = JobStore(db)
    report = make_report("tiny")
    job = jobs.create("crossling", "tiny", report.config.model_dump(mode="json"))
    finish_with_report(db, job.id, report)
    code, out, _ = run_cli(["crossling", "report", str(job.id)], capsys)
    assert code == 0
    assert "transfer en" in out and "+34.0" in out  # the transfer row
    assert "lora-en: % in its language" in out and "38" in out  # German answers partly in English
    assert "mean cosine across languages" in out and "0.80" in out and "-0.10" in out  # layer 1
    assert "steering the base" in out and "×0" in out and "70" in out  # the de curve: 6 → 70
    assert "lora-en in de, steered with the en vector ×1: 40.0% → 90.0% (recovered)" in out
    running = jobs.create("crossling", "tiny", {})
    code, _, err = run_cli(["crossling", "report", str(running.id)], capsys)
    assert code == 2 and "resume" in err
