"""Monte Carlo error estimates for targets too large for an exact output law (spec §6.3).

Plug-in TV over ``S^L`` cells is biased by about ``sqrt(S^L / n)``, so the estimates use
low-dimensional statistics whose value under the target is known exactly.

``pair_tv`` (:func:`pair_tv`)
    The quantity is ``theta = (1 / (L - 1)) sum_i TV(q_i, pi_i)``: the TV between the sampler's
    law ``q_i`` and the target's law ``pi_i`` of the adjacent pair ``(x_i, x_{i+1})``, averaged
    over the ``L - 1`` pairs. Each pair TV is a TV of marginals, so ``theta <= max_i TV(q_i, pi_i)
    <= TV(q, pi)``: it is a **lower bound** on the full TV, not the TV itself.

    From ``n`` sampled sequences with empirical pair frequencies ``p_ik`` (``k`` runs over the
    ``V^2`` values of a pair), compared with the target's *exact* pair marginals ``pi_ik`` (one
    sample: the target adds no sampling noise), with ``d_ik = p_ik - pi_ik``:

    * plug-in ``T = (1 / (L - 1)) sum_i (1/2) sum_k |d_ik|``, biased upwards (``E T >= theta``);
    * null bias ``b0``: ``E[T]`` when the sampler is exact (``q = pi``), computed exactly from the
      binomial mean absolute deviation (de Moivre), ``b0 = (1 / (L - 1)) sum_i (1/2) sum_k
      MD(n, pi_ik) / n``, about ``(1 / (L - 1)) sum_i sum_k sqrt(pi_ik (1 - pi_ik) / (2 pi n))``.
      It is the plug-in bias of an exact sampler and the most the plug-in can be biased by to
      first order; the bias falls to 0 as the sampler's error grows past the sampling noise;
    * estimate ``(1 / (L - 1)) sum_i (1/2) sum_k sqrt(max(0, d_ik^2 - p_ik (1 - p_ik) / (n - 1)))``:
      ``d_ik^2 - p_ik (1 - p_ik) / (n - 1)`` is unbiased for ``(q_ik - pi_ik)^2``, so each cell's
      noise is removed before the square root. Its bias is much smaller than the plug-in's over
      the whole range: about ``+0.45 b0`` for an exact sampler, about 0 far from it, and between
      ``-0.45 b0`` and ``+0.45 b0`` in between (measured on exact laws, ``tests/bench``);
    * 95% interval ``[max(0, T - c), min(1, T + c)]`` (widened to contain the estimate), with
      ``c`` an upper 95% quantile of ``D = (1 / (L - 1)) sum_i TV(p_i, q_i)``. The triangle
      inequality gives ``|T - theta| <= D`` for every sample, so the interval covers ``theta``
      whenever ``D <= c``: with probability at least 95%. ``c`` is the larger of a bootstrap
      over the sampled sequences (``D* = mean_i TV(p*_i, p_i)``, which keeps the dependence
      between pairs) and the exact-sampler quantile (``D`` for ``n`` sequences drawn from the
      target itself, which is exactly the law of ``T`` when the sampler is exact). So an exact
      sampler's interval contains 0 with probability 95%, and an inexact sampler's interval
      covers ``theta`` with probability at least 95% (the interval is conservative there).

``leakage`` (:func:`leakage_estimate`)
    The fraction of samples outside the target's support (unbiased), with a 95% Wilson interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..targets import Target
from ..targets.chain import ChainTarget

#: The most entries of a non-chain target's table that :func:`pair_marginals` sums.
MAX_TABLE_STATES = 1 << 20
BOOTSTRAP_RESAMPLES = 500
NULL_RESAMPLES = 400
CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairTVEstimate:
    """A Monte Carlo estimate of ``pair_tv`` (see the module docstring for the formulas).

    ``estimate``: the noise-corrected estimate; ``interval``: the 95% interval for ``pair_tv``
    (covers it with probability at least 95%, and contains ``estimate``); ``plugin``: the plug-in
    ``T``; ``null_bias``: ``b0 = E[T]`` for an exact sampler with the same ``n`` (exact).
    """

    estimate: float
    interval: tuple[float, float]
    plugin: float
    null_bias: float


def pair_marginals(target: Target) -> torch.Tensor:
    """Exact adjacent-pair marginals ``[L - 1, V, V]`` of a target (float64).

    A chain target (:class:`~unmask.targets.chain.ChainTarget`, any length): ``E^T diag(h_j) A E``
    with ``h_j = initial A^j`` the hidden marginal at position ``j``. Any other target small enough
    for its exact table (``V^L <= MAX_TABLE_STATES``): its table ``target.probs()`` ``[V] * L``
    summed over the other positions (:func:`law_pair_marginals`)."""
    if not isinstance(target, ChainTarget):
        states = target.vocab_size**target.length
        if states > MAX_TABLE_STATES:
            raise ValueError(
                f"{type(target).__name__} target (V = {target.vocab_size}, L = {target.length}) has no "
                f"closed-form pair marginals, and its table of V^L = {states:,} entries is above "
                f"{MAX_TABLE_STATES:,}: use a chain target or a shorter length"
            )
        return law_pair_marginals(target.probs().to(torch.float64))
    hidden = target.initial
    pairs = []
    for _ in range(target.length - 1):
        joint = hidden[:, None] * target.transition  # p(h_j, h_{j+1})
        pairs.append(target.emission.T @ joint @ target.emission)
        hidden = hidden @ target.transition
    return torch.stack(pairs)


def law_pair_marginals(law: torch.Tensor) -> torch.Tensor:
    """Adjacent-pair marginals ``[L - 1, V, V]`` of a full law ``[V] * L``."""
    length = law.dim()
    return torch.stack(
        [law.sum(dim=[d for d in range(length) if d not in (i, i + 1)]) for i in range(length - 1)]
    )


def pair_tv_value(pairs: torch.Tensor, reference: torch.Tensor) -> float:
    """``pair_tv`` between two sets of pair marginals ``[L - 1, V, V]``:
    ``mean_i (1/2) sum_{a,b} |pairs_i[a, b] - reference_i[a, b]|``."""
    return float(0.5 * (pairs - reference).abs().flatten(1).sum(-1).mean())


def binomial_mean_abs_deviation(n: int, p: torch.Tensor) -> torch.Tensor:
    """``E|X - n p|`` for ``X ~ Binomial(n, p)``, exactly (de Moivre):
    ``2 nu C(n, nu) p^nu (1 - p)^(n - nu + 1)`` with ``nu = floor(n p) + 1``; 0 at ``p`` in {0, 1}."""
    p = p.to(torch.float64)
    inside = (p > 0) & (p < 1)
    q = torch.where(inside, p, torch.full_like(p, 0.5))
    nu = torch.floor(n * q) + 1
    log_md = (
        math.log(2)
        + torch.log(nu)
        + math.lgamma(n + 1)
        - torch.lgamma(nu + 1)
        - torch.lgamma(n - nu + 1)
        + nu * torch.log(q)
        + (n - nu + 1) * torch.log1p(-q)
    )
    return torch.where(inside, log_md.exp(), torch.zeros_like(p))


def pair_tv_null_bias(exact_pairs: torch.Tensor, n: int) -> float:
    """``E[T]`` of the plug-in pair TV from ``n`` draws of an exact sampler:
    ``mean_i (1/2) sum_k MD(n, pi_ik) / n`` (:func:`binomial_mean_abs_deviation`)."""
    deviation = binomial_mean_abs_deviation(n, exact_pairs.flatten(1)) / n
    return float(0.5 * deviation.sum(-1).mean())


def pair_frequencies(tokens: torch.Tensor, vocab: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Empirical adjacent-pair frequencies ``[R, L - 1, V * V]``.

    ``tokens [n, L]`` with row weights ``weights [R, n]`` (counts summing to ``n`` per row; default
    one row of ones), or ``tokens [R, n, L]``: ``R`` separate samples of ``n`` sequences."""
    if tokens.dim() == 3 and weights is None:
        groups, n, length = tokens.shape
        cells = vocab * vocab
        flat = tokens[..., :-1] * vocab + tokens[..., 1:]
        flat = flat + cells * torch.arange(length - 1, device=tokens.device)
        flat = flat + (length - 1) * cells * torch.arange(groups, device=tokens.device)[:, None, None]
        counts = torch.bincount(flat.reshape(-1), minlength=groups * (length - 1) * cells)
        return (counts.to(torch.float64) / n).reshape(groups, length - 1, cells)
    if weights is None:
        return pair_frequencies(tokens[None], vocab)
    n, length = tokens.shape
    cells = vocab * vocab
    flat = tokens[:, :-1] * vocab + tokens[:, 1:] + cells * torch.arange(length - 1, device=tokens.device)
    rows = torch.arange(n, device=tokens.device).repeat_interleave(length - 1)
    # The one-hot incidence [(L - 1) V^2, n] kept sparse: the cost is O(R n L), whatever V is.
    incidence = torch.sparse_coo_tensor(
        torch.stack([flat.reshape(-1), rows]),
        torch.ones(n * (length - 1), dtype=torch.float64, device=tokens.device),
        ((length - 1) * cells, n),
        check_invariants=False,
    )
    counts = torch.sparse.mm(incidence, weights.to(torch.float64).T).T  # [R, (L - 1) V^2]
    return (counts / n).reshape(len(weights), length - 1, cells)


