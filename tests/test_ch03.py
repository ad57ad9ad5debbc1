"""Chapter 03 from the learner's side: right answers in any style pass (float16-native ones
included), wrong answers written the way learners write them are named with the right
misconception, the messages a learner reads are pinned word for word, and the lesson's
explorers show what their controls say."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch  # imported once, as a learner's notebook would, before any check's clock runs
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
from scipy import special

import tutor
from tutor import checking, registry
from tutor.chapters import ch03_stability as ch03
from tutor.widgets.stability import SmoothMaxExplorer, StabilityExplorer


def is_torch_dtype(dtype):
    return type(dtype).__module__ == "torch"


# ---------------------------------------------------------------------------------------------
# Right answers, in several styles


def threshold_torch_only(dtype):
    """Everything through torch: a numpy dtype is turned into the matching torch dtype."""
    if not is_torch_dtype(dtype):
        dtype = torch.from_numpy(np.zeros(0, dtype=dtype)).dtype
    return math.log(torch.finfo(dtype).max)


def threshold_by_search(dtype):
    """Bisection on 'is exp(x) finite in this dtype?', the way an experimenter finds it."""
    if is_torch_dtype(dtype):
        def finite(x):
            return bool(torch.isfinite(torch.exp(torch.tensor(x, dtype=dtype))))

        def cast(x):
            return float(torch.tensor(x, dtype=dtype))
    else:
        def finite(x):
            with np.errstate(over="ignore"):
                return bool(np.isfinite(np.exp(np.asarray(x, dtype=dtype))))

        def cast(x):
            return float(np.asarray(x, dtype=dtype))
    low, high = 0.0, 1000.0
    for _ in range(80):
        middle = (low + high) / 2
        low, high = (middle, high) if finite(middle) else (low, middle)
    return cast(low) if finite(cast(low)) else low


def threshold_in_own_dtype(dtype):
    """log of the max computed in the dtype itself: 11.09375 in float16, 88.5 in bfloat16."""
    if is_torch_dtype(dtype):
        return torch.log(torch.tensor(torch.finfo(dtype).max, dtype=dtype))
    return np.log(np.finfo(dtype).max)


def threshold_from_bits(dtype):
    """ln(max) = ln(2^(maxexp) · (1 − eps/2)), from the exponent range and the precision."""
    info = ch03._finfo(dtype)
    return math.log(2.0) * math.log2(info.max)


def stable_softmax_loops(z, axis=-1):
    moved = np.moveaxis(np.array(z, dtype=float), axis, -1)
    out = np.empty_like(moved)
    for index in np.ndindex(moved.shape[:-1]):
        row = moved[index]
        m = max(row)
        e = [math.exp(v - m) for v in row]
        out[index] = [v / sum(e) for v in e]
    return np.moveaxis(out, -1, axis)


def stable_softmax_torch(z, axis=-1):
    return torch.softmax(torch_in(z), dim=axis)


def stable_softmax_scipy(z, axis=-1):
    return special.softmax(z, axis=axis)


def stable_softmax_own_dtype(z, axis=-1):
    """Computes in the input's dtype, float16 included."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def stable_softmax_through_lse(z, axis=-1):
    return np.exp(z - special.logsumexp(z, axis=axis, keepdims=True))


def logsumexp_scipy(z, axis=-1, keepdims=False):
    return special.logsumexp(z, axis=axis, keepdims=keepdims)


def logsumexp_torch(z, axis=-1, keepdims=False):
    return torch.logsumexp(torch_in(z), dim=axis, keepdim=keepdims)


def logsumexp_logaddexp(z, axis=-1, keepdims=False):
    return np.logaddexp.reduce(z, axis=axis, keepdims=keepdims)


def logsumexp_loops(z, axis=-1, keepdims=False):
    moved = np.moveaxis(np.array(z, dtype=float), axis, -1)
    out = np.empty(moved.shape[:-1])
    for index in np.ndindex(moved.shape[:-1]):
        row = moved[index]
        m = max(row)
        out[index] = m if m == -math.inf else m + math.log(sum(math.exp(v - m) for v in row))
    return np.expand_dims(out, axis) if keepdims else out


def logsumexp_own_dtype(z, axis=-1, keepdims=False):
    """Computes in the input's dtype; the guard is written with a comparison, not isfinite."""
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(m == -np.inf, 0, m)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


