"""Masking schedules: ``alpha(t)``, its derivative, the unmasking hazard and the inverses.

``alpha(t)`` is the probability that a token is still clean at forward time ``t`` (``alpha(0) = 1``
for every schedule here except the geometric one, where ``alpha(0) = exp(-sigma_min)``).
Every method takes a float or a tensor of times and returns a float64 tensor of the same shape.

Formulas (spec §1.3), with ``m(t) = 1 - alpha(t)`` the masking probability:

==============  ==================================  ==============================  ===========
schedule        alpha(t)                            hazard -alpha'/(1-alpha)        alpha(1)
==============  ==================================  ==============================  ===========
linear          1 - t                               1/t                             0
cosine          1 - cos(pi/2 (1-t))                 (pi/2) tan(pi/2 (1-t))          0
polynomial      1 - t^p                             p/t                             0
log-linear      1 - (1-eps) t                       1/t                             eps
geometric       exp(-sbar), sbar = smin^(1-t) smax^t  sbar'/expm1(sbar)             exp(-smax)
constant-rate   exp(-T t)                           T/expm1(T t)                    exp(-T)
==============  ==================================  ==============================  ===========

The same schedule drives the uniform process through its rate ``sigma(t) = -alpha'(t)/alpha(t)``
and kernel weight ``abar_t = alpha(t)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from . import checks

TimeLike = float | torch.Tensor


def _times(t: TimeLike) -> torch.Tensor:
    """``t`` as a float64 tensor (as :func:`_f64`), after checking that it lies in ``[0, 1]``.

    A number is checked. A tensor on the CPU is checked for values outside ``[0, 1]`` (NaN passes:
    samplers mark rows without a time that way); a tensor on an accelerator is not checked, since
    that would wait for the device in the sampler's hot path (the driver checks its grid once).
    """
    if torch.is_tensor(t):
        if t.device.type == "cpu" and t.numel():
            outside = (t.detach() < 0) | (t.detach() > 1)
            if bool(outside.any()):
                raise ValueError(f"t must lie in [0, 1] (forward time), got {t.detach()[outside][0].item()}")
        return t.to(torch.float64)
    return _f64(checks.time("t", t))


def _f64(t: TimeLike) -> torch.Tensor:
    """``t`` as a float64 tensor: a tensor keeps its device (and its gradient); a number is a
    host scalar."""
    if torch.is_tensor(t):
        return t.to(torch.float64)
    return torch.as_tensor(t, dtype=torch.float64, device="cpu")


class Schedule(ABC):
    """A masking schedule on forward time ``t in [0, 1]``."""

    name: ClassVar[str]

    @abstractmethod
    def alpha(self, t: TimeLike) -> torch.Tensor:
        """``alpha(t)``: probability that a token is still clean at time ``t``."""

    @abstractmethod
    def masked_fraction(self, t: TimeLike) -> torch.Tensor:
        """``1 - alpha(t)``, computed without cancellation near ``t = 0``."""

    @abstractmethod
    def alpha_derivative(self, t: TimeLike) -> torch.Tensor:
        """``d alpha / dt`` in closed form (non-positive)."""

    @abstractmethod
    def hazard(self, t: TimeLike) -> torch.Tensor:
        """Reverse unmasking hazard ``lambda(t) = -alpha'(t) / (1 - alpha(t))``; ``inf`` at ``t = 0``."""

    @abstractmethod
    def time_of_masked_fraction(self, m: TimeLike) -> torch.Tensor:
        """Inverse: the time ``t`` with ``1 - alpha(t) = m``, clamped to ``[0, 1]``."""

    def inverse(self, alpha: TimeLike) -> torch.Tensor:
        """The time ``t`` with ``alpha(t) = alpha`` (clamped to ``[0, 1]``)."""
        return self.time_of_masked_fraction(1 - _f64(alpha))

    def rate(self, t: TimeLike) -> torch.Tensor:
        """Uniform-process rate ``sigma(t) = -alpha'(t) / alpha(t)``; ``inf`` where ``alpha = 0``."""
        return -self.alpha_derivative(t) / self.alpha(t)

    @property
    def alpha_at_one(self) -> float:
        """``alpha(1)``; a value above 0 means starting from all-mask is a prior mismatch."""
        return float(self.alpha(1.0))


