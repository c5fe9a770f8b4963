"""Right-shifted logits of diffusion models initialised from autoregressive ones (the Dream family).

Such a model keeps the autoregressive reading of its output: its logits at position ``i`` predict
token ``i + 1``. The denoiser's logits at position ``i`` are therefore the model's logits at
``i - 1``:

    out[:, i] = clean(model_logits[:, i - 1])    for i = 1 .. L-1.

Position 0 has no prediction. Its row is neutral: all zeros, the uniform law over the clean
tokens (after suppression, over the tokens not suppressed). A sampler would draw from it if
position 0 were free, so position 0 must belong to the prompt (a BOS token at least):
:func:`check_first_position` says so before a run, and the log-likelihood refuses a pair whose
context is empty. Checking at call time would need a read of the device in every call.
"""

from __future__ import annotations

import torch

from .vocabulary import HFVocabulary


def shift_right(vocabulary: HFVocabulary, logits: torch.Tensor) -> torch.Tensor:
    """Clean logits ``[B, L, V]`` read one position right from model logits ``[B, L, M]``:
    position ``i >= 1`` holds the clean columns of the model's position ``i - 1``, position 0 is
    the neutral row of zeros. One copy, in the logits' dtype, on their device."""
    out = logits.new_empty(*logits.shape[:-1], vocabulary.vocab_size)
    out[:, 0] = 0
    vocabulary.clean_logits(logits[:, :-1], out=out[:, 1:])
    return out


def check_first_position(prompt: torch.Tensor | None, mask_id: int) -> None:
    """Raise ``ValueError`` if position 0 of some row of ``prompt [B, L]`` (unmask ids) is free
    (the mask id) or if there is no prompt: a shifted model has no prediction for position 0.
    Reads the device once; call it before a run, not inside one."""
    if prompt is None:
        raise ValueError(
            "a shifted model (kind='shifted') has no prediction for position 0, so position 0 must be "
            "part of the prompt: pass prompt= with a token there (a BOS token at least)"
        )
    if not torch.is_tensor(prompt) or prompt.dim() != 2:
        raise ValueError(f"prompt must be a LongTensor [B, L], got {type(prompt).__name__}")
    free = prompt[:, 0] == mask_id
    if bool(free.any()):
        row = int(free.nonzero()[0])
        raise ValueError(
            f"prompt row {row} leaves position 0 free (the mask id {mask_id}), but a shifted model "
            "(kind='shifted') has no prediction for position 0: put a token there (a BOS token at least)"
        )
