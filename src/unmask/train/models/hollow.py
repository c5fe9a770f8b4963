"""``HollowDenoiser``: a hollow transformer, whose output at position ``i`` never reads input ``i``.

Its logits at ``i`` are therefore a law of ``x_i`` given ``x_{-i}``: the leave-one-out
conditionals that the informed corrector resamples from (spec §2.6) come from one call, and the
HollowDiff objective (spec §2.6) can score unmasked positions too.

Construction (Sun et al. 2023; Zhao et al., informed correctors):

* a forward stream: causal blocks over the tokens shifted right by one (a learned boundary vector
  first), so its output ``f_i`` reads ``x_{<i}`` only;
* a backward stream: the same over the reversed sequence, so ``b_i`` reads ``x_{>i}`` only (its
  rotary positions count from the row's last real token, so right padding changes nothing);
* ``h_i = W [LN(f_i), LN(b_i)]``, then one mixing block whose attention lets query ``i`` (from
  ``h_i``) read the keys ``f_j`` for ``j <= i`` and ``b_j`` for ``j >= i``, each of which reads
  ``x_{<j} ⊆ x_{<i}`` or ``x_{>j} ⊆ x_{>i}``; the MLP and the head act per position.

Every path into output ``i`` avoids input ``i``: the model is hollow by construction, in exact
arithmetic and in floating point alike (no weight is asked to be zero).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ...denoisers import CarryOver
from .attention import self_attention_mask
from .block import Block, BlockStack
from .config import ModelConfig, check_kind
from .initialization import initialize, token_embedding
from .inputs import as_long, check_inputs
from .rotary import Rotary
from .time_embedding import TimeEmbedding


class HollowDenoiser(nn.Module):
    """A hollow denoiser ``f(x_t [B, L], t [B], attention_mask=None) -> logits [B, L, V]``
    (module docstring). Each stream has ``config.n_layers`` blocks, so the model has about twice
    the parameters and compute of a :class:`TransformerDenoiser` of the same config, plus one
    mixing block.

    :meth:`loo` (= :meth:`raw_logits`) is the network's output at every position, the
    leave-one-out logits of ``x_i`` given ``x_t`` without position ``i``; :meth:`forward` applies
    the carry-over rule on top (unmasked positions are point masses on their token).

    Attributes:
        config: the :class:`ModelConfig` (kind ``"hollow"``).
        vocab_size: ``V``.
        time_agnostic: ``not config.time_conditioning``.
    """

    kind: ClassVar[str] = "hollow"

    def __init__(self, config: ModelConfig):
        super().__init__()
        check_kind(config, self.kind, type(self))
        self.config = config
        self.vocab_size = config.vocab_size
        self.time_agnostic = not config.time_conditioning
        d = config.d_model
        self.embedding = token_embedding(config.vocab_size + 1, d)
        self.rotary = Rotary(config.head_dim, config.length)
        self.time_embedding = TimeEmbedding(d) if config.time_conditioning else None
        # Row 0 stands before x_0 in the forward stream, row 1 after x_{L-1} in the backward one
        # (and each stands in for a padded token that its stream would carry).
        self.boundary = nn.Parameter(torch.empty(2, d))
        self.forward_stack = BlockStack(config, self.rotary)
        self.backward_stack = BlockStack(config, self.rotary)
        self.norm_forward = nn.LayerNorm(d)
        self.norm_backward = nn.LayerNorm(d)
        self.combine = nn.Linear(2 * d, d)
        self.mix = Block(config, self.rotary)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.vocab_size, bias=False)
        initialize(self, config.n_layers + 1)

    def forward(
        self, x_t: torch.Tensor, t: torch.Tensor | float, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[B, L, V]`` with carry-over: at an unmasked position ``i``, 0 on ``x_t[i]`` and
        ``-inf`` elsewhere; at a masked one, :meth:`loo`."""
        cond = {} if attention_mask is None else {"attention_mask": attention_mask}
        return CarryOver(self.loo, self.vocab_size)(as_long(x_t), t, **cond)

    def raw_logits(
        self, x_t: torch.Tensor, t: torch.Tensor | float, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The network's logits at every position (the same as :meth:`loo`)."""
        return self.loo(x_t, t, attention_mask)

    def loo(
        self, x_t: torch.Tensor, t: torch.Tensor | float, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Leave-one-out logits ``[B, L, V]``: position ``i`` is the law of ``x_i`` given ``x_t``
        with position ``i`` hidden (it never reads ``x_t[i]``), in the dtype of the computation.

        Args:
            x_t: LongTensor ``[B, L]``, ids ``0 .. V`` (``V`` = mask), ``L <= config.length``.
            t: forward times ``[B]`` in ``[0, 1]`` (a number or one element is broadcast); read
                only with time conditioning.
            attention_mask: ``[B, L]`` bool or 0/1, True/1 on real tokens; no position reads a
                padded token.
        """
        x_t, t, real = check_inputs(
            x_t,
            name="x_t",
            top=self.vocab_size,
            ids=f"0..{self.vocab_size - 1} or {self.vocab_size} (the mask id)",
            max_length=self.config.length,
            t=t,
            attention_mask=attention_mask,
        )
        c = self.time_embedding(t) if self.time_embedding is not None else None
        embedded = self.embedding(x_t)
        length = x_t.shape[1]
        positions = torch.arange(length, device=x_t.device)
        f = self._stream(self.forward_stack, self.boundary[0], embedded, real, None, c)
        if real is None:
            reversed_real, reversed_positions = None, None
        else:
            # Rotary positions of the reversed stream counted from the row's own end (the boundary
            # at 0, then the last real token at 1): a right-padded row reads what it reads alone.
            ends = torch.where(real, positions + 1, 0).amax(-1, keepdim=True)
            reversed_real, reversed_positions = real.flip(1), (ends - length + positions).clamp(min=0)
        b = self._stream(
            self.backward_stack, self.boundary[1], embedded.flip(1), reversed_real, reversed_positions, c
        ).flip(1)
        f, b = self.norm_forward(f), self.norm_backward(b)
        h = self.combine(torch.cat((f, b), dim=-1))
        allowed = self._mixing_mask(real, length, x_t.device)
        h = self.mix(h, c, allowed, False, positions, torch.cat((f, b), dim=1), positions.repeat(2))
        return self.head(self.norm(h))

    def _stream(
        self,
        stack: BlockStack,
        boundary: torch.Tensor,
        embedded: torch.Tensor,
        real: torch.Tensor | None,
        positions: torch.Tensor | None,
        c: torch.Tensor | None,
    ) -> torch.Tensor:
        """A causal stream over ``embedded [B, L, d]`` shifted right by one position, ``boundary
        [d]`` first, at rotary ``positions`` (``[B, L]``; None: ``0 .. L - 1``): output ``i`` reads
        inputs ``< i`` only. A padded input is replaced by ``boundary`` and never read as a key,
        so padded token values do not enter."""
        batch, _, d = embedded.shape
        start = boundary.to(embedded.dtype).expand(batch, 1, d)
        shifted = torch.cat((start, embedded[:, :-1]), dim=1)
        carried = None
        if real is not None:
            carried = torch.cat((torch.ones_like(real[:, :1]), real[:, :-1]), dim=1)
            shifted = torch.where(carried[..., None], shifted, start)
        allowed, is_causal = self_attention_mask(carried, causal=True)
        return stack(shifted, c, allowed, is_causal, positions)

    @staticmethod
    def _mixing_mask(real: torch.Tensor | None, length: int, device: torch.device) -> torch.Tensor:
        """Bool ``[B or 1, 1, L, 2L]``: query ``i`` reads the forward key ``j`` iff ``j <= i`` and
        the backward key ``j`` iff ``j >= i``, in both cases only if ``j`` is real or ``j = i``
        (``f_i`` and ``b_i`` never read padding, and keep every row non-empty)."""
        ones = torch.ones(length, length, dtype=torch.bool, device=device)
        pattern = torch.cat((ones.tril(), ones.triu()), dim=-1)[None]
        if real is not None:
            eye = torch.eye(length, dtype=torch.bool, device=device)
            readable = torch.cat((real, real), dim=-1)[:, None, :] | torch.cat((eye, eye), dim=-1)
            pattern = pattern & readable
        return pattern[:, None]
