import pytest
import torch

from babellens.errors import NotFoundError
from babellens.store import open_database
from babellens.store.dictionaries import DictionaryStore, dictionaries_dir
from dictionary_fakes import random_dictionary


def test_a_set_is_stored_under_one_id_and_loads_back_bit_exact(db_url):
    store = DictionaryStore(open_database(db_url))
    members = [
        random_dictionary(
            d_in=6, kind="transcoder", hook_in=f"mlp_in.{i}", hook_out=f"mlp_out.{i}", seed=i
        )
        for i in range(3)
    ]
    info = store.save(
        members,
        model="tiny",
        source="trained",
        tokens_trained=123,
        corpus="c",
        seed=7,
        metrics={"eval": {"fvu": 0.25}},
    )
    assert info.is_set and info.hook_in == "mlp_in.*" and info.kind == "transcoder"
    assert (info.width, info.k, info.tokens_trained, info.seed) == (10, 3, 123, 7)
    assert [m[0] for m in store.get(info.id).members] == ["mlp_in.0", "mlp_in.1", "mlp_in.2"]
    loaded = store.load(info.id)
    for original, back in zip(members, loaded, strict=True):
        assert back.config == original.config
        for name, value in original.state_dict().items():
            torch.testing.assert_close(back.state_dict()[name], value, rtol=0, atol=0)
    (one,) = store.load(info.id, member="mlp_out.1")
    assert one.hook_in == "mlp_in.1"
    assert [d.id for d in store.list(model="tiny", kind="transcoder")] == [info.id]
    assert store.list(model="other") == []
    store.set_metrics(info.id, {"scan": {"job": 3}})
    assert store.get(info.id).metrics == {"eval": {"fvu": 0.25}, "scan": {"job": 3}}
    assert (dictionaries_dir() / str(info.id) / "mlp_in.2.safetensors").exists()
    store.delete(info.id)
    with pytest.raises(NotFoundError, match="dict list"):
        store.get(info.id)
