"""Chapter 03, numerical stability: where exp overflows in each dtype, softmax with the max shift
for logits up to ±1e4 in float16, float32 and float64, and a log-sum-exp that is exact at ±1e4
and gives −inf, not NaN, for an all −inf slice."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from tutor import checking
from tutor.chapters import _inputs, blocks
from tutor.chapters.blocks import as_in_torch, in_float32
from tutor.problem import Choice, Problem, Quiz, Symptom, Twin, case

CHAPTER = "03_stability"


# --- overflow_threshold ------------------------------------------------------------------------

def overflow_threshold(dtype):
    """log(finfo(dtype).max): e^x is finite exactly while x ≤ the log of the largest finite
    number of the dtype (numpy or torch)."""
    if type(dtype).__module__ == "torch":
        import torch

        info = torch.finfo(dtype)
    else:
        info = np.finfo(dtype)
    return math.log(float(info.max))


@dataclass(frozen=True)
class _Dtype:
    """A dtype as the learner would write it (`np.float16`, `torch.bfloat16`). Cases hold this
    name and the real dtype is made at call time, so torch is imported only when a check runs,
    and messages read `overflow_threshold(dtype=torch.bfloat16)`."""

    written: str

    def __repr__(self) -> str:
        return self.written

    def resolve(self):
        library, _, name = self.written.partition(".")
        if library == "torch":
            import torch

            return getattr(torch, name)
        if name.startswith("dtype("):
            return np.dtype(name[7:-2])
        return getattr(np, name)


_DTYPES = tuple(_Dtype(d) for d in (
    "np.float16", "np.float32", "np.float64", "np.dtype('float16')", "np.dtype('float32')",
    "np.dtype('float64')", "torch.float16", "torch.bfloat16", "torch.float32", "torch.float64"))


class _OnGrid(float):
    """An expected threshold that carries the spacing of its dtype's numbers around it."""

    step: float


def _expected_threshold(c):
    dtype = c.args[0].resolve()
    value = _OnGrid(overflow_threshold(dtype))
    info = _finfo(dtype)
    # The dtype's numbers near the threshold are 2^floor(log2 x)·eps apart: one step of slack
    # accepts the answer computed or searched for in the dtype itself (11.086 for float16,
    # 88.5 for bfloat16, whose numbers near 88 are 0.5 apart).
    value.step = 2.0 ** math.floor(math.log2(value)) * float(info.eps)
    return value


def _finfo(dtype):
    if type(dtype).__module__ == "torch":
        import torch

        return torch.finfo(dtype)
    return np.finfo(dtype)


def _call_with_dtype(fn, c):
    return fn(*(a.resolve() if isinstance(a, _Dtype) else a for a in c.args), **c.kwargs)


def _within_one_step(expected, got, tol):
    step = getattr(expected, "step", None)
    if step is None:  # two wrong answers compared with each other
        return checking.compare_arrays(expected, got, tol)
    return checking.compare_arrays(expected, got, checking.Tolerance(0.0, step))


def _threshold_is_max(dtype):
    return float(_finfo(dtype).max)


def _threshold_always_float64(dtype):
    return math.log(np.finfo(float).max)


def _threshold_always_float32(dtype):
    return math.log(np.finfo(np.float32).max)


def _threshold_bfloat16_as_float16(dtype):
    if "bfloat16" in str(dtype):
        return math.log(np.finfo(np.float16).max)
    return overflow_threshold(dtype)


def _threshold_log2(dtype):
    return math.log2(_finfo(dtype).max)


def _threshold_log10(dtype):
    return math.log10(_finfo(dtype).max)


def _threshold_cases(rng):
    for i in rng.integers(0, len(_DTYPES), 4):
        yield case(_DTYPES[i])


def _threshold_probes():
    # Torch dtypes are inputs here. Importing torch now, while the inputs are drawn, keeps its
    # import time (seconds, in a fresh kernel) off the clock of the learner's calls.
    import torch  # noqa: F401

    notes = {"np.float32": "float32", "torch.bfloat16": "torch.bfloat16",
             "np.dtype('float16')": "float16", "torch.float64": "torch.float64"}
    # Every dtype as a fixed probe, so that an answer wrong for one of them fails on every seed.
    return [case(d, note=notes.get(d.written, "")) for d in sorted(
        _DTYPES, key=lambda d: d.written not in notes)]


# --- stable_softmax ----------------------------------------------------------------------------

def _stable_softmax(b, z, axis=-1):
    """e^(z − m) / Σ e^(z − m) along `axis`, m each slice's own max: the largest exponent is 0,
    so nothing overflows and every denominator is at least 1."""
    return b.softmax(b.asarray(z), axis=axis)


# The reference, and a twin for every buggy building block it uses (no −inf entries here).
stable_softmax, _SOFTMAX_DERIVED = blocks.compose(
    _stable_softmax, example=(np.zeros((2, 3)), 0), exclude=("neg_inf_nan",))


def _compare_probabilities(expected, got, tol):
    # The engine grows its absolute tolerance with the size of the logits, which suits
    # log-probabilities: an error of δ in z − LSE(z) is an error of δ in log p. For p itself
    # that is a relative error, so here it widens the relative tolerance (up to ten times its
    # base: e^(z − LSE) in float32 at 1e4 is off by about 1e-3), and the absolute one, for
    # numbers in [0, 1], stays at a tenth of the base relative one.
    rtol = min(tol.rtol + tol.atol, 10 * tol.rtol)
    return checking.compare_arrays(expected, got, checking.Tolerance(rtol, tol.rtol / 10))


