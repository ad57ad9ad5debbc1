"""Invariants that hold for every input, checked with hypothesis."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tutor import assign, checking, registry

settings.register_profile("course", deadline=None, max_examples=60)
settings.load_profile("course")

softmax = registry.get("softmax").reference
sigmoid = registry.get("sigmoid").reference
logit = registry.get("logit").reference

logit_arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                                        max_side=5),
                          elements=st.floats(-30, 30))


@given(logit_arrays, st.data())
def test_softmax_is_a_distribution_along_the_axis(z, data):
    axis = data.draw(st.integers(-z.ndim, z.ndim - 1))
    p = softmax(z, axis=axis)
    assert p.shape == z.shape
    assert np.all(p > 0)
    assert np.allclose(p.sum(axis=axis), 1.0)


@given(logit_arrays, st.floats(-100, 100))
def test_softmax_ignores_a_shift_and_keeps_the_order(z, c):
    p = softmax(z)
    assert np.allclose(softmax(z + c), p, atol=1e-12)
    order = np.argsort(z, axis=-1, kind="stable")
    assert np.all(np.diff(np.take_along_axis(p, order, axis=-1), axis=-1) >= -1e-15)


@given(st.floats(-30, 30), st.floats(-30, 30))
def test_two_class_softmax_is_the_sigmoid_of_the_difference(a, b):
    assert np.isclose(softmax(np.array([a, b]))[0], sigmoid(a - b), rtol=1e-12, atol=1e-300)


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(1e-6, 1 - 1e-6)))
def test_sigmoid_undoes_logit(p):
    assert np.allclose(sigmoid(logit(p)), p, rtol=1e-9)


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-1e4, 1e4)))
def test_sigmoid_is_finite_and_in_the_unit_interval(x):
    s = sigmoid(x)
    assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))


finite_or_not = hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=4),
                           elements=st.floats(allow_nan=True, allow_infinity=True))


@given(finite_or_not)
def test_an_array_always_matches_itself(x):
    assert checking.compare_arrays(x, x.copy(), checking.Tolerance(1e-6, 1e-9)) is None


@given(hnp.arrays(np.float64, st.integers(1, 10), elements=st.floats(-1e6, 1e6)),
       st.integers(0, 9))
def test_a_change_beyond_the_tolerance_is_always_caught(x, i):
    i %= x.size
    tol = checking.Tolerance(1e-6, 1e-9)
    y = x.copy()
    y[i] += 10 * (tol.atol + tol.rtol * abs(x[i]))
    assert checking.compare_arrays(x, y, tol) is not None


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="#\r"), max_size=30),
                max_size=8))
def test_cells_without_markers_pass_through_unchanged(lines):
    source = "\n".join(lines)
    assert assign.strip_solutions(source) == source


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=10)
def test_every_model_answer_passes_whatever_the_seed(seed):
    for problem in registry.problems():
        result = checking.run(problem, problem.reference, seed=seed)
        assert result.passed, (problem.id, seed, result.message)
