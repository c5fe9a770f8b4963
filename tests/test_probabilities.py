"""Per-position reductions of a model's logits (``Probabilities``): computed from the logits in their
own dtype with float32 or float64 accumulation, a bounded number of positions at a time, they equal
the float64 references, whatever the pieces and whether computed densely or gathered."""

from __future__ import annotations

import pytest
import torch

from unmask import pieces
from unmask.probabilities import Probabilities


def _logits(dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(3, 5, 300, generator=g) * 6).to(dtype)
    logits[0, 0, :290] = float("-inf")  # a position with ten possible tokens
    return logits


def _reference(logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The float64 references, from the logits' exact values."""
    exact = logits.to(torch.float64)
    log_probs = torch.log_softmax(exact, -1)
    probs = log_probs.exp()
    top = probs.topk(2, -1).values
    tokens = torch.arange(15).reshape(3, 5) * 17 % 300
    tokens[0, 0] = 295
    return {
        "log_normalizer": torch.logsumexp(exact, -1),
        "log_prob_of": log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1),
        "max_prob": probs.amax(-1),
        "margin": top[..., 0] - top[..., 1],
        "entropy": -torch.where(probs > 0, probs * log_probs, 0.0).sum(-1),
        "argmax": exact.argmax(-1),
        "tokens": tokens,
    }