def _agree_probabilities(twin_value, value, tol):
    """Two wrong answers agree to float32 precision (a lower_precision twin and a learner's
    float32 answer differ in their last digits)."""
    return blocks.agree_to_float32(twin_value, value, tol, compare=_compare_probabilities)


# Buggy twins, written the way learners write them, computing in the input's own dtype; each
# that fails differently in float64 also comes upcast, as learners who start with
# `z = np.asarray(z, dtype=float)` write it.

def _float64_first(fn):
    def upcast(z, *args, **kwargs):
        return fn(np.asarray(z, dtype=float), *args, **kwargs)
    return upcast


def _float32_first(fn):
    """As computed by learners whose torch tensors are float32 by default
    (`torch.tensor(z.tolist())`)."""
    def downcast(z, *args, **kwargs):
        return fn(np.asarray(z, dtype=np.float32), *args, **kwargs)
    return downcast


def _softmax_naive(z, axis=-1):
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_naive_nan_to_num(z, axis=-1):
    e = np.exp(z)
    return np.nan_to_num(e / e.sum(axis=axis, keepdims=True))


def _softmax_min_shift(z, axis=-1):
    e = np.exp(z - z.min(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_mean_shift(z, axis=-1):
    e = np.exp(z - z.mean(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_clipped(bound):
    def softmax(z, axis=-1):
        e = np.exp(np.clip(z, -bound, bound))
        return e / e.sum(axis=axis, keepdims=True)
    return softmax


def _softmax_capped(bound):
    """Clipped from above only, as np.minimum(z, bound) or torch.clamp(z, max=bound) do."""
    def softmax(z, axis=-1):
        e = np.exp(np.minimum(z, bound))
        return e / e.sum(axis=axis, keepdims=True)
    return softmax


def _softmax_in_dtype(z, axis=-1):
    """The right formula, computed in the dtype of z."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_global_max(z, axis=-1):
    e = np.exp(z - np.max(z))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_last_axis(z, axis=-1):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_max_on_last_axis(z, axis=-1):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_global_sum(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum()


def _softmax_max_no_keepdims(z, axis=-1):
    e = np.exp(z - z.max(axis=axis))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_no_keepdims(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis)


def _softmax_not_normalised(z, axis=-1):
    return np.exp(z - z.max(axis=axis, keepdims=True))


_AS_WRITTEN = (lambda fn: fn, _float64_first)
"""Each range-dependent twin as written, and upcast to float64 first."""


# --- symptoms: the variants of a mistake that no single twin matches ----------------------------

def _slices(x, axis):
    """The slices of `x` along `axis`, as the rows of a 2-D float64 array."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    return x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)


def _overflow_limit(z):
    return overflow_threshold(z.dtype if isinstance(z, np.ndarray) and z.dtype.kind == "f"
                              else np.float64)


def _can_overflow(z, axis):
    """Per slice: does e^z, or e^(z − c) for a c that is not the slice's max (its mean, its
    first or smallest entry), overflow in the dtype of z? True when the largest entry, or the
    spread between the largest and smallest, passes that dtype's limit."""
    rows = _slices(z, axis)
    finite = np.where(np.isfinite(rows), rows, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        top, bottom = np.nanmax(finite, axis=-1), np.nanmin(finite, axis=-1)
    limit = _overflow_limit(z)
    return (top > limit) | (top - bottom > limit)


def _overflowed_softmax(case, expected, outcome):
    """Probabilities that became NaN or inf, or lost their total of one (NaN patched to 0),
    in a slice whose exponentials overflow unless its max is subtracted."""
    z, axis = case.args[0], case.kwargs.get("axis", -1)
    p = checking.as_array(outcome.value).astype(np.float64)
    if p.shape != np.shape(z):
        return False
    rows, right = _slices(p, axis), _slices(expected, axis)
    broken = ~np.isfinite(rows).all(axis=-1) | (np.abs(np.nansum(rows, axis=-1) - 1) > 0.5)
    return bool(np.any(broken & np.isfinite(right).all(axis=-1) & _can_overflow(z, axis)))


def _overflowed_logsumexp(case, expected, outcome):
    """+inf or NaN where log-sum-exp is finite, in a slice whose exponentials overflow unless
    its max is subtracted."""
    z, axis = case.args[0], case.kwargs.get("axis", -1)
    out = checking.as_array(outcome.value).astype(np.float64).ravel()
    right = np.asarray(expected, dtype=np.float64).ravel()
    if out.shape != right.shape:
        return False
    broken = (np.isnan(out) | (out == np.inf)) & np.isfinite(right)
    return bool(np.any(broken & _can_overflow(z, axis)))


def _gaps_lost(case, expected, outcome):
    """Entries whose logits differ (by more than float16 rounding could blur) got the same
    probability, in a slice that still sums to one, where the right probabilities differ: the
    gaps between the logits were lost, as clipping the logits loses them."""
    z, axis = case.args[0], case.kwargs.get("axis", -1)
    p = checking.as_array(outcome.value).astype(np.float64)
    if p.shape != np.shape(z) or not np.isfinite(p).all():
        return False
    for zs, ps, es in zip(_slices(z, axis), _slices(p, axis), _slices(expected, axis),
                          strict=True):
        if abs(ps.sum() - 1) > 1e-2:
            continue
        dz = np.abs(zs[:, None] - zs[None, :])
        blur = 2.0**-9 * np.maximum(np.abs(zs[:, None]), np.abs(zs[None, :])) + 1e-3
        tied = np.abs(ps[:, None] - ps[None, :]) <= 1e-3 * np.maximum(ps[:, None], 1e-300)
        apart = np.abs(es[:, None] - es[None, :]) > 0.1 * np.maximum(es[:, None], es[None, :])
        if np.any((ps[:, None] > 1e-4) & tied & apart & (dz > blur)):
            return True
    return False


def _softmax_cases(rng):
    for ndim in (1, 2, 2, 3, 3):
        shape = _inputs.shape(rng, ndim)
        axis = _inputs.axis(rng, ndim)
        scale = float(10 ** rng.uniform(0, 3.5))           # from ordinary to huge logits
        z = _inputs.logits(rng, shape, scale=scale)
        if ndim > 1 and rng.random() < 0.5:
            # Slices at different heights: a max taken over the whole array underflows some.
            offsets = rng.uniform(-3000, 3000, shape)
            z = z + np.take(offsets, [0], axis=axis)
        dtype = rng.choice([np.float64, np.float32, np.float16], p=[0.5, 0.3, 0.2])
        z = z.clip(-1e4, 1e4)
        if dtype == np.float16:
            # Within ±100, where e^20 already overflows float16. Near 1e4 float16 numbers are 8
            # apart, so a right answer computed as e^(z − logsumexp(z)) in float16 would be off
            # by a factor up to e^4; near 100 they are 1/16 apart.
            z = z * min(1.0, 100 / np.abs(z).max())
        z = z.astype(dtype)
        yield case(z) if ndim == 1 and rng.random() < 0.5 else case(z, axis=axis)


def _softmax_probes():
    return [
        case(np.array([1000.0, 1001.0, 999.0]), note="the lesson's (1000, 1001, 999)"),
        # Logits 3 apart near −1e4, which float16 (numbers 8 apart there) cannot hold apart.
        case(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 3, -1e4 + 6]]), note="logits ±1e4"),
        # Square, so that a sum without keepdims broadcasts to wrong numbers instead of failing.
        case(np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1002.0], [0.0, 3.0, 1.0]]),
             note="rows a global max would underflow"),
        case(np.array([[700.0, 2.0], [702.0, 1.0], [699.0, 0.0]]), axis=0,
             note="axis=0 with large logits"),
        case(np.array([20.0, 15.0, 10.0], dtype=np.float16), note="float16 (e^20 overflows)"),
        case(np.array([[100.0, 90.0, 80.0, 70.0]], dtype=np.float32),
             note="float32 (e^100 overflows)"),
        # The largest entry in the middle and last: a shift by the first entry overflows.
        case(np.array([[-5000.0, 5000.0, 0.0], [0.0, -5000.0, 5000.0]]),
             note="the largest logit in the middle or last"),
        # float32 keeps about 7 digits: near 1e4 its numbers are 1/1024 apart.
        case(np.array([10000.3, 9999.9, 10000.1]), note="close float64 logits near 1e4"),
        case(np.array([[2.5], [-1.0]]), note="slices of length 1"),
        case(np.arange(24.0).reshape(2, 3, 4) * 37.0 % 11.0 - 5.0, axis=1,
             note="the middle axis of three"),
    ]


