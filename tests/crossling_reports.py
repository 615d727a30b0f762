"""A hand-made experiment report with every section filled, for page and CLI tests."""

from __future__ import annotations

from babellens.analyses.logit_lens import LensLayer, LogitLensResult
from babellens.crossling import (
    BehaviourRate,
    ConceptSimilarity,
    ConditionRates,
    DoseCurve,
    ExperimentConfig,
    ExperimentReport,
    Recovery,
)

XSS = "<img src=x onerror=alert(1)> and </script><script>alert(2)</script>"


def _rate(
    lang: str, mean: float, sample: str = "a sample", in_language: float | None = 100.0
) -> BehaviourRate:
    return BehaviourRate(
        lang=lang,
        mean=mean,
        low=mean - 5,
        high=mean + 5,
        scored=8,
        samples=[sample],
        in_language=in_language,
    )


def make_report(model: str) -> ExperimentReport:
    config = ExperimentConfig(eval_langs=["en", "de"], steer_coefficients=[0.0, 1.0])
    base = {"en": _rate("en", 3.0, XSS), "de": _rate("de", 6.0)}
    tuned = {
        "en": _rate("en", 80.0),
        "de": _rate("de", 40.0, in_language=37.5),
    }  # 5 of 8 in English
    sim = ConceptSimilarity(
        concept="caps",
        langs=["en", "de"],
        layers=[0, 1],
        pairs=4,
        cosine={0: [[1.0, 0.5], [0.5, 1.0]], 1: [[1.0, 0.8], [0.8, 1.0]]},
        control={0: [[1.0, 0.1], [0.1, 1.0]], 1: [[1.0, -0.1], [-0.1, 1.0]]},
        norms={"en": {0: 1.0, 1: 2.0}, "de": {0: 1.5, 1: 2.5}},
    )
    return ExperimentReport(
        model=model,
        config=config,
        conditions=[
            ConditionRates(condition="base", rates=base),
            ConditionRates(condition="lora-en", rates=tuned),
        ],
        transfer={"en": {"en": 77.0, "de": 34.0}},
        adapters={"en": "/tmp/lora-en"},
        losses={"en": [2.0, 1.0]},
        similarity=sim,
        steering=[
            DoseCurve(
                lang="de",
                vector_lang="en",
                layer=1,
                coefficients=[0.0, 1.0],
                rates=[_rate("de", 6.0), _rate("de", 70.0)],
            )
        ],
        recovery=[
            Recovery(
                adapter_lang="en",
                lang="de",
                vector_lang="en",
                coefficient=1.0,
                layer=1,
                before=tuned["de"],
                after=_rate("de", 90.0),
                recovered=True,
            )
        ],
        logit_lens=[
            LogitLensResult(
                model=model,
                source="fr",
                target="de",
                prompts=3,
                skipped=0,
                layers=[LensLayer(layer=0, p_target=0.1, p_english=0.2)],
                example_prompt="x",
            )
        ],
        timings_s={"base rate en": 12.0, "train en": 48.0},
    )


def finish_with_report(db, job_id: int, report) -> None:
    """Store ``report`` for a crossling job and mark it done, as the job does."""
    from babellens.store import JobStore, ReportStore

    ReportStore(db).save(job_id, report, model=report.model)
    JobStore(db).finish(job_id, "done", summary={"conditions": len(report.conditions)})
