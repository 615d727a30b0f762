"""What the API returns: the pydantic models behind every page and its JSON twin.

Store records (:class:`NeuronRecord`, :class:`Job`, ...) are reused as they are, so the CLI's
``--json``, the store and the API speak one schema; the OpenAPI snapshot test guards it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from babellens.analyses.next_token_neurons import NextTokenNeuron
from babellens.analyses.token_trace import NeuronTrace, TopNeuronsTrace
from babellens.jobs.registry import JobKindInfo
from babellens.steering.evaluate import SteeringReport
from babellens.steering.vector import VectorInfo
from babellens.store import Job, NeuronRecord
from babellens.store.dictionaries import DictionaryInfo
from babellens.web.job_forms import JobForm

__all__ = [
    "ApiError",
    "Chart",
    "ChartSeries",
    "EvaluationPage",
    "GlossaryPage",
    "HomePage",
    "JobKindInfo",
    "JobKindList",
    "JobList",
    "JobRequest",
    "LayerPage",
    "LayerStats",
    "LivePrompt",
    "ModelCard",
    "ModelPage",
    "NeuronLink",
    "NeuronPage",
    "NeuronRow",
    "NeuronTrace",
    "NeuronTraceRequest",
    "SearchEverywhere",
    "SearchHit",
    "SearchResults",
    "SteerRequest",
    "SteerResult",
    "SteeringPage",
    "TermDefinition",
    "TopNeuronsRequest",
    "TopNeuronsTrace",
]


class ApiError(BaseModel):
    error: str = Field(description="What went wrong and what to do, in one line")
    status: int


class ChartSeries(BaseModel):
    """One series exactly as drawn: the page's script plots these numbers and nothing else, so
    the JSON twin and the chart's data table can never disagree with the picture."""

    name: str
    x: list[float | str] = Field(description="x positions, or category labels")
    y: list[float | None] = Field(description="values (null: no value at that x)")
    low: list[float | None] | None = Field(None, description="Lower end of each error bar")
    high: list[float | None] | None = Field(None, description="Upper end of each error bar")
    axis: Literal["y", "y2"] = Field("y", description="y2: the right-hand axis")
    kind: Literal["line", "bar", "box"] | None = Field(
        None, description="Drawn as this instead of the chart's kind (a bar series on a line chart)"
    )
    color: str | None = Field(None, description="CSS colour (None: the shared palette's next)")
    dash: bool = Field(False, description="Dotted: a control or a comparison series")
    frame: str | None = Field(
        None, description="The slider position that shows this series (None: always shown)"
    )


class Chart(BaseModel):
    """A chart of a page: what it plots, and the sentence that says it without the picture."""

    id: str = Field(description="The element the chart is drawn in")
    kind: Literal["line", "bar", "box", "heatmap"]
    title: str
    summary: str = Field(description="The chart in one sentence: its text alternative")
    x_label: str
    y_label: str
    y2_label: str | None = None
    series: list[ChartSeries]


class ModelCard(BaseModel):
    """A model with a finished scan: what the home page lists."""

    model: str
    slug: str = Field(description="The model's name in URLs ('/' written as '--')")
    scan_job: int
    token_job: int | None = Field(description="Latest finished next-token-neuron job, if any")
    tokens: int
    languages: list[str]
    n_layers: int
    d_mlp: int
    expert_units: dict[int, int] = Field(
        default_factory=dict,
        description="Mixture-of-experts layers: their units (experts × neurons per expert, then "
        "the shared expert's neurons)",
    )
    architecture: str
    dtype: str = Field(
        "float32", description="The dtype the scan ran the model in (float32, bfloat16, ...)"
    )
    finished_at: datetime | None


class HomePage(BaseModel):
    models: list[ModelCard]
    recent_jobs: list[Job]
    job_kinds: list[str]
    job_forms: list[JobForm] = Field(
        default_factory=list, description="The form of every kind the web can start"
    )
    suggested_models: list[str] = Field(description="Bundled aliases a new analysis can use")
    auth_required: bool


class LayerStats(BaseModel):
    layer: int
    neurons: int
    mean_max: float
    mean_density: float
    dead: int = Field(description="Neurons never above zero on the scanned corpus")
    has_congruence: bool


class ModelPage(BaseModel):
    card: ModelCard
    summary: dict[str, Any] = Field(description="Architecture summary recorded by the scan")
    layers: list[LayerStats]
    charts: list[Chart] = Field(
        default_factory=list, description="What the page's charts plot, series by series"
    )
    dictionaries: list[DictionaryInfo] = Field(
        default_factory=list, description="The model's sparse dictionaries, with their metrics"
    )


