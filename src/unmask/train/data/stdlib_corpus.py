"""The Python standard library's own source files as a training corpus, split by file.

Files: every ``*.py`` file under ``sysconfig.get_paths()["stdlib"]`` of the running interpreter,
skipping the folders ``site-packages``, ``dist-packages`` and ``__pycache__`` and, unless
``include_tests``, every folder named ``test``, ``tests`` or ``idle_test``. They are ordered by
their relative POSIX path (sorted), and ``max_files`` keeps the first ones of that order.

Split: a file goes to validation when the first 8 bytes of SHA-256 of its relative path, read as a
fraction of ``2**64``, fall below ``validation_fraction`` (default 0.05). The split is by file (no
file is in both), depends only on the path (adding a file moves no other file), and is the same on
every machine with the same standard library.
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from ... import checks
from .bytes_text import SEPARATOR, ByteText
from .packed_text import VALIDATION_BLOCKS, check_validation_options
from .tokenized import TokenizedText

#: Fraction of the files held out for validation.
STDLIB_VALIDATION_FRACTION = 0.05
#: Folders never read.
SKIPPED_FOLDERS = frozenset({"site-packages", "dist-packages", "__pycache__"})
#: Folders of tests, read only with ``include_tests=True``.
TEST_FOLDERS = frozenset({"test", "tests", "idle_test"})


def validation_share(relative_path: str) -> float:
    """Where ``relative_path`` falls in ``[0, 1)``: the first 8 bytes of its SHA-256 over ``2**64``."""
    digest = hashlib.sha256(relative_path.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class StdlibSplit:
    """The standard-library files of each split (absolute paths, sorted by relative path).

    Attributes: ``root``, ``train``, ``validation``, ``include_tests``, ``validation_fraction``,
    ``max_files``.
    """

    root: Path
    train: tuple[Path, ...]
    validation: tuple[Path, ...]
    include_tests: bool
    validation_fraction: float
    max_files: int | None

    @property
    def train_bytes(self) -> int:
        """Bytes in the training files."""
        return sum(path.stat().st_size for path in self.train)

    @property
    def validation_bytes(self) -> int:
        """Bytes in the validation files."""
        return sum(path.stat().st_size for path in self.validation)

    def summary(self) -> dict[str, object]:
        """JSON-safe counts of files and bytes of each split, and the options that chose them."""
        return {
            "root": str(self.root),
            "include_tests": self.include_tests,
            "validation_fraction": self.validation_fraction,
            "max_files": self.max_files,
            "train_files": len(self.train),
            "validation_files": len(self.validation),
            "train_bytes": self.train_bytes,
            "validation_bytes": self.validation_bytes,
        }


def stdlib_root() -> Path:
    """The running interpreter's standard-library folder (``sysconfig.get_paths()["stdlib"]``)."""
    return Path(sysconfig.get_paths()["stdlib"])


def _python_files(root: Path, include_tests: bool) -> list[str]:
    """Relative POSIX paths of the ``*.py`` files under ``root`` (module docstring), sorted."""
    skipped = SKIPPED_FOLDERS if include_tests else SKIPPED_FOLDERS | TEST_FOLDERS
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in skipped]
        relative = Path(folder).relative_to(root)
        found.extend((relative / name).as_posix() for name in names if name.endswith(".py"))
    return sorted(found)


def stdlib_files(
    *,
    include_tests: bool = False,
    validation_fraction: float = STDLIB_VALIDATION_FRACTION,
    max_files: int | None = None,
    root: str | os.PathLike | None = None,
) -> StdlibSplit:
    """The standard-library files split into train and validation by file (module docstring).

    ``root`` replaces the interpreter's standard-library folder (for tests). Raises ``ValueError``
    when no file is found or when a split is empty (then raise ``validation_fraction`` or
    ``max_files``).
    """
    if not isinstance(include_tests, bool):
        raise TypeError(f"include_tests must be True or False, got {include_tests!r}")
    checks.probability("validation_fraction", validation_fraction, open_low=True, open_high=True)
    if max_files is not None:
        checks.positive_int("max_files", max_files)
    folder = stdlib_root() if root is None else Path(root)
    if not folder.is_dir():
        raise ValueError(f"root = {str(folder)!r} is not a folder; give the standard library's folder")
    relative = _python_files(folder, include_tests)
    if not relative:
        raise ValueError(
            f"no *.py files were found under {str(folder)!r}; is this a Python standard library?"
        )
    chosen = relative if max_files is None else relative[:max_files]
    held_out = [validation_share(path) < validation_fraction for path in chosen]
    train = tuple(folder / path for path, held in zip(chosen, held_out, strict=True) if not held)
    validation = tuple(folder / path for path, held in zip(chosen, held_out, strict=True) if held)
    if not train or not validation:
        empty = "validation" if not validation else "training"
        raise ValueError(
            f"the {empty} split of the standard library is empty ({len(chosen)} files, "
            f"validation_fraction={validation_fraction}); raise max_files or change validation_fraction"
        )
    return StdlibSplit(folder, train, validation, include_tests, validation_fraction, max_files)


def python_stdlib_corpus(
    length: int,
    *,
    tokenizer_path: str | os.PathLike | None = None,
    separator: bytes | str | None = None,
    include_tests: bool = False,
    validation_fraction: float = STDLIB_VALIDATION_FRACTION,
    max_files: int | None = None,
    validation_blocks: int | None = VALIDATION_BLOCKS,
    root: str | os.PathLike | None = None,
) -> ByteText | TokenizedText:
    """One source with both splits of :func:`stdlib_files`: byte-level (:class:`ByteText`, ``V =
    256``) or, with ``tokenizer_path``, tokenised (:class:`TokenizedText`). Named ``"python-stdlib"``.

    ``separator``: for bytes, ``None`` means the default ``b"\\x00"``; for tokens, a token string or
    ``None`` (no separator). ``describe()["corpus"]`` reports the files and bytes of each split.
    """
    checks.positive_int("length", length)
    check_validation_options(validation_fraction, validation_blocks)
    split = stdlib_files(
        include_tests=include_tests, validation_fraction=validation_fraction, max_files=max_files, root=root
    )
    common = {
        "length": length,
        "files": split.train,
        "validation_files": split.validation,
        "validation_blocks": validation_blocks,
        "name": "python-stdlib",
        "metadata": split.summary(),
    }
    if tokenizer_path is None:
        if separator is not None and not isinstance(separator, (bytes, bytearray)):
            raise TypeError(f"separator must be bytes for byte-level text, got {separator!r}")
        return ByteText(separator=SEPARATOR if separator is None else bytes(separator), **common)
    if separator is not None and not isinstance(separator, str):
        raise TypeError(f"separator must be a token string or None for tokenised text, got {separator!r}")
    return TokenizedText(tokenizer_path=tokenizer_path, separator=separator, **common)
