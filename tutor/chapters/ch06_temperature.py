"""Chapter 06, temperature: softmax(z / T), entropy, top-k and top-p filters, sampling a token,
calibration (ECE and fitting T by NLL) and the distillation loss with its T².

Two kinds of contract need more than "compare an array with the reference":

- A ValueError for an invalid temperature: those cases say `raises=ValueError`, and the engine
  judges what the call did.
- A random draw. The `call` hook of `sample_next_token` draws many tokens with copies of one
  seeded generator and returns their frequencies; `compare` is a chi-square test against
  softmax(z / T), `agree` the same test against the distribution a buggy twin declares it draws
  from (both tests live in `tutor.statistics`). The first draws are replayed with a second copy
  of the generator and must give the same tokens, or the *verdict* "different tokens from two
  generators with the same seed" (a small string array that travels like any output) names
  `ignores_rng`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import numpy as np

from tutor.chapters import _inputs, blocks
from tutor.chapters.blocks import log_softmax, softmax
from tutor.checking import NotAnArray, as_array, at_least, compare_arrays, fmt_value
from tutor.problem import Choice, Problem, Quiz, Symptom, Twin, case
from tutor.statistics import goodness_of_fit, same_distribution

CHAPTER = "06_temperature"


# --- verdicts: what a sampler did instead of returning a token ---------------------------------

class Verdict:
    """What a sampler did instead of drawing tokens, as a phrase that completes "it returned
    ...": "different tokens from two generators with the same seed"."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other) -> bool:
        return isinstance(other, Verdict) and other.text == self.text

    __hash__ = None


def _verdict(text: str) -> Verdict:
    return Verdict(text)


def _is_verdict(x) -> bool:
    return isinstance(x, Verdict)


def _derived(formula, example, exclude=(), harmless=()):
    """`blocks.compose`, without the buggy blocks in `harmless`: those that give the right answer
    on every input this problem's contract allows (a sum over the last axis, when the formula
    only ever reduces the last axis)."""
    reference, twins = blocks.compose(formula, example, exclude=exclude)
    suffixes = tuple(f"_{cls.__name__}" for cls in harmless)
    return reference, tuple(t for t in twins if not t.fn.__name__.endswith(suffixes))


LAST_AXIS_ONLY = (blocks.SumOverLastAxis, blocks.ShiftOverLastAxis)
"""Harmless where the formula reduces only the last axis."""


def _exp_overflows(*logits) -> bool:
    """Some finite entry of these arrays is beyond the largest x whose exp is finite in its
    dtype (709.78 in float64): where e^x straight away gives inf, then NaN."""
    for x in logits:
        a = np.asarray(x)
        if a.dtype.kind != "f":
            continue
        finite = np.abs(a[np.isfinite(a)])
        if finite.size and finite.max() > np.log(np.finfo(a.dtype).max):
            return True
    return False


def overflow_symptom(logits_of: Callable) -> Symptom:
    """`no_max_shift` recognised by its symptom, for the variants no twin matches (a shift by
    the mean or by the first entry, a filter without its keep-one guard): the answer fails
    first on an input whose exp overflows. `logits_of(case)` gives the arrays exponentiated."""
    return Symptom("no_max_shift", lambda case, expected, outcome: _exp_overflows(
        *logits_of(case)) and _overflow_outcome(expected, outcome))


def _overflow_outcome(expected, outcome) -> bool:
    """What an overflow leaves: an answer of the right shape with wrong numbers (inf, NaN, or
    whatever they became), or an error about them (rng.choice: "probabilities contain NaN")."""
    if outcome.raised:
        text = str(outcome.error).lower()
        return any(word in text for word in ("nan", "inf", "probabilit", "overflow"))
    try:
        return np.shape(as_array(outcome.value)) == np.shape(as_array(expected))
    except NotAnArray:
        return False


# --- softmax_temperature -----------------------------------------------------------------------

def _scaled_logits(case):
    """z / T, the logits a temperature problem exponentiates (none for T ≤ 0)."""
    z, T = case.args[:2]
    return [np.divide(z, T)] if T > 0 else []


def _softmax_temperature(b, z, T):
    """softmax(z / T) along the last axis; T must be positive."""
    if not T > 0:
        raise ValueError(f"the temperature must be positive, got T = {T}")
    return b.softmax(b.asarray(z) / T, axis=-1)


softmax_temperature, _temperature_derived = _derived(
    _softmax_temperature, (np.array([[1.0, 2.0], [0.5, -1.0]]), 0.5),
    exclude=("neg_inf_nan",), harmless=LAST_AXIS_ONLY)