# --- logsumexp ---------------------------------------------------------------------------------

def _logsumexp(b, z, axis=-1, keepdims=False):
    """log Σ_j e^(z_j) along `axis` = m + log Σ_j e^(z_j − m), m each slice's max. An all −inf
    slice has an empty sum: with m = 0 there it gives log 0 = −inf instead of −inf − (−inf)."""
    return b.logsumexp(b.asarray(z), axis=axis, keepdims=keepdims)


# The reference, and a twin for every buggy building block it uses.
logsumexp, _LSE_DERIVED = blocks.compose(_logsumexp, example=(np.zeros((2, 3)), 0, True))


def _lse_in_dtype(z, axis=-1, keepdims=False):
    """The right formula, computed in the dtype of z."""
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(z.dtype)
    with np.errstate(divide="ignore"):
        lse = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
    return lse if keepdims else np.squeeze(lse, axis=axis)


def _lse_naive(z, axis=-1, keepdims=False):
    return np.log(np.sum(np.exp(z), axis=axis, keepdims=keepdims))


def _lse_forgets_max(z, axis=-1, keepdims=False):
    m = np.max(z, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(z - m), axis=axis, keepdims=keepdims))


def _lse_forgets_max_guarded(z, axis=-1, keepdims=False):
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    return np.log(np.sum(np.exp(z - m), axis=axis, keepdims=keepdims))


def _lse_unguarded(z, axis=-1, keepdims=False):
    m = np.max(z, axis=axis, keepdims=True)
    lse = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
    return lse if keepdims else np.squeeze(lse, axis=axis)


def _lse_unguarded_nan_to_num(z, axis=-1, keepdims=False):
    return np.nan_to_num(_lse_unguarded(z, axis, keepdims), neginf=-np.inf, posinf=np.inf)


def _lse_global_max(z, axis=-1, keepdims=False):
    m = np.max(z)
    return m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=keepdims))


