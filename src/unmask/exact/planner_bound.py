"""The exact path-KL bound of a planner (spec §2.5, §4.7): EB-Sampler, certified sampling, top-k,
thresholds, dilated and semi-autoregressive decoding, with exact conditionals.

A planner reveals at each call a set ``U`` of masked positions that is a deterministic function of
the state, and draws each of them independently from its conditional. Its **reference process**
follows the same choices of ``U`` at every state but draws ``x_U`` jointly from ``pi(x_U | x_A)``
(``A``: the revealed positions); it generates ``pi`` exactly. The chain rule of KL and data
processing give

    KL(pi || phat) <= pathKL = E_ref[ sum over steps of TC_step ],
    TC_step = sum_{l in U} H(x_l | x_A) - H(x_U | x_A)        (conditional total correlation)
            <= C_step = sum_{l in U} H_l - max_{l in U} H_l,

so ``pathKL <= E_ref[sum C] <= max over paths of sum C``. (The path of a deterministic planner is
a function of its output, so the first inequality is an equality.) EB keeps ``C_step <= gamma`` (so
``pathKL <= gamma E_ref[#steps]``) and the certified sampler keeps ``sum C <= kl_budget`` on every
path. :func:`planner_bound` computes these quantities exactly by a breadth-first dynamic program
over the reference process's partial states.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..probabilities import Probabilities, softmax64
from ..processes import MaskedProcess
from ..samplers import registry
from ..samplers.base import Sampler
from ..samplers.driver import resolve_sampler
from ..samplers.planned.blocks import SemiAutoregressive, current_block
from ..samplers.planned.plan import Planner, dependence_bound
from .codes import code_digits
from .laws import check_target

#: The most partial states ``(V + 1)^L`` the dynamic program may enumerate.
MAX_PLANNER_STATES = 1 << 16


@dataclass(frozen=True)
class PlannerBound:
    """Exact quantities of a planner's reference process (same choices of ``U``, joint draws).

    Attributes:
        path_kl: ``E_ref[sum_steps TC_step]``, the KL between the reference and the sampler's path
            laws; it bounds ``KL(pi || phat)``.
        entropy_bound: ``E_ref[sum_steps C_step]`` with ``C = sum_U H - max_U H``; at least
            ``path_kl``.
        expected_steps: ``E_ref[#steps]`` (denoiser calls of the reference process).
        max_entropy_bound: the largest ``sum_steps C_step`` over reference paths of positive
            probability; at least ``entropy_bound``.
    """

    path_kl: float
    entropy_bound: float
    expected_steps: float
    max_entropy_bound: float


def _check_planner(sampler: Sampler | str) -> Sampler:
    """The sampler object of ``sampler`` (a name of the masked process or an object), or a
    ``TypeError`` unless it is a planner whose step this module reproduces."""
    if isinstance(sampler, str):
        sampler = registry.get(sampler, MaskedProcess.name)
    if not isinstance(sampler, Planner):
        raise TypeError(
            "planner_bound needs a planner (eb, certified, top-k, threshold, factor-threshold, "
            f"dilated, semi-autoregressive), got {type(sampler).__name__}"
            + (f" ({sampler.name!r})" if isinstance(sampler, Sampler) else "")
        )
    kind = type(sampler)
    if kind.step is not Planner.step or kind.eligible not in (Planner.eligible, SemiAutoregressive.eligible):
        raise TypeError(
            f"planner_bound reproduces the planner step of unmask.samplers.planned.plan.Planner; "
            f"{kind.__name__} overrides step or eligible, so its choices cannot be followed here"
        )
    return sampler


class _Marginals:
    """Marginal tables ``pi(x_S)`` of a table ``[V] * L``, one per subset ``S`` (computed once)."""

    def __init__(self, table: torch.Tensor) -> None:
        self.table = table
        self.length = table.dim()
        self._cache: dict[int, torch.Tensor] = {}

    def of(self, subset: int) -> torch.Tensor:
        """``pi(x_S)`` with the axes of ``S`` (bit ``l`` of ``subset``) in position order."""
        if subset not in self._cache:
            drop = [pos for pos in range(self.length) if not subset >> pos & 1]
            self._cache[subset] = self.table.sum(dim=drop) if drop else self.table
        return self._cache[subset]


def _step_outcomes(marginals: _Marginals, state: list[int], chosen: list[int], vocab_size: int):
    """The joint law ``pi(x_U | x_A)`` of the chosen positions at a partial state, as
    ``(tc, outcomes [m, |U|] LongTensor, probabilities [m])`` over its outcomes of positive
    probability; ``tc`` is the conditional total correlation of ``x_U`` given ``x_A``."""
    revealed = [pos for pos, value in enumerate(state) if value != vocab_size]
    subset = sum(1 << pos for pos in revealed + chosen)
    table = marginals.of(subset)
    kept = sorted(revealed + chosen)
    index = tuple(state[pos] if pos in revealed else slice(None) for pos in kept)
    joint = table[index]  # axes: the chosen positions, in position order
    joint = joint / joint.sum()
    size = len(chosen)
    product = torch.ones_like(joint)
    for axis in range(size):
        others = [a for a in range(size) if a != axis]
        marginal = joint.sum(dim=others) if others else joint
        shape = [1] * size
        shape[axis] = vocab_size
        product = product * marginal.reshape(shape)
    support = joint > 0
    tc = float((joint[support] * (joint[support] / product[support]).log()).sum())
    outcomes = support.nonzero()
    return tc, outcomes, joint[support]


def planner_bound(target, sampler: Sampler | str, steps: int | None = None) -> PlannerBound:
    """Exact path-KL bound of a planner on a small exact target (spec §4.7).

    The reference process starts from all-mask with mass 1 and, at a partial state with revealed
    positions ``A`` and masked ones ``M``, reveals the planner's own set ``U`` (the sampler's
    ``plan`` on the exact conditionals, as :meth:`Planner.step` calls it), drawing ``x_U`` jointly
    from ``pi(x_U | x_A)``. Its output law is ``pi``. With ``H_l = H(x_l | x_A)`` (nats),

    * ``TC_step = sum_{l in U} H_l - H(x_U | x_A)`` (computed as ``KL(pi(x_U | x_A) || prod_l
      pi(x_l | x_A))``), the KL of one step of the reference against one step of the sampler;
    * ``C_step = sum_{l in U} H_l - max_{l in U} H_l >= TC_step``.

    Returns ``path_kl = E_ref[sum TC]`` (``>= KL(pi || phat)`` by data processing; since each
    ``U`` is a function of the tokens revealed so far, a path is a function of its output, and
    the two are in fact equal up to rounding),
    ``entropy_bound = E_ref[sum C]``, ``expected_steps = E_ref[#steps]`` and
    ``max_entropy_bound = max sum C`` over reference paths of positive probability. For EB,
    ``entropy_bound <= gamma * expected_steps``; for the certified sampler,
    ``max_entropy_bound <= kl_budget``.

    Args:
        target: an exact target (``vocab_size``, ``length``, ``probs()``, ``conditionals(z)``)
            with ``(V + 1)^L`` at most ``MAX_PLANNER_STATES``.
        sampler: a planner object or name (eb, certified, top-k, threshold, factor-threshold,
            dilated, semi-autoregressive).
        steps: for planners that take steps (top-k, dilated, ...), as in :func:`unmask.exact.run_law`.

    Raises:
        TypeError: ``target`` is not an exact target, or ``sampler`` is not a supported planner.
        ValueError: the target is too large, or ``steps`` does not suit the sampler.
    """
    check_target(target)
    vocab_size, length = target.vocab_size, target.length
    states = (vocab_size + 1) ** length
    if states > MAX_PLANNER_STATES:
        raise ValueError(
            f"the target is too large for planner_bound: (V + 1)^L = {vocab_size + 1}^{length} = "
            f"{states:,} partial states, above the limit {MAX_PLANNER_STATES:,}; use a shorter "
            "length or a smaller vocabulary"
        )
    sampler = resolve_sampler(_check_planner(sampler), MaskedProcess(), steps, length)
    table = target.probs().to(torch.float64).cpu()
    marginals = _Marginals(table)
    base = vocab_size + 1
    powers = [base ** (length - 1 - pos) for pos in range(length)]
    free = torch.ones(1, length, dtype=torch.bool)
    # current states: code -> (mass, the largest sum of C over the paths that reach it)
    current: dict[int, tuple[float, float]] = {states - 1: (1.0, 0.0)}
    path_kl = entropy_bound = expected_steps = max_bound = 0.0
    index = 0
    while current:
        if index >= length:
            raise RuntimeError(
                f"{sampler.name} still had masked positions after {length} steps; this is a bug"
            )
        codes = torch.tensor(list(current), dtype=torch.long)
        z = code_digits(codes, base, length)
        n = len(z)
        masked = z == vocab_size
        with torch.no_grad():
            probs = Probabilities(dense=softmax64(target.conditionals(z).to(torch.float64).log()))
            eligible = masked
            if type(sampler).eligible is SemiAutoregressive.eligible:
                eligible = masked & current_block(masked, free.expand(n, -1), sampler.block_length)
            lengths = torch.full((n,), length, dtype=torch.long)
            chosen = sampler.plan(probs, eligible, index, lengths, free.expand(n, -1)) & eligible
            cost = dependence_bound(probs.entropy(), chosen)
        if bool((chosen.sum(-1) == 0).any()):
            raise RuntimeError(f"{sampler.name} chose no position at a state with masked positions")
        following: dict[int, tuple[float, float]] = {}
        for row, code in enumerate(current):
            mass, worst = current[code]
            state = z[row].tolist()
            picked = chosen[row].nonzero().squeeze(-1).tolist()
            tc, outcomes, probabilities = _step_outcomes(marginals, state, picked, vocab_size)
            step_cost = float(cost[row])
            expected_steps += mass
            path_kl += mass * tc
            entropy_bound += mass * step_cost
            reached = worst + step_cost
            finished = int(masked[row].sum()) == len(picked)
            # revealing x_l = v changes digit l from V to v
            shift = torch.tensor([powers[pos] for pos in picked], dtype=torch.long)
            new_codes = (code - ((vocab_size - outcomes) * shift).sum(-1)).tolist()
            for new_code, p in zip(new_codes, probabilities.tolist(), strict=True):
                branch = mass * p
                if branch <= 0:
                    continue
                if finished:
                    max_bound = max(max_bound, reached)
                    continue
                old_mass, old_worst = following.get(new_code, (0.0, 0.0))
                following[new_code] = (old_mass + branch, max(old_worst, reached))
        current = following
        index += 1
    return PlannerBound(
        path_kl=path_kl,
        entropy_bound=entropy_bound,
        expected_steps=expected_steps,
        max_entropy_bound=max_bound,
    )
