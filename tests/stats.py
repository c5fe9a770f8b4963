"""Statistical tests shared by the test suite."""

from __future__ import annotations

import torch

#: Significance level of every chi-square test in the suite (a false failure 1 time in 1000).
CHI_SQUARE_LEVEL = 1e-3


def chi_square_pvalue(samples: torch.Tensor, law: torch.Tensor) -> float:
    """P-value of Pearson's chi-square test of ``samples [n, L]`` against the table ``law [V] * L``.

    A sample in a cell of probability 0 fails outright (asserted). Cells with expected count below 5
    are pooled into one cell; the p-value is ``Q(df/2, stat/2)`` (regularised upper gamma).
    """
    vocab_size, length = law.shape[0], law.dim()
    flat = law.reshape(-1).to(torch.float64)
    powers = vocab_size ** torch.arange(length - 1, -1, -1)
    counts = torch.bincount((samples * powers).sum(-1), minlength=flat.numel()).to(torch.float64)
    assert counts[flat <= 0].sum() == 0, "a sequence of probability 0 was sampled"
    expected = len(samples) * flat
    big = expected >= 5
    small = ~big & (flat > 0)
    observed = torch.cat([counts[big], counts[small].sum().reshape(1)])
    wanted = torch.cat([expected[big], expected[small].sum().reshape(1)])
    observed, wanted = observed[wanted > 0], wanted[wanted > 0]
    stat = ((observed - wanted) ** 2 / wanted).sum()
    df = observed.numel() - 1
    if df == 0:
        return 1.0
    return float(torch.special.gammaincc(torch.tensor(df / 2.0, dtype=torch.float64), stat / 2))
