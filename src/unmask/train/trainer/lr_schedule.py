"""The learning-rate schedule: linear warm-up, then cosine decay to a floor.

``step`` is the index of the optimizer step about to be taken, counting from 0. During warm-up
(``step < warmup_steps``) the rate rises linearly, ``peak * (step + 1) / warmup_steps``, so that the
first step already moves the weights and step ``warmup_steps - 1`` reaches ``peak``. From
``warmup_steps`` to ``total_steps`` it follows half a cosine from ``peak`` down to
``final_fraction * peak``; after ``total_steps`` it stays at that floor.
"""

from __future__ import annotations

import math

import torch

from ... import checks


def learning_rate(
    step: int, peak: float, warmup_steps: int, total_steps: int, final_fraction: float = 0.1
) -> float:
    """The learning rate of optimizer step ``step`` (from 0) under linear warm-up over
    ``warmup_steps`` steps then cosine decay until ``total_steps`` to ``final_fraction * peak``.

    Args:
        step: the step about to be taken, an integer ``>= 0`` (steps past ``total_steps`` get the floor).
        peak: the largest rate, a finite number ``> 0``.
        warmup_steps: steps of linear warm-up, an integer in ``[0, total_steps]`` (0: start at ``peak``).
        total_steps: the step at which the decay reaches the floor, an integer ``>= 1``.
        final_fraction: the floor as a fraction of ``peak``, in ``[0, 1]`` (1: constant after warm-up).
    """
    step = checks.positive_int("step", step, minimum=0)
    peak = checks.positive_float("peak", peak)
    total_steps = checks.positive_int("total_steps", total_steps)
    warmup_steps = checks.positive_int(
        "warmup_steps",
        warmup_steps,
        minimum=0,
        maximum=total_steps,
        why=f"; warm-up cannot outlast the run (total_steps={total_steps})",
    )
    final_fraction = checks.probability("final_fraction", final_fraction)
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    floor = final_fraction * peak
    if step >= total_steps:
        return floor
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    """Set the learning rate of every parameter group of ``optimizer`` to ``rate`` (a tensor rate,
    as capturable optimizers keep, is filled in place)."""
    checks.instance("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer")
    rate = checks.non_negative_float("rate", rate)
    for group in optimizer.param_groups:
        if torch.is_tensor(group.get("lr")):
            group["lr"].fill_(rate)
        else:
            group["lr"] = rate
