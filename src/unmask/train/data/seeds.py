"""Per-(seed, stream, step) random generators: the statelessness that makes resume and sharding exact.

A batch is a pure function of ``(seed, step)``: its generator is seeded with a hash of
``(stream, seed, step)`` (BLAKE2b, 63 bits), never advanced from the previous step. Resuming at
step ``k`` therefore draws exactly what an uninterrupted run draws at step ``k``, and every rank
draws the same global batch before keeping its own rows (:mod:`.sharding`).
"""

from __future__ import annotations

import hashlib

import torch

from ... import checks


def derive_seed(seed: int, stream: str, step: int) -> int:
    """A 63-bit seed for ``torch.Generator.manual_seed``, a hash of ``(stream, seed, step)``.

    Different ``stream`` labels (``"train"``, ``"validation"``) give unrelated numbers for the same
    ``seed`` and ``step``; the hash is the same on every machine and Python version.
    """
    seed = checks.seed("seed", seed)
    step = checks.positive_int("step", step, minimum=0)
    if not isinstance(stream, str) or not stream:
        raise TypeError(f"stream must be a non-empty str label, got {stream!r}")
    digest = hashlib.blake2b(f"unmask.train.data|{stream}|{seed}|{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def step_generator(seed: int, stream: str, step: int) -> torch.Generator:
    """A fresh CPU ``torch.Generator`` seeded with :func:`derive_seed` ``(seed, stream, step)``."""
    return torch.Generator(device="cpu").manual_seed(derive_seed(seed, stream, step))
