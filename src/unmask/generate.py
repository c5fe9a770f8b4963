"""``unmask.generate``: text continuations of prompts from a ``transformers`` model.

A light entry point: ``transformers`` (and :mod:`unmask.hf`) are imported when it is called, never
by ``import unmask``. The work is :func:`unmask.hf.generation.generate`, whose docstring gives the
layout, blocks, stopping at EOS and guidance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .hf.generation import GenerationResult


def generate(
    model: Any, tokenizer: Any = None, prompts: str | Sequence[str] = (), **options: Any
) -> GenerationResult:
    """Generate after each prompt: :func:`unmask.hf.generation.generate` (same arguments)."""
    from .hf.generation import generate as run

    return run(model, tokenizer, prompts, **options)
