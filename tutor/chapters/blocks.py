"""The building blocks that several problems share, right and wrong, written once.

Softmax, log-sum-exp, log-softmax, picking each row's target, averaging a batch: most problems of
the course are built from the same few pieces, and a learner's classic mistakes are born in them
(no max shift, the wrong axis, log of softmax, a sum where a mean belongs). Declared here once, a
mistake is named in every problem built on its block:

    def _cross_entropy(b, logits, targets):          # the formula, on blocks `b`
        z = b.asarray(logits)
        return b.mean(-b.pick(b.log_softmax(z, axis=-1), targets))

    reference, derived = blocks.compose(_cross_entropy, example=(z, y))

`reference` is the formula on the right blocks; `derived` holds one `Twin` per buggy block that
the formula calls (found by running it once on `example`), each named after its misconception.
Chapters add the twins only they can show to `derived`.

A buggy block is a subclass of `Blocks` that overrides one or more methods and sets
`misconception`. Add one here when a mistake lives in a shared piece; it then reaches every
problem whose formula calls the methods it overrides.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from tutor.problem import Twin


class Blocks:
    """The right pieces, in float64 numpy (the checking engine compares against float64)."""

    misconception: str | None = None
    """The catalogue id a buggy subclass shows; None for the right blocks."""

    # --- elementary pieces: where most mistakes are born ----------------------------------------

    def asarray(self, z):
        return np.asarray(z, dtype=np.float64)

    def exp(self, z):
        return np.exp(z)

    def log(self, x):
        """The natural log: losses, entropies and perplexities are in nats."""
        with np.errstate(divide="ignore"):
            return np.log(x)

    def shift(self, z, axis):
        """The max of each slice along `axis`, kept as a length-1 axis, to subtract before exp.
        An all −inf slice shifts by 0, so it stays −inf instead of becoming NaN."""
        m = np.max(z, axis=axis, keepdims=True)
        return np.where(np.isfinite(m), m, 0.0)

    def total(self, e, axis):
        """Σ along `axis`, kept as a length-1 axis so that it divides its own slice."""
        return np.sum(e, axis=axis, keepdims=True)

    def mean(self, losses):
        """The batch's loss: the mean over its N entries."""
        return np.mean(losses)

    def pick(self, x, targets):
        """x[n, targets[n]] for each row n: the target class's entry of every row."""
        targets = np.asarray(targets)
        return x[np.arange(x.shape[0]), targets]

    def xlogx(self, p, log_p):
        """p · log p with 0 · log 0 = 0, the limit, as entropy needs."""
        return np.where(p > 0, p * log_p, 0.0)

    # --- composed pieces: a mistake in an elementary one reaches these too -----------------------

    def logsumexp(self, z, axis=-1, keepdims=False):
        """m + log Σ e^(z − m) along `axis`, m the slice's max."""
        m = self.shift(z, axis)
        lse = self._lse_from(z, m, axis)
        return lse if keepdims else np.squeeze(lse, axis=axis)

    def _lse_from(self, z, m, axis):
        return m + self.log(self.total(self.exp(z - m), axis))

    def softmax(self, z, axis=-1):
        """e^(z − m) / Σ e^(z − m) along `axis`."""
        e = self.exp(z - self.shift(z, axis))
        return e / self.total(e, axis)

    def log_softmax(self, z, axis=-1):
        """z − logsumexp(z): finite wherever z is, even where softmax underflows to 0."""
        return z - self.logsumexp(z, axis=axis, keepdims=True)


# --- buggy blocks: one class per way a learner gets a shared piece wrong ------------------------

class NoMaxShift(Blocks):
    """e^z straight away: overflows to inf (then NaN) for logits above about 709."""

    misconception = "no_max_shift"

    def shift(self, z, axis):
        return np.zeros_like(np.max(z, axis=axis, keepdims=True))


class GlobalMaxShift(Blocks):
    """One max for the whole array: a row far below it underflows to 0/0."""

    misconception = "global_max_shift"

    def shift(self, z, axis):
        m = np.max(z, axis=None, keepdims=True)
        return np.where(np.isfinite(m), m, 0.0)


class LseForgetsMax(Blocks):
    """log Σ e^(z − m) without adding m back."""

    misconception = "lse_forgets_max"

    def _lse_from(self, z, m, axis):
        return self.log(self.total(self.exp(z - m), axis))


class NegInfNan(Blocks):
    """An all −inf slice shifted by its own max, −inf: −inf − (−inf) is NaN."""

    misconception = "neg_inf_nan"

    def shift(self, z, axis):
        return np.max(z, axis=axis, keepdims=True)


