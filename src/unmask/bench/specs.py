"""Sampler specifications given as text: ``name`` or ``name:key=value,key=value``.

Used by the command line and configuration files; values are parsed as int, float, bool or a
comma-free tuple ``(a;b;c)`` of ints, in that order of preference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..samplers import registry
from ..samplers.base import Sampler


@dataclass(frozen=True)
class SamplerSpec:
    """A sampler name, its process kind and its hyperparameters, with a display label;
    ``max_steps``: the bench runs it only at step counts up to this (None: every one)."""

    name: str
    process: str
    hyperparameters: tuple[tuple[str, Any], ...] = ()
    max_steps: int | None = None

    @property
    def label(self) -> str:
        """``name`` or ``name:key=value,...`` (what the user would type)."""
        if not self.hyperparameters:
            return self.name
        return self.name + ":" + ",".join(f"{k}={_format(v)}" for k, v in self.hyperparameters)

    def build(self) -> Sampler:
        return registry.get(self.name, self.process, **dict(self.hyperparameters))


def _format(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ";".join(str(v) for v in value) + ")"
    return str(value)


def _parse_value(text: str) -> Any:
    if text.startswith("(") and text.endswith(")"):
        return tuple(int(part) for part in text[1:-1].split(";") if part)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_sampler_spec(text: str, process: str) -> SamplerSpec:
    """Parse ``name[:key=value,...]`` for ``process`` and check it builds a sampler.

    Raises ``ValueError`` naming the spec when it is malformed, the name unknown or a
    hyperparameter rejected.
    """
    name, _, rest = text.strip().partition(":")
    if not name:
        raise ValueError(f"sampler spec {text!r} has no name; use name or name:key=value")
    pairs: list[tuple[str, Any]] = []
    if rest:
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise ValueError(
                    f"malformed hyperparameter {item!r} in sampler spec {text!r}; use name:key=value"
                )
            try:
                parsed = _parse_value(value.strip())
            except ValueError as error:
                raise ValueError(f"bad value {value!r} in sampler spec {text!r}: {error}") from None
            pairs.append((key.strip(), parsed))
    spec = SamplerSpec(name, process, tuple(pairs))
    try:
        spec.build()
    except (TypeError, ValueError) as error:
        raise ValueError(f"sampler spec {text!r}: {error}") from None
    return spec
