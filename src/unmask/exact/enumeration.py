"""The step context that enumerates: every outcome of a sampler step with its exact probability.

States are rows ``z [n, L]`` with masses ``[n]``. A move expands each row, one position at a time,
into all its outcomes, keeping only outcomes of positive probability; at the end of a step equal
states are merged. This is the forward dynamic program of spec §6.1 (masked) and the product
kernels of §6.2 (uniform), driven by the samplers' own steps.
"""

from __future__ import annotations

import torch

from ..denoisers import check_logits, is_time_agnostic
from ..probabilities import Probabilities, as_dense, softmax64
from ..processes import Process
from ..samplers.base import StepContext


def state_codes(z: torch.Tensor, base: int) -> torch.Tensor:
    """One int64 code per row of ``z [n, L]`` (digits in ``base``, first position most significant)."""
    powers = base ** torch.arange(z.shape[1] - 1, -1, -1, dtype=torch.int64)
    return (z * powers).sum(-1)


def unique_rows(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(index of one row per distinct code, inverse)`` for 1-D integer ``codes``."""
    unique, inverse = torch.unique(codes, return_inverse=True)
    first = torch.zeros(len(unique), dtype=torch.long).scatter_(0, inverse, torch.arange(len(codes)))
    return first, inverse


class EnumerationContext(StepContext):
    """Exact counterpart of the drawing context: moves branch instead of drawing."""

    def __init__(self, process: Process, vocab_size: int, denoiser):
        self.process = process
        self.vocab_size = vocab_size
        self.denoiser = denoiser
        self.time_agnostic = is_time_agnostic(denoiser)
        self.mass = torch.ones(1, dtype=torch.float64)
        self.root = torch.zeros(1, dtype=torch.long)
        self.diagnostics: dict[str, float] = {}
        self.evaluated_rows = 0

    def begin(self, mass: torch.Tensor) -> None:
        """Start a step from rows with masses ``mass [n]``."""
        self.mass = mass
        self.root = torch.arange(len(mass))

    # -- model ---------------------------------------------------------------------------------
    def denoise(self, z, t):
        if torch.isnan(t).any() and not self.time_agnostic:
            raise ValueError(
                "the exact law of an event-driven sampler (first-hitting, k-random) needs a "
                "time-agnostic denoiser (time_agnostic = True): its event times are continuous"
            )
        first, inverse = unique_rows(state_codes(z, self.vocab_size + 1))
        unique = z[first]
        if self.time_agnostic:
            t_unique = torch.zeros(len(unique), dtype=torch.float64)
        else:
            t_unique = torch.zeros(len(unique), dtype=torch.float64).scatter_(0, inverse, t)
            if not torch.equal(t_unique[inverse], t):
                unique, inverse, t_unique = z, torch.arange(len(z)), t
        logits = check_logits(self.denoiser(unique, t_unique), len(unique), z.shape[1], self.vocab_size)
        self.evaluated_rows += len(unique)
        return Probabilities(dense=softmax64(logits)[inverse])

    # -- moves ---------------------------------------------------------------------------------
    def _branch(self, z, position, options):
        """Expand rows by the outcomes at ``position``.

        ``options [n, V + 1]``: probabilities of taking value ``v`` (columns ``0..V-1``) or of
        keeping the current entry (column ``V``). Returns ``(z', source)`` with ``source`` the row
        each outcome came from; masses and roots are updated.
        """
        source, choice = (options > 0).nonzero(as_tuple=True)
        weight = options[source, choice]
        z = z[source].clone()
        z[:, position] = torch.where(choice < self.vocab_size, choice, z[:, position])
        self.mass = self.mass[source] * weight
        self.root = self.root[source]
        return z, source

    def _normalised(self, values):
        values = as_dense(values)
        return values / values.sum(-1, keepdim=True)

    def move(self, z, move_prob, values):
        values = self._normalised(values)
        move_prob = move_prob.to(torch.float64).expand(z.shape)
        rows = torch.arange(len(z))
        for i in range(z.shape[1]):
            masked = z[:, i] == self.vocab_size
            go = torch.where(masked, move_prob[rows, i], 0.0)
            options = torch.cat([go[:, None] * values[rows, i], (1 - go)[:, None]], dim=-1)
            z, source = self._branch(z, i, options)
            rows = rows[source]
        return z

    def choose(self, z, count, values):
        values = self._normalised(values)
        masked_left = (z == self.vocab_size).sum(-1)
        picks_left = torch.minimum(count, masked_left)
        rows = torch.arange(len(z))
        for i in range(z.shape[1]):
            masked = z[:, i] == self.vocab_size
            # Scanning positions in order, a uniform subset of size r among the m masked ones left
            # contains this position with probability r / m.
            go = torch.where(masked, picks_left / masked_left.clamp(min=1), 0.0).to(torch.float64)
            options = torch.cat([go[:, None] * values[rows, i], (1 - go)[:, None]], dim=-1)
            z, source = self._branch(z, i, options)
            rows = rows[source]
            picked = z[:, i] != self.vocab_size
            was_masked = masked[source]
            picks_left = picks_left[source] - (was_masked & picked).long()
            masked_left = masked_left[source] - was_masked.long()
        return z

    def jump(self, z, law):
        law = self._normalised(law)
        rows = torch.arange(len(z))
        for i in range(z.shape[1]):
            options = torch.cat([law[rows, i], torch.zeros(len(z), 1, dtype=torch.float64)], dim=-1)
            z, source = self._branch(z, i, options)
            rows = rows[source]
        return z

    # -- bookkeeping ---------------------------------------------------------------------------
    def uniform(self, z):
        return torch.full((len(z),), float("nan"), dtype=torch.float64)

    def align(self, x):
        return x[self.root]

    def record(self, name, values):
        total = float((self.mass * values.to(torch.float64)).sum())
        self.diagnostics[name] = self.diagnostics.get(name, 0.0) + total
