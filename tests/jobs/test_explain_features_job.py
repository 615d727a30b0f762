"""The ``explain`` job over a stored dictionary's features: one stored explanation per feature
under the dictionary's unit source, equal to a direct pipeline call on the same activations, and
one-line refusals for a bad dictionary, model or member."""

from __future__ import annotations

import pytest

from babellens.autointerp.explainers import TokenStatsExplainer
from babellens.autointerp.feature_activations import collect_feature_activations
from babellens.autointerp.pipeline import ExplainConfig, explain_units
from babellens.autointerp.sampling import SamplerConfig
from babellens.autointerp.scoring import KeywordJudge
from babellens.autointerp.units import UnitRef
from babellens.data.corpus import load_corpus
from babellens.data.windows import make_windows
from babellens.errors import InvalidInputError
from babellens.jobs import cached_model, run_job
from babellens.jobs.explain_features import feature_members
from babellens.jobs.explain_job import ExplainParams, resolve_units
from babellens.store import JobStore, open_database
from babellens.store.dictionaries import DictionaryStore
from babellens.store.explanations import ExplanationStore
from dictionary_fakes import random_dictionary
from job_processes import cancel_then_resume

SAMPLER = {"n_train": 10, "n_test": 10, "n_non_activating": 10, "min_examples": 6, "ctx_len": 8}
WIDTH = 12


def _params(corpus: str, **extra) -> dict:
    base = {"corpus": corpus, "corpus_tokens": 4096, "window_len": 48, "batch_units": 4}
    return {**base, "sampler": SAMPLER, **extra}


@pytest.fixture
def stored(model_folder):
    """A single SAE and a two-member set for the tiny model, and one for another model."""
    db = open_database()
    store = DictionaryStore(db)
    single = store.save(
        [random_dictionary(d_in=32, width=WIDTH, k=3, hook_in="resid_post.1", seed=1)],
        model=model_folder,
        source="trained",
    )
    members = [
        random_dictionary(d_in=32, width=WIDTH, k=3, hook_in=f"resid_post.{i}", seed=2 + i)
        for i in range(2)
    ]
    pair = store.save(members, model=model_folder, source="trained")
    other = store.save([random_dictionary(d_in=32)], model="someone-else", source="trained")
    return db, single.id, pair.id, other.id


def _direct(model_folder: str, corpus: str, sd, source: str, member: int):
    """The second implementation: windows, activations and the pipeline called by hand."""
    lm = cached_model(model_folder)
    windows = make_windows(load_corpus(corpus), lm.tokenizer, window_len=48, max_tokens=4096)
    acts = collect_feature_activations(lm, sd, windows, source=source, member=member)
    units = [UnitRef(source=source, layer=member, index=i) for i in range(sd.width)]
    config = ExplainConfig(sampler=SamplerConfig(**SAMPLER), batch_units=4)
    return explain_units(
        lm,
        windows,
        units,
        TokenStatsExplainer(),
        KeywordJudge(),
        config,
        activations={member: acts},
    )


def _scores(unit) -> list[tuple]:
    return [
        (s.score.scorer, s.score.value, s.random.value if s.random else None) for s in unit.scores
    ]


def test_a_dictionary_job_stores_every_feature_equal_to_a_direct_pipeline_call(
    stored, model_folder, corpus_file
) -> None:
    db, single, _, _ = stored
    job = JobStore(db).create("explain", model_folder, _params(corpus_file, dictionary=single))
    done = run_job(db, job.id)
    assert done.status == "done", done.error
    s = done.summary
    assert s["source"] == f"dict:{single}" and s["units"] == WIDTH
    assert s["explained"] + s["skipped"] == WIDTH and s["explained"] > 2
    rows = ExplanationStore(db).for_layer(model_folder, 0, source=f"dict:{single}")
    assert len(rows) == s["explained"]
    assert all(r.unit.source == f"dict:{single}" and r.job_id == job.id for r in rows.values())
    (sd,) = DictionaryStore(db).load(single)
    direct = _direct(model_folder, corpus_file, sd, f"dict:{single}", 0)
    assert sorted(rows) == [u.unit.index for u in direct]
    for unit in direct:
        row = rows[unit.unit.index]
        assert row.text == unit.explanation
        assert row.record["scores"] == [sc.model_dump(mode="json") for sc in unit.scores]
        by_name = dict((name, (value, rand)) for name, value, rand in _scores(unit))
        assert (row.detection, row.detection_random) == by_name["detection"]
        assert (row.fuzzing, row.fuzzing_random) == by_name["fuzzing"]


