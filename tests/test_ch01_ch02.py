"""Chapters 01 and 02 from the learner's side: right answers written in any style pass, wrong
answers written the way learners write them are named with the right misconception, and the
messages a learner reads are pinned word for word."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from learners import (
    SWEEP,
    assert_named,
    assert_named_nine_in_ten,
    over_right,
    over_wrong,
    passes,
    sweep,
    torch_in,
    twins_of,
)
from scipy import special, stats

import tutor
from tutor import checking, registry
from tutor.chapters import ch01_logits, ch02_softmax

# ---------------------------------------------------------------------------------------------
# Right answers, in several styles


def sigmoid_by_sign(x):
    """The safe form on each side: e^x / (1 + e^x) for x < 0, 1 / (1 + e^(−x)) otherwise."""
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_loops(x):
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    for i in np.ndindex(x.shape):
        v = float(x[i])
        out[i] = 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))
    return out


def sigmoid_torch(x):
    import torch

    return torch.sigmoid(torch_in(x))


def sigmoid_scipy(x):
    return special.expit(x)


def sigmoid_own_dtype(x):
    """Computes in the input's own dtype, float32 included."""
    return np.exp(-np.logaddexp(0, -x))


def logit_loops(p):
    p = np.asarray(p, dtype=float)
    return np.array([math.log(v / (1 - v)) for v in p.ravel()]).reshape(p.shape)


def logit_torch(p):
    import torch

    return torch.logit(torch_in(p))


def logit_plain(p):
    return np.log(p / (1 - p))


def shift_log_odds_scipy(p, delta):
    return special.expit(special.logit(p) + delta)


def shift_log_odds_torch(p, delta):
    import torch

    return torch.sigmoid(torch.logit(torch_in(p)) + torch_in(delta))


def shift_log_odds_loops(p, delta):
    p, delta = np.broadcast_arrays(np.asarray(p, dtype=float), np.asarray(delta, dtype=float))
    out = np.empty(p.shape)
    for i in np.ndindex(p.shape):
        z = math.log(p[i]) - math.log1p(-p[i]) + delta[i]
        out[i] = 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
    return out


def shift_log_odds_odds_safely(p, delta):
    """Through the odds, in log space: log-odds add, then a stable sigmoid."""
    log_odds = np.log(p) - np.log1p(-np.asarray(p)) + delta
    return np.exp(-np.logaddexp(0, -log_odds))


def bce_scipy(z, y):
    return -np.mean(y * special.log_expit(z) + (1 - np.asarray(y)) * special.log_expit(-z))


def bce_torch(z, y):
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(torch_in(z), torch_in(y).to(torch_in(z).dtype))


def bce_loops(z, y):
    total, n = 0.0, 0
    for zi, yi in zip(np.ravel(z), np.ravel(y), strict=True):
        zi, yi = float(zi), float(yi)
        total += max(zi, 0.0) - zi * yi + math.log1p(math.exp(-abs(zi)))
        n += 1
    return total / n


def bce_by_label(z, y):
    """Picks −log σ(z) or −log σ(−z) per label, each as a softplus."""
    z = np.asarray(z, dtype=float)
    return np.mean(np.where(np.asarray(y) == 1, np.logaddexp(0, -z), np.logaddexp(0, z)))


def two_class_scipy(a, b):
    a, b = np.broadcast_arrays(a, b)
    return special.softmax(np.stack([a, b]), axis=0)[0]


def two_class_torch(a, b):
    import torch

    a, b = torch.broadcast_tensors(torch_in(a), torch_in(b))
    return torch.softmax(torch.stack([a, b]), dim=0)[0]


def two_class_max_shift(a, b):
    m = np.maximum(a, b)
    ea, eb = np.exp(a - m), np.exp(b - m)
    return ea / (ea + eb)


