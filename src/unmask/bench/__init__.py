"""The sampler benchmark on exact targets: which sampler to use at a budget of model calls, and
how far its output is from the truth."""

from .config import BenchConfig, TargetSpec, bench_process, parse_samplers, parse_target_spec
from .fit import OrderFit, best_per_budget, fit_orders
from .run import Cell, plan, run_bench
from .specs import SamplerSpec, parse_sampler_spec
from .suite import SUITE, target_names

__all__ = [
    "SUITE",
    "BenchConfig",
    "Cell",
    "OrderFit",
    "SamplerSpec",
    "TargetSpec",
    "bench_process",
    "best_per_budget",
    "fit_orders",
    "parse_sampler_spec",
    "parse_samplers",
    "parse_target_spec",
    "plan",
    "run_bench",
    "target_names",
]
