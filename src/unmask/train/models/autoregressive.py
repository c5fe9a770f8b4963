"""``AutoregressiveTransformer``: a causal transformer over the clean tokens (a baseline for the
diffusion models: its exact ``log_prob`` and ancestral samples)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ... import checks
from .attention import self_attention_mask
from .block import BlockStack
from .config import ModelConfig, check_kind
from .initialization import initialize, token_embedding
from .inputs import check_inputs
from .rotary import Rotary


class AutoregressiveTransformer(nn.Module):
    """``p(x) = prod_i p(x_i | BOS, x_0 .. x_{i-1})`` by a causal transformer of the same blocks as
    :class:`TransformerDenoiser`: token embedding with ``V + 1`` rows (id ``V`` is BOS), rotary
    positions, ``n_layers`` causal pre-norm blocks, final layer norm, untied head to ``V`` tokens.

    Attributes:
        config: the :class:`ModelConfig` (kind ``"autoregressive"``, no time conditioning).
        vocab_size: ``V``.
        bos_id: ``V``, the id read before ``x_0``.
    """

    kind: ClassVar[str] = "autoregressive"

    def __init__(self, config: ModelConfig):
        super().__init__()
        check_kind(config, self.kind, type(self))
        if config.time_conditioning:
            raise ValueError("time_conditioning must be False for an autoregressive model (it has no time)")
        self.config = config
        self.vocab_size = config.vocab_size
        self.bos_id = config.vocab_size
        self.embedding = token_embedding(config.vocab_size + 1, config.d_model)
        self.rotary = Rotary(config.head_dim, config.length)
        self.stack = BlockStack(config, self.rotary)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        initialize(self, config.n_layers)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits ``[B, L, V]``: position ``i`` is the law of ``x_i`` given BOS and
        ``x_0 .. x_{i-1}``.

        Args:
            x: LongTensor ``[B, L]`` of clean ids ``0 .. V-1``, ``L <= config.length``.
            attention_mask: ``[B, L]`` bool or 0/1, True/1 on real tokens; no position reads a
                padded token (it reads as BOS where it would be the previous token).
        """
        x, _, real = check_inputs(
            x,
            name="x",
            top=self.vocab_size - 1,
            ids=f"0..{self.vocab_size - 1}",
            max_length=self.config.length,
            attention_mask=attention_mask,
        )
        bos = torch.full_like(x[:, :1], self.bos_id)
        inputs = torch.cat((bos, x[:, :-1]), dim=1)
        carried = None
        if real is not None:
            carried = torch.cat((torch.ones_like(real[:, :1]), real[:, :-1]), dim=1)
            inputs = torch.where(carried, inputs, self.bos_id)
        return self._logits(inputs, carried)

    def _logits(self, inputs: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, n, V]`` of the network on ``inputs [B, n]`` (ids ``0 .. V``, BOS first)."""
        allowed, is_causal = self_attention_mask(real, causal=True)
        return self.head(self.norm(self.stack(self.embedding(inputs), None, allowed, is_causal)))

    def log_prob(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``log p(x)`` per sequence, float64 ``[B]`` (differentiable): per position
        ``logit[x_i] - logsumexp(logits)`` in float32, summed over the real positions in float64."""
        logits = self(x, attention_mask).float()
        x = x.long()
        terms = logits.gather(-1, x[..., None]).squeeze(-1) - logits.logsumexp(-1)
        if attention_mask is not None:
            terms = torch.where(attention_mask.to(terms.device).bool(), terms, 0.0)
        return terms.double().sum(-1)

    @torch.no_grad()
    def sample(
        self,
        batch_size: int,
        generator: torch.Generator | int | None = None,
        length: int | None = None,
    ) -> torch.Tensor:
        """Ancestral samples, LongTensor ``[batch_size, length]`` on the model's device: each token
        drawn from the float64 softmax of its logits given the tokens before it (one network call
        per position, no cache). ``generator``: a ``torch.Generator`` on the model's device or an
        int seed; ``length`` defaults to ``config.length``. Call ``eval()`` first to turn dropout off.
        """
        batch_size = checks.positive_int("batch_size", batch_size)
        length = self.config.length if length is None else length
        length = checks.positive_int("length", length, maximum=self.config.length, why=" (config.length)")
        device = self.head.weight.device
        generator = checks.generator(generator, device)
        tokens = torch.full((batch_size, 1), self.bos_id, dtype=torch.long, device=device)
        for _ in range(length):
            probabilities = torch.softmax(self._logits(tokens)[:, -1].double(), dim=-1)
            drawn = torch.multinomial(probabilities, 1, generator=generator)
            tokens = torch.cat((tokens, drawn), dim=1)
        return tokens[:, 1:]
