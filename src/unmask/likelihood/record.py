"""The records that likelihood estimators return.

Every estimate comes with its standard error and its cost, so that two models (or two answers) are
compared only when the difference is larger than the noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

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
