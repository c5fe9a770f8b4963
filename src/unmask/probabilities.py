"""Clean-token probabilities defined by a model's logits, read a few positions at a time.

A denoiser returns logits ``[n, L, V]`` in its own dtype (bf16 on a GPU is fine). Samplers need
float64 probabilities, but only at the positions a step draws from, and reductions per position
(the log-normaliser, the probability of a given token, the largest probability, the margin, the
entropy) that planners and estimators read. :class:`Probabilities` keeps the logits as they are
and gives

* :meth:`~Probabilities.rows`: the float64 softmax of selected positions (what a draw reads);
* per-position reductions ``[n, L]`` computed from the logits with float32 or float64
  accumulation, a bounded number of positions at a time (:mod:`unmask.pieces`), so that no
  float64 (or float32) ``[n, L, V]`` tensor ever exists; ``where=`` (bool ``[n, L]``) computes
  only the positions a caller reads (the masked ones, for a planner) and gives 0 at the others.
  One pass gives several reductions (:func:`row_summaries`: the log-normaliser and the largest
  probability come with any of them), and the object keeps what it computed, so that asking
  again (the entropies a planner ranks by, then records) costs no pass over the logits;
* :meth:`~Probabilities.dense`: every position at once in float64, for small problems only.

A :class:`Probabilities` may read its logits through a row map (``rows=``): the rows ``[n]`` of
a larger logits tensor ``[N, L, V]`` that it stands for, so that a cache of model outputs can hand
out a subset of its rows without copying them.
"""

from __future__ import annotations

import torch

from .laws import Law, flat_rows
from .pieces import at_positions
from .row_summaries import exp_shifted_, reaches_floor, row_summaries, subtract_into
from .workspace import Workspace


def softmax64(logits: torch.Tensor) -> torch.Tensor:
    """``softmax(logits)`` over the last axis in float64, in a new tensor (the input is untouched).

    The same numbers as ``torch.softmax(logits.to(torch.float64), -1)``; without autograd the
    softmax is taken in place in the float64 copy (one buffer).
    """
    if logits.requires_grad and torch.is_grad_enabled():
        return torch.softmax(logits.to(torch.float64), dim=-1)
    buffer = logits.to(torch.float64, copy=True)
    return torch.softmax(buffer, dim=-1, out=buffer) if buffer.numel() else buffer


