"""Shared exact test problems: small targets (with a process where it matters), each with the
reason it was chosen. Helpers only ADD functions here; each call returns fresh objects."""

from __future__ import annotations

import numpy as np
import torch

from unmask import UniformProcess
from unmask.schedules import ConstantRateSchedule
from unmask.targets import HMM, Copies, MarkovChain, Table


def uniform_mild_chain() -> tuple[MarkovChain, UniformProcess]:
    """A mild uniform-process problem for convergence orders: ``(target, process)``.

    ``MarkovChain.mixing(vocab_size=3, length=3, eps=0.85)`` under ``UniformProcess`` with
    ``ConstantRateSchedule(horizon=2)`` and ``t_min = 0.25`` (``abar(t_min) = exp(-0.5)``). On
    ``[t_min, 1]`` one jump changes any increment intensity by a factor below 2 = ``a1/a2`` of the
    theta = 1/2 trapezoid, so its extrapolated intensities stay positive (no clipping) and every
    sampler shows its asymptotic order from ``N = 8`` steps on.
    """
    target = MarkovChain.mixing(vocab_size=3, length=3, eps=0.85)
    return target, UniformProcess(ConstantRateSchedule(horizon=2.0), t_min=0.25)


def random_table(vocab_size: int, length: int, seed: int, concentration: float = 1.0) -> Table:
    """A full-support ``Table`` with ``Dirichlet(concentration)`` weights over the ``V^L`` cells,
    drawn from ``numpy.random.default_rng(seed)``. Small concentrations give peaked tables with
    strong dependence between positions; every cell stays positive (KL(pi || phat) is finite)."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(vocab_size**length, concentration))
    return Table(torch.from_numpy(weights).reshape([vocab_size] * length))


def masked_law_targets() -> dict[str, Table | MarkovChain | HMM]:
    """One small target of each kind for exact masked-process laws (fresh objects, name -> target).

    Sizes keep the partial-state space ``(V + 1)^L`` at most ``4^5 = 1024``: a random table
    (V=3, L=4, peaked), a random Markov chain (V=3, L=5, strongly dependent), an HMM with 2 hidden
    states (V=3, L=4) and the copies target (V=3, L=4, sparse support: parallel steps leak mass).
    """
    return {
        "table": random_table(3, 4, seed=0, concentration=0.5),
        "markov": MarkovChain.random(vocab_size=3, length=5, concentration=0.5, seed=1),
        "hmm": HMM.random(hidden_size=2, vocab_size=3, length=4, concentration=0.7, seed=2),
        "copies": Copies(vocab_size=3, length=4),
    }


def masked_strong_chain() -> MarkovChain:
    """A strongly dependent chain for sampler-versus-law agreement: ``MarkovChain.random(vocab_size=3,
    length=4, concentration=0.5, seed=3)``. With few steps the parallel samplers are far from the
    target (TV of several percent), and the theta-trapezoid clips (non-zero ``clipped_mass``)."""
    return MarkovChain.random(vocab_size=3, length=4, concentration=0.5, seed=3)


def masked_mild_chain() -> MarkovChain:
    """A mild masked-process problem for convergence orders: ``MarkovChain.mixing(3, 4, eps=0.8)``.

    ``A = 0.2 I + 0.8 E/3``: revealing any token changes a conditional ``p(v | context)`` by a
    factor above 1/2 = ``a2/a1`` of the theta = 1/2 trapezoid, so its extrapolated intensities never
    go negative (clipped mass exactly 0) and it shows its second order; full support, so KL is
    finite. (At ``eps = 0.6`` two revealed neighbours can lower ``p(v | context)`` by more than
    half: the trapezoid clips and its slope drifts back towards -1.)
    """
    return MarkovChain.mixing(vocab_size=3, length=4, eps=0.8)


def likelihood_targets() -> list[MarkovChain | HMM]:
    """Small masked-process targets for the likelihood estimators, ``V = 3`` or fewer, ``L = 4..5``.

    A random Dirichlet(0.5) Markov chain (peaked, strongly dependent), the strongly dependent
    mixing chain ``eps = 0.2``, a mildly dependent one (``eps = 0.9``) and a two-state HMM (no
    Markov structure in the tokens): the estimators' variances differ most across these.
    """
    return [
        MarkovChain.random(3, 5, concentration=0.5, seed=1),
        MarkovChain.mixing(3, 5, eps=0.2),
        MarkovChain.mixing(3, 5, eps=0.9),
        HMM.random(2, 3, 4, concentration=0.7, seed=2),
    ]