def _temp_multiplies(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    e = np.exp(z * T - np.max(z * T, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _temp_multiplies_unchecked(z, T):
    e = np.exp(np.asarray(z) * T)
    return e / e.sum(axis=-1, keepdims=True)


def _temp_probs_renormalised(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    q = softmax(z) / T
    return q / q.sum(axis=-1, keepdims=True)


def _temp_probs_divided(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    return softmax(z) / T


def _temp_softmax_of_probs(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    return softmax(softmax(z) / T)


def _temp_unchecked(z, T):
    return softmax(np.asarray(z) / T)


def _temp_reciprocal_unchecked(z, T):
    return softmax(np.asarray(z) * (1 / T))


def _temp_checks_only_zero(z, T):
    if T == 0:
        raise ValueError("T must not be 0")
    return softmax(np.asarray(z) / T)


def _temp_axis0(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    return softmax(np.asarray(z) / T, axis=0)


def _temp_global_sum(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    e = np.exp(np.asarray(z) / T)
    return e / e.sum()


def _temp_float32(z, T):
    """torch's default dtype, or np.float32: z / T loses the digits that tell close logits
    apart once T is small."""
    if T <= 0:
        raise ValueError("T must be positive")
    x = np.asarray(z, dtype=np.float32) / np.float32(T)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _temp_not_normalised(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    x = np.asarray(z) / T
    return np.exp(x - x.max(axis=-1, keepdims=True))


def _temp_clipped(z, T):
    """z / T clipped to ±80 so that exp cannot overflow: the gaps beyond it are lost."""
    if T <= 0:
        raise ValueError("T must be positive")
    e = np.exp(np.clip(np.asarray(z) / T, -80.0, 80.0))
    return e / e.sum(axis=-1, keepdims=True)


def _temperature(rng) -> float:
    """A temperature clearly below or above 1, so that ignoring it cannot pass."""
    low = rng.random() < 0.5
    return float(rng.uniform(0.2, 0.7) if low else rng.uniform(1.5, 5.0))


def _temperature_cases(rng):
    for ndim in (1, 2, 2, 3):
        z = _inputs.logits(rng, _inputs.shape(rng, ndim), scale=float(rng.uniform(1, 4)))
        yield case(z, _temperature(rng))


def _temperature_probes():
    z = np.array([2.0, 1.0, 0.0])
    return [
        case(z, 0.5, note="the lesson's (2, 1, 0) at T = 0.5"),
        case(z, 2.0, note="the lesson's (2, 1, 0) at T = 2"),
        case(np.array([[1.0, 2.0, 3.0], [0.5, 0.5, -4.0]]), 3.0, note="a batch of rows"),
        case(np.array([3.0, 1.0, -2.0]), 1e-3, note="T = 0.001, where z / T reaches 3000"),
        # p^(1/T) renormalised is softmax(z / T) on paper, but (1/4)^1000 underflows to 0; and
        # z / T near 1e5 keeps its decimals in float64 only (float32 steps by 0.008 there).
        case(np.array([100.0004, 100.0, 99.9988, 100.0011]), 1e-3,
             note="T = 0.001 with logits 0.001 apart near 100"),
        case(np.array([[3.0, 1.0, 0.0], [-5.0, -6.0, -7.0]]), 0.01,
             note="two rows 800 apart once divided by T = 0.01"),
        case(np.array([[0.0, 900.0, -900.0], [-900.0, 0.0, 900.0], [900.0, -900.0, 0.0]]),
             1.0, note="gaps of 900 with the largest logit in every position"),
        case(np.array([[0.5], [2.0]]), 0.5, note="rows of one logit"),
        case(np.array([4.5, -1.2, 0.8], dtype=np.float32), 0.7, note="float32"),
        case(z, 0.0, raises=ValueError, note="T = 0 divides by zero"),
        case(z, -1.0, raises=ValueError, note="a negative T reverses the order of the logits"),
    ]


# --- entropy -----------------------------------------------------------------------------------

def _entropy(b, z, axis=-1):
    """H = −Σ p·log p in nats, p = softmax(z); log p from log-softmax, and p = 0 terms are 0."""
    log_p = b.log_softmax(b.asarray(z), axis=axis)
    return -np.sum(b.xlogx(b.exp(log_p), log_p), axis=axis)


# log(softmax) and a plain p·log p are each harmless here, where log p comes from log-softmax and
# p = 0 terms are dropped; together they are `_entropy_nan`, a twin of its own.
entropy, _entropy_derived = _derived(
    _entropy, (np.array([[1.0, 2.0], [0.5, -1.0]]), 0),
    exclude=("neg_inf_nan", "log_of_softmax", "entropy_nan_zero_prob"))


def _entropy_nan(z, axis=-1):
    p = softmax(z, axis=axis)
    return -np.sum(p * np.log(p), axis=axis)


def _entropy_bits(z, axis=-1):
    p = softmax(z, axis=axis)
    return -np.sum(p * np.log2(p), axis=axis)


def _entropy_bits_safe(z, axis=-1):
    return entropy(z, axis=axis) / np.log(2)


def _entropy_bans(z, axis=-1):
    p = softmax(z, axis=axis)
    return -np.sum(p * np.log10(p), axis=axis)


def _entropy_bans_safe(z, axis=-1):
    return entropy(z, axis=axis) / np.log(10)


def _entropy_no_shift(z, axis=-1):
    e = np.exp(z)
    p = e / e.sum(axis=axis, keepdims=True)
    return -np.sum(p * np.log(p), axis=axis)


def _entropy_last_axis(z, axis=-1):
    return entropy(z, axis=-1)


def _entropy_in_dtype(z, axis=-1):
    """Entropy computed in the input's own dtype (float32 stays float32)."""
    z = np.asarray(z)
    m = z.max(axis=axis, keepdims=True)
    log_p = z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))
    return -np.sum(np.exp(log_p) * log_p, axis=axis)


def _entropy_lse_last_axis(z, axis=-1):
    """log p with the log-sum-exp over the last axis, p·log p summed over `axis`."""
    log_p = z - blocks.logsumexp(z, axis=-1, keepdims=True)
    return -np.sum(np.exp(log_p) * log_p, axis=axis)


def _entropy_no_keepdims(z, axis=-1):
    z = np.asarray(z)
    log_p = z - z.max(axis=axis) - np.log(np.exp(z - z.max(axis=axis)).sum(axis=axis))
    return -np.sum(np.exp(log_p) * log_p, axis=axis)


def _entropy_cases(rng):
    for ndim in (1, 2, 2, 3):
        shape = _inputs.shape(rng, ndim)
        z = _inputs.logits(rng, shape, scale=float(rng.uniform(0.5, 4)))
        if ndim == 1 and rng.random() < 0.5:
            yield case(z)
        else:
            yield case(z, axis=_inputs.axis(rng, ndim))


def _entropy_probes():
    return [
        case(np.zeros(4), note="uniform over 4: ln 4 nats"),
        case(np.array([2.0, 1.0, 0.0]), note="the lesson's (2, 1, 0)"),
        case(np.array([[0.0, -1000.0, 2.0], [5.0, 5.0, 5.0]]),
             note="a probability that underflows to 0"),
        case(np.array([1000.0, 999.0, 998.0]), note="logits near 1000"),
        case(np.array([[1000.0, 999.0, 998.0], [0.0, 1.0, 2.0]]), note="two rows 1000 apart"),
        case(np.array([[0.0, 900.0, -900.0], [-900.0, 0.0, 900.0], [900.0, -900.0, 0.0]]),
             note="gaps of 900 with the largest logit in every position"),
        # float32 keeps steps of 1/1024 at 1e4: these gaps lose their fourth decimal there.
        case(np.array([1e4, 1e4 + 1.0003, 1e4 - 2.0007]),
             note="logits near 1e4 that differ in their fourth decimal"),
        case(np.array([[1.0, 2.0, 3.0], [0.0, 4.0, -1.0]]), axis=0, note="axis=0"),
        case(np.array([[1.0], [3.0]]), note="rows of one logit: entropy 0"),
        case(np.array([[1.0, 2.0, 3.0]]), axis=0, note="axis=0 of length 1"),
        case(np.array([[[1.0, 0.0], [3.0, -2.0], [0.5, 0.5]]]), axis=1,
             note="axis=1 of a 3-d input"),
        case(np.array([4.5, -1.2, 0.8], dtype=np.float32), note="float32"),
    ]


# --- top_k_filter ------------------------------------------------------------------------------

def top_k_filter(logits, k):
    """Keep every logit ≥ the k-th largest of its row (ties at the boundary stay), others −inf."""
    z = np.asarray(logits, dtype=float)
    kth_largest = np.sort(z, axis=-1)[..., -k, None]
    return np.where(z >= kth_largest, z, -np.inf)


def _top_k_strict(logits, k):
    kth = np.sort(logits, axis=-1)[..., -k, None]
    return np.where(logits > kth, logits, -np.inf)


def _top_k_zero_based(logits, k):
    kth = np.sort(logits, axis=-1)[..., ::-1][..., k, None]
    return np.where(logits >= kth, logits, -np.inf)


def _top_k_exactly_k(logits, k):
    keep = np.argsort(logits, axis=-1, kind="stable")[..., -k:]
    out = np.full(np.shape(logits), -np.inf)
    np.put_along_axis(out, keep, np.take_along_axis(np.asarray(logits), keep, axis=-1), axis=-1)
    return out


def _top_k_exactly_k_first(logits, k):
    keep = np.argsort(-np.asarray(logits), axis=-1, kind="stable")[..., :k]
    out = np.full(np.shape(logits), -np.inf)
    np.put_along_axis(out, keep, np.take_along_axis(np.asarray(logits), keep, axis=-1), axis=-1)
    return out


def _top_k_above_next(logits, k):
    """Everything strictly above the (k+1)-th largest: exactly k without ties, but a tie at the
    k-th place (or at the top) loses all its members."""
    z = np.asarray(logits)
    if k == z.shape[-1]:
        return z.astype(float)
    kth_next = np.sort(z, axis=-1)[..., -k - 1, None]
    return np.where(z > kth_next, z, -np.inf)


def _top_k_sorted(logits, k):
    """The sorted row filtered: the right values, in the wrong places."""
    z = np.sort(np.asarray(logits, dtype=float), axis=-1)[..., ::-1]
    return np.where(z >= z[..., k - 1, None], z, -np.inf)


def _top_k_sorted_exactly_k(logits, k):
    """The sorted row with everything after its first k entries set to −inf."""
    z = np.sort(np.asarray(logits, dtype=float), axis=-1)[..., ::-1].copy()
    z[..., k:] = -np.inf
    return z


def _top_k_sorted_ascending(logits, k):
    z = np.sort(np.asarray(logits, dtype=float), axis=-1)
    return np.where(z >= z[..., -k, None], z, -np.inf)


def _top_k_fill_zero(logits, k):
    kth = np.sort(logits, axis=-1)[..., -k, None]
    return np.where(logits >= kth, logits, 0.0)


def _top_k_probabilities(logits, k):
    return softmax(top_k_filter(logits, k))


def _top_k_global(logits, k):
    kth = np.sort(np.ravel(logits))[-k]
    return np.where(logits >= kth, logits, -np.inf)


def _top_k_axis0(logits, k):
    kth = np.sort(logits, axis=0)[-k]
    return np.where(logits >= kth, logits, -np.inf)


def _same_kept_values(twin, mine, tol, case=None) -> bool:
    """Two filtered outputs show the same mistake when each row keeps the same values in the
    same places, up to which of several equal logits is kept: keeping exactly k entries breaks
    ties one way in one library and another way in the next (torch.topk even differs between a
    row and a batch), and a top-p nucleus that takes one of two equal probabilities may take
    either. So each row is read in the order of its logits, and equal logits in the order of
    the outputs (without the logits, each row's outputs are compared sorted)."""
    twin, mine = as_array(twin), as_array(mine)
    if twin.shape != mine.shape:
        return False
    z = None if case is None else np.asarray(case.args[0], dtype=float)
    if z is None or z.shape != mine.shape or mine.ndim == 0:
        return compare_arrays(np.sort(twin, axis=-1), np.sort(mine, axis=-1), tol) is None
    return compare_arrays(_in_logit_order(twin, z), _in_logit_order(mine, z), tol) is None


def _in_logit_order(out, z):
    """Each row of `out` reordered by its logits z, ties by the outputs themselves."""
    rows, logits = np.asarray(out, dtype=float).reshape(-1, z.shape[-1]), z.reshape(-1, z.shape[-1])
    return np.stack([o[np.lexsort((o, l))] for o, l in zip(rows, logits, strict=True)])


def _top_k_cases(rng):
    for ndim in (1, 1, 2, 3):
        shape = _inputs.shape(rng, ndim, low=3, high=9)
        z = _inputs.logits(rng, shape, scale=float(rng.uniform(1, 4)))
        yield case(z, int(rng.integers(2, shape[-1])))


def _top_k_probes():
    return [
        case(np.array([1.0, 3.0, 2.0, 0.5]), 2, note="k = 2 of 4"),
        case(np.array([1.0, 3.0, 2.0, 3.0, 0.0]), 1, note="k = 1 with a tie at the top"),
        case(np.array([2.0, 1.0, 1.0, 0.0, -1.0]), 2, note="a tie at the k-th place"),
        case(np.array([[0.5, -1.0, 2.0], [4.0, 0.0, 1.0]]), 3, note="k = V keeps everything"),
        case(np.array([[3.0, 1.0, 2.0, 0.0], [0.0, 2.0, 1.0, 3.0], [1.0, 1.0, 0.0, 5.0]]), 2,
             note="a batch of rows"),
        case(np.array([0.3, -2.0, 1.7, 0.9], dtype=np.float32), 3, note="float32"),
        case(np.array([[0.3], [-2.0]]), 1, note="rows of one logit"),
    ]


# --- top_p_filter ------------------------------------------------------------------------------

def _top_p_filter(b, logits, p):
    """Keep the most probable logits until their probabilities reach p (the entry that crosses
    p included, at least one kept); the others become −inf."""
    z = b.asarray(logits)
    order = np.argsort(-z, axis=-1, kind="stable")          # most probable first
    probs = b.softmax(np.take_along_axis(z, order, axis=-1), axis=-1)
    cumulative = np.cumsum(probs, axis=-1)
    before = np.concatenate([np.zeros_like(cumulative[..., :1]), cumulative[..., :-1]], axis=-1)
    keep_sorted = before < p                                 # mass of the entries above it < p
    keep_sorted[..., 0] = True
    keep = np.empty_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, z, -np.inf)


top_p_filter, _top_p_derived = _derived(
    _top_p_filter, (np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0]]), 0.7),
    exclude=("neg_inf_nan",), harmless=LAST_AXIS_ONLY)


def _sorted_probs(logits):
    order = np.argsort(-np.asarray(logits), axis=-1, kind="stable")
    return order, softmax(np.take_along_axis(np.asarray(logits, dtype=float), order, axis=-1))


def _unsort(logits, order, keep_sorted, fill=-np.inf):
    keep = np.empty_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, logits, fill)


def _top_p_drops_crossing(logits, p):
    order, probs = _sorted_probs(logits)
    return _unsort(logits, order, np.cumsum(probs, axis=-1) < p)


def _top_p_drops_crossing_keeps_first(logits, p):
    order, probs = _sorted_probs(logits)
    keep = np.cumsum(probs, axis=-1) < p
    keep[..., 0] = True
    return _unsort(logits, order, keep)


def _top_p_cumsum_at_most_p(logits, p):
    order, probs = _sorted_probs(logits)
    keep = np.cumsum(probs, axis=-1) <= p
    keep[..., 0] = True
    return _unsort(logits, order, keep)


def _top_p_keeps_extra(logits, p):
    order, probs = _sorted_probs(logits)
    keep = np.cumsum(probs, axis=-1) - probs <= p
    return _unsort(logits, order, keep)


def _top_p_unsorted(logits, p):
    probs = softmax(logits)
    keep = np.cumsum(probs, axis=-1) - probs < p
    keep[..., 0] = True
    return np.where(keep, logits, -np.inf)


def _top_p_ascending(logits, p):
    z = np.asarray(logits, dtype=float)
    order = np.argsort(z, axis=-1)  # np.argsort sorts up: least probable first
    probs = np.take_along_axis(softmax(z), order, axis=-1)
    return _unsort(z, order, np.cumsum(probs, axis=-1) - probs < p)


def _top_p_unsorted_inclusive(logits, p):
    keep = np.cumsum(softmax(logits), axis=-1) <= p
    return np.where(keep, logits, -np.inf)


def _top_p_left_sorted(logits, p):
    order, probs = _sorted_probs(logits)
    keep = np.cumsum(probs, axis=-1) - probs < p
    keep[..., 0] = True
    return np.where(keep, np.take_along_axis(np.asarray(logits), order, axis=-1), -np.inf)


def _top_p_fill_zero(logits, p):
    order, probs = _sorted_probs(logits)
    return _unsort(logits, order, np.cumsum(probs, axis=-1) - probs < p, fill=0.0)


def _top_p_probabilities(logits, p):
    return softmax(top_p_filter(logits, p))


def _top_p_nucleus_probabilities(logits, p):
    z = np.asarray(logits, dtype=float)
    return np.where(np.isfinite(top_p_filter(z, p)), softmax(z), 0.0)


def _top_p_on_logits(logits, p):
    z = np.asarray(logits, dtype=float)
    order = np.argsort(-z, axis=-1, kind="stable")
    ranked = np.take_along_axis(z, order, axis=-1)
    keep = np.cumsum(ranked, axis=-1) - ranked < p
    keep[..., 0] = True
    return _unsort(z, order, keep)


def _top_p_global_softmax(logits, p):
    z = np.asarray(logits, dtype=float)
    order = np.argsort(-z, axis=-1, kind="stable")
    e = np.exp(z - z.max())
    probs = np.take_along_axis(e / e.sum(), order, axis=-1)
    keep = np.cumsum(probs, axis=-1) - probs < p
    keep[..., 0] = True
    return _unsort(z, order, keep)


def _top_p_cases(rng):
    for ndim in (1, 1, 2, 2):
        shape = _inputs.shape(rng, ndim, low=4, high=10)
        z = _inputs.logits(rng, shape, scale=float(rng.uniform(1, 3)))
        yield case(z, float(rng.uniform(0.3, 0.95)))


def _top_p_probes():
    # Logits a whole number of ln 2 apart: probabilities 1/8, 1/2, 1/8, 1/4 exactly, so the
    # sorted cumulative sums 0.5, 0.75, 0.875 are exact and p can sit exactly on them.
    ln2 = np.log(2.0)
    dyadic = np.array([-2.0, 0.0, -2.0, -1.0]) * ln2
    return [
        case(dyadic, 0.75, note="p exactly at a cumulative sum (1/2 + 1/4)"),
        case(dyadic, 0.6, note="p between two cumulative sums"),
        case(dyadic, 0.3, note="p below the top probability"),
        case(np.log(np.array([0.10, 0.50, 0.05, 0.35])), 0.9,
             note="probabilities (0.1, 0.5, 0.05, 0.35) and p = 0.9"),
        case(np.array([2.0, -1.0, 1.0, 0.0]), 1.0, note="p = 1 keeps everything"),
        case(np.array([[0.0, 2.0, 1.0, -1.0], [3.0, 0.0, 0.5, 2.5]]), 0.7,
             note="a batch of rows"),
        case(np.array([1000.0, 999.0, 998.0, 990.0]), 0.8, note="logits near 1000"),
        case(np.array([[2.0, 1.0, 0.0, -1.0], [-999.0, -998.0, -1000.0, -997.0]]), 0.75,
             note="two rows 1000 apart"),
        case(np.array([[0.3], [-2.0]]), 0.5, note="rows of one logit"),
        case(np.array([0.3, -2.0, 1.7, 0.9], dtype=np.float32), 0.7, note="float32"),
        # The top two logits are 0.0004 apart: probability 0.5001 ≥ p keeps one token. float32,
        # which holds 1e4 to about 0.001, makes them equal (0.5 < p) and keeps two.
        case(np.array([10000.0004, 10000.0, 9990.0]), 0.50005,
             note="two logits 0.0004 apart near 1e4"),
    ]


# --- sample_next_token -------------------------------------------------------------------------

def sample_next_token(logits, temperature, rng):
    """One token drawn from softmax(logits / T) with `rng`; T = 0 is greedy (argmax)."""
    if temperature < 0:
        raise ValueError(f"the temperature must not be negative, got {temperature}")
    z = np.asarray(logits, dtype=float)
    if temperature == 0:
        return int(np.argmax(z))
    p = softmax(z / temperature)
    return int(rng.choice(len(p), p=p))


DRAWS = 2000
"""Draws per input. On the probes, every twin's distribution is at least four times the critical
chi-square value away from the right one (in expectation), so a wrong sampler cannot pass; and
near misses such as argmax(z / T + noise) with exponential or normal noise instead of Gumbel's,
or a temperature 30 % off, fail on the eight-token probe with probability over 0.998."""
REPLAYS = 100
"""Draws repeated with a second generator from the same seed; they must all be equal."""
GREEDY_CALLS = 3
ALPHA = 1e-9
"""False-failure rate of each chi-square test; with fewer than ten per check, under 1e-8."""
AGREE_ALPHA = 1e-4
"""A learner's draws show a twin's mistake when a chi-square test against the twin's
distribution gives at least this. Stricter than ALPHA: the name comes from the ordinary inputs
alone, and a near miss (Gumbel noise swapped for normal noise) must not pass for a twin's
distribution that is merely close; a learner who makes the twin's very mistake still agrees on
all of a check's inputs with probability above 0.999."""
SURE_DRAWS = 100
"""Draws per input whose right distribution is one token (probability above 1 − 1e-9): any
other token drawn fails at once, so thousands of draws would only cost time."""
SAME_SEED_DIFFERENT_DRAWS = "different tokens from two generators with the same seed"


class SeededGenerator(np.random.Generator):
    """A numpy Generator that remembers its seed, so that inputs print and compare by it."""

    def __init__(self, seed: int):
        super().__init__(np.random.PCG64(seed))
        self.seed = seed

    def __repr__(self) -> str:
        return f"np.random.default_rng({self.seed})"


def _token(x, V: int):
    """x as a token index, or the reason it is not one."""
    if x is None:
        return "returned None: did you forget the `return` statement?"
    try:
        a = as_array(x)
    except NotAnArray:
        return f"returned {fmt_value(x)}, not a token index"
    if a.shape != ():
        return (f"returned {fmt_value(a)} (shape {a.shape}) instead of one token: return a "
                "single int, e.g. int(rng.choice(V, p=p))")
    if a.dtype.kind not in "iu":
        shown = repr(float(a)) if a.dtype.kind == "f" else fmt_value(x)  # 1.0, not 1
        return f"returned {shown}, a {a.dtype} value, instead of an int"
    if not 0 <= int(a) < V:
        return f"returned {int(a)}, which is not a token index from 0 to {V - 1}"
    return int(a)


class Exact:
    """The distribution a twin sampler draws from, known exactly (see `_draws_from`)."""

    def __init__(self, probs):
        self.probs = probs

    def __repr__(self) -> str:
        return f"Exact({fmt_value(self.probs)})"


def _draws_from(probabilities):
    """Mark a twin sampler with the distribution it draws from, probabilities(z, T) for T > 0.
    The check then tests a learner's draws against that distribution itself, as strictly as
    against the right one; a second sample from the twin would let a near miss pass for any
    twin whose distribution is close to the right one (or is the right one, for T > 0)."""
    def mark(sampler):
        sampler.exact = probabilities
        return sampler
    return mark


def _draws(case) -> int:
    """How many tokens the check draws on `case`."""
    logits, T, _ = case.args
    if T <= 0:
        return GREEDY_CALLS
    with np.errstate(all="ignore"):
        sure = softmax(np.asarray(logits, dtype=float) / T).max() > 1 - 1e-9
    return SURE_DRAWS if sure else DRAWS


def _call_sampler(fn, case):
    """Frequencies of the tokens (DRAWS, or SURE_DRAWS) drawn with a copy of the case's generator; or a verdict.
    For a twin marked with `_draws_from`, its exact distribution."""
    logits, T, rng = case.args
    V = np.shape(logits)[-1]
    if T < 0:  # must raise ValueError: the engine judges what it does
        return fn(logits, T, copy.deepcopy(rng))
    exact = getattr(fn, "exact", None)
    if exact is not None and T > 0:
        p = exact(np.asarray(logits, dtype=float), T)
        if not np.all(np.isfinite(p)):  # the twin's own error, from rng.choice
            copy.deepcopy(rng).choice(len(p), p=p)
        return Exact(p)
    calls = _draws(case)
    first = copy.deepcopy(rng)
    again = copy.deepcopy(rng) if T > 0 else None
    tokens = []
    for i in range(calls):
        t = _token(fn(logits, T, first), V)
        if isinstance(t, str):
            return _verdict(t)
        tokens.append(t)
        # The replay goes along with the first draws, so that a sampler ignoring `rng` is
        # caught within a few calls instead of after all DRAWS of them.
        if again is not None and i < REPLAYS and _token(fn(logits, T, again), V) != t:
            return _verdict(SAME_SEED_DIFFERENT_DRAWS)
    if T == 0:
        return np.array(tokens)
    return np.bincount(tokens, minlength=V) / calls


def _sampler_expectation(case):
    """softmax(z / T) to compare the frequencies with; argmax for T = 0."""
    logits, T, _ = case.args
    z = np.asarray(logits, dtype=float)
    if T == 0:
        return np.full(GREEDY_CALLS, np.argmax(z))
    return softmax(z / T)


def _compare_sampler(expected, got, tol, case) -> str | None:
    if _is_verdict(got):
        if got.text == SAME_SEED_DIFFERENT_DRAWS:
            return (f"gave {SAME_SEED_DIFFERENT_DRAWS}: it must draw with `rng` and nothing "
                    "else")
        return got.text  # why a draw was not a token: "returned [2] (shape (1,)) ..."
    if expected.dtype.kind in "iu":
        return compare_arrays(expected, got, tol)
    if isinstance(got, Exact):  # a twin checked as if a learner wrote it: its expected draws
        got = got.probs
    n = _draws(case)
    p_value = goodness_of_fit(expected, np.rint(got * n))
    if p_value >= ALPHA:
        return None
    return (f"drew tokens with frequencies {fmt_value(got)} in {n} draws, but "
            f"softmax(logits / T) is {fmt_value(expected)} (a chi-square test rejects this, "
            f"p = {p_value:.1g})")


def _same_sampler(twin, mine, tol, case) -> bool:
    """Two samplers show the same mistake when their draws could come from one distribution
    (tested at AGREE_ALPHA), or they behave alike (the same verdict, the same greedy tokens)."""
    if isinstance(mine, Exact):  # a twin checked as if a learner wrote it
        mine = mine.probs
    if _is_verdict(twin) or _is_verdict(mine):
        return twin == mine
    # A token returned where the call should have raised is a plain int.
    mine = np.asarray(mine)
    twin = twin if isinstance(twin, Exact) else np.asarray(twin)
    if isinstance(twin, Exact):
        return mine.dtype.kind == "f" and mine.shape == twin.probs.shape and \
            goodness_of_fit(twin.probs, np.rint(mine * _draws(case))) >= AGREE_ALPHA
    if twin.dtype.kind in "iu" or mine.dtype.kind in "iu":
        return twin.shape == mine.shape and bool(np.all(twin == mine))
    n = _draws(case)
    return same_distribution(np.rint(twin * n), np.rint(mine * n)) >= AGREE_ALPHA


@_draws_from(lambda z, T: np.eye(len(z))[np.argmax(z)])
def _sampler_argmax(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    return int(np.argmax(logits))


@_draws_from(lambda z, T: np.eye(len(z))[np.argmax(z)])
def _sampler_argmax_unchecked(logits, temperature, rng):
    """Greedy whatever T, and no check of T either: the argmax is the telling mistake."""
    return int(np.argmax(logits))


@_draws_from(lambda z, T: softmax(z * T))
def _sampler_multiplies(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    p = softmax(np.asarray(logits) * temperature)
    return int(rng.choice(len(p), p=p))


@_draws_from(lambda z, T: softmax(z))
def _sampler_probs_renormalised(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    q = softmax(logits) / temperature
    return int(rng.choice(len(q), p=q / q.sum()))


@_draws_from(lambda z, T: softmax(softmax(z) / T))
def _sampler_softmax_of_probs(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    p = softmax(softmax(logits) / temperature)
    return int(rng.choice(len(p), p=p))


def _sampler_global_random(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    p = softmax(np.asarray(logits) / temperature)
    return int(np.random.choice(len(p), p=p))


def _sampler_fresh_generator(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    p = softmax(np.asarray(logits) / temperature)
    return int(np.random.default_rng().choice(len(p), p=p))


@_draws_from(lambda z, T: softmax(z / T))
def _sampler_unchecked(logits, temperature, rng):
    if temperature == 0:
        return int(np.argmax(logits))
    p = softmax(np.asarray(logits) / temperature)
    return int(rng.choice(len(p), p=p))


@_draws_from(lambda z, T: np.exp(z / T) / np.exp(z / T).sum())
def _sampler_no_shift(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    e = np.exp(np.asarray(logits) / temperature)
    return int(rng.choice(len(e), p=e / e.sum()))


def _sampler_cases(rng):
    # One drawn input: the fixed ordinary probes already decide most names, and each input
    # costs thousands of calls of the learner's sampler.
    for _ in range(1):
        # No token above 0.8: then two samplers that ignore `rng` draw REPLAYS equal tokens by
        # chance with probability under 0.68^100 ≈ 1e-17, so the replay always catches them.
        while True:
            V = int(rng.integers(4, 9))
            z = _inputs.logits(rng, (V,), scale=float(rng.uniform(1, 2)))
            T = _temperature(rng)
            if softmax(z / T).max() <= 0.8:
                break
        yield case(z, T, SeededGenerator(int(rng.integers(2**31))))


def _ordinary(c):
    """A fixed input that is no edge: it decides the name of a mistake as the drawn ones do."""
    return dataclasses.replace(c, kind="ordinary")


def _sampler_probes():
    seed = 20240606  # fixed: the probes draw the same tokens at every check
    # The first three are ordinary inputs, fixed: a sampler's name is read from the ordinary
    # inputs first, and two drawn ones alone can let a near miss (normal noise instead of
    # Gumbel's) pass for a twin whose distribution happens to be close at their temperatures.
    return [
        _ordinary(case(np.array([2.0, 1.0, 0.5, -0.5, -1.0]), 2.0, SeededGenerator(seed + 1),
                       note="the lesson's (2, 1, 0.5, −0.5, −1) at T = 2")),
        _ordinary(case(np.array([0.5, 2.0, 1.5, -1.0], dtype=np.float32), 0.5,
                       SeededGenerator(seed + 2), note="float32 logits, T = 0.5")),
        _ordinary(case(np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]), 0.5,
                       SeededGenerator(seed + 6), note="one favourite among eight tokens, "
                       "T = 0.5")),
        case(np.array([1.0, 3.0, 2.5]), 1e-3, SeededGenerator(seed + 3),
             note="T = 0.001, where logits / T reach 3000"),
        case(np.array([0.5, -1.0, 2.5, 1.0]), 0.0, SeededGenerator(seed + 4),
             note="T = 0 is greedy: always the argmax"),
        case(np.array([2.0, 1.0, 0.0]), -1.0, SeededGenerator(seed + 5), raises=ValueError,
             note="a negative temperature has no meaning"),
    ]


# --- expected_calibration_error ----------------------------------------------------------------

def expected_calibration_error(probs, labels, n_bins=15):
    """Σ_b (n_b / N)·|accuracy_b − confidence_b| over equal-width bins (lo, hi] of the
    confidence max(p); the first bin also takes a confidence of 0."""
    probs = np.asarray(probs, dtype=float)
    confidence = probs.max(axis=-1)
    correct = probs.argmax(axis=-1) == np.asarray(labels)
    # Bin b holds (b/B, (b + 1)/B]: ceil(conf·B) − 1, and conf = 0 goes to bin 0.
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - confidence[in_bin].mean())
            ece += in_bin.mean() * gap
    return ece


def _ece_from_bins(bins, confidence, correct, n_bins, weighted=True, empty_count=False,
                   counts_only=False):
    gaps, weights = [], []
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            gaps.append(abs(correct[in_bin].mean() - confidence[in_bin].mean()))
            weights.append(in_bin.sum() if counts_only else in_bin.mean())
        elif empty_count:
            gaps.append(0.0)
            weights.append(0.0)
    if not weighted:
        return float(np.mean(gaps))
    return float(np.dot(weights, gaps))


def _ece_inputs(probs, labels):
    probs = np.asarray(probs, dtype=float)
    return probs.max(axis=-1), probs.argmax(axis=-1) == np.asarray(labels)


def _ece_left_closed(probs, labels, n_bins=15):
    confidence, correct = _ece_inputs(probs, labels)
    edges = np.linspace(0, 1, n_bins + 1)
    bins = np.digitize(confidence, edges[1:-1])
    return _ece_from_bins(bins, confidence, correct, n_bins)


def _ece_drops_one(probs, labels, n_bins=15):
    confidence, correct = _ece_inputs(probs, labels)
    edges = np.linspace(0, 1, n_bins + 1)
    bins = np.full(confidence.shape, -1)
    for b in range(n_bins):
        bins[(confidence >= edges[b]) & (confidence < edges[b + 1])] = b
    gaps = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            gaps += in_bin.sum() / len(confidence) * abs(correct[in_bin].mean()
                                                         - confidence[in_bin].mean())
    return gaps


def _ece_unweighted(probs, labels, n_bins=15):
    confidence, correct = _ece_inputs(probs, labels)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    return _ece_from_bins(bins, confidence, correct, n_bins, weighted=False)


def _ece_unweighted_all_bins(probs, labels, n_bins=15):
    confidence, correct = _ece_inputs(probs, labels)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    return _ece_from_bins(bins, confidence, correct, n_bins, weighted=False, empty_count=True)


def _ece_counts(probs, labels, n_bins=15):
    confidence, correct = _ece_inputs(probs, labels)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    return _ece_from_bins(bins, confidence, correct, n_bins, counts_only=True)


def _classifier(rng, N, K, T_true, scale=2.0):
    """A synthetic classifier overconfident by a factor T_true: labels are drawn from
    softmax(z), the model reports z·T_true. Fitting T on (z·T_true, labels) gives about T_true."""
    z = rng.normal(0.0, scale, (N, K))
    cdf = np.cumsum(softmax(z), axis=-1)
    labels = (rng.random((N, 1)) > cdf).sum(axis=-1).clip(0, K - 1)
    return z * T_true, labels


def _ece_cases(rng):
    for _ in range(3):
        N, K = int(rng.integers(50, 400)), int(rng.integers(3, 9))
        logits, labels = _classifier(rng, N, K, float(rng.uniform(1.0, 3.0)))
        probs = softmax(logits)
        if rng.random() < 0.5:
            yield case(probs, labels)
        else:
            yield case(probs, labels, n_bins=int(rng.choice([5, 10, 20])))


def _ece_probes():
    edge = np.array([[0.5, 0.3, 0.2], [0.5, 0.2, 0.3], [0.5, 0.25, 0.25], [0.9, 0.05, 0.05],
                     [0.8, 0.1, 0.1], [0.7, 0.2, 0.1]])
    quarter = np.array([[0.75, 0.125, 0.125], [0.75, 0.2, 0.05], [0.6, 0.3, 0.1],
                        [0.4, 0.35, 0.25], [0.95, 0.03, 0.02]])
    certain = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1],
                        [0.0, 0.0, 1.0]])
    return [
        case(edge, np.array([0, 1, 0, 0, 0, 0]), n_bins=2,
             note="confidences of exactly 0.5 with 2 bins"),
        case(quarter, np.array([0, 0, 1, 0, 0]), n_bins=4,
             note="confidences of exactly 0.75 with 4 bins"),
        case(certain, np.array([0, 1, 1, 1, 0])),
        case(np.array([[0.62, 0.2, 0.18], [0.15, 0.73, 0.12], [0.45, 0.35, 0.2],
                       [0.86, 0.1, 0.04]], dtype=np.float32),
             np.array([0, 1, 2, 0]), n_bins=10, note="float32"),
        case(np.array([[0.9, 0.1], [0.3, 0.7], [0.55, 0.45], [0.2, 0.8]]),
             np.array([0, 0, 1, 1]), n_bins=1, note="one bin"),
    ]


# --- fit_temperature ---------------------------------------------------------------------------

def _golden_minimum(f, lo, hi, tol=1e-9):
    """The minimum of a unimodal f on [lo, hi] by golden-section search over log T."""
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5.0) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(np.exp(c)), f(np.exp(d))
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(np.exp(d))
    return float(np.exp((a + b) / 2))


def fit_temperature(logits, labels):
    """The T > 0 minimising the mean NLL of softmax(logits / T) on the labels."""
    z = np.asarray(logits, dtype=float)
    y = np.asarray(labels)
    rows = np.arange(len(y))

    def mean_nll(T):
        return -np.mean(log_softmax(z / T)[rows, y])

    return _golden_minimum(mean_nll, 1e-3, 1e3)


def _fit_scale(logits, labels):
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    rows = np.arange(len(y))
    return _golden_minimum(lambda s: -np.mean(log_softmax(z * s)[rows, y]), 1e-3, 1e3)


def _fit_no_shift(logits, labels):
    """log softmax as z − log Σ e^z: the NLL turns NaN wherever z / T passes 709, and the
    search goes astray on logits in the hundreds."""
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    rows = np.arange(len(y))

    def mean_nll(T):
        x = z / T
        return -np.mean((x - np.log(np.exp(x).sum(axis=-1, keepdims=True)))[rows, y])

    return _golden_minimum(mean_nll, 1e-3, 1e3)


def _fit_global_max(logits, labels):
    """log-softmax shifted by the max of the whole batch: rows far below it underflow to
    log 0, and the NLL turns inf or NaN."""
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    rows = np.arange(len(y))

    def mean_nll(T):
        x = z / T
        e = np.exp(x - x.max())
        return -np.mean((x - x.max() - np.log(e.sum(axis=-1, keepdims=True)))[rows, y])

    return _golden_minimum(mean_nll, 1e-3, 1e3)


def _fit_on_probabilities(logits, labels):
    return fit_temperature(softmax(logits), labels)


def _fit_target_indexing(logits, labels):
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    return _golden_minimum(lambda T: -np.mean(log_softmax(z / T)[:, y]), 1e-3, 1e3)


def _fit_axis0(logits, labels):
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    rows = np.arange(len(y))
    return _golden_minimum(lambda T: -np.mean(log_softmax(z / T, axis=0)[rows, y]), 1e-3, 1e3)


BEYOND_ANY_FIT = 100.0
"""Every best T of the checks lies under 50: a fitted T above this ran off to the search's end."""


def _same_fit(twin, mine, tol) -> bool:
    """Two fitted temperatures show the same mistake when they agree, or when both ran off past
    any best T of the checks: a wrong NLL that keeps falling as T grows stops wherever each
    search range happens to end (1000 for the twin, e^7 or 100 for a learner)."""
    if compare_arrays(twin, mine, tol) is None:
        return True
    try:
        a, b = as_array(twin), as_array(mine)
    except NotAnArray:
        return False
    return a.shape == b.shape == () and a.dtype.kind == b.dtype.kind == "f" and \
        bool(a > BEYOND_ANY_FIT) and bool(b > BEYOND_ANY_FIT)


def _compare_fitted(expected, got, tol) -> str | None:
    """`compare` that tells an answer of one element, such as scipy.optimize.minimize(...).x,
    how to return the number itself."""
    reason = compare_arrays(expected, got, tol)
    if reason is not None and reason.startswith("returned shape (1,) instead of ()"):
        return (f"{reason}: an array holding one number, such as the .x of "
                "scipy.optimize.minimize; return the number itself, float(result.x[0])")
    return reason


def _fit_cases(rng):
    # One drawn classifier beside the two fixed ordinary ones: every case is a few dozen
    # evaluations of the NLL over hundreds of rows, for the learner and each twin.
    for _ in range(1):
        N, K = int(rng.integers(200, 600)), int(rng.integers(3, 11))
        T_true = float(np.exp(rng.uniform(np.log(0.4), np.log(6.0))))
        yield case(*_classifier(rng, N, K, T_true, scale=float(rng.uniform(1.5, 3.0))))


def _fit_probes():
    rng = np.random.default_rng(6)  # fixed data: the same classifiers at every check
    over = _classifier(rng, 500, 5, 2.5)
    under = _classifier(rng, 400, 4, 0.5)
    mid = _classifier(rng, 300, 6, 1.8)
    large = _classifier(rng, 300, 8, 40.0, scale=3.0)
    # The sure example (a logit of 2000) adds nothing to the NLL at the best T, about 1.3, but
    # its e^(2000 / T) overflows for every T below 2.8 when the max is not subtracted.
    small = (np.array([[3.0, 0.0, -1.0], [0.0, 2.0, 1.0], [1.0, -1.0, 3.0], [2.0, 1.0, 0.0],
                       [-2.0, 2.0, 0.0], [0.0, 3.0, 1.0], [2000.0, 0.0, -5.0]]),
             np.array([0, 1, 2, 1, 1, 2, 0]))
    return [
        case(*small, note="seven examples: two misclassified, one sure (a logit of 2000)"),
        _ordinary(case(*over, note="an overconfident classifier (true T = 2.5)")),
        _ordinary(case(*under, note="an underconfident classifier (true T = 0.5)")),
        case(mid[0].astype(np.float32), mid[1], note="float32 logits"),
        case(*large, note="logits in the hundreds (true T = 40)"),
    ]


# --- distillation_loss -------------------------------------------------------------------------

def _distillation_loss(b, student_logits, teacher_logits, T):
    """T² · mean over the batch of KL(softmax(teacher / T) ‖ softmax(student / T))."""
    log_q = b.log_softmax(b.asarray(student_logits) / T, axis=-1)
    log_p = b.log_softmax(b.asarray(teacher_logits) / T, axis=-1)
    p = b.exp(log_p)
    kl = np.sum(np.where(p > 0, p * (log_p - log_q), 0.0), axis=-1)
    return T**2 * b.mean(kl)


distillation_loss, _distill_derived = _derived(
    _distillation_loss, (np.array([[1.0, 2.0, 0.0]]), np.array([[2.0, 1.0, 0.0]]), 2.0),
    exclude=("neg_inf_nan",), harmless=LAST_AXIS_ONLY)


def _kl_rows(s, t, T, axis=-1):
    log_q, log_p = log_softmax(np.asarray(s) / T, axis=axis), log_softmax(np.asarray(t) / T,
                                                                         axis=axis)
    return np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)


def _distill_no_t_squared(s, t, T):
    return np.mean(_kl_rows(s, t, T))


def _distill_times_t(s, t, T):
    return T * np.mean(_kl_rows(s, t, T))


def _distill_divided_by_t_squared(s, t, T):
    return np.mean(_kl_rows(s, t, T)) / T**2


def _distill_reversed(s, t, T):
    return T**2 * np.mean(_kl_rows(t, s, T))


def _distill_mean_over_classes(s, t, T):
    return T**2 * np.mean(_kl_rows(s, t, T)) / np.shape(s)[-1]


def _distill_soft_cross_entropy(s, t, T):
    p = softmax(np.asarray(t) / T)
    return T**2 * np.mean(-np.sum(p * log_softmax(np.asarray(s) / T), axis=-1))


def _distill_log_of_softmax(s, t, T):
    p, q = softmax(np.asarray(t) / T), softmax(np.asarray(s) / T)
    return T**2 * np.mean(np.sum(p * np.log(p / q), axis=-1))


def _distill_no_shift(s, t, T):
    ep, eq = np.exp(np.asarray(t) / T), np.exp(np.asarray(s) / T)
    p, q = ep / ep.sum(axis=-1, keepdims=True), eq / eq.sum(axis=-1, keepdims=True)
    return T**2 * np.mean(np.sum(p * np.log(p / q), axis=-1))


def _distill_axis0(s, t, T):
    return T**2 * np.mean(_kl_rows(s, t, T, axis=0))


def _distill_on_probs(s, t, T):
    """T applied to the probabilities: softmax(softmax(logits) / T) for both."""
    return T**2 * np.mean(_kl_rows(softmax(s), softmax(t), T))


def _distill_multiplies(s, t, T):
    return T**2 * np.mean(_kl_rows(np.asarray(s) * T**2, np.asarray(t) * T**2, T))


def _distill_cases(rng):
    for T in (float(rng.uniform(1.5, 3.0)), float(rng.choice([4.0, 8.0])),
              float(rng.uniform(0.3, 0.8))):
        N, K = (int(v) for v in rng.permutation(np.arange(2, 9))[:2])
        teacher = _inputs.logits(rng, (N, K), scale=float(rng.uniform(2, 5)))
        student = teacher * rng.uniform(0.3, 1.0) + _inputs.logits(rng, (N, K), scale=1.0)
        yield case(student, teacher, T)


def _distill_probes():
    return [
        case(np.array([[1.0, 2.0, 0.0], [0.5, 0.0, -1.0]]),
             np.array([[2.0, 1.0, 0.0], [3.0, -1.0, 0.0]]), 2.0, note="T = 2"),
        case(np.array([[1.0, 2.0, 0.0]]), np.array([[2.0, 1.0, 0.0]]), 1.0, note="T = 1"),
        case(np.array([[0.0, 1.0, -3.0], [1.0, 1.0, 0.0]]),
             np.array([[0.0, 0.0, -1000.0], [2.0, 0.0, 1.0]]), 1.0,
             note="a teacher probability that underflows to 0"),
        case(np.array([[0.0, -1000.0, 0.0], [0.0, 1.0, 2.0]]),
             np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]), 1.0,
             note="a student probability that underflows to 0"),
        case(np.array([[1000.0, 998.0, 995.0]]), np.array([[1001.0, 1000.0, 990.0]]), 0.5,
             note="logits near 1000"),
        case(np.array([[1000.0, 998.0, 995.0], [0.0, 1.0, 2.0]]),
             np.array([[999.0, 1000.0, 990.0], [1.0, 0.0, 2.0]]), 1.0,
             note="two rows 1000 apart"),
        case(np.array([[0.5, -0.5, 1.5, 0.0]], dtype=np.float32),
             np.array([[2.0, 0.0, 1.0, -1.0]], dtype=np.float32), 4.0, note="float32, T = 4"),
        case(np.array([[10000.31, 9999.87, 10001.02]]), np.array([[10000.55, 10000.12, 9999.43]]),
             1.0, note="close logits near 1e4"),
    ]


