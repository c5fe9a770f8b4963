"""The random states of a process as tensors and JSON, so that a checkpoint holds them without pickle.

What dropout and other global draws read: the torch CPU generator, the CUDA generators (only
when CUDA is already initialised: capturing never initialises it), Python's ``random`` and
numpy's global generator; plus any named ``torch.Generator`` the trainer owns. The states are
tensors (stored in safetensors: ``uint8`` bytes for torch, ``int64`` words for Python and numpy)
and a few JSON-safe scalars (stored in JSON). Restoring puts them back exactly, so a resumed run
draws the same dropout masks as an uninterrupted one.

Each process has its own states: in data-parallel training every rank draws its own dropout, so
a checkpoint written by the main rank restores the main rank's states only. Draws that must agree
across ranks and resumes are better taken from generators seeded by ``(seed, step)``
(:mod:`unmask.train.data.seeds`).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

#: Tensor names in :attr:`RngState.tensors`.
TORCH_CPU = "torch.cpu"
CUDA_PREFIX = "torch.cuda."
GENERATOR_PREFIX = "generator."
PYTHON_STATE = "python.state"
NUMPY_KEYS = "numpy.keys"


@dataclass
class RngState:
    """Random states: ``tensors`` (for safetensors) and ``info`` (JSON-safe).

    ``tensors`` holds ``"torch.cpu"``, ``"torch.cuda.<i>"`` per CUDA device,
    ``"generator.<name>"`` per named generator (``uint8``), and the state words of Python's
    ``random`` (``"python.state"``) and numpy's global generator (``"numpy.keys"``, ``int64``);
    ``info`` holds the few scalars that complete them and the generator names.
    """

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def generator_names(self) -> list[str]:
        """The names of the ``torch.Generator`` states held."""
        return [name[len(GENERATOR_PREFIX) :] for name in self.tensors if name.startswith(GENERATOR_PREFIX)]


def _check_generators(generators: Mapping[str, torch.Generator] | None) -> dict[str, torch.Generator]:
    if generators is None:
        return {}
    if not isinstance(generators, Mapping):
        raise TypeError(
            f"generators must be a mapping of names to torch.Generator, got {type(generators).__name__}"
        )
    for name, generator in generators.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"generators keys must be non-empty str names, got {name!r}")
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generators[{name!r}] must be a torch.Generator, got {type(generator).__name__}")
    return dict(generators)


def capture_rng_state(generators: Mapping[str, torch.Generator] | None = None) -> RngState:
    """The current random states of this process, and of each named generator in ``generators``."""
    generators = _check_generators(generators)
    tensors = {TORCH_CPU: torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"{CUDA_PREFIX}{index}"] = state
    for name, generator in generators.items():
        tensors[GENERATOR_PREFIX + name] = generator.get_state()
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the global state is saved)
    tensors[PYTHON_STATE] = torch.tensor(internal, dtype=torch.int64)
    tensors[NUMPY_KEYS] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    info = {
        "python": {"version": version, "gauss": gauss},
        "numpy": {
            "kind": str(kind),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "generators": sorted(generators),
    }
    return RngState(tensors=tensors, info=info)


def _byte_state(name: str, state: Any, expected: int) -> torch.Tensor:
    if not torch.is_tensor(state) or state.dtype != torch.uint8 or state.dim() != 1:
        raise ValueError(f"the random state {name!r} must be a 1-d uint8 tensor, got {state!r:.80}")
    if state.numel() != expected:
        raise ValueError(
            f"the random state {name!r} has {state.numel()} bytes where this torch expects {expected}; "
            "it was saved by an incompatible torch version or another generator kind"
        )
    return state.contiguous()


def _setters(
    state: RngState, generators: Mapping[str, torch.Generator] | None, process: bool
) -> list[Callable[[], None]]:
    """Check ``state`` against ``generators`` (and this process, with ``process``) and return the
    calls that restore it; nothing is set here."""
    if not isinstance(state, RngState):
        raise TypeError(f"state must be an RngState (from capture_rng_state), got {type(state).__name__}")
    if not isinstance(process, bool):
        raise TypeError(f"process must be a bool, got {process!r}")
    generators = _check_generators(generators)
    missing = [name for name in generators if GENERATOR_PREFIX + name not in state.tensors]
    if missing:
        raise ValueError(
            f"no saved state for generator(s) {', '.join(map(repr, missing))}; the saved generators are "
            f"{state.generator_names() or 'none'}: pass only those (or save the checkpoint with them)"
        )
    setters: list[Callable[[], None]] = []
    for name, generator in generators.items():
        key = GENERATOR_PREFIX + name
        saved = _byte_state(key, state.tensors[key], generator.get_state().numel())
        setters.append(functools.partial(generator.set_state, saved))
    if not process:
        return setters
    if TORCH_CPU not in state.tensors:
        raise ValueError(f"the random state has no {TORCH_CPU!r} entry; it is not a capture_rng_state result")
    setters.append(
        functools.partial(
            torch.set_rng_state,
            _byte_state(TORCH_CPU, state.tensors[TORCH_CPU], torch.get_rng_state().numel()),
        )
    )
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            saved = state.tensors.get(f"{CUDA_PREFIX}{index}")
            if saved is not None:
                setters.append(functools.partial(torch.cuda.set_rng_state, saved, device=index))
    python, numpy_state = _python_state(state), _numpy_state(state)
    if python is not None:
        setters.append(functools.partial(random.setstate, python))
    if numpy_state is not None:
        setters.append(functools.partial(np.random.set_state, numpy_state))
    return setters


def check_rng_state(
    state: RngState, generators: Mapping[str, torch.Generator] | None = None, process: bool = True
) -> None:
    """Raise what :func:`restore_rng_state` would raise, setting nothing."""
    _setters(state, generators, process)


def restore_rng_state(
    state: RngState, generators: Mapping[str, torch.Generator] | None = None, process: bool = True
) -> None:
    """Put the random states of ``state`` back: each generator of ``generators`` from the state of
    the same name and, with ``process``, this process's states: torch CPU, the CUDA devices present
    in both the state and this process (others are skipped: a different device count cannot resume
    exactly anyway), Python and numpy.

    Everything is checked before anything is set: a named generator missing from ``state`` or a
    state of the wrong size raises ``ValueError`` and leaves every generator untouched.
    """
    for setter in _setters(state, generators, process):
        setter()


def _python_state(state: RngState) -> tuple | None:
    saved = state.info.get("python")
    if saved is None:
        return None
    try:
        internal = tuple(int(v) for v in state.tensors[PYTHON_STATE].tolist())
        gauss = saved["gauss"]
        return (int(saved["version"]), internal, None if gauss is None else float(gauss))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError(f"the saved Python random state is malformed: {saved!r:.120}") from None


def _numpy_state(state: RngState) -> tuple | None:
    saved = state.info.get("numpy")
    if saved is None:
        return None
    try:
        keys = np.asarray(state.tensors[NUMPY_KEYS].tolist(), dtype=np.uint32)
        return (
            str(saved["kind"]),
            keys,
            int(saved["position"]),
            int(saved["has_gauss"]),
            float(saved["cached_gaussian"]),
        )
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
        raise ValueError(f"the saved numpy random state is malformed: {saved!r:.120}") from None
