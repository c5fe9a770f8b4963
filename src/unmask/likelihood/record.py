"""The records that likelihood estimators return.

Every estimate comes with its standard error and its cost, so that two models (or two answers) are
compared only when the difference is larger than the noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .intervals import skew_corrected_interval, t_quantiles

LN2 = math.log(2.0)


def _floats(values: torch.Tensor) -> list[float | str]:
    return [
        v if math.isfinite(v) else ("inf" if v > 0 else ("-inf" if v < 0 else "nan")) for v in values.tolist()
    ]


@dataclass(frozen=True)
class LikelihoodResult:
    """An estimate of ``-log p(x)`` per sequence (or ``-log p(response | prompt)``), with error bars.

    Attributes:
        nll: float64 ``[B]``, the estimate in nats per sequence (an upper bound in expectation for
            the bounds; see the estimator's docstring).
        stderr: float64 ``[B]``, its Monte-Carlo standard error ``sqrt(variance / units)``; 0 for
            the enumerated ``"exact"`` method, ``inf`` when only one unit was drawn.
        variance: float64 ``[B]``, the sample variance of one unit's estimate (a unit is one draw,
            an antithetic pair, or one set of strata); 0 for ``"exact"``.
        samples: LongTensor ``[B]``, Monte-Carlo draws (mask sets or noisy states) per sequence; for
            ``"exact"``, the number of mask sets or states enumerated.
        tokens: LongTensor ``[B]``, scored positions per sequence (``L``, or the response length).
        nfe: batched denoiser calls made (one call on many rows counts once).
        nfe_per_row: LongTensor ``[B]``, denoiser rows evaluated for each sequence (the per-sequence
            cost a model with one sequence per call would pay).
        method: the estimator's name; ``process``: ``"masked"`` or ``"uniform"``.
        units: LongTensor ``[B]``, the i.i.d. units behind ``nll`` (``samples / unit_size``: one
            draw, an antithetic pair or one set of ``strata`` draws each); the interval has
            ``units - 1`` degrees of freedom. ``None`` for ``"exact"`` (no Monte-Carlo error).
        skewness: float64 ``[B]``, the sample skewness ``gamma`` of one unit's value (NaN below
            three units); it sets the skewness correction of :meth:`interval`.
        target_stderr: the standard error a ``target_stderr`` run aimed at (``None`` otherwise).
        reached_target: bool ``[B]``, ``stderr <= target_stderr``: ``False`` where the run stopped
            at ``max_samples`` first (``None`` without ``target_stderr``).
        caveat: ``None`` when :meth:`interval` is calibrated, else why it is not (for example
            the heavy tail of the time-integral estimator); :attr:`reliable` is ``caveat is None``.
    """

    nll: torch.Tensor
    stderr: torch.Tensor
    variance: torch.Tensor
    samples: torch.Tensor
    tokens: torch.Tensor
    nfe: int
    nfe_per_row: torch.Tensor
    method: str
    process: str = "masked"
    units: torch.Tensor | None = None
    skewness: torch.Tensor | None = None
    target_stderr: float | None = None
    reached_target: torch.Tensor | None = None
    caveat: str | None = None

    @property
    def reliable(self) -> bool:
        """Whether :meth:`interval` covers at about its nominal level (``caveat is None``)."""
        return self.caveat is None

    @property
    def dof(self) -> torch.Tensor | None:
        """Degrees of freedom of the standard error, ``units - 1`` ``[B]`` (``None`` for ``"exact"``)."""
        return None if self.units is None else self.units - 1

    @property
    def unreached(self) -> int:
        """How many sequences stopped at ``max_samples`` above ``target_stderr`` (0 without it)."""
        return 0 if self.reached_target is None else int((~self.reached_target).sum())

    def interval(self, level: float = 0.95, skew: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """A two-sided ``level`` confidence interval ``(low, high)`` ``[B]`` for ``-log p(x)`` (the
        expectation of the estimator).

        With ``n = units`` and ``q = t_{(1 + level)/2, n - 1}`` the Student-t quantile, the
        interval is ``nll -+ q stderr`` with ``skew=False``; with ``skew=True`` (default) it is
        Hall's skewness-corrected ``[nll - stderr g^{-1}(q), nll - stderr g^{-1}(-q)]``,
        ``g^{-1}(y) = ((1 + 3 a (y - b))^{1/3} - 1) / a``, ``a = gamma / (3 sqrt(n))``, ``b = a / 2``
        (:mod:`.intervals`). ``"exact"`` gives ``(nll, nll)``. Check :attr:`reliable`: the
        time-integral estimators' intervals under-cover (:attr:`caveat`)."""
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        if self.units is None:
            return self.nll - self.stderr, self.nll + self.stderr
        quantile = t_quantiles((1 + level) / 2, self.units - 1)
        if not skew or self.skewness is None:
            return self.nll - quantile * self.stderr, self.nll + quantile * self.stderr
        return skew_corrected_interval(self.nll, self.stderr, self.skewness, self.units, quantile)

    @property
    def bits_per_token(self) -> torch.Tensor:
        """``nll / (tokens ln 2)`` ``[B]``."""
        return self.nll / (self.tokens.to(torch.float64) * LN2)

    @property
    def bits_per_token_stderr(self) -> torch.Tensor:
        """Standard error of :attr:`bits_per_token` ``[B]``."""
        return self.stderr / (self.tokens.to(torch.float64) * LN2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (non-finite numbers as the strings ``"inf"``, ``"nan"``)."""
        return {
            "method": self.method,
            "process": self.process,
            "nfe": self.nfe,
            "nll": _floats(self.nll),
            "stderr": _floats(self.stderr),
            "bits_per_token": _floats(self.bits_per_token),
            "bits_per_token_stderr": _floats(self.bits_per_token_stderr),
            "samples": self.samples.tolist(),
            "tokens": self.tokens.tolist(),
            "nfe_per_row": self.nfe_per_row.tolist(),
            "units": None if self.units is None else self.units.tolist(),
            "ci95_low": _floats(self.interval()[0]),
            "ci95_high": _floats(self.interval()[1]),
            "reliable": self.reliable,
            "caveat": self.caveat,
            "target_stderr": self.target_stderr,
            "reached_target": None if self.reached_target is None else self.reached_target.tolist(),
        }


@dataclass(frozen=True)
class RatioResult:
    """A coupled estimate of ``log p(y) - log p(x)`` per pair, from shared mask sets.

    Attributes:
        log_ratio: float64 ``[B]``, the mean of ``Y_x(M) - Y_y(M)`` over shared draws ``M``.
        stderr: float64 ``[B]``, its standard error.
        independent_stderr: float64 ``[B]``, the standard error two independent estimates with the
            same number of draws would have, ``sqrt((var_x + var_y) / units)``, measured on the
            same draws.
        variance_reduction: float64 ``[B]``, ``(var_x + var_y) / var(Y_x - Y_y)``: how many times
            fewer draws the coupled ratio needs for the same error (above 1 means it helps).
        nll_x, nll_y: float64 ``[B]``, the two NLL estimates from the same draws.
        samples, tokens, nfe, nfe_per_row, method: as in :class:`LikelihoodResult` (each draw costs
            two denoiser rows, one per sequence).
    """

    log_ratio: torch.Tensor
    stderr: torch.Tensor
    independent_stderr: torch.Tensor
    variance_reduction: torch.Tensor
    nll_x: torch.Tensor
    nll_y: torch.Tensor
    samples: torch.Tensor
    tokens: torch.Tensor
    nfe: int
    nfe_per_row: torch.Tensor
    method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "method": self.method,
            "nfe": self.nfe,
            "log_ratio": _floats(self.log_ratio),
            "stderr": _floats(self.stderr),
            "independent_stderr": _floats(self.independent_stderr),
            "variance_reduction": _floats(self.variance_reduction),
            "nll_x": _floats(self.nll_x),
            "nll_y": _floats(self.nll_y),
            "samples": self.samples.tolist(),
            "tokens": self.tokens.tolist(),
        }