class LogOfSoftmax(Blocks):
    """log(softmax(z)): −inf where a probability underflows to 0."""

    misconception = "log_of_softmax"

    def log_softmax(self, z, axis=-1):
        return self.log(self.softmax(z, axis=axis))


class SumNotMean(Blocks):
    """The batch's losses added up instead of averaged."""

    misconception = "sum_not_mean"

    def mean(self, losses):
        return np.sum(losses)


class TargetsAsColumns(Blocks):
    """x[:, targets]: every row's entries at every target, an (N, N) block."""

    misconception = "wrong_target_indexing"

    def pick(self, x, targets):
        return x[:, np.asarray(targets)]


class TargetsAsRows(Blocks):
    """x[targets]: whole rows chosen by the targets."""

    misconception = "wrong_target_indexing"

    def pick(self, x, targets):
        return x[np.asarray(targets)]


class LogBaseTwo(Blocks):
    """log2: bits instead of nats."""

    misconception = "wrong_log_base"

    def log(self, x):
        with np.errstate(divide="ignore"):
            return np.log2(x)


class LogBaseTen(Blocks):
    """log10: the calculator's log."""

    misconception = "wrong_log_base"

    def log(self, x):
        with np.errstate(divide="ignore"):
            return np.log10(x)


class ZeroTimesLogZero(Blocks):
    """p · log p taken literally: 0 · (−inf) is NaN."""

    misconception = "entropy_nan_zero_prob"

    def xlogx(self, p, log_p):
        with np.errstate(invalid="ignore"):
            return p * log_p


class SumOverLastAxis(Blocks):
    """The max along `axis` but the sum along the last axis (or the reverse, below)."""

    misconception = "wrong_axis"

    def total(self, e, axis):
        return np.sum(e, axis=-1, keepdims=True)


class ShiftOverLastAxis(Blocks):
    misconception = "wrong_axis"

    def shift(self, z, axis):
        m = np.max(z, axis=-1, keepdims=True)
        return np.where(np.isfinite(m), m, 0.0)


class ShiftOverFirstAxis(Blocks):
    """The max down the columns, z.max(axis=0), which broadcasts against (N, K) without keepdims:
    right values, but each row shifted by other rows' maxima, so a row far below them underflows
    and a row far above overflows."""

    misconception = "wrong_axis"

    def shift(self, z, axis):
        m = np.max(z, axis=0, keepdims=True)
        return np.where(np.isfinite(m), m, 0.0)


class SumOverFirstAxis(Blocks):
    """Σ down the columns: each column sums to one instead of each row."""

    misconception = "wrong_axis"

    def total(self, e, axis):
        return np.sum(e, axis=0, keepdims=True)


class SumOverEverything(Blocks):
    """One Σ for the whole array."""

    misconception = "wrong_axis"

    def total(self, e, axis):
        return np.sum(e, axis=None, keepdims=True)


class SumWithoutKeepdims(Blocks):
    """Σ without keepdims: (N,) against (N, K) broadcasts along the wrong axis, or raises."""

    misconception = "missing_keepdims"

    def total(self, e, axis):
        return np.sum(e, axis=axis)


class ShiftWithoutKeepdims(Blocks):
    misconception = "missing_keepdims"

    def shift(self, z, axis):
        m = np.max(z, axis=axis)
        return np.where(np.isfinite(m), m, 0.0)


RIGHT = Blocks()
BUGGY: tuple[Blocks, ...] = tuple(cls() for cls in (
    NoMaxShift, GlobalMaxShift, LseForgetsMax, NegInfNan, LogOfSoftmax, SumNotMean,
    TargetsAsColumns, TargetsAsRows, LogBaseTwo, LogBaseTen, ZeroTimesLogZero,
    SumOverLastAxis, ShiftOverLastAxis, SumOverFirstAxis, SumOverEverything,
    SumWithoutKeepdims, ShiftWithoutKeepdims, ShiftOverFirstAxis))


def overridden(blocks: Blocks) -> set[str]:
    """The methods a buggy block replaces."""
    names: set[str] = set()
    for cls in type(blocks).__mro__:
        if cls is Blocks:
            break
        names |= {k for k, v in vars(cls).items() if callable(v)}
    return names


class _Recorder(Blocks):
    """The right blocks, noting every method the formula calls (directly or through another)."""

    def __init__(self):
        self.called: set[str] = set()

    def __getattribute__(self, name):
        if not name.startswith("__") and name not in ("called",) and \
                callable(getattr(Blocks, name, None)):
            object.__getattribute__(self, "called").add(name)
        return object.__getattribute__(self, name)


