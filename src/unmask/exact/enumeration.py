"""The step context that enumerates: every outcome of a sampler step with its exact probability.

States are rows ``z [n, L]`` with masses ``[n]``. A move gives each position of each row a set of
options (a value, the mask id, or keeping its entry) with probabilities; a row's outcomes are the
products of its positions' options. They are expanded one position at a time over integer codes
(a position's choice is one digit), keeping only outcomes of positive probability, and the rows
are built once at the end. At the end of a step equal states are merged through a dense table of
state codes. This is the forward dynamic program of spec §6.1 (masked) and the product kernels of
§6.2 (uniform), driven by the samplers' own steps.

Every operation that branches changes the number of rows (a zero-mass copy of a row is added when
it would not), so that a per-row tensor a step forgot to :meth:`~EnumerationContext.align` fails
with a shape error instead of giving a wrong law. States hold their ids as bytes (uint8) when the
ids fit; the denoiser always receives int64 rows.
"""

from __future__ import annotations

import math

import torch

from ..denoisers import call, check_logits
from ..laws import as_law, probability_rows
from ..probabilities import Probabilities, softmax64
from ..processes import Process
from ..samplers.base import StepContext
from .codes import MAX_DENSE_CODES, code_digits, state_codes, unique_rows
from .subsets import successive_subsets, uniform_subsets

#: The most entries of the table of every state's digits (a lookup that builds outcome rows).
MAX_DIGIT_TABLE = 1 << 22
#: The most float64 entries of the per-state cache of a time-agnostic denoiser's outputs.
MAX_CACHE_ENTRIES = 1 << 24
#: The most outcomes one move may enumerate (each holds a mass, a code and its source row).
MAX_OUTCOMES = 1 << 27


def _storage_uses(tensor: torch.Tensor) -> int | None:
    """How many tensors share ``tensor``'s storage (None where torch does not say)."""
    count = getattr(torch._C, "_storage_Use_Count", None)
    return None if count is None else count(tensor.untyped_storage()._cdata)


def _unshared(buffer: torch.Tensor, alone: int | None) -> bool:
    """Whether no view of ``buffer`` is alive (its storage is used as when it was made alone)."""
    return alone is not None and _storage_uses(buffer) == alone


