"""The Python standard library as a corpus: found on this machine, split by file, deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest

from unmask.train.data import ByteText, python_stdlib_corpus, stdlib_files
from unmask.train.data.stdlib_corpus import stdlib_root, validation_share


def test_corpus_is_found_and_split_by_file() -> None:
    """On this interpreter the standard library gives files in both splits; no file is in both; the
    union is every file found; each file sits on the side its path hash puts it (5% validation);
    no file comes from site-packages or a test folder; the order is sorted by relative path."""
    split = stdlib_files()
    assert len(split.train) > 50 and len(split.validation) > 0
    train, validation = set(split.train), set(split.validation)
    assert not train & validation
    root = stdlib_root()
    for path in split.train + split.validation:
        relative = path.relative_to(root)
        assert path.suffix == ".py"
        assert not {"site-packages", "test", "tests", "idle_test"} & set(relative.parts[:-1])
        held_out = validation_share(relative.as_posix()) < 0.05
        assert held_out == (path in validation)
    names = [p.relative_to(root).as_posix() for p in split.train]
    assert names == sorted(names)


def test_split_is_deterministic_and_stable_under_max_files() -> None:
    """Two calls give the same split; with ``max_files`` each kept file is on the same side as in
    the full split (a file's side depends on its path alone)."""
    first, second = stdlib_files(), stdlib_files()
    assert first == second
    few = stdlib_files(max_files=200)
    assert set(few.train) <= set(first.train) and set(few.validation) <= set(first.validation)
    assert len(few.train) + len(few.validation) == 200


def test_source_holds_both_splits_and_reports_them() -> None:
    """``python_stdlib_corpus`` builds one byte-level source: training rows come from the training
    files and validation blocks from the validation files (each decoded row is a substring of its
    split's files joined with NUL); ``describe()["corpus"]`` counts the files and bytes of each split."""
    split = stdlib_files(max_files=40, validation_fraction=0.3)
    source = python_stdlib_corpus(48, max_files=40, validation_fraction=0.3)
    assert isinstance(source, ByteText) and source.name == "python-stdlib" and source.vocab_size == 256
    train_text = b"".join(path.read_bytes() + b"\x00" for path in split.train)
    validation_text = b"".join(path.read_bytes() + b"\x00" for path in split.validation)
    for row in source.batch(0, 32, seed=0).tolist():
        assert bytes(row) in train_text
    for row in source.validation_tokens().tolist():
        assert bytes(row) in validation_text
    corpus = source.describe()["corpus"]
    assert corpus["train_files"] == len(split.train) and corpus["validation_files"] == len(split.validation)
    assert corpus["train_bytes"] == len(train_text) - len(split.train)
    assert corpus["validation_bytes"] == len(validation_text) - len(split.validation)


def test_skip_rules_on_a_small_tree(tmp_path: Path) -> None:
    """In a made-up library folder: ``site-packages`` and ``__pycache__`` are never read, test
    folders only with ``include_tests``, non-``.py`` files never."""
    for name in ["a.py", "pkg/b.py", "pkg/test/c.py", "tests/d.py", "site-packages/e.py", "__pycache__/f.py"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    (tmp_path / "notes.txt").write_text("not python")

    def found(include_tests: bool) -> list[str]:
        split = stdlib_files(root=tmp_path, include_tests=include_tests, validation_fraction=0.5)
        return sorted(p.relative_to(tmp_path).as_posix() for p in split.train + split.validation)

    assert found(False) == ["a.py", "pkg/b.py"]
    assert found(True) == ["a.py", "pkg/b.py", "pkg/test/c.py", "tests/d.py"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_files": 0}, ValueError, "max_files must be an integer >= 1"),
        ({"validation_fraction": 0.0}, ValueError, r"validation_fraction must lie in \(0, 1\)"),
        ({"include_tests": "yes"}, TypeError, "include_tests must be True or False"),
        ({"root": "/no/such/folder"}, ValueError, "is not a folder"),
        ({"max_files": 1, "validation_fraction": 1e-9}, ValueError, "the validation split .* is empty"),
    ],
)
def test_bad_options_raise(kwargs: dict, error: type[Exception], message: str) -> None:
    """Bad options, a missing folder and an empty split raise, naming the option and the fix."""
    with pytest.raises(error, match=message):
        stdlib_files(**kwargs)


def test_folder_without_python_files_raises(tmp_path: Path) -> None:
    """A folder with no ``*.py`` file raises ``ValueError`` saying none was found."""
    with pytest.raises(ValueError, match=r"no \*\.py files were found"):
        stdlib_files(root=tmp_path)
