"""Exact output laws of samplers, distances to the target, information profiles and path-KL."""

from .laws import LawResult, output_law, reference_law, run_law
from .metrics import entropy, kl, leakage, tv
from .path_kl import path_kl
from .planner_bound import PlannerBound, planner_bound
from .profile import ProfileEstimate, estimate_information_profile, information_profile, subset_entropies
from .schedule import OptimalSchedule, block_costs, optimal_sizes, schedule_error, schedule_grid

__all__ = [
    "LawResult",
    "OptimalSchedule",
    "PlannerBound",
    "ProfileEstimate",
    "block_costs",
    "entropy",
    "estimate_information_profile",
    "information_profile",
    "kl",
    "leakage",
    "optimal_sizes",
    "output_law",
    "path_kl",
    "planner_bound",
    "reference_law",
    "run_law",
    "schedule_error",
    "schedule_grid",
    "subset_entropies",
    "tv",
]
from .limit import (  # noqa: E402
    AdaptivePlan,
    Mixture,
    Plan,
    best_adaptive_plan,
    best_mixture,
    best_plan,
    count_plans,
    plan_kl,
    plan_law,
)

__all__ += [
    "AdaptivePlan",
    "Mixture",
    "Plan",
    "best_adaptive_plan",
    "best_mixture",
    "best_plan",
    "count_plans",
    "plan_kl",
    "plan_law",
]