def two_class_loops(a, b):
    """σ(a − b) one pair at a time, in the form whose exponent is never positive."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    out = np.empty(a.shape)
    for i in np.ndindex(a.shape):
        d = a[i] - b[i]
        out[i] = 1 / (1 + math.exp(-d)) if d >= 0 else math.exp(d) / (1 + math.exp(d))
    return out


def probs_to_logits_gmean(p, axis=-1):
    return np.log(p / stats.gmean(p, axis=axis, keepdims=True))


def probs_to_logits_torch(p, axis=-1):
    import torch

    log_p = torch.log(torch_in(p))
    return log_p - log_p.mean(dim=axis, keepdim=True)


def probs_to_logits_loops(p, axis=-1):
    moved = np.moveaxis(np.array(p, dtype=float), axis, -1)
    out = np.empty_like(moved)
    for index in np.ndindex(moved.shape[:-1]):
        logs = [math.log(v) for v in moved[index]]
        out[index] = [v - sum(logs) / len(logs) for v in logs]
    return np.moveaxis(out, -1, axis)


def w_probs_to_logits_torch_float32(p, axis=-1):
    """torch.tensor of a list is float32: right to float32's precision, which is not enough for
    float64 probabilities 2e-8 apart (their logits ±2e-8 become 0)."""
    import torch

    log_p = torch.log(torch.tensor(np.asarray(p).tolist()))
    return log_p - log_p.mean(dim=axis, keepdim=True)


def probs_to_logits_from_max(p, axis=-1):
    """Shifted by the max first, centred afterwards: any shift works before centring."""
    z = np.log(p) - np.log(np.max(p, axis=axis, keepdims=True))
    return z - z.mean(axis=axis, keepdims=True)


RIGHT = [
    ("sigmoid", f) for f in (sigmoid_by_sign, sigmoid_loops, sigmoid_torch, sigmoid_scipy,
                             sigmoid_own_dtype)
] + [
    ("logit", f) for f in (logit_loops, logit_torch, logit_plain, special.logit)
] + [
    ("shift_log_odds", f) for f in (shift_log_odds_scipy, shift_log_odds_torch,
                                    shift_log_odds_loops, shift_log_odds_odds_safely)
] + [
    ("bce_with_logits", f) for f in (bce_scipy, bce_torch, bce_loops, bce_by_label)
] + [
    ("two_class_softmax", f) for f in (two_class_scipy, two_class_torch, two_class_max_shift,
                                       two_class_loops)
] + [
    ("probs_to_logits", f) for f in (probs_to_logits_gmean, probs_to_logits_torch,
                                     probs_to_logits_loops, probs_to_logits_from_max)
]


@over_right(RIGHT)
def test_right_answers_in_any_style_pass(problem_id, answer):
    passes(problem_id, answer)


# ---------------------------------------------------------------------------------------------
# Wrong answers, written the way learners write them (not the twins), and the names they get


def w_sigmoid_exp_over_torch(x):
    import torch

    t = torch_in(x)
    return torch.exp(t) / (1 + torch.exp(t))


def w_sigmoid_sign_loops(x):
    x = np.asarray(x, dtype=float)
    return np.array([1 / (1 + np.exp(v)) for v in x.ravel()]).reshape(x.shape)


def w_logit_upside_down(p):
    return np.log1p(-np.asarray(p)) - np.log(p)


def w_logit_odds_torch(p):
    t = torch_in(p)
    return t / (1 - t)


def w_shift_sigmoid_of_p(p, delta):
    return special.expit(np.asarray(p) + delta)


def w_shift_odds_torch(p, delta):
    import torch

    odds = torch_in(p) / (1 - torch_in(p)) * torch.exp(torch_in(delta))
    return odds / (odds + 1)


def w_shift_scale_p(p, delta):
    return np.multiply(p, np.exp(delta))


def w_bce_torch_probabilities(z, y):
    import torch
    import torch.nn.functional as F

    t = torch_in(z)
    return F.binary_cross_entropy(torch.sigmoid(t), torch_in(y).to(t.dtype))


def w_bce_expit_then_log(z, y):
    p = special.expit(z)
    return np.mean(-(y * np.log(p) + (1 - np.asarray(y)) * np.log(1 - p)))


def w_bce_sum_torch(z, y):
    import torch.nn.functional as F

    t = torch_in(z)
    return F.binary_cross_entropy_with_logits(t, torch_in(y).to(t.dtype), reduction="sum")


def w_bce_clamped_torch(z, y):
    import torch

    t = torch_in(z)
    p = torch.clamp(torch.sigmoid(t), 1e-7, 1 - 1e-7)
    yt = torch_in(y).to(t.dtype)
    return -(yt * torch.log(p) + (1 - yt) * torch.log(1 - p)).mean()


def w_shift_scale_p_capped(p, delta):
    return np.clip(p * np.exp(delta), 0, 1)


def w_bce_log_plus_eps(z, y):
    p = special.expit(z)
    return -np.mean(y * np.log(p + 1e-9) + (1 - np.asarray(y)) * np.log(1 - p + 1e-9))


def w_bce_softplus_of_minus_z(z, y):
    # Right on paper (log(1 + e^(−z)) + (1 − y)·z), but e^(−z) overflows for z = −1e4.
    z = np.asarray(z, dtype=float)
    return np.mean(np.log1p(np.exp(-z)) + (1 - np.asarray(y)) * z)


def w_sigmoid_math_exp(x):
    return np.vectorize(lambda v: 1 / (1 + math.exp(-v)))(x)     # OverflowError at −1000


def w_sigmoid_sign_as_ratio(x):
    e = np.exp(-np.asarray(x))
    return e / (1 + e)


def w_shift_math_loop(p, delta):
    d = np.broadcast_to(delta, np.shape(p))
    out = [1 / (1 + math.exp(-(math.log(a / (1 - a)) + b)))
           for a, b in zip(np.ravel(p), np.ravel(d), strict=True)]
    return np.array(out).reshape(np.shape(p))


def w_shift_capped_at_one(p, delta):
    return np.minimum(np.asarray(p) + delta, 1.0)


def w_bce_clip_1e6(z, y):
    p = np.clip(special.expit(z), 1e-6, 1 - 1e-6)
    return -np.mean(y * np.log(p) + (1 - np.asarray(y)) * np.log(1 - p))


def w_bce_log_plus_1e5(z, y):
    p = special.expit(z)
    return -np.mean(y * np.log(p + 1e-5) + (1 - np.asarray(y)) * np.log(1 - p + 1e-5))


def w_bce_math_loop(z, y):
    total = 0.0
    for zi, yi in zip(np.ravel(z), np.ravel(y), strict=True):
        p = 1 / (1 + math.exp(-zi))
        total += -math.log(p) if yi == 1 else -math.log(1 - p)   # ValueError at log(0)
    return total / np.size(z)


WRONG_01 = [
    ("sigmoid", w_sigmoid_exp_over_torch, "sigmoid_overflow"),
    ("sigmoid", w_sigmoid_sign_loops, "sigmoid_sign"),
    ("logit", w_logit_upside_down, "odds_inverted"),
    ("logit", w_logit_odds_torch, "odds_not_log"),
    ("shift_log_odds", w_shift_sigmoid_of_p, "probability_as_logit"),
    ("shift_log_odds", w_shift_odds_torch, "sigmoid_overflow"),
    ("shift_log_odds", w_shift_scale_p, "probability_scaled_not_odds"),
    ("shift_log_odds", w_shift_scale_p_capped, "probability_scaled_not_odds"),
    ("bce_with_logits", w_bce_torch_probabilities, "log_of_sigmoid"),
    ("bce_with_logits", w_bce_expit_then_log, "log_of_sigmoid"),
    ("bce_with_logits", w_bce_sum_torch, "sum_not_mean"),
    ("bce_with_logits", w_bce_clamped_torch, "log_of_sigmoid"),
    ("bce_with_logits", w_bce_softplus_of_minus_z, "log_of_sigmoid"),
    ("bce_with_logits", w_bce_log_plus_eps, "log_of_sigmoid"),
    ("sigmoid", w_sigmoid_math_exp, "sigmoid_overflow"),
    ("sigmoid", w_sigmoid_sign_as_ratio, "sigmoid_sign"),
    ("shift_log_odds", w_shift_math_loop, "sigmoid_overflow"),
    ("shift_log_odds", w_shift_capped_at_one, "probability_as_logit"),
    ("bce_with_logits", w_bce_clip_1e6, "log_of_sigmoid"),
    ("bce_with_logits", w_bce_log_plus_1e5, "log_of_sigmoid"),
    ("bce_with_logits", w_bce_math_loop, "log_of_sigmoid"),
]


def w_softmax_torch_global(z, axis=-1):
    import torch

    e = torch.exp(torch_in(z))
    return e / e.sum()


def w_softmax_rows_always(z, axis=-1):
    z = np.asarray(z, dtype=float)
    if z.ndim == 1:
        return np.exp(z) / np.exp(z).sum()
    return np.stack([np.exp(row) / np.exp(row).sum() for row in z.reshape(-1, z.shape[-1])]) \
        .reshape(z.shape)


def w_softmax_no_keepdims(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis)


def w_softmax_in_place(z, axis=-1):
    z -= np.max(z, axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def w_softmax_exp_only(z, axis=-1):
    import torch

    return torch.exp(torch_in(z))


def w_softmax_scipy_no_axis(z, axis=-1):
    return special.softmax(z)


def w_two_class_exp_torch(a, b):
    import torch

    ea, eb = torch.exp(torch_in(a)), torch.exp(torch_in(b))
    return ea / (ea + eb)


def w_two_class_first_logit(a, b):
    return special.expit(a)


def w_two_class_reversed(a, b):
    return special.expit(np.subtract(b, a))


def w_logits_torch_log(p, axis=-1):
    import torch

    return torch.log(torch_in(p))


def w_logits_global_mean(p, axis=-1):
    z = np.log(p)
    return z - np.mean(z)


def w_logits_minus_max_loops(p, axis=-1):
    moved = np.moveaxis(np.log(np.array(p, dtype=float)), axis, -1)
    out = np.stack([row - row.max() for row in moved.reshape(-1, moved.shape[-1])])
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def w_logits_scipy_logit(p, axis=-1):
    return special.logit(p)


def w_logits_mean_no_keepdims(p, axis=-1):
    z = np.log(p)
    return z - z.mean(axis=axis)


def w_two_class_math_loop(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return np.array([math.exp(x) / (math.exp(x) + math.exp(y))
                     for x, y in zip(a.ravel(), b.ravel(), strict=True)]).reshape(a.shape)


def w_softmax_torch_no_keepdim(z, axis=-1):
    import torch

    e = torch.exp(torch_in(z))
    return e / e.sum(dim=axis)          # RuntimeError where numpy raises ValueError


def w_softmax_shifted_only(z, axis=-1):
    return np.exp(z - np.max(z, axis=axis, keepdims=True))


def w_softmax_shifted_global_sum(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / e.sum()


def w_logits_minus_last(p, axis=-1):
    z = np.log(p)
    return z - np.take(z, [-1], axis=axis)


WRONG_02 = [
    ("softmax", w_softmax_torch_global, "wrong_axis"),
    ("softmax", w_softmax_rows_always, "wrong_axis"),
    ("softmax", w_softmax_no_keepdims, "missing_keepdims"),
    ("softmax", w_softmax_in_place, "mutates_input"),
    ("softmax", w_softmax_exp_only, "not_normalised"),
    ("softmax", w_softmax_scipy_no_axis, "wrong_axis"),
    ("two_class_softmax", w_two_class_exp_torch, "no_max_shift"),
    ("two_class_softmax", w_two_class_first_logit, "sigmoid_of_one_logit"),
    ("two_class_softmax", w_two_class_reversed, "sigmoid_sign"),
    ("probs_to_logits", w_logits_torch_log, "logits_not_centred"),
    ("probs_to_logits", w_logits_global_mean, "wrong_axis"),
    ("probs_to_logits", w_logits_minus_max_loops, "logits_not_centred"),
    ("probs_to_logits", w_logits_scipy_logit, "logit_per_class"),
    ("probs_to_logits", w_logits_mean_no_keepdims, "missing_keepdims"),
    ("two_class_softmax", w_two_class_math_loop, "no_max_shift"),
    ("softmax", w_softmax_torch_no_keepdim, "missing_keepdims"),
    ("softmax", w_softmax_shifted_only, "not_normalised"),
    ("softmax", w_softmax_shifted_global_sum, "wrong_axis"),
    ("probs_to_logits", w_logits_minus_last, "logits_not_centred"),
]


@pytest.mark.parametrize(("chapter", "wrong"), [("01", WRONG_01), ("02", WRONG_02)])
def test_wrong_answers_are_named_nine_times_in_ten(chapter, wrong):
    assert len(wrong) >= 10
    assert_named_nine_in_ten(wrong, label=f"chapter {chapter}: ")


@over_wrong(WRONG_01 + WRONG_02)
def test_each_wrong_answer_fails_with_its_name(problem_id, answer, expected):
    assert_named(problem_id, answer, expected)


def test_a_torch_answer_with_a_float32_delta_is_named_like_its_float64_twin():
    """torch.as_tensor(1.386) is float32: the answer is 1e-7 away from the twin, same mistake."""
    def shift_log_odds(p, delta):
        import torch

        return torch.clamp(torch_in(p) + torch.as_tensor(delta), 0, 1)

    for seed in range(6):
        result = tutor.check("shift_log_odds", shift_log_odds, seed=seed)
        assert result.misconception == "probability_as_logit", (seed, result.message)


def test_an_unknown_mistake_gets_expected_versus_got_and_no_guess():
    def bce_with_logits(z, y):
        return np.mean(np.logaddexp(0, z) - y * np.asarray(z)) / 2   # half the loss

    result = tutor.check("bce_with_logits", bce_with_logits, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message == ("On bce_with_logits(z=[[-2.5]], y=[[0.]]) (shape (1, 1)), your "
                              "bce_with_logits returned 0.0394 instead of 0.0789.")


def test_returning_both_probabilities_is_a_shape_error():
    def two_class_softmax(a, b):
        a, b = np.broadcast_arrays(a, b)
        return special.softmax(np.stack([a, b]), axis=0)

    result = tutor.check("two_class_softmax", two_class_softmax, seed=0)
    assert result.misconception is None
    assert result.message == ("On two_class_softmax(a=[[0.5]], b=[[-0.25]]) (shape (1, 1)), your "
                              "two_class_softmax returned shape (2, 1, 1) instead of (1, 1).")


# ---------------------------------------------------------------------------------------------
# Messages a learner reads, word for word


def test_a_stub_is_not_attempted_and_says_so():
    def probs_to_logits(p, axis=-1):
        """Your answer."""
        ...

    result = tutor.check("probs_to_logits", probs_to_logits)
    assert result.status == "not_attempted"
    assert str(result) == ("Not attempted: probs_to_logits\n"
                           "probs_to_logits is still a stub (`...`). Write its body, then run this "
                           "check again.")


def test_an_exception_names_the_learners_line_and_the_smallest_input():
    def sigmoid(x):
        return np.array([1 / (1 + math.exp(-v)) for v in x])

    line = sigmoid.__code__.co_firstlineno + 1
    result = tutor.check("sigmoid", sigmoid, seed=0)
    assert result.status == "error"
    assert result.message == (
        f"TypeError: iteration over a 0-d array at line {line} of test_ch01_ch02.py: "
        "`return np.array([1 / (1 + math.exp(-v)) for v in x])`, on sigmoid(x=2.).")


def test_a_named_mistake_explains_itself_on_the_smallest_failing_input():
    def shift_log_odds(p, delta):
        return np.asarray(p) * np.exp(delta)

    result = tutor.check("shift_log_odds", shift_log_odds, seed=0)
    assert result.title == "Probability scaled instead of the odds"
    assert result.link == "../notebooks/01_logits.ipynb#Log-odds-arithmetic"
    assert result.message == (
        "Adding δ to the log-odds multiplies the odds p/(1 − p) by e^δ, not the probability: "
        "p·e^δ can exceed 1. Scale the odds and convert back with odds/(1 + odds), or compute "
        "σ(logit(p) + δ). On shift_log_odds(p=[0.8575, 0.0683], delta=-0.5618) the answer is "
        "[0.7743, 0.0401] but it returned [0.4889, 0.0389].")


def test_a_pass_lists_the_hard_cases_it_survived():
    result = tutor.check("bce_with_logits", ch01_logits.bce_with_logits, seed=0)
    assert result.message == (
        "bce_with_logits is right on all 10 inputs, including ordinary logits, logits ±1e4, "
        "logits ±40, where σ(z) rounds to exactly 1, float32, integer labels and shape (1, 1).")


# ---------------------------------------------------------------------------------------------
# The references themselves: the numbers the lessons assert


def test_references_reproduce_the_lesson_numbers():
    assert np.allclose(ch02_softmax.softmax(np.array([2.0, 1.0, 0.0])), [0.665, 0.245, 0.090],
                       atol=5e-4)
    assert np.allclose(ch02_softmax.softmax(np.array([4.5, -1.2, 0.8])), [0.973, 0.003, 0.024],
                       atol=5e-4)
    assert np.allclose(ch02_softmax.softmax(np.array([2.0, 1.0, 0.1])), [0.659, 0.242, 0.099],
                       atol=5e-4)
    assert np.isclose(ch01_logits.shift_log_odds(0.2, np.log(4.0)), 0.5)
    assert np.allclose(ch02_softmax.probs_to_logits(ch02_softmax.softmax(np.array([2.0, 1, 0]))),
                       [1.0, 0.0, -1.0])


def test_bce_with_logits_is_exact_at_ten_thousand():
    z = np.array([1e4, -1e4, 1e4, -1e4])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    assert ch01_logits.bce_with_logits(z, y) == 5000.0


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_probs_to_logits_round_trips_through_softmax(axis):
    rng = np.random.default_rng(axis + 10)
    z = rng.normal(0, 3, (3, 4, 5))
    back = ch02_softmax.probs_to_logits(ch02_softmax.softmax(z, axis=axis), axis=axis)
    assert np.allclose(back, z - z.mean(axis=axis, keepdims=True))


def test_two_class_softmax_is_exact_near_a_thousand():
    assert ch02_softmax.two_class_softmax(1000.0, 999.0) == pytest.approx(1 / (1 + np.exp(-1)))
    assert ch02_softmax.two_class_softmax(-1000.0, -1001.0) == pytest.approx(1 / (1 + np.exp(-1)))


def test_every_chapter_01_and_02_problem_is_quick_with_a_right_answer():
    """Not a timing test: the checks must not run so many inputs that they could not be quick."""
    for module in (ch01_logits, ch02_softmax):
        for problem in module.PROBLEMS:
            assert len(checking.cases_for(problem, 0)) <= 12, problem.id


def test_strict_mode_raises_on_a_wrong_answer(monkeypatch):
    monkeypatch.setitem(os.environ, "TUTOR_STRICT", "1")
    with pytest.raises(AssertionError, match="Sigmoid of one logit"):
        tutor.check("two_class_softmax", w_two_class_first_logit, seed=0)


# ---------------------------------------------------------------------------------------------
# The same verdict on every seed: every twin, every right answer, and wrong answers at the edges
# the contract allows, over 30 seeds each

PROBLEMS = ["sigmoid", "logit", "shift_log_odds", "bce_with_logits", "two_class_softmax",
            "softmax", "probs_to_logits"]


def softmax_scipy(z, axis=-1):
    return special.softmax(z, axis=axis)


def softmax_torch(z, axis=-1):
    import torch

    return torch.softmax(torch_in(z), dim=axis)


def softmax_loops(z, axis=-1):
    moved = np.moveaxis(np.array(z, dtype=float), axis, -1)
    out = np.empty_like(moved)
    for index in np.ndindex(moved.shape[:-1]):
        e = [math.exp(v) for v in moved[index]]
        out[index] = [v / sum(e) for v in e]
    return np.moveaxis(out, -1, axis)


def softmax_own_dtype_global_max(z, axis=-1):
    """One max for the whole array: harmless for logits within ±30, which never underflow."""
    e = np.exp(z - np.max(z))
    return e / e.sum(axis=axis, keepdims=True)


RIGHT_EVERYWHERE = RIGHT + [
    ("softmax", f) for f in (softmax_scipy, softmax_torch, softmax_loops,
                             softmax_own_dtype_global_max)
]


@pytest.mark.parametrize("problem_id", PROBLEMS)
def test_every_twin_fails_and_is_named_on_every_seed(problem_id):
    sweep(problem_id, twins_of(problem_id), SWEEP)


@pytest.mark.parametrize("problem_id", PROBLEMS)
def test_every_right_answer_passes_on_every_seed(problem_id):
    problem = registry.get(problem_id)
    answers = [problem.reference] + [f for p, f in RIGHT_EVERYWHERE if p == problem_id]
    assert len(answers) >= 4
    for answer in answers:
        passes(problem_id, answer, seeds=SWEEP)


# Wrong answers at the edges of the contract, written for this sweep (not copies of twins).

def e_sigmoid_squeezed(x):
    return np.squeeze(special.expit(x))


def e_sigmoid_float16(x):
    return special.expit(np.asarray(x, dtype=np.float16)).astype(np.float64)


def e_sigmoid_clipped_input(x):
    """Clipped to ±30 'for safety': σ(−50) becomes 9e-14 instead of 2e-22, σ(−1000) not 0."""
    return 1 / (1 + np.exp(-np.clip(x, -30, 30)))


def e_logit_squeezed(p):
    return np.squeeze(special.logit(p))


def e_logit_eps_patch(p):
    p = np.asarray(p, dtype=float)
    return np.log(p / (1 - p + 1e-12))


def e_logit_float32(p):
    return special.logit(np.asarray(p, dtype=np.float32)).astype(np.float64)


def e_shift_float32_torch(p, delta):
    import torch

    t = torch.tensor(np.asarray(p).tolist())                 # float32, torch's default
    return torch.sigmoid(torch.logit(t) + torch.as_tensor(delta)).double()


def e_shift_clipped_p(p, delta):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return special.expit(special.logit(p) + delta)


def e_shift_squeezed(p, delta):
    return np.squeeze(special.expit(special.logit(p) + delta))


def e_bce_per_element(z, y):
    return np.logaddexp(0, z) - y * np.asarray(z)


def e_bce_float16(z, y):
    z = np.asarray(z, dtype=np.float16)
    return float(np.mean(np.logaddexp(np.float16(0), z) - np.asarray(y, np.float16) * z))


def e_bce_odd_eps_in_the_logs(z, y):
    """3e-5 added inside each log: an eps no twin spells out, capped near −log(3e-5)."""
    p = special.expit(z)
    return -np.mean(y * np.log(p + 3e-5) + (1 - np.asarray(y)) * np.log(1 - p + 3e-5))


def e_bce_mean_last_axis(z, y):
    return np.mean(np.logaddexp(0, z) - y * np.asarray(z), axis=-1)


def e_two_class_difference_in_float32(a, b):
    d = np.float32(a) - np.float32(b)
    return special.expit(np.asarray(d, dtype=np.float64))


def e_two_class_torch_float32(a, b):
    import torch

    return torch.sigmoid(torch.tensor(np.asarray(a).tolist()) - torch.as_tensor(b))


def e_two_class_shift_by_b(a, b):
    """Shifted by b rather than by the larger logit: e^(a − b) / (e^(a − b) + 1), the sigmoid
    written as e^x / (1 + e^x), which is inf / inf when a is far above."""
    ea, eb = np.exp(np.subtract(a, b)), np.exp(np.subtract(b, b))
    return ea / (ea + eb)


def e_two_class_squeezed(a, b):
    return np.squeeze(special.expit(np.subtract(a, b)))


def e_softmax_squeezed(z, axis=-1):
    return np.squeeze(special.softmax(z, axis=axis))


def e_softmax_float16(z, axis=-1):
    return special.softmax(np.asarray(z, dtype=np.float16), axis=axis).astype(np.float64)


def e_softmax_moved_not_back(z, axis=-1):
    return special.softmax(np.moveaxis(np.asarray(z), axis, -1), axis=-1)


def e_logits_float32_cast_back(p, axis=-1):
    log_p = np.log(np.asarray(p, dtype=np.float32))
    return (log_p - log_p.mean(axis=axis, keepdims=True)).astype(np.float64)


def e_logits_median(p, axis=-1):
    log_p = np.log(p)
    return log_p - np.median(log_p, axis=axis, keepdims=True)


def e_logits_squeezed(p, axis=-1):
    log_p = np.log(p)
    return np.squeeze(log_p - log_p.mean(axis=axis, keepdims=True))


def b_bce_log_likelihood(z, y):
    """A learner's answer from a blind test: the mean log-likelihood, the minus sign lost."""
    return np.mean(y * z - np.logaddexp(0, z))


