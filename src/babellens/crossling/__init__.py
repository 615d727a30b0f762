"""Cross-lingual experiments: train a behaviour with LoRA in one language, measure it in all.

So far: behaviours (data transform + metric), behaviour rates per language with bootstrap
intervals, LoRA training with completion-only loss and resumable checkpoints, and the transfer
experiment as a library call and ``babellens crossling run``. Its job, web report, concept-vector
comparisons and cross-language steering are still to come (issue #6).
"""

from babellens.crossling.behaviours import BEHAVIOURS, Behaviour, behaviour, get_behaviour
from babellens.crossling.experiment import (
    ConditionRates,
    ExperimentConfig,
    ExperimentReport,
    run_experiment,
    training_examples,
)
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
    "ConditionRates",
    "ExperimentConfig",
    "ExperimentReport",
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
    "run_experiment",
    "train_lora",
    "training_examples",
]