# --- the chapter's problems, easiest first -----------------------------------------------------

PROBLEMS = [
    Problem(
        id="softmax_temperature", chapter=CHAPTER, signature="softmax_temperature(z, T)",
        difficulty="easy", points=1,
        statement="softmax(z / T) along the last axis of logits z of any shape. T < 1 sharpens "
                  "the distribution and T > 1 flattens it; T must be positive, so raise "
                  "ValueError for T ≤ 0. It must stay finite for T as small as 0.001.",
        reference=softmax_temperature, generate=_temperature_cases, probes=_temperature_probes,
        symptoms=(overflow_symptom(_scaled_logits),),
        twins=(Twin("temperature_multiplies", _temp_multiplies),
               Twin("temperature_multiplies", _temp_multiplies_unchecked),
               Twin("temperature_on_probs", _temp_probs_renormalised),
               Twin("temperature_on_probs", _temp_probs_divided),
               Twin("temperature_on_probs", _temp_softmax_of_probs),
               Twin("accepts_invalid_temperature", _temp_unchecked),
               Twin("accepts_invalid_temperature", _temp_reciprocal_unchecked),
               Twin("accepts_invalid_temperature", _temp_checks_only_zero),
               Twin("lower_precision", _temp_float32),
               Twin("not_normalised", _temp_not_normalised),
               Twin("clips_logits", _temp_clipped),
               Twin("wrong_axis", _temp_axis0),
               Twin("wrong_axis", _temp_global_sum),
               *_temperature_derived),
        hints=("Temperature acts on the logits, before the softmax: divide, then normalise "
               "along the last axis.",
               "Check T first: `if T <= 0: raise ValueError(...)`. Then z / T can be huge for "
               "small T, so subtract the row maximum of z / T before exp.",
               "if T <= 0: raise ValueError('T must be positive'); x = np.asarray(z) / T; "
               "e = np.exp(x - x.max(axis=-1, keepdims=True)); "
               "return e / e.sum(axis=-1, keepdims=True)"),
    ),
    Problem(
        id="entropy", chapter=CHAPTER, signature="entropy(z, axis=-1)", difficulty="easy",
        points=1,
        statement="The Shannon entropy H = −Σ p·log p, in nats (natural log), of p = softmax(z) "
                  "along `axis`, for logits z of any shape; the axis is reduced away. A term "
                  "with p = 0 counts as 0, so H must be finite for any finite z, even when "
                  "some probabilities underflow to exactly 0.",
        reference=entropy, generate=_entropy_cases, probes=_entropy_probes,
        invariants=(at_least(0.0, "entropy"),),
        agree=blocks.agree_to_float32,
        symptoms=(overflow_symptom(lambda case: case.args[:1]),),
        twins=(Twin("nll_sign", blocks.negated(entropy)),
               Twin("entropy_nan_zero_prob", _entropy_nan),
               Twin("wrong_log_base", _entropy_bits),
               Twin("wrong_log_base", _entropy_bits_safe),
               Twin("wrong_log_base", _entropy_bans),
               Twin("wrong_log_base", _entropy_bans_safe),
               Twin("no_max_shift", _entropy_no_shift),
               Twin("wrong_axis", _entropy_last_axis),
               Twin("wrong_axis", _entropy_lse_last_axis),
               Twin("missing_keepdims", _entropy_no_keepdims),
               Twin("lower_precision", blocks.in_float32(_entropy_in_dtype)),
               *_entropy_derived),
        hints=("np.log(p) is −inf where p underflows to 0, and 0 · (−inf) is NaN. Is there a "
               "form of log p that stays finite?",
               "log p = log-softmax(z) = z − logsumexp(z) is finite for finite z, and then "
               "p · log p is 0 where p is 0. Reduce with axis=axis (keepdims for the "
               "logsumexp).",
               "m = z.max(axis=axis, keepdims=True); log_p = z - m - np.log(np.exp(z - m)"
               ".sum(axis=axis, keepdims=True)); return -np.sum(np.exp(log_p) * log_p, "
               "axis=axis)"),
    ),
    Problem(
        id="top_k_filter", chapter=CHAPTER, signature="top_k_filter(logits, k)",
        difficulty="easy", points=1,
        statement="Top-k filtering along the last axis: keep every logit that is ≥ the k-th "
                  "largest of its row (so ties at the boundary are all kept) and set the others "
                  "to −inf. Same shape out; 1 ≤ k ≤ the row length.",
        reference=top_k_filter, generate=_top_k_cases, probes=_top_k_probes,
        agree=_same_kept_values,
        twins=(Twin("top_k_off_by_one", _top_k_strict),
               Twin("top_k_off_by_one", _top_k_zero_based),
               Twin("top_k_off_by_one", _top_k_exactly_k),
               Twin("top_k_off_by_one", _top_k_exactly_k_first),
               Twin("top_k_off_by_one", _top_k_above_next),
               Twin("sorted_order_returned", _top_k_sorted),
               Twin("sorted_order_returned", _top_k_sorted_ascending),
               Twin("sorted_order_returned", _top_k_sorted_exactly_k),
               Twin("mask_fill_zero", _top_k_fill_zero),
               Twin("filter_returns_probabilities", _top_k_probabilities),
               Twin("wrong_axis", _top_k_global),
               Twin("wrong_axis", _top_k_axis0)),
        hints=("Find the k-th largest value of each row; everything at or above it stays.",
               "np.sort(z, axis=-1)[..., -k] is the k-th largest of each row; add an axis "
               "(`[..., None]`) so it broadcasts against z. Use >=, not >.",
               "kth = np.sort(z, axis=-1)[..., -k, None]; return np.where(z >= kth, z, "
               "-np.inf)"),
    ),
    Problem(
        id="sample_next_token", chapter=CHAPTER,
        signature="sample_next_token(logits, temperature, rng)", difficulty="medium", points=2,
        statement="Draw the next token from 1-D logits: return one index, as an int, drawn "
                  "from softmax(logits / temperature) with the numpy Generator `rng` (so that "
                  "the same seed gives the same tokens). temperature = 0 means greedy: return "
                  "the argmax. A negative temperature raises ValueError. The check draws "
                  "thousands of tokens and compares their frequencies with the probabilities.",
        reference=sample_next_token, generate=_sampler_cases, probes=_sampler_probes,
        call=_call_sampler, expect=_sampler_expectation, compare=_compare_sampler,
        symptoms=(overflow_symptom(_scaled_logits),),
        agree=_same_sampler, time_limit=30.0,
        twins=(Twin("argmax_not_sample", _sampler_argmax),
               Twin("argmax_not_sample", _sampler_argmax_unchecked),
               Twin("temperature_multiplies", _sampler_multiplies),
               Twin("temperature_on_probs", _sampler_probs_renormalised),
               Twin("temperature_on_probs", _sampler_softmax_of_probs),
               Twin("ignores_rng", _sampler_global_random),
               Twin("ignores_rng", _sampler_fresh_generator),
               Twin("accepts_invalid_temperature", _sampler_unchecked),
               Twin("no_max_shift", _sampler_no_shift)),
        hints=("Handle temperature < 0 (raise) and temperature == 0 (argmax) first; otherwise "
               "compute the probabilities softmax(logits / temperature).",
               "rng.choice(V, p=p) draws one index with probabilities p; so does "
               "np.searchsorted(np.cumsum(p), rng.random()). Use `rng`, never np.random, and "
               "return int(...).",
               "if temperature < 0: raise ValueError(...); if temperature == 0: return "
               "int(np.argmax(logits)); x = np.asarray(logits) / temperature; "
               "p = np.exp(x - x.max()); p /= p.sum(); return int(rng.choice(len(p), p=p))"),
    ),
    Problem(
        id="top_p_filter", chapter=CHAPTER, signature="top_p_filter(logits, p)",
        difficulty="medium", points=2,
        statement="Top-p (nucleus) filtering along the last axis: sort the probabilities "
                  "softmax(logits) from the largest down and keep the smallest set of most "
                  "probable entries whose probabilities sum to at least p. The entry that "
                  "makes the sum reach p is kept, and at least one entry always is; the others "
                  "become −inf. The kept logits are returned unchanged, in their original "
                  "places.",
        reference=top_p_filter, generate=_top_p_cases, probes=_top_p_probes,
        symptoms=(overflow_symptom(lambda case: case.args[:1]),),
        agree=_same_kept_values,
        twins=(Twin("lower_precision", blocks.in_float32(top_p_filter)),
               Twin("top_p_excludes_crossing", _top_p_drops_crossing),
               Twin("top_p_excludes_crossing", _top_p_drops_crossing_keeps_first),
               Twin("top_p_excludes_crossing", _top_p_cumsum_at_most_p),
               Twin("top_p_keeps_extra", _top_p_keeps_extra),
               Twin("top_p_unsorted", _top_p_unsorted),
               Twin("top_p_unsorted", _top_p_unsorted_inclusive),
               Twin("top_p_unsorted", _top_p_ascending),
               Twin("sorted_order_returned", _top_p_left_sorted),
               Twin("mask_fill_zero", _top_p_fill_zero),
               Twin("filter_returns_probabilities", _top_p_probabilities),
               Twin("filter_returns_probabilities", _top_p_nucleus_probabilities),
               Twin("filter_on_logits", _top_p_on_logits),
               Twin("wrong_axis", _top_p_global_softmax),
               *_top_p_derived),
        hints=("Sort the probabilities in decreasing order and add them up one by one: the "
               "first entry whose running sum reaches p is the last one kept.",
               "An entry is kept exactly when the probability mass of the entries *before* it "
               "(more probable) is still < p: that is cumsum − probs < p. Then put the "
               "decision back in the original order with the sort indices.",
               "order = np.argsort(-z, axis=-1); q = np.take_along_axis(softmax(z), order, -1); "
               "keep_sorted = np.cumsum(q, -1) - q < p; keep = np.empty_like(keep_sorted); "
               "np.put_along_axis(keep, order, keep_sorted, -1); "
               "return np.where(keep, z, -np.inf)"),
    ),
    Problem(
        id="expected_calibration_error", chapter=CHAPTER,
        signature="expected_calibration_error(probs, labels, n_bins=15)", difficulty="medium",
        points=2,
        statement="The expected calibration error of predictions probs (N, K) with integer "
                  "labels (N,). The confidence of a row is its largest probability, and it is "
                  "correct when its argmax is the label. Put confidences in n_bins equal-width "
                  "bins (lo, hi] over [0, 1] (the first bin also takes 0), and return "
                  "Σ_b (n_b / N)·|accuracy_b − confidence_b|, with accuracy_b and "
                  "confidence_b the means over the n_b rows of bin b (empty bins add nothing).",
        reference=expected_calibration_error, generate=_ece_cases, probes=_ece_probes,
        twins=(Twin("ece_bin_edges", _ece_left_closed),
               Twin("ece_bin_edges", _ece_drops_one),
               Twin("ece_unweighted", _ece_unweighted),
               Twin("ece_unweighted", _ece_unweighted_all_bins),
               Twin("sum_not_mean", _ece_counts)),
        hints=("Compute conf = probs.max(-1) and correct = probs.argmax(-1) == labels, then "
               "one bin index per row.",
               "A confidence c falls in bin ceil(c·B) − 1 for bins (lo, hi] (clip to 0 for "
               "c = 0): 0.5 with B = 2 is in bin 0, the right-closed one. "
               "np.digitize(conf, edges[1:-1], right=True) gives the same.",
               "b = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1); then sum "
               "(b == i).mean() * abs(correct[b == i].mean() - conf[b == i].mean()) over the "
               "non-empty bins i."),
    ),
    Problem(
        id="fit_temperature", chapter=CHAPTER, signature="fit_temperature(logits, labels)",
        difficulty="hard", points=3, rtol=1e-3, atol=0.0,
        statement="Temperature scaling: return, as a number, the T > 0 that minimises the mean "
                  "negative log-likelihood −mean_n log softmax(logits_n / T)[labels_n] of "
                  "validation logits (N, K) with integer labels (N,), to a relative accuracy of "
                  "1e-3 (an optimiser's tol bounds a gradient or a step, not the error in T: "
                  "ask for 1e-8 on log T). The checks use synthetic classifiers whose best T "
                  "lies anywhere from 0.2 to 50, some with logits in the hundreds.",
        reference=fit_temperature, generate=_fit_cases, probes=_fit_probes, agree=_same_fit,
        compare=_compare_fitted, time_limit=30.0,
        twins=(Twin("temperature_multiplies", _fit_scale),
               Twin("temperature_on_probs", _fit_on_probabilities),
               Twin("wrong_target_indexing", _fit_target_indexing),
               Twin("wrong_axis", _fit_axis0),
               Twin("no_max_shift", _fit_no_shift),
               Twin("global_max_shift", _fit_global_max)),
        hints=("Write the mean NLL as a function of T with log-softmax (stable for small T), "
               "then minimise it over T > 0 with a one-dimensional method.",
               "The NLL has a single minimum, and searching over log T keeps T positive: "
               "scipy.optimize.minimize_scalar(lambda u: nll(np.exp(u)), bounds=(-5, 7), "
               "method='bounded'), or golden-section search by hand.",
               "nll = lambda T: -np.mean(log_softmax(z / T)[np.arange(N), y]); "
               "u = minimize_scalar(lambda u: nll(np.exp(u)), bounds=(np.log(1e-2), "
               "np.log(1e3)), method='bounded', options={'xatol': 1e-8}).x; "
               "return float(np.exp(u))"),
    ),
    Problem(
        id="distillation_loss", chapter=CHAPTER,
        signature="distillation_loss(student_logits, teacher_logits, T)", difficulty="hard",
        points=3,
        statement="The soft-target loss of knowledge distillation for logits (N, K): "
                  "T² · mean over the N examples of KL(softmax(teacher / T) ‖ "
                  "softmax(student / T)), returned as a number. It must stay finite when the "
                  "teacher's or the student's probabilities underflow to 0 and for logits near "
                  "1000.",
        reference=distillation_loss, generate=_distill_cases, probes=_distill_probes,
        invariants=(at_least(0.0, "the distillation loss"),),
        symptoms=(overflow_symptom(lambda case: [np.divide(x, case.args[2])
                                                 for x in case.args[:2]]),
                  Symptom("lower_precision", blocks.float32_digits_lost)),
        twins=(Twin("lower_precision", blocks.in_float32(distillation_loss)),
               Twin("no_t_squared", _distill_no_t_squared),
               Twin("no_t_squared", _distill_times_t),
               Twin("no_t_squared", _distill_divided_by_t_squared),
               Twin("kl_direction", _distill_reversed),
               Twin("kl_mean_over_classes", _distill_mean_over_classes),
               Twin("soft_ce_not_kl", _distill_soft_cross_entropy),
               Twin("log_of_softmax", _distill_log_of_softmax),
               Twin("no_max_shift", _distill_no_shift),
               Twin("wrong_axis", _distill_axis0),
               Twin("temperature_multiplies", _distill_multiplies),
               Twin("temperature_on_probs", _distill_on_probs),
               *_distill_derived),
        hints=("KL(p ‖ q) = Σ p·(log p − log q), with p the teacher's softened distribution and "
               "q the student's; sum over classes, average over the batch, then multiply by "
               "T².",
               "Compute log p and log q with log-softmax of logits / T, never log(softmax): "
               "log q stays finite where q underflows, and p·(log p − log q) is 0 where p is "
               "0.",
               "log_q = log_softmax(s / T); log_p = log_softmax(t / T); return T**2 * "
               "np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1))"),
    ),
]


