"""``TokenizedText`` with a WordLevel tokenizer trained in the test on a tiny corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from unmask.train.data import MissingFileError, TokenizedText

from .conftest import SPECIAL


def encoded_stream(tokenizer_file: Path, documents: list[str], separator: str | None) -> list[int]:
    """The expected stream, built independently: each document encoded alone, the separator id after it."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    stream: list[int] = []
    for text in documents:
        stream += tokenizer.encode(text, add_special_tokens=False).ids
        if separator is not None:
            stream.append(tokenizer.token_to_id(separator))
    return stream


def is_window(row: list[int], stream: list[int]) -> bool:
    """Whether ``row`` occurs as consecutive ids of ``stream``."""
    width = len(row)
    return any(stream[i : i + width] == row for i in range(len(stream) - width + 1))


def test_vocabulary_is_the_tokenizer_vocabulary(tokenizer_file: Path, documents: list[str]) -> None:
    """``V`` is the tokenizer's vocabulary size (words of the corpus plus the special tokens)."""
    source = TokenizedText(tokenizer_path=tokenizer_file, length=8, texts=documents)
    words = {word for text in documents for word in text.replace(".", " .").split()}
    assert source.vocab_size == len(words) + len(SPECIAL)


def test_rows_are_windows_of_the_encoded_corpus(tokenizer_file: Path, documents: list[str]) -> None:
    """Every training row (20 steps) and validation block is a run of consecutive ids of the corpus
    encoded document by document with ``</s>`` after each; decoding gives the corpus's words."""
    source = TokenizedText(tokenizer_path=tokenizer_file, length=12, texts=documents, separator="</s>")
    stream = encoded_stream(tokenizer_file, documents, "</s>")
    assert source.train_tokens.tolist() == stream[: source.train_tokens.shape[0]]
    for step in range(20):
        assert all(is_window(row, stream) for row in source.batch(step, 4, seed=1).tolist())
    assert all(is_window(row, stream) for row in source.validation_tokens().tolist())
    text = source.decode(source.batch(0, 2, seed=1))[0]
    assert set(text.split()) <= set(" ".join(documents).replace(".", " .").split()) | {"</s>"}


def test_without_separator_documents_are_joined_directly(tokenizer_file: Path, documents: list[str]) -> None:
    """``separator=None``: the stream is the documents' ids back to back, with no ``</s>``."""
    source = TokenizedText(tokenizer_path=tokenizer_file, length=8, texts=documents)
    stream = encoded_stream(tokenizer_file, documents, None)
    assert source.train_tokens.tolist() == stream[: source.train_tokens.shape[0]]
    separator_id = encoded_stream(tokenizer_file, [""], "</s>")[-1]
    assert not bool((source.train_tokens == separator_id).any())


def test_describe_names_the_tokenizer(tokenizer_file: Path, corpus_files: list[Path]) -> None:
    """``describe()`` records the tokenizer path and hash, the separator and the files."""
    source = TokenizedText(tokenizer_path=tokenizer_file, length=8, files=corpus_files, separator="</s>")
    description = source.describe()
    assert description["kind"] == "tokenized" and description["separator"] == "</s>"
    assert description["tokenizer"]["path"] == str(tokenizer_file)
    assert len(description["tokenizer"]["sha256"]) == 64
    assert description["train"]["files"] == [str(p) for p in corpus_files]


def test_missing_tokenizer_file_raises(tmp_path: Path, documents: list[str]) -> None:
    """A tokenizer path that does not exist raises ``MissingFileError`` naming ``tokenizer_path``."""
    with pytest.raises(MissingFileError, match="tokenizer_path = .* does not exist"):
        TokenizedText(tokenizer_path=tmp_path / "tokenizer.json", length=8, texts=documents)


def test_invalid_tokenizer_file_raises(tmp_path: Path, documents: list[str]) -> None:
    """A file that is not a tokenizers JSON raises ``ValueError`` naming ``tokenizer_path``."""
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="is not a tokenizers JSON file"):
        TokenizedText(tokenizer_path=bad, length=8, texts=documents)


def test_unknown_separator_raises(tokenizer_file: Path, documents: list[str]) -> None:
    """A separator that is not a token of the tokenizer raises ``ValueError`` naming it."""
    with pytest.raises(ValueError, match="separator = '<eos>' is not a token"):
        TokenizedText(tokenizer_path=tokenizer_file, length=8, texts=documents, separator="<eos>")


def test_missing_corpus_file_is_reported_before_the_tokenizer_is_read(tmp_path: Path) -> None:
    """A missing corpus file is reported even when the tokenizer is missing too (checked first)."""
    with pytest.raises(MissingFileError, match=r"files\[0\]"):
        TokenizedText(tokenizer_path=tmp_path / "none.json", length=8, files=[tmp_path / "none.txt"])


def test_missing_tokenizers_library_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tokenizer_file: Path, documents: list[str]
) -> None:
    """Without the optional ``tokenizers`` library the error says ``pip install tokenizers``."""
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # makes `import tokenizers` fail
    with pytest.raises(ImportError, match="pip install tokenizers"):
        TokenizedText(tokenizer_path=tokenizer_file, length=8, texts=documents)


def test_import_of_the_package_does_not_import_tokenizers() -> None:
    """``import unmask`` does not import this package, and importing it does not load the optional
    ``tokenizers`` (checked in a fresh interpreter)."""
    code = (
        "import sys, unmask; assert 'unmask.train.data' not in sys.modules; "
        "import unmask.train.data; assert 'tokenizers' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
