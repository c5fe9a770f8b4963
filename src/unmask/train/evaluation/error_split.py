"""``error_split``: how far a trained model's samples are from the target, split into the part that
is the model's and the part that is the sampler's, from exact output laws.

On a small exact target ``pi`` (``V^L`` at most :data:`unmask.exact.laws.MAX_STATES`), three laws
on the ``V^L`` sequences are computed exactly:

* ``pi``, the target;
* ``p_model``, the model's own law: first-hitting driven by the model (one token per call, each
  from the model's conditional; exact for an exact denoiser), the law the model defines;
* ``p_sampler``, the output law of a sampler at a step count, driven by the model
  (:func:`unmask.exact.run_law` with ``denoiser=model``).

Reported per sampler and step count:

==============  ===============================  ==============================================
part            KL                               TV
==============  ===============================  ==============================================
total           ``KL(pi || p_sampler)``          ``TV(pi, p_sampler)``
model           ``KL(pi || p_model)``            ``TV(pi, p_model)``
sampler         ``KL(p_model || p_sampler)``     ``TV(p_model, p_sampler)``
==============  ===============================  ==============================================

TV is a metric, so ``total TV <= model TV + sampler TV`` (the triangle inequality). The KL parts
are reported side by side, not claimed to add up: KL obeys no triangle inequality. With the
target's exact denoiser in place of a model, the model part is 0 and the sampler part is the
sampler's own discretisation error.

The model must be time-agnostic (``time_agnostic = True``; a denoiser trained without time
conditioning): first-hitting draws continuous event times, so the law of a time-conditioned model
under it has no finite enumeration. Its logits are kept per partial state (:mod:`.tabulated`) when
that table is small enough (``V = 4, L = 8``: 390,625 states, of which the model's own law reaches
every one with a masked position), so the model is called at most once per state for all the
samplers; otherwise it is called in pieces (:mod:`.chunked`) on the states each step reaches. Each
sampler's law runs as one task of :func:`.isolated.run_tasks`, so a law too large for the memory
or the time allowed is reported with its reason instead of stopping the run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ...bench.specs import SamplerSpec, parse_sampler_spec
from ...denoisers import check_vocabulary, is_time_agnostic
from ...exact import kl, run_law, tv
from ...exact.laws import MAX_STATES, check_target
from ...processes import MaskedProcess
from ...samplers.base import Sampler
from .chunked import ROWS_PER_CALL, ChunkedDenoiser
from .isolated import Limits, Outcome, run_tasks
from .tabulated import TabulatedDenoiser, can_tabulate

#: ``progress(done, total, label)``: a stage finished (the table, the model's law, each law).
Progress = Callable[[int, int, str], None]

#: The sampler whose law is the model's own law (exact for an exact denoiser).
MODEL_SAMPLER = "first-hitting"


@dataclass(frozen=True)
class SplitRow:
    """One sampler at one step count (module docstring for the parts).

    Attributes:
        sampler: the sampler's label (``name`` or ``name:key=value``).
        steps: the step count (None for samplers that set their own number of calls).
        nfe: expected model calls per sequence, ``calls_per_step * E[#steps]`` (before the reuse
            of unchanged rows that ``unmask.sample`` makes for a time-agnostic model).
        total_kl, total_tv: ``KL(pi || p_sampler)``, ``TV(pi, p_sampler)``.
        model_kl, model_tv: ``KL(pi || p_model)``, ``TV(pi, p_model)`` (the same on every row).
        sampler_kl, sampler_tv: ``KL(p_model || p_sampler)``, ``TV(p_model, p_sampler)``.
        refusal: why the sampler's exact law was not computed (then its numbers are None).
        seconds: time spent on this law.
    """

    sampler: str
    steps: int | None
    nfe: float | None
    total_kl: float | None
    total_tv: float | None
    model_kl: float
    model_tv: float
    sampler_kl: float | None
    sampler_tv: float | None
    refusal: str | None = None
    seconds: float = 0.0

    @property
    def refused(self) -> bool:
        """Whether this row has no numbers (see ``refusal``)."""
        return self.refusal is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (an infinite KL is the string ``"inf"``)."""
        return {key: _json_number(value) for key, value in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class ErrorSplit:
    """The result of :func:`error_split`.

    Attributes:
        rows: one :class:`SplitRow` per sampler and step count, in the order given.
        model_kl, model_tv: ``KL(pi || p_model)``, ``TV(pi, p_model)``.
        model_law: ``p_model``, float64 ``[V] * L``.
        tabulated: whether the model's logits were kept per partial state (:mod:`.tabulated`).
        model_rows: the rows the model was called on (the states it was evaluated at, when
            tabulated).
        seconds: ``{"model_law": ..., "samplers": ..., "total": ...}`` (the model's law includes
            the model's evaluation on the states it reaches).
    """

    rows: list[SplitRow]
    model_kl: float
    model_tv: float
    model_law: torch.Tensor = field(repr=False)
    tabulated: bool = False
    model_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (without the model's law)."""
        return {
            "model_kl": _json_number(self.model_kl),
            "model_tv": self.model_tv,
            "tabulated": self.tabulated,
            "model_rows": self.model_rows,
            "seconds": self.seconds,
            "rows": [row.to_dict() for row in self.rows],
        }


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    return value


def _as_spec(item: str | Sampler | SamplerSpec) -> tuple[str, Sampler, int | None]:
    """``(label, sampler, max_steps)`` of a sampler given as text, object or spec."""
    if isinstance(item, SamplerSpec):
        return item.label, item.build(), item.max_steps
    if isinstance(item, str):
        spec = parse_sampler_spec(item, "masked")
        return spec.label, spec.build(), None
    if isinstance(item, Sampler):
        return _label(item), item, None
    raise TypeError(
        f"samplers must hold sampler names ('euler', 'trapezoidal:theta=0.4'), Sampler objects or "
        f"SamplerSpecs, got {type(item).__name__}"
    )


def _label(sampler: Sampler) -> str:
    """``name`` or ``name:key=value,...`` for the fields that differ from the defaults."""
    changed = []
    for item in dataclasses.fields(sampler):
        value = getattr(sampler, item.name)
        default = item.default
        if default is dataclasses.MISSING and item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        if default is dataclasses.MISSING or value != default:
            changed.append(f"{item.name}={value.name if isinstance(value, Sampler) else value}")
    return sampler.name + (":" + ",".join(changed) if changed else "")


@dataclass(frozen=True)
class _Task:
    label: str
    sampler: Sampler
    steps: int | None


def _tasks(samplers: Sequence[str | Sampler | SamplerSpec], steps: Sequence[int]) -> list[_Task]:
    tasks = []
    for item in samplers:
        label, sampler, max_steps = _as_spec(item)
        if not sampler.takes_steps:
            tasks.append(_Task(label, sampler, None))
            continue
        chosen = [n for n in steps if max_steps is None or n <= max_steps]
        tasks.extend(_Task(label, sampler, n) for n in chosen)
    return tasks


def _check_steps(steps: Sequence[int]) -> tuple[int, ...]:
    if isinstance(steps, int) or not isinstance(steps, Sequence):
        raise TypeError(f"steps must be a sequence of step counts, like (2, 4, 8), got {steps!r}")
    for n in steps:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"steps must hold positive integers, got {n!r}")
    return tuple(steps)


def error_split(
    target,
    model,
    samplers: Sequence[str | Sampler | SamplerSpec],
    steps: Sequence[int] = (4,),
    *,
    process: MaskedProcess | None = None,
    limits: Limits | None = None,
    rows_per_call: int = ROWS_PER_CALL,
    progress: Progress | None = None,
) -> ErrorSplit:
    """The model/sampler split of the error of each sampler (module docstring).

    Args:
        target: an exact target with ``V^L`` at most ``MAX_STATES`` (the target the model was
            trained on, e.g. :func:`unmask.train.data.target_from_description`).
        model: a time-agnostic denoiser ``f(x_t [B, L], t [B]) -> logits [B, L, V]`` (a trained
            :class:`~unmask.train.models.TransformerDenoiser`, or any denoiser).
        samplers: masked-process samplers: names or ``name:key=value`` texts, ``Sampler`` objects
            or bench ``SamplerSpec`` s (whose ``max_steps`` is respected).
        steps: the step counts of the samplers that take steps (the others run once).
        process: the masked process of the grid samplers (default: the linear schedule).
        limits: how each sampler's law runs (:class:`~.isolated.Limits`: time and memory per law,
            workers; None: in this process, without limits).
        rows_per_call: the most rows of one model call.
        progress: ``progress(done, total, label)`` after each stage.

    Returns:
        :class:`ErrorSplit`. A sampler whose law is refused (``Sampler.exact_law_refusal``, a step
        count it does not take, a dynamic program too large, a limit of ``limits``) is a row with
        its ``refusal`` and no numbers.

    Raises ``TypeError``/``ValueError`` before any model call for a target that is not exact or
    too large, a model that is not time-agnostic or of another vocabulary, or a bad sampler.
    """
    check_target(target)
    vocab_size, length = target.vocab_size, target.length
    if vocab_size**length > MAX_STATES:
        raise ValueError(
            f"the target has V^L = {vocab_size}^{length} = {vocab_size**length:,} sequences, above the "
            f"exact-law limit {MAX_STATES:,}; the split needs exact output laws of a small target"
        )
    if not callable(model):
        raise TypeError(f"model must be a denoiser f(x_t, t) -> logits, got {type(model).__name__}")
    if not is_time_agnostic(model):
        raise ValueError(
            "the model is time-conditioned (it has no time_agnostic = True): first-hitting draws "
            "continuous times, so its own law cannot be enumerated; the split needs a model trained "
            "without time conditioning (ModelConfig(time_conditioning=False), the default)"
        )
    check_vocabulary(model, vocab_size)
    process = MaskedProcess() if process is None else process
    if not isinstance(process, MaskedProcess):
        raise TypeError(f"process must be a MaskedProcess, got {type(process).__name__}")
    tasks = _tasks(samplers, _check_steps(steps))
    limits = Limits() if limits is None else limits
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a Limits or None, got {type(limits).__name__}")
    total = len(tasks) + 1
    started = time.perf_counter()

    tabulated = can_tabulate(model, vocab_size, length)
    if tabulated:

        def evaluated(done: int, states: int) -> None:
            if progress is not None:
                progress(0, total, f"the model's own law: the model on {done:,} of {states:,} states")

        denoiser: Any = TabulatedDenoiser(model, vocab_size, length, rows_per_call, evaluated)
    else:
        denoiser = ChunkedDenoiser(model, rows_per_call)
    on_accelerator = (denoiser.model if tabulated else denoiser).device.type != "cpu"

    def law_of(task: _Task) -> dict[str, Any]:
        result = run_law(target, task.sampler, task.steps, process=process, denoiser=denoiser)
        return {
            "law": result.law.numpy(),
            "nfe": task.sampler.calls_per_step * result.expected_steps,
        }

    model_law = run_law(target, MODEL_SAMPLER, None, process=process, denoiser=denoiser).law
    if on_accelerator and limits.isolated:  # a forked worker must not call a model on a CUDA device
        if tabulated:
            denoiser.fill()
        else:
            limits = Limits()
    model_seconds = time.perf_counter() - started
    reference = target.probs()
    model_kl, model_tv = kl(reference, model_law), tv(reference, model_law)
    if progress is not None:
        progress(1, total, f"the model's own law ({MODEL_SAMPLER})")

    rows: list[SplitRow | None] = [None] * len(tasks)
    runnable = []
    for index, task in enumerate(tasks):
        reason = task.sampler.exact_law_refusal()
        if reason is not None:
            rows[index] = SplitRow(
                task.label, task.steps, None, None, None, model_kl, model_tv, None, None, reason
            )
        else:
            runnable.append(index)
    finished = [total - len(runnable)]
    if progress is not None and finished[0] > 1:
        progress(finished[0], total, "samplers without an exact law skipped")

    def done(position: int, outcome: Outcome) -> None:
        index = runnable[position]
        rows[index] = _row(tasks[index], outcome, reference, model_law, model_kl, model_tv)
        finished[0] += 1
        if progress is not None:
            steps_text = "" if tasks[index].steps is None else f" at {tasks[index].steps} steps"
            progress(finished[0], total, f"{tasks[index].label}{steps_text}")

    began = time.perf_counter()
    run_tasks(law_of, [tasks[i] for i in runnable], limits, done)
    seconds = {
        "model_law": model_seconds,
        "samplers": time.perf_counter() - began,
        "total": time.perf_counter() - started,
    }
    return ErrorSplit(
        rows=[row for row in rows if row is not None],
        model_kl=model_kl,
        model_tv=model_tv,
        model_law=model_law,
        tabulated=tabulated,
        model_rows=denoiser.model.rows if tabulated else denoiser.rows,
        seconds=seconds,
    )


def _row(
    task: _Task,
    outcome: Outcome,
    reference: torch.Tensor,
    model_law: torch.Tensor,
    model_kl: float,
    model_tv: float,
) -> SplitRow:
    if outcome.refusal is not None:
        return SplitRow(
            task.label, task.steps, None, None, None, model_kl, model_tv, None, None, outcome.refusal,
            outcome.seconds,
        )  # fmt: skip
    law = torch.from_numpy(outcome.value["law"])
    return SplitRow(
        sampler=task.label,
        steps=task.steps,
        nfe=float(outcome.value["nfe"]),
        total_kl=kl(reference, law),
        total_tv=tv(reference, law),
        model_kl=model_kl,
        model_tv=model_tv,
        sampler_kl=kl(model_law, law),
        sampler_tv=tv(model_law, law),
        seconds=outcome.seconds,
    )
