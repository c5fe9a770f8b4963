"""The map between a Hugging Face model's token ids and unmask's: clean ids ``0..V-1``, mask id ``V``.

A tokenizer of ``N = len(tokenizer)`` ids holds the mask token at id ``m``. unmask numbers the
``V = N - 1`` other tokens ``0..V-1`` in the model's order and gives the mask the id ``V``:

* model id ``j`` -> unmask id ``j`` for ``j < m``, ``V`` for ``j = m``, ``j - 1`` for ``j > m``;
* unmask id ``u`` -> model id ``u`` for ``u < m``, ``u + 1`` for ``m <= u < V``, ``m`` for ``u = V``.

The model's output layer may have more columns than the tokenizer has ids (``M >= N``: many
models pad the embedding matrix to a multiple of 64). Those columns belong to no token, so they
are impossible tokens: :meth:`HFVocabulary.clean_logits` drops them along with the mask column,
``[..., M] -> [..., V]``. A model with fewer columns than the tokenizer has ids (``M < N``) is
refused: some tokens would have no logit.

Both maps are gathers from tables built once per device, so nothing leaves the device.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .. import checks


class HFVocabulary:
    """The id map of a tokenizer of ``tokenizer_size = N`` ids whose mask token is ``mask_token_id
    = m``, for a model with ``model_size = M >= N`` output columns.

    Attributes:
        vocab_size: ``V = N - 1``, the clean tokens; ``mask_id = V``.
    """

    def __init__(self, tokenizer_size: int, model_size: int, mask_token_id: int) -> None:
        n = checks.positive_int("tokenizer_size", tokenizer_size, minimum=2)
        model_size = checks.positive_int("model_size", model_size)
        m = checks.integer("mask_token_id", mask_token_id, "an integer token id")
        if model_size < n:
            raise ValueError(
                f"the model's output layer has {model_size} columns (config.vocab_size) but the tokenizer "
                f"has {n} tokens (len(tokenizer)), so {n - model_size} tokens have no logit: load the "
                "tokenizer that belongs to this model, or after adding tokens call "
                "model.resize_token_embeddings(len(tokenizer)) and train the new rows"
            )
        if not 0 <= m < n:
            raise ValueError(
                f"mask_token_id={m} is not a token of the tokenizer (ids 0..{n - 1}); pass the id of the "
                "mask token the model was trained with"
            )
        self.tokenizer_size = n
        self.model_size = model_size
        self.mask_token_id = m
        self.vocab_size = n - 1
        self.mask_id = n - 1
        ids = torch.arange(n, dtype=torch.long)
        to_model = torch.cat([ids[:m], ids[m + 1 :], ids[m : m + 1]])
        to_unmask = torch.where(ids < m, ids, ids - 1)
        to_unmask[m] = self.mask_id
        self._tables: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {
            torch.device("cpu"): (to_model, to_unmask)
        }

    @classmethod
    def from_tokenizer(
        cls, tokenizer: Any, model_size: int, mask_token_id: int | None = None, config: Any = None
    ) -> HFVocabulary:
        """The map for ``tokenizer`` (``len(tokenizer)`` ids) and a model with ``model_size``
        output columns. The mask token is ``mask_token_id`` when given, else the tokenizer's
        ``mask_token_id``, else the model config's (LLaDA and Dream name it there); a tokenizer and
        a config that name different ids are refused."""
        try:
            size = len(tokenizer)
        except TypeError:
            raise TypeError(
                f"tokenizer must be a transformers tokenizer (len(tokenizer) gives its size), "
                f"got {type(tokenizer).__name__}"
            ) from None
        if mask_token_id is None:
            named = getattr(tokenizer, "mask_token_id", None)
            configured = getattr(config, "mask_token_id", None)
            if named is not None and isinstance(configured, int) and configured != named:
                raise ValueError(
                    f"the tokenizer's mask token has id {named} but the model config says "
                    f"mask_token_id={configured}; pass mask_token_id= with the id the model was trained with"
                )
            mask_token_id = named if named is not None else configured
            if mask_token_id is None:
                raise ValueError(
                    "the tokenizer has no mask token (tokenizer.mask_token_id and config.mask_token_id are "
                    "None): a masked-diffusion "
                    "denoiser reads the model at masked positions, so the model must have been trained "
                    "with a mask token. If it was and the tokenizer does not name it, pass "
                    "mask_token_id=<its id>; an autoregressive model works only through kind='shifted' "
                    "and only if it was trained with a mask token"
                )
        return cls(size, model_size, mask_token_id)

    def tables(self, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(to_model [V + 1], to_unmask [N])`` LongTensors on ``device`` (copied there once)."""
        device = torch.device(device)
        if device not in self._tables:
            to_model, to_unmask = self._tables[torch.device("cpu")]
            self._tables[device] = (to_model.to(device), to_unmask.to(device))
        return self._tables[device]

    def to_model(self, ids: torch.Tensor) -> torch.Tensor:
        """Model ids of unmask ids ``ids`` (entries ``0..V``, any shape), on their device."""
        return self.tables(ids.device)[0][ids]

    def to_unmask(self, ids: torch.Tensor) -> torch.Tensor:
        """Unmask ids of model ids ``ids`` (entries ``0..N-1``, any shape), on their device."""
        return self.tables(ids.device)[1][ids]

    def unmask_id(self, model_id: int) -> int:
        """The unmask id of one model id (a Python int)."""
        j = checks.integer("model_id", model_id, "an integer token id")
        if not 0 <= j < self.tokenizer_size:
            raise ValueError(f"model_id must lie in 0..{self.tokenizer_size - 1}, got {j}")
        m = self.mask_token_id
        return j if j < m else (self.mask_id if j == m else j - 1)

    def model_id(self, unmask_id: int) -> int:
        """The model id of one unmask id (a Python int)."""
        u = checks.integer("unmask_id", unmask_id, "an integer token id")
        if not 0 <= u <= self.mask_id:
            raise ValueError(f"unmask_id must lie in 0..{self.mask_id}, got {u}")
        m = self.mask_token_id
        return m if u == self.mask_id else (u if u < m else u + 1)

    def columns(self, model_ids: Iterable[int]) -> list[int]:
        """The unmask columns ``0..V-1`` of the model ids ``model_ids`` that are clean tokens (the
        mask token and ids outside the tokenizer are skipped), sorted, without repeats."""
        chosen = set()
        for j in model_ids:
            if j is not None and 0 <= j < self.tokenizer_size and j != self.mask_token_id:
                chosen.add(self.unmask_id(j))
        return sorted(chosen)

    def clean_logits(self, logits: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """The logits of the clean tokens, ``[..., M] -> [..., V]``: the mask column ``m`` and the
        padding columns ``N..M-1`` dropped, in the logits' dtype and on their device.

        ``out`` (a ``[..., V]`` tensor, possibly a view) receives them; otherwise a new tensor does.
        Column ``u`` of the result is column ``to_model[u]`` of ``logits``.
        """
        if logits.shape[-1] != self.model_size:
            raise ValueError(
                f"the model returned logits with {logits.shape[-1]} columns, but its config says "
                f"vocab_size={self.model_size}; the model's output does not match its config"
            )
        m, n = self.mask_token_id, self.tokenizer_size
        if out is None:
            out = logits.new_empty(*logits.shape[:-1], self.vocab_size)
        out[..., :m] = logits[..., :m]
        out[..., m:] = logits[..., m + 1 : n]
        return out