# --- quizzes -----------------------------------------------------------------------------------

QUIZZES = [
    Quiz(
        id="q06_clip_scale", chapter=CHAPTER,
        question="CLIP does not learn τ itself: it learns a logit scale s and multiplies the "
                 "cosines by e^s (so τ = e^(−s)), clamping e^s at 100. Why learn s rather than τ?",
        choices=(
            Choice("Every real s gives a positive τ, and a step in s changes τ by a factor "
                   "whatever its size", True,
                   "Right: gradient descent can move s anywhere without ever making τ ≤ 0, and "
                   "a step of 0.1 in s scales τ by e^(−0.1) both at τ = 1 and at τ = 0.01."),
            Choice("To keep τ below 1", False,
                   "e^(−s) can be any positive number, above 1 too; the clamp bounds τ from "
                   "below (τ ≥ 0.01), not from above."),
            Choice("Because the loss does not depend on τ, only on s", False,
                   "The loss depends on τ through the logits S / τ = e^s · S: s and τ are two "
                   "names for the same knob."),
            Choice("So that τ can reach 0 and the loss with it", False,
                   "That is the danger the clamp exists for: with every right pair ahead in "
                   "its row, a smaller τ always lowers the loss, so s would grow without end."),
        ),
        explanation="s = log(1/τ) starts at log(1/0.07) ≈ 2.659; any s keeps τ positive, steps "
                    "act on τ's scale, and the clamp e^s ≤ 100 keeps τ ≥ 0.01.",
    ),
    Quiz(
        id="q06_entropy", chapter=CHAPTER,
        question="What is the entropy, in nats, of the uniform distribution over 4 tokens "
                 "(the softmax of four equal logits)?",
        answer=float(np.log(4.0)), tolerance=2e-3,
        wrong_answers=((2.0, "2 is the entropy in bits (log base 2). In nats it is ln 4."),
                       (float(np.log10(4.0)), "That uses log base 10. Nats use the natural "
                        "log: ln 4."),
                       (0.25, "0.25 is each token's probability; the entropy is "
                        "−Σ p·log p = −4 · 0.25 · ln 0.25."),
                       (-float(np.log(4.0)), "Mind the sign: entropy is −Σ p·log p, never "
                        "negative.")),
        explanation="H = −Σ 0.25 · ln 0.25 = ln 4 ≈ 1.386 nats, the largest entropy any "
                    "distribution over 4 tokens can have.",
    ),
    Quiz(
        id="q06_temperature_half", chapter=CHAPTER,
        question="softmax(2, 1, 0) = (0.665, 0.245, 0.090). What probability does the first "
                 "token get at temperature T = 0.5? (three decimals)",
        answer=0.8668, tolerance=2e-3,
        wrong_answers=((0.5065, "That is softmax((2, 1, 0) × 0.5), i.e. T = 2. Temperature "
                                "divides: (2, 1, 0) / 0.5 = (4, 2, 0)."),
                       (0.6652, "That ignores T. Dividing the logits by 0.5 doubles the gaps "
                                "between them, so the distribution gets sharper."),
                       (0.5722, "That is softmax of the probabilities divided by T, "
                                "softmax((0.665, 0.245, 0.090) / 0.5). T divides the logits.")),
        explanation="(2, 1, 0) / 0.5 = (4, 2, 0) and softmax(4, 2, 0) = (0.867, 0.117, 0.016).",
    ),
    Quiz(
        id="q06_argmax", chapter=CHAPTER,
        question="You lower the temperature from 1 to 0.1. What happens to the most probable "
                 "token?",
        choices=(
            Choice("It stays the most probable, and its probability grows towards 1", True,
                   "Right: dividing by a positive T keeps the order of the logits, and smaller "
                   "T stretches the gaps, so the top token takes almost all the mass."),
            Choice("It may change: another token can become the most probable", False,
                   "Dividing every logit by the same positive number keeps their order, so the "
                   "argmax never changes with T > 0."),
            Choice("Its probability shrinks towards 1/V", False, "That is T → ∞: dividing by "
                   "a large T shrinks the gaps and flattens the distribution."),
            Choice("Nothing changes: softmax is invariant to temperature", False,
                   "Softmax ignores adding a constant to the logits, not scaling them. "
                   "Dividing by T scales the gaps."),
        ),
    ),
    Quiz(
        id="q06_order", chapter=CHAPTER,
        question="A decoder applies temperature, top-k and top-p. In what order, and why does "
                 "it matter?",
        choices=(
            Choice("Temperature, then top-k, then top-p: top-p's cumulative sums depend on "
                   "the probabilities after temperature", True,
                   "Right: temperature reshapes the probabilities, so a nucleus of mass p "
                   "holds more tokens at high T. Top-k only looks at the order, which "
                   "temperature never changes, so it can go before or after temperature."),
            Choice("Any order: the three operations commute", False,
                   "Top-k commutes with temperature (it only uses the order), but top-p does "
                   "not: with T = 2 the same p keeps more tokens than with T = 0.5."),
            Choice("Top-p first, then temperature on the survivors", False,
                   "Then the nucleus is chosen from the T = 1 probabilities and temperature "
                   "no longer changes which tokens can be drawn, only their odds."),
            Choice("Top-k after top-p, so that k counts only nucleus tokens", False,
                   "Libraries such as Hugging Face's apply top-k before top-p; either way, "
                   "temperature must come before top-p so that p measures the probabilities "
                   "actually sampled from."),
        ),
    ),
    Quiz(
        id="q06_t_squared", chapter=CHAPTER,
        question="Why is the distillation loss multiplied by T²?",
        choices=(
            Choice("The gradient of the softened KL with respect to the student's logits "
                   "shrinks like 1/T²; T² keeps it on the same scale for every T", True,
                   "Right: ∂/∂z_s of KL(p_T ‖ q_T) is (q_T − p_T)/T, and for large T the gap "
                   "q_T − p_T itself is about (z_s − z_t)/(K·T), so the total is ~1/T². "
                   "Multiplying by T² lets you change T without retuning the loss weights."),
            Choice("To make the loss a proper KL divergence", False,
                   "KL(p ‖ q) is already a divergence; the factor is about gradient scale, not "
                   "about the definition."),
            Choice("Because the teacher and the student are each divided by T", False,
                   "Dividing both by T softens both distributions; the T² compensates for how "
                   "small the gradients then become, not for the two divisions as such."),
            Choice("It converts nats to bits", False, "Changing units multiplies by 1/ln 2, "
                   "a constant that does not depend on T."),
        ),
    ),
    Quiz(
        id="q06_calibration", chapter=CHAPTER,
        question="Temperature scaling fits T = 2.3 on a validation set of an overconfident "
                 "classifier. What happens to its accuracy?",
        choices=(
            Choice("Nothing: the argmax of z / T is the argmax of z", True,
                   "Right: temperature scaling only changes the confidences, which is why it "
                   "can fix calibration (ECE, NLL) without costing accuracy."),
            Choice("It goes up, because the model is less overconfident", False,
                   "Accuracy only depends on the argmax, and dividing the logits by T > 0 "
                   "never changes the argmax."),
            Choice("It goes down, because the probabilities are flatter", False,
                   "Flatter probabilities lower the confidence, not the accuracy: the top "
                   "class stays on top."),
        ),
    ),
]


