"""Round trips against the real SAELens (``sae-lens``, installed by ``make test``): what it
saves opens here and what we export opens there, computing the same features and outputs
(within 1e-5) on the same inputs."""

from __future__ import annotations

import pytest
import torch

from babellens.dictionaries.formats import export_dictionaries, import_dictionaries
from dictionary_fakes import random_dictionary

sae_lens = pytest.importorskip("sae_lens")
from sae_lens import SAE  # noqa: E402
from sae_lens import saes as S  # noqa: E402

X = torch.randn(32, 6, generator=torch.Generator().manual_seed(7)) * 2
CLOSE = {"atol": 1e-5, "rtol": 1e-5}


def _theirs(arch: str, *, apply_b_dec: bool, rescale: bool = False):
    meta = S.sae.SAEMetadata(hook_name="blocks.3.hook_resid_post", model_name="tiny")
    common = {"d_in": 6, "d_sae": 10, "apply_b_dec_to_input": apply_b_dec, "metadata": meta}
    if arch == "standard":
        sae = S.StandardSAE(S.StandardSAEConfig(**common))
    elif arch == "topk":
        sae = S.TopKSAE(S.TopKSAEConfig(k=3, rescale_acts_by_decoder_norm=rescale, **common))
    elif arch == "jumprelu":
        sae = S.JumpReLUSAE(S.JumpReLUSAEConfig(**common))
    else:
        meta = S.sae.SAEMetadata(
            hook_name="blocks.3.ln2.hook_normalized",
            hook_name_out="blocks.3.hook_mlp_out",
            model_name="tiny",
        )
        common |= {"d_out": 5, "metadata": meta, "apply_b_dec_to_input": False}
        cls, cfg = {
            "transcoder": (S.Transcoder, S.TranscoderConfig),
            "skip_transcoder": (S.SkipTranscoder, S.SkipTranscoderConfig),
            "jumprelu_transcoder": (S.JumpReLUTranscoder, S.JumpReLUTranscoderConfig),
        }[arch]
        sae = cls(cfg(**common))
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in sae.named_parameters():  # every term random, the threshold positive
            p.copy_(
                torch.rand(p.shape, generator=gen)
                if "threshold" in name
                else torch.randn(p.shape, generator=gen)
            )
    return sae.eval()


@pytest.mark.parametrize(
    ("arch", "apply_b_dec", "rescale"),
    [
        ("standard", True, False),
        ("topk", False, False),
        ("topk", True, True),
        ("jumprelu", True, False),
        ("transcoder", False, False),
        ("skip_transcoder", False, False),
        ("jumprelu_transcoder", False, False),
    ],
)
def test_what_saelens_saves_opens_here_with_the_same_function(tmp_path, arch, apply_b_dec, rescale):
    theirs = _theirs(arch, apply_b_dec=apply_b_dec, rescale=rescale)
    theirs.save_model(tmp_path)
    (ours,), meta = import_dictionaries(tmp_path)
    assert meta["model"] == "tiny"
    assert ours.kind == ("transcoder" if "transcoder" in arch else "sae")
    assert ours.hook_in == ("mlp_in.3" if ours.kind == "transcoder" else "resid_post.3")
    with torch.no_grad():
        if not rescale:  # with rescaling the features differ by the decoder norms, by design
            torch.testing.assert_close(ours.encode(X), theirs.encode(X), **CLOSE)
        torch.testing.assert_close(ours(X), theirs(X), **CLOSE)


@pytest.mark.parametrize(
    ("activation", "kind", "skip"),
    [
        ("relu", "sae", False),
        ("topk", "sae", False),
        ("jumprelu", "sae", False),
        ("batchtopk", "sae", False),  # stored for inference as JumpReLU with its threshold
        ("relu", "transcoder", False),
        ("relu", "transcoder", True),
        ("jumprelu", "transcoder", True),
    ],
)
def test_what_we_export_opens_in_saelens_with_the_same_function(tmp_path, activation, kind, skip):
    transcoder = kind == "transcoder"
    sd = random_dictionary(
        d_out=5 if transcoder else None,
        activation=activation,
        k=3 if activation in ("topk", "batchtopk") else None,
        kind=kind,
        skip=skip,
        hook_in="mlp_in.2" if transcoder else "resid_post.2",
        hook_out="mlp_out.2" if transcoder else None,
    )
    (folder,) = export_dictionaries([sd], "saelens", tmp_path, "tiny")
    theirs = SAE.load_from_disk(folder, device="cpu").eval()
    assert theirs.cfg.metadata.hook_name == (
        "blocks.2.ln2.hook_normalized" if transcoder else "blocks.2.hook_resid_post"
    )
    with torch.no_grad():
        torch.testing.assert_close(theirs.encode(X), sd.encode(X), **CLOSE)
        torch.testing.assert_close(theirs(X), sd(X), **CLOSE)