RIGHT = [
    ("overflow_threshold", f) for f in (threshold_torch_only, threshold_by_search,
                                        threshold_in_own_dtype, threshold_from_bits)
] + [
    ("stable_softmax", f) for f in (stable_softmax_loops, stable_softmax_torch,
                                    stable_softmax_scipy, stable_softmax_own_dtype,
                                    stable_softmax_through_lse)
] + [
    ("logsumexp", f) for f in (logsumexp_scipy, logsumexp_torch, logsumexp_logaddexp,
                               logsumexp_loops, logsumexp_own_dtype)
]


@over_right(RIGHT)
def test_right_answers_in_any_style_pass(problem_id, answer):
    passes(problem_id, answer)


# ---------------------------------------------------------------------------------------------
# Wrong answers, written the way learners write them (not the twins), and the names they get


def w_threshold_finfo_max(dtype):
    if is_torch_dtype(dtype):
        return torch.finfo(dtype).max
    return np.finfo(dtype).max


def w_threshold_float32_everywhere(dtype):
    return math.log(torch.finfo(torch.float32).max)


def w_threshold_sixteen_bits_are_half(dtype):
    name = str(dtype).removeprefix("torch.") if is_torch_dtype(dtype) else np.dtype(dtype).name
    if "16" in name:
        return math.log(65504.0)
    return math.log(np.finfo(name).max)


def w_threshold_maxexp(dtype):
    if is_torch_dtype(dtype):
        return math.log2(torch.finfo(dtype).max)
    return np.finfo(dtype).maxexp


def w_softmax_torch_naive(z, axis=-1):
    e = torch.exp(torch_in(z))
    return e / e.sum(dim=axis, keepdim=True)


def w_softmax_upcast_naive(z, axis=-1):
    e = np.exp(np.asarray(z, dtype=np.float64))
    return e / e.sum(axis=axis, keepdims=True)


def w_softmax_mean_centred_torch(z, axis=-1):
    t = torch_in(z)
    e = torch.exp(t - t.mean(dim=axis, keepdim=True))
    return e / e.sum(dim=axis, keepdim=True)


def w_softmax_nan_patched(z, axis=-1):
    with np.errstate(all="ignore"):
        p = np.exp(z) / np.sum(np.exp(z), axis=axis, keepdims=True)
    return np.where(np.isnan(p), 0.0, p)


def w_softmax_clamped_torch(z, axis=-1):
    e = torch.exp(torch.clamp(torch_in(z), -60, 60))
    return e / e.sum(dim=axis, keepdim=True)


def w_softmax_amax_of_everything(z, axis=-1):
    shifted = np.subtract(z, np.amax(z))
    return np.exp(shifted) / np.exp(shifted).sum(axis=axis, keepdims=True)


def w_softmax_global_max_torch(z, axis=-1):
    t = torch_in(z)
    e = torch.exp(t - t.max())
    return e / e.sum(dim=axis, keepdim=True)


def w_softmax_in_place(z, axis=-1):
    z -= np.max(z, axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def w_softmax_rows_of_last_axis(z, axis=-1):
    z = np.asarray(z, dtype=float)
    rows = z.reshape(-1, z.shape[-1])
    out = np.stack([np.exp(r - r.max()) / np.exp(r - r.max()).sum() for r in rows])
    return out.reshape(z.shape)


def w_softmax_shifted_only_torch(z, axis=-1):
    t = torch_in(z)
    return torch.exp(t - t.max(dim=axis, keepdim=True).values)


def w_softmax_max_no_keepdims_sum_kept(z, axis=-1):
    m = np.amax(z, axis=axis)
    e = np.exp(z - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def w_lse_torch_naive(z, axis=-1, keepdims=False):
    return torch.log(torch.exp(torch_in(z)).sum(dim=axis, keepdim=keepdims))


def w_lse_forgot_max_torch(z, axis=-1, keepdims=False):
    t = torch_in(z)
    m = t.max(dim=axis, keepdim=True).values
    return torch.log(torch.exp(t - m).sum(dim=axis, keepdim=keepdims))


def w_lse_unguarded_torch(z, axis=-1, keepdims=False):
    t = torch_in(z)
    m = t.max(dim=axis, keepdim=True).values
    out = m + torch.log(torch.exp(t - m).sum(dim=axis, keepdim=True))
    return out if keepdims else out.squeeze(axis)


def w_lse_nan_to_num(z, axis=-1, keepdims=False):
    m = np.max(z, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        out = m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))
    out = np.nan_to_num(out, nan=0.0, neginf=-np.inf, posinf=np.inf)
    return out if keepdims else np.squeeze(out, axis)


def w_lse_one_max_for_the_batch(z, axis=-1, keepdims=False):
    m = float(np.max(z))
    with np.errstate(divide="ignore"):
        return m + np.log(np.sum(np.exp(np.asarray(z) - m), axis=axis, keepdims=keepdims))


def w_lse_scipy_without_keepdims(z, axis=-1, keepdims=False):
    return special.logsumexp(z, axis=axis)


def w_lse_torch_always_keeps(z, axis=-1, keepdims=False):
    return torch.logsumexp(torch_in(z), dim=axis, keepdim=True)


def w_lse_kept_max_plus_dropped_sum(z, axis=-1, keepdims=False):
    m = np.amax(z, axis=axis, keepdims=True)
    m = np.where(np.isneginf(m), 0.0, m)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(z - m).sum(axis=axis, keepdims=keepdims)) + m


