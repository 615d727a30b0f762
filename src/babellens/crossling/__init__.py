"""Cross-lingual experiments: train a behaviour with LoRA in one language, measure it in all.

Building blocks so far: behaviours (data transform + metric), behaviour rates per language with
bootstrap intervals, LoRA training with completion-only loss and resumable checkpoints. The
experiment pipeline, its job, CLI and report are still to come (issue #6).
"""

from babellens.crossling.behaviours import BEHAVIOURS, Behaviour, behaviour, get_behaviour
from babellens.crossling.lora import (
    LoraConfig,
    LoraRun,
    TrainExample,
    completion_batch,
    load_with_adapter,
    train_lora,
)
from babellens.crossling.rates import BehaviourRate, RateConfig, behaviour_rate, bootstrap_interval

__all__ = [
    "BEHAVIOURS",
    "Behaviour",
    "BehaviourRate",
    "LoraConfig",
    "LoraRun",
    "RateConfig",
    "TrainExample",
    "behaviour",
    "behaviour_rate",
    "bootstrap_interval",
    "completion_batch",
    "get_behaviour",
    "load_with_adapter",
    "train_lora",
]
