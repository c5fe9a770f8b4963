"""Names of samplers, for text input (command line, configuration files).

Library users pass sampler objects; this plain mapping turns a name and keyword hyperparameters
into one. A name can exist for both processes (``"euler"`` masked and uniform); the process
kind picks the class.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import uniform
from .ancestral import Euler, TauLeaping, Tweedie
from .base import Sampler
from .first_hitting import FirstHitting
from .k_random import KRandom
from .trapezoidal import RK2, Trapezoidal

SAMPLERS: dict[str, dict[str, type[Sampler]]] = {
    "masked": {
        cls.name: cls for cls in (Euler, TauLeaping, Tweedie, FirstHitting, KRandom, Trapezoidal, RK2)
    },
    "uniform": {
        cls.name: cls for cls in (uniform.Euler, uniform.TauLeaping, uniform.Tweedie, uniform.Trapezoidal)
    },
}


def register(cls: type[Sampler]) -> type[Sampler]:
    """Add a sampler class under ``(cls.process_kind, cls.name)``; usable as a class decorator."""
    SAMPLERS.setdefault(cls.process_kind, {})[cls.name] = cls
    return cls


def names(process: str | None = None) -> list[str]:
    """Registered sampler names for ``process`` (``"masked"`` or ``"uniform"``), or all of them."""
    kinds = [process] if process is not None else list(SAMPLERS)
    return sorted({name for kind in kinds for name in SAMPLERS.get(kind, {})})


def get(name: str, process: str = "masked", **hyperparameters: Any) -> Sampler:
    """Build the sampler ``name`` for ``process`` with keyword ``hyperparameters``.

    Raises ``ValueError`` listing the known names when ``name`` is unknown, and ``TypeError`` naming
    the accepted hyperparameters when one is not.
    """
    if process not in SAMPLERS:
        raise ValueError(f"unknown process {process!r}; known processes: {', '.join(SAMPLERS)}")
    if not isinstance(name, str):
        raise TypeError(f"sampler must be a name or a Sampler object, got {type(name).__name__}")
    table = SAMPLERS[process]
    if name not in table:
        raise ValueError(
            f"unknown sampler {name!r} for the {process} process; known samplers: {', '.join(sorted(table))}"
        )
    cls = table[name]
    accepted = sorted(field.name for field in dataclasses.fields(cls))  # ClassVars excluded
    unknown = sorted(set(hyperparameters) - set(accepted))
    if unknown:
        raise TypeError(
            f"sampler {name!r} has no hyperparameter {unknown[0]!r}; "
            f"it accepts: {', '.join(accepted) or 'none'}"
        )
    return cls(**hyperparameters)