def w_lse_rows_of_last_axis(z, axis=-1, keepdims=False):
    z = np.asarray(z, dtype=float)
    out = np.array([special.logsumexp(r) for r in z.reshape(-1, z.shape[-1])])
    out = out.reshape(z.shape[:-1])
    return np.expand_dims(out, -1) if keepdims else out


def w_softmax_float32_tensor_naive(z, axis=-1):
    t = torch.tensor(np.asarray(z).tolist())             # float32, torch's default
    e = torch.exp(t)
    return e / e.sum(dim=axis, keepdim=True)


def w_softmax_capped_torch(z, axis=-1):
    e = torch.exp(torch.clamp(torch_in(z), max=50))
    return e / e.sum(dim=axis, keepdim=True)


def w_softmax_capped_minimum(z, axis=-1):
    e = np.exp(np.minimum(z, 80))
    return e / e.sum(axis=axis, keepdims=True)


def w_softmax_clamped_float64_torch(z, axis=-1):
    e = torch.exp(torch.clamp(torch_in(z).double(), -30, 30))
    return e / e.sum(dim=axis, keepdim=True)


def w_softmax_capped_float64_minimum(z, axis=-1):
    e = np.exp(np.minimum(np.asarray(z, dtype=float), 75))
    return e / e.sum(axis=axis, keepdims=True)


def w_softmax_torch_sum_without_keepdim(z, axis=-1):
    t = torch_in(z)
    e = torch.exp(t - t.amax(dim=axis, keepdim=True))
    return e / e.sum(dim=axis)                           # RuntimeError where numpy raises


