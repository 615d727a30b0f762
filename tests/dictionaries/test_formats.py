"""Round trips through other libraries' layouts.

sparsify (eai-sparsify) installs without changing our pins, so its own SparseCoder reads what we
write and writes what we read, on the same inputs. SAELens pulls TransformerLens and a large tree
of pins, so its layout is checked against its documented formulas (cfg.json +
sae_weights.safetensors; (x - b_dec·apply_b_dec_to_input) @ W_enc + b_enc, then the activation).
"""

import json

import pytest
import torch
from safetensors.torch import save_file

from babellens.dictionaries.formats import export_dictionaries, import_dictionaries
from babellens.errors import InvalidInputError
from dictionary_fakes import random_dictionary

X = torch.randn(9, 6, generator=torch.Generator().manual_seed(2))


def _dense(top_acts, top_indices, width):
    return torch.zeros(top_acts.shape[0], width).scatter(-1, top_indices, top_acts)


@pytest.mark.parametrize("kind", ["sae", "transcoder"])
def test_sparsify_reads_what_we_write_and_we_read_what_it_writes(tmp_path, kind):
    sparsify = pytest.importorskip("sparsify")
    transcoder = kind == "transcoder"
    sd = random_dictionary(
        kind=kind,
        k=3,
        skip=transcoder,
        hook_in="mlp_in.2" if transcoder else "resid_post.2",
        hook_out="mlp_out.2" if transcoder else None,
    )
    (folder,) = export_dictionaries([sd], "sparsify", tmp_path, "tiny")
    assert folder.name == ("layers.2.mlp" if transcoder else "layers.2")
    theirs = sparsify.SparseCoder.load_from_disk(folder)
    with torch.no_grad():
        enc = theirs.encode(X)
        torch.testing.assert_close(
            _dense(enc.top_acts, enc.top_indices, sd.width), sd.encode(X), atol=1e-5, rtol=1e-5
        )
        torch.testing.assert_close(theirs(X).sae_out, sd(X), atol=1e-5, rtol=1e-5)
        # and back: their weights (b_dec subtracted before the encoder for an SAE) read by us
        theirs.b_dec.add_(0.3)
        theirs.save_to_disk(tmp_path / "again" / folder.name)
        (ours,) = import_dictionaries(tmp_path / "again")[0]
        assert (ours.hook_in, ours.hook_out, ours.kind) == (sd.hook_in, sd.hook_out, kind)
        enc = theirs.encode(X)
        torch.testing.assert_close(
            ours.encode(X), _dense(enc.top_acts, enc.top_indices, sd.width), atol=1e-5, rtol=1e-5
        )
        torch.testing.assert_close(ours(X), theirs(X).sae_out, atol=1e-5, rtol=1e-5)


def _saelens_reference(cfg, w, x):
    """SAELens's documented inference formulas, written out independently of our reader."""
    sae_in = x - w["b_dec"] * cfg.get("apply_b_dec_to_input", False)
    pre = sae_in @ w["W_enc"] + w["b_enc"]
    if cfg["architecture"] == "topk":
        values, idx = pre.topk(cfg["k"], dim=-1)
        acts = torch.zeros_like(pre).scatter(-1, idx, values.relu())
    elif cfg["architecture"] == "jumprelu":
        acts = pre.relu() * (pre > w["threshold"])
    else:
        acts = pre.relu()
    return acts, acts @ w["W_dec"] + w["b_dec"]


@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu"])
def test_saelens_layout_with_b_dec_applied_to_the_input(tmp_path, architecture):
    gen = torch.Generator().manual_seed(4)
    w = {
        "W_enc": torch.randn(6, 10, generator=gen),
        "b_enc": torch.randn(10, generator=gen),
        "W_dec": torch.randn(10, 6, generator=gen),
        "b_dec": torch.randn(6, generator=gen),
        "threshold": torch.rand(10, generator=gen),
    }
    cfg = {
        "architecture": architecture,
        "d_in": 6,
        "d_sae": 10,
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "k": 3,
        "metadata": {"hook_name": "blocks.4.hook_resid_post", "model_name": "tiny"},
    }
    save_file(w, str(tmp_path / "sae_weights.safetensors"))
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    (sd,), meta = import_dictionaries(tmp_path)
    assert sd.hook_in == "resid_post.4" and meta["model"] == "tiny"
    acts, out = _saelens_reference(cfg, w, X)
    torch.testing.assert_close(sd.encode(X), acts, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sd(X), out, atol=1e-5, rtol=1e-5)
    # written back (b_dec folded into b_enc, apply_b_dec_to_input off), it computes the same
    export_dictionaries([sd], "saelens", tmp_path / "out", "tiny")
    cfg2 = json.loads((tmp_path / "out" / "cfg.json").read_text())
    assert cfg2["apply_b_dec_to_input"] is False and cfg2["architecture"] == architecture
    from safetensors.torch import load_file

    acts2, out2 = _saelens_reference(
        cfg2, load_file(str(tmp_path / "out" / "sae_weights.safetensors")), X
    )
    torch.testing.assert_close(acts2, acts, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out2, out, atol=1e-5, rtol=1e-5)


def test_gemmascope_npz_and_not_a_dictionary(tmp_path):
    import numpy as np

    sd = random_dictionary(activation="jumprelu", k=None)
    np.savez(
        tmp_path / "params.npz",
        **{
            n: getattr(sd, n).detach().numpy()
            for n in ("W_enc", "W_dec", "b_enc", "b_dec", "threshold")
        },
    )
    (back,), _ = import_dictionaries(tmp_path / "params.npz", hook="resid_post.1")
    torch.testing.assert_close(back(X), sd(X).detach())
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInputError, match="is not a dictionary"):
        import_dictionaries(tmp_path / "notes.txt")