def _lse_last_axis(z, axis=-1, keepdims=False):
    return logsumexp(z, axis=-1, keepdims=keepdims)


def _lse_max_kept_sum_dropped(z, axis=-1, keepdims=False):
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    return m + np.log(np.sum(np.exp(z - m), axis=axis))


def _lse_max_dropped(z, axis=-1, keepdims=False):
    m = np.max(z, axis=axis)
    m = np.where(np.isfinite(m), m, 0)
    return m + np.log(np.sum(np.exp(z - m), axis=axis))


def _lse_never_keeps(z, axis=-1, keepdims=False):
    return logsumexp(z, axis=axis)


def _lse_always_keeps(z, axis=-1, keepdims=False):
    return logsumexp(z, axis=axis, keepdims=True)


def _lse_keeps_last_axis(z, axis=-1, keepdims=False):
    out = logsumexp(z, axis=axis)
    return np.expand_dims(out, -1) if keepdims else out


def _lse_cases(rng):
    for ndim in (1, 2, 2, 3, 3):
        shape = _inputs.shape(rng, ndim)
        axis = _inputs.axis(rng, ndim)
        z = _inputs.logits(rng, shape, scale=float(10 ** rng.uniform(0, 3.5)))
        if ndim > 1 and rng.random() < 0.5:
            z = z + np.take(rng.uniform(-3000, 3000, shape), [0], axis=axis)
        z = z.clip(-1e4, 1e4)
        if rng.random() < 0.6:
            z[rng.random(shape) < 0.3] = -np.inf             # masked entries
        if ndim > 1 and rng.random() < 0.4:
            slices = [slice(None)] * ndim                     # one fully masked slice
            other = (axis + 1) % ndim
            slices[other] = int(rng.integers(0, shape[other]))
            z[tuple(slices)] = -np.inf
        if rng.random() < 0.3:
            z = z.astype(np.float32)
        keepdims = bool(rng.random() < 0.5)
        if ndim == 1 and rng.random() < 0.3:
            yield case(z)
        else:
            yield case(z, axis=axis, keepdims=keepdims)


def _lse_probes():
    ninf = -np.inf
    return [
        case(np.array([1000.0, 1001.0, 1002.0]), note="the lesson's (1000, 1001, 1002)"),
        case(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]), note="logits ±1e4"),
        case(np.array([[1000.0, 999.0], [-1000.0, -1001.0]]), axis=-1, keepdims=True,
             note="rows a global max would underflow (keepdims=True)"),
        case(np.array([[0.0, ninf, 1.0], [ninf, ninf, ninf]]), note="−inf entries and an "
             "all −inf row"),
        case(np.array([[ninf, 2.0, 1.0], [ninf, 3.0, 0.0], [ninf, ninf, 5.0], [ninf, 1.0, 1.0]]),
             axis=0, keepdims=False, note="axis=0 with an all −inf column"),
        case(np.array([11.0, 10.0, 9.0], dtype=np.float16),
             note="float16 (e^11 + e^10 + e^9 overflows)"),
        case(np.array([[100.0, 90.0, 80.0]], dtype=np.float32),
             note="a single float32 row (e^100 overflows)"),
        case(np.array([[-1e4, 0.0, 1e4], [0.0, 1e4, -1e4]]),
             note="the largest logit in the middle or last"),
        # Σ e^z = 1 + 6e-8, which float32 (numbers near 1 are 1.2e-7 apart) rounds to 1.
        case(np.array([[0.0, -17.0, -18.0], [-0.25, -17.25, -18.5]]),
             note="a sum of exponentials within 1e-7 of 1"),
        case(np.array([[3.0], [-2.0]]), axis=-1, keepdims=True,
             note="slices of length 1 (keepdims=True)"),
        # keepdims=True on an axis other than the last of a 3-D input.
        case(np.arange(24.0).reshape(2, 3, 4) * 37.0 % 11.0 - 5.0, axis=1, keepdims=True,
             note="the middle axis of three (keepdims=True)"),
        case(np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -3.0]]), axis=0, keepdims=True,
             note="axis=0 (keepdims=True)"),
    ]