def w_softmax_shifted_global_sum(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum()


def w_lse_torch_max_without_keepdim(z, axis=-1, keepdims=False):
    t = torch_in(z)
    m = t.amax(dim=axis)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return m + torch.log(torch.exp(t - m).sum(dim=axis))


WRONG = [
    ("overflow_threshold", w_threshold_finfo_max, "threshold_not_log"),
    ("overflow_threshold", w_threshold_float32_everywhere, "threshold_wrong_dtype"),
    ("overflow_threshold", w_threshold_sixteen_bits_are_half, "threshold_wrong_dtype"),
    ("overflow_threshold", w_threshold_maxexp, "threshold_base_two"),
    ("stable_softmax", w_softmax_torch_naive, "no_max_shift"),
    ("stable_softmax", w_softmax_upcast_naive, "no_max_shift"),
    ("stable_softmax", w_softmax_mean_centred_torch, "no_max_shift"),
    ("stable_softmax", w_softmax_nan_patched, "no_max_shift"),
    ("stable_softmax", w_softmax_amax_of_everything, "global_max_shift"),
    ("stable_softmax", w_softmax_global_max_torch, "global_max_shift"),
    ("stable_softmax", w_softmax_in_place, "mutates_input"),
    ("stable_softmax", w_softmax_rows_of_last_axis, "wrong_axis"),
    ("stable_softmax", w_softmax_shifted_only_torch, "not_normalised"),
    ("stable_softmax", w_softmax_max_no_keepdims_sum_kept, "missing_keepdims"),
    ("logsumexp", w_lse_torch_naive, "no_max_shift"),
    ("logsumexp", w_lse_forgot_max_torch, "lse_forgets_max"),
    ("logsumexp", w_lse_unguarded_torch, "neg_inf_nan"),
    ("logsumexp", w_lse_nan_to_num, "neg_inf_nan"),
    ("logsumexp", w_lse_one_max_for_the_batch, "global_max_shift"),
    ("logsumexp", w_lse_scipy_without_keepdims, "keepdims_ignored"),
    ("logsumexp", w_lse_torch_always_keeps, "keepdims_ignored"),
    ("logsumexp", w_lse_kept_max_plus_dropped_sum, "missing_keepdims"),
    ("logsumexp", w_lse_rows_of_last_axis, "wrong_axis"),
    ("stable_softmax", w_softmax_float32_tensor_naive, "no_max_shift"),
    ("stable_softmax", w_softmax_clamped_float64_torch, "clips_logits"),
    ("stable_softmax", w_softmax_capped_float64_minimum, "clips_logits"),
    ("stable_softmax", w_softmax_torch_sum_without_keepdim, "missing_keepdims"),
    ("stable_softmax", w_softmax_shifted_global_sum, "wrong_axis"),
    ("logsumexp", w_lse_torch_max_without_keepdim, "missing_keepdims"),
]


def test_wrong_answers_are_named_nine_times_in_ten():
    assert_named_nine_in_ten(WRONG)


@over_wrong(WRONG)
def test_each_wrong_answer_fails_with_its_name(problem_id, answer, expected):
    assert_named(problem_id, answer, expected)


@pytest.mark.parametrize("answer", [w_softmax_clamped_torch, w_softmax_capped_torch,
                                    w_softmax_capped_minimum])
def test_a_clamp_that_still_overflows_in_float16_names_both_mistakes(answer):
    """Clamped at 50 to 80 but computed in float16, whose exp overflows past 11.09: the
    ordinary float16 inputs show the overflow first, the float64 ones the lost gaps."""
    result = tutor.check("stable_softmax", answer, seed=0)
    assert result.misconceptions == ("no_max_shift", "clips_logits"), result.message


def test_exp_of_z_minus_logsumexp_in_float16_passes_on_every_seed():
    """Right in float16 too: the random float16 logits stay where float16 can hold z − LSE(z)
    (near 1e4 its numbers are 8 apart, and e^(z − LSE) would be off by up to e^4)."""
    passes("stable_softmax", stable_softmax_through_lse, seeds=range(40))


def test_a_float16_cast_of_float64_logits_is_not_taken_for_clipping():
    def stable_softmax(z, axis=-1):
        z = np.asarray(z, dtype=np.float16)
        e = np.exp(z - z.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    for seed in range(4):
        result = tutor.check("stable_softmax", stable_softmax, seed=seed)
        assert result.status == "failed" and result.misconception is None, result.message


def test_a_logsumexp_that_squeezes_every_axis_fails_on_a_single_row():
    def logsumexp(z, axis=-1, keepdims=False):
        out = special.logsumexp(z, axis=axis, keepdims=True)
        return out if keepdims else out.squeeze()

    result = tutor.check("logsumexp", logsumexp, seed=0)
    assert result.misconception is None
    assert result.message == (
        "On logsumexp(z=[[100., 90., 80.]] (float32)) (a single float32 row (e^100 overflows)), "
        "your logsumexp returned shape () instead of (1,).")


# ---------------------------------------------------------------------------------------------
# What the checks try


def test_overflow_threshold_hands_the_learner_real_numpy_and_torch_dtypes():
    seen = set()

    def overflow_threshold(dtype):
        seen.add(dtype)
        return ch03.overflow_threshold(dtype)

    for seed in range(8):
        assert tutor.check("overflow_threshold", overflow_threshold, seed=seed).passed
    assert {torch.bfloat16, torch.float64, np.dtype("float16"), np.float32} <= seen
    assert all(isinstance(d, (torch.dtype, np.dtype, type)) for d in seen)


def test_overflow_threshold_accepts_one_grid_step_and_no_more():
    def on_grid(steps):
        def overflow_threshold(dtype):
            exact = ch03.overflow_threshold(dtype)
            step = 2.0 ** math.floor(math.log2(exact)) * float(ch03._finfo(dtype).eps)
            return exact - steps * step
        return overflow_threshold

    assert tutor.check("overflow_threshold", on_grid(1.0), seed=0).passed
    result = tutor.check("overflow_threshold", on_grid(2.0), seed=0)
    assert not result.passed and result.misconception is None
    # bfloat16's numbers near 88 are 0.5 apart, so 88.5 is right there and wrong for float32.
    assert float(torch.tensor(88.72, dtype=torch.bfloat16)) == 88.5

    def bfloat16_answer_everywhere_on_88(dtype):
        value = ch03.overflow_threshold(dtype)
        return 88.5 if 88 < value < 89 else value

    result = tutor.check("overflow_threshold", bfloat16_answer_everywhere_on_88, seed=0)
    assert result.misconception is None
    assert result.message == ("On overflow_threshold(dtype=np.float32) (float32), your "
                              "overflow_threshold returned 88.5 instead of 88.7228.")


def test_softmax_checks_use_float16_float32_and_rows_a_global_max_underflows():
    dtypes, spread_rows = set(), False
    for seed in range(6):
        for c in checking.cases_for(ch03.PROBLEMS[1], seed):
            z = c.args[0]
            dtypes.add(z.dtype.name)
            if z.ndim > 1:
                axis = c.kwargs.get("axis", -1)
                heights = np.max(z, axis=axis)
                spread_rows |= float(heights.max() - heights.min()) > 800
    assert dtypes == {"float16", "float32", "float64"}
    assert spread_rows


def test_logsumexp_checks_try_neg_inf_entries_empty_slices_and_both_keepdims():
    found = {"-inf entry": False, "all -inf slice": False, True: False, False: False}
    for seed in range(6):
        for c in checking.cases_for(ch03.PROBLEMS[2], seed):
            z, axis = c.args[0], c.kwargs.get("axis", -1)
            found[c.kwargs.get("keepdims", False)] = True
            found["-inf entry"] |= bool(np.isneginf(z).any())
            found["all -inf slice"] |= bool(np.isneginf(z).all(axis=axis).any())
    assert all(found.values()), found


def test_softmax_and_logsumexp_checks_never_import_torch():
    """Only overflow_threshold, whose inputs include torch dtypes, imports torch (while its
    inputs are drawn, before the learner's clock starts)."""
    code = ("import sys, numpy as np, tutor; "
            "tutor.check('stable_softmax', lambda z, axis=-1: np.exp(z)); "
            "tutor.check('logsumexp', lambda z, axis=-1, keepdims=False: z); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


# ---------------------------------------------------------------------------------------------
# Messages a learner reads, word for word


def test_a_global_max_is_named_on_the_smallest_batch_it_breaks():
    def stable_softmax(z, axis=-1):
        e = np.exp(z - np.max(z))
        return e / e.sum(axis=axis, keepdims=True)

    result = tutor.check("stable_softmax", stable_softmax, seed=0)
    assert result.title == "One global max for every row"
    assert result.link == "../notebooks/03_stability.ipynb#Row-wise-or-global-max"
    assert result.message == (
        "Subtracting the maximum of the whole array instead of each slice's own maximum leaves "
        "rows far below that maximum to underflow: their softmax becomes 0/0 = NaN and their "
        "log-softmax −inf or NaN. Use max(axis=axis, keepdims=True). On stable_softmax(z=[[ -990.668, -949.0658], [ -251.9403, -255.6645], "
        "[-1585.2704, -1607.7561], [ -601.0582, -572.7935]], axis=-1) the answer is "
        "[[8.5584e-19, 1.0000e+00], [9.7644e-01, 2.3564e-02], [1.0000e+00, 1.7163e-10], "
        "[5.3065e-13, 1.0000e+00]] but it returned [[8.5702e-19, 1.0000e+00], [9.7644e-01, "
        "2.3564e-02], [ nan, nan], [5.3065e-13, 1.0000e+00]].")


def test_the_largest_float_is_named_as_not_its_log():
    def overflow_threshold(dtype):
        return ch03._finfo(dtype).max

    result = tutor.check("overflow_threshold", overflow_threshold, seed=0)
    assert result.message == (
        "exp(x) overflows once x passes log(finfo(dtype).max), not finfo(dtype).max itself. On "
        "overflow_threshold(dtype=torch.float32) the answer is 88.7228 but it returned "
        "3.4028e+38.")


def test_an_unguarded_logsumexp_is_shown_its_nan():
    def logsumexp(z, axis=-1, keepdims=False):
        m = np.max(z, axis=axis, keepdims=True)
        out = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
        return out if keepdims else out.squeeze(axis)

    result = tutor.check("logsumexp", logsumexp, seed=0)
    assert result.title == "NaN from −inf entries"
    assert result.message.endswith(
        "On logsumexp(z=an array of shape (7, 6), axis=1, keepdims=True) the answer is [[ -inf], "
        "[20.2297], [22.2324], [14.3743], [19.0007], [11.455], [11.2307]] but it returned "
        "[[ nan], [20.2297], [22.2324], [14.3743], [19.0007], [11.455], [11.2307]].")


def test_an_unknown_mistake_gets_expected_versus_got_and_no_guess():
    def logsumexp(z, axis=-1, keepdims=False):
        return special.logsumexp(z, axis=axis, keepdims=keepdims) / np.log(10)   # in log10

    result = tutor.check("logsumexp", logsumexp, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message == (
        "On logsumexp(z=[[ 3.], [-2.]], axis=-1, keepdims=True) (slices of length 1 "
        "(keepdims=True)), your logsumexp has 2 of 2 entries wrong; at index (0, 0) the answer "
        "is 3 but you have 1.3029.")


def test_a_pass_lists_the_hard_cases_it_survived():
    result = tutor.check("logsumexp", ch03.logsumexp, seed=0)
    assert result.message == (
        "logsumexp is right on all 17 inputs, including the lesson's (1000, 1001, 1002), "
        "logits ±1e4, rows a global max would underflow (keepdims=True), −inf entries and an "
        "all −inf row, axis=0 with an all −inf column, float16 (e^11 + e^10 + e^9 overflows), "
        "a single float32 row (e^100 overflows), the largest logit in the middle or last, a "
        "sum of exponentials within 1e-7 of 1, slices of length 1 (keepdims=True), the middle "
        "axis of three (keepdims=True) and axis=0 (keepdims=True).")


# ---------------------------------------------------------------------------------------------
# The references: the numbers the lesson asserts


def test_references_reproduce_the_lesson_numbers():
    assert np.allclose(ch03.stable_softmax(np.array([1000.0, 1001.0, 999.0])),
                       [0.2447, 0.6652, 0.0900], atol=5e-5)
    assert np.isclose(ch03.logsumexp(np.array([1000.0, 1001.0, 1002.0])), 1002.4076, atol=5e-5)
    thresholds = [ch03.overflow_threshold(d) for d in
                  (np.float16, torch.bfloat16, np.float32, np.float64)]
    assert np.allclose(thresholds, [11.09, 88.72, 88.72, 709.78], atol=5e-3)


def test_logsumexp_is_shift_equivariant_and_between_its_bounds():
    rng = np.random.default_rng(0)
    for _ in range(50):
        z = rng.normal(0, 10, (3, int(rng.integers(1, 8))))
        lse, m = ch03.logsumexp(z), z.max(axis=-1)
        assert np.all(m <= lse) and np.all(lse <= m + np.log(z.shape[-1]) + 1e-12)
        assert np.allclose(ch03.logsumexp(z + 7.0), lse + 7.0)


# ---------------------------------------------------------------------------------------------
# The explorers: controls moved, artists read back


def heights(bars):
    return np.array([bar.get_height() for bar in bars])


def test_stability_explorer_flags_naive_nan_at_the_lessons_logits():
    explorer = StabilityExplorer(dtype="float64")
    assert explorer.controls["magnitude"].value == 1000.0
    assert np.allclose(heights(explorer.stable_bars), [0.2447, 0.6652, 0.0900], atol=5e-5)
    assert list(heights(explorer.naive_bars)) == [0.0, 0.0, 0.0]
    assert [t.get_text() for t in explorer.naive_labels] == ["NaN", "NaN", "NaN"]
    assert [t.get_text() for t in explorer.stable_labels] == ["", "", ""]
    assert explorer.bar_title.get_text() == "naive: NaN in 3 of 3"
    assert "(0.2447, 0.6652, 0.0900) ✓" in explorer.readout.value
    assert explorer.readout.value.count(">NaN</b>") == 3


def test_stability_explorer_shows_naive_and_stable_agreeing_on_small_logits():
    explorer = StabilityExplorer()
    explorer.controls["magnitude"].value = 3.0
    assert np.allclose(heights(explorer.naive_bars), heights(explorer.stable_bars), atol=1e-6)
    assert explorer.bar_title.get_text() == "naive and max-shifted agree"
    assert [t.get_text() for t in explorer.naive_labels] == ["", "", ""]


def test_float16_sum_overflow_gives_zeros_and_is_flagged():
    explorer = StabilityExplorer()
    explorer.controls["dtype"].value = "float16"
    explorer.controls["magnitude"].value = 10.0          # logits (10, 11, 9): e^11 < 65504
    assert list(heights(explorer.naive_bars)) == [0.0, 0.0, 0.0]
    assert explorer.bar_title.get_text() == "naive: sums to 0 (Σ e^z = inf)"
    assert "Σ e^z = <b style='color:#c62828'>inf</b>" in explorer.readout.value


def test_shaded_stretches_follow_the_dtype_thresholds():
    explorer = StabilityExplorer()
    for dtype, top in (("float16", 11.09), ("float32", 88.72), ("float64", 709.78)):
        explorer.controls["dtype"].value = dtype
        low, high = explorer.works
        # The naive formula overflows once its largest logit M + 1 (and the sum) pass e^top.
        assert top - 2 < high + 1 < top + 0.01, (dtype, high)
        assert low < 0
        overflow_span = explorer.spans[1]
        assert overflow_span.get_x() > high and overflow_span.get_width() > 0
        naive_curve = explorer.naive_curve.get_ydata()
        assert np.isnan(naive_curve[explorer.grid > 2 * top]).all()


def test_negative_magnitude_moves_the_marker_and_float16_rounds_huge_logits():
    explorer = StabilityExplorer()
    explorer.controls["sign"].value = -1.0
    explorer.controls["magnitude"].value = 500.0
    assert list(explorer.marker.get_xdata()) == [-500.0, -500.0]
    explorer.controls["sign"].value = 1.0
    explorer.controls["dtype"].value = "float16"
    explorer.controls["magnitude"].value = 10000.0
    assert np.allclose(heights(explorer.stable_bars), 1 / 3, atol=1e-3)
    assert "float16 stores these logits as (10000, 10000, 10000)" in explorer.readout.value


def test_stability_explorer_uses_the_lessons_own_functions():
    def lesson_softmax(z):
        return np.full(len(z), 0.25)

    explorer = StabilityExplorer(lesson_softmax, naive=lesson_softmax)
    assert list(heights(explorer.stable_bars)) == [0.25, 0.25, 0.25]
    assert list(heights(explorer.naive_bars)) == [0.25, 0.25, 0.25]


def test_smooth_max_explorer_hits_the_upper_bound_when_all_logits_are_equal():
    explorer = SmoothMaxExplorer()
    explorer.controls["n"].value = 4
    explorer.controls["spread"].value = 0.0
    top = explorer.max_line.get_ydata()[0]
    assert np.isclose(explorer.lse_line.get_ydata()[0], top + np.log(4))
    assert np.isclose(explorer.upper_line.get_ydata()[0], top + np.log(4))
    assert [bar.get_visible() for bar in explorer.bars].count(True) == 4
    assert explorer.title.get_text() == "max 2.00 ≤ LSE 3.39 ≤ max + log n 3.39"


def test_smooth_max_explorer_meets_the_max_for_one_logit_and_moves_with_c():
    explorer = SmoothMaxExplorer()
    explorer.controls["n"].value = 1
    assert explorer.lse_line.get_ydata()[0] == explorer.max_line.get_ydata()[0] == 2.0
    explorer.controls["n"].value = 6
    before = explorer.lse_line.get_ydata()[0]
    explorer.controls["add c"].value = 1.5
    assert np.isclose(explorer.lse_line.get_ydata()[0], before + 1.5)
    assert np.allclose(heights(explorer.bars)[:6], explorer.logits())
    assert "LSE(z) − c = " + f"{before:.3f}" in explorer.readout.value


# ---------------------------------------------------------------------------------------------
# The same verdict on every seed: every twin, every right answer, and wrong answers at the edges
# the contract allows, over 30 seeds each

PROBLEMS = ["overflow_threshold", "stable_softmax", "logsumexp"]


def logsumexp_nan_patched(z, axis=-1, keepdims=False):
    """Unguarded, then the NaN of an all −inf slice (its only source) replaced by −inf."""
    m = np.max(z, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
    out = np.where(np.isnan(out), -np.inf, out)
    return out if keepdims else np.squeeze(out, axis=axis)


RIGHT_EVERYWHERE = RIGHT + [("logsumexp", logsumexp_nan_patched)]


@pytest.mark.parametrize("problem_id", PROBLEMS)
def test_every_twin_fails_and_is_named_on_every_seed(problem_id):
    sweep(problem_id, twins_of(problem_id), SWEEP)


@pytest.mark.parametrize("problem_id", PROBLEMS)
def test_every_right_answer_passes_on_every_seed(problem_id):
    problem = registry.get(problem_id)
    answers = [problem.reference] + [f for p, f in RIGHT_EVERYWHERE if p == problem_id]
    assert len(answers) >= 5
    for answer in answers:
        passes(problem_id, answer, seeds=SWEEP)


# Wrong answers at the edges of the contract, written for this sweep (not copies of twins).

def e_threshold_table_without_bfloat16(dtype):
    table = {"float16": 11.0898, "float32": 88.7228, "float64": 709.7827}
    name = str(dtype).removeprefix("torch.") if is_torch_dtype(dtype) else np.dtype(dtype).name
    return table[name]                                   # KeyError for bfloat16


def e_threshold_numpy_only(dtype):
    return float(np.log(np.finfo(dtype).max))            # numpy knows no torch dtype


def e_threshold_two_decimals(dtype):
    return round(ch03.overflow_threshold(dtype), 2)      # 88.72 is 1e-4 below, 13 steps away


def e_softmax_shift_by_first(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.take(z, [0], axis=axis))
    return e / e.sum(axis=axis, keepdims=True)


def e_softmax_clipped_at_25(z, axis=-1):
    e = np.exp(np.clip(np.asarray(z, dtype=float), -25, 25))
    return e / e.sum(axis=axis, keepdims=True)


def e_softmax_float32_cast_back(z, axis=-1):
    t = torch.tensor(np.asarray(z).tolist())             # float32, torch's default
    return torch.softmax(t, dim=axis).double()


def e_softmax_torch_float32(z, axis=-1):
    return torch.softmax(torch.tensor(np.asarray(z).tolist()), dim=axis)


def e_softmax_squeezed(z, axis=-1):
    return np.squeeze(special.softmax(z, axis=axis))


def e_lse_shift_by_mean(z, axis=-1, keepdims=False):
    z = np.asarray(z, dtype=float)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # the mean of an all −inf slice
        c = np.nanmean(np.where(np.isfinite(z), z, np.nan), axis=axis, keepdims=True)
    c = np.nan_to_num(c, nan=0.0)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        out = c + np.log(np.sum(np.exp(z - c), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def e_lse_float32_cast_back(z, axis=-1, keepdims=False):
    t = torch.tensor(np.asarray(z).tolist())
    return torch.logsumexp(t, dim=axis, keepdim=keepdims).double()


def e_lse_torch_float32(z, axis=-1, keepdims=False):
    return torch.logsumexp(torch.tensor(np.asarray(z).tolist()), dim=axis, keepdim=keepdims)


def e_lse_squeezed(z, axis=-1, keepdims=False):
    out = special.logsumexp(z, axis=axis, keepdims=True)
    return out if keepdims else np.squeeze(out)


def e_lse_keepdims_at_the_end(z, axis=-1, keepdims=False):
    out = special.logsumexp(z, axis=axis)
    return out[..., None] if keepdims else out


EDGE_WRONG = [
    ("overflow_threshold", e_threshold_table_without_bfloat16, None),
    ("overflow_threshold", e_threshold_numpy_only, None),
    ("overflow_threshold", e_threshold_two_decimals, None),
    ("stable_softmax", e_softmax_shift_by_first, "no_max_shift"),
    ("stable_softmax", e_softmax_clipped_at_25, "clips_logits"),
    ("stable_softmax", e_softmax_float32_cast_back, "lower_precision"),
    ("stable_softmax", e_softmax_squeezed, None),
    ("stable_softmax", e_softmax_torch_float32, "lower_precision"),
    ("logsumexp", e_lse_shift_by_mean, "no_max_shift"),
    ("logsumexp", e_lse_float32_cast_back, "lower_precision"),
    ("logsumexp", e_lse_squeezed, None),
    ("logsumexp", e_lse_torch_float32, "lower_precision"),
    ("logsumexp", e_lse_keepdims_at_the_end, "keepdims_ignored"),
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
