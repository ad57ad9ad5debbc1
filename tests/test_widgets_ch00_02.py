"""The explorers of lessons 00-02: moving a control puts the right numbers on screen (bar
heights, line data, labels, readout), and the cached-background redraw shows exactly what a
full redraw would."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tutor
from tutor.chapters.ch01_logits import logit, sigmoid
from tutor.chapters.ch02_softmax import softmax
from tutor.widgets.logits import EvidenceExplorer, SigmoidExplorer
from tutor.widgets.softmax import MultiLabelExplorer, SoftmaxExplorer
from tutor.widgets.start_here import WidgetCheck, scratch_progress


def heights(bars):
    return np.array([bar.get_height() for bar in bars])


def pixels(plot):
    return np.asarray(Image.open(io.BytesIO(plot.image.value)).convert("RGBA"))


# --- 00 start here ---------------------------------------------------------------------------

def test_widget_check_redraws_the_wave_at_the_new_frequency():
    e = WidgetCheck()
    e.controls["frequency"].value = 2.5
    assert np.allclose(e.wave.get_ydata(), np.sin(2.5 * e.x))
    assert e.title.get_text() == "y = sin(2.50 · x)"
    assert e.readout.value.startswith("frequency = <b>2.50</b>")


def test_scratch_progress_keeps_a_demo_out_of_the_learners_progress():
    from tutor import progress_store

    home = os.environ.get("TUTOR_HOME")
    before = progress_store.load()["problems"].get("softmax")
    with scratch_progress() as folder:
        assert progress_store.path().parent == Path(folder)
        assert tutor.check("softmax", softmax, seed=0).passed
    assert os.environ.get("TUTOR_HOME") == home
    assert not os.path.exists(folder)
    assert progress_store.load()["problems"].get("softmax") == before


def test_scratch_progress_restores_the_folder_after_an_error():
    home = os.environ.get("TUTOR_HOME")
    with pytest.raises(RuntimeError), scratch_progress():
        raise RuntimeError("a demo cell failed")
    assert os.environ.get("TUTOR_HOME") == home


# --- 01 logits -------------------------------------------------------------------------------

def test_logit_slider_moves_the_marker_along_the_sigmoid():
    e = SigmoidExplorer()
    e.controls["z"].value = 2.0
    x, y = e.marker.get_data()
    assert list(x) == [2.0] and np.isclose(y[0], sigmoid(2.0))
    assert np.allclose(heights(e.bars), [sigmoid(2.0), 1 - sigmoid(2.0)])
    assert [t.get_text() for t in e.bar_labels] == ["0.881", "0.119"]
    assert e.label.get_text() == "  σ(2.0) = 0.881"


def test_odds_readout_is_e_to_the_logit():
    e = SigmoidExplorer()
    e.controls["z"].value = float(np.log(3.0))
    assert e.odds_title.get_text() == "odds 3 : 1"
    assert "odds p/(1 − p) = e<sup>z</sup> = <b>3</b> (3 : 1)" in e.readout.value
    e.controls["z"].value = -2.0
    assert e.odds_title.get_text() == "odds 1 : 7.39"
    assert "p = σ(z) = <b>0.1192</b>" in e.readout.value


def test_sigmoid_explorer_draws_the_lessons_own_function():
    calls = []

    def my_sigmoid(z):
        calls.append(np.asarray(z).shape)
        return sigmoid(z)

    e = SigmoidExplorer(my_sigmoid, z=0.0)
    assert calls, "the curve was not computed with the function passed in"
    e.controls["z"].value = 1.5
    assert calls[-1] == (1,)
    assert np.isclose(e.marker.get_data()[1][0], sigmoid(1.5))


def test_evidence_of_ln4_takes_a_prior_of_one_fifth_to_one_half():
    e = EvidenceExplorer(prior=0.2, delta=float(np.log(4.0)))
    (x_after,), (y_after,) = e.after.get_data()
    assert np.isclose(x_after, 0.0, atol=1e-12) and np.isclose(y_after, 0.5)
    assert np.isclose(e.before.get_data()[0][0], logit(0.2))
    assert e.title.get_text() == "p: 0.200 → 0.500   (odds × 4)"
    e.controls["delta"].value = -4.0
    assert np.isclose(e.after.get_data()[1][0], sigmoid(logit(0.2) - 4.0))
    assert "p 0.2000 → <b>0.0046</b>" in e.readout.value


# --- 02 softmax ------------------------------------------------------------------------------

def test_default_logits_show_the_lessons_softmax_of_2_1_0():
    e = SoftmaxExplorer()
    assert np.allclose(heights(e.prob_bars), [0.665, 0.245, 0.090], atol=5e-4)
    assert [t.get_text() for t in e.prob_labels] == ["66.5%", "24.5%", "9.0%"]
    assert "sum = <b>1.000000</b>" in e.readout.value
    assert "argmax = <b>class 0</b>" in e.readout.value


def test_cat_dog_bird_bars_read_97_3_and_0_3_and_2_4_percent():
    e = SoftmaxExplorer(logits=(4.5, -1.2, 0.8), labels=("cat", "dog", "bird"))
    assert [t.get_text() for t in e.prob_labels] == ["97.3%", "0.3%", "2.4%"]
    assert "argmax = <b>cat</b>" in e.readout.value


def test_adding_c_moves_the_logits_and_leaves_the_probabilities():
    e = SoftmaxExplorer()
    before = heights(e.prob_bars)
    e.controls["add c"].value = 3.0
    assert np.allclose(heights(e.logit_bars), [5.0, 4.0, 3.0])
    assert np.allclose(heights(e.prob_bars), before)
    assert [t.get_text() for t in e.logit_labels] == ["5.00", "4.00", "3.00"]
    assert "logits 1.00·z +3.00 = (5.00, 4.00, 3.00)" in e.readout.value


def test_multiplying_by_zero_gives_uniform_and_by_three_sharpens():
    e = SoftmaxExplorer()
    e.controls["multiply s"].value = 0.0
    assert np.allclose(heights(e.prob_bars), 1 / 3)
    e.controls["multiply s"].value = 3.0
    assert np.allclose(heights(e.prob_bars), softmax(3.0 * np.array([2.0, 1.0, 0.0])))
    assert heights(e.prob_bars)[0] > 0.95


def test_moving_one_logit_changes_the_argmax_and_its_colour():
    e = SoftmaxExplorer()
    e.controls["class 2"].value = 3.0
    assert "argmax = <b>class 2</b>" in e.readout.value
    colours = [bar.get_facecolor() for bar in e.prob_bars]
    assert colours[2] != colours[0] and colours[0] == colours[1]


def test_softmax_explorer_uses_the_lessons_own_function():
    seen = []

    def softmax_1d(z):
        seen.append(np.array(z))
        e = np.exp(z)
        return e / e.sum()

    e = SoftmaxExplorer(softmax_1d)
    e.controls["class 1"].value = -2.0
    assert np.allclose(seen[-1], [2.0, -2.0, 0.0])


def test_multi_label_shows_softmax_competing_and_sigmoids_not():
    e = MultiLabelExplorer()
    assert np.allclose(heights(e.softmax_bars), softmax(np.array([3.0, 3.0, -2.0])))
    assert np.allclose(heights(e.sigmoid_bars), sigmoid(np.array([3.0, 3.0, -2.0])))
    assert "above 0.5: <b>cat, dog</b>" in e.readout.value
    assert e.title.get_text() == "softmax sums to 1.00, sigmoids to 2.02"
    e.controls["bird"].value = 4.0
    assert "above 0.5: <b>cat, dog, bird</b>" in e.readout.value
    assert "picks one: <b>bird</b>" in e.readout.value


# --- the cached-background redraw (LivePlot.animate) -----------------------------------------

@pytest.mark.parametrize("make", [SigmoidExplorer, SoftmaxExplorer, EvidenceExplorer,
                                  MultiLabelExplorer, WidgetCheck])
def test_a_cached_redraw_shows_the_same_pixels_as_a_full_redraw(make):
    e = make()
    for control in e.controls.values():
        control.value = control.min + 0.3 * (control.max - control.min)
    cached = pixels(e.plot)
    e.plot.invalidate()
    e.plot.refresh()
    assert np.array_equal(cached, pixels(e.plot)), "an old position was left on screen"
