"""ReMDM-conf (``ReMDM(variant="confidence")``): drawn outputs follow the law of the algorithm,
computed here by a slow brute-force recursion over (state, confidence memory) pairs that shares
nothing with the library's step; one step's remask frequencies follow ``sigma_i = eta_i sigma_max``
with the confidence softmax; rows do not depend on the batch; fixed positions never change; the
exact law and bad hyperparameters are refused with their reasons."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import unmask
from stats import CHI_SQUARE_LEVEL, chi_square_pvalue
from unmask.bench.specs import parse_sampler_spec
from unmask.exact import output_law, path_kl, run_law, tv
from unmask.samplers.correctors import PredictorCorrector, ReMDM
from unmask.targets import MarkovChain

BATCH = 100_000


def target() -> MarkovChain:
    """V = 2, L = 3, no output of probability below 0.018 (so no chi-square cell is pooled away)."""
    return MarkovChain.random(vocab_size=2, length=3, concentration=1.0, seed=1)


def conditionals(table: torch.Tensor, z: tuple[int, ...], mask: int) -> dict[int, list[float]]:
    """``{i: [p(x_i = v | clean entries of z)]}`` for the masked positions ``i`` of ``z``, from
    the target's table ``[V] * L`` (what its exact denoiser returns)."""
    joint = table[tuple(slice(None) if token == mask else token for token in z)]
    masked = [i for i, token in enumerate(z) if token == mask]
    total = float(joint.sum())
    out = {}
    for k, i in enumerate(masked):
        others = [d for d in range(len(masked)) if d != k]
        marginal = joint.sum(dim=others) if others else joint
        out[i] = [float(m) / total for m in marginal]
    return out


def brute_force_law(
    table: torch.Tensor, grid: list[float], sign: float = -1.0, uniform_weights: bool = False
) -> torch.Tensor:
    """The output law ``[V] * L`` of ReMDM-conf on the linear schedule (``alpha = 1 - t``) over
    ``grid``, by recursion over (z, psi) pairs with their probabilities.

    Step ``t -> s``: ``sigma_max = min(1, (1 - alpha_s) / alpha_t)`` (1 at ``alpha_t = 0``); a
    clean position ``i`` is remasked with ``sigma_max exp(psi_i) / sum_{j clean} exp(psi_j)``
    (``psi`` becomes ``-inf``); a masked one is revealed with ``(alpha_s - alpha_t) / (1 -
    alpha_t)`` (1 at ``s = 0``) to ``v ~ p(. | z)`` and ``psi_i = -p(v | z)``. ``sign = +1`` and
    ``uniform_weights`` (``eta_i = 1 / #clean``) give wrong variants, to show the test's power.
    """
    vocab, length = table.shape[0], table.dim()
    states = {(tuple([vocab] * length), tuple([-math.inf] * length)): 1.0}
    for t, s in itertools.pairwise(grid):
        alpha_t, alpha_s = 1 - t, 1 - s
        sigma_max = 1.0 if alpha_t <= 0 else min(1.0, (1 - alpha_s) / alpha_t)
        reveal = 1.0 if s <= 0 else (alpha_s - alpha_t) / (1 - alpha_t)
        after: dict[tuple, float] = {}
        for (z, psi), mass in states.items():
            given = conditionals(table, z, vocab)
            weights = {
                i: 1.0 if uniform_weights else math.exp(psi[i]) for i in range(length) if z[i] != vocab
            }
            total = sum(weights.values())
            options = []
            for i in range(length):
                if z[i] != vocab:
                    sigma = sigma_max * weights[i] / total
                    options.append([((z[i], psi[i]), 1 - sigma), ((vocab, -math.inf), sigma)])
                else:
                    stay = [((vocab, -math.inf), 1 - reveal)]
                    options.append(stay + [((v, sign * p), reveal * p) for v, p in enumerate(given[i])])
            for outcome in itertools.product(*options):
                probability = mass * math.prod(p for _, p in outcome)
                if probability > 0:
                    key = (tuple(o[0][0] for o in outcome), tuple(o[0][1] for o in outcome))
                    after[key] = after.get(key, 0.0) + probability
        states = after
    law = torch.zeros([vocab] * length, dtype=torch.float64)
    for (z, _), mass in states.items():
        law[z] += mass
    return law


