"""The step context that draws: random moves from counter-based per-row streams (float64 by default).

Every move first decides whether a position moves (a Bernoulli in the draw dtype) and only then
which value it takes (an inverse-CDF draw from the normalised law, read only where it is needed),
as spec §2.0 asks. The streams advance the same whatever moves, so the draws of a row depend on
its seed, its row id, the step and the position alone.

Besides the state, the context keeps for every row the log-probability of the path drawn so far
under the sampler's kernel: each Bernoulli decision adds ``log p`` or ``log(1 - p)``, each drawn
value ``log(mass / total)``, a uniform subset of ``k`` of ``m`` positions ``-log C(m, k)``, a
weighted subset the log-probability of its successive draws (in the order drawn). With gradients
enabled these carry gradients to the model's outputs and to the time grid.

A step works on the rows the loop opened it on (:meth:`DrawingContext.begin_step`): finished rows
take no draws and reach no model call. Per-position memories (:meth:`DrawingContext.memory`) are
kept for the whole batch, float64 ``[B, L]``; a step reads and writes its own rows.
"""

from __future__ import annotations

import torch

from ..laws import value_sum
from ..pieces import at_positions
from ..processes import Process
from ..streams import RowStreams, inverse_cdf, subset_keys, subset_ranks
from .base import StepContext
from .model_calls import ModelCalls