def test_a_set_member_by_position_or_hook_and_a_feature_list(stored, model_folder) -> None:
    db, _, pair, _ = stored
    (by_position,) = feature_members(db, model_folder, pair, "1")
    (by_hook,) = feature_members(db, model_folder, pair, "resid_post.1")
    assert by_position == by_hook and by_position.member == 1
    whole = feature_members(db, model_folder, pair, None)
    assert [m.member for m in whole] == [0, 1] and whole[1] == by_position
    params = ExplainParams(dictionary=pair, member="1", limit=3)
    units = resolve_units(params, 3, 64, by_position)
    assert [u.key for u in units] == [f"dict:{pair}/1/{i}" for i in range(3)]
    listed = ExplainParams(dictionary=pair, member="1", units=["4", f"dict:{pair}/1/7"])
    assert [u.index for u in resolve_units(listed, 3, 64, by_position)] == [4, 7]
    from_keys = feature_members(db, model_folder, None, None, [f"dict:{pair}/1/7"])
    assert from_keys == [by_position]
    assert feature_members(db, model_folder, pair, None, [f"dict:{pair}/1/7"]) == [by_position]


@pytest.mark.parametrize(
    "args,message",
    [
        ({"dictionary": 999}, "no dictionary 999"),
        ({"dictionary": "other"}, "was made for someone-else"),
        (
            {"dictionary": "pair", "member": "2"},
            "member 2 out of range: dictionary \\d+ has members 0..1",
        ),
        ({"dictionary": "pair", "member": "mlp_in.9"}, "has no member 'mlp_in.9'"),
        ({"member": "1"}, "--member needs --dictionary"),
        ({"units": ["dict:1/0/1", "2/3"]}, "one dictionary member at a time"),
    ],
)
def test_bad_dictionary_input_is_one_line(stored, model_folder, args, message) -> None:
    db, _, pair, other = stored
    names = {"other": other, "pair": pair}
    args = {k: names.get(v, v) if k == "dictionary" else v for k, v in args.items()}
    with pytest.raises(InvalidInputError, match=message) as err:
        feature_members(
            db, model_folder, args.get("dictionary"), args.get("member"), args.get("units")
        )
    assert "\n" not in str(err.value)


def test_a_feature_outside_the_member_or_a_layer_beside_a_dictionary_is_refused(
    stored, model_folder
) -> None:
    db, single, _, _ = stored
    (member,) = feature_members(db, model_folder, single, None)
    with pytest.raises(InvalidInputError, match="not a feature of member 0"):
        resolve_units(ExplainParams(dictionary=single, units=[str(WIDTH)]), 3, 64, member)
    with pytest.raises(InvalidInputError, match="not both"):
        resolve_units(ExplainParams(dictionary=single, layer=1), 3, 64, member)


def test_a_job_with_another_models_dictionary_fails_with_that_line(
    stored, model_folder, corpus_file
) -> None:
    db, _, _, other = stored
    job = JobStore(db).create("explain", model_folder, _params(corpus_file, dictionary=other))
    failed = run_job(db, job.id)
    assert failed.status == "failed" and "was made for someone-else" in failed.error


def _stored_rows(db, job_id: int, source: str) -> list[tuple]:
    model = JobStore(db).get(job_id).model
    return sorted(
        (e.unit.key, e.text, e.detection, e.detection_random, e.fuzzing, e.fuzzing_random)
        for e in ExplanationStore(db).for_layer(model, 0, source).values()
        if e.job_id == job_id
    )


