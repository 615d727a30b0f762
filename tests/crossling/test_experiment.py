"""The whole cross-lingual experiment on a tiny model: every step, resume, stop, CLI."""

from __future__ import annotations

import json

import pytest

from babellens.control import FileControl, LocalControl
from babellens.crossling import (
    STATE_FILE,
    ExperimentConfig,
    ExperimentStopped,
    LoraConfig,
    RateConfig,
    run_experiment,
    weakest_languages,
)

pytest.importorskip("peft")

TARGETS = ["q_proj", "v_proj", "up_proj", "down_proj", "lm_head"]


def tiny_config(**overrides) -> ExperimentConfig:
    fields = dict(
        train_langs=["en"],
        eval_langs=["en", "de"],
        train_examples=3,
        answer_tokens=4,
        lora=LoraConfig(r=2, alpha=4, steps=3, batch_size=2, target_modules=TARGETS),
        rates=RateConfig(prompts=2, max_new_tokens=4, resamples=50),
        steer_rates=RateConfig(prompts=2, max_new_tokens=3, resamples=50),
        steer_coefficients=[0.0, 2.0],
        vector_pairs=3,
        recover_langs=1,
        logit_lens_targets=["de"],
        logit_lens_words=3,
    )
    return ExperimentConfig(**(fields | overrides))


def test_weakest_languages_ranks_by_transfer_without_the_training_language():
    transfer = {"en": 50.0, "de": 10.0, "ru": -2.0, "fr": 30.0}
    assert weakest_languages(transfer, "en", 2) == ["ru", "de"]
    assert weakest_languages(transfer, "ru", 5) == ["de", "fr", "en"]


def _steps(folder) -> dict:
    """The finished steps in a run folder's checkpoint (results as JSON)."""
    saved = FileControl(path=folder / STATE_FILE).load_state()
    assert saved is not None
    return saved.meta["steps"]


def _labels(labels: list[str]) -> FileControl:
    """A control over the default checkpoint file that records each step's label."""

    def record(done: int, total: int, unit: str, message: str) -> None:
        if unit == "steps" and ":" not in message:  # LoRA steps report "train en: 1/3 steps"
            labels.append(message)

    return FileControl(on_progress=record)


def test_a_tiny_experiment_end_to_end_then_resumed_from_its_cache(model_folder, tmp_path):
    labels: list[str] = []
    control = _labels(labels)
    control.path = tmp_path / STATE_FILE
    report = run_experiment(model_folder, tiny_config(), tmp_path, control)
    assert [c.condition for c in report.conditions] == ["base", "lora-en"]
    base, adapted = report.conditions
    for lang in ("en", "de"):
        assert base.rates[lang].scored and adapted.rates[lang].scored, lang
        assert report.transfer["en"][lang] == pytest.approx(
            adapted.rates[lang].mean - base.rates[lang].mean
        )
    assert (tmp_path / "lora-en" / "adapter_config.json").is_file()
    assert len(report.losses["en"]) == 3 and "train en" in report.timings_s
    sim = report.similarity
    assert sim is not None and sim.langs == ["en", "de"] and sim.layers == [0, 1, 2]
    # dose curves: English vector in en; in de the English and the German one
    assert [(c.lang, c.vector_lang) for c in report.steering] == [
        ("en", "en"),
        ("de", "en"),
        ("de", "de"),
    ]
    de_curves = [c for c in report.steering if c.lang == "de"]
    assert de_curves[0].rates[0] == de_curves[1].rates[0]  # coefficient 0 measured once, shared
    assert [(r.lang, r.vector_lang) for r in report.recovery] == [("de", "en"), ("de", "de")]
    assert report.recovery[0].before == adapted.rates["de"]
    assert report.logit_lens[0].source == "fr" and report.logit_lens[0].target == "de"
    # rates and steering curves are one shared-batch call each for all languages
    assert labels == [
        "base rates",
        "concept vectors en",
        "concept vectors de",
        "steering curves",
        "logit lens fr->de",
        "training data en",
        "train en",
        "lora-en rates",
        "steer lora-en in de",
    ]

    again = run_experiment(model_folder, tiny_config(), tmp_path)  # every step cached: same report
    assert (
        again.model_dump_json() == report.model_dump_json()
    )  # as text: a NaN rate is not == itself

    saved = control.load_state()  # one language of a shared-batch step is missing
    del saved.meta["steps"]["rate-base-de"]
    control.save_state(saved.tensors, saved.meta, saved.done)
    labels.clear()
    partial = run_experiment(model_folder, tiny_config(), tmp_path, control)
    assert "rate-base-de" in _steps(tmp_path) and "base rates" in labels
    en = partial.conditions[0].rates["en"].model_dump_json()
    assert en == report.conditions[0].rates["en"].model_dump_json()  # read, not redone


