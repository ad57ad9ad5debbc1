"""The sampler statistics of the engine (`tutor.statistics`): chi-square tests that are
calibrated under the null, pool rare tokens, and reject what a right sampler cannot draw."""

from __future__ import annotations

import doctest

import numpy as np

from tutor import statistics
from tutor.chapters.blocks import softmax

DRAWS = 2000
"""As many draws as a sampler check takes per input."""
ALPHA = 1e-9
"""The p-value below which a sampler check fails."""


def test_the_goodness_of_fit_test_is_calibrated_under_the_null():
    """Counts drawn from the very probabilities tested: p-values are uniform, so the fraction
    under 1 % is about 1 %, and none comes near the 1e-9 threshold."""
    rng = np.random.default_rng(0)
    probs = softmax(np.array([2.0, 1.0, 0.5, -0.5, -1.0, -3.0, -6.0]) / 0.7)
    counts = rng.multinomial(DRAWS, probs, size=20_000)
    p_values = np.array([statistics.goodness_of_fit(probs, c) for c in counts])
    assert 0.007 < np.mean(p_values < 0.01) < 0.013
    assert p_values.min() > ALPHA


def test_the_two_sample_test_is_calibrated_under_the_null():
    rng = np.random.default_rng(1)
    probs = softmax(np.array([1.0, 0.0, -0.5, 2.0, -4.0]))
    a = rng.multinomial(DRAWS, probs, size=5_000)
    b = rng.multinomial(DRAWS, probs, size=5_000)
    p_values = np.array([statistics.same_distribution(x, y) for x, y in zip(a, b, strict=True)])
    assert 0.006 < np.mean(p_values < 0.01) < 0.014
    assert p_values.min() > ALPHA


def test_a_wrong_distribution_is_rejected():
    """softmax(z / T) drawn with T 30 % off: 2000 draws are enough to tell."""
    rng = np.random.default_rng(2)
    z = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]) / 0.5
    counts = rng.multinomial(DRAWS, softmax(z / 1.3))
    assert statistics.goodness_of_fit(softmax(z), counts) < 1e-3


def test_two_different_distributions_are_told_apart():
    rng = np.random.default_rng(3)
    a = rng.multinomial(DRAWS, softmax(np.array([2.0, 1.0, 0.0])))
    b = rng.multinomial(DRAWS, softmax(np.array([1.0, 2.0, 0.0])))
    assert statistics.same_distribution(a, b) < ALPHA


def test_a_token_the_distribution_cannot_produce_fails_at_once():
    assert statistics.goodness_of_fit([1.0, 0.0, 0.0], [999, 1, 0]) == 0.0


def test_a_rare_token_drawn_too_often_fails_even_with_one_pooled_group():
    probs = np.array([1 - 1e-6, 1e-6])  # every pooled group but one expects < 10 draws
    assert statistics.goodness_of_fit(probs, [DRAWS, 0]) == 1.0
    assert statistics.goodness_of_fit(probs, [DRAWS - 5, 5]) < ALPHA


def test_rare_tokens_are_pooled_until_each_group_expects_enough_draws():
    expected, counts = statistics.pooled(np.array([1.0, 4.0, 6.0, 40.0, 49.0]),
                                         np.array([[0, 5, 6, 40, 49], [2, 3, 5, 41, 49]]))
    assert expected.tolist() == [11.0, 40.0, 49.0]
    assert counts.tolist() == [[11, 40, 49], [10, 41, 49]]
    assert expected.min() >= statistics.MIN_EXPECTED


def test_a_leftover_group_too_small_joins_the_last_one():
    expected, counts = statistics.pooled(np.array([6.0, 3.0, 2.0]), np.array([[5, 3, 3]]))
    assert expected.tolist() == [11.0] and counts.tolist() == [[11]]


def test_the_examples_in_the_docstrings_hold():
    failed, tried = doctest.testmod(statistics)
    assert tried >= 4 and failed == 0
