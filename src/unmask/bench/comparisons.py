"""What the benchmark draws from its cells beyond the orders: the gap to the limit, the EB-Sampler
against fixed-k top-confidence decoding at matched calls, and certified sampling against EB.

* **Gap to the limit** (spec §7): at each budget of ``K < L`` calls, the best TV among the cells
  that never take more than ``K`` calls, beside the TV of the best plan any factorised sampler with
  exact conditionals can follow in ``K`` calls (``Cell.limit_tv``). Samplers that draw their plan
  at random or adapt it to the revealed values are mixtures of plans and may go below it.
* **EB against top-k** (spec §4.7 (d)): for each fixed-k top-confidence cell of ``K < L`` calls,
  the lowest TV of an EB cell whose exact *expected* calls are at most ``K``.
* **Certified sampling**: for each masked target and KL budget ``eps``, the certified sampler's
  expected calls and exact KL, beside the EB-Sampler with the largest fixed ``gamma`` whose own
  bound ``gamma * E_model[#steps]`` (spec §4.7) is at most ``eps``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exact import kl, reference_law, run_law
from ..exact.planner_bound import planner_bound
from ..samplers.planned import Certified, EntropyBounded
from .config import BenchConfig, parse_target_spec
from .run import Cell, exact_cells_possible
from .suite import SUITE

#: KL budgets (nats) of the certified comparison.
CERTIFIED_BUDGETS = (0.01, 0.05, 0.2)
#: Values of ``gamma`` searched for EB's matched bound: ``eps / L`` times these (a geometric grid
#: from the a-priori choice ``eps / L``, whose bound holds because ``#steps <= L``, up to ``eps``).
GAMMA_GRID = 16
#: Tolerance on "calls at most K" for expected calls (float sums of masses).
CALLS_TOLERANCE = 1e-9


def masked_length(label: str) -> int:
    """The length of the masked bench target with ``label`` (``name`` or ``name:length=N``)."""
    spec = parse_target_spec(label)
    return SUITE[spec.name].at("masked", spec.length).length


def limit_gaps(cells: list[Cell]) -> list[dict]:
    """Per masked exact (target, budget ``K`` below its length ``L``) with a limit: the limit's TV,
    the best cell that takes at most ``K`` calls on every path, its TV and its gap ``TV - limit``
    (negative: the cell mixes plans). From ``L`` calls on the limit is 0 and first-hitting reaches
    it."""
    rows = []
    exact = [c for c in cells if c.process == "masked" and c.method == "exact" and c.tv is not None]
    for target in sorted({c.target for c in exact}):
        group = [c for c in exact if c.target == target]
        length = masked_length(target)
        for budget in sorted(
            {c.nfe_budget for c in group if c.limit_tv is not None and c.nfe_budget < length}
        ):
            limit = next(c.limit_tv for c in group if c.nfe_budget == budget and c.limit_tv is not None)
            within = [c for c in group if c.nfe_budget <= budget]
            best = min(within, key=lambda c: c.tv)
            rows.append({
                "target": target, "budget": budget, "limit_tv": limit, "best_sampler": best.sampler,
                "best_steps": best.steps, "best_tv": best.tv, "gap": best.tv - limit,
            })  # fmt: skip
    return rows


def eb_against_top_k(cells: list[Cell]) -> list[dict]:
    """Per masked exact top-k cell (default confidence score) of ``K`` calls, fewer than the
    target's length: the lowest-TV EB cell whose exact expected calls are at most ``K``."""
    rows = []
    exact = [c for c in cells if c.process == "masked" and c.method == "exact"]
    for cell in exact:
        if cell.sampler != "top-k" or cell.nfe_budget >= masked_length(cell.target):
            continue
        matched = [
            c
            for c in exact
            if c.target == cell.target
            and c.sampler.partition(":")[0] == "eb"
            and c.nfe_expected is not None
            and c.nfe_expected <= cell.nfe_budget + CALLS_TOLERANCE
        ]
        best = min(matched, key=lambda c: c.tv) if matched else None
        rows.append({
            "target": cell.target, "calls": cell.nfe_budget, "top_k_tv": cell.tv,
            "eb_sampler": best.sampler if best else None,
            "eb_expected_calls": best.nfe_expected if best else None,
            "eb_tv": best.tv if best else None,
            "eb_lower": (best.tv < cell.tv) if best else None,
        })  # fmt: skip
    return rows


@dataclass(frozen=True)
class CertifiedRow:
    """One (target, KL budget): certified sampling beside EB with the matched fixed gamma.

    ``certified_bound``: the largest path sum of ``sum H - max H`` under the model's own path law
    (at most ``kl_budget`` by construction); ``eb_gamma``: the largest ``gamma`` on the grid whose
    bound ``gamma * E_model[#steps]`` is at most ``kl_budget``.
    """

    target: str
    kl_budget: float
    certified_calls: float
    certified_kl: float
    certified_bound: float
    eb_gamma: float
    eb_calls: float
    eb_kl: float


def certified_comparison(config: BenchConfig) -> list[CertifiedRow]:
    """The certified comparison on every masked target of ``config`` small enough for exact laws."""
    rows = []
    for spec in config.targets:
        target = SUITE[spec.name].at("masked", spec.length)
        if not exact_cells_possible(target, "masked"):
            continue
        reference = reference_law(target)
        for budget in CERTIFIED_BUDGETS:
            certified = Certified(kl_budget=budget)
            law = run_law(target, certified)
            bound = planner_bound(target, certified)
            gamma = matched_gamma(target, budget)
            eb = run_law(target, EntropyBounded(gamma=gamma))
            rows.append(
                CertifiedRow(
                    spec.label,
                    budget,
                    law.expected_steps,
                    kl(reference, law.law),
                    bound.max_entropy_bound,
                    gamma,
                    eb.expected_steps,
                    kl(reference, eb.law),
                )  # fmt: skip
            )
    return rows


def matched_gamma(target, kl_budget: float) -> float:
    """The largest ``gamma = (kl_budget / L) * (L ** (i / (GAMMA_GRID - 1)))``, ``i = 0 ..
    GAMMA_GRID - 1``, with ``gamma * E_model[#steps] <= kl_budget`` (``i = 0`` always qualifies)."""
    length = target.length
    best = kl_budget / length
    for i in range(1, GAMMA_GRID):
        gamma = kl_budget / length * length ** (i / (GAMMA_GRID - 1))
        steps = planner_bound(target, EntropyBounded(gamma=gamma)).expected_steps
        if gamma * steps <= kl_budget:
            best = gamma
    return best
