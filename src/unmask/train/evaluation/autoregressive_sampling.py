"""``sample_autoregressive``: ancestral samples of an autoregressive model, one random stream per row.

``AutoregressiveTransformer.sample`` draws every row from one ``torch.Generator``, so a row's
tokens depend on the batch it is drawn in. Here each token is drawn by inverse CDF from the
float64 softmax of its next-token logits with the counter-based stream of its row
(:class:`unmask.streams.RowStreams`, keyed by the seed, the row's global id and the position), as
``unmask.sample`` does for denoisers: a row's tokens depend only on the seed and its id, whatever
the batch and the number of processes that share the rows.

Position ``i`` is drawn from the model's output at ``i`` on the row drawn so far (later positions
hold a placeholder 0, which a causal model does not read): ``L`` calls on rows of length ``L``.
"""

from __future__ import annotations

import torch

from ... import checks
from ...probabilities import softmax64
from ...streams import RowStreams, seed_from


@torch.no_grad()
def sample_autoregressive(
    model: torch.nn.Module, row_ids: torch.Tensor, seed: int, length: int
) -> torch.Tensor:
    """Rows ``[len(row_ids), length]`` (LongTensor on the model's device) drawn ancestrally from
    ``model(x) -> next-token logits [B, L, V]`` (position ``i`` the law of ``x_i`` given
    ``x_{<i}``), row ``b`` with the stream of ``(seed, row_ids[b])``."""
    seed = checks.seed("seed", seed)
    length = checks.positive_int("length", length)
    if not torch.is_tensor(row_ids) or row_ids.dim() != 1:
        raise TypeError(f"row_ids must be a LongTensor [B] of global row ids, got {row_ids!r:.80}")
    device = next(model.parameters()).device
    streams = RowStreams(seed_from(seed), row_ids.to(device))
    tokens = torch.zeros(len(row_ids), length, dtype=torch.long, device=device)
    for position in range(length):
        logits = model(tokens)[:, position]  # [B, V]: reads tokens[:, :position] only
        streams.at_step(position)
        tokens[:, position] = streams.categorical(softmax64(logits)[:, None, :])[:, 0]
    return tokens
