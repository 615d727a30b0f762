import pytest
import torch
import torch.nn.functional as F

from babellens.data.windows import batches
from babellens.dictionaries.evaluate import evaluate_dictionaries
from dictionary_fakes import identity_dictionary, random_dictionary, tiny_training_setup


def _manual_ce(lm, windows, module, sd_of_input, side: str) -> float:
    """Mean next-token CE with a hand-written hook that replaces positions 1.. of ``module``."""
    total, count = 0.0, 0

    def replace_output(_m, _args, output):
        value = output[0] if isinstance(output, tuple) else output
        new = value.clone()
        new[:, 1:] = sd_of_input(_m.kept[:, 1:] if side == "input" else value[:, 1:])
        return (new, *output[1:]) if isinstance(output, tuple) else new

    def keep_input(m, args):
        m.kept = args[0]

    handles = [module.register_forward_hook(replace_output)]
    if side == "input":
        handles.append(module.register_forward_pre_hook(keep_input))
    try:
        with torch.no_grad():
            for batch in batches(windows, tokens_per_batch=2048):
                logits = lm.model(
                    input_ids=batch.input_ids, attention_mask=batch.attention_mask
                ).logits
                mask = (batch.attention_mask[:, 1:] * batch.attention_mask[:, :-1]).bool()
                ce = F.cross_entropy(
                    logits[:, :-1][mask], batch.input_ids[:, 1:][mask], reduction="sum"
                )
                total, count = total + float(ce), count + int(mask.sum())
    finally:
        for h in handles:
            h.remove()
    return total / count


def test_identity_dictionary_has_fvu_0_and_recovers_all_ce():
    lm, windows = tiny_training_setup(repeat=1)
    sd = identity_dictionary(lm.adapter.d_model, "resid_post.1")
    (result,) = evaluate_dictionaries(lm, [sd], windows)
    assert result.fvu == pytest.approx(0.0, abs=1e-6)
    assert result.ce_spliced == pytest.approx(result.ce_clean, abs=1e-5)
    assert result.ce_recovered_vs_zero == pytest.approx(1.0, abs=1e-5)
    assert result.ce_recovered_vs_mean == pytest.approx(1.0, abs=1e-4)
    assert result.kl_spliced == pytest.approx(0.0, abs=1e-5)
    assert result.kl_zero_ablated > 1e-3  # the ablation does change the model (a control)


def test_spliced_sae_ce_equals_a_manual_hook_computation():
    lm, windows = tiny_training_setup(repeat=1)
    d = lm.adapter.d_model
    sd = random_dictionary(d_in=d, width=64, k=8, hook_in="resid_post.1")
    (result,) = evaluate_dictionaries(lm, [sd], windows)
    manual = _manual_ce(lm, windows, lm.adapter.block(1), sd, side="output")
    assert result.ce_spliced == pytest.approx(manual, rel=1e-5)
    assert result.ce_spliced != pytest.approx(result.ce_clean, rel=1e-3)
    assert result.l0 <= 8.0


def test_spliced_transcoder_ce_equals_a_manual_hook_computation():
    lm, windows = tiny_training_setup(repeat=1)
    d = lm.adapter.d_model
    sd = random_dictionary(
        d_in=d,
        width=64,
        k=8,
        kind="transcoder",
        hook_in="mlp_in.2",
        hook_out="mlp_out.2",
        skip=True,
    )
    (result,) = evaluate_dictionaries(lm, [sd], windows)
    mlp = lm.adapter.module(lm.adapter.spec.mlp, 2)
    manual = _manual_ce(lm, windows, mlp, sd, side="input")
    assert result.ce_spliced == pytest.approx(manual, rel=1e-5)
    assert sum(result.density_histogram) == round((1 - result.dead_fraction) * sd.width)