PROBLEMS = [
    Problem(
        id="overflow_threshold", chapter=CHAPTER, signature="overflow_threshold(dtype)",
        difficulty="easy", points=1,
        statement="The largest x for which e^x is finite in `dtype`: a numpy dtype "
                  "(np.float16, np.float32, np.float64, or np.dtype('float32') and the like) or "
                  "a torch dtype (torch.float16, torch.bfloat16, torch.float32, torch.float64), "
                  "returned as a number. An answer within one step of the dtype's own grid of "
                  "numbers near the threshold counts (its float16 value 11.086 does; its "
                  "numbers near 11 are 1/128 apart).",
        reference=overflow_threshold, generate=_threshold_cases, probes=_threshold_probes,
        call=_call_with_dtype, expect=_expected_threshold, compare=_within_one_step, rtol=1e-3,
        twins=(Twin("threshold_not_log", _threshold_is_max),
               Twin("threshold_wrong_dtype", _threshold_always_float64),
               Twin("threshold_wrong_dtype", _threshold_always_float32),
               Twin("threshold_wrong_dtype", _threshold_bfloat16_as_float16),
               Twin("threshold_base_two", _threshold_log2),
               Twin("wrong_log_base", _threshold_log10)),
        hints=("e^x stays finite while it is at most the largest finite number of the dtype. "
               "Where does numpy (and torch) tell you that number?",
               "np.finfo(dtype).max for numpy dtypes, torch.finfo(dtype).max for torch ones "
               "(numpy does not know bfloat16). Then undo the exponential.",
               "math.log(float(info.max)) with info = torch.finfo(dtype) when "
               "type(dtype).__module__ == 'torch', else np.finfo(dtype); import torch inside "
               "that branch."),
    ),
    Problem(
        id="stable_softmax", chapter=CHAPTER, signature="stable_softmax(z, axis=-1)",
        difficulty="medium", points=2,
        statement="Softmax of z along `axis`, like chapter 02's, but right for logits as large "
                  "as ±1e4 and for float16, float32 and float64 inputs, with no inf or NaN in "
                  "the result. Any shape, any axis; same shape out; z unchanged. Computing in "
                  "the input's own dtype is fine.",
        reference=stable_softmax, generate=_softmax_cases, probes=_softmax_probes,
        compare=_compare_probabilities,
        agree=_agree_probabilities,
        twins=(*_SOFTMAX_DERIVED,
               Twin("no_max_shift", _softmax_naive),
               *(Twin("no_max_shift", f(twin)) for f in _AS_WRITTEN for twin in (
                   _softmax_naive_nan_to_num, _softmax_min_shift, _softmax_mean_shift)),
               Twin("no_max_shift", _float32_first(_softmax_naive)),
               # Two of the clipping family; any other bound is named by its symptom.
               Twin("clips_logits", _float64_first(_softmax_clipped(80))),
               Twin("clips_logits", _float64_first(_softmax_capped(50))),
               Twin("global_max_shift", _softmax_global_max),
               Twin("lower_precision", in_float32(_softmax_in_dtype)),
               Twin("wrong_axis", _softmax_last_axis),
               Twin("wrong_axis", _softmax_max_on_last_axis),
               Twin("wrong_axis", _softmax_global_sum),
               *(Twin("missing_keepdims", f(twin)) for f in (lambda fn: fn, as_in_torch)
                 for twin in (_softmax_max_no_keepdims, _softmax_no_keepdims)),
               Twin("not_normalised", _softmax_not_normalised)),
        symptoms=(Symptom("no_max_shift", _overflowed_softmax),
                  Symptom("clips_logits", _gaps_lost)),
        hints=("Softmax does not change when you subtract the same number from every logit of "
               "a slice. Which number makes the largest exponent exactly 0?",
               "Subtract each slice's own maximum, z.max(axis=axis, keepdims=True), not the "
               "maximum of the whole array: a batch can hold rows at very different heights.",
               "e = np.exp(z - z.max(axis=axis, keepdims=True)); return e / e.sum(axis=axis, "
               "keepdims=True)"),
    ),
    Problem(
        id="logsumexp", chapter=CHAPTER, signature="logsumexp(z, axis=-1, keepdims=False)",
        difficulty="hard", points=3,
        statement="log Σ_j e^(z_j) along `axis`, exact for logits as large as ±1e4. Entries may "
                  "be −inf (masked), and a slice that is −inf everywhere must give −inf, not "
                  "NaN. With keepdims=True the reduced axis stays, with length 1; otherwise it "
                  "is removed (like numpy's reductions).",
        reference=logsumexp, generate=_lse_cases, probes=_lse_probes,
        agree=blocks.agree_to_float32,
        twins=(*_LSE_DERIVED,
               Twin("lower_precision", in_float32(_lse_in_dtype)),
               *(Twin("no_max_shift", f(_lse_naive)) for f in (*_AS_WRITTEN, _float32_first)),
               Twin("lse_forgets_max", _lse_forgets_max),
               Twin("lse_forgets_max", _lse_forgets_max_guarded),
               Twin("neg_inf_nan", _lse_unguarded),
               Twin("neg_inf_nan", _lse_unguarded_nan_to_num),
               *(Twin("global_max_shift", f(_lse_global_max)) for f in _AS_WRITTEN),
               Twin("wrong_axis", _lse_last_axis),
               Twin("missing_keepdims", _lse_max_kept_sum_dropped),
               Twin("missing_keepdims", _lse_max_dropped),
               Twin("missing_keepdims", as_in_torch(_lse_max_dropped)),
               Twin("keepdims_ignored", _lse_never_keeps),
               Twin("keepdims_ignored", _lse_always_keeps),
               Twin("keepdims_ignored", _lse_keeps_last_axis)),
        symptoms=(Symptom("no_max_shift", _overflowed_logsumexp),),
        hints=("Factor e^m out of the sum, with m the slice's largest entry: what is left can "
               "neither overflow nor be all zeros.",
               "log Σ e^z = m + log Σ e^(z − m). Take m with keepdims=True so that z − m "
               "broadcasts, and drop the axis at the end unless keepdims. For a slice that is "
               "−inf everywhere, m = −inf and z − m is NaN: use m = 0 there instead.",
               "m = z.max(axis=axis, keepdims=True); m = np.where(np.isfinite(m), m, 0); "
               "out = m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True)); return out if "
               "keepdims else out.squeeze(axis)"),
    ),
]