# --- clip_loss: a learned temperature over a batch of pairs -------------------------------------

def _unit_rows(x):
    """Each row divided by its Euclidean length: dot products become cosine similarities."""
    x = np.asarray(x, dtype=float)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _mean_diagonal_ce(logits):
    """Cross-entropy of each row of a square matrix against its own index, averaged: row i's
    right answer is column i."""
    return -np.mean(np.diagonal(log_softmax(logits, axis=-1)))


def clip_loss(image_emb, text_emb, tau):
    """CLIP's symmetric contrastive loss over N image–text pairs (row i of each is pair i):
    logits = unit(image) @ unit(text)ᵀ / τ, then the mean of the cross-entropy image → text
    (rows, targets 0..N−1) and text → image (columns, the same targets)."""
    if not tau > 0:
        raise ValueError(f"the temperature must be positive, got tau = {tau}")
    logits = _unit_rows(image_emb) @ _unit_rows(text_emb).T / tau
    return (_mean_diagonal_ce(logits) + _mean_diagonal_ce(logits.T)) / 2


def _clip_checked(tau):
    if not tau > 0:
        raise ValueError("tau must be positive")


def _clip_image_to_text_only(image_emb, text_emb, tau):
    _clip_checked(tau)
    return _mean_diagonal_ce(_unit_rows(image_emb) @ _unit_rows(text_emb).T / tau)


