"""Corpora: the bundled multilingual corpus, local files and Hugging Face datasets.

A corpus is a list of documents with a train/test split by document, so that max-activating
examples (train) and held-out scoring (test) never share text.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from babellens.errors import BabelLensError, InvalidInputError

__all__ = ["BUNDLED_CORPUS", "Corpus", "CorpusError", "Document", "load_corpus"]

BUNDLED_CORPUS = "babel-mini"
Split = Literal["train", "test"]


class CorpusError(BabelLensError):
    """The corpus is missing, empty or unreadable."""


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    split: Split = "train"
    lang: str | None = None
    genre: str | None = None


@dataclass(frozen=True)
class Corpus:
    name: str
    documents: tuple[Document, ...]

    def split(self, split: Split | None) -> Corpus:
        if split is None:
            return self
        return Corpus(f"{self.name}:{split}", tuple(d for d in self.documents if d.split == split))

    @property
    def languages(self) -> list[str]:
        return sorted({d.lang for d in self.documents if d.lang})


def _hash_split(doc_id: str, test_fraction: float) -> Split:
    """Deterministic split for corpora that do not carry one."""
    h = int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "train"


def _doc(record: dict, default_id: str, test_fraction: float) -> Document:
    text = record.get("text")
    if not isinstance(text, str):
        raise CorpusError(f"record {default_id} has no string 'text' field")
    doc_id = str(record.get("id") or default_id)
    split = record.get("split")
    if split not in ("train", "test"):
        split = _hash_split(doc_id, test_fraction)
    return Document(doc_id, text, split, record.get("lang"), record.get("genre"))


def _read_jsonl(path: Path, test_fraction: float) -> list[Document]:
    docs = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(
                    f"{path}:{n} is not valid JSON ({exc.msg}): fix or remove that line"
                ) from None
            docs.append(_doc(record, f"{path.stem}-{n}", test_fraction))
    return docs


def _read_parquet(path: Path, test_fraction: float) -> list[Document]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CorpusError("reading .parquet needs pyarrow: pip install pyarrow") from None
    table = pq.read_table(path)
    if "text" not in table.column_names:
        raise CorpusError(f"{path} has no 'text' column (columns: {', '.join(table.column_names)})")
    return [_doc(r, f"{path.stem}-{i}", test_fraction) for i, r in enumerate(table.to_pylist())]


def _read_path(path: Path, test_fraction: float) -> list[Document]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".txt", ".jsonl", ".parquet"))
        return [doc for f in files for doc in _read_path(f, test_fraction)]
    if path.suffix == ".jsonl":
        return _read_jsonl(path, test_fraction)
    if path.suffix == ".parquet":
        return _read_parquet(path, test_fraction)
    if path.suffix == ".txt":
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CorpusError(f"{path} is not UTF-8 text") from None
        return [Document(path.stem, text, _hash_split(path.stem, test_fraction))]
    raise CorpusError(
        f"unsupported corpus file {path.name}: use .txt, .jsonl (a 'text' field) or .parquet"
    )


def _read_hf(spec: str, test_fraction: float, max_documents: int | None) -> list[Document]:
    """``hf:NAME[:CONFIG][:SPLIT]`` through the ``datasets`` library (streamed)."""
    try:
        import datasets
    except ImportError:
        raise CorpusError(
            "Hugging Face datasets need the datasets package: pip install datasets"
        ) from None
    from babellens.hub import hub_reachable

    parts = spec.removeprefix("hf:").split(":")
    name, config, split = (
        parts[0],
        (parts[1] or None) if len(parts) > 1 else None,
        parts[2] if len(parts) > 2 else "train",
    )
    if not os.environ.get("HF_DATASETS_OFFLINE") and not hub_reachable():
        raise CorpusError(
            f"cannot reach the Hugging Face Hub to read dataset {name!r}: use the bundled corpus or a local "
            ".jsonl/.txt/.parquet file, or connect to the network"
        )
    try:
        stream = datasets.load_dataset(name, config, split=split, streaming=True)
        records = []
        for i, record in enumerate(stream):
            if max_documents is not None and i >= max_documents:
                break
            records.append(_doc(record, f"{name}-{i}", test_fraction))
    except Exception as exc:  # network, unknown dataset, missing column: all user-fixable
        raise CorpusError(
            f"could not read Hugging Face dataset {name!r} ({type(exc).__name__}); offline machines "
            "cannot reach the hub: use the bundled corpus or a local .jsonl/.txt/.parquet file"
        ) from exc
    return records


def _bundled() -> list[Document]:
    folder = resources.files("babellens.data") / "corpus"
    docs: list[Document] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jsonl"):
            with resources.as_file(entry) as path:
                docs.extend(_read_jsonl(path, 0.2))
    return docs


def load_corpus(
    spec: str | Path | None = None,
    *,
    split: Split | None = None,
    languages: Iterable[str] | None = None,
    test_fraction: float = 0.2,
    max_documents: int | None = None,
) -> Corpus:
    """The bundled corpus (``None`` or ``"babel-mini"``), a file or folder, or ``hf:NAME``."""
    if not 0.0 <= test_fraction < 1.0:
        raise InvalidInputError("test_fraction must be in [0, 1)")
    name = str(spec) if spec is not None else BUNDLED_CORPUS
    if name == BUNDLED_CORPUS:
        docs = _bundled()
    elif name.startswith("hf:"):
        docs = _read_hf(name, test_fraction, max_documents)
    else:
        path = Path(name).expanduser()
        if not path.exists():
            raise CorpusError(
                f"corpus {name!r} not found: give {BUNDLED_CORPUS!r}, a .txt/.jsonl/.parquet file, a folder or hf:NAME"
            )
        docs = _read_path(path, test_fraction)
    if languages is not None:
        wanted = set(languages)
        docs = [d for d in docs if d.lang in wanted]
    docs = [d for d in docs if d.text.strip()]
    if max_documents is not None:
        docs = docs[:max_documents]
    corpus = Corpus(name, tuple(docs)).split(split)
    if not corpus.documents:
        raise CorpusError(f"corpus {corpus.name!r} is empty: it has no non-empty documents")
    return corpus
