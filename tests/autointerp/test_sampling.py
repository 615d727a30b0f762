from __future__ import annotations

from tests.autointerp.synthetic import WORDS, synthetic_layer

from babellens.autointerp.sampling import Example, SamplerConfig, sample_unit


def test_sampling_follows_delphi_mix_and_holds_out_the_test_set() -> None:
    acts, decode = synthetic_layer()
    config = SamplerConfig()
    ex = sample_unit(acts, 0, decode, config)
    assert ex is not None
    assert ex.threshold == 0.0  # off is exactly 0: the sparse rule
    assert len(ex.train) == config.n_train
    assert len(ex.non_activating) == config.n_non_activating
    assert len(ex.background) == config.n_non_activating
    # the first 20% of the training examples are the top ones, in order
    n_top = int(config.n_train * config.ratio_top)
    tops = [e.max for e in ex.train[:n_top]]
    assert tops == sorted(tops, reverse=True)
    assert min(tops) >= max(e.max for e in ex.train[n_top:] + ex.test)
    # every quantile 0..9 is represented in the test set, and test never overlaps training
    assert {e.quantile for e in ex.test} == set(range(10))
    train_ids = {(e.window, e.start) for e in ex.train}
    test_ids = {(e.window, e.start) for e in ex.test}
    non_ids = {(e.window, e.start) for e in ex.non_activating + ex.background}
    assert not train_ids & test_ids and not (train_ids | test_ids) & non_ids
    # marked tokens are exactly the unit's word; non-activating examples hold none of it
    for e in ex.train + ex.test:
        assert e.marked and all(e.tokens[p] == WORDS[0] for p in e.marked)
    assert all(WORDS[0] not in e.tokens and not e.marked for e in ex.non_activating)


def test_sampling_is_deterministic_and_dense_units_use_the_quantile_threshold() -> None:
    acts, decode = synthetic_layer(dense=True)
    a = sample_unit(acts, 1, decode, SamplerConfig(active_quantile=0.95))
    b = sample_unit(acts, 1, decode, SamplerConfig(active_quantile=0.95))
    assert a is not None and a == b
    # 1/40 of tokens are the unit's word: the 95th percentile lies in the noise, below 0.1
    assert 0.0 < a.threshold < 0.1
    # examples above the noise mark the word only (0.3 of their max is above any noise)
    strong = [e for e in a.train if e.max > 0.5]
    assert len(strong) >= 8
    assert all(e.tokens[p] == WORDS[1] for e in strong for p in e.marked)


def test_rare_units_are_skipped() -> None:
    acts, decode = synthetic_layer(n_windows=6)
    assert sample_unit(acts, 0, decode, SamplerConfig(min_examples=20)) is None


def test_marked_text_brackets_runs() -> None:
    e = Example(
        window=0,
        start=0,
        tokens=["a", "b", "c", "d"],
        activations=[0, 1, 1, 0],
        marked=[1, 2],
        max=1,
    )
    assert e.marked_text() == "a<<bc>>d"
    assert e.marked_text([0, 3]) == "<<a>>bc<<d>>"
