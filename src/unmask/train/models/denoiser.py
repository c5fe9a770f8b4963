"""``TransformerDenoiser``: a bidirectional transformer that is a denoiser of the masked process."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ...denoisers import CarryOver
from .attention import self_attention_mask
from .block import BlockStack
from .config import ModelConfig, check_kind
from .initialization import initialize, token_embedding
from .inputs import as_long, check_inputs
from .rotary import Rotary
from .time_embedding import TimeEmbedding


class TransformerDenoiser(nn.Module):
    """A denoiser ``f(x_t [B, L], t [B], attention_mask=None) -> logits [B, L, V]`` (DESIGN.md):
    token embedding (``V + 1`` rows, the last for the mask id ``V``), ``n_layers`` pre-norm
    bidirectional blocks with rotary positions (adaLN on ``t`` if ``config.time_conditioning``), a
    final layer norm and an untied linear head to the ``V`` clean tokens (the input table has a
    mask row that the output must not have, so the head is not tied to it).

    :meth:`forward` applies the carry-over rule (MDLM's SUBS, :class:`unmask.denoisers.CarryOver`):
    an unmasked position is a point mass on its token; :meth:`raw_logits` is the network output at
    every position (what a loss reads at masked positions).

    Attributes:
        config: the :class:`ModelConfig` (kind ``"denoiser"``).
        vocab_size: ``V`` (the samplers check it against theirs).
        time_agnostic: ``not config.time_conditioning`` (the samplers may reuse a call).
    """

    kind: ClassVar[str] = "denoiser"

    def __init__(self, config: ModelConfig):
        super().__init__()
        check_kind(config, self.kind, type(self))
        self.config = config
        self.vocab_size = config.vocab_size
        self.time_agnostic = not config.time_conditioning
        self.embedding = token_embedding(config.vocab_size + 1, config.d_model)
        self.rotary = Rotary(config.head_dim, config.length)
        self.time_embedding = TimeEmbedding(config.d_model) if config.time_conditioning else None
        self.stack = BlockStack(config, self.rotary)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        initialize(self, config.n_layers)

    def forward(
        self, x_t: torch.Tensor, t: torch.Tensor | float, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[B, L, V]`` with carry-over: at an unmasked position ``i``, 0 on ``x_t[i]`` and
        ``-inf`` elsewhere; at a masked one, :meth:`raw_logits`."""
        cond = {} if attention_mask is None else {"attention_mask": attention_mask}
        return CarryOver(self.raw_logits, self.vocab_size)(as_long(x_t), t, **cond)

    def raw_logits(
        self, x_t: torch.Tensor, t: torch.Tensor | float, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The network's logits ``[B, L, V]`` at every position, in the dtype of the computation
        (float32, bf16 under autocast).

        Args:
            x_t: LongTensor ``[B, L]``, ids ``0 .. V`` (``V`` = mask), ``L <= config.length``.
            t: forward times ``[B]`` in ``[0, 1]`` (float64 from the samplers; a number or one
                element is broadcast), cast to the model's dtype; read only with time conditioning.
            attention_mask: ``[B, L]`` bool or 0/1, True/1 on real tokens; a real position never
                reads a padded one (the outputs at padded positions are meaningless but finite).
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
        allowed, is_causal = self_attention_mask(real, causal=False)
        h = self.stack(self.embedding(x_t), c, allowed, is_causal)
        return self.head(self.norm(h))
