"""``ByteText``: the separator policy, byte round trip, both split policies and the clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unmask.train.data import ByteText, MissingFileError


def test_separator_follows_every_document() -> None:
    """With explicit validation texts the training stream is exactly ``doc_1 sep doc_2 sep`` (the
    default separator is one NUL byte)."""
    source = ByteText(length=2, texts=["ab", b"cd"], validation_texts=["xy"], separator=b"|")
    assert bytes(source.train_tokens.tolist()) == b"ab|cd|"
    assert source.validation_tokens().tolist() == [list(b"xy")]  # b"xy|" packs into one block
    default = ByteText(length=2, texts=["ab", "cd"], validation_texts=["xy"])
    assert bytes(default.train_tokens.tolist()) == b"ab\x00cd\x00"


def test_decoded_rows_are_substrings_of_the_corpus(documents: list[str], corpus_files: list[Path]) -> None:
    """Byte round trip: every training row (over 20 steps) and every validation block, decoded, is a
    substring of the corpus joined with its separator; files and texts of the same documents give
    the same source."""
    corpus = "".join(text + "\x00" for text in documents)
    from_texts = ByteText(length=24, texts=documents)
    from_files = ByteText(length=24, files=corpus_files)
    for step in range(20):
        rows = from_texts.batch(step, 8, seed=0)
        assert torch.equal(rows, from_files.batch(step, 8, seed=0))
        assert all(text in corpus for text in from_texts.decode(rows))
    assert all(text in corpus for text in from_texts.decode(from_texts.validation_tokens()))
    assert isinstance(from_texts.decode(rows[0]), str)


def test_tail_split_keeps_training_rows_out_of_the_held_out_tail() -> None:
    """Without validation documents the last ``validation_fraction`` of the stream is validation
    only: on ``"a" * 900 + "b" * 100`` (fraction 0.1, no separator) no training row over 50 steps
    holds a ``b`` and every validation block is all ``b``."""
    source = ByteText(length=10, texts=["a" * 900 + "b" * 100], separator=b"", validation_fraction=0.1)
    b = ord("b")
    for step in range(50):
        assert not bool((source.batch(step, 16, seed=0) == b).any())
    assert source.validation_size == 10 and bool((source.validation_tokens() == b).all())
    assert source.describe()["split"] == "tail"


def test_explicit_validation_documents_give_the_validation_blocks() -> None:
    """With validation texts, validation blocks come from them alone and training rows from the
    training texts alone."""
    source = ByteText(length=8, texts=["a" * 200], validation_texts=["z" * 80], separator=b"")
    assert bool((source.validation_tokens() == ord("z")).all()) and source.validation_size == 10
    assert bool((source.batch(0, 32, seed=0) == ord("a")).all())
    assert source.describe()["split"] == "documents"


def test_validation_blocks_cap_keeps_evenly_spaced_distinct_blocks() -> None:
    """``validation_blocks = 4`` of 10 available blocks keeps blocks 0, 2, 5, 7 (floor(i * 10 / 4))."""
    text = b"".join(bytes([c]) * 4 for c in range(48, 58))  # block i is byte 48 + i, four times
    source = ByteText(
        length=4, texts=[b"q" * 40], validation_texts=[text], separator=b"", validation_blocks=4
    )
    assert source.validation_tokens()[:, 0].tolist() == [48, 50, 53, 55]
    assert source.describe()["validation"]["blocks_available"] == 10


def test_describe_reports_files_and_bytes(corpus_files: list[Path]) -> None:
    """``describe()`` lists the files, counts their bytes and hashes both streams."""
    source = ByteText(length=16, files=corpus_files[:4], validation_files=corpus_files[4:6])
    description = source.describe()
    assert description["train"]["files"] == [str(p) for p in corpus_files[:4]]
    assert description["train"]["bytes"] == sum(p.stat().st_size for p in corpus_files[:4])
    assert description["validation"]["bytes"] == sum(p.stat().st_size for p in corpus_files[4:6])
    assert len(description["train"]["sha256"]) == 64 and description["vocab_size"] == 256


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"files": ["/no/such/file.txt"]},
            MissingFileError,
            r"files\[0\] = '/no/such/file.txt' does not exist",
        ),
        ({"files": []}, ValueError, "files must name at least one file"),
        ({"files": "/no/such/file.txt"}, TypeError, "wrap it in a list"),
        ({"texts": []}, ValueError, "texts must hold at least one document"),
        ({"texts": [1]}, TypeError, r"texts\[0\] must be a str or bytes"),
        ({"texts": ["", ""]}, ValueError, "the corpus is empty"),
        ({"texts": ["short text"]}, ValueError, "the corpus is too short"),
        ({"texts": ["x" * 100], "validation_texts": [""]}, ValueError, "the validation corpus is empty"),
        ({"texts": ["x" * 100], "validation_texts": ["y"]}, ValueError, "the validation corpus is too short"),
        ({}, ValueError, "give exactly one of files"),
        ({"texts": ["x" * 100], "files": ["a"]}, ValueError, "give exactly one of files"),
        ({"texts": ["x" * 100], "separator": "|"}, TypeError, "separator must be bytes"),
        (
            {"texts": ["x" * 100], "validation_fraction": 1.0},
            ValueError,
            r"validation_fraction must lie in \(0, 1\)",
        ),
        (
            {"texts": ["x" * 100], "validation_blocks": 0},
            ValueError,
            "validation_blocks must be an integer >= 1",
        ),
        ({"texts": ["x" * 100], "length": 0}, ValueError, "length must be an integer >= 1"),
    ],
)
def test_bad_corpus_raises(kwargs: dict, error: type[Exception], message: str) -> None:
    """Each bad corpus or option raises the stated error naming the argument and what is expected."""
    arguments = {"length": 16, **kwargs}
    with pytest.raises(error, match=message):
        ByteText(**arguments)


def test_missing_file_is_both_a_file_error_and_a_value_error(tmp_path: Path) -> None:
    """A missing file raises ``MissingFileError``: a ``FileNotFoundError`` and a ``ValueError``; a
    folder raises ``ValueError``; files of zero bytes make an empty corpus."""
    with pytest.raises(FileNotFoundError):
        ByteText(length=4, files=[tmp_path / "missing.txt"])
    with pytest.raises(ValueError, match="does not exist"):
        ByteText(length=4, files=[tmp_path / "missing.txt"])
    with pytest.raises(ValueError, match="not a regular file"):
        ByteText(length=4, files=[tmp_path])
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="the corpus is empty"):
        ByteText(length=4, files=[tmp_path / "empty.txt"])