def _reductions(probs: Probabilities, tokens: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {
        "log_normalizer": probs.log_normalizer(dtype),
        "log_prob_of": probs.log_prob_of(tokens, dtype),
        "max_prob": probs.max_prob(dtype),
        "margin": probs.margin(dtype),
        "entropy": probs.entropy(dtype),
        "argmax": probs.argmax(),
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_reductions_equal_the_float64_references(dtype: torch.dtype) -> None:
    """Float64 accumulation reproduces the float64 references of the logits' values to 1e-12 (bf16
    and float32 logits alike); float32 accumulation stays within float32 rounding (1e-5)."""
    logits = _logits(dtype)
    reference = _reference(logits)
    probs = Probabilities(logits)
    for accumulate, tolerance in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        got = _reductions(probs, reference["tokens"], accumulate)
        for name, value in got.items():
            if name == "argmax":
                assert torch.equal(value, reference[name])
                continue
            assert value.dtype == accumulate, name
            assert not torch.isnan(value).any(), name
            assert torch.allclose(value.double(), reference[name], rtol=tolerance, atol=tolerance), name


def test_reductions_do_not_depend_on_pieces_or_density(monkeypatch) -> None:
    """One piece, a piece per position, dense and gathered: the same numbers, bit for bit."""
    logits = _logits(torch.float32)
    tokens = _reference(logits)["tokens"]
    base = _reductions(Probabilities(logits), tokens, torch.float64)
    monkeypatch.setattr(pieces, "MIN_PIECE_VALUES", 1)
    for dense in ("0", "1"):
        monkeypatch.setenv("UNMASK_DENSE", dense)
        again = _reductions(Probabilities(logits), tokens, torch.float64)
        for name in base:
            assert torch.equal(base[name], again[name]), (name, dense)


def test_row_maps_read_the_rows_they_stand_for() -> None:
    """Probabilities over a row map (rows of a larger logits tensor) give the reductions and rows of
    those rows."""
    logits = _logits(torch.float32)
    rows = torch.tensor([2, 0, 2, 1])
    mapped, copied = Probabilities(logits, rows=rows), Probabilities(logits[rows])
    assert torch.equal(mapped.entropy(), copied.entropy())
    assert torch.equal(mapped.dense(), copied.dense())
    index = torch.tensor([0, 7, 19])
    assert torch.equal(mapped.rows(index), copied.rows(index))
    assert torch.equal(mapped.take(torch.tensor([3, 0])).dense(), copied.dense()[[3, 0]])


def test_bad_accumulation_dtype_is_refused() -> None:
    """Only float32 and float64 accumulation exist; anything else names the argument."""
    with pytest.raises(ValueError, match="accumulation dtype must be torch.float32 or torch.float64"):
        Probabilities(_logits(torch.float32)).entropy(torch.float16)


# -- only some positions (where=), kept reductions, no float64 [n, L, V] ----------------------------------
_WHERE_REDUCTIONS = ("log_normalizer", "max_prob", "margin", "entropy")


def _random_case(seed: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of a random shape (some rows with -inf entries, one with a single possible token) and
    a random ``where`` of the same ``[n, L]``."""
    g = torch.Generator().manual_seed(seed)
    n, length, size = (
        int(torch.randint(low, high, (), generator=g)) for low, high in ((1, 5), (1, 9), (1, 100))
    )
    logits = torch.randn(n, length, size, generator=g) * float(torch.rand((), generator=g) * 20 + 0.1)
    logits[torch.rand(n, length, size, generator=g) < 0.2] = float("-inf")
    logits[..., 0] = torch.randn(n, length, generator=g)  # a possible token at every position
    logits[0, 0, 1:] = float("-inf")
    where = torch.rand(n, length, generator=g) < 0.5
    return logits.to(dtype), where


def _assert_same(got: torch.Tensor, expected: torch.Tensor, size: int, label) -> None:
    """Bit for bit; within 4 ulps for ``V <= 32``, where sums over the values are matrix-vector
    products (``unmask.laws.value_sum``) whose rounding depends on the number of rows."""
    if size > 32:
        assert torch.equal(got, expected), label
    else:
        tolerance = 4 * torch.finfo(got.dtype).eps
        assert torch.allclose(got, expected, rtol=tolerance, atol=tolerance), label


@pytest.mark.parametrize("dense", ["0", "1"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_where_gives_the_full_values_at_its_positions(dtype: torch.dtype, dense: str, monkeypatch) -> None:
    """``where=`` computes the selected positions only: bit for bit the values of the full computation
    there and 0 elsewhere (max_prob, margin, entropy, log_normalizer; float64 and float32
    accumulation; random shapes, gathered and dense; see ``_assert_same`` for ``V <= 32``)."""
    monkeypatch.setenv("UNMASK_DENSE", dense)
    for seed in range(12):
        logits, where = _random_case(seed, dtype)
        for accumulate in (torch.float64, torch.float32):
            full_object, part_object = Probabilities(logits), Probabilities(logits)  # nothing kept between
            for name in _WHERE_REDUCTIONS:
                full = getattr(full_object, name)(accumulate)
                part = getattr(part_object, name)(accumulate, where=where)
                assert part.dtype == accumulate and part.shape == where.shape, name
                _assert_same(part[where], full[where], logits.shape[-1], (name, seed))
                assert torch.equal(part[~where], torch.zeros_like(part[~where])), (name, seed)
            argmax = Probabilities(logits).argmax(where=where)
            assert torch.equal(argmax[~where], torch.zeros_like(argmax[~where]))
            assert torch.equal(argmax[where], full_object.argmax()[where])


def test_where_results_match_the_float64_references() -> None:
    """At the selected positions, ``where=`` results equal the float64 references of the logits."""
    logits = _logits(torch.bfloat16)
    reference = _reference(logits)
    where = torch.rand(3, 5, generator=torch.Generator().manual_seed(3)) < 0.5
    where[0, 0] = True  # the position with ten possible tokens
    probs = Probabilities(logits)
    for name in ("max_prob", "margin", "entropy", "log_normalizer"):
        got = getattr(probs, name)(where=where)
        assert torch.allclose(got[where], reference[name][where], rtol=1e-12, atol=1e-12), name


class _CountPasses:
    """Counts the passes over the logits (calls of ``at_positions`` by ``Probabilities``)."""

    def __init__(self, monkeypatch) -> None:
        import unmask.probabilities as module

        self.count = 0
        original = module.at_positions

        def counted(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, "at_positions", counted)


def test_kept_reductions_are_reused_identically(monkeypatch) -> None:
    """A second request of a reduction (same dtype and ``where``) makes no pass over the logits and
    gives the identical numbers, as a new tensor (writing into it changes nothing kept); one pass
    gives the log-normaliser and the largest probability with any reduction."""
    passes = _CountPasses(monkeypatch)
    logits, where = _random_case(1, torch.float32)
    probs = Probabilities(logits)
    first = probs.entropy(where=where)
    assert passes.count == 1
    again = probs.entropy(where=where)
    assert passes.count == 1 and torch.equal(first, again) and again is not first
    again.fill_(7.0)
    assert torch.equal(probs.entropy(where=where), first)
    # The same pass gave these:
    fresh = Probabilities(logits)
    assert torch.equal(probs.max_prob(where=where), fresh.max_prob(where=where))
    assert torch.equal(probs.log_normalizer(where=where), fresh.log_normalizer(where=where))
    tokens = torch.randint(0, logits.shape[-1], where.shape)
    assert torch.equal(
        probs.log_prob_of(tokens, where=where), Probabilities(logits).log_prob_of(tokens, where=where)
    )
    assert passes.count == 1 + 2  # one pass of fresh, one of the last object
    assert torch.equal(fresh.log_prob_of(tokens, where=where), probs.log_prob_of(tokens, where=where))
    assert passes.count == 3  # log p(tokens) reads the kept log-normaliser
    # A result over every position serves any where (filled with 0 outside it).
    full = probs.margin()
    count = passes.count
    assert torch.equal(probs.margin(where=where), Probabilities(logits).margin(where=where))
    assert torch.equal(probs.margin(where=where)[where], full[where])
    assert passes.count == count + 1  # the new object's pass only


def test_kept_reductions_are_not_reused_across_where_dtype_or_writes(monkeypatch) -> None:
    """Another ``where`` (even an equal one: the key is the tensor), another accumulation dtype, a
    write into the logits or into ``where``, and another object (``take``) compute again."""
    passes = _CountPasses(monkeypatch)
    logits, where = _random_case(2, torch.float32)
    size = logits.shape[-1]
    probs = Probabilities(logits)
    probs.max_prob(where=where)
    other = ~where
    got = probs.max_prob(where=other)
    assert passes.count == 2
    assert torch.equal(got[where], torch.zeros_like(got[where]))
    _assert_same(got[other], Probabilities(logits).max_prob()[other], size, "other where")
    passes.count = 0
    assert probs.max_prob(torch.float32, where=where).dtype == torch.float32
    assert passes.count == 1
    probs.max_prob(where=where.clone())
    assert passes.count == 2
    where[0, 0] = ~where[0, 0]  # a write into where: its entry is stale
    changed = probs.max_prob(where=where)
    assert passes.count == 3
    assert torch.equal(changed, Probabilities(logits).max_prob(where=where))
    passes.count = 0
    logits.mul_(2.0)  # a write into the logits: every entry is stale
    doubled = probs.max_prob(where=where)
    assert passes.count == 1 and not torch.equal(doubled, changed)
    assert torch.equal(doubled, Probabilities(logits).max_prob(where=where))
    rows = torch.tensor([0, 0])
    whole = probs.entropy()
    taken = probs.take(rows)  # a new object: nothing kept is shared
    passes.count = 0
    assert torch.equal(taken.entropy(), Probabilities(logits[rows]).entropy())
    assert passes.count == 2
    assert torch.equal(taken.entropy(), whole[rows])


def test_kept_reductions_respect_gradients() -> None:
    """On the differentiable path nothing is kept: every call builds its own graph (backward twice
    works) with the gradients of the float64 reference (finite where logits are -inf); a result
    kept without gradients is not handed out when gradients are wanted."""
    logits, where = _random_case(4, torch.float64)
    logits = logits.clone().requires_grad_(True)
    probs = Probabilities(logits)
    with torch.no_grad():
        without = probs.entropy(where=where)
    assert not without.requires_grad
    for _ in range(2):
        value = probs.entropy(where=where)
        assert value.requires_grad
        (grad,) = torch.autograd.grad(value.sum(), logits)
        assert torch.allclose(value.detach(), without, rtol=1e-12, atol=1e-12)  # out-of-place formulas
        exact = logits.detach().clone().requires_grad_(True)
        log_probs = torch.log_softmax(exact, -1)
        possible = log_probs > -torch.inf
        safe = torch.where(possible, log_probs, 0.0)  # (log_probs.exp() * log_probs: NaN gradients)
        terms = torch.where(possible, safe.exp() * safe, 0.0)
        reference = torch.where(where, -terms.sum(-1), 0.0)
        (expected,) = torch.autograd.grad(reference.sum(), exact)
        assert torch.allclose(grad, expected, atol=1e-10)
        assert not torch.isnan(grad).any()


class _Float64Watch(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the largest float64 tensor any operation makes."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(value, torch.Tensor) and value.dtype == torch.float64:
                self.largest = max(self.largest, value.numel())
        return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_reductions_never_make_a_float64_logits_tensor(dtype: torch.dtype, monkeypatch) -> None:
    """No reduction (with or without ``where``, kept or not) makes a float64 tensor anywhere near
    ``[n, L, V]``: pieces of a few positions only (here 64 pieces of 2 positions)."""
    monkeypatch.setattr(pieces, "MIN_PIECE_VALUES", 1)
    g = torch.Generator().manual_seed(5)
    logits = (torch.randn(4, 32, 500, generator=g) * 5).to(dtype)
    where = torch.rand(4, 32, generator=g) < 0.7
    tokens = torch.randint(0, 500, (4, 32), generator=g)
    for dense in ("0", "1"):
        monkeypatch.setenv("UNMASK_DENSE", dense)
        watch = _Float64Watch()
        with watch:
            probs = Probabilities(logits)
            for mask in (None, where):
                probs.max_prob(where=mask)
                probs.margin(where=mask)
                probs.entropy(where=mask)
                probs.log_normalizer(where=mask)
                probs.log_prob_of(tokens, where=mask)
                Probabilities(logits).log_prob_of(tokens, where=mask)
        assert 0 < watch.largest <= 2 * 500 * 2, watch.largest  # two positions, two buffers at most


@pytest.mark.parametrize(
    "name, options",
    [("top-k", {"k": 4}), ("top-k", {"k": 4, "score": "margin"}), ("threshold", {}), ("eb", {}),
     ("eb", {"proxy": "confidence"}), ("certified", {})],
)  # fmt: skip
def test_planners_never_make_a_float64_logits_tensor(name: str, options: dict, monkeypatch) -> None:
    """A whole planner run (the reductions it ranks by, the entropies it records, the draws) makes no
    float64 tensor beyond a piece of a few positions (``[2, V]`` here) from bf16 logits."""
    import unmask

    monkeypatch.setattr(pieces, "MIN_PIECE_VALUES", 1)
    batch, length, size = 4, 32, 500
    g = torch.Generator().manual_seed(6)
    table = (torch.randn(size + 1, size, generator=g) * 3).to(torch.bfloat16)
    shift = (torch.arange(length).unsqueeze(-1) * 0.01).to(torch.bfloat16)

    def denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return table[x] + shift

    watch = _Float64Watch()
    with watch:
        unmask.sample(
            denoiser, unmask.samplers.get(name, **options), vocab_size=size, length=length,
            batch_size=batch, generator=0,
        )  # fmt: skip
    assert 0 < watch.largest <= 4 * size, watch.largest


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_masses_far_below_the_largest_are_exactly_zero(dtype: torch.dtype) -> None:
    """Logits more than the floor below a row's maximum (``-inf`` included) give mass exactly 0 in
    the float64 masses a draw reads, and a row whose other logits are all that far below has
    entropy exactly 0 and largest probability exactly 1, in either accumulation; logits just above
    the floor keep their positive mass."""
    logits = torch.zeros(1, 3, 8, dtype=torch.float64)
    logits[0, 0, 1:] = -1000.0  # below the float64 floor (about -707)
    logits[0, 1, 1:] = float("-inf")
    logits[0, 2, 1] = -700.0  # above it: exp(-700) is about 1e-304
    probs = Probabilities(logits.to(dtype))
    masses = probs.masses(torch.arange(3))
    assert torch.equal(masses[0], torch.tensor([1.0] + [0.0] * 7, dtype=torch.float64))
    assert torch.equal(masses[1], masses[0])
    if dtype == torch.float64:
        assert masses[2, 1] > 0
    for accumulate in (torch.float32, torch.float64):
        entropy = probs.entropy(accumulate)[0]
        assert entropy[0] == 0 and entropy[1] == 0
        assert probs.max_prob(accumulate)[0, 0] == 1 and probs.max_prob(accumulate)[0, 1] == 1
