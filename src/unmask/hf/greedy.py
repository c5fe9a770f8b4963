"""Whether a continuation is the model's greedy fill of its positions (``is_greedy``).

Start from the continuation fully masked and, call after call, reveal in each row the masked
position of largest probability with its most probable token (the greedy confidence decoding of
masked diffusion LMs; ties go to the lower position and the lower token). The continuation is
greedy when the fill equals it. A row whose fill departs from the continuation is decided then,
but the loop runs ``max continuation length`` calls for the whole batch: nothing is read from the
device inside it.
"""

from __future__ import annotations

import torch

from ..probabilities import Probabilities


def greedy_matches(denoiser, x: torch.Tensor, response: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Bool ``[n]``: the greedy fill of the ``response [n, L]`` positions of ``x [n, L]`` (clean
    unmask ids) equals ``x`` there. ``denoiser(z, t)`` is called ``max_i |response_i|`` times with
    ``t = 1``."""
    z = torch.where(response, vocab_size, x)
    t = torch.ones(len(x), dtype=torch.float64, device=x.device)
    rows = torch.arange(len(x), device=x.device)
    for _ in range(int(response.sum(-1).max())):
        masked = z == vocab_size
        law = Probabilities(denoiser(z, t))
        confidence = torch.where(masked, law.max_prob(where=masked), -1.0)
        position = confidence.argmax(-1)
        token = law.argmax(where=masked)[rows, position]
        z[rows, position] = torch.where(masked[rows, position], token, z[rows, position])
    return (z == x).all(-1)
