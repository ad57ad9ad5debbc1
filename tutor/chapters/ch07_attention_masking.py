"""Chapter 07, attention masking: causal and padding masks, combining them by broadcasting, a
masked softmax that gives fully masked rows zeros, and scaled dot-product attention.

Masks here are keep-masks: True means "this query may attend to this key", as in
torch.nn.functional.scaled_dot_product_attention (nn.MultiheadAttention uses the opposite).
"""

from __future__ import annotations

import math

import numpy as np

from tutor import checking
from tutor.chapters import _inputs, blocks
from tutor.problem import Choice, Problem, Quiz, Symptom, Twin, case

CHAPTER = "07_attention_masking"


def _exp_overflows(x) -> bool:
    """Some finite entry of `x` is beyond the largest value whose exp is finite in its dtype
    (709.78 in float64, 11.09 in float16): where e^x straight away gives inf, then NaN."""
    a = np.asarray(x)
    if a.dtype.kind != "f":
        return False
    finite = np.abs(a[np.isfinite(a)])
    return bool(finite.size) and finite.max() > np.log(np.finfo(a.dtype).max)


def _overflow_symptom(scores_of) -> Symptom:
    """`no_max_shift` recognised by its symptom, for variants no twin matches (a shift by the
    mean of the kept scores, say): the answer fails first on scores whose exp overflows."""
    return Symptom("no_max_shift", lambda case, expected, outcome: _exp_overflows(
        scores_of(case)) and _overflow_outcome(expected, outcome))


def _overflow_outcome(expected, outcome) -> bool:
    """What an overflow leaves: weights of the right shape with wrong numbers (inf, NaN, or
    whatever they became), or an error about them."""
    if outcome.raised:
        text = str(outcome.error).lower()
        return any(word in text for word in ("nan", "inf", "overflow"))
    try:
        return np.shape(checking.as_array(outcome.value)) == np.shape(checking.as_array(expected))
    except checking.NotAnArray:
        return False


def _attention_scores(case):
    q, k = (np.asarray(x) for x in case.args[:2])
    return q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])


# --- masks -------------------------------------------------------------------------------------

def _compare_mask(expected, got, tol):
    """The default comparison, and a word for an additive mask (0 to attend, −inf or −1e9 to
    hide, as nn.Transformer.generate_square_subsequent_mask returns): it has 0 exactly where a
    keep-mask has True, which the plain message would only show as "True but you have 0"."""
    reason = checking.compare_arrays(expected, got, tol)
    if reason is None:
        return None
    try:
        g = checking.as_array(got)
    except checking.NotAnArray:
        return reason
    e = checking.as_array(expected).astype(bool)
    if g.shape != e.shape or g.dtype.kind != "f" or not e.any():
        return reason
    with np.errstate(invalid="ignore"):
        additive = bool(np.all(np.nan_to_num(g, nan=1.0) <= 0) and np.all(g[e] == 0))
    if not additive:
        return reason
    return ("returned 0 where the answer is True, as an additive mask does (0 to attend, −inf "
            "to hide); this problem asks for a keep-mask: True (or 1) to attend, False (or 0) "
            "to hide")


# --- causal_mask -------------------------------------------------------------------------------

def causal_mask(n):
    """keep[i, j] = j ≤ i: query i sees itself and every key before it (lower triangle)."""
    i = np.arange(n)
    return i[None, :] <= i[:, None]


def _causal_upper(n):
    return np.triu(np.ones((n, n), dtype=bool))


def _causal_strict(n):
    return np.tril(np.ones((n, n), dtype=bool), k=-1)


def _causal_drop_mask(n):
    # nn.MultiheadAttention's convention: True where the key is hidden.
    return np.triu(np.ones((n, n), dtype=bool), k=1)


def _causal_cases(rng):
    for n in rng.choice(np.arange(3, 13), size=3, replace=False):
        yield case(int(n))


def _causal_probes():
    return [
        case(1, note="one token"),
        case(2, note="two tokens"),
        case(5, note="five tokens"),
        case(64, note="64 tokens"),
    ]


# --- padding_mask ------------------------------------------------------------------------------

def padding_mask(lengths, n):
    """keep[b, j] = j < lengths[b]: sequence b holds tokens at 0 … lengths[b] − 1, then padding."""
    lengths = np.asarray(lengths)
    return np.arange(n) < lengths[:, None]


def _padding_through_length(lengths, n):
    return np.arange(n) <= np.asarray(lengths)[:, None]


def _padding_counted_from_one(lengths, n):
    return np.arange(1, n + 1) < np.asarray(lengths)[:, None]


def _padding_drop_mask(lengths, n):
    # nn.MultiheadAttention's key_padding_mask: True where the position is padding.
    return np.arange(n) >= np.asarray(lengths)[:, None]


def _lengths(rng, batch, n):
    """Random lengths in 0 … n, with at least one strictly between (so off-by-one shows)."""
    lengths = rng.integers(0, n + 1, batch)
    lengths[int(rng.integers(batch))] = int(rng.integers(1, n))
    return lengths


def _length_cases(largest: int):
    """Three random (lengths, n) cases, batch size and n distinct numbers in 2 … largest."""
    def generate(rng):
        for _ in range(3):
            sizes = rng.choice(np.arange(2, largest + 1), size=2, replace=False)
            batch, n = (int(s) for s in sizes)
            yield case(_lengths(rng, batch, n), n)
    return generate


def _padding_probes():
    return [
        case(np.array([2, 3]), 4, note="two sequences"),
        case(np.array([0, 5, 3]), 5, note="lengths 0 and n"),
        case([1, 4], 6, note="lengths as a Python list"),
        case(np.array([3]), 5, note="one sequence: shape (1, n)"),
        case(np.array([1, 0]), 1, note="sequences padded to one token"),
    ]


# --- combine_masks -----------------------------------------------------------------------------

def combine_masks(lengths, n):
    """keep[b, 0, i, j] = (j ≤ i) and (j < lengths[b]): causal AND key padding, shape
    (B, 1, n, n) so that it broadcasts over the heads of scores (B, H, n, n)."""
    return causal_mask(n) & padding_mask(lengths, n)[:, None, None, :]


def _combine_upper(lengths, n):
    keys = np.arange(n) < np.asarray(lengths)[:, None]
    return np.triu(np.ones((n, n), dtype=bool)) & keys[:, None, None, :]


def _combine_strict(lengths, n):
    keys = np.arange(n) < np.asarray(lengths)[:, None]
    return np.tril(np.ones((n, n), dtype=bool), k=-1) & keys[:, None, None, :]


def _combine_through_length(lengths, n):
    keys = np.arange(n) <= np.asarray(lengths)[:, None]
    return np.tril(np.ones((n, n), dtype=bool)) & keys[:, None, None, :]


def _combine_drop_masks(lengths, n):
    future = np.triu(np.ones((n, n), dtype=bool), k=1)
    padded = np.arange(n) >= np.asarray(lengths)[:, None]
    return future | padded[:, None, None, :]


def _combine_or(lengths, n):
    keys = np.arange(n) < np.asarray(lengths)[:, None]
    return np.tril(np.ones((n, n), dtype=bool)) | keys[:, None, None, :]


def _combine_query_padding(lengths, n):
    real = np.arange(n) < np.asarray(lengths)[:, None]
    return np.tril(np.ones((n, n), dtype=bool)) & real[:, None, :, None]


def _combine_query_and_key_padding(lengths, n):
    real = np.arange(n) < np.asarray(lengths)[:, None]
    return np.tril(np.ones((n, n), dtype=bool)) & real[:, None, :, None] & real[:, None, None, :]


