"""unmask.train.data: token sources for training, deterministic in ``(seed, step, rank, world_size)``.

Every source follows :class:`TokenSource`: ``batch(step, batch_size, seed=, rank=, world_size=)``
gives LongTensor ``[batch_size // world_size, L]`` as a pure function of its arguments (exact
resume; the ranks' rows concatenated are the ``world_size = 1`` batch), ``validation(batch_size)``
walks a fixed validation set, ``describe()`` is a JSON-safe record for checkpoints.

Sources: :class:`TargetData` (an exact target; :func:`default_target` is the built-in HMM with an
exact entropy), :class:`ByteText` (``V = 256``), :func:`python_stdlib_corpus` (the interpreter's own
standard library, split by file), :class:`TokenizedText` (a local ``tokenizers`` tokenizer), and
:func:`data_from_spec` to pick one by name.
"""

from .bytes_text import ByteText
from .default_target import default_target
from .documents import MissingFileError
from .entropy import exact_entropy, has_exact_entropy
from .packed_text import PackedText
from .packing import concatenate, pack, windows
from .rebuild import target_from_description
from .seeds import derive_seed, step_generator
from .sharding import check_shard, shard_rows, validation_batches
from .source import TokenSource
from .spec import NAMED_SOURCES, data_from_spec
from .stdlib_corpus import StdlibSplit, python_stdlib_corpus, stdlib_files
from .target_data import TargetData
from .tokenized import TokenizedText, load_tokenizer

__all__ = [
    "NAMED_SOURCES",
    "ByteText",
    "MissingFileError",
    "PackedText",
    "StdlibSplit",
    "TargetData",
    "TokenSource",
    "TokenizedText",
    "check_shard",
    "concatenate",
    "data_from_spec",
    "default_target",
    "derive_seed",
    "exact_entropy",
    "has_exact_entropy",
    "load_tokenizer",
    "pack",
    "python_stdlib_corpus",
    "shard_rows",
    "stdlib_files",
    "step_generator",
    "target_from_description",
    "validation_batches",
    "windows",
]
