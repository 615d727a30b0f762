import pytest
import torch

from babellens.dictionaries import SparseDictionary, batch_topk
from babellens.errors import InvalidInputError
from dictionary_fakes import identity_dictionary, random_dictionary

X = torch.randn(5, 6, generator=torch.Generator().manual_seed(3))


def _hand_pre(sd: SparseDictionary, x: torch.Tensor) -> torch.Tensor:
    """Pre-activations one feature at a time: sum_i x_i W[i, j] + b_j."""
    pre = torch.zeros(x.shape[0], sd.width)
    with torch.no_grad():
        for j in range(sd.width):
            pre[:, j] = (x * sd.W_enc[:, j]).sum(-1) + sd.b_enc[j]
    return pre


def test_topk_keeps_each_rows_k_largest_relud():
    sd = random_dictionary(activation="topk", k=3)
    pre = _hand_pre(sd, X)
    expected = torch.zeros_like(pre)
    for row in range(X.shape[0]):
        order = sorted(range(sd.width), key=lambda j: -float(pre[row, j]))[:3]
        for j in order:
            expected[row, j] = max(float(pre[row, j]), 0.0)
    torch.testing.assert_close(sd.encode(X), expected, rtol=0, atol=1e-6)
    assert int((sd.encode(X) != 0).sum(-1).max()) <= 3


@pytest.mark.parametrize("activation", ["jumprelu", "batchtopk"])
def test_jumprelu_and_batchtopk_inference_keep_values_above_the_threshold(activation):
    sd = random_dictionary(activation=activation, k=2)
    pre = _hand_pre(sd, X)
    expected = torch.where(pre > sd.threshold, pre.clamp_min(0), torch.zeros_like(pre))
    torch.testing.assert_close(sd.encode(X), expected, rtol=0, atol=1e-6)
    assert int((expected != 0).sum()) > 0


def test_relu_encoder():
    sd = random_dictionary(activation="relu", k=None)
    torch.testing.assert_close(sd.encode(X), _hand_pre(sd, X).clamp_min(0), rtol=0, atol=1e-6)


def test_decode_with_and_without_skip_against_a_hand_sum():
    sd = random_dictionary(kind="transcoder", d_out=4, skip=True, hook_out="mlp_out.1")
    f = sd.encode(X)
    expected = torch.zeros(X.shape[0], 4)
    for j in range(sd.width):
        expected += f[:, j : j + 1] * sd.W_dec[j]
    expected += sd.b_dec + X @ sd.W_skip
    torch.testing.assert_close(sd(X), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(InvalidInputError, match="skip"):
        sd.decode(f)


def test_batchtopk_threshold_is_the_batchs_k_times_rows_th_value():
    pre = torch.randn(4, 12, generator=torch.Generator().manual_seed(5)) + 1.0
    acts, threshold = batch_topk(pre, 3)
    kth = pre.flatten().sort(descending=True).values[3 * 4 - 1]
    assert float(kth) > 0
    assert float(threshold) == pytest.approx(float(kth))
    assert int((acts != 0).sum()) == 12
    torch.testing.assert_close(acts, torch.where(pre >= kth, pre, torch.zeros_like(pre)))


def test_identity_decoder_reconstructs_exactly():
    sd = identity_dictionary(6, "resid_post.1")
    torch.testing.assert_close(sd(X), X, rtol=0, atol=0)


def test_config_round_trip_and_bad_shapes():
    sd = random_dictionary(activation="batchtopk", k=4)
    again = SparseDictionary.from_config(sd.config)
    assert again.config == sd.config
    assert again.W_enc.dtype == torch.float32
    with pytest.raises(InvalidInputError, match="smaller than the width"):
        SparseDictionary(6, 4, k=4)
    with pytest.raises(InvalidInputError, match="at least 1"):
        SparseDictionary(6, 0, k=1)