def test_draws_follow_the_brute_force_law() -> None:
    """3 uniform steps: 100,000 drawn sequences pass a chi-square test (level 1e-3) against the
    brute-force law (a distribution, away from the target and from Tweedie's law by more than
    0.01 TV). The same test rejects the law with the memory's sign flipped (``psi = +p``; TV 0.011,
    noncentrality about 200 on 7 degrees of freedom) and Tweedie's law, so it can fail. Every
    path log-probability is finite and no mask id is left."""
    chain = target()
    steps = 3
    law = brute_force_law(chain.probs(), [1 - k / steps for k in range(steps + 1)])
    assert abs(float(law.sum()) - 1) < 1e-12
    tweedie = output_law(chain, "tweedie", steps)
    assert tv(law, tweedie) > 0.01 and tv(law, chain.probs()) > 0.01
    drawn = unmask.sample(
        chain.denoiser(), unmask.samplers.get("remdm", variant="confidence"), vocab_size=2, length=3,
        batch_size=BATCH, steps=steps, generator=1,
    )  # fmt: skip
    assert bool((drawn.tokens < 2).all())
    assert bool(torch.isfinite(drawn.log_prob).all())
    assert chi_square_pvalue(drawn.tokens, law) > CHI_SQUARE_LEVEL
    flipped = brute_force_law(chain.probs(), [1 - k / steps for k in range(steps + 1)], sign=1.0)
    assert chi_square_pvalue(drawn.tokens, flipped) < CHI_SQUARE_LEVEL
    assert chi_square_pvalue(drawn.tokens, tweedie) < CHI_SQUARE_LEVEL


def test_second_step_remasks_by_the_confidence_softmax() -> None:
    """Grid 1 -> 0.4 -> 0.2 -> 0 on the linear schedule (V = 3, L = 4): the first step reveals
    each position with probability 0.6 from the all-mask state, so a revealed token ``v`` at ``i``
    has ``psi_i = -pi_i(v)`` (its marginal under the target); the second step (``alpha`` 0.6 ->
    0.8, ``sigma_max = 1/3``) remasks it with ``sigma_i = sigma_max exp(psi_i) / sum_{j clean}
    exp(psi_j)``. Over 20,000 rows, the remask counts per (state after step 1, position) pass a
    chi-square test of the binomial counts (level 1e-3); the same counts reject equal weights
    ``sigma_max / #clean`` and every remasking probability of a row sums to ``sigma_max``."""
    chain = MarkovChain.random(vocab_size=3, length=4, concentration=0.5, seed=2)
    mask = chain.vocab_size
    marginals = torch.stack(
        [chain.probs().sum(dim=[d for d in range(4) if d != i]) for i in range(4)]
    )  # [L, V]
    drawn = unmask.sample(
        chain.denoiser(), ReMDM(variant="confidence"), vocab_size=3, length=4, batch_size=20_000,
        grid=torch.tensor([1.0, 0.4, 0.2, 0.0], dtype=torch.float64), generator=2, return_trajectory=True,
    )  # fmt: skip
    first, second = drawn.trajectory[1], drawn.trajectory[2]
    clean = first != mask
    remasked = clean & (second == mask)
    psi = torch.where(clean, -marginals[torch.arange(4), first.clamp(max=2)], -math.inf)
    softmax = torch.where(clean, psi.exp(), 0.0)
    softmax = softmax / softmax.sum(-1, keepdim=True).clamp(min=1e-300)
    predicted = softmax / 3
    equal = torch.where(clean, 1 / clean.sum(-1, keepdim=True).clamp(min=1), 0.0) / 3
    assert torch.allclose(predicted.sum(-1)[clean.any(-1)], torch.tensor(1 / 3, dtype=torch.float64))

    def pvalue(sigma: torch.Tensor) -> float:
        """Sum over (state, position) cells of (remasks - n sigma)^2 / (n sigma (1 - sigma)),
        chi-square with one degree of freedom per cell."""
        codes = (first * 4 ** torch.arange(4)).sum(-1)
        stat, cells = 0.0, 0
        for code in codes.unique():
            rows = codes == code
            n = int(rows.sum())
            for i in range(4):
                p = float(sigma[rows, i][0])
                if 0 < p < 1 and n * p >= 5 and n * (1 - p) >= 5:
                    observed = float(remasked[rows, i].sum())
                    stat += (observed - n * p) ** 2 / (n * p * (1 - p))
                    cells += 1
        assert cells >= 20
        return float(torch.special.gammaincc(torch.tensor(cells / 2.0), torch.tensor(stat / 2)))

    assert pvalue(predicted) > CHI_SQUARE_LEVEL
    assert pvalue(equal) < CHI_SQUARE_LEVEL