def _probability(prob: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A per-position probability ``[n, L]`` (float64) from ``[n, L]``, ``[n, 1]`` or a bool selection."""
    if prob.dtype == torch.bool:
        prob = prob.to(torch.float64)
    return prob.to(torch.float64).expand(shape)


def _log_decisions(eligible: torch.Tensor, go: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
    """``sum_i [go_i log p_i + (1 - go_i) log(1 - p_i)]`` over eligible positions, ``[n]``; the
    branch not taken never sees a 0 inside a log (no NaN gradient)."""
    taken = torch.where(go, prob, torch.ones_like(prob)).log()
    stayed = torch.log1p(-torch.where(go, torch.zeros_like(prob), prob))
    return torch.where(eligible, torch.where(go, taken, stayed), 0.0).sum(-1)


def log_binomial(m: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``log C(m, k)`` (float64) for integer tensors ``0 <= k <= m``."""
    m, k = m.to(torch.float64), k.to(torch.float64)
    return torch.lgamma(m + 1) - torch.lgamma(k + 1) - torch.lgamma(m - k + 1)


class DrawingContext(StepContext):
    """Carries out sampler moves on a batch ``[B, L]``; positions outside ``free`` never change.

    Args:
        process: the forward process.
        vocab_size: ``V``.
        calls: the denoiser calls of the run.
        streams: the rows' random streams.
        free: bool ``[B, L]``, the positions that may change.
        lengths: LongTensor ``[B]``, the positions that exist in each row.
        elements: LongTensor ``[B, L]``, each position's rank among its row's existing positions
            (what names it in the streams, so that padding does not change the draws).
        dense: compute per-position work at every position (see :mod:`unmask.pieces`).
        keep_graph: the path log-probabilities carry gradients.
    """

    def __init__(
        self,
        process: Process,
        vocab_size: int,
        calls: ModelCalls,
        streams: RowStreams,
        free: torch.Tensor,
        lengths: torch.Tensor,
        elements: torch.Tensor,
        dense: bool,
        keep_graph: bool = False,
    ):
        self.process = process
        self.vocab_size = vocab_size
        self.calls = calls
        self.dense = dense
        self.keep_graph = keep_graph
        batch = free.shape[0]
        self._all = (streams, free, lengths, elements)
        self.log_prob = torch.zeros(batch, dtype=torch.float64, device=free.device)
        self.diagnostics: dict[str, torch.Tensor] = {}
        self.memories: dict[str, torch.Tensor] = {}
        self._open(None)
        self._full_z: torch.Tensor | None = None
        self._full_t: torch.Tensor | None = None

    # -- frames ------------------------------------------------------------------------------------
    def _open(self, rows: torch.Tensor | None) -> None:
        streams, free, lengths, elements = self._all
        self._rows = rows
        if rows is None:
            self._streams, self._free, self._lengths, self._elements = streams, free, lengths, elements
        else:
            self._streams = streams.subset(rows)
            self._free, self._lengths, self._elements = free[rows], lengths[rows], elements[rows]

    @property
    def free(self) -> torch.Tensor:
        return self._free

    @property
    def lengths(self) -> torch.Tensor:
        return self._lengths

    def begin_step(self, index, active, z, t, s):
        """Open a step on the ``active`` rows; the one read from the device in a step: which rows
        are active, which of them changed since their last model call, and the output checks."""
        self._open(None)
        codes = active.long()
        if self.calls.reuse:
            codes = codes + self.calls.changed(z).long() * 2
        host = torch.cat([codes, self.calls.flags.reshape(1)]).cpu()  # the step's one synchronisation
        self.calls.check(int(host[-1]))
        codes = host[:-1]
        rows = (codes & 1).nonzero().squeeze(-1)
        if not len(rows):
            return None
        every = len(rows) == len(codes)
        device = z.device
        self._open(None if every else rows.to(device, non_blocking=True))
        self._streams.at_step(index)
        self.calls.step = index
        need = None
        if self.calls.reuse:
            need = (codes[rows] & 2).nonzero().squeeze(-1).to(device, non_blocking=True)
        self._first_need = need
        self._step_z = z if every else z[self._rows]
        self._full_z, self._full_t = z, t
        t_step = t if every else t[self._rows]
        s_step = (
            None if s is None else torch.as_tensor(s, dtype=torch.float64, device=device).expand(len(rows))
        )
        return self._step_z, t_step, s_step

    def end_step(self, z, t):
        full_z, full_t, rows = self._full_z, self._full_t, self._rows
        self._step_z = None
        self._open(None)
        if rows is None:
            return z, t
        return full_z.index_copy(0, rows, z), full_t.index_copy(0, rows, t.to(full_t.dtype))

    def finish_checks(self) -> None:
        """Raise for any bad model output of the run (read once, at the end)."""
        self.calls.check()

    # -- the model ---------------------------------------------------------------------------------
    def denoise(self, z, t):
        need = None
        if z is self._step_z:
            need, self._step_z = self._first_need, None
        return self.calls.evaluate(self._rows, z, t, need)

    def loo(self, z, t):
        return self.calls.leave_one_out(self._rows, z, t, self.vocab_size)

    # -- moves -------------------------------------------------------------------------------------
    def _add_log_prob(self, values: torch.Tensor) -> None:
        if self._rows is None:
            self.log_prob = self.log_prob + values
        else:
            self.log_prob = self.log_prob.index_add(0, self._rows, values.to(self.log_prob.dtype))

    def _decide(self, eligible: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
        """Bernoulli decisions at the eligible positions (the stream advances for every position)."""
        prob = _probability(prob, eligible.shape)
        go = eligible & self._streams.bernoulli(prob, elements=self._elements)
        self._add_log_prob(_log_decisions(eligible, go, prob))
        return go

    def _values(self, values, go: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
        return self._scored_values(values, go, exclude)[0]

    def _scored_values(self, values, go: torch.Tensor, exclude: torch.Tensor | None = None):
        """The values drawn at ``go`` and their log-probabilities ``[n, L]`` (0 elsewhere)."""
        drawn, log_q = self._streams.draw(values, go, exclude, self._elements, self.dense)
        self._add_log_prob(log_q.sum(-1))
        return drawn, log_q

    def move(self, z, prob, values):
        return self._scored_move(z, prob, values)[0]

    def reveal_scored(self, z, chosen, values):
        z, go, log_q = self._scored_move(z, chosen, values)
        return z, torch.where(go, log_q.detach().exp(), 0.0)

    def _scored_move(self, z, prob, values):
        """:meth:`move`, with the positions that moved ``[n, L]`` and the log-probabilities of
        their values (0 elsewhere)."""
        go = self._decide(self.masked(z), prob)
        drawn, log_q = self._scored_values(values, go)
        return torch.where(go, drawn, z), go, log_q

    def select(self, z, eligible, count, weights=None):
        eligible = eligible & self.free
        count = torch.as_tensor(count, device=z.device).expand(z.shape[0])
        u = self._streams.uniform(z.shape[-1], elements=self._elements)
        keys = subset_keys(u, None if weights is None else weights.detach())
        ranks = subset_ranks(keys, eligible)
        available = eligible.sum(-1)
        size = torch.minimum(count, available)
        chosen = eligible & (ranks < size[:, None])
        if weights is None:
            self._add_log_prob(-log_binomial(available, size))
        else:
            self._add_log_prob(_successive_log_prob(weights, eligible, ranks, size))
        return z, chosen

    def remask(self, z, prob):
        go = self._decide(self.clean(z), prob)
        return torch.where(go, self.vocab_size, z)

    def resample(self, z, prob, values):
        go = self._decide(self.clean(z), prob)
        return torch.where(go, self._values(values, go), z)

    def jump(self, z, law):
        eligible = self.free
        if law.leave is None:
            return self._jump_in_one_pass(z, law, eligible)
        leave, clipped = law.leave_and_clipped(eligible, self.dense)
        if law.records_clipping:
            self.record("clipped_mass", clipped.sum(-1))
        go = self._decide(eligible, leave)
        return torch.where(go, self._values(law, go, exclude=z), z)

    def _jump_in_one_pass(self, z, law, eligible):
        """A jump whose leave probabilities need the whole law of each position: the decision and
        the new value come from one evaluation of the law per position (the same numbers as the
        two stages of :meth:`jump`: the same uniforms, decision first)."""
        length = z.shape[-1]
        dtype = self._streams.dtype
        u_leave = self._streams.uniform(length, elements=self._elements).reshape(-1)
        u_value = self._streams.uniform(length, elements=self._elements).reshape(-1)

        def compute(index):
            masses, clipped = law.evaluate(index)
            others = masses.scatter(-1, law.current(index), 0.0)
            away = value_sum(others)
            leave = away / value_sum(masses)
            go = u_leave[index] < leave.to(dtype)
            drawn, total = inverse_cdf(others.detach().to(dtype), u_value[index], with_total=True)
            if others.requires_grad or dtype != torch.float64:
                total = away
            chosen = others.gather(-1, drawn.unsqueeze(-1)).squeeze(-1)
            one = torch.ones_like(leave)
            # Each log sees only the branch taken (no 0 inside a log, no NaN gradient).
            decided = torch.where(
                go, torch.where(go, leave, one).log(), torch.log1p(-torch.where(go, 0 * one, leave))
            )
            value = torch.where(go, chosen, one).log() - torch.where(go, total, one).log()
            return go, drawn, decided + value, clipped if clipped is not None else torch.zeros_like(leave)

        outputs = ((False, torch.bool), (0, torch.long), (0.0, torch.float64), (0.0, torch.float64))
        go, drawn, log_p, clipped = at_positions(
            eligible, compute, law.shape[-1], outputs, self.dense, law.weight
        )
        if law.records_clipping:
            self.record("clipped_mass", clipped.sum(-1))
        self._add_log_prob(log_p.sum(-1))
        return torch.where(go, drawn, z)

    # -- bookkeeping -------------------------------------------------------------------------------
    def uniform(self, z):
        return self._streams.uniform().reshape(-1).to(torch.float64)

    def align(self, x):
        return x

    def record(self, name, values):
        full = self.diagnostics.get(name)
        if full is None:
            full = torch.zeros_like(self.log_prob)
        values = values.to(torch.float64)
        if self._rows is None:
            self.diagnostics[name] = full + values
        else:
            self.diagnostics[name] = full.index_add(0, self._rows, values)

    def memory(self, name, fill):
        full = self.memories.get(name)
        if full is None:
            full = torch.full(self._all[1].shape, fill, dtype=torch.float64, device=self.log_prob.device)
            self.memories[name] = full
        return full if self._rows is None else full[self._rows]

    def remember(self, name, values):
        if values.shape != self._free.shape:
            raise ValueError(
                f"memory {name!r} must have the step's shape [n, L] = {list(self._free.shape)}, "
                f"got {list(values.shape)}"
            )
        values = values.to(torch.float64)
        if self._rows is None:
            self.memories[name] = values
            return
        full = self.memories.get(name)
        if full is None:
            raise ValueError(f"remember({name!r}) before memory({name!r}): read a memory before storing it")
        self.memories[name] = full.index_copy(0, self._rows, values)


def _successive_log_prob(
    weights: torch.Tensor, eligible: torch.Tensor, ranks: torch.Tensor, size: torch.Tensor
) -> torch.Tensor:
    """``sum_{j < size} log(w_(j) / (W - w_(0) - ... - w_(j-1)))`` ``[n]``: the log-probability of
    drawing the chosen positions one after another in rank order, proportional to ``weights``."""
    weights = torch.where(eligible, weights.to(torch.float64), 0.0)
    order = torch.argsort(ranks, dim=-1)
    ordered = weights.gather(-1, order)
    before = ordered.cumsum(-1) - ordered
    left = ordered.sum(-1, keepdim=True) - before
    taken = torch.arange(weights.shape[-1], device=weights.device) < size[:, None]
    terms = torch.where(taken, ordered.clamp(min=1e-300).log() - left.clamp(min=1e-300).log(), 0.0)
    return terms.sum(-1)
