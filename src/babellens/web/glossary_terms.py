"""Plain-language definitions for the glossary page (and the notes at the top of each page)."""

TERMS: list[tuple[str, str]] = [
    (
        "Language model",
        "A program that reads text as a sequence of tokens and, at every position, predicts which token comes next. Everything BabelLens shows is measured inside one while it reads.",
    ),
    (
        "Token",
        "The unit a model reads: a word, part of a word, a space plus a word, or a punctuation mark. 'Paris' may be one token, 'Hauptstadt' several. Pages show tokens exactly as the model splits the text; ↵ is a line break.",
    ),
    (
        "Layer",
        "Models are stacks of identical blocks. Each layer reads the running summary of the text so far (the residual stream), adds what its attention and its MLP computed, and passes it up. Early layers tend to track spelling and syntax, later ones meaning and the next word.",
    ),
    (
        "Residual stream",
        "The vector, one per token, that every layer reads from and writes to. Think of it as the model's working memory for that position.",
    ),
    (
        "MLP",
        "The part of each layer that processes every token on its own: it reads the residual stream, computes thousands of intermediate values (the neurons), and writes a combination of them back.",
    ),
    (
        "Neuron",
        "One of the intermediate values inside an MLP layer, identified as LAYER/INDEX (for example 5/123). A neuron is interesting when it fires for something a person can name: a language, a topic, a syntactic role, a specific next word.",
    ),
    (
        "Activation",
        "How strongly a neuron fires on a token: a number, usually near zero, large and positive when the neuron's pattern is present. Highlighted text shows it as colour: the stronger the orange, the higher the activation; hover a token to read the value.",
    ),
    (
        "Top example",
        "One of the passages from the scanned corpus where the neuron fired most strongly. The brightest token is where the maximum happened; the text before it is what the model had read.",
    ),
    (
        "Density",
        "The fraction of all scanned tokens on which the neuron is above zero. Very dense neurons fire on almost everything; very sparse ones only on rare patterns.",
    ),
    (
        "Histogram",
        "How often each activation value occurred over the whole corpus. The bins grow geometrically, so both tiny and huge values are visible.",
    ),
    (
        "Scan",
        "A background job that streams a corpus through the model once and keeps, for every neuron, its top examples, its histogram and its density.",
    ),
    (
        "Congruence",
        "How much a neuron's output pushes the model towards each word of its vocabulary: its output weights multiplied by the unembedding. A high congruence with one token makes it a next-token neuron.",
    ),
    (
        "Next-token neuron",
        "A neuron whose output mostly raises the probability of one specific next token (Neo, Cohen & Barez, 2024). Found in the last layers; the page lists the token it promotes.",
    ),
    (
        "Promoted / suppressed token",
        "The vocabulary tokens whose probability a neuron raises (promoted) or lowers (suppressed) most when it fires, ranked by congruence.",
    ),
    (
        "Attention head",
        "The part of a layer that moves information between positions: it decides which earlier tokens to look at and copies what it finds. Context look-ups are attention heads that feed a neuron the context it needs.",
    ),
    (
        "Steering vector",
        "A direction in the residual stream that stands for a concept (say, 'answer in capitals'); adding it during generation pushes the model towards that concept.",
    ),
    (
        "Job",
        "Any analysis that runs in the background: it shows progress, can be cancelled, and resumes from its last checkpoint after a crash.",
    ),
    (
        "LoRA",
        "Low-rank adaptation: fine-tuning that leaves the model's weights as they are and learns a small add-on to some of its matrices. Cheap enough to teach a small model one behaviour (say, answering in capitals) on a laptop.",
    ),
    (
        "Transfer",
        "How much of a behaviour taught in one language shows up in another: the fine-tuned model's rate minus the base model's, in percentage points. A transfer matrix has the training languages as rows and the languages measured as columns.",
    ),
    (
        "Concept vector per language",
        "The steering vector of one concept (ALL CAPS) built separately from each language's texts. If two languages' vectors point the same way (cosine near 1), the model represents the concept the same way in both.",
    ),
    (
        "Shuffled-label control",
        "The same computation with the labels (CAPS or not) flipped at random, pair by pair. It shows how similar two vectors look by chance with this much data, so a real similarity must stand above it.",
    ),
    (
        "Logit lens",
        "Reading a middle layer's residual stream through the model's final norm and unembedding, as if the model stopped there: which word would it say now? Tracks in which language the model seems to 'think' before it answers.",
    ),
]
