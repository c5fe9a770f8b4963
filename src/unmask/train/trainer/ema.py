"""An exponential moving average (EMA) of a model's parameters, the weights one samples from.

After each optimizer step, :meth:`ExponentialMovingAverage.update` moves every average towards
the live parameter: ``shadow <- d * shadow + (1 - d) * param``. With ``warmup`` the decay of the
``n``-th update (counting from 0) is ``min(decay, (1 + n) / (10 + n))``, so that the average
forgets the random initialisation within the first few hundred steps instead of the ``1 / (1 -
decay)`` steps a constant 0.9999 needs; without it, ``d = decay`` throughout.

The average covers the floating-point parameters (``model.named_parameters()``, tied weights
once); buffers are not averaged (:meth:`averaged_state_dict` takes them from the live model).
Averages of 16-bit parameters are kept in float32: a bf16 average cannot move by ``1e-4`` of
itself. Every operation is one fused ``torch._foreach_*`` call over all parameters, on the
parameters' device; nothing is copied to the host.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from ... import checks


def _averaged(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """The (name, parameter) pairs an EMA follows: floating-point parameters, tied ones once."""
    return [(name, p) for name, p in model.named_parameters() if p.is_floating_point()]


def _shadow_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


class ExponentialMovingAverage:
    """The EMA of the floating-point parameters of ``model``, started at their current values.

    Args:
        model: the model whose parameters are averaged (unwrap ``DistributedDataParallel`` or a
            compiled model first, or pass the same wrapper every time).
        decay: the decay ``d`` in ``[0, 1]`` (``0.9999`` by default; ``0`` copies, ``1`` freezes).
        warmup: use ``min(decay, (1 + n) / (10 + n))`` for the ``n``-th update (on by default).
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.9999, warmup: bool = True):
        checks.instance("model", model, torch.nn.Module, "a torch.nn.Module")
        self.decay = checks.probability("decay", decay)
        if not isinstance(warmup, bool):
            raise TypeError(f"warmup must be a bool, got {warmup!r} ({type(warmup).__name__})")
        self.warmup = warmup
        self.updates = 0
        pairs = _averaged(model)
        self.names = [name for name, _ in pairs]
        with torch.no_grad():
            self.shadow = [p.detach().to(_shadow_dtype(p.dtype), copy=True) for _, p in pairs]

    def current_decay(self) -> float:
        """The decay the next :meth:`update` applies."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    def _parameters(self, model: torch.nn.Module, argument: str = "model") -> list[torch.nn.Parameter]:
        checks.instance(argument, model, torch.nn.Module, "a torch.nn.Module")
        params = [p for p in model.parameters() if p.is_floating_point()]
        if len(params) != len(self.shadow):
            raise ValueError(
                f"{argument} has {len(params)} floating-point parameters, the average holds "
                f"{len(self.shadow)}; pass the model the ExponentialMovingAverage was made from"
            )
        return params

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Move every average towards the current parameter of ``model`` (call after each
        optimizer step): ``shadow <- d * shadow + (1 - d) * param``."""
        params = self._parameters(model)
        weight = 1.0 - self.current_decay()
        sources = [p.detach().to(s.dtype) for p, s in zip(params, self.shadow, strict=True)]
        torch._foreach_lerp_(self.shadow, sources, weight)
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """Overwrite the parameters of ``model`` with the averages (cast to each parameter's dtype)."""
        params = self._parameters(model)
        torch._foreach_copy_([p.data for p in params], self.shadow)

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """Within the block, ``model`` holds the averages; its own parameters come back after it
        (also on an exception). For validation on the EMA weights in the middle of training."""
        params = self._parameters(model)
        with torch.no_grad():
            backup = [p.detach().clone() for p in params]
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.data for p in params], backup)

    def averaged_state_dict(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """``model.state_dict()`` with each averaged parameter replaced by its average (every name of
        a tied parameter too), buffers from ``model``: the weights to sample from, loadable by
        ``model.load_state_dict``. Averages keep their own dtype (float32 for 16-bit models)."""
        by_identity = {id(p): s for p, s in zip(self._parameters(model), self.shadow, strict=True)}
        aliases = {
            name: by_identity[id(p)]
            for name, p in model.named_parameters(remove_duplicate=False)
            if id(p) in by_identity
        }
        return {name: aliases.get(name, value) for name, value in model.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        """The state to checkpoint: ``decay``, ``warmup``, ``updates`` (JSON-safe) and ``shadow``
        (parameter name -> average tensor, on its device)."""
        return {
            "decay": self.decay,
            "warmup": self.warmup,
            "updates": self.updates,
            "shadow": dict(zip(self.names, self.shadow, strict=True)),
        }

    def check_state_dict(self, state: Mapping[str, Any]) -> None:
        """Raise what :meth:`load_state_dict` would raise for ``state``, changing nothing."""
        self._validated(state)

    def _validated(self, state: Mapping[str, Any]) -> tuple[float, bool, int, list[torch.Tensor]]:
        if not isinstance(state, Mapping):
            raise TypeError(
                f"state must be a mapping from ExponentialMovingAverage.state_dict(), got {state!r:.80}"
            )
        missing = [key for key in ("decay", "warmup", "updates", "shadow") if key not in state]
        if missing:
            raise ValueError(f"state lacks {', '.join(map(repr, missing))}; pass a state_dict() of an EMA")
        decay = checks.probability("state['decay']", state["decay"])
        warmup = state["warmup"]
        if not isinstance(warmup, bool):
            raise TypeError(f"state['warmup'] must be a bool, got {warmup!r}")
        updates = checks.positive_int("state['updates']", state["updates"], minimum=0)
        shadow = state["shadow"]
        if not isinstance(shadow, Mapping) or set(shadow) != set(self.names):
            names = set(shadow) if isinstance(shadow, Mapping) else set()
            raise ValueError(
                "the saved averages are for other parameters: missing "
                f"{sorted(set(self.names) - names)[:5]}, unexpected {sorted(names - set(self.names))[:5]}; "
                "load an EMA saved from the same architecture"
            )
        for name, mine in zip(self.names, self.shadow, strict=True):
            saved = shadow[name]
            if not torch.is_tensor(saved) or tuple(saved.shape) != tuple(mine.shape):
                got = tuple(saved.shape) if torch.is_tensor(saved) else type(saved).__name__
                raise ValueError(
                    f"the saved average of {name!r} has shape {got}, this model's is {tuple(mine.shape)}; "
                    "load an EMA saved from the same architecture"
                )
        return decay, warmup, updates, [shadow[name] for name in self.names]

    @torch.no_grad()
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (averages are copied into this EMA's tensors, on their device).

        Raises ``ValueError`` when the parameter names or shapes differ, before changing anything."""
        decay, warmup, updates, averages = self._validated(state)
        torch._foreach_copy_(self.shadow, averages)
        self.decay, self.warmup, self.updates = decay, warmup, updates