def test_a_cancelled_feature_job_resumes_to_the_uninterrupted_result(
    stored, model_folder, corpus_file, monkeypatch
) -> None:

    db, single, _, _ = stored
    jobs = JobStore(db)
    params = _params(corpus_file, dictionary=single, batch_units=2)
    whole = run_job(db, jobs.create("explain", model_folder, params).id)
    assert whole.status == "done", whole.error
    expected = _stored_rows(db, whole.id, f"dict:{single}")
    job = jobs.create("explain", model_folder, params)
    resumed = cancel_then_resume(db, job.id, monkeypatch, after=2)
    assert resumed.status == "done", resumed.error
    assert _stored_rows(db, job.id, f"dict:{single}") == expected and expected


_COLUMNS = (
    "model",
    "source",
    "layer",
    "unit_index",
    "explainer",
    "judge",
    "prompt_version",
    "text",
    "tokens",
    "detection",
    "detection_random",
    "fuzzing",
    "fuzzing_random",
    "record",
)


def _job_rows(db, job_id: int, member: int) -> list[tuple]:
    """Every stored column of a job's rows of one member but the ids and the time."""
    from sqlalchemy import select

    from babellens.store.explanations import ExplanationRow

    query = (
        select(ExplanationRow)
        .where(ExplanationRow.job_id == job_id, ExplanationRow.layer == member)
        .order_by(ExplanationRow.id)
    )
    with db.session() as s:
        return [tuple(getattr(r, column) for column in _COLUMNS) for r in s.scalars(query)]


def _whole_and_per_member(db, model_folder: str, corpus: str, pair: int, **extra):
    jobs = JobStore(db)
    whole = run_job(
        db, jobs.create("explain", model_folder, _params(corpus, dictionary=pair, **extra)).id
    )
    assert whole.status == "done", whole.error
    alone = [
        run_job(
            db,
            jobs.create(
                "explain", model_folder, _params(corpus, dictionary=pair, member=str(m), **extra)
            ).id,
        )
        for m in (0, 1)
    ]
    assert all(job.status == "done" for job in alone), [job.error for job in alone]
    return whole, alone


def test_a_whole_set_in_one_job_stores_each_members_rows_as_its_own_job_does(
    stored, model_folder, corpus_file
) -> None:
    db, _, pair, _ = stored
    whole, alone = _whole_and_per_member(db, model_folder, corpus_file, pair, limit=10)
    s = whole.summary
    assert s["members"] == [0, 1] and s["units"] == 2 * 10 and s["source"] == f"dict:{pair}"
    assert s["explained"] == sum(job.summary["explained"] for job in alone)
    assert whole.done == whole.total == 2 * 2 * 10  # explained + scored, over both members
    for member, job in enumerate(alone):
        rows = _job_rows(db, whole.id, member)
        assert len(rows) == job.summary["explained"] > 0
        assert rows == _job_rows(db, job.id, member)


@pytest.mark.parametrize("where", ["between members", "inside the second member"])
def test_a_set_job_cancelled_resumes_without_redoing_a_finished_member(
    stored, model_folder, corpus_file, monkeypatch, where
) -> None:
    from babellens.jobs.explain_features import FeatureMember

    db, _, pair, _ = stored
    whole, alone = _whole_and_per_member(db, model_folder, corpus_file, pair)
    first, second = (job.summary["explained"] for job in alone)
    assert first > 0 and second > 0
    # the stop checks of member 0: one per batch of 4 units explained, one per batch scored,
    # and one after the member is stored; the cancel lands on that last one or on the next
    checks = 2 * -(-first // 4) + 1
    collected: list[int] = []
    real = FeatureMember.activations

    def recorded(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        collected.append(self.member)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(FeatureMember, "activations", recorded)
    job = JobStore(db).create("explain", model_folder, _params(corpus_file, dictionary=pair))
    after = checks if where == "between members" else checks + 1
    resumed = cancel_then_resume(db, job.id, monkeypatch, after=after)
    assert resumed.status == "done", resumed.error
    assert collected == ([0, 1] if where == "between members" else [0, 1, 1])
    assert resumed.summary == whole.summary
    for member in (0, 1):
        assert _job_rows(db, job.id, member) == _job_rows(db, whole.id, member)