@dataclass(frozen=True)
class LinearSchedule(Schedule):
    """``alpha(t) = 1 - t``; hazard ``1/t``."""

    name: ClassVar[str] = "linear"

    def alpha(self, t: TimeLike) -> torch.Tensor:
        return 1 - _times(t)

    def masked_fraction(self, t: TimeLike) -> torch.Tensor:
        return _times(t).clone()

    def alpha_derivative(self, t: TimeLike) -> torch.Tensor:
        return torch.full_like(_times(t), -1.0)

    def hazard(self, t: TimeLike) -> torch.Tensor:
        return 1 / _times(t)

    def time_of_masked_fraction(self, m: TimeLike) -> torch.Tensor:
        return _f64(m).clamp(0, 1)


@dataclass(frozen=True)
class CosineSchedule(Schedule):
    """``alpha(t) = 1 - cos(pi/2 (1 - t))`` (MD4); hazard ``(pi/2) tan(pi/2 (1 - t))``.

    Computed through ``cos(pi/2 (1 - t)) = sin(pi/2 t)``, which is exactly 0 at ``t = 0`` and 1 at
    ``t = 1``, so that ``alpha(0) = 1`` and ``alpha(1) = 0`` hold exactly (``cos(pi/2)`` rounds to
    6e-17, which made ``alpha(0) < 1`` and ``rate(1) = 0/0``).
    """

    name: ClassVar[str] = "cosine"

    def alpha(self, t: TimeLike) -> torch.Tensor:
        return 1 - torch.sin(math.pi / 2 * _times(t))

    def masked_fraction(self, t: TimeLike) -> torch.Tensor:
        return torch.sin(math.pi / 2 * _times(t))

    def alpha_derivative(self, t: TimeLike) -> torch.Tensor:
        return -(math.pi / 2) * torch.cos(math.pi / 2 * _times(t))

    def hazard(self, t: TimeLike) -> torch.Tensor:
        # tan(pi/2 (1-t)) = cot(pi/2 t); written as cos/sin so that t = 0 gives inf, not a huge number.
        half = math.pi / 2 * _times(t)
        return (math.pi / 2) * torch.cos(half) / torch.sin(half)

    def time_of_masked_fraction(self, m: TimeLike) -> torch.Tensor:
        return ((2 / math.pi) * torch.arcsin(_f64(m).clamp(0, 1))).clamp(0, 1)


@dataclass(frozen=True)
class PolynomialSchedule(Schedule):
    """``alpha(t) = 1 - t^p`` (MD4 polynomial); hazard ``p/t``; ``alpha(1) = 0``. ``p = 1`` is linear."""

    power: float = 2.0
    name: ClassVar[str] = "polynomial"

    def __post_init__(self) -> None:
        checks.positive_float("power", self.power)

    def alpha(self, t: TimeLike) -> torch.Tensor:
        return 1 - _times(t) ** self.power

    def masked_fraction(self, t: TimeLike) -> torch.Tensor:
        return _times(t) ** self.power

    def alpha_derivative(self, t: TimeLike) -> torch.Tensor:
        return -self.power * _times(t) ** (self.power - 1)

    def hazard(self, t: TimeLike) -> torch.Tensor:
        return self.power / _times(t)

    def time_of_masked_fraction(self, m: TimeLike) -> torch.Tensor:
        return _f64(m).clamp(0, 1) ** (1 / self.power)


@dataclass(frozen=True)
class LogLinearSchedule(Schedule):
    """``alpha(t) = 1 - (1 - eps) t`` (MDLM/SEDD); hazard ``1/t``; ``alpha(1) = eps``."""

    eps: float = 1e-3
    name: ClassVar[str] = "log-linear"

    def __post_init__(self) -> None:
        checks.probability("eps", self.eps, open_high=True)

    def alpha(self, t: TimeLike) -> torch.Tensor:
        return 1 - (1 - self.eps) * _times(t)

    def masked_fraction(self, t: TimeLike) -> torch.Tensor:
        return (1 - self.eps) * _times(t)

    def alpha_derivative(self, t: TimeLike) -> torch.Tensor:
        return torch.full_like(_times(t), -(1 - self.eps))

    def hazard(self, t: TimeLike) -> torch.Tensor:
        return 1 / _times(t)

    def time_of_masked_fraction(self, m: TimeLike) -> torch.Tensor:
        return (_f64(m) / (1 - self.eps)).clamp(0, 1)


