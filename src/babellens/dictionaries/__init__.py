"""Sparse dictionaries (SAEs and transcoders): the module, training, evaluation, formats, features.

A dictionary's features are units like MLP neurons: they have activations per token (``encode``)
and an output direction (a row of ``W_dec``), so scans, pages and steering treat them alike.
"""

from babellens.dictionaries.activations import (
    ActivationSource,
    Harvester,
    LocalHarvester,
    TensorSource,
    harvest_rows,
)
from babellens.dictionaries.config import DictTrainParams, resolve_hooks, resolve_width
from babellens.dictionaries.model import (
    ACTIVATIONS,
    Activation,
    DictionaryKind,
    SparseDictionary,
    batch_topk,
)
from babellens.dictionaries.training import TrainedDictionaries, train_dictionaries

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "ActivationSource",
    "DictTrainParams",
    "DictionaryKind",
    "Harvester",
    "LocalHarvester",
    "SparseDictionary",
    "TensorSource",
    "TrainedDictionaries",
    "batch_topk",
    "harvest_rows",
    "resolve_hooks",
    "resolve_width",
    "train_dictionaries",
]
