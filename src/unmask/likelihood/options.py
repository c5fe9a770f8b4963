"""The options of a likelihood estimate: one record, every value checked once (spec §8).

:func:`~.nelbo.nelbo`, :func:`~.coupled.log_ratio`, :func:`~.variance.draw_moments`,
:func:`~.variance.ratio_moments` and :func:`~.variance.unit_moments` take their options as
keywords and build one :class:`LikelihoodOptions` from them (:meth:`LikelihoodOptions.build`),
which refuses an unknown keyword and checks every value before any denoiser call. The options
that depend on the sequences (the shape of ``response``) are checked against them where they
arrive (:func:`~.positions.scored_positions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from .. import checks
from ..grids import check_steps
from ..processes import MaskedProcess, UniformProcess
from ..schedules import LinearSchedule, Schedule
from .budget import Budget, Progress
from .estimators import ESTIMATORS, MaskedEstimator, build_estimator, check_eps, check_variant
from .positions import check_response
from .uniform import UniformBound

#: Methods of the masked process: the Monte-Carlo estimators and the enumeration of mask sets.
METHODS = (*ESTIMATORS, "exact")
#: Methods of the uniform process.
UNIFORM_METHODS = ("time-integral", "discrete", "exact")
#: The masked time-integral clip ``t ~ U(eps, 1)`` when ``eps`` is not given.
DEFAULT_EPS = 1e-3
#: The options that set a Monte-Carlo budget; the exact moment functions take none of them.
BUDGET_OPTIONS = ("samples", "target_stderr", "max_samples", "max_rows", "progress")


def resolve_process(process: Any, schedule: Any) -> MaskedProcess | UniformProcess:
    """The forward process: ``process``, or ``MaskedProcess(schedule or linear)``."""
    if process is None:
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule, got {type(schedule).__name__}")
        return MaskedProcess(schedule or LinearSchedule())
    if not isinstance(process, (MaskedProcess, UniformProcess)):
        raise TypeError(f"process must be a MaskedProcess or a UniformProcess, got {type(process).__name__}")
    if schedule is not None and schedule != process.schedule:
        raise ValueError("give the schedule inside the process (process=MaskedProcess(schedule)), not both")
    return process


@dataclass(frozen=True)
class LikelihoodOptions:
    """How to estimate ``-log p(x)``: the estimator, its process and its Monte-Carlo budget.

    Attributes:
        method: ``"time-integral"``, ``"time-free"``, ``"uniform-count"``, ``"discrete"`` or
            ``"exact"`` (:data:`METHODS`; the uniform process has :data:`UNIFORM_METHODS`).
        samples: Monte-Carlo draws per sequence (rounded up to whole units); with
            ``target_stderr``, the size of the first round.
        schedule: masking schedule (default linear); or give ``process``, not both.
        process: ``MaskedProcess(schedule)`` (default) or ``UniformProcess(schedule, t_min)``.
        eps: masked time-integral clip, ``t ~ U(eps, 1)`` (default :data:`DEFAULT_EPS`), checked
            for every masked method; the uniform process uses its own ``t_min`` and takes none.
        variant: ``"plain"``, ``"antithetic"`` (pairs ``t``, ``1 + eps - t``) or ``"stratified"``
            (``strata`` stratified times per unit); time-integral only.
        strata: stratified times per unit (an integer >= 2).
        steps: grid steps of ``"discrete"`` (and of the uniform ``"exact"``; continuous time
            without them).
        response: bool ``[B, L]`` or ``[L]``: score ``-log p(response | rest)``; the other
            positions are the prompt and are never masked or noised.
        target_stderr, max_samples: draw in rounds until each sequence's standard error is at
            most ``target_stderr`` or it has ``max_samples`` draws (default ``32 * samples``).
        max_rows: the most denoiser rows in one call.
        progress: called as ``progress(done, planned)`` (draws over all sequences) after each call.
    """

    method: str = "time-free"
    samples: int = 128
    schedule: Schedule | None = None
    process: MaskedProcess | UniformProcess | None = None
    eps: float | None = None
    variant: str = "plain"
    strata: int = 8
    steps: int | None = None
    response: torch.Tensor | None = field(default=None, compare=False)
    target_stderr: float | None = None
    max_samples: int | None = None
    max_rows: int = 4096
    progress: Progress | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.method, str):
            raise TypeError(f"method must be a string naming an estimator, got {type(self.method).__name__}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; known methods: {', '.join(METHODS)}")
        process = resolve_process(self.process, self.schedule)
        Budget(self.samples, self.target_stderr, self.max_samples, self.max_rows)  # checks the budget
        check_variant(self.variant)
        checks.positive_int("strata", self.strata, minimum=2)
        if self.steps is not None:
            check_steps(self.steps)
        if self.response is not None:
            check_response(self.response)
        if self.progress is not None and not callable(self.progress):
            raise TypeError(
                f"progress must be callable as progress(done, planned), got {type(self.progress).__name__}"
            )
        if isinstance(process, UniformProcess):
            self._check_uniform()
        else:
            self._check_masked()

    def _check_masked(self) -> None:
        check_eps(self.clip)
        method, variant, steps = self.method, self.variant, self.steps
        if self.eps is not None and method != "time-integral":
            raise ValueError(
                f"eps applies to method='time-integral' only (the clip t ~ U(eps, 1)), got eps={self.eps} "
                f"with method={method!r}, which ignores it; drop eps"
            )
        if method == "exact":
            if variant != "plain" or steps is not None:
                raise ValueError("method='exact' takes no variant or steps")
            return
        if variant != "plain" and method != "time-integral":
            raise ValueError(
                f"variant={variant!r} applies to method='time-integral' only, got method={method!r}"
            )
        if method == "discrete" and steps is None:
            raise ValueError("method='discrete' needs steps=T (the number of grid steps), got steps=None")
        if steps is not None and method != "discrete":
            raise ValueError(f"steps applies to method='discrete', not {method!r}")

    def _check_uniform(self) -> None:
        method, variant, steps = self.method, self.variant, self.steps
        if method not in UNIFORM_METHODS:
            raise ValueError(
                f"method {method!r} is for the masked process; "
                f"the uniform process has {', '.join(UNIFORM_METHODS)}"
            )
        if self.eps is not None:
            raise ValueError("eps is the masked time-integral clip; the uniform process uses process.t_min")
        if method == "exact":
            if variant != "plain":
                raise ValueError("method='exact' takes no variant")
            return
        if method == "discrete" and steps is None:
            raise ValueError("method='discrete' needs steps=N (the number of grid steps), got steps=None")
        if method == "time-integral" and steps is not None:
            raise ValueError("steps applies to method='discrete' (or 'exact'), not 'time-integral'")
        if method == "discrete" and variant != "plain":
            raise ValueError(f"variant={variant!r} applies to continuous time only (steps=None)")

    @classmethod
    def build(
        cls, caller: str, keywords: Mapping[str, Any], accepted: Iterable[str] | None = None
    ) -> LikelihoodOptions:
        """The record of ``keywords`` given to ``caller``; a keyword outside ``accepted`` (default:
        every field) raises a ``TypeError`` that names it and lists the accepted ones."""
        names = tuple(accepted) if accepted is not None else tuple(f.name for f in fields(cls))
        for name in keywords:
            if name not in names:
                raise TypeError(
                    f"{caller}() got an unexpected keyword argument {name!r}; it accepts {', '.join(names)}"
                )
        return cls(**keywords)

    # -- the resolved choices ---------------------------------------------------------------------
    @property
    def forward_process(self) -> MaskedProcess | UniformProcess:
        """The forward process: ``process``, or ``MaskedProcess(schedule or linear)``."""
        return resolve_process(self.process, self.schedule)

    @property
    def uniform(self) -> bool:
        """Whether the forward process is the uniform one."""
        return isinstance(self.forward_process, UniformProcess)

    @property
    def clip(self) -> float:
        """The masked time-integral clip: ``eps``, or :data:`DEFAULT_EPS`."""
        return DEFAULT_EPS if self.eps is None else self.eps

    @property
    def budget(self) -> Budget:
        """The Monte-Carlo budget of these options."""
        return Budget(self.samples, self.target_stderr, self.max_samples, self.max_rows)

    def masked_estimator(self) -> MaskedEstimator:
        """The masked Monte-Carlo estimator of ``method`` (not ``"exact"``, not the uniform process)."""
        if self.uniform or self.method == "exact":
            raise ValueError(
                f"method={self.method!r} on the {self.forward_process.name} process has no masked "
                "Monte-Carlo estimator"
            )
        return build_estimator(
            self.method, self.forward_process.schedule, eps=self.clip, variant=self.variant,
            strata=self.strata, steps=self.steps,
        )  # fmt: skip

    def uniform_bound(self) -> UniformBound:
        """The Monte-Carlo NELBO of the uniform process (``"time-integral"`` or ``"discrete"``)."""
        process = self.forward_process
        if not isinstance(process, UniformProcess) or self.method == "exact":
            raise ValueError(
                f"method={self.method!r} on the {process.name} process has no uniform Monte-Carlo bound"
            )
        steps = self.steps if self.method == "discrete" else None
        return UniformBound(process, steps, self.variant, self.strata)
