"""Cross-lingual experiments: does a behaviour fine-tuned in one language show up in the others?

Behaviours (a data transform plus a metric, registered by name), behaviour rates per language
with bootstrap intervals, LoRA training with completion-only loss and resumable checkpoints,
concept vectors per language and their similarity, cross-language steering, and the whole
experiment as one resumable call (:func:`run_experiment`), job (``crossling``) and CLI command.
"""

from babellens.crossling.behaviours import BEHAVIOURS, Behaviour, behaviour, get_behaviour
from babellens.crossling.config import ExperimentConfig, default_rates
from babellens.crossling.cross_steering import (
    DoseCurve,
    Recovery,
    dose_curves,
    recovery,
    weakest_languages,
)
from babellens.crossling.experiment import (
    STATE_FILE,
    ExperimentStopped,
    extended_config,
    run_experiment,
)
from babellens.crossling.lora import (
    LoraConfig,
    LoraRun,
    TrainExample,
    completion_batch,
    completion_loss,
    load_with_adapter,
    train_lora,
)
from babellens.crossling.rates import (
    BehaviourRate,
    RateConfig,
    Steering,
    behaviour_rate,
    behaviour_rates,
    bootstrap_interval,
)
from babellens.crossling.report import REPORT_VERSION, ConditionRates, ExperimentReport
from babellens.crossling.similarity import (
    ConceptSimilarity,
    LanguageVectors,
    concept_similarity,
    control_signs,
    cosine_matrix,
    language_vectors,
)
from babellens.crossling.training_data import (
    examples_from_file,
    read_training_file,
    training_examples,
)

__all__ = [
    "BEHAVIOURS",
    "REPORT_VERSION",
    "STATE_FILE",
    "Behaviour",
    "BehaviourRate",
    "ConceptSimilarity",
    "ConditionRates",
    "DoseCurve",
    "ExperimentConfig",
    "ExperimentReport",
    "ExperimentStopped",
    "LanguageVectors",
    "LoraConfig",
    "LoraRun",
    "RateConfig",
    "Recovery",
    "Steering",
    "TrainExample",
    "behaviour",
    "behaviour_rate",
    "behaviour_rates",
    "bootstrap_interval",
    "completion_batch",
    "completion_loss",
    "concept_similarity",
    "control_signs",
    "cosine_matrix",
    "default_rates",
    "dose_curves",
    "examples_from_file",
    "extended_config",
    "get_behaviour",
    "language_vectors",
    "load_with_adapter",
    "read_training_file",
    "recovery",
    "run_experiment",
    "train_lora",
    "training_examples",
    "weakest_languages",
]