class NeuronRow(BaseModel):
    neuron: int
    max: float
    mean: float
    density: float
    congruence: float | None = Field(description="Whole-word congruence score, when computed")
    top_token: str | None = Field(description="The whole-word token it promotes most")
    explanation: str | None = Field(None, description="Its best-scored explanation, if explained")
    detection: float | None = Field(None, description="That explanation's detection score")
    detection_random: float | None = Field(None, description="Detection for a random explanation")


class LayerPage(BaseModel):
    card: ModelCard
    layer: int
    sort: Literal["max", "density", "mean", "congruence", "neuron"]
    descending: bool
    offset: int
    limit: int
    total: int
    neurons: list[NeuronRow]
    next_token_neurons: list[NextTokenNeuron]


class NeuronLink(BaseModel):
    label: str
    layer: int
    neuron: int


class NeuronPage(BaseModel):
    card: ModelCard
    record: NeuronRecord
    neighbours: list[NeuronLink]
    explanations: list[dict[str, Any]] = Field(
        description="Explanations with their scores (empty until an auto-interpretation run)"
    )
    sample_prompt: str = Field(
        description="The text of the top example up to its maximum: a starting point for live tests"
    )
    charts: list[Chart] = Field(
        default_factory=list, description="What the page's charts plot, series by series"
    )


class SearchHit(BaseModel):
    """``layer``/``neuron`` are the unit's; for a dictionary feature, its member and index."""

    layer: int
    neuron: int
    reason: str
    score: float | None = None
    source: str = Field("neuron", description="'neuron', or 'dict:<id>' for a dictionary feature")
    url: str | None = Field(None, description="The unit's page")


class SearchResults(BaseModel):
    card: ModelCard
    query: str
    by: Literal["neuron", "token", "explanation", "meaning"]
    hits: list[SearchHit]
    note: str | None = None


class SearchEverywhere(BaseModel):
    """The top bar's search over every model with a finished scan, one result list per model."""

    query: str
    by: Literal["neuron", "token", "explanation", "meaning"]
    model: str | None = Field(None, description="The one model searched, if the search was scoped")
    results: list[SearchResults]


class LivePrompt(BaseModel):
    models: list[ModelCard]
    max_prompt_chars: int
    max_top_k: int


class TopNeuronsRequest(BaseModel):
    text: str = Field(min_length=1, description="Prompt to run")
    layer: int = Field(ge=0)
    k: int = Field(5, ge=1)


class NeuronTraceRequest(BaseModel):
    text: str = Field(min_length=1, description="Prompt to run")


class JobRequest(BaseModel):
    """Start any job kind: ``params`` are validated by the kind's parameter model.

    ``corpus``, ``max_tokens`` and ``layers`` at the top level are kept as shorthands for the
    same fields in ``params`` (what the first version of this endpoint took).
    """

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        "scan", min_length=1, max_length=64, description="A job kind: GET /api/job-kinds"
    )
    model: str = Field(min_length=1, max_length=512)
    params: dict[str, Any] = Field(
        default_factory=dict, description="The kind's parameters (its schema: GET /api/job-kinds)"
    )
    corpus: str | None = Field(None, min_length=1, max_length=512, description="= params.corpus")
    max_tokens: int | None = Field(None, ge=1, description="= params.max_tokens")
    layers: list[int] | None = Field(None, max_length=1024, description="= params.layers")


class JobKindList(BaseModel):
    kinds: list[JobKindInfo]


class JobList(BaseModel):
    jobs: list[Job]
    auth_required: bool


class SteerRequest(BaseModel):
    prompt: str = Field(
        min_length=1, description="Instruction (wrapped in the chat template) or text"
    )
    vector: str = Field(
        "caps", min_length=1, max_length=120, description="Saved vector or concept name"
    )
    coefficient: float = 4.0
    layers: list[int] | None = Field(
        None, max_length=64, description="Default: the vector's layers"
    )
    positions: Literal["all", "generated"] = "all"
    max_new_tokens: int = Field(40, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=5.0)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    chat: bool = True


class SteerResult(BaseModel):
    model: str
    vector: VectorInfo
    coefficient: float
    layers: list[int]
    plain: str
    steered: str


class SteeringPage(BaseModel):
    models: list[ModelCard]
    vectors: dict[str, list[VectorInfo]] = Field(description="Saved vectors per model slug")
    concepts: list[str]
    evaluations: list[Job] = Field(description="Finished steering evaluations, newest first")
    max_coefficient: float
    max_new_tokens: int


class EvaluationPage(BaseModel):
    job: Job
    report: SteeringReport
    charts: list[Chart] = Field(
        default_factory=list, description="What the page's charts plot, series by series"
    )


class TermDefinition(BaseModel):
    term: str
    definition: str


class GlossaryPage(BaseModel):
    terms: list[TermDefinition]