@dataclass(frozen=True)
class GeometricSchedule(Schedule):
    """``alpha(t) = exp(-sbar(t))`` with ``sbar(t) = smin^(1-t) smax^t`` (SEDD geometric noise).

    Hazard ``sbar'(t) / expm1(sbar(t))`` with ``sbar' = sbar log(smax/smin)``. Note
    ``alpha(0) = exp(-sigma_min)`` and ``alpha(1) = exp(-sigma_max) > 0`` (a prior mismatch).
    """

    sigma_min: float = 1e-4
    sigma_max: float = 20.0
    name: ClassVar[str] = "geometric"

    def __post_init__(self) -> None:
        checks.positive_float("sigma_min", self.sigma_min)
        checks.positive_float("sigma_max", self.sigma_max)
        if self.sigma_max <= self.sigma_min:
            raise ValueError(
                f"sigma_max must exceed sigma_min, got sigma_min={self.sigma_min}, sigma_max={self.sigma_max}"
            )

    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def total_noise(self, t: TimeLike) -> torch.Tensor:
        """``sbar(t) = smin^(1-t) smax^t``."""
        return self.sigma_min * torch.exp(self._log_ratio() * _times(t))

    def alpha(self, t: TimeLike) -> torch.Tensor:
        return torch.exp(-self.total_noise(t))

    def masked_fraction(self, t: TimeLike) -> torch.Tensor:
        return -torch.expm1(-self.total_noise(t))

    def alpha_derivative(self, t: TimeLike) -> torch.Tensor:
        sbar = self.total_noise(t)
        return -sbar * self._log_ratio() * torch.exp(-sbar)

    def hazard(self, t: TimeLike) -> torch.Tensor:
        sbar = self.total_noise(t)
        return sbar * self._log_ratio() / torch.expm1(sbar)

    def rate(self, t: TimeLike) -> torch.Tensor:
        return self.total_noise(t) * self._log_ratio()

    def time_of_masked_fraction(self, m: TimeLike) -> torch.Tensor:
        sbar = -torch.log1p(-_f64(m).clamp(0, 1))
        with torch.no_grad():
            t = torch.log(sbar / self.sigma_min) / self._log_ratio()
        return t.nan_to_num(0.0).clamp(0, 1)


@dataclass(frozen=True)
class ConstantRateSchedule(Schedule):
    """``alpha(t) = exp(-T t)``: the constant-rate process on ``[0, T]`` rescaled to ``[0, 1]``.

    Hazard ``T / expm1(T t)``; ``alpha(1) = exp(-T) > 0`` (a prior mismatch of about
    ``L exp(-T)`` for ``L`` positions).
    """

    horizon: float = 10.0
    name: ClassVar[str] = "constant-rate"

    def __post_init__(self) -> None:
        checks.positive_float("horizon", self.horizon)

    def alpha(self, t: TimeLike) -> torch.Tensor:
        return torch.exp(-self.horizon * _times(t))

    def masked_fraction(self, t: TimeLike) -> torch.Tensor:
        return -torch.expm1(-self.horizon * _times(t))

    def alpha_derivative(self, t: TimeLike) -> torch.Tensor:
        return -self.horizon * self.alpha(t)

    def hazard(self, t: TimeLike) -> torch.Tensor:
        return self.horizon / torch.expm1(self.horizon * _times(t))

    def rate(self, t: TimeLike) -> torch.Tensor:
        return torch.full_like(_times(t), self.horizon)

    def time_of_masked_fraction(self, m: TimeLike) -> torch.Tensor:
        return (-torch.log1p(-_f64(m).clamp(0, 1)) / self.horizon).clamp(0, 1)


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls
    for cls in (
        LinearSchedule,
        CosineSchedule,
        PolynomialSchedule,
        LogLinearSchedule,
        GeometricSchedule,
        ConstantRateSchedule,
    )
}


def get_schedule(name: str, **hyperparameters: float) -> Schedule:
    """Build a schedule from its name (``linear``, ``cosine``, ``polynomial``, ``log-linear``,
    ``geometric``, ``constant-rate``) and keyword hyperparameters."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; known schedules: {', '.join(sorted(SCHEDULES))}")
    return SCHEDULES[name](**hyperparameters)
