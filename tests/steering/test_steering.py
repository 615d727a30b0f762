"""Steering vectors on a tiny model: the math by hand, a second implementation, and the hooks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from babellens import steering
from babellens.errors import BabelLensError, InvalidInputError
from babellens.steering import ContrastPair, ContrastSet
from tiny_models import tiny_lm_with_tokenizer

PAIRS = [
    ContrastPair(prompt="Q: sky? A:", positive="IT IS BLUE.", negative="it is blue."),
    ContrastPair(prompt="Q: grass? A:", positive="GREEN, MOSTLY.", negative="green, mostly."),
    ContrastPair(prompt="Q: snow? A:", positive="WHITE AND COLD", negative="white and cold"),
]


@pytest.fixture(scope="module")
def lm():
    return tiny_lm_with_tokenizer("llama")


def _resid_post(lm, text: str) -> list[torch.Tensor]:
    """resid_post of every block but the last from plain transformers: hidden_states[L + 1]."""
    enc = lm.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        hidden = lm.model(**enc, output_hidden_states=True).hidden_states
    return [h[0] for h in hidden[1:-1]]


def _text(p: ContrastPair, side: str) -> str:
    return f"{p.prompt} {getattr(p, side)}"


@pytest.mark.parametrize("read", ["last", "mean", "completion_mean"])
def test_difference_of_means_by_hand(lm, read):
    contrast = ContrastSet(name="t", pairs=PAIRS)
    vec = steering.build(lm, contrast, layers=[0, 1], read=read, batch_size=2)
    for layer in (0, 1):
        diffs = []
        for p in PAIRS:
            reads = []
            for side in ("positive", "negative"):
                acts = _resid_post(lm, _text(p, side))[layer]
                if read == "last":
                    reads.append(acts[-1])
                elif read == "mean":
                    reads.append(acts[1:].mean(0))  # BOS excluded
                else:
                    start = len(lm.tokenizer(p.prompt)["input_ids"])
                    reads.append(acts[start:].mean(0))
            diffs.append(reads[0] - reads[1])
        expected = torch.stack(diffs).mean(0)
        torch.testing.assert_close(vec.directions[layer], expected, atol=1e-5, rtol=1e-4)
        cos = np.mean(
            [torch.nn.functional.cosine_similarity(d, expected, dim=0).item() for d in diffs]
        )
        assert vec.info.diff_cosine[layer] == pytest.approx(cos, abs=1e-5)
    assert vec.info.n_examples == 3 and vec.info.read == read


def test_unpaired_sets_use_the_difference_of_the_two_means(lm):
    pos, neg = ["AAA BBB", "CCC"], ["aaa bbb", "ccc ddd", "eee"]
    vec = steering.build(
        lm, ContrastSet(name="sets", positives=pos, negatives=neg), layers=[1], read="last"
    )
    mean = lambda texts: torch.stack([_resid_post(lm, t)[1][-1] for t in texts]).mean(0)  # noqa: E731
    torch.testing.assert_close(vec.directions[1], mean(pos) - mean(neg), atol=1e-5, rtol=1e-4)


def test_pca_direction_matches_sklearn(lm):
    sklearn = pytest.importorskip("sklearn.decomposition")
    pairs = [*PAIRS, ContrastPair(prompt="Q: sea? A:", positive="DEEP", negative="deep")]
    vec = steering.build(
        lm, ContrastSet(name="p", pairs=pairs), layers=[1], method="pca", read="last"
    )
    diffs = np.stack(
        [
            (
                _resid_post(lm, _text(p, "positive"))[1][-1]
                - _resid_post(lm, _text(p, "negative"))[1][-1]
            ).numpy()
            for p in pairs
        ]
    )
    component = sklearn.PCA(n_components=1).fit(diffs).components_[0]
    ours = vec.directions[1].numpy()
    assert abs(np.dot(ours, component) / np.linalg.norm(ours)) == pytest.approx(1.0, abs=1e-4)
    assert np.dot(ours, diffs.mean(0)) > 0  # points the way the positives do
    assert np.linalg.norm(ours) == pytest.approx(abs(diffs.mean(0) @ component), rel=1e-4)


def test_parity_with_the_steering_vectors_library(lm):
    sv = pytest.importorskip("steering_vectors")
    texts = [(_text(p, "positive"), _text(p, "negative")) for p in PAIRS]
    theirs = sv.train_steering_vector(
        lm.model, lm.tokenizer, texts, layers=[0, 1], read_token_index=-1
    )
    ours = steering.build(
        lm,
        ContrastSet(name="t", pairs=[ContrastPair(positive=a, negative=b) for a, b in texts]),
        layers=[0, 1],
        read="last",
    )
    for layer in (0, 1):
        cos = torch.nn.functional.cosine_similarity(
            ours.directions[layer], theirs.layer_activations[layer].float(), dim=0
        )
        assert cos >= 0.999, (layer, float(cos))


def test_steering_changes_downstream_and_not_upstream(lm):
    vec = steering.build(lm, ContrastSet(name="t", pairs=PAIRS), layers=[1], read="last")
    enc = lm.tokenize(["hello there"])
    points = [f"resid_post.{layer}" for layer in range(3)]
    plain = lm.run(enc, capture=points)
    with steering.apply(lm, vec, 3.0):
        steered = lm.run(enc, capture=points)
    torch.testing.assert_close(steered["resid_post.0"], plain["resid_post.0"])
    torch.testing.assert_close(
        steered["resid_post.1"], plain["resid_post.1"] + 3.0 * vec.directions[1]
    )
    assert not torch.allclose(steered["resid_post.2"], plain["resid_post.2"])
    after = lm.run(enc, capture=points)  # the hooks are gone after the block
    torch.testing.assert_close(after["resid_post.2"], plain["resid_post.2"])


def test_generated_positions_only_steer_the_last_position(lm):
    vec = steering.build(lm, ContrastSet(name="t", pairs=PAIRS), layers=[0], read="last")
    enc = lm.tokenize(["hello there"])
    plain = lm.run(enc, capture=["resid_post.0"])["resid_post.0"]
    with steering.apply(lm, vec, 2.0, positions="generated"):
        steered = lm.run(enc, capture=["resid_post.0"])["resid_post.0"]
    torch.testing.assert_close(steered[:, :-1], plain[:, :-1])
    torch.testing.assert_close(steered[:, -1], plain[:, -1] + 2.0 * vec.directions[0])


def test_coefficient_zero_generates_exactly_the_plain_tokens(lm):
    vec = steering.build(lm, ContrastSet(name="t", pairs=PAIRS), layers=[0, 1], read="last")
    prompts = ["The sky is", "Q: why? A:"]
    plain = steering.generate(lm, prompts, max_new_tokens=12)
    zero = steering.generate(lm, prompts, vec, 0.0, max_new_tokens=12)
    assert zero == plain
    assert steering.generate(lm, prompts, vec, 50.0, max_new_tokens=12) != plain


def test_save_load_and_llama_cpp_export(lm, tmp_path):
    import gguf

    vec = steering.build(lm, ContrastSet(name="t", pairs=PAIRS), layers=[0, 2], read="last")
    loaded = steering.SteeringVector.load(vec.save(tmp_path / "v.safetensors"))
    assert loaded.info == vec.info
    for layer in (0, 2):
        torch.testing.assert_close(loaded.directions[layer], vec.directions[layer])
    reader = gguf.GGUFReader(str(vec.export_gguf(tmp_path / "v.gguf")))
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    assert sorted(tensors) == ["direction.2"]  # llama.cpp cannot steer block 0's output
    np.testing.assert_allclose(tensors["direction.2"], vec.directions[2].numpy(), rtol=1e-6)
    (tmp_path / "bad.safetensors").write_bytes(b"not a vector")
    with pytest.raises(BabelLensError, match="not a BabelLens steering vector"):
        steering.SteeringVector.load(tmp_path / "bad.safetensors")


def test_bad_input_is_refused_with_a_clear_message(lm):
    vec = steering.build(lm, ContrastSet(name="t", pairs=PAIRS), layers=[1], read="last")
    with pytest.raises(InvalidInputError, match="finite"):
        steering.steering_interventions(lm, vec, math.inf)
    with pytest.raises(InvalidInputError, match="layers"):
        steering.build(lm, ContrastSet(name="t", pairs=PAIRS), layers=[7])
    wide = vec.model_copy(update={"info": vec.info.model_copy(update={"d_model": 99})})
    with pytest.raises(InvalidInputError, match="width 99"):
        steering.steering_interventions(lm, wide, 1.0)
    with pytest.raises(InvalidInputError, match="has layers"):
        steering.steering_interventions(lm, vec, 1.0, layers=[0])
    with pytest.raises(InvalidInputError, match="unknown concept"):
        steering.get_concept("telepathy")
    with pytest.raises(InvalidInputError, match="unknown metric"):
        steering.get_metric("vibes")
    with pytest.raises(InvalidInputError, match="empty"):
        ContrastSet(name="e").check()


def test_metrics():
    upper = steering.get_metric("uppercase_fraction").fn
    assert upper("ABc d") == pytest.approx(0.5) and math.isnan(upper("123 !"))
    french = steering.get_metric("language:fr").fn
    assert french("Je voudrais un café, s'il vous plaît.") == 1.0
    assert french("I would like a coffee, please.") == 0.0
    assert steering.get_metric(len).fn("abc") == 3


def test_evaluate_reports_every_curve(lm):
    vec = steering.build(lm, ContrastSet(name="t", pairs=PAIRS), layers=[0, 1], read="last")
    config = steering.EvalConfig(coefficients=[-4.0, 4.0], max_new_tokens=6)
    report = steering.evaluate(
        lm,
        vec,
        ["Q: sky? A:", "Q: sea? A:"],
        "uppercase_fraction",
        neutral=["The weather is mild today."],
        config=config,
    )
    assert [p.coefficient for p in report.dose_response] == [-4.0, 0.0, 4.0]
    zero = report.dose_response[1]
    assert zero.kl == pytest.approx(0.0, abs=1e-6) and zero.wrong_way is None
    assert report.dose_response[2].kl > 0
    assert all(e == 0 for e in report.per_prompt_effects[0.0] if e is not None)
    assert sorted(report.layer_sweep) == [0, 1]
    control = steering.random_like(vec)
    for layer in (0, 1):
        assert float(control.directions[layer].norm()) == pytest.approx(
            float(vec.directions[layer].norm()), rel=1e-5
        )


def test_generate_pads_left_without_touching_the_shared_tokenizer(lm):
    """The batch is left-padded exactly as the tokenizer itself would, and its setting stays."""
    prompts = ["The sky is", "Q: why is the grass green? A:"]
    tok = lm.tokenizer
    assert tok.padding_side == "right"
    seen: list[torch.Tensor] = []
    original = lm.model.generate

    def spy(**kwargs):
        seen.append(kwargs["input_ids"])
        seen.append(kwargs["attention_mask"])
        return original(**kwargs)

    lm.model.generate = spy
    try:
        texts = steering.generate(lm, prompts, max_new_tokens=3)
    finally:
        del lm.model.generate
    assert tok.padding_side == "right" and len(texts) == 2
    tok.padding_side = "left"
    try:
        expected = tok(prompts, return_tensors="pt", padding=True)
    finally:
        tok.padding_side = "right"
    assert torch.equal(seen[0], expected["input_ids"])
    assert torch.equal(seen[1], expected["attention_mask"])
    assert seen[1][0, 0] == 0 and seen[1][0, -1] == 1  # the short row is padded on the left


def test_kl_cost_equals_a_plain_transformers_computation(lm):
    vec = steering.build(lm, ContrastSet(name="t", pairs=PAIRS), layers=[0, 1], read="last")
    neutral = ["The weather is mild today.", "A cat sat."]
    enc = lm.tokenize(neutral)
    with torch.inference_mode():
        plain = torch.log_softmax(lm.model(**enc).logits.float(), -1)
        with steering.apply(lm, vec, 3.0):
            steered = torch.log_softmax(lm.model(**enc).logits.float(), -1)
    kl = (plain.exp() * (plain - steered)).sum(-1)[enc["attention_mask"].bool()].mean()
    assert steering.kl_cost(lm, vec, 3.0, neutral) == float(kl) and float(kl) > 0


def test_a_stopped_evaluation_resumes_to_the_uninterrupted_report(lm):
    from babellens.control import LocalControl, StopRequested

    vec = steering.build(lm, ContrastSet(name="t", pairs=PAIRS), layers=[0, 1], read="last")
    config = steering.EvalConfig(coefficients=[-4.0, 4.0], max_new_tokens=6)
    args = (lm, vec, ["Q: sky? A:", "Q: sea? A:"], "uppercase_fraction")
    seen: list[tuple[int, int, str]] = []
    whole = steering.evaluate(
        *args,
        config=config,
        control=LocalControl(on_progress=lambda d, t, u, _m: seen.append((d, t, u))),
    )
    # 3 steered runs, 2 random-control runs (0 is shared), 2 sweep layers
    assert seen == [(i, 7, "runs") for i in range(1, 8)]
    polls = {"n": 0}

    def stop_after_three() -> bool:
        polls["n"] += 1
        return polls["n"] > 3

    control = LocalControl(stop=stop_after_three)
    with pytest.raises(StopRequested):
        steering.evaluate(*args, config=config, control=control)
    saved = control.load_state()
    assert saved is not None and saved.done == 3 and len(saved.meta["runs"]) == 3
    control.stop = None
    resumed = steering.evaluate(*args, config=config, control=control)
    assert resumed.model_dump_json() == whole.model_dump_json()