def _clip_text_to_image_only(image_emb, text_emb, tau):
    _clip_checked(tau)
    return _mean_diagonal_ce(_unit_rows(text_emb) @ _unit_rows(image_emb).T / tau)


def _clip_not_normalised(image_emb, text_emb, tau):
    _clip_checked(tau)
    logits = np.asarray(image_emb, dtype=float) @ np.asarray(text_emb, dtype=float).T / tau
    return (_mean_diagonal_ce(logits) + _mean_diagonal_ce(logits.T)) / 2


def _clip_normalised_over_batch(image_emb, text_emb, tau):
    """Each feature divided by its length over the batch (axis 0), not each embedding."""
    _clip_checked(tau)
    i, t = np.asarray(image_emb, dtype=float), np.asarray(text_emb, dtype=float)
    logits = (i / np.linalg.norm(i, axis=0)) @ (t / np.linalg.norm(t, axis=0)).T / tau
    return (_mean_diagonal_ce(logits) + _mean_diagonal_ce(logits.T)) / 2


def _clip_multiplies(image_emb, text_emb, tau):
    _clip_checked(tau)
    logits = _unit_rows(image_emb) @ _unit_rows(text_emb).T * tau
    return (_mean_diagonal_ce(logits) + _mean_diagonal_ce(logits.T)) / 2