def uses(formula: Callable, example: tuple) -> set[str]:
    """The block methods `formula(blocks, *example)` calls."""
    recorder = _Recorder()
    with np.errstate(all="ignore"):
        formula(recorder, *example)
    return recorder.called


def _on(blocks: Blocks, formula: Callable) -> Callable:
    fn = partial(formula, blocks)
    fn.__name__ = f"{formula.__name__.lstrip('_')}_{type(blocks).__name__}"
    fn.__doc__ = formula.__doc__
    return fn


def compose(formula: Callable, example: tuple,
            exclude: tuple[str | type[Blocks], ...] = ()) -> tuple[Callable, tuple[Twin, ...]]:
    """The reference `formula` makes on the right blocks, and a twin for each buggy block whose
    replaced methods the formula calls on `example` (except those whose misconception, or whose
    class, is in `exclude`: a mistake the problem's contract makes harmless, such as the sum
    over the last axis when the formula only ever reduces the last axis)."""
    called = uses(formula, example)
    reference = _on(RIGHT, formula)
    twins = tuple(Twin(b.misconception, _on(b, formula)) for b in BUGGY
                  if overridden(b) & called and b.misconception not in exclude
                  and type(b) not in exclude)
    return reference, twins


# --- a symptom: the digits float32 loses -----------------------------------------------------

def float32_digits_lost(case, expected, outcome) -> bool:
    """`Symptom` test for `lower_precision`: on float64 inputs, the learner's numbers are off by
    no more than float32 arithmetic makes them (relative 1e-4, plus float32's eps times the size
    of the inputs), though a float64 answer must be closer. Names answers computed in float32
    by any route (numpy, torch, a float32 cast in the middle) whose numbers differ from the
    float32 twin's in the last float32 digits."""
    return not outcome.raised and _within_float32(case, expected, outcome.value)


def _float64_inputs(case) -> list:
    return [a for a in (*case.args, *case.kwargs.values())
            if isinstance(a, np.ndarray) and a.dtype == np.float64]


def _input_scale(case) -> float:
    return max((float(np.abs(a[np.isfinite(a)]).max(initial=0.0)) for a in _float64_inputs(case)),
               default=0.0)


def _rounded_by_float32(case) -> bool:
    """Float64 inputs of 1e3 and more that float32 rounds: where float32 arithmetic shows."""
    def rounded(a):
        finite = a[np.isfinite(a)]
        return bool(np.any(finite.astype(np.float32).astype(np.float64) != finite))
    return _input_scale(case) >= 1e3 and any(rounded(a) for a in _float64_inputs(case))


def float32_error_bound(case, expected) -> np.ndarray:
    """How far float32 arithmetic on the float64 inputs of `case` can take each entry of
    `expected`: a few float32 roundings of the entry itself and of the largest input (the
    logits' size, which a cancellation such as z − logsumexp(z) leaves in the result), growing
    with the square root of the number of inputs summed. A wrong formula is usually much
    further off: dropping a term of 1e-3 at logits of 10 is not float32's doing."""
    n = max((a.size for a in _float64_inputs(case)), default=1)
    eps = float(np.finfo(np.float32).eps)
    return 16 * eps * (np.abs(expected) + max(_input_scale(case), 1.0)) * max(1.0, np.sqrt(n / 16))


def _within_float32(case, expected, got) -> bool:
    from tutor import checking

    if not _float64_inputs(case):
        return False
    try:
        got = checking.as_array(got).astype(np.float64)
    except (checking.NotAnArray, TypeError, ValueError):
        return False
    e = np.asarray(expected, dtype=np.float64)
    if got.shape != e.shape or not np.isfinite(got).all() or not np.isfinite(e).all():
        return False
    bound = float32_error_bound(case, e)
    # float32 leaves its mark on entries it can hold: a relative error of about its eps on some
    # entry of normal size. An error only where the answer is 0 or tiny (a weight of 1e-44 on a
    # masked key) is another mistake.
    normal = np.abs(e) >= float(np.finfo(np.float32).tiny)
    marked = np.abs(got - e)[normal] >= 1e-9 * np.abs(e[normal])
    return bool(np.all(np.abs(got - e) <= bound)) and bool(marked.any())


# --- a symptom: exponentials that overflow ---------------------------------------------------

