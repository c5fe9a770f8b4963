"""The benchmark configuration: what to run, checked before any work starts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .. import checks
from ..processes import MaskedProcess, UniformProcess
from ..samplers import registry
from ..samplers.correctors import PredictorCorrector
from ..schedules import ConstantRateSchedule, LinearSchedule
from .specs import SamplerSpec, parse_sampler_spec
from .suite import SUITE

PROCESSES = ("masked", "uniform")
DEFAULT_STEPS = (2, 4, 8, 16, 32, 64)
QUICK_STEPS = (4, 8, 16)
QUICK_TARGETS = ("mild",)


def bench_process(kind: str) -> MaskedProcess | UniformProcess:
    """The process each benchmark cell runs.

    Masked: the linear schedule (an exact all-mask start). Uniform: a constant rate 2 sampled from
    ``t = 1`` to ``t_min = 0.25``; exact laws start from the exact forward law at ``t = 1`` and are
    compared with the forward law at ``t_min``, which isolates the discretisation error, and the
    rates stay moderate enough for the asymptotic orders to show within 64 steps.
    """
    if kind == "masked":
        return MaskedProcess(LinearSchedule())
    return UniformProcess(ConstantRateSchedule(horizon=2.0), t_min=0.25)


@dataclass(frozen=True)
class TargetSpec:
    """A suite target and an optional length (``name`` or ``name:length=N``)."""

    name: str
    length: int | None = None

    @property
    def label(self) -> str:
        return self.name if self.length is None else f"{self.name}:length={self.length}"


def parse_target_spec(text: str) -> TargetSpec:
    """Parse ``name`` or ``name:length=N``; raise ``ValueError`` naming the spec when it is bad."""
    name, _, rest = text.strip().partition(":")
    if name not in SUITE:
        raise ValueError(f"unknown target {name!r}; known targets: {', '.join(SUITE)}")
    if not rest:
        return TargetSpec(name)
    key, eq, value = rest.partition("=")
    if key.strip() != "length" or not eq:
        raise ValueError(f"malformed target spec {text!r}; use name or name:length=N")
    try:
        length = int(value)
    except ValueError:
        raise ValueError(f"target spec {text!r}: length must be an integer, got {value!r}") from None
    if length < 2:
        raise ValueError(f"target spec {text!r}: length must be >= 2, got {length}")
    return TargetSpec(name, length)


#: Masked-process samplers the default run adds to every registered one: the EB-Sampler at more
#: values of gamma (NFE against TV), certified sampling at the other budgets of the comparison,
#: the other two correctors after Euler (predictor-corrector's default is the informed one) and
#: ReMDM's loop and confidence schedules (ReMDM-conf has no exact law: its cells are Monte Carlo).
EXTRA_DEFAULT_SAMPLERS = (
    "eb:gamma=0.01",
    "eb:gamma=0.3",
    "eb:gamma=1.0",
    "certified:kl_budget=0.01",
    "certified:kl_budget=0.2",
    "predictor-corrector:corrector=forward-backward",
    "predictor-corrector:corrector=gibbs",
    "remdm:variant=loop",
    "remdm:variant=confidence",
)
#: The most steps the default run gives a predictor-corrector (its exact laws branch over every
#: corrector move; 16 steps reach its budgets' interesting range on the length-5 targets).
CORRECTOR_MAX_STEPS = 16


def default_samplers(processes: tuple[str, ...]) -> tuple[SamplerSpec, ...]:
    """Every registered sampler of each process with default hyperparameters, then
    :data:`EXTRA_DEFAULT_SAMPLERS` for the masked process; predictor-correctors run up to
    :data:`CORRECTOR_MAX_STEPS` steps."""
    specs = [SamplerSpec(name, kind) for kind in processes for name in registry.names(kind)]
    if "masked" in processes:
        specs += [parse_sampler_spec(text, "masked") for text in EXTRA_DEFAULT_SAMPLERS]
    return tuple(
        replace(spec, max_steps=CORRECTOR_MAX_STEPS) if spec.name == PredictorCorrector.name else spec
        for spec in specs
    )


def parse_samplers(texts: list[str], processes: tuple[str, ...]) -> tuple[SamplerSpec, ...]:
    """Sampler specs for every process that knows the name; a name no process knows is an error."""
    specs: list[SamplerSpec] = []
    for text in texts:
        name = text.strip().partition(":")[0]
        kinds = [kind for kind in processes if name in registry.names(kind)]
        if not kinds:
            known = ", ".join(sorted({n for kind in processes for n in registry.names(kind)}))
            raise ValueError(f"unknown sampler {name!r}; known samplers: {known}")
        specs.extend(parse_sampler_spec(text, kind) for kind in kinds)
    return tuple(specs)


@dataclass(frozen=True)
class BenchConfig:
    """Everything a benchmark run depends on (written in full to ``bench.json``).

    ``per_call``: also run the accuracy-per-call study on random chains
    (:mod:`unmask.bench.per_call`; the default command-line run does).
    """

    targets: tuple[TargetSpec, ...] = tuple(TargetSpec(name) for name in SUITE)
    samplers: tuple[SamplerSpec, ...] = field(default_factory=lambda: default_samplers(PROCESSES))
    steps: tuple[int, ...] = DEFAULT_STEPS
    samples: int = 2000
    seed: int = 0
    per_call: bool = False

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("targets must name at least one target")
        if not self.samplers:
            raise ValueError("samplers must name at least one sampler")
        if not self.steps:
            raise ValueError("steps must hold at least one step count")
        for steps in self.steps:
            checks.positive_int("steps", steps)
        checks.positive_int("samples", self.samples)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        object.__setattr__(self, "steps", tuple(sorted(set(self.steps))))

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration, JSON-ready."""
        return {
            "targets": [spec.label for spec in self.targets],
            "samplers": [
                {"process": spec.process, "sampler": spec.label, "max_steps": spec.max_steps}
                for spec in self.samplers
            ],
            "steps": list(self.steps),
            "samples": self.samples,
            "seed": self.seed,
            "per_call": self.per_call,
            "processes": {
                kind: {"process": type(p).__name__, **_process_fields(p)}
                for kind in PROCESSES
                for p in [bench_process(kind)]
            },
        }


def _process_fields(process: MaskedProcess | UniformProcess) -> dict[str, Any]:
    fields = {k: v for k, v in asdict(process).items() if k != "schedule"}
    fields["schedule"] = {"name": process.schedule.name, **asdict(process.schedule)}
    return fields