def _clip_unchecked(image_emb, text_emb, tau):
    logits = _unit_rows(image_emb) @ _unit_rows(text_emb).T / tau
    return (_mean_diagonal_ce(logits) + _mean_diagonal_ce(logits.T)) / 2


def _clip_whole_matrix(image_emb, text_emb, tau):
    """log_p[:, targets] with targets = arange(N): every entry of the matrix, not its diagonal."""
    _clip_checked(tau)
    logits = _unit_rows(image_emb) @ _unit_rows(text_emb).T / tau
    return -(np.mean(log_softmax(logits, axis=-1)) + np.mean(log_softmax(logits.T, axis=-1))) / 2


def _clip_summed(image_emb, text_emb, tau):
    _clip_checked(tau)
    return clip_loss(image_emb, text_emb, tau) * len(image_emb)


def _clip_no_shift(image_emb, text_emb, tau):
    _clip_checked(tau)
    logits = _unit_rows(image_emb) @ _unit_rows(text_emb).T / tau

    def ce(x):
        return -np.mean(np.diagonal(x - np.log(np.exp(x).sum(axis=-1, keepdims=True))))

    return (ce(logits) + ce(logits.T)) / 2


def _clip_log_of_softmax(image_emb, text_emb, tau):
    _clip_checked(tau)
    logits = _unit_rows(image_emb) @ _unit_rows(text_emb).T / tau

    def ce(x):
        return -np.mean(np.log(np.diagonal(softmax(x, axis=-1))))

    return (ce(logits) + ce(logits.T)) / 2


def _pairs(rng, N, d, noise):
    """N image embeddings and the N text embeddings of their captions (the image's direction
    plus noise), each row with its own length, as encoders give them before normalising."""
    image = rng.normal(size=(N, d))
    text = image + rng.normal(scale=noise, size=(N, d))
    return (image * rng.uniform(0.3, 3.0, (N, 1)), text * rng.uniform(0.3, 3.0, (N, 1)))


def _clip_cases(rng):
    for _ in range(3):
        N, d = _inputs.shape(rng, 2, low=2, high=7)
        # τ far from 1 either way: below 1 as in training (CLIP's starts at 0.07), above 1 rarely
        tau = float(np.exp(rng.uniform(np.log(0.02), np.log(0.5)))) if rng.random() < 0.8 \
            else float(rng.uniform(1.5, 3.0))
        yield case(*_pairs(rng, N, d, noise=float(rng.uniform(0.3, 1.5))), tau)


CLIP_IMAGES = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
CLIP_TEXTS = np.array([[1.0, 0.2, 0.4], [0.2, 0.8, 1.0], [0.9, 1.2, 0.3]])
"""Lesson 06b's batch of three image–text pairs (row i of each is pair i)."""


def _clip_probes():
    rng = np.random.default_rng(7)  # fixed: the same batches at every check
    image, text = _pairs(rng, 5, 4, noise=0.8)
    # Two close pairs (cosines 0.99 and 0.995): at τ = 0.001 the logits reach 995, past the
    # range of exp, though every right pair is the likeliest of its row and column.
    sharp = (np.eye(2), np.array([[0.99, np.sqrt(1 - 0.99**2)], [0.1, np.sqrt(1 - 0.1**2)]]))
    # Image 0 points away from its text (cosine −0.8) and towards the other (0.7): at τ = 0.002
    # no logit passes 350, but the right pair's probability e^(−750) underflows to 0.
    lost = (np.eye(3)[:2], np.array([[-0.8, 0.6, 0.0], [0.7, 0.5, np.sqrt(0.26)]]))
    return [
        _ordinary(case(CLIP_IMAGES, CLIP_TEXTS, 0.07,
                       note="the lesson's three pairs at CLIP's starting τ = 0.07")),
        _ordinary(case(image, text, 0.3, note="five pairs, embeddings of different lengths")),
        case(image.astype(np.float32), text.astype(np.float32), 0.05, note="float32"),
        case(*sharp, 0.001, note="τ = 0.001: logits near 1000"),
        case(*lost, 0.002, note="a right pair whose probability underflows to 0"),
        case(CLIP_IMAGES, CLIP_TEXTS, 0.0, raises=ValueError, note="τ = 0 has no meaning"),
        case(CLIP_IMAGES, CLIP_TEXTS, -0.07, raises=ValueError,
             note="a negative τ rewards the wrong pairs"),
    ]


CLIP_LOSS = Problem(
    id="clip_loss", chapter=CHAPTER, signature="clip_loss(image_emb, text_emb, tau)",
    difficulty="medium", points=2,
    statement="CLIP's contrastive loss over a batch of N image–text pairs: image_emb and "
              "text_emb are (N, d), and row i of each is pair i. Divide every embedding by its "
              "length, form the logits S / τ from the N×N cosine similarities "
              "S = image @ textᵀ, and return, as a number, the mean of two cross-entropies "
              "with targets 0, 1, …, N − 1: image → text over the rows of the logits and "
              "text → image over its columns (the rows of its transpose). τ must be "
              "positive: raise ValueError otherwise. It must stay finite for τ = 0.001.",
    reference=clip_loss, generate=_clip_cases, probes=_clip_probes,
    symptoms=(overflow_symptom(lambda case: [np.divide(1.0, case.args[2])]
                               if case.args[2] > 0 else []),),
    twins=(Twin("contrastive_one_direction", _clip_image_to_text_only),
           Twin("contrastive_one_direction", _clip_text_to_image_only),
           Twin("embeddings_not_normalised", _clip_not_normalised),
           Twin("wrong_axis", _clip_normalised_over_batch),
           Twin("temperature_multiplies", _clip_multiplies),
           Twin("accepts_invalid_temperature", _clip_unchecked),
           Twin("wrong_target_indexing", _clip_whole_matrix),
           Twin("sum_not_mean", _clip_summed),
           Twin("no_max_shift", _clip_no_shift),
           Twin("log_of_softmax", _clip_log_of_softmax)),
    hints=("Normalise each row of both embeddings to length 1, then S = image @ text.T is "
           "N×N and S[i, j] compares image i with text j: the right pairs are on the diagonal.",
           "Image → text is a cross-entropy over each row of S / τ with target i for row i; "
           "text → image is the same over each row of (S / τ).T. Use log-softmax (a max "
           "shift) for both, and average the two losses.",
           "if tau <= 0: raise ValueError(...); i = image_emb / np.linalg.norm(image_emb, "
           "axis=1, keepdims=True) (the same for text); L = i @ t.T / tau; "
           "ce = lambda x: -np.mean(np.diagonal(log_softmax(x, axis=1))); "
           "return (ce(L) + ce(L.T)) / 2"),
)

# In the lesson's order, right after the distillation loss.
PROBLEMS.insert([p.id for p in PROBLEMS].index("distillation_loss") + 1, CLIP_LOSS)


# === Practice beyond the lesson ================================================================
# Problems the lesson does not ask: apply top-p, derive then check numerically, apply entropy.
# They are declared after everything above and added to PROBLEMS at the end of this section.

# --- nucleus_size: apply ------------------------------------------------------------------------

def nucleus_size(logits, p):
    """How many tokens top-p keeps in each row: the smallest k whose k most probable tokens
    hold at least p of the probability."""
    probs = softmax(np.asarray(logits, dtype=float), axis=-1)
    mass = np.cumsum(-np.sort(-probs, axis=-1), axis=-1)
    return np.minimum(np.sum(mass < p, axis=-1) + 1, probs.shape[-1]).astype(np.int64)


def _nucleus_excludes_crossing(logits, p):
    mass = np.cumsum(-np.sort(-softmax(logits, axis=-1), axis=-1), axis=-1)
    return np.maximum(np.sum(mass < p, axis=-1), 1).astype(np.int64)


def _nucleus_keeps_extra(logits, p):
    probs = softmax(logits, axis=-1)
    mass = np.cumsum(-np.sort(-probs, axis=-1), axis=-1)
    return np.minimum(np.sum(mass <= p, axis=-1) + 2, probs.shape[-1]).astype(np.int64)


def _nucleus_at_most_p_before(logits, p):
    ranked = -np.sort(-softmax(logits, axis=-1), axis=-1)
    return np.sum(np.cumsum(ranked, axis=-1) - ranked <= p, axis=-1).astype(np.int64)


def _nucleus_first_above_p(logits, p):
    mass = np.cumsum(-np.sort(-softmax(logits, axis=-1), axis=-1), axis=-1)
    return np.minimum(np.sum(mass <= p, axis=-1) + 1, mass.shape[-1]).astype(np.int64)


def _nucleus_unsorted(logits, p):
    probs = softmax(logits, axis=-1)
    mass = np.cumsum(probs, axis=-1)
    return np.minimum(np.sum(mass < p, axis=-1) + 1, probs.shape[-1]).astype(np.int64)


def _nucleus_on_logits(logits, p):
    z = np.asarray(logits, dtype=float)
    mass = np.cumsum(-np.sort(-z, axis=-1), axis=-1)
    return np.minimum(np.sum(mass < p, axis=-1) + 1, z.shape[-1]).astype(np.int64)


