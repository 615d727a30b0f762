import pytest
import torch

from babellens.control import LocalControl, StopRequested
from babellens.dictionaries.features import feature_tokens, steer_feature
from babellens.dictionaries.scan import scan_features
from babellens.errors import InvalidInputError
from dictionary_fakes import random_dictionary, tiny_training_setup


def _brute_force(lm, sd, windows):
    """Every real, non-BOS token's feature activations, one window at a time."""
    rows, where = [], []
    for w in windows:
        out = lm.run(torch.tensor([w.token_ids]), capture=[sd.hook_in])
        with torch.no_grad():
            acts = sd.encode(out[sd.hook_in][0].clone())
        for pos in range(1 if w.has_bos else 0, w.n_tokens):
            rows.append(acts[pos])
            where.append((w.index, pos))
    return torch.stack(rows), where


def test_feature_scan_equals_a_brute_force_computation():
    lm, windows = tiny_training_setup(repeat=1)
    sd = random_dictionary(d_in=lm.adapter.d_model, width=24, k=5, hook_in="resid_post.1")
    (acc,) = scan_features(lm, [sd], windows, k=3, window_len=32, tokens_per_batch=64)
    acts, where = _brute_force(lm, sd, windows)
    assert int(acc.n_tokens) == acts.shape[0]
    torch.testing.assert_close(acc.act_max, acts.max(0).values, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(acc.mean.float(), acts.mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(acc.density.float(), (acts > 0).float().mean(0))
    state = acc.state_dict()
    feature = int(acts.max(0).values.argmax())
    best = int(acts[:, feature].argmax())
    assert (
        int(state["top_windows"][feature, 0]),
        int(state["top_positions"][feature, 0]),
    ) == where[best]


def test_feature_scan_resumes_to_the_same_state():
    lm, windows = tiny_training_setup(repeat=1)
    sd = random_dictionary(d_in=lm.adapter.d_model, width=24, k=5, hook_in="resid_post.1")
    kwargs = dict(k=3, window_len=32, tokens_per_batch=64, checkpoint_every_s=0)
    (reference,) = scan_features(lm, [sd], windows, **kwargs)
    calls = {"n": 0}
    control = LocalControl(
        stop=lambda: (calls.__setitem__("n", calls["n"] + 1), calls["n"] == 3)[1]
    )
    with pytest.raises(StopRequested):
        scan_features(lm, [sd], windows, control=control, **kwargs)
    (resumed,) = scan_features(lm, [sd], windows, control=control, **kwargs)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)


def test_promoted_tokens_are_the_decoder_row_through_final_norm_and_unembedding():
    lm, _ = tiny_training_setup(repeat=1)
    d = lm.adapter.d_model
    sd = random_dictionary(d_in=d, width=12, k=3, hook_in="resid_post.2")
    tokens = feature_tokens(lm, sd, 5, n=4)
    norm = lm.model.model.norm  # llama: RMSNorm, a per-dimension scale on a direction
    logits = (sd.W_dec[5].detach() * norm.weight.detach()) @ lm.model.lm_head.weight.detach().T
    top = logits.topk(4)
    assert [t.token_id for t in tokens.promoted] == top.indices.tolist()
    assert [t.score for t in tokens.promoted] == pytest.approx(top.values.tolist(), rel=1e-4)
    assert tokens.suppressed[0].token_id == int(logits.argmin())
    with pytest.raises(InvalidInputError, match="out of range"):
        feature_tokens(lm, sd, 12)


def test_steering_with_a_feature_changes_generation_and_zero_does_not():
    lm, _ = tiny_training_setup(repeat=1)
    sd = random_dictionary(d_in=lm.adapter.d_model, width=12, k=3, hook_in="resid_post.1")
    from babellens.steering.apply import generate

    plain = generate(lm, "The quick", max_new_tokens=6)
    assert steer_feature(lm, sd, 2, "The quick", 0.0, max_new_tokens=6) == plain
    assert steer_feature(lm, sd, 2, "The quick", 200.0, max_new_tokens=6) != plain
    wrong = random_dictionary(d_in=lm.adapter.d_model + 1, width=12, k=3)
    with pytest.raises(InvalidInputError, match="another model"):
        steer_feature(lm, wrong, 0, "x", 1.0)


def test_top_features_per_token_match_encoding_the_captured_activation():
    from babellens.dictionaries.features import top_features_per_token

    lm, _ = tiny_training_setup(repeat=1)
    sd = random_dictionary(d_in=lm.adapter.d_model, width=12, k=3, hook_in="resid_post.1")
    rows = top_features_per_token(lm, sd, "Hello there", n=2)
    ids = lm.tokenize("Hello there")["input_ids"]
    with torch.no_grad():
        acts = sd.encode(lm.run(ids, capture=["resid_post.1"])["resid_post.1"][0].clone())
    assert len(rows) == ids.shape[1]
    for row in rows:
        best = acts[row.position].topk(2)
        expected = [
            (int(i), float(v)) for v, i in zip(best.values, best.indices, strict=True) if v > 0
        ]
        assert [i for i, _ in row.features] == [i for i, _ in expected]
        assert [v for _, v in row.features] == pytest.approx([v for _, v in expected])
