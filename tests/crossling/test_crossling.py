"""Cross-lingual building blocks on a tiny model: the metric, bootstrap, LoRA training and reload."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from babellens.capture.language_model import load
from babellens.control import LocalControl
from babellens.crossling import (
    LoraConfig,
    RateConfig,
    Steering,
    TrainExample,
    behaviour_rate,
    behaviour_rates,
    bootstrap_interval,
    completion_batch,
    completion_loss,
    get_behaviour,
    load_with_adapter,
    train_lora,
)
from babellens.data.prompts import chat_prompt, instructions
from babellens.errors import InvalidInputError
from babellens.steering import generate

pytest.importorskip("peft")

# a tiny random model's unembedding is near zero, so only an adapted lm_head can move its loss far
TARGETS = ["q_proj", "v_proj", "up_proj", "down_proj", "lm_head"]
EXAMPLES = [
    TrainExample(prompt=f"Q: tell me about item {i}\nA:", completion=f" ITEM {i} IS FINE.")
    for i in range(6)
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ABC def", 0.5),
        ("ПРИВЕТ мир", 6 / 9),
        ("123 !?", math.nan),
        ("日本語 AND 中文", 1.0),
        ("Ça VA", 0.75),
    ],
)
def test_uppercase_metric_on_hand_made_strings(text, expected):
    value = get_behaviour("caps").metric(text)
    assert (math.isnan(value) and math.isnan(expected)) or value == pytest.approx(expected)
    assert get_behaviour("caps").transform("Déjà vu, ок") == "DÉJÀ VU, ОК"
    with pytest.raises(InvalidInputError, match="unknown behaviour"):
        get_behaviour("sarcasm")


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    values = [0.0, 10.0, 20.0, 30.0, 100.0]
    low, high = bootstrap_interval(values, resamples=2000, seed=3)
    assert low < statistics.mean(values) < high
    assert (low, high) == bootstrap_interval(values, resamples=2000, seed=3)
    assert bootstrap_interval([5.0] * 4) == (5.0, 5.0)


def test_the_loss_covers_only_the_completion(model_folder):
    lm = load(model_folder)
    batch = completion_batch(lm.tokenizer, EXAMPLES[:2], max_length=64)
    prompt_len = len(lm.tokenizer(EXAMPLES[0].prompt)["input_ids"])
    labels = batch["labels"][0]
    assert (labels[:prompt_len] == -100).all()
    completion = lm.tokenizer(EXAMPLES[0].completion, add_special_tokens=False)["input_ids"]
    assert labels[prompt_len : prompt_len + len(completion)].tolist() == completion
    assert labels[prompt_len + len(completion)] == lm.tokenizer.eos_token_id


def test_lora_lowers_the_loss_and_the_adapter_reloads_to_the_same_outputs(model_folder, tmp_path):
    lm = load(model_folder)
    config = LoraConfig(
        r=4,
        alpha=8,
        dropout=0.0,
        steps=30,
        learning_rate=1e-2,
        batch_size=3,
        checkpoint_every=10,
        target_modules=TARGETS,
    )
    run = train_lora(lm, EXAMPLES, config, tmp_path / "adapter")
    assert run.steps == 30
    assert statistics.mean(run.losses[-5:]) < 0.8 * statistics.mean(run.losses[:5])
    trained = lm.model.eval()  # the peft-wrapped model as trained
    prompt = EXAMPLES[0].prompt
    enc = lm.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        expected = trained(**enc).logits
    reloaded = load_with_adapter(model_folder, tmp_path / "adapter")
    with torch.no_grad():
        got = reloaded.model(**enc).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert generate(reloaded, [prompt], max_new_tokens=6) != generate(
        load(model_folder), [prompt], max_new_tokens=6
    )


def test_a_stopped_run_resumes_from_its_checkpoint(model_folder, tmp_path):
    config = LoraConfig(
        r=4, alpha=8, dropout=0.0, steps=12, learning_rate=5e-3, batch_size=2, checkpoint_every=4
    )
    whole = train_lora(load(model_folder), EXAMPLES, config, tmp_path / "whole")
    calls = []
    first = train_lora(
        load(model_folder),
        EXAMPLES,
        config,
        tmp_path / "resumed",
        control=LocalControl(
            stop=lambda: len(calls) >= 8, on_progress=lambda d, t, _u, _m: calls.append(d)
        ),
    )
    assert first.steps == 8 and not (tmp_path / "resumed" / "adapter_config.json").exists()
    resumed = train_lora(load(model_folder), EXAMPLES, config, tmp_path / "resumed")
    assert resumed.steps == 12
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-4, abs=1e-5)


def test_behaviour_rate_per_language(model_folder):
    lm = load(model_folder)
    rate = behaviour_rate(
        lm,
        "de",
        get_behaviour("caps").metric,
        RateConfig(prompts=3, max_new_tokens=5, temperature=0.0, resamples=200),
    )
    assert rate.lang == "de" and len(rate.samples) == 3
    assert rate.scored == 0 or rate.low <= rate.mean <= rate.high


def _vector(lm, layer: int, scale: float = 4.0):
    from babellens.steering.vector import SteeringVector, VectorInfo

    gen = torch.Generator().manual_seed(1)
    direction = torch.randn(lm.adapter.d_model, generator=gen) * scale
    info = VectorInfo(
        name="probe",
        model=lm.name,
        method="random",
        read="resid_post",
        layers=[layer],
        d_model=lm.adapter.d_model,
        data="probe",
        n_examples=1,
        norms={layer: float(direction.norm())},
    )
    return SteeringVector(info=info, directions={layer: direction})


def test_cells_answered_in_shared_batches_equal_separate_runs(model_folder):
    """Rows of several languages and pushes share batches, each with its own push: the answers
    equal one generation per cell."""
    lm = load(model_folder)
    vector = _vector(lm, layer=1)
    config = RateConfig(prompts=3, max_new_tokens=6, temperature=0.0, batch_size=16, resamples=50)
    metric = get_behaviour("caps").metric
    cells = [
        ("de", Steering(vector, 2.0, (1,))),
        ("de", None),
        ("ru", Steering(vector, -1.0, (1,))),
        ("ru", None),
    ]
    shared = behaviour_rates(lm, cells, metric, config)
    alone = [
        behaviour_rate(lm, lang, metric, config.model_copy(update={"batch_size": 3}), steering=s)
        for lang, s in cells
    ]
    assert [r.lang for r in shared] == ["de", "de", "ru", "ru"]
    assert [r.samples for r in shared] == [r.samples for r in alone]
    assert shared[0].samples != shared[1].samples  # the push changes the answers
    prompts = [chat_prompt(lm.tokenizer, r["text"]) for r in instructions("de", "eval")[:3]]
    steered = generate(lm, prompts, vector, 2.0, layers=[1], max_new_tokens=6)
    assert shared[0].samples == steered  # the same as the steering module's own generation


@pytest.mark.parametrize("family", ["llama", "gemma2", "gpt2"])
def test_completion_loss_equals_the_models_own_loss(family):
    """Logits only where a completion token is predicted: the same loss (gemma2 adds softcapping)."""
    from tiny_models import tiny_hf_model

    model = tiny_hf_model(family).eval()  # no dropout: two passes must agree
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 100, (3, 12), generator=gen)
    mask = torch.ones_like(ids)
    mask[0, 9:] = 0  # right padding, as completion_batch makes it
    labels = ids.clone()
    labels[:, :4] = -100  # prompts of different lengths
    labels[1, :7] = -100
    labels[0, 9:] = -100
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    expected = model(**batch).loss
    assert completion_loss(model, batch).item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(InvalidInputError, match="no completion tokens"):
        completion_loss(model, {**batch, "labels": torch.full_like(labels, -100)})