QUIZZES = [
    Quiz(
        id="q03_fp16_threshold", chapter=CHAPTER,
        question="Up to which x is np.exp(x) finite in float16? (two decimals)",
        answer=math.log(65504.0), tolerance=0.01,
        wrong_answers=(
            (65504.0, "65504 is the largest float16 itself; e^x reaches it at x = ln 65504."),
            (math.log(np.finfo(np.float32).max), "That is float32's limit; float16 has only 5 "
             "exponent bits, so its largest number is 65504."),
            (math.log(np.finfo(np.float64).max), "That is float64's limit."),
            (16.0, "16 is log2 of the float16 range (2^16 = 65536): e^x grows faster than 2^x, "
             "so the limit is ln 65504 = 16·ln 2 − a little."),
        ),
        explanation="finfo(float16).max = 65504 and ln 65504 ≈ 11.09: e^12 is already inf.",
    ),
    Quiz(
        id="q03_bfloat16", chapter=CHAPTER,
        question="bfloat16 and float16 both take 16 bits. Why does e^x overflow at 88.72 in "
                 "bfloat16 but at 11.09 in float16?",
        choices=(
            Choice("bfloat16 keeps float32's 8 exponent bits and gives up mantissa bits", True,
                   "Right: same range as float32 (so the same overflow threshold), but only 8 "
                   "significant bits: numbers near 88 are 0.5 apart."),
            Choice("bfloat16 computes exp in float32 internally", False, "Its range comes from "
                   "its format: 8 exponent bits, like float32, so its largest number is about "
                   "3.4e38 too."),
            Choice("float16 has a bug in exp", False, "float16's largest number is 65504, and "
                   "e^11.09 ≈ 65504: it overflows exactly where its range ends."),
            Choice("bfloat16 is more precise than float16", False, "The opposite: bfloat16 has "
                   "7 stored mantissa bits to float16's 10; it trades precision for range."),
        ),
    ),
    Quiz(
        id="q03_global_max", chapter=CHAPTER,
        question="A float64 batch has rows (1000, 1001) and (0, 1). You subtract z.max() (no "
                 "axis) before exp and divide each row by its sum. What is the second row?",
        choices=(
            Choice("(nan, nan)", True, "Right: the global max is 1001, e^(0 − 1001) and "
                   "e^(1 − 1001) underflow to 0, and 0/0 is NaN. Each row needs its own max."),
            Choice("(0.2689, 0.7311)", False, "That is the right softmax, which you get with "
                   "the row's own max, 1. The global max 1001 pushes this row to e^(−1000)."),
            Choice("(0, 0)", False, "The exponentials are 0, but so is their sum: 0/0 is NaN, "
                   "not 0."),
            Choice("(0.5, 0.5)", False, "No rule makes it uniform: after the shift both "
                   "exponentials are 0 and the division is 0/0."),
        ),
    ),
    Quiz(
        id="q03_lse_bounds", chapter=CHAPTER,
        question="logsumexp of four equal logits (10, 10, 10, 10)? (two decimals)",
        answer=10 + math.log(4.0), tolerance=0.01,
        wrong_answers=(
            (10.0, "That is the max, the lower bound: LSE equals the max only when one entry "
             "dominates. Here four equal entries each contribute e^10."),
            (40.0, "That is the sum of the logits; LSE is the log of the sum of their "
             "exponentials."),
            (10 + math.log10(4.0), "That uses log10; logsumexp uses the natural log: "
             "log(4·e^10) = 10 + ln 4."),
        ),
        explanation="log(4·e^10) = 10 + ln 4 ≈ 11.39: the upper bound max + log n, reached "
                    "because all entries are equal.",
    ),
    Quiz(
        id="q03_lse_shift", chapter=CHAPTER,
        question="Softmax does not change when you add 5 to every logit. What happens to "
                 "logsumexp(z + 5)?",
        choices=(
            Choice("It equals logsumexp(z) + 5", True, "Right: e^5 factors out of the sum and "
                   "log turns it into + 5. LSE is shift-equivariant; softmax = e^(z − LSE(z)) "
                   "is invariant because the 5 cancels there."),
            Choice("It equals logsumexp(z): LSE is shift invariant too", False,
                   "log Σ e^(z + 5) = log(e^5 Σ e^z) = 5 + log Σ e^z. It moves with the "
                   "logits (equivariant); only the softmax, z − LSE(z) exponentiated, is "
                   "invariant."),
            Choice("It equals 5·logsumexp(z)", False, "Adding to the logits multiplies the "
                   "exponentials by e^5, and the log turns that factor into + 5."),
            Choice("It equals logsumexp(z) + log 5", False, "The factor pulled out of the sum "
                   "is e^5, and log e^5 = 5."),
        ),
    ),
    Quiz(
        id="q03_all_neg_inf", chapter=CHAPTER,
        question="What should logsumexp return for a slice (−inf, −inf, −inf), every entry "
                 "masked?",
        choices=(
            Choice("−inf", True, "Right: e^(−inf) = 0, the sum is 0 and log 0 = −inf. The "
                   "max-shift formula gets NaN from −inf − (−inf), which is why the code "
                   "uses m = 0 for such a slice."),
            Choice("NaN", False, "NaN is what the unguarded formula gives (−inf − (−inf)), "
                   "not the value: the sum of three zeros is 0 and log 0 = −inf."),
            Choice("0", False, "log 0 is −inf, not 0; 0 would be the LSE of a single logit 0."),
            Choice("log 3", False, "That is the LSE of three logits equal to 0: e^0 = 1 each. "
                   "Here every exponential is e^(−inf) = 0."),
        ),
    ),
]


