"""A stored set's members by the layer they read, whatever order they were stored in."""

from __future__ import annotations

from babellens.store import open_database
from babellens.store.dictionaries import DictionaryStore
from babellens.store.transcoder_sets import load_transcoder_set, member_of_layer
from dictionary_fakes import random_dictionary


def test_member_of_layer_follows_the_stored_order_not_the_layer_number(db_url) -> None:
    store = DictionaryStore(open_database(db_url))
    layers = [2, 0, 1]
    members = [
        random_dictionary(
            d_in=6,
            kind="transcoder",
            activation="jumprelu",
            k=None,
            hook_in=f"mlp_in.{la}",
            hook_out=f"mlp_out.{la}",
            seed=la,
        )
        for la in layers
    ]
    info = store.save(members, model="tiny", source="test")
    assert member_of_layer(store.get(info.id)) == {2: 0, 0: 1, 1: 2}
    loaded = load_transcoder_set(store.db, str(info.id))
    for layer, member in member_of_layer(info).items():  # the member that reads that layer
        assert loaded[layer].hook_in == info.members[member][0] == f"mlp_in.{layer}"
    sae = store.save([random_dictionary(d_in=6, hook_in="resid_post.1")], model="t", source="x")
    assert member_of_layer(sae) == {}  # not an MLP reader: no graph layer maps to it