def log_softmax64(logits: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits)`` over the last axis in float64 (a new tensor)."""
    return torch.log_softmax(logits.to(torch.float64), dim=-1)


class Probabilities(Law):
    """Probabilities ``[n, L, V]`` defined by ``logits`` (or by float64 ``dense`` probabilities).

    Args:
        logits: ``[N, L, V]`` in the model's dtype.
        dense: float64 probabilities ``[N, L, V]`` already normalised (exact denoisers, tests).
        rows: LongTensor ``[n]``: this object stands for rows ``rows`` of the ``N`` given ones
            (default: all of them, ``n = N``).
    """

    normalised = True

    def __init__(
        self,
        logits: torch.Tensor | None = None,
        *,
        dense: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
    ):
        if (logits is None) == (dense is None):
            raise ValueError("give Probabilities either logits or dense probabilities, not both")
        self.logits = logits
        self._probs = dense
        self.row_map = rows
        #: Reductions already computed, see :meth:`_recall`.
        self._memo: dict[tuple, tuple] = {}

    # -- the source rows ------------------------------------------------------------------------
    @property
    def source(self) -> torch.Tensor:
        """The logits (or dense probabilities) ``[N, L, V]`` this object reads."""
        return self.logits if self.logits is not None else self._probs

    @property
    def shape(self) -> torch.Size:
        n, length, size = self.source.shape
        return torch.Size((len(self.row_map) if self.row_map is not None else n, length, size))

    @property
    def device(self) -> torch.device:
        return self.source.device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the model's logits (float64 for dense probabilities)."""
        return self.source.dtype

    def gather(self, index: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Source rows ``[m, V]`` (logits in the model's dtype, or dense probabilities) of the flat
        positions ``index [m]`` (written into ``out``, of that shape and dtype, when given and the
        source is contiguous)."""
        source = self.source
        length = source.shape[1]
        if self.row_map is not None:
            row, position = flat_rows(index, length)
            index = self.row_map[row] * length + position
        if source.is_contiguous():  # whole rows copied at once
            flat = source.view(-1, source.shape[-1])
            if out is not None and not (source.requires_grad and torch.is_grad_enabled()):
                return torch.index_select(flat, 0, index, out=out)
            return flat.index_select(0, index)
        row, position = flat_rows(index, length)
        return source[row, position]

    def take(self, index: torch.Tensor) -> Probabilities:
        rows = index if self.row_map is None else self.row_map[index]
        if self.logits is not None:
            return Probabilities(self.logits, rows=rows)
        return Probabilities(dense=self._probs, rows=rows)

    # -- float64 rows ---------------------------------------------------------------------------
    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Float64 probabilities ``[m, V]`` of the flat positions ``index [m]``."""
        picked = self.gather(index)
        return softmax64(picked) if self.logits is not None else picked

    def masses(self, index: torch.Tensor, workspace: Workspace | None = None) -> torch.Tensor:
        """Float64 ``exp(logit - max logit)`` ``[m, V]`` of the flat positions ``index`` (the
        probabilities up to a factor per row; one pass fewer than :meth:`rows`). Masses below
        about ``1e-307`` of the largest are exactly 0 (:func:`~unmask.row_summaries.exp_shifted_`).

        The maximum is found in the logits' own dtype (exact), and one pass converts and
        subtracts it. With a ``workspace`` the result is one of its buffers, overwritten by the
        next call that uses the workspace."""
        if self.logits is None:
            return self.gather(index)
        if self._grad_path():
            values = self.gather(index).to(torch.float64)
            return (values - values.detach().amax(-1, keepdim=True)).exp()
        workspace = workspace or Workspace()
        picked, _ = self._source_rows(index, workspace)
        top = picked.amax(-1, keepdim=True)
        out = workspace.buffer("masses", len(index), picked.shape[-1], torch.float64, self.device)
        floor_reached = reaches_floor(picked, top, torch.float64)
        return exp_shifted_(subtract_into(out, picked, top), floor_reached=floor_reached)

    def log_rows(self, index: torch.Tensor) -> torch.Tensor:
        """Float64 log-probabilities ``[m, V]`` of the flat positions ``index [m]``."""
        picked = self.gather(index)
        return log_softmax64(picked) if self.logits is not None else picked.log()

    def dense(self) -> torch.Tensor:
        """Float64 probabilities ``[n, L, V]`` of every position: for small problems only."""
        source = self.source if self.row_map is None else self.source.index_select(0, self.row_map)
        return softmax64(source) if self.logits is not None else source

    # -- per-position reductions ----------------------------------------------------------------
    #
    # One pass over the logits of the wanted positions gives several reductions: every pass finds
    # the row maximum and the log-normaliser, so the log-normaliser and the largest probability
    # come with any reduction, and the entropy and the margin with the passes that ask for them.
    # What a pass gives is kept on the object (see _recall) and handed out again, as a copy,
    # instead of a second pass over the logits.

    def _grad_path(self) -> bool:
        """Whether the reductions must carry gradients (then nothing is kept)."""
        return self.source.requires_grad and torch.is_grad_enabled()

    def _stamp(self, where: torch.Tensor | None) -> tuple:
        """What a kept reduction depends on besides its name and dtype: the version counters of
        the logits, the row map and ``where`` (any in-place write changes them)."""
        return (_version(self.source), _version(self.row_map), _version(where))

    def _recall(
        self, name: str, dtype: torch.dtype | None, where: torch.Tensor | None
    ) -> torch.Tensor | None:
        """The kept reduction ``name`` in ``dtype`` over ``where`` (a new tensor), or None.

        Kept results are keyed by the name, the accumulation dtype and the identity of ``where``
        (the tensor object, which the entry holds, so that its id is not reused); a result over
        every position (``where=None``) also serves any ``where``, filled outside it. An entry
        is used only while the logits, the row map and ``where`` are unchanged (their version
        counters; inference tensors have none, so they must not be written while the object is
        in use), and never on the differentiable path.
        """
        if self._grad_path():
            return None
        entry = self._memo.get((name, dtype, None if where is None else id(where)))
        if entry is not None and entry[0] is where and entry[1] == self._stamp(where):
            return entry[2].clone()
        if where is not None:
            entry = self._memo.get((name, dtype, None))
            if entry is not None and entry[1] == self._stamp(None):
                return _outside_zero(where, entry[2])
        return None

    def _keep(
        self, name: str, dtype: torch.dtype | None, where: torch.Tensor | None, value: torch.Tensor
    ) -> None:
        """Keep ``value`` for :meth:`_recall` (not on the differentiable path; the oldest entries
        go beyond :data:`KEPT_ENTRIES`)."""
        if self._grad_path():
            return
        key = (name, dtype, None if where is None else id(where))
        self._memo.pop(key, None)
        self._memo[key] = (where, self._stamp(where), value)
        while len(self._memo) > KEPT_ENTRIES:
            del self._memo[next(iter(self._memo))]

    def _reduce(self, compute, outputs, dtype: torch.dtype, where: torch.Tensor | None = None):
        """Per-position reductions of the logits, computed a piece at a time.

        ``compute(logits [m, V] in the model's dtype, index [m], workspace, owned) -> tuple of
        [m]`` (dense probabilities are passed as their logarithm; ``workspace``: a
        :class:`Workspace` shared by the pieces of the pass; ``owned``: whether the rows are a
        copy that ``compute`` may overwrite, not a view of the source). Positions outside
        ``where`` get each output's fill.
        """
        _check_accumulation(dtype)
        n, length, size = self.shape
        if where is None:
            where = torch.ones(n, length, dtype=torch.bool, device=self.device)
        workspace = Workspace()

        def run(index):
            picked, owned = self._source_rows(index, workspace)
            if self.logits is None:
                picked, owned = picked.log(), True
            return compute(picked, index, workspace, owned)

        return at_positions(where, run, size, outputs)

    def _source_rows(self, index: torch.Tensor, workspace: Workspace) -> tuple[torch.Tensor, bool]:
        """The source rows ``[m, V]`` of the flat positions ``index [m]`` (increasing, as the
        pieces of a pass give them) and whether they are a copy (the workspace's ``rows`` buffer)
        rather than a view of the source. On the CPU a run without gaps is read as a view of the
        logits, not copied first."""
        source = self.source
        size = source.shape[-1]
        if (
            self.row_map is None
            and source.device.type == "cpu"
            and source.is_contiguous()
            and len(index)
            and int(index[-1]) - int(index[0]) == len(index) - 1
        ):
            return source.view(-1, size)[int(index[0]) : int(index[-1]) + 1], False
        buffer = workspace.buffer("rows", len(index), size, source.dtype, source.device)
        return self.gather(index, out=buffer), True

    def _summaries(
        self,
        wanted: tuple[str, ...],
        dtype: torch.dtype,
        where: torch.Tensor | None,
        tokens: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The reductions ``wanted``, and those the same pass gives (see :func:`row_summaries`),
        from one pass; ``tokens`` adds ``log_prob_of``. All but ``log_prob_of`` are kept."""
        names = [*ALWAYS, *(name for name in ON_REQUEST if name in wanted)]
        if tokens is not None:
            names.append("log_prob_of")
            flat_tokens = tokens.reshape(-1)
        entropy, margin = "entropy" in names, "margin" in names

        def compute(rows, index, workspace, owned):
            chosen = None
            if tokens is not None:
                token = flat_tokens[index].clamp(0, rows.shape[-1] - 1)
                chosen = rows.gather(-1, token.unsqueeze(-1)).squeeze(-1)
            got = row_summaries(rows, dtype, entropy, margin, chosen, workspace, overwrite=owned)
            return tuple(got[name] for name in names)

        values = self._reduce(compute, tuple((0.0, dtype) for _ in names), dtype, where)
        out = dict(zip(names, values, strict=True))
        if self._grad_path():
            return out
        for name in names:
            if name != "log_prob_of":
                self._keep(name, dtype, where, out[name])
                out[name] = out[name].clone()  # the kept tensor is never handed out
        return out

    def _reduction(self, name: str, dtype: torch.dtype, where: torch.Tensor | None) -> torch.Tensor:
        _check_accumulation(dtype)
        kept = self._recall(name, dtype, where)
        return kept if kept is not None else self._summaries((name,), dtype, where)[name]

    def log_normalizer(
        self, dtype: torch.dtype = torch.float64, where: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``log sum_v exp(logit_v)`` per position ``[n, L]`` (0 for dense probabilities).

        ``where`` (bool ``[n, L]``), here and in every reduction: compute those positions only,
        and give 0 at the others.
        """
        return self._reduction("log_normalizer", dtype, where)

    def log_prob_of(
        self, tokens: torch.Tensor, dtype: torch.dtype = torch.float64, where: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``log p(tokens)`` per position ``[n, L]`` for ``tokens [n, L]`` in ``0..V-1`` (0 outside
        ``where`` when given). With a log-normaliser already at hand (kept by an earlier
        reduction), only the tokens' logits are read."""
        _check_accumulation(dtype)
        normalizer = self._recall("log_normalizer", dtype, where)
        if normalizer is None:
            return self._summaries((), dtype, where, tokens)["log_prob_of"]
        chosen = self._at_tokens(tokens)
        out = (chosen if self.logits is not None else chosen.log()).to(dtype) - normalizer
        return out if where is None else _outside_zero(where, out)

    def _at_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """The source entries ``[n, L]`` of ``tokens [n, L]`` (clamped to ``0..V-1``)."""
        n, length, size = self.shape
        rows = self.row_map if self.row_map is not None else torch.arange(n, device=self.device)
        positions = torch.arange(length, device=self.device)
        return self.source[rows.unsqueeze(-1), positions, tokens.clamp(0, size - 1)]

    def prob_of(self, tokens: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``p(tokens)`` per position ``[n, L]``."""
        return self.log_prob_of(tokens, dtype).exp()

    def max_prob(self, dtype: torch.dtype = torch.float64, where: torch.Tensor | None = None) -> torch.Tensor:
        """The largest probability per position ``[n, L]`` (0 outside ``where`` when given)."""
        return self._reduction("max_prob", dtype, where)

    def argmax(self, where: torch.Tensor | None = None) -> torch.Tensor:
        """The most probable token per position, LongTensor ``[n, L]`` (the first on ties; 0
        outside ``where`` when given)."""
        kept = self._recall("argmax", None, where)
        if kept is not None:
            return kept
        outputs = ((0, torch.long),)
        (out,) = self._reduce(
            lambda rows, index, workspace, owned: (rows.argmax(-1),), outputs, torch.float32, where
        )
        self._keep("argmax", None, where, out)
        return out if self._grad_path() else out.clone()

    def margin(self, dtype: torch.dtype = torch.float64, where: torch.Tensor | None = None) -> torch.Tensor:
        """The largest probability minus the second largest, per position ``[n, L]`` (1 for
        ``V = 1``; 0 outside ``where`` when given)."""
        return self._reduction("margin", dtype, where)

    def entropy(self, dtype: torch.dtype = torch.float64, where: torch.Tensor | None = None) -> torch.Tensor:
        """Shannon entropy ``-sum_v p_v log p_v`` (nats) per position ``[n, L]`` (0 outside
        ``where`` when given)."""
        return self._reduction("entropy", dtype, where)


#: The most reductions one object keeps (the oldest go first).
KEPT_ENTRIES = 16


def _outside_zero(where: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``values [n, L]`` where ``where`` holds, 0 elsewhere (a new tensor)."""
    return torch.where(where, values, torch.zeros((), dtype=values.dtype, device=values.device))


#: The reductions every pass gives, and those it gives when asked (see :func:`row_summaries`).
ALWAYS = ("log_normalizer", "max_prob")
ON_REQUEST = ("entropy", "margin")


def _check_accumulation(dtype: torch.dtype) -> None:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"accumulation dtype must be torch.float32 or torch.float64, got {dtype}")


def _version(tensor: torch.Tensor | None) -> int | None:
    """The version counter of ``tensor`` (None for None and for inference tensors, which have none)."""
    if tensor is None or tensor.is_inference():
        return None
    return tensor._version
