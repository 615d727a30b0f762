import shutil

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
    (folder,) = [p for p in dictionaries_dir().glob(f"*/{info.id}") if p.is_dir()]
    assert (folder / "mlp_in.2.safetensors").exists()
    store.delete(info.id)
    assert not folder.exists()
    with pytest.raises(NotFoundError, match="dict list"):
        store.get(info.id)


def test_two_databases_under_one_home_keep_their_own_weights(tmp_path):
    """Row ids restart in every database: the weights of dictionary 1 of one database must not
    be overwritten by dictionary 1 of another (tests once did that to a trained set)."""
    first = random_dictionary(kind="sae", seed=1)
    second = random_dictionary(kind="sae", seed=2)
    stores = [
        DictionaryStore(open_database(f"sqlite:///{tmp_path / name}")) for name in ("a.db", "b.db")
    ]
    ids = [
        store.save([sd], model="tiny", source="trained").id
        for store, sd in zip(stores, (first, second), strict=True)
    ]
    assert ids == [1, 1]
    for store, sd in zip(stores, (first, second), strict=True):
        (back,) = store.load(1)
        assert torch.equal(back.W_enc, sd.W_enc)


def test_weights_saved_before_the_database_key_still_load(tmp_path):
    from babellens.dictionaries.native import save_native

    store = DictionaryStore(open_database(f"sqlite:///{tmp_path / 'old.db'}"))
    sd = random_dictionary(kind="sae", seed=3)
    info = store.save([sd], model="tiny", source="trained")
    legacy = dictionaries_dir() / str(info.id)
    save_native(sd, legacy / f"{sd.hook_in}.safetensors", {"model": "tiny", "id": info.id})
    for path in dictionaries_dir().glob(f"*/{info.id}"):
        if path != legacy:
            shutil.rmtree(path)
    (back,) = store.load(info.id)
    assert torch.equal(back.W_dec, sd.W_dec)