def overflowed(case, expected, outcome) -> bool:
    """`Symptom` test for `no_max_shift`: NaN or ±inf where the answer is finite, on logits whose
    exponentials overflow their dtype unless each slice's max is subtracted (a logit, or a gap
    between two, beyond log of the dtype's largest float). Shifting by the mean or by the first
    entry leaves such a gap above the threshold too, so those variants are named with it."""
    from tutor import checking

    z = next((a for a in case.args if isinstance(a, np.ndarray) and a.dtype.kind == "f"), None)
    if z is None or outcome.raised:
        return False
    finite = z[np.isfinite(z)].astype(np.float64)
    limit = float(np.log(np.finfo(z.dtype).max))
    if not finite.size or max(np.abs(finite).max(), finite.max() - finite.min()) <= limit:
        return False
    try:
        got = checking.as_array(outcome.value).astype(np.float64)
    except (checking.NotAnArray, TypeError, ValueError):
        return False
    e = np.asarray(expected, dtype=np.float64)
    return got.shape == e.shape and bool(np.any(~np.isfinite(got) & np.isfinite(e)))


# --- a family of twins: log(p) kept finite with a constant of the learner's choice -------------

class LogFloored:
    """What a twin returns for the learners who see log(0) = −inf and patch it with a small
    constant: log(p + eps) or log(max(p, eps)), then `combine` (pick the targets, average,
    exponentiate, as the problem asks). The answer is finite but capped near log(eps), and eps
    is anyone's guess (1e-8, 1e-12, np.finfo(float).eps, 1e-30...), so the twin is the whole
    family: `agree_floored` finds the eps, if any, that gives the learner's numbers.

    `p` holds the probabilities in the input's own dtype, as the learner computes them. Read as
    an array, the family is its commonest member, 1e-8 added."""

    EXPONENTS = (-80.0, -4.0)
    """log10 of the smallest and largest constants tried. Larger constants than 1e-4 are not
    tried: fitted to one number per input, a constant that large could match many another
    mistake (a dropped log-sum-exp term of 0.4 is a floor of 1.6e-3 on a probability of
    0.003)."""

    MODES: tuple = (False, True)
    """The ways a constant patches the log, as `at` reads its `clip`: added, or a floor."""

    def __init__(self, p, combine: Callable):
        self.p, self.combine = p, combine

    def at(self, eps: float, clip: bool) -> np.ndarray:
        with np.errstate(all="ignore"):
            log_p = np.log(np.maximum(self.p, eps)) if clip else np.log(self.p + eps)
            return np.asarray(self.combine(log_p), dtype=np.float64)

    def __array__(self, dtype=None, copy=None):
        a = self.at(1e-8, clip=False)
        return a if dtype is None else a.astype(dtype)

    def solve(self, got: np.ndarray, clip: bool) -> list[float]:
        """The constants eps whose member sums to the same total as `got`, found by bisection
        on log10 eps in every decade where the difference changes sign: a two-sided clip to
        [eps, 1 − eps] raises some terms and lowers others as eps grows, so the total need not
        be monotone in eps and more than one eps can fit."""
        target = float(np.sum(got))
        if not np.isfinite(target):
            return []

        def sign(t):
            return np.sign(float(np.sum(self.at(10.0**t, clip))) - target)

        lo, hi = self.EXPONENTS
        ts = np.linspace(lo, hi, int(hi - lo) + 1)
        signs = [sign(t) for t in ts]
        found = []
        for a, b, s_a, s_b in zip(ts, ts[1:], signs, signs[1:], strict=False):
            if np.isnan(s_a) or np.isnan(s_b) or s_a * s_b > 0:
                continue
            for _ in range(64):
                mid = (a + b) / 2
                if sign(mid) == s_a:
                    a = mid
                else:
                    b = mid
            found.append(10.0**((a + b) / 2))
        return found


COMMON_EPSILONS = (*(10.0**-k for k in range(4, 31)), float(np.finfo(np.float64).eps),
                   float(np.finfo(np.float32).eps), float(np.finfo(np.float32).tiny))
"""Constants tried as they are, for outputs that no bisection can aim at."""