def _combine_probes():
    return [
        case(np.array([2, 4]), 4, note="two sequences"),
        case(np.array([3, 0, 5]), 5, note="lengths 0 and n"),
        case([1, 3], 4, note="lengths as a Python list"),
        case(np.array([2]), 3, note="one sequence: shape (1, 1, n, n)"),
        case(np.array([1, 0]), 1, note="sequences padded to one token"),
    ]


# --- masked_softmax ----------------------------------------------------------------------------

def _masked_softmax(b, scores, mask):
    """Softmax along the last axis over the entries where `mask` (broadcast to scores) is True;
    masked entries get exactly 0, and a row with nothing kept is all zeros, not NaN."""
    s = b.asarray(scores)
    keep = np.broadcast_to(np.asarray(mask, dtype=bool), s.shape)
    s = np.where(keep, s, -np.inf)
    # A fully masked row has max −inf: the shift block shifts it by 0, so that exp(−inf) stays 0
    # instead of becoming NaN, and its total of 0 is not divided by.
    e = b.exp(s - b.shift(s, -1))
    total = b.total(e, -1)
    return e / np.where(total > 0, total, 1.0)


# Derived twins: the shared softmax mistakes (no max shift, a global max, a sum down the columns,
# a missing keepdims). The shift that turns an all −inf row into NaN is `fully_masked_row` here,
# a twin of its own; the max or the sum over the last axis is what this formula does anyway.
_EXCLUDED = ("neg_inf_nan",)
_HARMLESS = (blocks.SumOverLastAxis, blocks.ShiftOverLastAxis)
masked_softmax, _masked_softmax_derived = blocks.compose(
    _masked_softmax, (np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([True, False])),
    exclude=_EXCLUDED)


def _without_harmless(twins):
    suffixes = tuple(f"_{cls.__name__}" for cls in _HARMLESS)
    return tuple(t for t in twins if not t.fn.__name__.endswith(suffixes))


_masked_softmax_derived = _without_harmless(_masked_softmax_derived)


def _softmax_last(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _ms_neg_inf(scores, mask):
    return _softmax_last(np.where(mask, scores, -np.inf))


def _ms_minus_1e9(scores, mask):
    return _softmax_last(np.where(mask, scores, -1e9))


def _ms_additive_finfo_min(scores, mask):
    scores = np.asarray(scores)
    return _softmax_last(scores + np.where(mask, 0, np.finfo(scores.dtype).min))


def _ms_additive_minus_1e9(scores, mask):
    # An additive mask: in float64, −1e9 + s keeps the differences between the scores, so an
    # empty row gets the unmasked softmax.
    return _softmax_last(scores + (1 - np.asarray(mask, dtype=float)) * -1e9)


def _ms_additive_bert(scores, mask):
    # BERT's additive mask, held in the scores' dtype: scores + (1.0 − mask.to(dtype)) · −10000.
    # In float64 an empty row gets the unmasked softmax; float16 rounds s − 10000 to steps of 8.
    scores = np.asarray(scores)
    return _softmax_last(scores + (1 - np.asarray(mask, dtype=scores.dtype)) * -10000.0)


def _ms_additive_minus_1e9_numpy_dtype(scores, mask):
    # numpy: (1 − mask.astype(scores.dtype)) · −1e9 in float16 is 0 · (−inf) = NaN where kept
    scores = np.asarray(scores)
    return _softmax_last(scores + (1 - np.asarray(mask, dtype=scores.dtype)) * -1e9)


def _ms_additive_minus_1e9_numpy_dtype_guarded(scores, mask):
    p = _ms_additive_minus_1e9_numpy_dtype(scores, mask)
    return p * np.any(mask, axis=-1, keepdims=True)


def _ms_additive_minus_1e9_in_dtype(scores, mask):
    # torch: scores + (1.0 − mask.to(scores.dtype)) · −1e9; float16 turns the −1e9 into −inf.
    scores = np.asarray(scores)
    return _softmax_last(scores + np.where(mask, 0.0, -1e9).astype(scores.dtype))


def _ms_additive_minus_1e9_float32(scores, mask):
    # torch: scores + (1 − mask.float()) · −1e9; float16 scores go up to float32 on the way,
    # where −1e9 + s is −1e9 for every small s: empty rows come out uniform.
    return _softmax_last(scores + (1 - np.asarray(mask, dtype=np.float32)) * -1e9)


def _ms_additive_finfo_min_int(scores, mask):
    # (1 − mask) is int64, so float16 scores go up to float64 and keep their differences.
    scores = np.asarray(scores)
    return _softmax_last(scores + (1 - np.asarray(mask)) * np.finfo(scores.dtype).min)


def _ms_minus_1e9_guarded(scores, mask):
    # np.where(mask, scores, -1e9) on float16 scores stores −inf: empty rows turn NaN again.
    p = _softmax_last(np.where(mask, scores, -1e9))
    return p * np.any(mask, axis=-1, keepdims=True)


def _masked_fill_minus_1e9(scores, keep):
    """torch's scores.masked_fill(~keep, -1e9), modelled in numpy so that no twin imports torch
    (the first import takes seconds): float16 cannot hold −1e9, so torch raises there."""
    scores = np.asarray(scores)
    if scores.dtype == np.float16:
        raise RuntimeError("value cannot be converted to type c10::Half without overflow")
    return np.where(keep, scores, -1e9)


def _ms_torch_masked_fill(scores, mask):
    # torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)
    return _softmax_last(_masked_fill_minus_1e9(scores, mask))


def _ms_torch_masked_fill_guarded(scores, mask):
    # the same, times mask.any(dim=-1, keepdim=True) so that empty rows give zeros
    p = _softmax_last(_masked_fill_minus_1e9(scores, mask))
    return p * np.asarray(mask).any(axis=-1, keepdims=True)


def _ms_not_normalised(scores, mask):
    s = np.where(mask, scores, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    return np.exp(s - np.where(np.isfinite(m), m, 0.0))


def _ms_after(scores, mask):
    return _softmax_last(np.asarray(scores)) * mask


def _ms_after_renormalised(scores, mask):
    p = _softmax_last(np.asarray(scores)) * mask
    return p / p.sum(axis=-1, keepdims=True)


def _ms_after_renormalised_guarded(scores, mask):
    p = _softmax_last(np.asarray(scores)) * mask
    total = p.sum(axis=-1, keepdims=True)
    return p / np.where(total > 0, total, 1.0)


def _ms_fill_zero(scores, mask):
    return _softmax_last(np.where(mask, scores, 0.0))


def _ms_inverted(scores, mask):
    return masked_softmax(scores, ~np.asarray(mask))


def _ms_inverted_neg_inf(scores, mask):
    return _softmax_last(np.where(mask, -np.inf, scores))


def _ms_no_shift_no_guard(scores, mask):
    e = np.exp(np.where(mask, scores, -np.inf))
    return e / e.sum(axis=-1, keepdims=True)


def _ms_exp_times_mask(scores, mask):
    e = np.exp(scores) * mask          # exp(800) · 0 = inf · 0 = NaN
    return e / e.sum(axis=-1, keepdims=True)


def _ms_exp_times_mask_guarded(scores, mask):
    e = np.exp(scores) * mask
    total = e.sum(axis=-1, keepdims=True)
    return np.where(total > 0, e / total, 0.0)


def _ms_over_queries(scores, mask):
    s = np.where(mask, scores, -np.inf)
    m = s.max(axis=-2, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0.0))
    total = e.sum(axis=-2, keepdims=True)
    return e / np.where(total > 0, total, 1.0)


def _ms_first_axis(scores, mask):
    # softmax(…, axis=0) (torch: dim=0), the same mistake as dim=-2 on 2-d scores
    s = np.where(mask, scores, -np.inf)
    m = s.max(axis=0, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0.0))
    total = e.sum(axis=0, keepdims=True)
    return e / np.where(total > 0, total, 1.0)


