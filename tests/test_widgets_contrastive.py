"""The explorer of lesson 06b's CLIP section: a τ slider on the image → text similarity softmax
of a batch of pairs (heatmap) and on the contrastive loss."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tutor.chapters.ch06_temperature import CLIP_IMAGES, CLIP_TEXTS, clip_loss
from tutor.widgets.contrastive import ContrastiveExplorer, contrastive_losses, cosine_similarities


def test_the_heatmap_shows_each_rows_softmax_and_the_table_every_cell():
    e = ContrastiveExplorer(CLIP_IMAGES, CLIP_TEXTS, tau=0.5)
    P = np.asarray(e.heatmap.get_array())
    assert P.shape == (3, 3)
    assert np.allclose(P.sum(axis=1), 1.0)
    assert np.allclose([float(c.get_text()) for c in e.cells], np.diagonal(P), atol=0.005)
    cells = re.findall(r"<td>(?:<b>)?([0-9.]+)", e.readout.value)
    assert np.allclose(np.array(cells, dtype=float).reshape(3, 3), P, atol=5e-4)
    assert [t.get_text() for t in e.plot.ax.get_xticklabels()] == ["text 0", "text 1", "text 2"]


def test_lowering_tau_sharpens_the_diagonal_and_lowers_the_loss():
    e = ContrastiveExplorer(CLIP_IMAGES, CLIP_TEXTS, tau=1.0)
    renders = e.plot.renders
    flat = np.diagonal(np.asarray(e.heatmap.get_array())).copy()
    e.controls["tau"].value = 0.07
    assert e.plot.renders == renders + 1
    sharp = np.diagonal(np.asarray(e.heatmap.get_array()))
    assert np.all(sharp > flat) and sharp.min() > 0.9
    assert "mean <b>0.0272</b>" in e.readout.value
    assert "logit scale 1/τ = 14.3" in e.readout.value


def test_the_marker_sits_on_the_loss_curve_at_the_sliders_tau():
    e = ContrastiveExplorer(CLIP_IMAGES, CLIP_TEXTS, tau=0.07)
    e.controls["tau"].value = 0.3
    x, y = e.marker.get_data()
    assert list(x) == [0.3] and list(e.cursor.get_xdata()) == [0.3, 0.3]
    assert y[0] == pytest.approx(clip_loss(CLIP_IMAGES, CLIP_TEXTS, 0.3))


def test_the_explorers_loss_is_the_problems_reference():
    S = cosine_similarities(CLIP_IMAGES, CLIP_TEXTS)
    for tau in (0.01, 0.07, 0.5, 1.0):
        assert contrastive_losses(S, tau)[2] == pytest.approx(clip_loss(CLIP_IMAGES,
                                                                        CLIP_TEXTS, tau))


def test_the_two_directions_differ_on_an_unbalanced_batch():
    image = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    text = np.array([[1.0, 0.05], [0.7, 0.7], [0.1, 1.0]])
    i2t, t2i, mean = contrastive_losses(cosine_similarities(image, text), 0.1)
    assert i2t != pytest.approx(t2i) and mean == pytest.approx((i2t + t2i) / 2)
