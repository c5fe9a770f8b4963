"""Tiny corpora, a tokenizer trained here from one of them, and one source of every kind.

Nothing reaches the network: the corpus is generated from a fixed word list with a fixed seed, the
tokenizer is a ``WordLevel`` model trained on it and saved to a temporary ``tokenizer.json``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from unmask.train.data import (
    ByteText,
    TargetData,
    TokenizedText,
    TokenSource,
    default_target,
    python_stdlib_corpus,
)

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "box",
    "one",
    "jolly",
    "queen",
]

#: Special tokens of the test tokenizer; ``</s>`` separates documents.
SPECIAL = ["[UNK]", "</s>"]


def make_documents(count: int = 12, words: int = 60, seed: int = 0) -> list[str]:
    """``count`` documents of ``words`` words each, drawn from :data:`WORDS` with a fixed seed."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)) + "." for _ in range(count)]


@pytest.fixture(scope="session")
def documents() -> list[str]:
    return make_documents()


@pytest.fixture(scope="session")
def corpus_files(tmp_path_factory: pytest.TempPathFactory, documents: list[str]) -> list[Path]:
    """The documents written to one file each."""
    folder = tmp_path_factory.mktemp("corpus")
    paths = []
    for index, text in enumerate(documents):
        path = folder / f"doc{index:02d}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def tokenizer_file(tmp_path_factory: pytest.TempPathFactory, documents: list[str]) -> Path:
    """A WordLevel tokenizer (whitespace and punctuation split) trained on the documents."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(documents, trainers.WordLevelTrainer(special_tokens=SPECIAL))
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


LENGTH = 16

#: Builders of one small source of every kind: name -> (documents, corpus files, tokenizer) -> source.
BUILDERS: dict[str, Callable[[list[str], list[Path], Path], TokenSource]] = {
    "hmm": lambda docs, files, tok: TargetData(default_target(LENGTH), validation_size=64, name="hmm"),
    "bytes-texts": lambda docs, files, tok: ByteText(length=LENGTH, texts=docs, validation_fraction=0.2),
    "bytes-files": lambda docs, files, tok: ByteText(
        length=LENGTH, files=files[:9], validation_files=files[9:]
    ),
    "tokenized": lambda docs, files, tok: TokenizedText(
        tokenizer_path=tok, length=LENGTH, files=files, separator="</s>", validation_fraction=0.2
    ),
    "python-stdlib": lambda docs, files, tok: python_stdlib_corpus(
        LENGTH, max_files=40, validation_fraction=0.3, validation_blocks=256
    ),
}


@pytest.fixture(scope="session")
def built_sources(
    documents: list[str], corpus_files: list[Path], tokenizer_file: Path
) -> dict[str, TokenSource]:
    """One source of every kind in :data:`BUILDERS`, built once."""
    return {name: build(documents, corpus_files, tokenizer_file) for name, build in BUILDERS.items()}


@pytest.fixture(params=sorted(BUILDERS))
def source(request: pytest.FixtureRequest, built_sources: dict[str, TokenSource]) -> TokenSource:
    """Each source kind in turn."""
    return built_sources[request.param]
