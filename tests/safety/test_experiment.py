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