def _ms_no_keepdims(scores, mask):
    s = np.where(mask, scores, -np.inf)
    e = np.exp(s - np.max(s, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1)


def _ms_boolean_index(scores, mask):
    s = np.array(scores, dtype=float)
    s[~mask] = -np.inf   # needs a mask of exactly the scores' shape
    m = s.max(axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0.0))
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1.0)


def _random_mask(rng, shape):
    """A keep-mask that broadcasts to `shape` (…, Lq, Lk), of one of the shapes attention uses:
    the full shape, keys only (Lk,), (Lq, Lk), or key padding (B, 1, …, 1, Lk)."""
    lq, lk = shape[-2], shape[-1]
    kinds = ["full", "keys", "pairs"] + (["padding"] if len(shape) >= 3 else [])
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "full":
        return rng.random(shape) < 0.7
    if kind == "keys":
        keys = rng.random(lk) < 0.7
        # torch's scaled_dot_product_attention rejects a 1-d mask with 4-d inputs (an
        # IndexError in torch 2.13), so there the same key mask comes as (1, Lk).
        return keys[None, :] if len(shape) == 4 else keys
    if kind == "pairs":
        return np.tri(lq, lk, dtype=bool) if rng.random() < 0.5 else rng.random((lq, lk)) < 0.7
    lengths = _lengths(rng, shape[0], lk)
    keep = np.arange(lk) < lengths[:, None]
    return keep.reshape((shape[0],) + (1,) * (len(shape) - 2) + (lk,))


def _masked_softmax_cases(rng):
    for ndim in (2, 3, 4, 4):
        shape = _inputs.shape(rng, ndim)
        yield case(_inputs.logits(rng, shape, scale=3.0), _random_mask(rng, shape))


def _masked_softmax_probes():
    rng = np.random.default_rng(7)
    fully = np.array([[True, False, True, True], [False, False, False, False],
                      [True, True, False, True]])
    padding = (np.arange(5) < np.array([3, 0])[:, None])[:, None, None, :]
    return [
        case(np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 2.0]]),
             np.array([[True, True, False], [False, True, True]]), note="a mask of the "
             "scores' shape"),
        case(rng.normal(0, 2, (3, 4)).round(2), fully, note="a fully masked row"),
        case(rng.normal(0, 2, (3, 4)).round(2), np.array([True, False, True, True]),
             note="a key mask of shape (Lk,)"),
        case(rng.normal(0, 2, (2, 3, 4, 5)), padding,
             note="a padding mask (B, 1, 1, Lk) with a length 0"),
        case(np.array([[0.0, 1.0, 800.0], [2.0, 900.0, 1.0]]),
             np.array([[True, True, False], [True, False, True]]),
             note="huge scores at masked positions"),
        case(np.array([[1000.0, 1001.0, 999.0, 1002.0], [-1000.0, -1001.0, -999.0, -1002.0]]),
             np.array([[True, True, True, False], [True, False, True, True]]),
             note="scores near ±1000"),
        case(rng.normal(0, 2, (3, 4)).round(2).astype(np.float16), fully,
             note="float16 scores with a fully masked row"),
        # (H, Lq, Lk) lines up with (B, H, Lq, Lk) from the right: one mask per head, the same
        # for every sequence. B = H, so reading it as (B, Lq, Lk) gives wrong weights, not an
        # error.
        case(rng.normal(0, 2, (3, 3, 4, 5)).round(2), rng.random((3, 4, 5)) < 0.6,
             note="a mask per head (H, Lq, Lk)"),
        case(np.array([[0.0, 900.0, -900.0], [-900.0, 0.0, 900.0], [900.0, -900.0, 0.0]]),
             np.ones((3, 3), dtype=bool), note="gaps of 900 with the largest score in every place"),
        case(np.array([[[1000.0, 999.0, 998.0]], [[0.0, 1.0, 2.0]]]),
             np.array([True, True, False]), note="two batches 1000 apart"),
        case(np.array([[0.5], [2.0], [-1.0]]), np.array([[True], [False], [True]]),
             note="one key per row (Lk = 1)"),
        case(rng.normal(0, 2, (1, 2, 1, 3)).round(2), np.array([[True, False, True]]),
             note="scores (1, 2, 1, 3) with axes of length 1"),
        # float32 holds 1e4 to about 0.001: these scores' decimals are lost there.
        case(np.array([[10000.37, 9999.81, 10000.05, 9998.62], [-9999.42, -10000.13, -9998.77,
                                                                 -10000.91]]),
             np.array([[True, True, True, False], [True, False, True, True]]),
             note="close scores near ±1e4"),
    ]


def _compare_weights(expected, got, tol):
    """The default comparison, and then: where the answer is exactly 0 (a masked entry), the
    weight must be exactly 0 too; exp(−100) is small but it is not "masked"."""
    reason = checking.compare_arrays(expected, got, tol)
    if reason is not None:
        return reason
    e, g = checking.as_array(expected), checking.as_array(got).astype(np.float64)
    leaked = (e == 0) & (g != 0)
    if leaked.any():
        index = tuple(int(i) for i in np.argwhere(leaked)[0])
        return (f"gives weight {float(g[index]):.3g} at index {index}, where the answer is "
                "exactly 0: a masked entry must get no weight at all")
    return None


# --- attention ---------------------------------------------------------------------------------

def _attention(b, q, k, v, mask=None):
    """softmax(q kᵀ / √d, masked) v over the last two axes; a query with nothing to attend to
    gets a zero output."""
    q, k, v = (b.asarray(x) for x in (q, k, v))
    d = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    weights = _masked_softmax(b, scores, True if mask is None else mask)
    return weights @ v


attention, _attention_derived = blocks.compose(
    _attention, (np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 1)), np.array([True, False])),
    exclude=_EXCLUDED)
_attention_derived = _without_harmless(_attention_derived)


def _keep(mask):
    return True if mask is None else mask


def _att_unscaled(q, k, v, mask=None):
    return masked_softmax(q @ np.swapaxes(k, -1, -2), _keep(mask)) @ v


def _att_over_d(q, k, v, mask=None):
    d = q.shape[-1]
    return masked_softmax(q @ np.swapaxes(k, -1, -2) / d, _keep(mask)) @ v


def _att_over_queries(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    return _ms_over_queries(scores, _keep(mask)) @ v


def _att_inverted(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    return masked_softmax(scores, True if mask is None else ~mask) @ v


def _att_neg_inf(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return _softmax_last(scores) @ v


def _att_minus_1e9(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -1e9)
    return _softmax_last(scores) @ v


def _att_additive_minus_1e9(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + (1 - np.asarray(mask, dtype=float)) * -1e9
    return _softmax_last(scores) @ v


def _att_torch_masked_fill(q, k, v, mask=None):
    # scores.masked_fill(~mask, -1e9), then torch.softmax(scores, -1) @ v
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])   # stays float16, as in torch
    if mask is not None:
        scores = _masked_fill_minus_1e9(scores, mask)
    return _softmax_last(scores) @ v


def _scores_in_dtype(q, k):
    # / math.sqrt(d) (or ** 0.5, or torch): float16 scores stay float16; np.sqrt(d) is a float64
    # scalar, which takes them up to float64.
    return q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])