class EnumerationContext(StepContext):
    """Exact counterpart of the drawing context: moves branch instead of drawing.

    Args:
        process: the forward process.
        vocab_size: ``V``.
        denoiser: ``f(z, t) -> logits``.
        free: bool ``[L]``: the positions that may change (the same for every state).
        device: where the states live.
    """

    def __init__(self, process: Process, vocab_size: int, denoiser, free: torch.Tensor, device: torch.device):
        self.process = process
        self.vocab_size = vocab_size
        self.denoiser = denoiser
        self.time_agnostic = bool(getattr(denoiser, "time_agnostic", False))
        self.base = process.state_base(vocab_size)
        self.device = device
        self._free = free.to(device)
        self.mass = torch.ones(1, dtype=torch.float64, device=device)
        self.root = torch.zeros(1, dtype=torch.long, device=device)
        self.diagnostics: dict[str, float] = {}
        #: ``E[#steps]``: the mass of the states that take each step, summed over the steps.
        self.expected_steps = 0.0
        self.evaluated_rows = 0
        self._held: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        length = len(self._free)
        self._states = self.base**length
        self._powers = self.base ** torch.arange(length - 1, -1, -1, dtype=torch.int64, device=device)
        self._digits = None
        if self._states * length <= MAX_DIGIT_TABLE and self.base <= 256:
            # One state's digits as bytes, padded to whole int64 words: a row is gathered as words.
            digits = code_digits(torch.arange(self._states, device=device), self.base, length)
            words = -(-length // 8)
            padded = torch.nn.functional.pad(digits.to(torch.uint8), (0, 8 * words - length))
            self._digits = padded.view(torch.int64)  # [states, words]
        self._known: list[tuple[torch.Tensor, torch.Tensor]] = []  # rows built here and their codes
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._arenas: list[tuple[tuple[torch.Tensor, ...], tuple[int | None, ...]] | None] = [None, None]
        self._turn = 0

    # -- frames ------------------------------------------------------------------------------------
    @property
    def free(self) -> torch.Tensor:
        return self._free.expand(len(self.mass), -1)

    @property
    def lengths(self) -> torch.Tensor:
        return torch.full((len(self.mass),), len(self._free), dtype=torch.long, device=self.device)

    def masked(self, z):
        return (z == self.vocab_size) & self._free

    def clean(self, z):
        return (z != self.vocab_size) & self._free

    def start(self, mass: torch.Tensor) -> None:
        """Begin from states whose masses are ``mass [n]``."""
        self.mass = mass
        self.root = torch.arange(len(mass), device=self.device)

    def begin_step(self, index, active, z, t, s):
        if not bool(active.any()):
            return None
        held = ~active
        if index >= 0:  # not the process' final move
            self.expected_steps += float(self.mass[active].sum())
        codes = self.codes(z)
        self._held = (self._remember(z[held], codes[held]), self.mass[held], t[held])
        z, mass, t = self._remember(z[active], codes[active]), self.mass[active], t[active]
        if len(z) == 1:  # a second (zero-mass) row, so that every branching op changes the row count
            codes = self.codes(z)
            z, mass, t = torch.cat([z, z]), torch.cat([mass, torch.zeros_like(mass)]), torch.cat([t, t])
            self._remember(z, torch.cat([codes, codes]))
        self.start(mass)
        s = None if s is None else torch.as_tensor(s, dtype=torch.float64, device=self.device).expand(len(z))
        return z, t, s

    def end_step(self, z, t):
        held_z, held_mass, held_t = self._held
        times = torch.cat([t, held_t])
        if bool((times == times[0]).all()):  # one time for every state: no time to carry per state
            z, mass, _ = self.merge(z, self.mass, None, (held_z, held_mass, None))
            t = times[0].expand(len(z))
        else:
            z, mass, t = self.merge(z, self.mass, (t, self.root), (held_z, held_mass, held_t))
        self.start(mass)
        return z, t

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """The state code of every row of ``z`` (looked up for rows this context built)."""
        for rows, codes, _ in self._known:
            if rows is z:
                return codes
        return state_codes(z, self.base)

    def _outcome_buffers(self, size: int) -> tuple[torch.Tensor, ...]:
        """Masses, codes and roots ``[size]``, and word rows ``[size, words]`` (the outcome states'
        bytes), for a move's outcomes.

        Fresh large tensors cost a page fault per page written, so two arenas are kept for the run
        and used in turn (a move reads the previous move's masses and roots while it writes its
        own). An arena is written again only when no view of it is alive any more (a step may hold
        an earlier move's states); otherwise, or where torch cannot tell, a new one is made.
        """
        self._turn = 1 - self._turn
        turn = self._turn
        self._known = [entry for entry in self._known if entry[2] != turn]
        arena = self._arenas[turn]
        if (
            arena is None
            or len(arena[0][0]) < size
            or not all(_unshared(b, n) for b, n in zip(*arena, strict=True))
        ):
            words = self._digits.shape[1] if self._digits is not None else 0
            buffers = (
                torch.empty(size, dtype=torch.float64, device=self.device),
                torch.empty(size, dtype=torch.long, device=self.device),
                torch.empty(size, dtype=torch.long, device=self.device),
                torch.empty(size, words, dtype=torch.long, device=self.device),
            )
            arena = (buffers, tuple(_storage_uses(buffer) for buffer in buffers))
            self._arenas[turn] = arena
        return tuple(buffer[:size] for buffer in arena[0])

    def _remember(self, z: torch.Tensor, codes: torch.Tensor, arena: int = -1) -> torch.Tensor:
        self._known = [*self._known[-3:], (z, codes, arena)]
        return z

    def rows_of(self, codes: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """States ``[n, L]`` of codes ``[n]``: rows of bytes (uint8) looked up in a table when it is
        small (written into the word rows ``out`` when given, an arena's), int64 digits otherwise."""
        length = len(self._free)
        if self._digits is None:
            return self._remember(code_digits(codes, self.base, length), codes)
        if out is None:
            words = self._digits.index_select(0, codes)
        else:
            words = torch.index_select(self._digits, 0, codes, out=out)
        arena = -1 if out is None else self._turn
        return self._remember(words.view(torch.uint8)[:, :length], codes, arena)

    def merge(self, z: torch.Tensor, mass: torch.Tensor, t, *more):
        """Equal states merged (masses added, one of their times kept); zero-mass states dropped.

        ``t`` is the rows' times ``[n]``, or ``(times, index)`` when row ``r``'s time is
        ``times[index[r]]``, or None (no times kept); ``more``: further ``(z, mass, t)`` triples
        merged in with them. Returns ``(states, masses, times or None)``.
        """
        parts = [(z, mass, t), *more]
        timed = t is not None
        if self._states > MAX_DENSE_CODES:
            z = torch.cat([part[0] for part in parts])
            mass = torch.cat([part[1] for part in parts])
            codes = state_codes(z, self.base)
            first, inverse = unique_rows(codes)
            merged = torch.zeros(len(first), dtype=torch.float64, device=self.device)
            merged.index_add_(0, inverse, mass)
            keep = merged > 0
            if not timed:
                return self.rows_of(codes[first][keep]), merged[keep], None
            t = torch.cat([time[0][time[1]] if isinstance(time, tuple) else time for _, _, time in parts])
            return self.rows_of(codes[first][keep]), merged[keep], t[first][keep]
        table = torch.zeros(self._states, dtype=torch.float64, device=self.device)
        times = torch.zeros(self._states, dtype=torch.float64, device=self.device) if timed else None
        for rows, weight, time in parts:
            codes = self.codes(rows)
            table.index_add_(0, codes, weight)
            if not timed:
                continue
            if isinstance(time, tuple):  # a pointer per code to one row's time: no gather of every row
                times_of, index = time
                pointer = torch.full((self._states,), -1, dtype=torch.long, device=self.device)
                pointer.scatter_(0, codes, index)
                times = torch.where(pointer >= 0, times_of[pointer.clamp(min=0)], times)
            else:
                times.scatter_(0, codes, time)
        present = (table > 0).nonzero().squeeze(-1)
        return self.rows_of(present), table[present], times[present] if timed else None

    # -- the model ---------------------------------------------------------------------------------
    def _unique_call(self, function, z: torch.Tensor, t: torch.Tensor) -> Probabilities:
        """``function`` evaluated once per distinct state (and time), as probabilities of every row."""
        if torch.isnan(t).any() and not self.time_agnostic:
            raise ValueError(
                "the exact law of an event-driven sampler (first-hitting, k-random) needs a "
                "time-agnostic denoiser (time_agnostic = True): its event times are continuous"
            )
        codes = self.codes(z)
        if self.time_agnostic and self._states * z.shape[1] * self.vocab_size <= MAX_CACHE_ENTRIES:
            return self._cached_call(function, z, codes)
        first, inverse = unique_rows(codes, self._states)
        unique = z[first].long()
        if self.time_agnostic:
            t_unique = torch.zeros(len(unique), dtype=torch.float64, device=self.device)
        else:
            t_unique = t[first]
            if not torch.equal(t_unique[inverse], t):
                unique, inverse, t_unique = z, torch.arange(len(z), device=self.device), t
        return Probabilities(dense=self._evaluate(function, unique, t_unique), rows=inverse)

    def _evaluate(self, function, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logits = check_logits(call(function, z, t, {}), len(z), z.shape[1], self.vocab_size)
        self.evaluated_rows += len(z)
        return softmax64(logits)

    def _cached_call(self, function, z: torch.Tensor, codes: torch.Tensor) -> Probabilities:
        """A time-agnostic function's outputs, computed once per state of the run and looked up."""
        name = "loo" if function is not self.denoiser else "denoise"
        if name not in self._cache:
            table = torch.zeros(
                self._states, z.shape[1], self.vocab_size, dtype=torch.float64, device=self.device
            )
            self._cache[name] = (table, torch.zeros(self._states, dtype=torch.bool, device=self.device))
        table, known = self._cache[name]
        missing = codes[~known[codes]]
        if len(missing):
            first, _ = unique_rows(missing, self._states)
            fresh = missing[first]
            zeros = torch.zeros(len(fresh), dtype=torch.float64, device=self.device)
            table[fresh] = self._evaluate(function, code_digits(fresh, self.base, z.shape[1]), zeros)
            known[fresh] = True
        return Probabilities(dense=table, rows=codes.clone())

    def denoise(self, z, t):
        return self._unique_call(self.denoiser, z, t)

    def loo(self, z, t):
        loo = getattr(self.denoiser, "loo", None)
        if loo is not None:
            return self._unique_call(loo, z, t)
        length = z.shape[1]
        rows = torch.arange(len(z), device=self.device)
        out = torch.empty(len(z), length, self.vocab_size, dtype=torch.float64, device=self.device)
        for i in range(length):
            hidden = z.clone()
            hidden[:, i] = self.vocab_size
            out[:, i] = self._unique_call(self.denoiser, hidden, t).dense()[rows, i]
        return Probabilities(dense=out)

    # -- branching ---------------------------------------------------------------------------------
    def _plan(self, eligible: torch.Tensor) -> tuple[torch.Tensor, list[int], torch.Tensor]:
        """The order in which :meth:`_combine` reads options: ``(rows, sizes, index)`` with the rows
        sorted by their number ``m`` of ``eligible`` positions (``sizes[m]`` rows each), and
        ``index``, the flat positions of the eligible entries, row after row in that order."""
        length = eligible.shape[1]
        count = eligible.sum(-1)
        rows = torch.argsort(count, stable=True)
        order, position = eligible[rows].nonzero(as_tuple=True)
        sizes = torch.bincount(count, minlength=length + 1).tolist()
        return rows, sizes, rows[order] * length + position

    def _combine(self, z, plan, options: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Every outcome of independent per-position options.

        ``plan``: :meth:`_plan` of the positions that branch; ``options [E, W]``: for each of them,
        in the plan's order, the probability that it takes the id ``ids[c]`` (``ids [W]``; ``-1``
        keeps its entry). The other positions keep theirs. Rows with ``m`` positions that branch
        have ``W^m`` outcomes, built by one outer product per position over all the rows with
        ``m`` (the rows on the innermost axis, the long one). Returns the outcome rows; masses and
        roots follow them.
        """
        by_count, sizes, index = plan
        n, length = z.shape
        width = options.shape[-1]
        outcomes = sum(rows * width**m for m, rows in enumerate(sizes))
        if outcomes > MAX_OUTCOMES:
            raise ValueError(
                f"the exact law would enumerate {outcomes:,} outcomes in one move (above {MAX_OUTCOMES:,}): "
                "the target is too large for this sampler's exact law; use a shorter length or a "
                "smaller vocabulary, or estimate the law by sampling"
            )
        codes = self.codes(z)
        current = z.reshape(-1)[index].long().unsqueeze(-1)
        powers = self._powers[index % length].unsqueeze(-1)
        change = torch.where(ids >= 0, ids - current, 0) * powers  # [E, W]: how each option moves the code
        out_mass, out_code, out_root, out_rows = self._outcome_buffers(outcomes)
        start, first_row, entry = 0, 0, 0
        for m, group in enumerate(sizes):
            if not group:
                continue
            rows = by_count[first_row : first_row + group]
            first_row += group
            size = group * width**m
            mass, code = self.mass[rows].unsqueeze(0), codes[rows].unsqueeze(0)  # [1, g]
            if m:
                weight = options[entry : entry + group * m].view(group, m, width).transpose(0, 2)  # [W, m, g]
                shift = change[entry : entry + group * m].view(group, m, width).transpose(0, 2)
                entry += group * m
                for j in range(m - 1):
                    mass = (weight[:, j].unsqueeze(1) * mass.unsqueeze(0)).reshape(-1, group)
                    code = (shift[:, j].unsqueeze(1) + code.unsqueeze(0)).reshape(-1, group)
                shape = (width, width ** (m - 1), group)
                torch.mul(
                    weight[:, m - 1].unsqueeze(1),
                    mass.unsqueeze(0),
                    out=out_mass[start : start + size].view(shape),
                )
                torch.add(
                    shift[:, m - 1].unsqueeze(1),
                    code.unsqueeze(0),
                    out=out_code[start : start + size].view(shape),
                )
            else:
                out_mass[start : start + size], out_code[start : start + size] = (
                    mass.reshape(-1),
                    code.reshape(-1),
                )
            out_root[start : start + size].view(width**m, group).copy_(self.root[rows].unsqueeze(0))
            start += size
        return self._branched(self.rows_of(out_code, out_rows), out_mass, out_root, n)

    def _branched(self, z: torch.Tensor, mass: torch.Tensor, root: torch.Tensor, rows_before: int):
        """Adopt the outcome rows, their masses and roots (adding a zero-mass row if their number
        did not change)."""
        if len(z) == rows_before:
            codes = self.codes(z)
            z = self._remember(torch.cat([z, z[:1]]), torch.cat([codes, codes[:1]]))
            mass, root = torch.cat([mass, mass[:1] * 0]), torch.cat([root, root[:1]])
        self.mass, self.root = mass, root
        return z

    def _check_rows(self, name: str, x: torch.Tensor, z: torch.Tensor) -> None:
        if x.dim() and x.shape[0] not in (len(z),):
            raise ValueError(
                f"{name} has {x.shape[0]} rows but the step now has {len(z)} states: a tensor computed "
                "before a move must be matched to the states after it with ctx.align"
            )

    def _law(self, values, z):
        law = as_law(values)
        if law.shape[0] != len(z):
            raise ValueError(
                f"values have {law.shape[0]} rows but the step now has {len(z)} states: a law computed "
                "before a move must be matched to the states after it with ctx.align"
            )
        return law

    def _probability(self, name: str, prob: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        self._check_rows(name, prob, z)
        return prob.to(torch.float64).expand(z.shape)

    def _branch(self, z, eligible, prob, values=None, ids=None) -> torch.Tensor:
        """Branch the ``eligible`` positions: each keeps its entry with probability ``1 - prob``,
        or takes an id: a value drawn from ``values``, or ``ids[0]`` when no values are given."""
        plan = self._plan(eligible)
        index = plan[2]
        go = prob.reshape(-1)[index].unsqueeze(-1)
        if values is None:
            options = torch.cat([go, 1 - go], dim=-1)
        else:
            options = torch.cat([go * probability_rows(values, index), 1 - go], dim=-1)
            ids = torch.arange(-1, self.vocab_size, device=self.device).roll(-1)
        return self._combine(z, plan, options, ids)

    def move(self, z, prob, values):
        prob = self._probability("prob", prob, z)
        return self._branch(z, self.masked(z) & (prob > 0), prob, self._law(values, z))

    def remask(self, z, prob):
        prob = self._probability("prob", prob, z)
        ids = torch.tensor([self.vocab_size, -1], device=self.device)
        return self._branch(z, self.clean(z) & (prob > 0), prob, ids=ids)

    def resample(self, z, prob, values):
        prob = self._probability("prob", prob, z)
        return self._branch(z, self.clean(z) & (prob > 0), prob, self._law(values, z))

    def jump(self, z, law):
        law = self._law(law, z)
        if law.records_clipping:
            _, clipped = law.leave_and_clipped(self.free)
            self.record("clipped_mass", clipped.sum(-1))
        plan = self._plan(self.free.expand(z.shape))
        ids = torch.arange(self.vocab_size, device=self.device)
        return self._combine(z, plan, probability_rows(law, plan[2]), ids)

    def select(self, z, eligible, count, weights=None):
        eligible = eligible & self._free
        self._check_rows("eligible", eligible, z)
        count = torch.as_tensor(count, device=self.device).expand(len(z))
        if weights is None:
            mass, source, bits = uniform_subsets(self.mass, eligible, count)
        else:
            self._check_rows("weights", weights, z)
            mass, source, bits = successive_subsets(self.mass, eligible, count, weights.to(torch.float64))
        return self._subset_rows(z, mass, source, bits, len(z))

    def _subset_rows(self, z, mass, source, bits, rows_before):
        length = z.shape[1]
        chosen = code_digits(bits, 2, length).bool()
        out = self._branched(z[source], mass, self.root[source], rows_before)
        if len(out) != len(chosen):
            chosen = torch.cat([chosen, chosen[:1]])
        return out, chosen

    # -- bookkeeping -------------------------------------------------------------------------------
    def uniform(self, z):
        return torch.full((len(z),), math.nan, dtype=torch.float64, device=self.device)

    def align(self, x):
        if isinstance(x, Probabilities):
            return x.take(self.root.clone())  # the roots live in an arena that a later move rewrites
        return x[self.root]

    def record(self, name, values):
        total = float((self.mass * values.to(torch.float64)).sum())
        self.diagnostics[name] = self.diagnostics.get(name, 0.0) + total

    def memory(self, name, fill):
        raise ValueError(_memory_refusal(name))

    def remember(self, name, values):
        raise ValueError(_memory_refusal(name))


def _memory_refusal(name: str) -> str:
    return (
        f"the step keeps a per-position memory ({name!r}) between steps, which the exact law cannot "
        "follow: its states are the z alone, and a continuous memory per state would branch the law "
        "over (state, memory) pairs that the dynamic program does not merge. Estimate this sampler's "
        "law by sampling (unmask.sample); a sampler that keeps a memory should say so in "
        "Sampler.exact_law_refusal, so that unmask.exact refuses it before any work"
    )
