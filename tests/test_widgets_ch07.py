"""Lesson 07's √d explorer shows what the scaling does to the gradient, not only the entropy."""

from __future__ import annotations

import numpy as np

from tutor.widgets.attention import D_MAX, ScalingExplorer, _gradient_size


def jacobian_norm(p):
    p = np.asarray(p, dtype=float)
    return np.linalg.norm(np.diag(p) - np.outer(p, p))


def test_gradient_size_is_the_norm_of_the_softmax_jacobian():
    rng = np.random.default_rng(0)
    for K in (1, 2, 5, 9):
        p = rng.dirichlet(np.ones(K))
        assert np.isclose(_gradient_size(p), jacobian_norm(p))
    assert _gradient_size(np.array([0.0, 1.0, 0.0])) == 0.0      # saturated: no gradient


def test_without_the_scaling_the_gradient_vanishes_as_d_grows():
    explorer = ScalingExplorer(scaled=False)
    explorer.controls["d"].value = D_MAX
    raw = explorer.gradient_marker.get_ydata()[0]
    explorer.controls["scaled"].value = True
    scaled = explorer.gradient_marker.get_ydata()[0]
    assert explorer.gradient_marker.get_xdata()[0] == D_MAX
    assert scaled > 2 * raw
    p = explorer.weights()
    assert f"‖diag(p) − ppᵀ‖ <b>{jacobian_norm(p):.3f}</b>" in explorer.readout.value
    small = explorer.mean_gradient[True]
    assert small.max() / small.min() < 3          # scaled: about the same size at every d