def test_same_rows_whatever_the_batch_size() -> None:
    """With the same seed, the first 3 rows of a batch of 8 equal a batch of 3: tokens, path
    log-probabilities and the whole trajectory (the memory of a row depends on that row only)."""
    chain = MarkovChain.random(vocab_size=3, length=5, concentration=0.5, seed=0)

    def run(batch: int) -> unmask.SampleResult:
        return unmask.sample(
            chain.denoiser(), ReMDM(variant="confidence"), vocab_size=3, length=5, batch_size=batch,
            steps=6, generator=torch.Generator().manual_seed(5), return_trajectory=True,
        )  # fmt: skip

    small, large = run(3), run(8)
    assert torch.equal(small.tokens, large.tokens[:3])
    assert torch.equal(small.log_prob, large.log_prob[:3])
    assert torch.equal(small.trajectory, large.trajectory[:, :3])


def test_prompt_positions_are_never_remasked() -> None:
    """A prompt token at position 2 and padding at position 4 (300 rows, 8 steps): every state of
    the trajectory keeps the prompt token and the padding entry, the output has no mask at a
    free position, and remasking did happen elsewhere (a clean free position became masked)."""
    chain = MarkovChain.random(vocab_size=3, length=5, concentration=0.5, seed=0)
    mask = chain.vocab_size
    prompt = torch.full((300, 5), mask)
    prompt[:, 2] = 1
    exists = torch.ones(300, 5, dtype=torch.bool)
    exists[:, 4] = False
    exact = chain.denoiser()

    def denoiser(x_t, t, attention_mask):  # padding holds the mask id: the exact model marginalises it
        return exact(x_t, t)

    drawn = unmask.sample(
        denoiser, ReMDM(variant="confidence"), vocab_size=3, prompt=prompt, attention_mask=exists,
        steps=8, generator=4, return_trajectory=True,
    )  # fmt: skip
    states = drawn.trajectory
    assert bool((states[:, :, 2] == 1).all()) and bool((states[:, :, 4] == mask).all())
    assert bool((drawn.tokens[:, :4] != mask).all())
    assert bool(((states[:-1] != mask) & (states[1:] == mask)).any())


class Untouchable:
    """A denoiser that fails the test if it is ever called."""

    time_agnostic = True

    def __call__(self, z, t):
        raise AssertionError("the exact law did work before refusing")


def test_exact_law_is_refused_before_any_work() -> None:
    """output_law, run_law and path_kl raise ValueError with the sampler's reason (the per-token
    memory, the (state, memory) pairs, the alternatives) before calling the denoiser, for ReMDM-conf
    by object and by registry spec text, and for a predictor-corrector whose predictor it is."""
    chain = target()
    sampler = unmask.samplers.get("remdm", variant="confidence")
    reason = sampler.exact_law_refusal()
    assert "(state, memory) pairs" in reason and "'cap'" in reason and "sampling" in reason
    assert ReMDM(variant="cap").exact_law_refusal() is None
    for call in (
        lambda: output_law(chain, sampler, 4, denoiser=Untouchable()),
        lambda: run_law(chain, sampler, 4, denoiser=Untouchable()),
        lambda: path_kl(chain, sampler, 4),
        lambda: run_law(chain, PredictorCorrector(predictor=sampler), 4, denoiser=Untouchable()),
    ):
        with pytest.raises(ValueError, match=r"no exact output law for sampler .*per-token memory") as error:
            call()
        assert reason in str(error.value)
    spec = parse_sampler_spec("remdm:variant=confidence", "masked")
    assert spec.build() == sampler


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"eta": 0.05}, r"eta does not apply to variant='confidence'.*got eta=0\.05"),
        ({"eta": 0.5}, r"eta does not apply to variant='confidence'.*got eta=0\.5"),
        ({"t_on": 0.5}, r"t_on applies only to variant='loop'.*with variant='confidence'"),
    ],
)
def test_bad_hyperparameters_raise(fields, error) -> None:
    """Any eta (the confidence variant's strengths come from its memory) or a loop field with
    variant='confidence' raises, naming the field and its value."""
    with pytest.raises(ValueError, match=error):
        ReMDM(variant="confidence", **fields)


def test_conf_alias_points_to_the_name() -> None:
    """variant='conf' (the paper code's remdm-conf) raises, naming 'confidence'; the other variants
    keep eta = 0.05 when it is not given."""
    with pytest.raises(ValueError, match=r"variant 'conf' is spelled 'confidence'"):
        ReMDM(variant="conf")
    assert ReMDM().eta == ReMDM(variant="loop").eta == 0.05
    assert ReMDM(variant="confidence").eta is None
