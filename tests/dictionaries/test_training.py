import math

import pytest
import torch

from babellens.control import LocalControl, StopRequested
from babellens.dictionaries import ActivationSource, DictTrainParams, train_dictionaries
from babellens.dictionaries.training import _fold, _Member
from dictionary_fakes import random_dictionary, tiny_training_setup

HOOK = "resid_post.1"


def _params(**overrides) -> DictTrainParams:
    base = dict(hook=HOOK, width=48, k=4, batch_size=64, chunk_tokens=256, lr=3e-3, warmup_steps=3)
    return DictTrainParams(**{**base, **overrides})


def _train(lm, windows, params, control=None, hooks=None, kind="sae", cache_dir=None):
    hooks = hooks or [(HOOK, HOOK)]
    source = ActivationSource(
        lm,
        windows,
        [h for pair in hooks for h in pair],
        seed=params.seed,
        chunk_tokens=params.chunk_tokens,
        tokens_per_batch=params.tokens_per_batch,
        cache_dir=cache_dir,
    )
    return train_dictionaries(source, hooks, kind, params.width, params, control)


def _weights(result) -> dict[str, torch.Tensor]:
    return {
        f"{i}.{k}": v
        for i, sd in enumerate(result.dictionaries)
        for k, v in sd.state_dict().items()
    }


@pytest.mark.parametrize("activation", ["topk", "batchtopk", "jumprelu"])
def test_kill_and_resume_gives_the_same_weights(activation):
    lm, windows = tiny_training_setup()
    params = _params(activation=activation, epochs=2, checkpoint_every_s=0)
    reference = _train(lm, windows, params)
    calls = {"n": 0}

    def stop_after_three() -> bool:
        calls["n"] += 1
        return calls["n"] == 3

    control = LocalControl(stop=stop_after_three)
    with pytest.raises(StopRequested):
        _train(lm, windows, params, control)
    assert control.load_state() is not None
    resumed = _train(lm, windows, params, control)
    assert resumed.steps == reference.steps
    for name, value in _weights(reference).items():
        torch.testing.assert_close(_weights(resumed)[name], value, rtol=0, atol=0)


def test_training_lowers_fvu_and_live_metrics_are_reported():
    lm, windows = tiny_training_setup()
    messages: list[str] = []
    control = LocalControl(on_progress=lambda d, t, u, m: messages.append(m))
    result = _train(lm, windows, _params(epochs=3), control)
    assert result.metrics[0]["fvu"] < 0.5  # a random dictionary's FVU is about 1
    assert result.metrics[0]["l0"] == pytest.approx(4.0)
    assert "FVU" in messages[-1] and "L0 4.0" in messages[-1] and "dead" in messages[-1]
    sd = result.dictionaries[0]
    assert sd.W_enc.dtype == torch.float32
    assert result.tokens_trained == 3 * sum(w.n_tokens - 1 for w in windows)


def test_disk_cache_epochs_equal_streamed_epochs(tmp_path):
    lm, windows = tiny_training_setup()
    params = _params(epochs=2)
    streamed = _train(lm, windows, params)
    cached = _train(lm, windows, params, cache_dir=tmp_path)
    assert any(tmp_path.rglob("*.f32"))
    again = _train(lm, windows, params, cache_dir=tmp_path)  # every epoch read from disk
    for name, value in _weights(streamed).items():
        torch.testing.assert_close(_weights(cached)[name], value, rtol=0, atol=0)
        torch.testing.assert_close(_weights(again)[name], value, rtol=0, atol=0)


def test_folding_the_scale_gives_the_same_function_on_raw_activations():
    sd = random_dictionary(kind="transcoder", d_out=5, skip=True, activation="topk", k=3)
    member = _Member(sd, scale_in=2.5, scale_out=0.4)
    folded = _fold(member)
    x = torch.randn(7, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(folded.encode(x), sd.encode(x * 2.5))
        torch.testing.assert_close(folded(x), sd(x * 2.5) / 0.4, rtol=1e-5, atol=1e-5)


def test_transcoder_set_trains_one_member_per_layer_with_unit_decoder_rows():
    lm, windows = tiny_training_setup()
    hooks = [(f"mlp_in.{layer}", f"mlp_out.{layer}") for layer in range(3)]
    params = _params(kind="transcoder", layers="all", hook=None, skip=True)
    result = _train(lm, windows, params, hooks=hooks, kind="transcoder")
    assert [sd.hook_in for sd in result.dictionaries] == ["mlp_in.0", "mlp_in.1", "mlp_in.2"]
    assert all(sd.W_skip is not None for sd in result.dictionaries)
    assert all(m["fvu"] < 1.0 for m in result.metrics)
    assert math.isfinite(result.metrics[0]["loss"])


def test_tensor_source_is_deterministic_and_visits_every_row_once_per_epoch():
    from babellens.dictionaries import TensorSource

    rows = torch.arange(50, dtype=torch.float32)[:, None].expand(50, 3).clone()
    source = TensorSource({"a": rows, "b": -rows}, seed=1, chunk_tokens=16)
    assert source.chunk_rows(0) == [16, 16, 16, 2]
    chunks = list(source.chunks(0))
    seen = torch.cat([c.rows["a"][:, 0] for c in chunks])
    assert sorted(seen.tolist()) == list(range(50))
    assert torch.equal(chunks[1].rows["b"], -chunks[1].rows["a"])  # rows stay aligned
    again = list(source.chunks(0, start=2))
    assert torch.equal(again[0].rows["a"], chunks[2].rows["a"])
    assert not torch.equal(next(source.chunks(1)).rows["a"], chunks[0].rows["a"])