def _nucleus_on_logits_before(logits, p):
    ranked = -np.sort(-np.asarray(logits, dtype=float), axis=-1)
    return np.maximum(np.sum(np.cumsum(ranked, axis=-1) - ranked < p, axis=-1), 1).astype(np.int64)


def _nucleus_axis0(logits, p):
    ranked = -np.sort(-softmax(logits, axis=0), axis=-1)
    return np.maximum(np.sum(np.cumsum(ranked, axis=-1) - ranked < p, axis=-1), 1).astype(np.int64)


def _nucleus_cases(rng):
    for _ in range(4):
        N, V = _inputs.shape(rng, 2, low=3, high=12)
        yield case(_inputs.logits(rng, (N, V), scale=float(rng.uniform(0.5, 3))),
                   float(rng.uniform(0.3, 0.97)))


def _nucleus_probes():
    # As top_p_filter's: logits a whole number of ln 2 apart give probabilities 1/2, 1/4, 1/8,
    # 1/8 exactly, so p can sit exactly on a cumulative sum.
    ln2 = np.log(2.0)
    return [
        case(np.array([[-2.0, 0.0, -3.0, -1.0, -3.0]]) * ln2, 0.75,
             note="p exactly at a cumulative sum (1/2 + 1/4)"),
        case(np.log(np.array([[0.1, 0.5, 0.15, 0.25]])), 0.7, note="0.5 + 0.25 crosses 0.7"),
        case(np.log(np.array([[0.4, 0.3, 0.2, 0.1], [0.05, 0.05, 0.1, 0.8]])), 0.85,
             note="a batch of two rows"),
        case(np.array([[2.0, 1.0, 0.5, -0.5, -1.0]]), 0.999, note="p = 0.999"),
    ]


# --- nll_temperature_grad: derive, then check numerically -----------------------------------------

def nll_temperature_grad(logits, labels, T):
    """dL/dT of L(T) = mean NLL of softmax(logits / T): with z̄ = Σ p_i z_i (p at temperature T),
    L = mean[LSE(z/T) − z_y/T], and d LSE(z/T)/dT = −z̄/T², so dL/dT = mean(z_y − z̄) / T²."""
    z = np.asarray(logits, dtype=float)
    p = softmax(z / T, axis=-1)
    z_y = z[np.arange(z.shape[0]), np.asarray(labels)]
    return float(np.mean(z_y - np.sum(p * z, axis=-1)) / T**2)


def _nll_grad_flipped(logits, labels, T):
    return -nll_temperature_grad(logits, labels, T)


def _nll_grad_in_beta(logits, labels, T):
    return -nll_temperature_grad(logits, labels, T) * T**2


def _nll_grad_summed(logits, labels, T):
    return nll_temperature_grad(logits, labels, T) * len(logits)


def _nll_grad_unweighted(logits, labels, T):
    z = np.asarray(logits, dtype=float)
    return float(np.mean(z[np.arange(len(z)), labels] - z.mean(axis=-1)) / T**2)


def _nll_grad_no_shift(logits, labels, T):
    z = np.asarray(logits, dtype=float)
    with np.errstate(all="ignore"):
        e = np.exp(z / T)
        p = e / e.sum(axis=-1, keepdims=True)
    return float(np.mean(z[np.arange(len(z)), labels] - np.sum(p * z, axis=-1)) / T**2)


def _nll_grad_cases(rng):
    for _ in range(3):
        N, K = _inputs.shape(rng, 2)
        yield case(_inputs.logits(rng, (N, K), scale=3.0), rng.integers(0, K, N),
                   float(np.exp(rng.uniform(-0.7, 1.2))))


def _nll_grad_probes():
    return [
        case(np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]]), np.array([0, 2]), 1.0,
             note="two rows at T = 1"),
        case(np.array([[1000.0, 999.0, 0.0], [5.0, 2.0, 1.0]]), np.array([1, 0]), 2.0,
             note="logits near 1000"),
        # z / T reaches 2000: exp overflows without the max shift (at T = 2, 500 does not).
        case(np.array([[1000.0, 999.0, 0.0], [5.0, 2.0, 1.0]]), np.array([1, 0]), 0.5,
             note="logits near 1000 at T = 0.5"),
    ]


# --- temperature_for_entropy: apply -------------------------------------------------------------

def temperature_for_entropy(z, H):
    """The T > 0 at which softmax(z / T) has entropy H nats (0 < H < log K, z's largest entry
    unique). H(T) grows with T, so bisect on log T."""
    z = np.asarray(z, dtype=float)
    u = (z - z.max()) / (float(np.ptp(z)) or 1.0)     # in [−1, 0]: T is found relative to ptp

    def H_at(log_t):
        x = u[None, :] / np.exp(log_t)[:, None]
        e = np.exp(x)
        S = e.sum(axis=1)
        return np.log(S) - (e * x).sum(axis=1) / S

    # A bisection 32 points at a time: each round narrows the interval of log T 32-fold.
    lo, hi = -12.0, 12.0
    for _ in range(7):
        grid = np.linspace(lo, hi, 33)
        i = int(np.clip(np.searchsorted(H_at(grid), H), 1, 32))
        lo, hi = grid[i - 1], grid[i]
    return (float(np.ptp(z)) or 1.0) * float(np.exp((lo + hi) / 2))


def _temperature_bits(z, H):
    return temperature_for_entropy(z, H * np.log(2))


def _temperature_reciprocal(z, H):
    return 1 / temperature_for_entropy(z, H)


def _temperature_entropy_cases(rng):
    # The largest logit is 0 here, so exp(z / T) cannot overflow: a missing max shift shows on
    # the logits in the hundreds alone, apart from probabilities that underflow to 0.
    for _ in range(3):
        K = int(rng.integers(3, 12))
        z = _inputs.logits(rng, (K,), scale=float(rng.uniform(0.5, 4)))
        yield case(z - z.max(), float(rng.uniform(0.15, 0.9) * np.log(K)))


def _temperature_too_small(case, expected, outcome) -> bool:
    """A T far below the answer, where a bisection that reads a NaN entropy as "too high" ends."""
    try:
        got = float(outcome.value)
    except (TypeError, ValueError):
        return False
    return 0 < got < 0.1 * float(expected)


def _entropy_unshifted_nan_at(case, expected, outcome) -> bool:
    """`no_max_shift`: at the T returned, exp(z / T) overflows, so the entropy is NaN."""
    if not _temperature_too_small(case, expected, outcome):
        return False
    return bool(np.isinf(np.exp(np.asarray(case.args[0], dtype=float) / float(outcome.value))).any())


def _entropy_zero_prob_nan_at(case, expected, outcome) -> bool:
    """`entropy_nan_zero_prob`: at the T returned, a probability underflows to 0 and p·log p is
    0·(−inf) = NaN, while exp(z / T) itself stays finite after the max shift."""
    if not _temperature_too_small(case, expected, outcome):
        return False
    p = softmax(np.asarray(case.args[0], dtype=float) / float(outcome.value))
    return bool((p == 0).any())


def _temperature_entropy_probes():
    return [
        case(np.array([2.0, 1.0, 0.0]), 0.8324, note="(2, 1, 0) at its T = 1 entropy, 0.8324 nats"),
        case(np.array([3.0, 1.0, -2.0, 0.0, 0.5]), 1.0, note="one nat over five tokens"),
        # T well below 1: a bisection on log T tries T near 1e-7, where the probabilities
        # underflow to 0 and p · log p is NaN unless the 0 · log 0 terms count as 0.
        case(np.array([0.0, -1.0, -3.0, -6.0]), 0.3, note="a low entropy, T well below 1"),
        case(np.array([200.0, 100.0, 0.0]), 0.5, note="logits in the hundreds"),
        # exp(z / T) overflows at T = 1 already: without the max shift the entropy is NaN there.
        case(np.array([1000.0, 999.0, 997.0, 990.0]), 0.9, note="logits near 1000"),
    ]


_BEYOND = [
    Problem(
        id="nucleus_size", chapter=CHAPTER, signature="nucleus_size(logits, p)",
        difficulty="easy", points=1,
        statement="How many tokens does top-p keep? For logits (N, V) and a number p in (0, 1), "
                  "return for each row the smallest k such that its k most probable tokens "
                  "hold at least p of the probability (the token that crosses p counts), as "
                  "whole numbers, shape (N,).",
        reference=nucleus_size, generate=_nucleus_cases, probes=_nucleus_probes,
        twins=(Twin("top_p_excludes_crossing", _nucleus_excludes_crossing),
               Twin("top_p_keeps_extra", _nucleus_keeps_extra),
               Twin("top_p_keeps_extra", _nucleus_at_most_p_before),
               Twin("top_p_keeps_extra", _nucleus_first_above_p),
               Twin("top_p_unsorted", _nucleus_unsorted),
               Twin("filter_on_logits", _nucleus_on_logits),
               Twin("filter_on_logits", _nucleus_on_logits_before),
               Twin("wrong_axis", _nucleus_axis0)),
        hints=("Probabilities first (softmax of each row), then sort them from the largest "
               "down and add them up as you go.",
               "np.cumsum of the sorted probabilities: k is the first position where the "
               "running total reaches p, counted from 1.",
               "mass = np.cumsum(-np.sort(-probs, axis=1), axis=1); "
               "return (mass < p).sum(axis=1) + 1"),
    ),
    Problem(
        id="nll_temperature_grad", chapter=CHAPTER,
        signature="nll_temperature_grad(logits, labels, T)", difficulty="medium", points=2,
        statement="Derive, then check numerically: temperature scaling fits T by minimising "
                  "L(T), the mean negative log-likelihood of softmax(logits / T) for logits "
                  "(N, K) and labels (N,). Return dL/dT at a number T > 0, as a number. Compare "
                  "with a centred difference before you run the check. Exact for logits near "
                  "1000.",
        reference=nll_temperature_grad, generate=_nll_grad_cases, probes=_nll_grad_probes,
        twins=(Twin("grad_sign", _nll_grad_flipped),
               Twin("chain_rule_inner_dropped", _nll_grad_in_beta),
               Twin("sum_not_mean", _nll_grad_summed),
               Twin("mean_not_weighted", _nll_grad_unweighted),
               Twin("no_max_shift", _nll_grad_no_shift)),
        hints=("Per row, the loss is LSE(z/T) − z_y/T. Differentiate each term in T; "
               "∂LSE(u)/∂u_i = p_i (chapter 03) and ∂(z_i/T)/∂T = −z_i/T².",
               "d LSE(z/T)/dT = −Σ p_i z_i / T² = −z̄/T², and d(−z_y/T)/dT = z_y/T². Average "
               "over the rows.",
               "p = softmax(z / T); return np.mean(z[np.arange(N), labels] - (p * z).sum(1)) "
               "/ T**2"),
    ),
    Problem(
        id="temperature_for_entropy", chapter=CHAPTER, signature="temperature_for_entropy(z, H)",
        difficulty="hard", points=3, rtol=1e-4,
        statement="Pick the temperature: for logits z of shape (K,) (one largest entry) and a "
                  "target entropy H in nats with 0 < H < log K, return the T > 0 at which "
                  "softmax(z / T) has entropy H, to a relative 1e-4. For (2, 1, 0), H = 0.8324 "
                  "(its entropy at T = 1) gives T = 1.00. It must work for logits in the hundreds.",
        reference=temperature_for_entropy, generate=_temperature_entropy_cases,
        probes=_temperature_entropy_probes,
        symptoms=(Symptom("no_max_shift", _entropy_unshifted_nan_at),
                  Symptom("entropy_nan_zero_prob", _entropy_zero_prob_nan_at)),
        twins=(Twin("wrong_log_base", _temperature_bits),
               Twin("temperature_multiplies", _temperature_reciprocal)),
        hints=("The entropy grows steadily with T, from 0 (T → 0, argmax) to log K (T → ∞, "
               "uniform). A steadily growing function can be searched.",
               "Bisect: keep an interval [lo, hi] of T (better of log T, since T spans many "
               "scales) with H(lo) < H < H(hi), and halve it about 60 times.",
               "lo, hi = -10.0, 10.0  (log T, times np.ptp(z) for the scale); for _ in "
               "range(80): mid = (lo + hi) / 2; if entropy(z / (s * np.exp(mid))) < H: lo = "
               "mid, else: hi = mid"),
    ),
]

PROBLEMS += _BEYOND
