import pytest
import torch

import babellens.dictionaries.sparse_topk as sparse_topk_module
from babellens.dictionaries.losses import aux_k_loss
from babellens.dictionaries.sparse_topk import sparse_topk
from dictionary_fakes import random_dictionary


@pytest.mark.parametrize("decode_dense_from", [0, 10**6])  # embedding_bag always, matmul always
@pytest.mark.parametrize("skip", [False, True])
def test_sparse_topk_loss_and_gradients_equal_the_dense_computation(
    skip, decode_dense_from, monkeypatch
):
    monkeypatch.setattr(sparse_topk_module, "_DENSE_DECODE_FROM", decode_dense_from)
    kind = "transcoder" if skip else "sae"
    x = torch.randn(11, 6, generator=torch.Generator().manual_seed(7))
    y = torch.randn(11, 6, generator=torch.Generator().manual_seed(8))
    dead = torch.zeros(10, dtype=torch.bool)
    dead[[1, 4, 5, 8]] = True
    total_variance = (y - y.mean(0)).pow(2).sum()
    results = []
    for path in ("sparse", "dense"):
        sd = random_dictionary(kind=kind, skip=skip, k=3, hook_out="mlp_out.1" if skip else None)
        if path == "sparse":
            chosen = sparse_topk(sd, x)
            residual = y - chosen.decode()
            aux = chosen.aux_k_loss(residual, dead, total_variance)
        else:
            residual = y - sd(x)
            aux = aux_k_loss(sd, sd.pre_acts(x), residual, dead, total_variance)
        loss = residual.pow(2).sum() / total_variance + aux / 32
        loss.backward()
        results.append(
            (
                float(loss.detach()),
                float(aux.detach()),
                {n: p.grad.clone() for n, p in sd.named_parameters()},
            )
        )
    (sparse_loss, sparse_aux, sparse_grads), (dense_loss, dense_aux, dense_grads) = results
    assert sparse_aux > 0
    assert sparse_loss == pytest.approx(dense_loss, rel=1e-5)
    assert sparse_aux == pytest.approx(dense_aux, rel=1e-5)
    for name, grad in dense_grads.items():
        torch.testing.assert_close(sparse_grads[name], grad, rtol=1e-4, atol=1e-5)