def bootstrap_weights(n: int, resamples: int, generator: torch.Generator) -> torch.Tensor:
    """``[resamples, n]`` multinomial counts: how often each sequence enters each resample."""
    drawn = torch.randint(n, (resamples, n), generator=generator)
    return torch.zeros(resamples, n, dtype=torch.float64).scatter_add_(
        1, drawn, torch.ones(resamples, n, dtype=torch.float64)
    )


def mean_pair_tv(freqs: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``mean_i (1/2) sum_k |freqs[..., i, k] - reference[..., i, k]|`` over the last two dims."""
    return 0.5 * (freqs - reference).abs().sum(-1).mean(-1)


def pair_tv_null_margin(
    target,
    n: int,
    generator: torch.Generator,
    resamples: int = NULL_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> float:
    """The ``confidence`` quantile of the plug-in ``T`` for an exact sampler: ``resamples``
    samples of ``n`` sequences drawn from ``target`` itself, each compared with the exact pair
    marginals (a parametric bootstrap; depends on the target and ``n`` only)."""
    exact = pair_marginals(target).reshape(target.length - 1, -1).to(torch.float64)
    tokens = target.sample(resamples * n, generator=generator).reshape(resamples, n, target.length)
    spread = mean_pair_tv(pair_frequencies(tokens, target.vocab_size), exact)
    return float(torch.quantile(spread, confidence))


def pair_tv_from_pairs(
    exact_pairs: torch.Tensor,
    tokens: torch.Tensor,
    generator: torch.Generator,
    null_margin: float = 0.0,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> PairTVEstimate:
    """:func:`pair_tv` against given exact pair marginals ``[L - 1, V, V]``, with the
    exact-sampler quantile ``null_margin`` (:func:`pair_tv_null_margin`; 0 leaves it out)."""
    n = len(tokens)
    vocab = exact_pairs.shape[-1]
    reference = exact_pairs.reshape(len(exact_pairs), -1).to(torch.float64)  # [L-1, V^2]
    freqs = pair_frequencies(tokens, vocab)[0]  # [L-1, V^2]
    deviation = freqs - reference
    plugin = float(mean_pair_tv(freqs, reference))
    signal = (deviation.square() - freqs * (1 - freqs) / max(n - 1, 1)).clamp(min=0).sqrt()
    estimate = float(0.5 * signal.sum(-1).mean())
    boot = pair_frequencies(tokens, vocab, bootstrap_weights(n, resamples, generator))
    margin = max(float(torch.quantile(mean_pair_tv(boot, freqs), confidence)), null_margin)
    low = min(max(0.0, plugin - margin), estimate)
    interval = (low, max(min(1.0, plugin + margin), estimate))
    return PairTVEstimate(estimate, interval, plugin, pair_tv_null_bias(reference, n))


def pair_tv(
    target: Target,
    tokens: torch.Tensor,
    generator: torch.Generator,
    null_margin: float | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> PairTVEstimate:
    """Estimate ``pair_tv`` (the mean over adjacent pairs of the pair-law TV, a lower bound on
    the TV) of the sampler that drew ``tokens [n, L]``, against the target's exact pair
    marginals (:func:`pair_marginals`: a chain target, or any target with a small table): the
    noise-corrected estimate and an interval covering ``pair_tv`` with probability at least
    ``confidence`` (module docstring). ``null_margin`` defaults to
    :func:`pair_tv_null_margin` for this target and ``n`` (pass it to reuse it across samplers)."""
    if null_margin is None:
        null_margin = pair_tv_null_margin(target, len(tokens), generator, confidence=confidence)
    return pair_tv_from_pairs(pair_marginals(target), tokens, generator, null_margin, resamples, confidence)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


def leakage_estimate(target, tokens: torch.Tensor) -> tuple[float, tuple[float, float]]:
    """Fraction of samples with ``pi(x) = 0`` and its Wilson interval."""
    outside = int(torch.isneginf(target.log_prob(tokens)).sum())
    return outside / len(tokens), wilson_interval(outside, len(tokens))