def _on_scores_in_dtype(masked_softmax_twin):
    """The attention twin that computes float16 scores in float16 and then makes the masked
    softmax's mistake; without a mask it is plain softmax."""
    def twin(q, k, v, mask=None):
        scores = _scores_in_dtype(q, k)
        if mask is None:
            return _softmax_last(scores) @ v
        return masked_softmax_twin(scores, mask) @ v
    return twin


_att_minus_1e9_in_dtype = _on_scores_in_dtype(_ms_minus_1e9)
_att_minus_1e9_guarded = _on_scores_in_dtype(_ms_minus_1e9_guarded)
_att_additive_bert = _on_scores_in_dtype(_ms_additive_bert)
_att_additive_minus_1e9_in_dtype = _on_scores_in_dtype(_ms_additive_minus_1e9_in_dtype)
_att_additive_minus_1e9_float32 = _on_scores_in_dtype(_ms_additive_minus_1e9_float32)
_att_additive_finfo_min_int = _on_scores_in_dtype(_ms_additive_finfo_min_int)
_att_additive_minus_1e9_numpy_dtype = _on_scores_in_dtype(_ms_additive_minus_1e9_numpy_dtype)
_att_additive_minus_1e9_numpy_dtype_guarded = _on_scores_in_dtype(
    _ms_additive_minus_1e9_numpy_dtype_guarded)


def _att_additive_minus_1e4(q, k, v, mask=None):
    # −1e4 instead of −1e9: the same empty rows, without −1e9's rounding of the scores
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + (1 - np.asarray(mask, dtype=float)) * -1e4
    return _softmax_last(scores) @ v


def _att_exp_times_mask_nan_to_num(q, k, v, mask=None):
    # exp(scores) · mask / sum, then NaN (empty or overflowing rows) turned into 0
    e = np.exp(_scores_in_dtype(q, k)) * _keep(mask)
    return np.nan_to_num(e / e.sum(axis=-1, keepdims=True)) @ v


def _att_torch_masked_fill_guarded(q, k, v, mask=None):
    # the same, with weights * mask.any(dim=-1, keepdim=True) for empty rows
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])   # stays float16, as in torch
    if mask is None:
        return _softmax_last(scores) @ v
    weights = _softmax_last(_masked_fill_minus_1e9(scores, mask))
    return (weights * np.asarray(mask).any(axis=-1, keepdims=True)) @ v


def _att_mask_after(q, k, v, mask=None):
    weights = _softmax_last(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]))
    return (weights * _keep(mask)) @ v


def _att_mask_after_renormalised(q, k, v, mask=None):
    weights = _softmax_last(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])) * _keep(mask)
    return weights / weights.sum(axis=-1, keepdims=True) @ v


