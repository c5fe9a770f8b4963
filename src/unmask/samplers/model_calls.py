"""The denoiser calls of one sampling run: which rows, with which conditioning, counted.

:class:`ModelCalls` evaluates the denoiser on the rows a step works on and hands the step
:class:`~unmask.probabilities.Probabilities` over the logits, in the model's dtype, without
copying them. It

* passes the row-aligned conditioning tensors (``cond``, for example ``attention_mask``) subset
  to the rows of each call, in the order of ``x_t``;
* reuses, for a ``time_agnostic`` denoiser, a row's output while the row's input is unchanged
  (decided for the first call of a step, at the driver's stopping test, so that nothing waits for
  the device inside a step);
* counts ``nfe`` (batched calls made) and ``nfe_per_row``;
* checks the outputs: the shape at once; NaN, ``+inf`` and positions without a possible token at
  once on the CPU (where reading a flag costs nothing), and on an accelerator as device flags read
  at the next stopping test (a bad output is then never returned, but a step may have drawn from it);
* keeps every output when asked (``record``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ..denoisers import call, check_logits_shape, logits_flags, raise_for_flags, warn_if_probabilities
from ..probabilities import Probabilities


@dataclass(frozen=True)
class ModelOutput:
    """One recorded denoiser call: the ``step`` it belongs to, the batch ``rows`` it evaluated,
    their times ``t`` and the ``logits [len(rows), L, V]`` it returned."""

    step: int
    rows: torch.Tensor
    t: torch.Tensor
    logits: torch.Tensor


class ModelCalls:
    """Denoiser calls for a batch of ``batch`` rows of ``length`` positions over ``vocab_size`` values.

    Args:
        denoiser: ``f(x_t, t, **cond) -> logits``.
        cond: row-aligned tensors ``[B, ...]`` passed to every call (subset to its rows).
        reuse: reuse outputs of unchanged rows (a time-agnostic denoiser).
        keep_graph: outputs carry gradients (nothing is updated in place).
        record: keep every output in :attr:`records`.
    """

    def __init__(
        self,
        denoiser,
        batch: int,
        length: int,
        vocab_size: int,
        device: torch.device,
        cond: Mapping[str, torch.Tensor],
        reuse: bool,
        keep_graph: bool = False,
        record: bool = False,
    ):
        self.denoiser = denoiser
        self.length = length
        self.vocab_size = vocab_size
        self.cond = dict(cond)
        self.reuse = reuse
        self.keep_graph = keep_graph
        self.nfe = 0
        self.nfe_per_row = torch.zeros(batch, dtype=torch.long, device=device)
        self.flags = torch.zeros((), dtype=torch.long, device=device)
        self.records: list[ModelOutput] | None = [] if record else None
        self.step = 0
        self.device = device
        self.inputs = torch.full((batch, length), -1, dtype=torch.long, device=device) if reuse else None
        self._storage: torch.Tensor | None = None
        self._owned = False

    def check(self, flags: int | None = None) -> None:
        """Raise for bad outputs seen so far (``flags`` already read from the device, if given)."""
        raise_for_flags(int(self.flags) if flags is None else flags)

    def changed(self, z: torch.Tensor) -> torch.Tensor:
        """Bool ``[B]``: rows whose input differs from the one their stored output was made for."""
        return (z != self.inputs).any(-1)

    def _call(
        self, rows: torch.Tensor | None, z: torch.Tensor, t: torch.Tensor, function=None
    ) -> torch.Tensor:
        """One call of ``function`` (the denoiser by default) on batch rows ``rows``, checked and counted."""
        cond = {k: (v if rows is None else v[rows]) for k, v in self.cond.items()}
        output = call(function or self.denoiser, z, t, cond)
        logits = check_logits_shape(output, z.shape[0], self.length, self.vocab_size)
        if self.nfe == 0:
            warn_if_probabilities(logits)  # the first call only: it reads the device
        flags = logits_flags(logits)
        if self.device.type == "cpu":
            raise_for_flags(int(flags))
        else:
            self.flags = self.flags | flags
        self.nfe += 1
        if rows is None:
            self.nfe_per_row += 1
        else:
            self.nfe_per_row.index_add_(0, rows, torch.ones_like(rows))
        if self.records is not None:
            every = torch.arange(len(self.nfe_per_row), device=self.device)
            self.records.append(ModelOutput(self.step, every if rows is None else rows, t, logits))
        return logits

    def evaluate(
        self,
        rows: torch.Tensor | None,
        z: torch.Tensor,
        t: torch.Tensor,
        need: torch.Tensor | None = None,
    ) -> Probabilities:
        """Probabilities ``[n, L, V]`` for the batch rows ``rows`` (None: all) in states ``z [n, L]``
        at times ``t [n]``.

        ``need`` (reuse only): the positions in ``rows`` whose input changed, so the others reuse
        their stored output; None evaluates every row without touching the stored outputs (a later
        call within a step, whose outputs the step may hold while it asks for more).
        """
        if not self.reuse or need is None:
            return Probabilities(self._call(rows, z, t))
        if len(need) == z.shape[0]:
            logits = self._call(rows, z, t)
            self._store(rows, z, logits)
            return Probabilities(logits)
        if len(need):
            picked = need if rows is None else rows[need]
            self._store(picked, z[need], self._call(picked, z[need], t[need]))
        return Probabilities(self._storage, rows=rows)

    def _store(self, rows: torch.Tensor | None, z: torch.Tensor, logits: torch.Tensor) -> None:
        """Keep ``logits`` as the outputs of batch rows ``rows`` (all when None) for inputs ``z``."""
        if rows is None:
            # The denoiser's own tensor, adopted without a copy: it is copied before it is written.
            self._storage, self._owned, self.inputs = logits, False, z.clone()
            return
        if self._storage is None:
            shape = (len(self.nfe_per_row), self.length, self.vocab_size)
            self._storage, self._owned = torch.zeros(shape, dtype=logits.dtype, device=logits.device), True
        if self._storage.dtype != logits.dtype:
            self._storage = self._storage.to(torch.promote_types(self._storage.dtype, logits.dtype))
            self._owned = True
        if not self._owned:
            self._storage, self._owned = self._storage.clone(), True
        if self.keep_graph:
            self._storage = self._storage.index_copy(0, rows, logits.to(self._storage.dtype))
        else:
            self._storage.index_copy_(0, rows, logits.to(self._storage.dtype))
        self.inputs.index_copy_(0, rows, z)

    def leave_one_out(
        self, rows: torch.Tensor | None, z: torch.Tensor, t: torch.Tensor, vocab_size: int
    ) -> Probabilities:
        """Leave-one-out probabilities ``[n, L, V]``: the denoiser's ``loo`` method (one call) when it
        has one, otherwise one call per position with that position masked."""
        loo = getattr(self.denoiser, "loo", None)
        if loo is not None:
            return Probabilities(self._call(rows, z, t, loo))
        positions = torch.arange(self.length, device=z.device)
        out = None
        for i in range(self.length):
            logits = self._call(rows, torch.where(positions == i, vocab_size, z), t)
            if out is None:
                out = torch.empty(logits.shape, dtype=logits.dtype, device=logits.device)
            out[:, i] = logits[:, i]
        return Probabilities(out)
