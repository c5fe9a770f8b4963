"""``data_from_spec``: each spec gives the right source; unknown specs and misplaced options raise."""

from __future__ import annotations

from pathlib import Path

import pytest

from unmask.train.data import ByteText, TargetData, TokenizedText, data_from_spec


def test_hmm_gives_the_default_target_at_the_requested_length() -> None:
    """``"hmm"`` is ``TargetData`` of the default HMM (V = 4) with the requested length and an
    exact entropy."""
    source = data_from_spec("hmm", 20, validation_size=16)
    assert isinstance(source, TargetData) and source.name == "hmm"
    assert (source.vocab_size, source.length, source.validation_size) == (4, 20, 16)
    assert source.true_entropy_per_token() > 0


def test_python_stdlib_gives_bytes_or_tokens(tokenizer_file: Path) -> None:
    """``"python-stdlib"`` gives byte-level text, and tokenised text with a tokenizer (V from it)."""
    as_bytes = data_from_spec("python-stdlib", 32, max_files=40, validation_fraction=0.3, validation_blocks=8)
    assert isinstance(as_bytes, ByteText) and as_bytes.name == "python-stdlib"
    assert as_bytes.describe()["corpus"]["validation_fraction"] == 0.3
    as_tokens = data_from_spec(
        "python-stdlib", 32, tokenizer_path=tokenizer_file, max_files=40, validation_fraction=0.3
    )
    assert isinstance(as_tokens, TokenizedText) and as_tokens.name == "python-stdlib"
    assert as_tokens.vocab_size < 256 and as_tokens.describe()["split"] == "documents"


def test_file_paths_give_bytes_or_tokens(corpus_files: list[Path], tokenizer_file: Path) -> None:
    """A list of paths (or one existing path) gives ``ByteText``; with a tokenizer ``TokenizedText``."""
    assert isinstance(data_from_spec(corpus_files, 16), ByteText)
    assert isinstance(data_from_spec(str(corpus_files[0]), 8, validation_fraction=0.3), ByteText)
    tokens = data_from_spec(corpus_files, 8, tokenizer_path=tokenizer_file, separator="</s>")
    assert isinstance(tokens, TokenizedText) and tokens.describe()["separator"] == "</s>"
    spaced = data_from_spec(corpus_files, 16, separator=b"\n")
    assert spaced.describe()["separator"] == [10]


@pytest.mark.parametrize(
    ("spec", "kwargs", "error", "message"),
    [
        ("markov", {}, ValueError, "spec must be one of 'hmm', 'python-stdlib' or the paths of text files"),
        (3, {}, TypeError, "spec must be a name"),
        ("hmm", {"tokenizer_path": "tokenizer.json"}, ValueError, "tokenizer_path applies to text data only"),
        ("hmm", {"separator": b"\n"}, ValueError, "separator applies to text data only"),
        ("hmm", {"length": 0}, ValueError, "length must be an integer >= 1"),
        (["/no/such/file.txt"], {}, ValueError, "does not exist"),
    ],
)
def test_bad_specs_raise(spec: object, kwargs: dict, error: type[Exception], message: str) -> None:
    """Unknown names, wrong types and options that do not apply raise, naming the accepted values."""
    arguments = {"length": 16, **kwargs}
    with pytest.raises(error, match=message):
        data_from_spec(spec, **arguments)
