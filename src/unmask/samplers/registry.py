"""Names of samplers, for text input (command line, configuration files).

Library users pass sampler objects; this plain mapping, written once here and never changed at run
time, turns a name and keyword hyperparameters into one. A name can exist for several processes
(``"euler"`` masked and uniform); the process' name picks the table.

``predictor-corrector`` takes its parts by name too: ``predictor`` a masked sampler name (built with
its defaults; Euler when not given) and ``corrector`` one of :data:`CORRECTORS` (``gibbs``,
``informed``, ``forward-backward``; informed when not given), as in
``predictor-corrector:predictor=tweedie,corrector=gibbs``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..processes import MaskedProcess, UniformProcess
from . import uniform
from .ancestral import Euler, TauLeaping, Tweedie
from .base import Sampler
from .correctors import Corrector, ForwardBackward, Informed, PredictorCorrector, ReMDM, UniformGibbs
from .first_hitting import FirstHitting
from .k_random import KRandom
from .planned import (
    Bisection,
    Certified,
    Dilated,
    EntropyBounded,
    FactorThreshold,
    LowConfidenceRemasking,
    SemiAutoregressive,
    Threshold,
    TopK,
)
from .trapezoidal import RK2, Trapezoidal

SAMPLERS: dict[str, dict[str, type[Sampler]]] = {
    MaskedProcess.name: {
        cls.name: cls
        for cls in (
            Euler,
            TauLeaping,
            Tweedie,
            FirstHitting,
            KRandom,
            Trapezoidal,
            RK2,
            TopK,
            Threshold,
            FactorThreshold,
            EntropyBounded,
            Certified,
            LowConfidenceRemasking,
            Dilated,
            Bisection,
            SemiAutoregressive,
            ReMDM,
            PredictorCorrector,
        )  # fmt: skip
    },
    UniformProcess.name: {
        cls.name: cls for cls in (uniform.Euler, uniform.TauLeaping, uniform.Tweedie, uniform.Trapezoidal)
    },
}


#: Correctors by name, for ``predictor-corrector``'s ``corrector=``.
CORRECTORS: dict[str, type[Corrector]] = {cls.name: cls for cls in (UniformGibbs, Informed, ForwardBackward)}


def names(process: str | None = None) -> list[str]:
    """Registered sampler names for the process named ``process`` (``"masked"``, ``"uniform"``),
    or for every process."""
    tables = [SAMPLERS.get(process, {})] if process is not None else list(SAMPLERS.values())
    return sorted({name for table in tables for name in table})


def get(name: str, process: str = MaskedProcess.name, **hyperparameters: Any) -> Sampler:
    """Build the sampler ``name`` for the process named ``process`` with keyword ``hyperparameters``.

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
    if cls is PredictorCorrector:
        hyperparameters = _named_parts(hyperparameters, process)
    return cls(**hyperparameters)


def _named_parts(hyperparameters: dict[str, Any], process: str) -> dict[str, Any]:
    """``predictor`` and ``corrector`` given by name built into objects (objects pass through)."""
    parts = dict(hyperparameters)
    predictor = parts.get("predictor")
    if isinstance(predictor, str):
        if predictor == PredictorCorrector.name:
            raise ValueError("predictor must be a sampler that reveals tokens, not predictor-corrector")
        parts["predictor"] = get(predictor, process)
    corrector = parts.get("corrector")
    if isinstance(corrector, str):
        if corrector not in CORRECTORS:
            raise ValueError(
                f"unknown corrector {corrector!r}; known correctors: {', '.join(sorted(CORRECTORS))}"
            )
        parts["corrector"] = CORRECTORS[corrector]()
    return parts