def _att_fill_zero(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    return _ms_fill_zero(scores, _keep(mask)) @ v


def _att_no_shift_no_guard(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    return _ms_no_shift_no_guard(scores, _keep(mask)) @ v


def _att_exp_times_mask(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    return _ms_exp_times_mask(scores, _keep(mask)) @ v


def _att_exp_times_mask_guarded(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    return _ms_exp_times_mask_guarded(scores, _keep(mask)) @ v


def _att_transpose_all(q, k, v, mask=None):
    scores = np.asarray(q) @ np.asarray(k).T / np.sqrt(q.shape[-1])
    return masked_softmax(scores, _keep(mask)) @ v


def _att_torch_transpose_all(q, k, v, mask=None):
    # torch's k.T also reverses every axis; the matmul that follows raises RuntimeError there
    try:
        return _att_transpose_all(q, k, v, mask)
    except ValueError as e:
        raise RuntimeError(str(e)) from None


def _att_boolean_index(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is None:
        return masked_softmax(scores, True) @ v
    return _ms_boolean_index(scores, mask) @ v


def _attention_cases(rng):
    for batch_ndim in (0, 1, 2):
        lq, lk, d, dv = (int(s) for s in rng.permutation(np.arange(2, 8))[:4])
        batch = tuple(int(s) for s in rng.permutation(np.arange(2, 5))[:batch_ndim])
        q, k = rng.normal(size=batch + (lq, d)), rng.normal(size=batch + (lk, d))
        v = rng.normal(size=batch + (lk, dv))
        if rng.random() < 0.2:
            yield case(q, k, v)
        else:
            yield case(q, k, v, mask=_random_mask(rng, batch + (lq, lk)))


def _attention_probes():
    rng = np.random.default_rng(11)

    def qkv(batch, lq, lk, d, dv, scale=1.0):
        return (rng.normal(0, scale, batch + (lq, d)).round(2),
                rng.normal(0, scale, batch + (lk, d)).round(2),
                rng.normal(0, 1, batch + (lk, dv)).round(2))

    nothing = np.array([[True, True, False, False, True], [False] * 5,
                        [True, False, True, True, False]])
    padding = (np.arange(4) < np.array([3, 0])[:, None])[:, None, None, :]
    # Scores (800, 0, −400) and (−400, −400, 800): the first row's largest is masked.
    big_q = np.array([[20.0, -20.0, 20.0, 20.0], [-20.0, 20.0, 20.0, -20.0]])
    big_k = np.array([[20.0, -20.0, 20.0, 20.0], [20.0, 20.0, -20.0, 20.0],
                      [-20.0, 20.0, 20.0, -20.0]])
    half = tuple(x.astype(np.float16) for x in qkv((2,), 3, 5, 4, 6))
    return [
        case(*qkv((), 2, 4, 3, 2), note="Lq ≠ Lk, d ≠ dv, no mask"),
        case(*qkv((), 4, 4, 4, 3), mask=causal_mask(4), note="a causal mask"),
        case(*qkv((2,), 3, 5, 4, 6), mask=np.array([True, False, True, True, False]),
             note="a key mask of shape (Lk,)"),
        case(*qkv((), 3, 5, 4, 2), mask=nothing, note="a query row with nothing to attend"),
        case(*qkv((2, 3), 4, 4, 5, 6), mask=padding,
             note="batch and heads, a padding mask (B, 1, 1, Lk) with a length 0"),
        case(big_q, big_k, np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
             mask=np.array([[False, True, True], [True, True, True]]),
             note="scores of ±800, the largest one masked"),
        case(*half, mask=(np.arange(5) < np.array([5, 0])[:, None])[:, None, :],
             note="float16 with a length 0"),
        # One causal window per head, the same for every sequence; B = H, so reading the mask
        # as (B, Lq, Lk) gives wrong outputs, not an error.
        case(*qkv((3, 3), 4, 5, 4, 2),
             mask=np.stack([np.tri(4, 5, shift, dtype=bool) for shift in (-1, 0, 1)]),
             note="a mask per head (H, Lq, Lk)"),
        case(*qkv((), 1, 1, 1, 2), note="one query, one key, d = 1"),
        case(*qkv((1, 2), 1, 3, 2, 1), mask=np.array([[True, False, True]]),
             note="axes of length 1 (batch, query and dv)"),
        case(*qkv((2,), 3, 3, 2, 2, scale=30.0), note="scores in the thousands"),
    ]


PROBLEMS = [
    Problem(
        id="causal_mask", chapter=CHAPTER, signature="causal_mask(n)", difficulty="easy",
        points=1,
        statement="Return the n×n causal keep-mask of a sequence of n tokens: entry [i, j] is "
                  "True (or 1) when query i may attend to key j, that is when j ≤ i, and False "
                  "(or 0) otherwise.",
        reference=causal_mask, generate=_causal_cases, probes=_causal_probes,
        compare=_compare_mask,
        twins=(Twin("causal_wrong_triangle", _causal_upper),
               Twin("causal_no_diagonal", _causal_strict),
               Twin("mask_inverted", _causal_drop_mask)),
        hints=("Row i is query i. It may look at keys 0, 1, …, i: the first i + 1 entries of "
               "row i are True, the rest False.",
               "That is the lower triangle, diagonal included. Compare a column index with a "
               "row index (broadcasting an arange against itself), or use np.tril.",
               "np.tril(np.ones((n, n), dtype=bool)), or: i = np.arange(n); "
               "return i[None, :] <= i[:, None]"),
    ),
    Problem(
        id="padding_mask", chapter=CHAPTER, signature="padding_mask(lengths, n)",
        difficulty="easy", points=1,
        statement="A batch of B sequences is padded to length n; sequence b holds lengths[b] "
                  "real tokens at positions 0 … lengths[b] − 1. Return the (B, n) keep-mask "
                  "that is True where the position holds a real token (position < length) and "
                  "False on padding. Lengths go from 0 to n; `lengths` may be a list.",
        reference=padding_mask, generate=_length_cases(9), probes=_padding_probes,
        compare=_compare_mask,
        twins=(Twin("padding_off_by_one", _padding_through_length),
               Twin("padding_off_by_one", _padding_counted_from_one),
               Twin("mask_inverted", _padding_drop_mask)),
        hints=("Sequence b's real tokens sit at positions 0, 1, …, lengths[b] − 1; everything "
               "from position lengths[b] on is padding.",
               "Compare the positions np.arange(n), shape (n,), with the lengths as a column, "
               "shape (B, 1): broadcasting gives (B, n). np.asarray first, in case lengths is "
               "a list.",
               "return np.arange(n) < np.asarray(lengths)[:, None]"),
    ),
    Problem(
        id="combine_masks", chapter=CHAPTER, signature="combine_masks(lengths, n)",
        difficulty="medium", points=2,
        statement="For a decoder batch of B sequences padded to n tokens, return the keep-mask "
                  "of shape (B, 1, n, n) whose entry [b, 0, i, j] is True when query i of "
                  "sequence b may attend to key j: j ≤ i (causal) and j < lengths[b] (key j is "
                  "not padding). Padded queries are not masked; the axis of length 1 "
                  "broadcasts over the heads of scores shaped (B, H, n, n).",
        reference=combine_masks, generate=_length_cases(8), probes=_combine_probes,
        compare=_compare_mask,
        twins=(Twin("causal_wrong_triangle", _combine_upper),
               Twin("causal_no_diagonal", _combine_strict),
               Twin("padding_off_by_one", _combine_through_length),
               Twin("mask_inverted", _combine_drop_masks),
               Twin("masks_combined_with_or", _combine_or),
               Twin("padding_on_queries", _combine_query_padding),
               Twin("padding_on_queries", _combine_query_and_key_padding)),
        hints=("Build the two masks you know: causal, (n, n) over (query, key), and key "
               "padding, (B, n) over (batch, key). A key is visible only when both allow it.",
               "Reshape the padding mask to (B, 1, 1, n), axes (batch, head, query, key), so "
               "that it hides key columns and broadcasts against the causal (n, n); combine "
               "with &.",
               "causal = np.tril(np.ones((n, n), dtype=bool)); keys = np.arange(n) < "
               "np.asarray(lengths)[:, None]; return causal & keys[:, None, None, :]"),
    ),
    Problem(
        id="masked_softmax", chapter=CHAPTER, signature="masked_softmax(scores, mask)",
        difficulty="medium", points=2,
        statement="Softmax of `scores` along the last axis over the kept entries only: `mask` "
                  "is boolean, broadcastable to scores (lined up from the right: (Lk,), "
                  "(Lq, Lk), (B, 1, 1, Lk), (H, Lq, Lk), ...), True = keep. Masked entries get weight "
                  "exactly 0, the kept entries of each row sum to one, and a row with nothing "
                  "kept is all zeros, never NaN. Scores may be float16, and as large as ±1000.",
        reference=masked_softmax, generate=_masked_softmax_cases,
        probes=_masked_softmax_probes, compare=_compare_weights,
        symptoms=(_overflow_symptom(lambda case: case.args[0]),
                  Symptom("lower_precision", blocks.float32_digits_lost)),
        twins=(Twin("lower_precision", blocks.in_float32(masked_softmax)),
               Twin("fully_masked_row", _ms_neg_inf),
               Twin("fully_masked_row", _ms_minus_1e9),
               Twin("fully_masked_row", _ms_additive_finfo_min),
               Twin("fully_masked_row", _ms_additive_minus_1e9),
               Twin("fully_masked_row", _ms_torch_masked_fill),
               Twin("fully_masked_row", _ms_additive_bert),
               Twin("fully_masked_row", _ms_additive_minus_1e9_in_dtype),
               Twin("fully_masked_row", _ms_additive_minus_1e9_float32),
               Twin("fully_masked_row", _ms_additive_finfo_min_int),
               Twin("fully_masked_row", _ms_additive_minus_1e9_numpy_dtype),
               Twin("mask_value_overflow", _ms_minus_1e9_guarded),
               Twin("mask_value_overflow", _ms_torch_masked_fill_guarded),
               Twin("mask_value_overflow", _ms_additive_minus_1e9_numpy_dtype_guarded),
               Twin("not_normalised", _ms_not_normalised),
               Twin("mask_after_softmax", _ms_after),
               Twin("mask_after_softmax", _ms_after_renormalised),
               Twin("mask_after_softmax", _ms_after_renormalised_guarded),
               Twin("mask_fill_zero", _ms_fill_zero),
               Twin("mask_inverted", _ms_inverted),
               Twin("mask_inverted", _ms_inverted_neg_inf),
               Twin("no_max_shift", _ms_no_shift_no_guard),
               Twin("no_max_shift", _ms_exp_times_mask),
               Twin("no_max_shift", _ms_exp_times_mask_guarded),
               Twin("wrong_axis", _ms_over_queries),
               Twin("wrong_axis", _ms_first_axis),
               Twin("missing_keepdims", _ms_no_keepdims),
               Twin("mask_not_broadcast", _ms_boolean_index),
               *_masked_softmax_derived),
        hints=("Mask before the softmax, not after: a masked score must become −inf, so that "
               "its exponential is exactly 0 and the kept weights still sum to one.",
               "np.where(mask, scores, -np.inf) broadcasts the mask. A row that is all −inf "
               "has max −inf and gives 0/0 = NaN: subtract the max only where it is finite, "
               "and divide only where the sum is positive.",
               "s = np.where(mask, scores, -np.inf); m = s.max(-1, keepdims=True); "
               "e = np.exp(s - np.where(np.isfinite(m), m, 0)); t = e.sum(-1, keepdims=True); "
               "return e / np.where(t > 0, t, 1)"),
    ),
    Problem(
        id="attention", chapter=CHAPTER, signature="attention(q, k, v, mask=None)",
        difficulty="hard", points=3,
        statement="Scaled dot-product attention: q (…, Lq, d), k (…, Lk, d), v (…, Lk, dv), "
                  "and an optional boolean keep-mask broadcastable to (…, Lq, Lk), lined up "
                  "from the right (with 4-d inputs a 3-d mask is (H, Lq, Lk)). Return "
                  "softmax(q kᵀ / √d) v of shape (…, Lq, dv), with the softmax over the keys "
                  "and masked keys getting weight 0. A query that may attend to no key gets a "
                  "zero output. Elsewhere it equals torch's scaled_dot_product_attention.",
        reference=attention, generate=_attention_cases, probes=_attention_probes,
        symptoms=(_overflow_symptom(_attention_scores),
                  Symptom("lower_precision", blocks.float32_digits_lost)),
        twins=(Twin("lower_precision", blocks.in_float32(attention)),
               Twin("missing_sqrt_d", _att_unscaled),
               Twin("scale_by_d", _att_over_d),
               Twin("wrong_axis", _att_over_queries),
               Twin("mask_inverted", _att_inverted),
               Twin("fully_masked_row", _att_neg_inf),
               Twin("fully_masked_row", _att_minus_1e9),
               Twin("fully_masked_row", _att_additive_minus_1e9),
               Twin("fully_masked_row", _att_torch_masked_fill),
               Twin("fully_masked_row", _att_minus_1e9_in_dtype),
               Twin("fully_masked_row", _att_additive_minus_1e4),
               Twin("fully_masked_row", _att_additive_bert),
               Twin("fully_masked_row", _att_additive_minus_1e9_in_dtype),
               Twin("fully_masked_row", _att_additive_minus_1e9_float32),
               Twin("fully_masked_row", _att_additive_finfo_min_int),
               Twin("fully_masked_row", _att_additive_minus_1e9_numpy_dtype),
               Twin("mask_value_overflow", _att_torch_masked_fill_guarded),
               Twin("mask_value_overflow", _att_minus_1e9_guarded),
               Twin("mask_value_overflow", _att_additive_minus_1e9_numpy_dtype_guarded),
               Twin("mask_after_softmax", _att_mask_after),
               Twin("mask_after_softmax", _att_mask_after_renormalised),
               Twin("mask_fill_zero", _att_fill_zero),
               Twin("no_max_shift", _att_no_shift_no_guard),
               Twin("no_max_shift", _att_exp_times_mask),
               Twin("no_max_shift", _att_exp_times_mask_guarded),
               Twin("no_max_shift", _att_exp_times_mask_nan_to_num),
               Twin("transpose_all_axes", _att_transpose_all),
               Twin("transpose_all_axes", _att_torch_transpose_all),
               Twin("mask_not_broadcast", _att_boolean_index),
               *_attention_derived),
        hints=("Three steps: scores = q kᵀ / √d with d = q.shape[-1]; weights = a masked "
               "softmax over the keys (the last axis); output = weights @ v.",
               "Transpose only the last two axes of k (np.swapaxes(k, -1, -2); k.T reverses "
               "all of them); `@` broadcasts over batch and head axes. A masked softmax that "
               "gives empty rows zeros gives their queries zero outputs.",
               "scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]); return "
               "masked_softmax(scores, True if mask is None else mask) @ v"),
    ),
]


QUIZZES = [
    Quiz(
        id="q07_sqrt_d", chapter=CHAPTER,
        question="The entries of q and k are independent with mean 0 and variance 1, and "
                 "d = 64. What is the standard deviation of the raw score q·k?",
        answer=8.0, tolerance=0.05,
        wrong_answers=((64.0, "64 is the variance: a sum of 64 independent products of "
                              "variance 1. The standard deviation is its square root."),
                       (1.0, "That is after dividing by √d = 8, which is why attention "
                             "divides: the raw score has standard deviation √64.")),
        explanation="q·k sums d = 64 products of variance 1, so its variance is 64 and its "
                    "standard deviation √64 = 8; dividing by √d brings it back to 1.",
    ),
    Quiz(
        id="q07_polarity", chapter=CHAPTER,
        question="keep = torch.tril(torch.ones(4, 4, dtype=torch.bool)) is a causal keep-mask "
                 "(True = may attend). You pass it as attn_mask to nn.MultiheadAttention. "
                 "What does the layer do?",
        choices=(
            Choice("Each query attends only to later keys, and the last query, left with "
                   "none, gets NaN weights", True,
                   "Right: nn.MultiheadAttention reads True as 'hide this key', so your keep-"
                   "mask hides the past and the query itself, and the last row hides "
                   "everything."),
            Choice("Causal attention, as intended", False, "That is what "
                   "scaled_dot_product_attention does with this mask, because it keeps True. "
                   "nn.MultiheadAttention drops True: pass ~keep there."),
            Choice("It raises an error: MultiheadAttention needs a float mask", False,
                   "It accepts boolean masks, and silently reads them the other way round, "
                   "which is why this bug is easy to miss."),
            Choice("The same as no mask at all", False, "The mask is used, just with the "
                   "opposite meaning: True hides a key."),
        ),
    ),
    Quiz(
        id="q07_minus_1e9", chapter=CHAPTER,
        question="Every key of one query row is masked by filling its scores with −1e9 "
                 "(float32), and the row goes through softmax. What weights does it get?",
        choices=(
            Choice("Uniform: 1/Lk on every (masked) key", True, "Right: all scores are equal, "
                   "so softmax spreads the weight evenly over keys that should get none, and "
                   "nothing warns you."),
            Choice("All zeros", False, "That is what scaled_dot_product_attention and this "
                   "course's masked_softmax return, because they treat an empty row "
                   "explicitly; a plain softmax must sum to one."),
            Choice("NaN", False, "That happens with −inf: max −inf, then −inf − (−inf) = NaN. "
                   "With −1e9 every entry is finite."),
            Choice("One-hot on the largest original score", False, "The fill replaces the "
                   "scores, so every entry is −1e9: nothing is left to prefer."),
        ),
    ),
    Quiz(
        id="q07_float16", chapter=CHAPTER,
        question="What does np.float16(-1e9) give (and torch's masked_fill(mask, -1e9) on a "
                 "float16 tensor try to store)?",
        choices=(
            Choice("−inf: the largest float16 is 65504", True, "Right: numpy rounds it to "
                   "−inf (with an overflow warning) and torch refuses with a RuntimeError. "
                   "Use −inf itself, or torch.finfo(dtype).min, and handle empty rows."),
            Choice("−1e9", False, "float16 has 5 exponent bits: nothing beyond ±65504 is "
                   "finite."),
            Choice("−65504, the most negative float16", False, "Casting does not saturate: "
                   "values beyond the range overflow to −inf."),
            Choice("NaN", False, "Overflow gives ±inf, not NaN; the NaN comes later, from "
                   "−inf − (−inf) in a fully masked row."),
        ),
    ),
    Quiz(
        id="q07_padding_shape", chapter=CHAPTER,
        question="Scores have shape (B, H, Lq, Lk) and the key padding mask has shape (B, Lk). "
                 "Which version of the mask hides the padded keys of each sequence?",
        choices=(
            Choice("mask[:, None, None, :]", True, "Right: (B, 1, 1, Lk) lines the batch up "
                   "with B and the keys with Lk, and broadcasts over heads and queries."),
            Choice("mask[:, None, :, None]", False, "(B, 1, Lq, 1) hides query rows, not key "
                   "columns: padded queries get empty rows and padded keys stay visible."),
            Choice("mask, unchanged", False, "Broadcasting aligns from the right: (B, Lk) "
                   "pairs B with Lq, so this either fails or, when B = Lq, mixes sequences."),
            Choice("mask[None, None, :, :]", False, "(1, 1, B, Lk) also pairs the batch axis "
                   "with the queries."),
        ),
    ),
    Quiz(
        id="q07_after_softmax", chapter=CHAPTER,
        question="softmax(2, 1, 0) = (0.665, 0.245, 0.090). The third key is padding, and the "
                 "mask is applied after the softmax by zeroing its weight. What do the row's "
                 "weights sum to now? (three decimals)",
        answer=0.910, tolerance=2e-3,
        wrong_answers=((1.0, "That is what masking before the softmax gives (or renormalising "
                             "afterwards). Zeroing after leaves 0.665 + 0.245."),
                       (0.09, "That is the weight removed; the row keeps 0.665 + 0.245.")),
        explanation="0.665 + 0.245 = 0.910: the output is no longer a weighted average. "
                    "Masking the score with −inf first gives softmax(2, 1) = (0.731, 0.269).",
    ),
]


# === Practice beyond the lesson ================================================================
# Problems the lesson does not ask: find the bug, apply masks to a packed batch, derive then check
# numerically. They are declared after everything above and added to PROBLEMS at the end.

# --- fix_the_padding_weights: find the bug ------------------------------------------------------

def _masked_weights(scores, keep):
    """Softmax over the last axis of scores where keep is True (no row fully masked here)."""
    s = np.where(keep, np.asarray(scores, dtype=float), -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def fix_the_padding_weights(scores, lengths):
    """Attention weights over the keys of a padded batch: scores (B, L, L), keys at positions
    ≥ lengths[b] hidden from every query of sequence b."""
    L = np.shape(scores)[-1]
    keep = np.arange(L)[None, :] < np.asarray(lengths)[:, None]
    return _masked_weights(scores, keep[:, None, :])


def _padding_weights_shown(scores, lengths):
    """The code the practice notebook shows: the (B, L) mask lined up with the queries."""
    B, L, _ = scores.shape
    keep = np.arange(L)[None, :] < np.asarray(lengths)[:, None]
    s = np.where(keep[:, :, None], scores, -1e9)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _padding_weights_inverted(scores, lengths):
    L = np.shape(scores)[-1]
    keep = np.arange(L)[None, :] >= np.asarray(lengths)[:, None]
    s = np.where(keep[:, None, :], scores, -1e9)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _padding_weights_off_by_one(scores, lengths):
    L = np.shape(scores)[-1]
    keep = np.arange(L)[None, :] <= np.asarray(lengths)[:, None]
    return _masked_weights(scores, keep[:, None, :])


def _key_keep(scores, lengths):
    return np.arange(np.shape(scores)[-1])[None, :] < np.asarray(lengths)[:, None]


def _weights_or_zeros(scores, keep):
    """Softmax where keep is True, with rows that keep nothing left at 0 instead of NaN."""
    s = np.where(keep, np.asarray(scores, dtype=float), -np.inf)
    m = s.max(axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0.0))
    total = e.sum(axis=-1, keepdims=True)
    return np.where(total > 0, e / np.where(total > 0, total, 1.0), 0.0)


def _padding_weights_on_queries(scores, lengths):
    return _weights_or_zeros(scores, _key_keep(scores, lengths)[:, :, None])


def _padding_weights_queries_and_keys(scores, lengths):
    keep = _key_keep(scores, lengths)
    return _weights_or_zeros(scores, keep[:, :, None] & keep[:, None, :])


def _padding_weights_after_softmax(scores, lengths):
    return blocks.softmax(np.asarray(scores, dtype=float), axis=-1) * \
        _key_keep(scores, lengths)[:, None, :]


def _padding_weights_fill_zero(scores, lengths):
    return blocks.softmax(np.where(_key_keep(scores, lengths)[:, None, :], scores, 0.0), axis=-1)


def _padding_weights_cases(rng):
    for _ in range(3):
        B, L = _inputs.shape(rng, 2)
        lengths = rng.integers(1, L + 1, B)
        lengths[0] = max(1, L - 2)
        yield case(_inputs.logits(rng, (B, L, L), scale=2.0), lengths)


def _padding_weights_probes():
    return [
        case(np.zeros((2, 3, 3)), np.array([3, 1]), note="equal scores, lengths 3 and 1"),
        case(np.arange(18.0).reshape(2, 3, 3) % 4, np.array([2, 3]),
             note="one padded position"),
    ]


# --- packed_batch_mask: apply ---------------------------------------------------------------------

def packed_batch_mask(lengths):
    """Sequences of these lengths packed one after another into one row of n = Σ lengths
    positions: (n, n), True where query i may attend key j, that is j ≤ i within i's own
    sequence."""
    doc = np.repeat(np.arange(len(lengths)), np.asarray(lengths))
    n = doc.size
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    return (doc[:, None] == doc[None, :]) & (j <= i)


def _packed_causal_only(lengths):
    n = int(np.sum(lengths))
    return np.tril(np.ones((n, n), dtype=bool))


def _packed_blocks_only(lengths):
    doc = np.repeat(np.arange(len(lengths)), np.asarray(lengths))
    return doc[:, None] == doc[None, :]


def _packed_no_diagonal(lengths):
    n = int(np.sum(lengths))
    return packed_batch_mask(lengths) & ~np.eye(n, dtype=bool)


def _packed_upper(lengths):
    return packed_batch_mask(lengths).T


def _packed_inverted(lengths):
    return ~packed_batch_mask(lengths)


def _packed_or(lengths):
    return _packed_blocks_only(lengths) | _packed_causal_only(lengths)


def _packed_cases(rng):
    for _ in range(3):
        yield case([int(x) for x in rng.integers(1, 6, int(rng.integers(2, 5)))])


def _packed_probes():
    return [
        case([3, 2], note="two sequences, 3 and 2 tokens"),
        case([1, 1, 2], note="sequences of one token"),
        case([4], note="a single sequence: plain causal"),
    ]


# --- attention_grad_q: derive, then check numerically -------------------------------------------

def _attention_forward(q, k, v, scale):
    S = q @ np.swapaxes(k, -1, -2) * scale
    return blocks.softmax(S, axis=-1)


def attention_grad_q(q, k, v, grad_out):
    """∂L/∂q for O = softmax(q kᵀ/√d) v, given grad_out = ∂L/∂O: dP = dO vᵀ, then back through
    each softmax row, dS = P ⊙ (dP − Σ_j dP ⊙ P), and dq = dS k / √d."""
    q, k, v, dO = (np.asarray(a, dtype=float) for a in (q, k, v, grad_out))
    scale = 1 / math.sqrt(q.shape[-1])
    P = _attention_forward(q, k, v, scale)
    dP = dO @ np.swapaxes(v, -1, -2)
    dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True))
    return dS @ k * scale


def _grad_q_with(scale_of, backward):
    def grad(q, k, v, grad_out):
        q, k, v, dO = (np.asarray(a, dtype=float) for a in (q, k, v, grad_out))
        scale = scale_of(q.shape[-1])
        P = _attention_forward(q, k, v, scale)
        dP = dO @ np.swapaxes(v, -1, -2)
        return backward(P, dP) @ k * scale
    return grad


def _right_backward(P, dP):
    return P * (dP - np.sum(dP * P, axis=-1, keepdims=True))


_grad_q_no_sqrt_d = _grad_q_with(lambda d: 1.0, _right_backward)
_grad_q_by_d = _grad_q_with(lambda d: 1 / d, _right_backward)
_grad_q_elementwise = _grad_q_with(lambda d: 1 / math.sqrt(d), lambda P, dP: P * (1 - P) * dP)
_grad_q_no_diag = _grad_q_with(lambda d: 1 / math.sqrt(d),
                               lambda P, dP: -P * np.sum(dP * P, axis=-1, keepdims=True))


def _grad_q_final_unscaled(q, k, v, grad_out):
    """1/√d in the forward scores, forgotten on the way back: dS k instead of dS k / √d."""
    return attention_grad_q(q, k, v, grad_out) * math.sqrt(np.shape(q)[-1])


def _grad_q_diag_only(q, k, v, grad_out):
    """dS = P ⊙ dP: the softmax differentiated with its normaliser held fixed."""
    return _grad_q_with(lambda d: 1 / math.sqrt(d), lambda P, dP: P * dP)(q, k, v, grad_out)


def _grad_q_no_shift(q, k, v, grad_out):
    q, k, v, dO = (np.asarray(a, dtype=float) for a in (q, k, v, grad_out))
    scale = 1 / math.sqrt(q.shape[-1])
    with np.errstate(all="ignore"):
        e = np.exp(q @ np.swapaxes(k, -1, -2) * scale)
        P = e / e.sum(axis=-1, keepdims=True)
        return _right_backward(P, dO @ np.swapaxes(v, -1, -2)) @ k * scale


def _grad_q_transpose_all(q, k, v, grad_out):
    """k.T and v.T, which reverse every axis of a batch."""
    q, k, v, dO = (np.asarray(a, dtype=float) for a in (q, k, v, grad_out))
    scale = 1 / math.sqrt(q.shape[-1])
    P = blocks.softmax(q @ k.T * scale, axis=-1)
    return _right_backward(P, dO @ v.T) @ k * scale


def _grad_q_cases(rng):
    for batch in ((), (), (2,)):
        Lq, Lk, d, dv = (int(x) for x in rng.integers(2, 7, 4))
        yield case(rng.normal(0, 1, (*batch, Lq, d)), rng.normal(0, 1, (*batch, Lk, d)),
                   rng.normal(0, 1, (*batch, Lk, dv)), rng.normal(0, 1, (*batch, Lq, dv)))


def _grad_q_probes():
    q = np.array([[1.0, 0.0], [0.0, 2.0]])
    k = np.array([[1.0, 1.0], [0.0, -1.0], [2.0, 0.0]])
    v = np.array([[1.0], [2.0], [-1.0]])
    return [
        case(q, k, v, np.ones((2, 1)), note="two queries, three keys"),
        case(q * 100, k, v, np.ones((2, 1)), note="scores in the hundreds"),
        # Scores near 4243 a few tenths apart: float32 keeps them to about 0.0005.
        case(np.array([[3000.37, 3000.11], [2999.83, 3000.59]]),
             np.array([[1.0, 1.0], [1.0001, 0.9999], [0.9998, 1.0002]]), v, np.ones((2, 1)),
             note="close scores in the thousands"),
    ]


_BEYOND = [
    Problem(
        id="fix_the_padding_weights", chapter=CHAPTER,
        signature="fix_the_padding_weights(scores, lengths)", difficulty="easy", points=1,
        statement="Find the bug. The attention weights shown in the practice notebook hide the "
                  "padding of a batch (scores (B, L, L), lengths (B,)), yet the real tokens "
                  "still attend to padding keys, and the padded queries get uniform rows. Fix "
                  "it: the softmax over keys of every query row, with keys at positions ≥ "
                  "lengths[b] hidden (weight exactly 0), shape (B, L, L).",
        reference=fix_the_padding_weights, generate=_padding_weights_cases,
        probes=_padding_weights_probes,
        twins=(Twin("padding_on_queries", _padding_weights_shown),
               Twin("padding_on_queries", _padding_weights_on_queries),
               Twin("padding_on_queries", _padding_weights_queries_and_keys),
               Twin("mask_after_softmax", _padding_weights_after_softmax),
               Twin("mask_fill_zero", _padding_weights_fill_zero),
               Twin("mask_inverted", _padding_weights_inverted),
               Twin("padding_off_by_one", _padding_weights_off_by_one)),
        hints=("Which axis of scores (B, L, L) holds the keys? Which axis does keep[:, :, None] "
               "line the lengths up with?",
               "scores[b, i, j] is query i against key j; padding hides key columns, so the "
               "(B, L) mask must broadcast as (B, 1, L).",
               "s = np.where(keep[:, None, :], scores, -np.inf), then the same softmax"),
    ),
    Problem(
        id="packed_batch_mask", chapter=CHAPTER, signature="packed_batch_mask(lengths)",
        difficulty="medium", points=2,
        statement="Packing: sequences of the given lengths are laid one after another in a "
                  "single row of n = Σ lengths positions, so that no padding is wasted. Return "
                  "the (n, n) boolean mask, True where query i may attend key j: j is in the "
                  "same sequence as i, and j ≤ i.",
        reference=packed_batch_mask, generate=_packed_cases, probes=_packed_probes,
        twins=(Twin("packing_crosses_documents", _packed_causal_only),
               Twin("packed_not_causal", _packed_blocks_only),
               Twin("causal_no_diagonal", _packed_no_diagonal),
               Twin("causal_wrong_triangle", _packed_upper),
               Twin("mask_inverted", _packed_inverted),
               Twin("masks_combined_with_or", _packed_or)),
        hints=("Two conditions, combined with &: the causal one, and 'same sequence'. Label "
               "each position with the index of its sequence first.",
               "doc = np.repeat(np.arange(len(lengths)), lengths) labels every position; "
               "doc[:, None] == doc[None, :] is the block-diagonal part.",
               "(doc[:, None] == doc[None, :]) & np.tril(np.ones((n, n), dtype=bool))"),
    ),
    Problem(
        id="attention_grad_q", chapter=CHAPTER, signature="attention_grad_q(q, k, v, grad_out)",
        difficulty="hard", points=3,
        statement="Derive, then check numerically: for O = softmax(q kᵀ/√d) v (q (…, Lq, d), "
                  "k (…, Lk, d), v (…, Lk, dv), no mask) and an upstream gradient grad_out = "
                  "∂L/∂O of O's shape, return ∂L/∂q, of q's shape. Compare with autograd or a "
                  "centred difference before you run the check. Exact for scores in the "
                  "hundreds.",
        reference=attention_grad_q, generate=_grad_q_cases, probes=_grad_q_probes,
        twins=(Twin("lower_precision", blocks.in_float32(attention_grad_q)),
               Twin("missing_sqrt_d", _grad_q_no_sqrt_d),
               Twin("scale_by_d", _grad_q_by_d),
               Twin("jacobian_elementwise", _grad_q_elementwise),
               Twin("jacobian_missing_diag", _grad_q_no_diag),
               Twin("missing_sqrt_d", _grad_q_final_unscaled),
               Twin("lse_treated_as_constant", _grad_q_diag_only),
               Twin("no_max_shift", _grad_q_no_shift),
               Twin("transpose_all_axes", _grad_q_transpose_all)),
        hints=("Go backwards one step at a time: O = P v gives dP = dO vᵀ; P = softmax(S) row "
               "by row; S = q kᵀ/√d gives dq = dS k/√d.",
               "Through each softmax row, with Jacobian diag(p) − ppᵀ: dS = P ⊙ (dP − Σ_j "
               "(dP ⊙ P)), the sum along the keys, kept as a column.",
               "dP = grad_out @ v.swapaxes(-1, -2); dS = P * (dP - (dP * P).sum(-1, "
               "keepdims=True)); return dS @ k / np.sqrt(d)"),
    ),
]

PROBLEMS += _BEYOND