def test_a_stopped_experiment_resumes_to_the_same_report(model_folder, tmp_path):
    config = tiny_config(eval_langs=["de"], steering=False, vectors=False, logit_lens_targets=[])
    whole = run_experiment(model_folder, config, tmp_path / "whole")
    calls = []
    control = LocalControl(stop=lambda: calls.append(1) or len(calls) > 2)
    with pytest.raises(ExperimentStopped, match="run again to resume"):
        run_experiment(model_folder, config, tmp_path / "part", control)
    assert not (tmp_path / "part" / "lora-en" / "adapter_config.json").exists()
    assert control.load_state() is not None  # the steps done so far
    control.stop = None
    resumed = run_experiment(model_folder, config, tmp_path / "part", control)
    assert resumed.conditions == whole.conditions and resumed.losses == whole.losses


def test_the_cli_runs_the_experiment(model_folder, tmp_path, capsys):
    from cli_runner import run_cli

    code, out, _ = run_cli(
        [
            "crossling",
            "run",
            model_folder,
            "--eval-langs",
            "en",
            "--prompts",
            "1",
            "--steps",
            "1",
            "--train-examples",
            "2",
            "--max-new-tokens",
            "4",
            "--no-vectors",
            "--no-steering",
            "--lens-targets",
            "",
            "--json",
        ],
        capsys,
    )
    assert code == 0 and '"lora-en"' in out
    assert json.loads(out)["config"]["lora"]["steps"] == 1
    code, out, _ = run_cli(["crossling", "report", "1"], capsys)  # the first job in this fresh home
    assert code == 0 and "transfer en" in out and "lora-en" in out
    code, _out, _err = run_cli(["crossling", "report", "999"], capsys)
    assert code == 2
    code, out, _ = run_cli(["crossling", "adapters", "--json"], capsys)
    assert code == 0 and [a["id"] for a in json.loads(out)] == ["crossling-1-en"]


def test_an_adapter_loads_by_id_and_equals_the_folder_it_names(model_folder, tmp_path):
    import torch

    from babellens.crossling import load_with_adapter
    from babellens.errors import InvalidInputError
    from babellens.jobs import run_job
    from babellens.jobs.crossling_adapters import get_adapter, load_adapter
    from babellens.store import JobStore, open_database

    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    config = tiny_config(eval_langs=["de"], steering=False, vectors=False, logit_lens_targets=[])
    job = JobStore(db).create("crossling", model_folder, config.model_dump(mode="json"))
    assert run_job(db, job.id).status == "done"
    info = get_adapter(db, f"crossling-{job.id}-en")
    assert info.model == model_folder and info.steps == 3
    ids = torch.tensor([[5, 6, 7, 8]])
    by_id, by_folder = load_adapter(db, info.id), load_with_adapter(model_folder, info.path)
    with torch.inference_mode():
        assert torch.equal(by_id.model(ids).logits, by_folder.model(ids).logits)
    for bad in ("crossling-999-en", "lora-en", f"crossling-{job.id}-fr"):
        with pytest.raises(InvalidInputError, match="crossling adapters"):
            get_adapter(db, bad)


