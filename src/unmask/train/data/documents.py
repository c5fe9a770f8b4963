"""Reading the documents of a text corpus: local files or in-memory texts, as bytes.

Every check runs before any file is read: a missing path raises :class:`MissingFileError` (both a
``FileNotFoundError`` and a ``ValueError``), a folder or an empty list a ``ValueError``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class MissingFileError(FileNotFoundError, ValueError):
    """A corpus file that does not exist (a ``FileNotFoundError`` and a ``ValueError``)."""


@dataclass(frozen=True)
class Documents:
    """The documents of a corpus, in order.

    Attributes:
        contents: the bytes of each document.
        labels: the file path of each document, or ``"<text i>"`` for in-memory texts.
        from_files: whether they were read from files.
    """

    contents: tuple[bytes, ...]
    labels: tuple[str, ...]
    from_files: bool

    @property
    def total_bytes(self) -> int:
        """The number of bytes over all documents (separators not counted)."""
        return sum(len(content) for content in self.contents)


def check_paths(name: str, paths: object) -> tuple[Path, ...]:
    """``paths`` (a sequence of str or ``os.PathLike``) as ``Path`` objects, each an existing file.

    Raises ``TypeError`` for a lone string or a non-path entry, ``ValueError`` for an empty list or
    a path that is not a regular file, :class:`MissingFileError` for a path that does not exist.
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{name} must be a list of file paths, got a single path {paths!r}; wrap it in a list"
        )
    if not isinstance(paths, Sequence):
        raise TypeError(f"{name} must be a list of file paths, got {type(paths).__name__}")
    if len(paths) == 0:
        raise ValueError(f"{name} must name at least one file, got an empty list")
    checked = []
    for index, path in enumerate(paths):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"{name}[{index}] must be a file path (str or Path), got {path!r}")
        path = Path(path)
        if not path.exists():
            raise MissingFileError(f"{name}[{index}] = {str(path)!r} does not exist; check the path")
        if not path.is_file():
            raise ValueError(f"{name}[{index}] = {str(path)!r} is not a regular file (a folder?); name files")
        checked.append(path)
    return tuple(checked)


def read_files(name: str, paths: object) -> Documents:
    """The bytes of every file in ``paths`` (checked first by :func:`check_paths`)."""
    checked = check_paths(name, paths)
    return Documents(tuple(path.read_bytes() for path in checked), tuple(map(str, checked)), True)


def read_texts(name: str, texts: object) -> Documents:
    """In-memory documents: each ``str`` is encoded as UTF-8, each ``bytes`` kept as it is."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{name} must be a list of documents, got a single {type(texts).__name__}; wrap it")
    if not isinstance(texts, Sequence):
        raise TypeError(f"{name} must be a list of str or bytes documents, got {type(texts).__name__}")
    if len(texts) == 0:
        raise ValueError(f"{name} must hold at least one document, got an empty list")
    contents = []
    for index, text in enumerate(texts):
        if isinstance(text, str):
            contents.append(text.encode("utf-8"))
        elif isinstance(text, (bytes, bytearray)):
            contents.append(bytes(text))
        else:
            raise TypeError(f"{name}[{index}] must be a str or bytes document, got {type(text).__name__}")
    return Documents(tuple(contents), tuple(f"<text {i}>" for i in range(len(contents))), False)


def check_corpus(
    files: object, texts: object, validation_files: object = None, validation_texts: object = None
) -> tuple[tuple[Path, ...] | None, tuple[Path, ...] | None]:
    """Check the corpus arguments without reading a file: exactly one of ``files`` and ``texts``, at
    most one of ``validation_files`` and ``validation_texts``, every path an existing file.
    Returns the checked paths of ``files`` and ``validation_files`` (``None`` where not given)."""
    if (files is None) == (texts is None):
        raise ValueError(
            "give exactly one of files (a list of paths) and texts (a list of documents), "
            f"got {'both' if files is not None else 'neither'}"
        )
    if validation_files is not None and validation_texts is not None:
        raise ValueError("give validation_files or validation_texts, not both")
    train_paths = None if files is None else check_paths("files", files)
    validation_paths = None if validation_files is None else check_paths("validation_files", validation_files)
    return train_paths, validation_paths


def load_corpus(
    files: object, texts: object, validation_files: object = None, validation_texts: object = None
) -> tuple[Documents, Documents | None]:
    """The training documents (exactly one of ``files`` and ``texts``) and the explicit validation
    documents (at most one of ``validation_files`` and ``validation_texts``; ``None`` when neither).

    Every argument is checked (:func:`check_corpus`, then the texts) before any file is read.
    """
    train_paths, validation_paths = check_corpus(files, texts, validation_files, validation_texts)
    train_texts = None if texts is None else read_texts("texts", texts)
    extra_texts = None if validation_texts is None else read_texts("validation_texts", validation_texts)
    train = train_texts if train_paths is None else read_files("files", train_paths)
    validation = extra_texts if validation_paths is None else read_files("validation_files", validation_paths)
    return train, validation
