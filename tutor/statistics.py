"""Statistical tests for problems whose answer is a random draw (a sampler's tokens).

A sampler cannot be compared with a reference value by value: its check draws many tokens and
asks whether their counts could come from the distribution they should follow. Two tests serve:

- `goodness_of_fit(probs, counts)`: could `counts` be draws from `probs`? (the learner's
  sampler against softmax(z / T), or against the exact distribution a buggy twin draws from)
- `same_distribution(counts_a, counts_b)`: could two samples of equal size come from one
  distribution? (two samplers whose distributions are known only through their draws)

Both return a p-value from a chi-square test. Tokens are pooled, least likely first, until each
group expects at least `MIN_EXPECTED` draws, where the chi-square approximation is accurate, so a
check that rejects below a p-value `alpha` fails a right sampler with probability about `alpha`.

    >>> goodness_of_fit([0.5, 0.5], [500, 500])
    1.0
"""

from __future__ import annotations

import numpy as np

MIN_EXPECTED = 10.0
"""Tokens are pooled until every group expects this many draws, where the test is accurate."""

NEVER = 1e-12
"""A token whose probability is below this cannot be drawn by a right sampler in any check."""


def pooled(expected, counts) -> tuple[np.ndarray, np.ndarray]:
    """Tokens merged, least likely first, into groups that expect ≥ MIN_EXPECTED draws each:
    (expected per group, counts per group for each row of `counts`).

    >>> pooled(np.array([1.0, 9.0, 90.0]), np.array([[2, 8, 90]]))
    (array([10., 90.]), array([[10, 90]]))
    """
    expected = np.asarray(expected, dtype=float)
    counts = np.asarray(counts)
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0.0
    for i in np.argsort(expected, kind="stable"):
        current.append(int(i))
        total += expected[i]
        if total >= MIN_EXPECTED:
            groups.append(current)
            current, total = [], 0.0
    if current:
        if groups:
            groups[-1] += current
        else:
            groups.append(current)
    e = np.array([expected[g].sum() for g in groups])
    c = np.array([[row[g].sum() for g in groups] for row in counts])
    return e, c


def goodness_of_fit(probs, counts) -> float:
    """p-value of a chi-square test of `counts` (draws per token) against `probs`.

    A token a right sampler could essentially never draw (probability under `NEVER`) that was
    drawn gives 0 at once. Tokens are pooled until each group expects ≥ MIN_EXPECTED draws; when
    that leaves one group, the rare tokens are tested alone with a Poisson tail.

    >>> goodness_of_fit([1.0, 0.0], [999, 1])
    0.0
    """
    from scipy import special

    probs = np.asarray(probs, dtype=float)
    counts = np.asarray(counts, dtype=float)
    n = counts.sum()
    if np.any((probs < NEVER) & (counts > 0)):
        return 0.0
    e, (c,) = pooled(n * probs, counts[None])
    if len(e) >= 2:
        return float(special.chdtrc(len(e) - 1, np.sum((c - e) ** 2 / e)))
    rare = probs < probs.max()
    drawn, mean = counts[rare].sum(), n * probs[rare].sum()
    return 1.0 if drawn <= mean else float(special.pdtrc(drawn - 1, mean))


def same_distribution(counts_a, counts_b) -> float:
    """p-value of a chi-square test that two samples of equal size come from one distribution.

    >>> same_distribution([500, 500], [500, 500])
    1.0
    """
    from scipy import special

    a, b = np.asarray(counts_a, dtype=float), np.asarray(counts_b, dtype=float)
    e, c = pooled((a + b) / 2, np.stack([a, b]))
    if len(e) < 2:
        return 1.0
    return float(special.chdtrc(len(e) - 1, np.sum((c - e) ** 2 / e)))