# === Practice beyond the lesson ================================================================
# Problems the lesson does not ask: find the bug, and two applications of log-sum-exp. They are
# declared after everything above and added to PROBLEMS at the end of this section.

# --- fix_the_logsumexp: find the bug -------------------------------------------------------------

def fix_the_logsumexp(z):
    """log Σ_k e^(z_nk) for every row of z (N, K), each row shifted by its own max."""
    return blocks.logsumexp(z, axis=-1)


def _fix_lse_shown(z):
    """The code the practice notebook shows: one max for the whole batch."""
    m = z.max()
    return m + np.log(np.exp(z - m).sum(axis=1))


def _fix_lse_no_shift(z):
    return np.log(np.exp(z).sum(axis=1))


def _fix_lse_forgets_max(z):
    m = z.max(axis=1, keepdims=True)
    return np.log(np.exp(z - m).sum(axis=1))


def _fix_lse_no_keepdims(z):
    """Each row's max as (N,), which lines up with the columns: an error for most shapes, and
    for a square batch, row n shifted by the maxima of other rows."""
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m).sum(axis=1))


def _fix_lse_columns(z):
    return blocks.logsumexp(z, axis=0)


def _fix_lse_cases(rng):
    for _ in range(3):
        N, K = _inputs.shape(rng, 2)
        z = _inputs.logits(rng, (N, K), scale=3.0)
        # Rows hundreds apart: one max for the batch leaves the low rows at e^(−800) = 0.
        yield case(z + rng.uniform(-900, 900, (N, 1)))


def _fix_lse_probes():
    return [
        case(np.array([[2.0, 1.0, 0.0], [0.5, 0.5, 0.5]]), note="ordinary rows"),
        case(np.array([[1000.0, 999.0, 998.0], [0.0, -1.0, -2.0]]),
             note="one row near 1000, one near 0"),
        case(np.array([[-1e4, -1e4 + 1], [1e4, 1e4]]), note="rows at ±1e4"),
    ]


# --- smooth_max: apply ----------------------------------------------------------------------------

def _smooth_max(b, z, tau, axis=-1):
    """τ·LSE(z/τ) along `axis`: between max(z) and max(z) + τ·log K, the max itself as τ → 0."""
    return tau * b.logsumexp(b.asarray(z) / tau, axis=axis)


smooth_max, _SMOOTH_MAX_DERIVED = blocks.compose(
    _smooth_max, example=(np.zeros((2, 3)), 1.0, 0),
    exclude=("neg_inf_nan", "missing_keepdims"))


def _smooth_max_not_rescaled(z, tau, axis=-1):
    return blocks.logsumexp(np.asarray(z, dtype=float) / tau, axis=axis)


def _smooth_max_tau_inside_only(z, tau, axis=-1):
    """m + log Σ e^((z − m)/τ): the shift rescaled, the log-sum-exp not."""
    z = np.asarray(z, dtype=float)
    m = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp((z - m) / tau), axis=axis))


def _smooth_max_ignores_axis(z, tau, axis=-1):
    return tau * blocks.logsumexp(np.asarray(z, dtype=float) / tau, axis=-1)


def _smooth_max_times_tau(z, tau, axis=-1):
    return blocks.logsumexp(np.asarray(z, dtype=float) * tau, axis=axis) / tau


def _smooth_max_cases(rng):
    for ndim in (1, 2, 2, 3):
        shape = _inputs.shape(rng, ndim)
        z = _inputs.logits(rng, shape, scale=float(rng.uniform(1, 6)))
        tau = float(np.exp(rng.uniform(-3, 2)))
        yield case(z, tau) if ndim == 1 else case(z, tau, axis=_inputs.axis(rng, ndim))


def _smooth_max_probes():
    return [
        case(np.array([2.0, 1.0, 0.0]), 1.0, note="τ = 1: plain log-sum-exp"),
        case(np.array([[10.0, 9.5, -3.0], [0.0, 0.0, 0.0]]), 0.01,
             note="τ = 0.01, where z/τ reaches 1000"),
        case(np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]), 100.0, axis=0,
             note="τ = 100 along axis 0"),
    ]


# --- ensemble_log_probs: apply -----------------------------------------------------------------

def ensemble_log_probs(log_probs):
    """log of the mean over M models (axis 0) of their probabilities:
    log (1/M) Σ_m e^(ℓ_m) = logsumexp(ℓ, axis=0) − log M."""
    lp = np.asarray(log_probs, dtype=float)
    return blocks.logsumexp(lp, axis=0) - np.log(lp.shape[0])


def _ensemble_naive(log_probs):
    return np.log(np.mean(np.exp(log_probs), axis=0))


def _ensemble_sum(log_probs):
    return blocks.logsumexp(log_probs, axis=0)


def _ensemble_mean_of_logs(log_probs):
    return np.mean(log_probs, axis=0)


def _ensemble_forgets_max(log_probs):
    m = np.max(log_probs, axis=0)
    return np.log(np.mean(np.exp(log_probs - m), axis=0))


def _ensemble_global_max(log_probs):
    """One max for the whole array: a class that every model puts far below it underflows."""
    m = np.max(log_probs)
    return m + np.log(np.mean(np.exp(log_probs - m), axis=0))


def _ensemble_over_classes(log_probs):
    lp = np.asarray(log_probs, dtype=float)
    return blocks.logsumexp(lp, axis=-1) - np.log(lp.shape[-1])