def test_extend_adds_a_training_language_and_reuses_every_finished_step(
    model_folder, tmp_path, capsys
):
    from babellens.crossling import ExperimentReport
    from babellens.jobs import run_job
    from babellens.store import JobStore, ReportStore, open_database
    from cli_runner import run_cli

    db = open_database()  # the isolated home's database, which the CLI opens too
    config = tiny_config(eval_langs=["en", "de"], logit_lens_targets=[])
    job = JobStore(db).create("crossling", model_folder, config.model_dump(mode="json"))
    first = run_job(db, job.id)
    assert first.status == "done"
    first_report = ReportStore(db).get(job.id, ExperimentReport).model_dump(mode="json")
    timings = first_report["timings_s"]
    assert "train en" in timings
    code, out, _ = run_cli(
        ["crossling", "extend", str(job.id), "--train-lang", "de", "--json"], capsys
    )
    assert code == 0
    report = json.loads(out)
    assert [c["condition"] for c in report["conditions"]] == ["base", "lora-en", "lora-de"]
    assert set(report["transfer"]) == {"en", "de"} and report["config"]["train_langs"] == [
        "en",
        "de",
    ]
    assert report["conditions"][:2] == first_report["conditions"]  # cached, not recomputed
    assert {k: report["timings_s"][k] for k in timings} == timings
    assert "train de" in report["timings_s"]
    code, _, err = run_cli(["crossling", "extend", str(job.id), "--train-lang", "en,de"], capsys)
    assert code == 2 and "already trained en, de" in err
    code, _, err = run_cli(["crossling", "extend", str(job.id), "--train-lang", "xx"], capsys)
    assert code == 2 and "xx" in err
    other = JobStore(db).create("scan", model_folder, {})
    code, _, err = run_cli(["crossling", "extend", str(other.id), "--train-lang", "de"], capsys)
    assert code == 2 and "not a crossling experiment" in err


def _training_file(tmp_path, rows: list[str]):
    path = tmp_path / "caps.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_training_pairs_from_a_users_file(model_folder, tmp_path):
    from babellens.crossling import read_training_file
    from babellens.errors import InvalidInputError

    good = _training_file(
        tmp_path,
        [
            '{"instruction": "Name a colour.", "answer": "RED."}',
            "",
            '{"instruction": "Name a fruit.", "answer": "A PEAR."}',
        ],
    )
    assert read_training_file(good) == [("Name a colour.", "RED."), ("Name a fruit.", "A PEAR.")]
    config = tiny_config(
        eval_langs=["de"],
        steering=False,
        vectors=False,
        logit_lens_targets=[],
        train_files={"en": str(good)},
    )
    report = run_experiment(model_folder, config, tmp_path / "run")
    data = _steps(tmp_path / "run")["data-en"]
    assert [d["completion"] for d in data] == ["RED.", "A PEAR."]
    assert data[0]["prompt"].startswith(
        "Question: Name a colour."
    )  # the plain template: no chat template
    assert len(report.losses["en"]) == 3
    bad = tmp_path / "bad.jsonl"
    for text, message in (
        ('{"instruction": "x"}', "line 1"),
        ("\n\nnot json", "line 3"),
        ("\n", "no training pairs"),
    ):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidInputError, match=message):
            read_training_file(bad)
    with pytest.raises(InvalidInputError, match="no training file"):
        read_training_file(tmp_path / "missing.jsonl")


def test_the_cli_checks_training_files_before_it_starts(model_folder, tmp_path, capsys):
    from cli_runner import run_cli

    good = _training_file(tmp_path, ['{"instruction": "Name a colour.", "answer": "RED."}'])
    base = [
        "crossling",
        "run",
        model_folder,
        "--eval-langs",
        "en",
        "--prompts",
        "1",
        "--steps",
        "1",
        "--max-new-tokens",
        "2",
        "--no-vectors",
        "--no-steering",
        "--lens-targets",
        "",
    ]
    for args, message in (
        (["--train-lang", "en,de", "--train-file", str(good)], "say which language"),
        (["--train-file", f"fr={good}"], "not a training language"),
        (["--train-file", str(tmp_path / "nope.jsonl")], "no training file"),
    ):
        code, _, err = run_cli([*base, *args], capsys)
        assert code == 2 and message in err, err
    code, out, _ = run_cli([*base, "--train-file", f"en={good}", "--json"], capsys)
    assert code == 0 and json.loads(out)["config"]["train_files"] == {"en": str(good.resolve())}
