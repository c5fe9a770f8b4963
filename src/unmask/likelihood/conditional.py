"""Conditional likelihood ``-log p(response | prompt)`` of prompt-response pairs (spec §8).

The estimators run unchanged with ``L`` replaced by the response length and the prompt always in
the conditioning set: it is never masked and adds no term. :func:`conditional_nelbo` takes the
prompt and the response as two tensors; :func:`unmask.likelihood.nelbo` takes one sequence and a
``response`` mask (for rows whose prompts differ in length).
"""

from __future__ import annotations

import torch

from .. import checks
from .nelbo import nelbo
from .positions import check_sequences
from .record import LikelihoodResult


def conditional_nelbo(
    denoiser, prompt: torch.Tensor, response: torch.Tensor, vocab_size: int, **options
) -> LikelihoodResult:
    """Estimate ``-log p(response | prompt)`` per row for ``prompt [B, Lp]`` followed by
    ``response [B, Lr]`` (``Lp >= 0``, ``Lr >= 1``); ``options`` as for
    :func:`unmask.likelihood.nelbo`. ``bits_per_token`` counts response tokens only."""
    vocab_size = checks.positive_int("vocab_size", vocab_size)
    response = check_sequences(response, vocab_size, "response")
    prompt = checks.token_tensor("prompt", prompt, vocab_size=vocab_size, allow_mask=False)
    if prompt.shape[0] != response.shape[0]:
        raise ValueError(
            "prompt and response must have the same number of rows, "
            f"got {prompt.shape[0]} and {response.shape[0]}"
        )
    prompt = prompt.to(response.device)
    scored = torch.arange(prompt.shape[1] + response.shape[1], device=response.device) >= prompt.shape[1]
    return nelbo(denoiser, torch.cat([prompt, response], dim=1), vocab_size, response=scored, **options)