def _ensemble_cases(rng):
    for ndim in (2, 2, 3):
        shape = _inputs.shape(rng, ndim)
        yield case(blocks.log_softmax(_inputs.logits(rng, shape, scale=4.0), axis=-1))


def _ensemble_probes():
    return [
        case(np.log(np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]])), note="two models, 3 classes"),
        case(np.array([[-1000.0, 0.0], [-1001.0, 0.0], [-1002.0, 0.0]]),
             note="a class every model puts at e^(−1000)"),
        case(np.array([[[0.0, -800.0]], [[-1e-3, -805.0]]]), note="shape (M, N, K) = (2, 1, 2)"),
        # Not a distribution along the last axis: one max for the array suits the first column
        # only, where no shift at all fails on both.
        case(np.array([[-1000.0, -2000.0], [-1001.0, -2003.0]]),
             note="two whole sequences' log-probabilities under two models, 1000 apart"),
    ]


_BEYOND = [
    Problem(
        id="fix_the_logsumexp", chapter=CHAPTER, signature="fix_the_logsumexp(z)",
        difficulty="easy", points=1,
        statement="Find the bug. `m = z.max(); return m + np.log(np.exp(z - m).sum(axis=1))` "
                  "is log-sum-exp of each row of a batch z (N, K) with a max shift, yet a row "
                  "near 0 in a batch with a row near 1000 gets −inf. Fix it: log Σ_k e^(z_nk) "
                  "for every row, shape (N,), exact for rows far apart and logits of ±1e4.",
        reference=fix_the_logsumexp, generate=_fix_lse_cases, probes=_fix_lse_probes,
        twins=(Twin("global_max_shift", _fix_lse_shown),
               Twin("no_max_shift", _fix_lse_no_shift),
               Twin("lse_forgets_max", _fix_lse_forgets_max),
               Twin("missing_keepdims", _fix_lse_no_keepdims),
               Twin("missing_keepdims", as_in_torch(_fix_lse_no_keepdims)),
               Twin("wrong_axis", _fix_lse_columns)),
        hints=("Which max does z.max() take? Work out e^(z − m) for the row near 0 when m is "
               "1000.",
               "Every row needs its own shift: z.max(axis=1, keepdims=True) is (N, 1), and it "
               "must be added back to its own row.",
               "m = z.max(axis=1, keepdims=True); "
               "return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]"),
    ),
    Problem(
        id="smooth_max", chapter=CHAPTER, signature="smooth_max(z, tau, axis=-1)",
        difficulty="medium", points=2,
        statement="Log-sum-exp is a smooth maximum, and a temperature tau sets how smooth: "
                  "τ·LSE(z/τ) along `axis` lies between max(z) and max(z) + τ·log K, and tends "
                  "to the max as τ → 0. Return it for arrays of any shape, any axis, and any "
                  "τ > 0, exact for τ = 0.01, where z/τ reaches 1000.",
        reference=smooth_max, generate=_smooth_max_cases, probes=_smooth_max_probes,
        twins=(Twin("smooth_max_not_rescaled", _smooth_max_not_rescaled),
               Twin("smooth_max_not_rescaled", _smooth_max_tau_inside_only),
               Twin("wrong_axis", _smooth_max_ignores_axis),
               Twin("temperature_multiplies", _smooth_max_times_tau),
               *_SMOOTH_MAX_DERIVED),
        hints=("Divide by τ, take a log-sum-exp along `axis`, multiply by τ. What happens to "
               "z/τ when τ = 0.01?",
               "Shift by the max of each slice of z/τ before exp, and add it back; then the "
               "outer τ brings the result back to the scale of z.",
               "u = z / tau; m = u.max(axis=axis, keepdims=True); return tau * (m + np.log("
               "np.exp(u - m).sum(axis=axis, keepdims=True))).squeeze(axis)"),
    ),
    Problem(
        id="ensemble_log_probs", chapter=CHAPTER, signature="ensemble_log_probs(log_probs)",
        difficulty="hard", points=3,
        statement="An ensemble averages its M models' probabilities. Given their "
                  "log-probabilities, shape (M, ...) (for example (M, K) or (M, N, K)), return "
                  "the log of the averaged probabilities, log (1/M) Σ_m e^(ℓ_m), over axis 0, "
                  "shape (...). It must stay finite and exact where every model gives a class a "
                  "log-probability near −1000.",
        reference=ensemble_log_probs, generate=_ensemble_cases, probes=_ensemble_probes,
        twins=(Twin("no_max_shift", _ensemble_naive),
               Twin("sum_not_mean", _ensemble_sum),
               Twin("mean_of_logs", _ensemble_mean_of_logs),
               Twin("lse_forgets_max", _ensemble_forgets_max),
               Twin("global_max_shift", _ensemble_global_max),
               Twin("wrong_axis", _ensemble_over_classes),
               Twin("nll_sign", blocks.negated(ensemble_log_probs))),
        hints=("Averaging probabilities is not averaging their logs. Write the mean of e^ℓ "
               "over the models, and look for a log-sum-exp in it.",
               "log (1/M) Σ_m e^(ℓ_m) = LSE(ℓ, axis 0) − log M; shift by the max over the "
               "models (axis 0) so that e^(−1000) cannot underflow to 0.",
               "m = lp.max(axis=0); return m + np.log(np.exp(lp - m).mean(axis=0))"),
    ),
]

PROBLEMS += _BEYOND
