import pytest

from babellens.control import LocalControl, StopRequested
from babellens.safety import SafetyParams, run_safety
from tiny_models import tiny_lm_with_tokenizer


@pytest.fixture(scope="module")
def lm():
    return tiny_lm_with_tokenizer("llama")


def _params(concept: str) -> SafetyParams:
    return SafetyParams(
        concept=concept,
        langs=["en", "bg"],
        train_items=4,
        test_items=2,
        multipliers=[-2.0, 0.0, 2.0],
        max_new_tokens=3,
        batch_size=4,
        resamples=20,
        neutral_texts=1,
    )


def _comparable(report) -> dict:
    return report.model_dump(exclude={"seconds"})


@pytest.mark.parametrize("concept", ["refusal", "sycophancy"])
def test_kill_and_resume_ends_with_the_uninterrupted_result(lm, concept):
    params = _params(concept)
    uninterrupted = run_safety(lm, params)
    control = LocalControl()
    control.stop = lambda: len(control.messages) >= 3  # stops inside the rows stage
    with pytest.raises(StopRequested):
        run_safety(lm, params, control)
    saved = control.load_state()
    assert saved is not None and saved.done == len(saved.meta["outputs"]) > 0
    control.stop = None
    resumed = run_safety(lm, params, control)
    assert _comparable(resumed) == _comparable(uninterrupted)


def test_report_shapes_and_controls(lm):
    report = run_safety(lm, _params("sycophancy"))
    assert report.kind == "ab" and report.layer in report.layers
    assert set(report.transfer) == {"x-2", "x0", "x2"}
    assert [len(row) for row in report.transfer["x2"]] == [2, 2]
    assert len(report.random["x2"]) == 2
    # multiplier 0 is the unsteered base rate in every row
    assert report.transfer["x0"][1][0] == report.base[0].rate
    for layer in report.layers:
        assert report.cosine[layer][0][0] == pytest.approx(1.0)
        assert report.control[layer][0][1] == pytest.approx(report.control[layer][1][0])
    refusal = run_safety(lm, _params("refusal"))
    assert set(refusal.transfer) == {"ablation", "addition"}
    assert [d.lang for d in refusal.detector] == ["en", "bg"]
    assert all(0.0 <= r.mean <= 100.0 for row in refusal.transfer["ablation"] for r in row)
    assert refusal.base[0].rate.n == 2


def test_the_kl_cost_stage_reports_progress_and_stops_between_passes(lm):
    params = _params("refusal")
    report = run_safety(lm, params)
    seen: list[tuple[int, int, str]] = []
    control = LocalControl(on_progress=lambda d, t, _u, m: seen.append((d, t, m)))
    assert _comparable(run_safety(lm, params, control)) == _comparable(report)
    kl_steps = [s for s in seen if s[2].startswith("KL cost")]
    # 2 conditions x (direction, random control) x 2 languages, counted to the end
    assert [(d, t) for d, t, _ in kl_steps] == [(i, 8) for i in range(1, 9)]
    assert kl_steps[0][2] == "KL cost: ablation, en"
    stopper = LocalControl()
    stopper.stop = lambda: any(m.startswith("KL cost") for m in stopper.messages)
    with pytest.raises(StopRequested):
        run_safety(lm, params, stopper)
    assert sum(m.startswith("KL cost") for m in stopper.messages) == 1
    assert len(report.kl["ablation"]) == len(report.kl_random["addition"]) == 2