def b_two_class_exp_of_difference(a, b):
    """A blind test's answer: σ(a − b) as e^(a − b) / (1 + e^(a − b)), NaN past a gap of 709."""
    return np.exp(a - b) / (1 + np.exp(a - b))


EDGE_WRONG = [
    ("sigmoid", e_sigmoid_squeezed, None),
    ("sigmoid", e_sigmoid_float16, None),
    ("sigmoid", e_sigmoid_clipped_input, None),
    ("logit", e_logit_squeezed, None),
    ("logit", e_logit_eps_patch, None),
    ("logit", e_logit_float32, "lower_precision"),
    ("shift_log_odds", e_shift_float32_torch, "lower_precision"),
    ("shift_log_odds", e_shift_clipped_p, None),
    ("shift_log_odds", e_shift_squeezed, None),
    ("bce_with_logits", e_bce_per_element, None),
    ("bce_with_logits", e_bce_float16, None),
    ("bce_with_logits", e_bce_mean_last_axis, None),
    ("bce_with_logits", e_bce_odd_eps_in_the_logs, "log_of_sigmoid"),
    ("bce_with_logits", b_bce_log_likelihood, "nll_sign"),
    ("two_class_softmax", e_two_class_difference_in_float32, "lower_precision"),
    ("two_class_softmax", e_two_class_shift_by_b, "sigmoid_overflow"),
    ("two_class_softmax", e_two_class_torch_float32, "lower_precision"),
    ("two_class_softmax", e_two_class_squeezed, None),
    ("two_class_softmax", b_two_class_exp_of_difference, "sigmoid_overflow"),
    ("softmax", e_softmax_squeezed, None),
    ("softmax", e_softmax_float16, None),
    ("softmax", e_softmax_moved_not_back, None),
    ("probs_to_logits", e_logits_float32_cast_back, "lower_precision"),
    ("probs_to_logits", e_logits_median, None),
    ("probs_to_logits", w_probs_to_logits_torch_float32, "lower_precision"),
    ("probs_to_logits", e_logits_squeezed, None),
]


@pytest.mark.parametrize("problem_id", PROBLEMS)
def test_wrong_answers_at_the_edges_fail_on_every_seed(problem_id):
    """Each fails on every seed; where the catalogue has its mistake, it is named every time."""
    wrong = [(f, name) for p, f, name in EDGE_WRONG if p == problem_id]
    assert len(wrong) >= 3
    for answer, name in wrong:
        for seed in SWEEP:
            result = tutor.check(problem_id, answer, seed=seed)
            assert not result.passed, (answer.__name__, seed, result.message)
            if name is not None:
                assert result.misconception == name, (answer.__name__, seed, result.message)
