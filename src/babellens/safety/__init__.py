"""Safety concepts across languages: refusal, sycophancy and hallucination directions per
language, their cosine and transfer matrices.

    from babellens import safety
    report = safety.run_safety(lm, safety.SafetyParams(concept="refusal"))
"""

from babellens.safety.ab_scoring import letter_probabilities, matching_probabilities
from babellens.safety.config import DEFAULT_LANGS, SafetyParams
from babellens.safety.data import (
    ABItem,
    ConceptData,
    InstructionItem,
    bundled_concepts,
    concept_languages,
    load_concept,
)
from babellens.safety.detector import (
    DetectorAgreement,
    detector_agreement,
    is_refusal,
    refusal_phrases,
)
from babellens.safety.directions import (
    LanguageDirections,
    contrast_set,
    held_out_separation,
    language_directions,
)
from babellens.safety.experiment import run_safety, sweep_layers
from babellens.safety.interventions import ablation_interventions, project_out, row_push
from babellens.safety.prompts import (
    ab_prompt,
    answer_opening,
    instruction_prompt,
    letter_texts,
    letter_token_ids,
)
from babellens.safety.report import SafetyBaseRate, SafetyRate, SafetyReport

__all__ = [
    "DEFAULT_LANGS",
    "ABItem",
    "ConceptData",
    "DetectorAgreement",
    "InstructionItem",
    "LanguageDirections",
    "SafetyBaseRate",
    "SafetyParams",
    "SafetyRate",
    "SafetyReport",
    "ab_prompt",
    "ablation_interventions",
    "answer_opening",
    "bundled_concepts",
    "concept_languages",
    "contrast_set",
    "detector_agreement",
    "held_out_separation",
    "instruction_prompt",
    "is_refusal",
    "language_directions",
    "letter_probabilities",
    "letter_texts",
    "letter_token_ids",
    "load_concept",
    "matching_probabilities",
    "project_out",
    "refusal_phrases",
    "row_push",
    "run_safety",
    "sweep_layers",
]
