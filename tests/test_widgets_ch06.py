"""The explorers of lesson 06: temperature, top-k and top-p on a toy vocabulary (kept set,
renormalised bars, entropy) and temperature scaling on a reliability diagram (ECE, NLL)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from PIL import Image

from tutor.widgets.temperature import (
    BOUNDARY,
    DROPPED,
    KEPT,
    LOGITS,
    TOKENS,
    CalibrationExplorer,
    SamplingExplorer,
    bin_index,
    entropy_of,
    mean_nll,
    overconfident_classifier,
    reliability,
)


def heights(bars):
    return np.array([bar.get_height() for bar in bars])


def kept_mask(e):
    """Which bars are drawn in the kept colour (the others must be in the dropped colour)."""
    colours = [bar.get_facecolor() for bar in e.prob_bars]
    assert all(c in (to_rgba(KEPT), to_rgba(DROPPED)) for c in colours)
    return np.array([c == to_rgba(KEPT) for c in colours])


def outlined(e):
    return [i for i, bar in enumerate(e.prob_bars) if bar.get_edgecolor() == to_rgba(BOUNDARY)]


def softmax(z, T=1.0):
    e = np.exp((np.asarray(z, dtype=float) - np.max(z)) / T)
    return e / e.sum()


def pixels(plot):
    return np.asarray(Image.open(io.BytesIO(plot.image.value)).convert("RGBA"))


DYADIC = np.log([0.5, 0.25, 0.125, 0.125])
"""Probabilities 1/2, 1/4, 1/8, 1/8 exactly: cumulative sums 0.5, 0.75, 0.875, 1."""


# --- temperature, top-k, top-p -----------------------------------------------------------------

def test_at_T_1_with_no_filter_every_token_is_kept_and_nothing_is_renormalised():
    e = SamplingExplorer()
    p = softmax(sorted(LOGITS, reverse=True))
    assert np.allclose(heights(e.prob_bars), p)
    assert np.allclose(heights(e.final_bars), p)
    assert kept_mask(e).all() and outlined(e) == []
    assert e.tokens[0] == TOKENS[int(np.argmax(LOGITS))]
    assert "kept <b>10</b> of 10" in e.readout.value and "top-p off" in e.readout.value
    assert f"entropy of softmax(z / T) <b>{entropy_of(p):.3f}</b> nats" in e.readout.value


def test_draw_button_samples_only_kept_tokens_and_marks_their_shares():
    e = SamplingExplorer()
    e.controls["top-k"].value = 3
    assert not e.draw_marks.get_visible() and "draws:" not in e.readout.value
    e.draw_button.click()
    drawn = e.drawn
    assert drawn is not None and len(drawn) == 20
    assert set(drawn.tolist()) <= {0, 1, 2}                # only the three kept tokens
    counts = np.bincount(drawn, minlength=len(e.z))
    assert e.draw_marks.get_visible()
    assert np.allclose(e.draw_marks.get_ydata(), counts / 20)
    assert "20 draws: " + " ".join(e.tokens[i] for i in drawn) in e.readout.value
    e.draw_button.click()                                   # a fresh draw each press
    assert not np.array_equal(e.drawn, drawn) or len(set(drawn.tolist())) == 1
    e.controls["T"].value = 2.0                             # a new distribution: draws cleared
    assert e.drawn is None and not e.draw_marks.get_visible()


def test_draws_follow_the_renormalised_distribution():
    e = SamplingExplorer()
    e.controls["top-p"].value = 0.8
    final = e.state()["final"]
    shares = np.bincount(np.concatenate([e.draw() for _ in range(200)]),
                         minlength=len(e.z)) / 4000
    assert np.abs(shares - final).max() < 0.03
    assert shares[final == 0].sum() == 0


def test_temperature_divides_the_logits_and_keeps_the_order():
    e = SamplingExplorer()
    z = np.array(sorted(LOGITS, reverse=True))
    for T in (0.05, 0.5, 3.0):
        e.controls["T"].value = T
        p = heights(e.prob_bars)
        assert np.allclose(p, softmax(z, T))
        assert np.argmax(p) == 0 and np.all(np.diff(p) <= 0)
    e.controls["T"].value = 0.05
    assert heights(e.prob_bars)[0] > 0.999
    assert "entropy of softmax(z / T) <b>0.000</b> nats" in e.readout.value
    assert "T = 0.05, top-k = 10, top-p = 1.00 → kept <b>10</b> of 10" in e.readout.value


def test_entropy_in_the_readout_grows_with_temperature():
    e = SamplingExplorer()
    shown = []
    for T in (0.2, 0.5, 1.0, 2.0, 3.0):
        e.controls["T"].value = T
        text = e.readout.value.split("entropy of softmax(z / T) <b>")[1]
        shown.append(float(text.split("</b>")[0]))
    assert shown == sorted(shown) and shown[-1] < np.log(10)


def test_top_k_greys_out_the_tail_and_renormalises_the_rest():
    e = SamplingExplorer()
    e.controls["top-k"].value = 3
    p = softmax(sorted(LOGITS, reverse=True))
    assert list(kept_mask(e)) == [True] * 3 + [False] * 7
    assert np.allclose(heights(e.prob_bars), p), "the left bars are before filtering"
    assert np.allclose(heights(e.final_bars), np.r_[p[:3] / p[:3].sum(), np.zeros(7)])
    assert "kept <b>3</b> of 10: mat " in e.readout.value
    assert f"kept mass before renormalising {p[:3].sum():.3f}" in e.readout.value


def test_top_k_keeps_every_tie_at_the_kth_place():
    e = SamplingExplorer(logits=(2.0, 1.0, 1.0, 0.0), tokens=("a", "b", "c", "d"), k=2)
    assert list(kept_mask(e)) == [True, True, True, False]


def test_top_p_keeps_the_token_that_crosses_p_and_outlines_it():
    e = SamplingExplorer(logits=DYADIC, tokens=("a", "b", "c", "d"), p=0.6)
    assert list(kept_mask(e)) == [True, True, False, False]
    assert outlined(e) == [1]
    assert ("top-p stops at <b>b</b>: the tokens before it hold 0.500 &lt; 0.60, with it 0.750"
            in e.readout.value)
    assert np.allclose(heights(e.final_bars), [2 / 3, 1 / 3, 0, 0])


def test_top_p_stops_when_the_tokens_before_already_reach_p_exactly():
    e = SamplingExplorer(logits=DYADIC, tokens=("a", "b", "c", "d"), p=0.75)
    assert list(kept_mask(e)) == [True, True, False, False], "0.5 + 0.25 = p: c is not needed"
    e.controls["top-p"].value = 0.76
    assert list(kept_mask(e)) == [True, True, True, False]
    assert outlined(e) == [2]


def test_top_p_below_the_top_probability_still_keeps_one_token():
    e = SamplingExplorer(logits=DYADIC, tokens=("a", "b", "c", "d"), p=0.3)
    assert list(kept_mask(e)) == [True, False, False, False] and outlined(e) == [0]
    assert np.allclose(heights(e.final_bars), [1, 0, 0, 0])
    assert "the tokens before it hold 0.000 &lt; 0.30" in e.readout.value


def test_top_p_reads_the_probabilities_after_temperature():
    e = SamplingExplorer(p=0.9)
    counts = {}
    for T in (0.5, 1.0, 2.0):
        e.controls["T"].value = T
        counts[T] = int(kept_mask(e).sum())
        p = softmax(sorted(LOGITS, reverse=True), T)
        before = np.cumsum(p) - p
        assert counts[T] == int(np.sum(before < 0.9))
        assert np.allclose(e.cumulative.get_ydata(), np.cumsum(p))
    assert counts[0.5] < counts[1.0] < counts[2.0]


def test_top_p_after_top_k_measures_the_renormalised_survivors():
    e = SamplingExplorer(k=3, p=0.9)
    p = softmax(sorted(LOGITS, reverse=True))
    after_k = np.r_[p[:3] / p[:3].sum(), np.zeros(7)]
    assert np.allclose(e.cumulative.get_ydata(), np.cumsum(after_k))
    before = np.cumsum(after_k) - after_k
    assert list(kept_mask(e)) == list((before < 0.9) & (np.arange(10) < 3))
    e.controls["top-p"].value = 1.0
    assert not e.cumulative.get_visible() and not e.p_line.get_visible()


def test_p_line_follows_the_top_p_slider():
    e = SamplingExplorer()
    e.controls["top-p"].value = 0.42
    assert e.p_line.get_visible() and list(e.p_line.get_ydata()) == [0.42, 0.42]


def test_entropy_after_filtering_is_the_entropy_of_the_renormalised_bars():
    e = SamplingExplorer(T=1.5, k=5, p=0.8)
    after = entropy_of(heights(e.final_bars))
    assert f"after filtering <b>{after:.3f}</b> nats" in e.readout.value
    assert after < entropy_of(heights(e.prob_bars))


def test_sampling_explorer_draws_with_the_lessons_own_temperature_softmax():
    calls = []

    def my_softmax_t(z, T):
        calls.append(T)
        return softmax(z, T)

    e = SamplingExplorer(my_softmax_t)
    e.controls["T"].value = 2.0
    assert calls[-1] == 2.0
    assert np.allclose(heights(e.prob_bars), softmax(sorted(LOGITS, reverse=True), 2.0))


def test_entropy_of_counts_zero_probabilities_as_zero_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert entropy_of([1.0, 0.0, 0.0]) == 0.0
        assert np.isclose(entropy_of([0.25] * 4), np.log(4))


# --- calibration -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classifier():
    return overconfident_classifier()


def bins_by_hand(probs, labels, n_bins):
    """Per-bin accuracy and confidence with np.digitize(right=True): bins (lo, hi]."""
    conf = probs.max(axis=-1)
    correct = probs.argmax(axis=-1) == labels
    b = np.digitize(conf, np.linspace(0, 1, n_bins + 1)[1:-1], right=True)
    acc = np.array([correct[b == i].mean() if np.any(b == i) else 0.0 for i in range(n_bins)])
    mean_conf = np.array([conf[b == i].mean() if np.any(b == i) else 0.0
                          for i in range(n_bins)])
    weights = np.array([np.mean(b == i) for i in range(n_bins)])
    return acc, mean_conf, float(np.sum(weights * np.abs(acc - mean_conf)))


def test_ece_bins_are_closed_on_the_right():
    assert list(bin_index([0.0, 0.5, 0.5000001, 1.0], 2)) == [0, 0, 1, 1]
    assert list(bin_index([0.1, 0.2, 0.2000001, 0.95], 10)) == [0, 1, 2, 9]


def test_the_synthetic_classifier_is_overconfident_at_T_1(classifier):
    e = CalibrationExplorer(*classifier)
    m = e.measures()
    assert m["confidence"] > m["accuracy"] + 0.15
    assert m["ece"] > 0.15
    assert ": overconfident" in e.readout.value
    assert abs(e.T_best - 2.5) < 0.15, "temperature scaling recovers the hidden T"


def test_reliability_bars_are_the_accuracy_of_each_bin(classifier):
    logits, labels = classifier
    e = CalibrationExplorer(logits, labels)
    for T in (0.5, 1.0, 2.5, 4.0):
        e.controls["T"].value = T
        acc, conf, ece = bins_by_hand(softmax_rows(logits, T), labels, 10)
        assert np.allclose(heights(e.accuracy_bars), acc)
        assert np.allclose([bar.get_y() for bar in e.gap_bars], np.minimum(acc, conf))
        assert np.allclose(heights(e.gap_bars), np.abs(conf - acc))
        assert np.isclose(e.measures()["ece"], ece)
        assert f"ECE = <b>{ece:.3f}</b> (10 bins)" in e.readout.value
        assert e.readout.value.startswith(f"T = <b>{T:.2f}</b>: ECE = <b>{ece:.3f}</b>")


def softmax_rows(logits, T):
    u = logits / T
    e = np.exp(u - u.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_accuracy_is_the_same_at_every_temperature(classifier):
    e = CalibrationExplorer(*classifier)
    shown = set()
    for T in (0.25, 1.0, 2.5, 5.0):
        e.controls["T"].value = T
        shown.add(e.readout.value.split("accuracy ")[1].split("%")[0])
    assert len(shown) == 1


def test_at_the_fitted_temperature_ece_and_nll_drop(classifier):
    logits, labels = classifier
    e = CalibrationExplorer(logits, labels)
    before = e.measures()
    e.controls["T"].value = round(e.T_best / 0.05) * 0.05
    after = e.measures()
    assert after["ece"] < 0.05 < before["ece"]
    assert after["nll"] < before["nll"]
    assert ": calibrated" in e.readout.value
    assert np.isclose(e.nll_marker.get_data()[1][0], mean_nll(logits, labels, after["T"]))
    assert np.isclose(e.ece_marker.get_data()[1][0], after["ece"])
    assert list(e.cursor.get_xdata()) == [after["T"]] * 2


def test_the_fitted_temperature_is_the_minimum_of_the_nll(classifier):
    logits, labels = classifier
    e = CalibrationExplorer(logits, labels)
    T = e.T_best
    assert mean_nll(logits, labels, T) <= mean_nll(logits, labels, T * 1.01)
    assert mean_nll(logits, labels, T) <= mean_nll(logits, labels, T / 1.01)


def test_a_high_temperature_makes_the_classifier_underconfident(classifier):
    e = CalibrationExplorer(*classifier)
    e.controls["T"].value = 5.0
    assert ": underconfident" in e.readout.value
    count, accuracy, confidence, _ = reliability(softmax_rows(classifier[0], 5.0),
                                                 classifier[1], 10)
    filled = count > 0
    assert np.all(accuracy[filled] >= confidence[filled] - 0.05)


# --- the cached-background redraw ---------------------------------------------------------------

@pytest.mark.parametrize("make", [SamplingExplorer, CalibrationExplorer])
def test_a_cached_redraw_shows_the_same_pixels_as_a_full_redraw(make):
    e = make()
    for control in e.controls.values():
        control.value = type(control.value)(control.min + 0.3 * (control.max - control.min))
    cached = pixels(e.plot)
    e.plot.invalidate()
    e.plot.refresh()
    assert np.array_equal(cached, pixels(e.plot)), "an old position was left on screen"
