"""``ModelConfig``: the size and kind of a transformer, JSON-safe, with named presets."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ... import checks

#: Named sizes: ``d_model``, ``n_layers``, ``n_heads`` (the vocabulary, length and kind are given).
#: ``tiny`` is for tests; ``small`` trains in minutes on two CPU cores; ``gpt2-*`` are the GPT-2
#: sizes (about 85M and 302M non-embedding parameters for a denoiser).
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 32, "n_layers": 2, "n_heads": 2},
    "small": {"d_model": 128, "n_layers": 4, "n_heads": 4},
    "gpt2-small": {"d_model": 768, "n_layers": 12, "n_heads": 12},
    "gpt2-medium": {"d_model": 1024, "n_layers": 24, "n_heads": 16},
}


@dataclass(frozen=True)
class ModelConfig:
    """The architecture of a model of the training layer (every field is checked on creation).

    Args:
        kind: the model class, a key of :data:`unmask.train.models.MODEL_KINDS` (``"denoiser"``,
            ``"hollow"``, ``"autoregressive"``).
        vocab_size: ``V``, the number of clean tokens; the mask id (BOS for the autoregressive
            model) is ``V``, so embeddings have ``V + 1`` rows and outputs ``V`` columns.
        length: the longest sequence ``L`` the model accepts (the rotary tables cover it).
        d_model: width of the residual stream.
        n_layers: transformer blocks (per stream for the hollow model).
        n_heads: attention heads; ``d_model / n_heads`` must be an even integer (rotary pairs).
        mlp_ratio: hidden width of the MLP over ``d_model`` (``> 0``; the width is rounded down).
        dropout: dropout probability in ``[0, 1)`` on attention weights and residual branches.
        time_conditioning: condition every block on ``t`` by adaLN. Off by default: the exact
            denoiser of the masked process does not depend on ``t`` (spec §1.1).
    """

    kind: str
    vocab_size: int
    length: int
    d_model: int
    n_layers: int
    n_heads: int
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    time_conditioning: bool = False

    def __post_init__(self) -> None:
        # Imported here: the registry imports the model classes, which import this module.
        from .registry import MODEL_KINDS

        if not isinstance(self.kind, str) or self.kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, MODEL_KINDS))}, got {self.kind!r}")
        for name in ("vocab_size", "length", "d_model", "n_layers", "n_heads"):
            object.__setattr__(self, name, checks.positive_int(name, getattr(self, name)))
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model must be divisible by n_heads, got d_model={self.d_model}, n_heads={self.n_heads}"
            )
        if (self.d_model // self.n_heads) % 2:
            raise ValueError(
                f"the head dimension d_model / n_heads must be even (rotary embeddings rotate pairs), "
                f"got {self.d_model} / {self.n_heads} = {self.d_model // self.n_heads}"
            )
        object.__setattr__(self, "mlp_ratio", checks.positive_float("mlp_ratio", self.mlp_ratio))
        if int(self.mlp_ratio * self.d_model) < 1:
            raise ValueError(
                f"mlp_ratio * d_model must be at least 1 (the MLP width), "
                f"got {self.mlp_ratio} * {self.d_model}"
            )
        dropout = checks.non_negative_float("dropout", self.dropout)
        if dropout >= 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        object.__setattr__(self, "dropout", dropout)
        if not isinstance(self.time_conditioning, bool):
            raise TypeError(
                f"time_conditioning must be a bool, got {self.time_conditioning!r} "
                f"({type(self.time_conditioning).__name__})"
            )

    @property
    def head_dim(self) -> int:
        """``d_model / n_heads``."""
        return self.d_model // self.n_heads

    @property
    def mlp_width(self) -> int:
        """Hidden width of the MLP: ``floor(mlp_ratio * d_model)``."""
        return int(self.mlp_ratio * self.d_model)

    def to_dict(self) -> dict[str, Any]:
        """Every field as a JSON-safe dict (``json.dumps`` takes it; :meth:`from_dict` inverts it)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelConfig:
        """The config of a dict made by :meth:`to_dict`.

        Raises ``ValueError`` for a key that is not a field, or a missing field that has no default
        (``mlp_ratio``, ``dropout`` and ``time_conditioning`` take their defaults when absent).
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"values must be a mapping of ModelConfig fields, got {type(values).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(
                f"unknown ModelConfig key(s) {', '.join(map(repr, unknown))}; "
                f"the fields are: {', '.join(fields)}"
            )
        required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
        missing = [n for n in required if n not in values]
        if missing:
            raise ValueError(f"missing ModelConfig key(s) {', '.join(map(repr, missing))}")
        return cls(**values)

    @classmethod
    def preset(
        cls, name: str, *, vocab_size: int, length: int, kind: str = "denoiser", **overrides: Any
    ) -> ModelConfig:
        """The config of the named size in :data:`PRESETS` (``"tiny"``, ``"small"``,
        ``"gpt2-small"``, ``"gpt2-medium"``) for ``vocab_size`` tokens, sequences of at most
        ``length`` and the model ``kind``; ``overrides`` replace any other field (``dropout=0.1``)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; the presets are: {', '.join(PRESETS)}")
        return cls.from_dict(
            {"kind": kind, "vocab_size": vocab_size, "length": length, **PRESETS[name], **overrides}
        )


def check_kind(config: ModelConfig, kind: str, cls: type) -> None:
    """Raise unless ``config`` is a :class:`ModelConfig` of kind ``kind`` (the class ``cls``'s)."""
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    if config.kind != kind:
        raise ValueError(
            f"config.kind is {config.kind!r}, but {cls.__name__} is kind {kind!r}; "
            f"use unmask.train.models.build_model(config) to build the model of a config"
        )