def agree_floored(twin_value, got, tol, case=None) -> bool:
    """`Problem.agree` for problems with a `LogFloored` twin: the learner's output is one member
    of the family; any other twin agrees as the engine's own comparison says (not to float32
    precision: a twin right on close logits near 1e4 would then agree with float32 noise).

    On logits of 1e3 and more that float32 cannot hold exactly, an output within float32's
    rounding of the unfloored value is float32 arithmetic, not a floor (some tiny eps fits any
    small error of the right sign): not this family there."""
    from tutor import checking

    if not isinstance(twin_value, LogFloored):
        return checking.compare_arrays(twin_value, got, tol) is None
    try:
        g = checking.as_array(got).astype(np.float64)
    except (checking.NotAnArray, TypeError, ValueError):
        return False
    if np.isnan(g).any():
        return False
    if case is not None and _rounded_by_float32(case) and \
            _within_float32(case, twin_value.at(0.0, False), g):
        return False
    # An output no bisection can aim at (a −inf left by an eps that float16 rounds away) is
    # tried against the common constants, in float16 only.
    grid = COMMON_EPSILONS if np.asarray(twin_value.p).dtype == np.float16 else ()
    for clip in twin_value.MODES:
        for eps in twin_value.solve(g, clip) or grid:
            if checking.compare_arrays(twin_value.at(eps, clip), g, tol) is None:
                return True
    return False


# --- twins as written in another library or precision -----------------------------------------

def as_in_torch(fn: Callable) -> Callable:
    """The twin `fn` as it fails when written in torch: shapes that do not broadcast raise
    RuntimeError there, ValueError in numpy."""
    def twin(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            raise RuntimeError(str(e)) from None
    twin.__name__ = f"{getattr(fn, '__name__', 'twin')}_in_torch"
    return twin


def negated(fn: Callable) -> Callable:
    """The loss `fn` without its minus sign: the log-likelihood where its negative belongs
    (`nll_sign`)."""
    def without_minus(*args, **kwargs):
        return -fn(*args, **kwargs)
    without_minus.__name__ = f"{getattr(fn, '__name__', 'loss')}_without_minus"
    return without_minus


def softmax_first(fn: Callable) -> Callable:
    """The answer `fn` handed softmax(logits) where it expects the logits themselves: the
    `softmax_before_ce` mistake (a double softmax) in any function of logits."""
    def doubled(logits, *args, **kwargs):
        return fn(softmax(logits), *args, **kwargs)
    doubled.__name__ = f"{getattr(fn, '__name__', 'answer')}_of_softmax"
    return doubled


def in_float32(fn: Callable) -> Callable:
    """The answer `fn` computed in float32 whatever its input (np.float32, torch's default dtype,
    torch.tensor of a list), returned as float64: the `lower_precision` mistake. Inputs of lower
    precision than float32 are left as they are."""
    def lowered(*args, **kwargs):
        def down(x):
            if isinstance(x, np.ndarray) and x.dtype == np.float64:
                return x.astype(np.float32)
            return np.float32(x) if isinstance(x, float) else x
        out = fn(*map(down, args), **{k: down(v) for k, v in kwargs.items()})
        return np.asarray(out, dtype=np.float64)
    lowered.__name__ = f"{getattr(fn, '__name__', 'answer')}_in_float32"
    return lowered


def agree_to_float32(twin_value, value, tol, compare=None, case=None) -> bool:
    """`Problem.agree` for problems with a `lower_precision` twin (or torch answers): two wrong
    answers show the same mistake when they agree to float32 precision, since two float32
    computations of one formula differ in their last digits (and a torch answer that turns a
    float argument into a float32 tensor is 1e-7 away from its twin): a relative 16 float32
    eps, and float32's rounding of the inputs' size (`float32_error_bound`) when the case is
    known. `compare` is the problem's own comparison, if it has one."""
    from tutor import checking

    eps = float(np.finfo(np.float32).eps)
    atol = 1e-6 if case is None else float(np.max(float32_error_bound(case, 0.0)))
    loose = checking.Tolerance(max(tol.rtol, 16 * eps), max(tol.atol, atol))
    return (compare or checking.compare_arrays)(twin_value, value, loose) is None


# --- the shared references, for chapters and widgets ------------------------------------------

def softmax(z, axis=-1):
    """softmax(z)_i = e^(z_i − m) / Σ_j e^(z_j − m) along `axis`, with m the max of the slice."""
    return RIGHT.softmax(RIGHT.asarray(z), axis=axis)


def logsumexp(z, axis=-1, keepdims=False):
    """log Σ_j e^(z_j) along `axis` = m + log Σ_j e^(z_j − m), m each slice's max; −inf for an
    all −inf slice."""
    return RIGHT.logsumexp(RIGHT.asarray(z), axis=axis, keepdims=keepdims)


def log_softmax(z, axis=-1):
    """z − logsumexp(z) along `axis`, never forming the probabilities."""
    return RIGHT.log_softmax(RIGHT.asarray(z), axis=axis)
