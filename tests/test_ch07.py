"""Chapter 07 from the learner's side: right answers written in any style pass (numpy, Python
loops, torch, scipy, float16-native), wrong answers written the way learners write them are
named with the right misconception, the messages a learner reads are pinned word for word, and
the lesson's two explorers change their artists as their controls move."""

from __future__ import annotations

import math

import numpy as np
import pytest
from learners import (
    assert_named,
    assert_named_nine_in_ten,
    every_right_answer_passes,
    every_twin_named,
    every_wrong_answer_named,
    over_right,
    over_wrong,
    passes,
)
from scipy import special

import tutor
from tutor import checking
from tutor.chapters import ch07_attention_masking as ch07
from tutor.widgets.attention import D_MAX, N_MAX, MaskExplorer, ScalingExplorer


def tensor(x):
    import torch

    return torch.as_tensor(np.array(x))


# ---------------------------------------------------------------------------------------------
# Right answers, in several styles


def causal_loops(n):
    return [[1 if j <= i else 0 for j in range(n)] for i in range(n)]


def causal_torch(n):
    import torch

    return torch.tril(torch.ones(n, n))


def causal_tri(n):
    return np.tri(n, dtype=int)


def causal_not_upper(n):
    """The complement of the hide-mask, written with the other triangle."""
    return ~np.triu(np.ones((n, n), dtype=bool), k=1)


def padding_loops(lengths, n):
    return np.array([[j < length for j in range(n)] for length in lengths], dtype=bool)


def padding_torch(lengths, n):
    import torch

    return torch.arange(n)[None, :] < tensor(lengths)[:, None]


def padding_not_padded(lengths, n):
    return ~(np.arange(n)[None, :] >= np.reshape(lengths, (-1, 1)))


def combine_loops(lengths, n):
    out = np.zeros((len(lengths), 1, n, n), dtype=bool)
    for b, length in enumerate(lengths):
        for i in range(n):
            for j in range(n):
                out[b, 0, i, j] = j <= i and j < length
    return out


def combine_torch(lengths, n):
    import torch

    causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
    keys = torch.arange(n) < tensor(lengths)[:, None]
    return causal & keys[:, None, None, :]


def combine_products(lengths, n):
    """0/1 integers multiplied instead of booleans combined."""
    keys = (np.arange(n) < np.asarray(lengths)[:, None]).astype(int)
    return np.tri(n, dtype=int)[None, None] * keys[:, None, None, :]


def combine_from_hide_masks(lengths, n):
    """Hide-masks combined with OR, then flipped: De Morgan's AND of keep-masks."""
    future = np.triu(np.ones((n, n), dtype=bool), k=1)
    padded = np.arange(n) >= np.asarray(lengths)[:, None]
    return ~(future | padded[:, None, None, :])


def masked_softmax_nan_to_num(scores, mask):
    """−inf, a plain softmax, then NaN rows turned into zeros."""
    s = np.where(mask, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return np.nan_to_num(e / e.sum(axis=-1, keepdims=True))


def masked_softmax_loops(scores, mask):
    scores = np.asarray(scores, dtype=float)
    keep = np.broadcast_to(mask, scores.shape)
    out = np.zeros_like(scores)
    for index in np.ndindex(scores.shape[:-1]):
        kept = [s for s, k in zip(scores[index], keep[index], strict=True) if k]
        if not kept:
            continue
        m = max(kept)
        total = sum(math.exp(s - m) for s in kept)
        out[index] = [math.exp(s - m) / total if k else 0.0
                      for s, k in zip(scores[index], keep[index], strict=True)]
    return out


def masked_softmax_torch(scores, mask):
    import torch

    s = tensor(scores).masked_fill(~tensor(mask), float("-inf"))
    return torch.softmax(s, dim=-1).nan_to_num(0.0)


def masked_softmax_scipy(scores, mask):
    with np.errstate(invalid="ignore"):
        p = special.softmax(np.where(mask, scores, -np.inf), axis=-1)
    return np.nan_to_num(p)


def masked_softmax_float16_native(scores, mask):
    """Stays in the input's dtype, float16 included."""
    s = np.where(mask, scores, np.array(-np.inf, dtype=scores.dtype))
    m = s.max(axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0))
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1)


def masked_softmax_log_space(scores, mask):
    """exp(s − logsumexp(s)) over the kept entries, empty rows set to zero."""
    s = np.where(mask, np.asarray(scores, dtype=float), -np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.exp(s - special.logsumexp(s, axis=-1, keepdims=True))
    return np.where(np.isnan(p), 0.0, p)


def masked_softmax_minus_1e9_in_float64(scores, mask):
    """A finite fill works when it is applied in float64 and empty rows are zeroed."""
    s = np.where(mask, np.asarray(scores, dtype=np.float64), -1e9)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return p * np.any(mask, axis=-1, keepdims=True) * np.broadcast_to(mask, s.shape)


def attention_sdpa(q, k, v, mask=None):
    import torch.nn.functional as F

    return F.scaled_dot_product_attention(tensor(q), tensor(k), tensor(v),
                                          attn_mask=None if mask is None else tensor(mask))


def attention_einsum(q, k, v, mask=None):
    scores = np.einsum("...qd,...kd->...qk", q, k) / np.sqrt(q.shape[-1])
    keep = True if mask is None else mask
    return np.einsum("...qk,...kv->...qv", masked_softmax_nan_to_num(scores, keep), v)


def attention_loops(q, k, v, mask=None):
    q, k, v = (np.asarray(x, dtype=float) for x in (q, k, v))
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    keep = np.broadcast_to(True if mask is None else mask, batch + (q.shape[-2], k.shape[-2]))
    out = np.zeros(batch + (q.shape[-2], v.shape[-1]))
    for b in np.ndindex(batch):
        for i in range(q.shape[-2]):
            scores = [float(q[b][i] @ k[b][j]) / math.sqrt(q.shape[-1])
                      for j in range(k.shape[-2])]
            kept = [j for j in range(k.shape[-2]) if keep[b][i, j]]
            if not kept:
                continue
            m = max(scores[j] for j in kept)
            total = sum(math.exp(scores[j] - m) for j in kept)
            for j in kept:
                out[b][i] += math.exp(scores[j] - m) / total * v[b][j]
    return out


def attention_torch_half_native(q, k, v, mask=None):
    """Computes in the input's dtype with torch, float16 included."""
    import torch

    q, k, v = tensor(q), tensor(k), tensor(v)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~tensor(mask), float("-inf"))
    return torch.softmax(scores, dim=-1).nan_to_num(0.0) @ v


def attention_finfo_min_guarded(q, k, v, mask=None):
    """torch.finfo(dtype).min as the fill value, with empty rows zeroed."""
    import torch

    q, k, v = tensor(q), tensor(k), tensor(v)
    scores = q @ k.mT / math.sqrt(q.shape[-1])
    if mask is None:
        return torch.softmax(scores, dim=-1) @ v
    keep = tensor(mask)
    weights = torch.softmax(scores.masked_fill(~keep, torch.finfo(scores.dtype).min), dim=-1)
    return (weights * keep.any(dim=-1, keepdim=True)) @ v


def masked_softmax_max_where(scores, mask):
    """np.max(..., where=keep, initial=-inf) and np.exp(..., where=keep): nothing masked is ever
    exponentiated."""
    keep = np.broadcast_to(mask, scores.shape)
    m = np.max(scores, axis=-1, keepdims=True, initial=-np.inf, where=keep)
    e = np.exp(scores - np.where(np.isfinite(m), m, 0), out=np.zeros(scores.shape), where=keep)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def attention_sdpa_float_mask(q, k, v, mask=None):
    """An additive float mask (0 to attend, −inf to hide) for scaled_dot_product_attention."""
    import torch
    import torch.nn.functional as F

    q, k, v = tensor(q), tensor(k), tensor(v)
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v)
    keep = tensor(mask)
    bias = torch.zeros(keep.shape, dtype=q.dtype).masked_fill(~keep, float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


RIGHT = [
    ("causal_mask", f) for f in (causal_loops, causal_torch, causal_tri, causal_not_upper,
                                 ch07.causal_mask)
] + [
    ("padding_mask", f) for f in (padding_loops, padding_torch, padding_not_padded)
] + [
    ("combine_masks", f) for f in (combine_loops, combine_torch, combine_products,
                                   combine_from_hide_masks)
] + [
    ("masked_softmax", f) for f in (masked_softmax_nan_to_num, masked_softmax_loops,
                                    masked_softmax_torch, masked_softmax_scipy,
                                    masked_softmax_float16_native, masked_softmax_log_space,
                                    masked_softmax_minus_1e9_in_float64, masked_softmax_max_where)
] + [
    ("attention", f) for f in (attention_sdpa, attention_einsum, attention_loops,
                               attention_torch_half_native, attention_finfo_min_guarded,
                               attention_sdpa_float_mask)
]


@over_right(RIGHT)
def test_right_answers_in_any_style_pass(problem_id, answer):
    passes(problem_id, answer)


# ---------------------------------------------------------------------------------------------
# Wrong answers, written the way learners write them (not the twins), and the names they get


def w_causal_triu_torch(n):
    import torch

    return torch.triu(torch.ones(n, n, dtype=torch.bool))


def w_causal_strict_loops(n):
    return [[j < i for j in range(n)] for i in range(n)]


def w_causal_subsequent_mask(n):
    import torch

    return torch.triu(torch.ones(n, n), diagonal=1).bool()


def w_causal_tril_minus_one(n):
    return np.tril(np.ones((n, n)), k=-1)


def w_padding_loops_through(lengths, n):
    return [[j <= length for j in range(n)] for length in lengths]


def w_padding_torch_key_padding_mask(lengths, n):
    import torch

    return torch.arange(n)[None, :] >= tensor(lengths)[:, None]


def w_padding_one_short(lengths, n):
    return np.arange(n) < np.asarray(lengths)[:, None] - 1


def w_combine_or_torch(lengths, n):
    import torch

    causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
    keys = torch.arange(n) < tensor(lengths)[:, None]
    return causal | keys[:, None, None, :]


def w_combine_query_rows(lengths, n):
    rows = (np.arange(n) < np.asarray(lengths)[:, None]).astype(int)
    return np.tri(n, dtype=int) * rows[:, None, :, None]


def w_combine_loops_strict(lengths, n):
    out = np.zeros((len(lengths), 1, n, n), dtype=bool)
    for b, length in enumerate(lengths):
        for i in range(n):
            for j in range(n):
                out[b, 0, i, j] = j < i and j < length
    return out


def w_combine_hide_mask(lengths, n):
    future = np.triu(np.ones((n, n), dtype=bool), k=1)
    return future[None, None] | (np.arange(n) >= np.asarray(lengths)[:, None])[:, None, None, :]


def w_ms_torch_neg_inf(scores, mask):
    import torch

    return torch.softmax(tensor(scores).masked_fill(~tensor(mask), float("-inf")), dim=-1)


def w_ms_scipy_minus_1e9(scores, mask):
    return special.softmax(np.where(mask, scores, -1e9), axis=-1)


def w_ms_scipy_then_mask(scores, mask):
    p = special.softmax(scores, axis=-1) * mask
    return p / p.sum(axis=-1, keepdims=True)


def w_ms_torch_times_mask(scores, mask):
    import torch

    return torch.softmax(tensor(scores) * tensor(mask), dim=-1)


def w_ms_rows_no_shift(scores, mask):
    scores = np.asarray(scores, dtype=float)
    keep = np.broadcast_to(mask, scores.shape)
    out = np.zeros_like(scores)
    for index in np.ndindex(scores.shape[:-1]):
        e = np.exp(scores[index]) * keep[index]
        if e.sum() > 0:
            out[index] = e / e.sum()
    return out


def w_ms_minus_1e9_guarded(scores, mask):
    s = np.where(mask, scores, -1e9)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True) * np.any(mask, axis=-1, keepdims=True)


def w_ms_torch_boolean_index(scores, mask):
    import torch

    s = tensor(scores).clone()
    s[~tensor(mask)] = float("-inf")
    return torch.softmax(s, dim=-1).nan_to_num(0.0)


def w_ms_hides_true(scores, mask):
    with np.errstate(invalid="ignore"):
        p = special.softmax(np.where(mask, -np.inf, scores), axis=-1)
    return np.nan_to_num(p)


def w_ms_global_max(scores, mask):
    s = np.where(mask, scores, -np.inf)
    e = np.exp(s - np.max(s[np.isfinite(s)], initial=0.0))
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def w_att_torch_unscaled(q, k, v, mask=None):
    import torch

    q, k, v = tensor(q), tensor(k), tensor(v)
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~tensor(mask), float("-inf"))
    return torch.softmax(scores, dim=-1).nan_to_num(0.0) @ v


def w_att_over_d(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / k.shape[-1]
    return masked_softmax_nan_to_num(scores, True if mask is None else mask) @ v


def w_att_dot_T(q, k, v, mask=None):
    scores = np.matmul(q, k.T) / np.sqrt(q.shape[-1])
    return masked_softmax_nan_to_num(scores, True if mask is None else mask) @ v


def w_att_torch_softmax_dim_minus_2(q, k, v, mask=None):
    import torch

    q, k, v = tensor(q), tensor(k), tensor(v)
    scores = q @ k.mT / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~tensor(mask), float("-inf"))
    return torch.softmax(scores, dim=-2).nan_to_num(0.0) @ v


def w_att_sdpa_hide_mask(q, k, v, mask=None):
    import torch.nn.functional as F

    return F.scaled_dot_product_attention(tensor(q), tensor(k), tensor(v),
                                          attn_mask=None if mask is None else ~tensor(mask))


def w_att_additive_minus_1e9(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + (1 - np.asarray(mask, dtype=float)) * -1e9
    return special.softmax(scores, axis=-1) @ v


def w_att_torch_mask_after(q, k, v, mask=None):
    import torch

    q, k, v = tensor(q), tensor(k), tensor(v)
    weights = torch.softmax(q @ k.mT / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * tensor(mask)
    return weights @ v


def w_att_torch_fill_minus_1e9_guarded(q, k, v, mask=None):
    import torch

    q, k, v = tensor(q), tensor(k), tensor(v)
    scores = q @ k.mT / math.sqrt(q.shape[-1])
    if mask is None:
        return torch.softmax(scores, dim=-1) @ v
    keep = tensor(mask)
    weights = torch.softmax(scores.masked_fill(~keep, -1e9), dim=-1)
    return weights * keep.any(dim=-1, keepdim=True) @ v


def w_att_exp_no_shift(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    e = np.exp(scores) * (True if mask is None else mask)
    return e / e.sum(axis=-1, keepdims=True) @ v


def w_ms_bert_additive(scores, mask):
    """BERT's additive mask, in the scores' dtype: (1 − mask) · −10000."""
    import torch

    s = tensor(scores)
    return torch.softmax(s + (1.0 - tensor(mask).to(s.dtype)) * -10000.0, dim=-1)


def w_ms_additive_float_mask(scores, mask):
    """mask.float() takes float16 scores up to float32, where −1e9 + s is −1e9 for every s."""
    import torch

    return torch.softmax(tensor(scores) + (1 - tensor(mask).float()) * -1e9, dim=-1)


def w_ms_additive_finfo_min(scores, mask):
    return special.softmax(scores + (1 - mask) * np.finfo(scores.dtype).min, axis=-1)


def w_ms_additive_in_dtype_guarded(scores, mask):
    """(1 − mask) · −1e9 held in float16 is 0 · (−inf) = NaN, guard or not."""
    bias = (1 - mask.astype(scores.dtype)) * -1e9
    return special.softmax(scores + bias, axis=-1) * mask.any(axis=-1, keepdims=True)


def w_ms_torch_dim_0(scores, mask):
    import torch

    s = tensor(scores).masked_fill(~tensor(mask), float("-inf"))
    return torch.softmax(s, dim=0).nan_to_num(0.0)


def w_att_fill_minus_1e9_math_sqrt(q, k, v, mask=None):
    """math.sqrt keeps float16 scores in float16, where −1e9 is −inf."""
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -1e9)
    return special.softmax(scores, axis=-1) @ v


def w_att_fill_minus_1e9_guarded_float16(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / q.shape[-1] ** 0.5
    keep = np.ones(scores.shape, dtype=bool) if mask is None else np.broadcast_to(mask,
                                                                                 scores.shape)
    weights = special.softmax(np.where(keep, scores, -1e9), axis=-1)
    return weights * keep.any(axis=-1, keepdims=True) @ v


def w_att_additive_minus_1e4(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + np.where(mask, 0.0, -1e4)
    return special.softmax(scores, axis=-1) @ v


def w_att_sdpa_finfo_min_mask(q, k, v, mask=None):
    """A float mask of torch.finfo(dtype).min: an empty row is uniform, not zero."""
    import torch
    import torch.nn.functional as F

    q, k, v = tensor(q), tensor(k), tensor(v)
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v)
    bias = (1.0 - tensor(mask).to(q.dtype)) * torch.finfo(q.dtype).min
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def w_att_torch_exp_nan_to_num(q, k, v, mask=None):
    import torch

    q, k, v = tensor(q), tensor(k), tensor(v)
    e = torch.exp(q @ k.mT / math.sqrt(q.shape[-1]))
    if mask is not None:
        e = e * tensor(mask)
    return (e / e.sum(dim=-1, keepdim=True)).nan_to_num(0.0) @ v


WRONG = [
    ("causal_mask", w_causal_triu_torch, "causal_wrong_triangle"),
    ("causal_mask", w_causal_strict_loops, "causal_no_diagonal"),
    ("causal_mask", w_causal_subsequent_mask, "mask_inverted"),
    ("causal_mask", w_causal_tril_minus_one, "causal_no_diagonal"),
    ("padding_mask", w_padding_loops_through, "padding_off_by_one"),
    ("padding_mask", w_padding_torch_key_padding_mask, "mask_inverted"),
    ("padding_mask", w_padding_one_short, "padding_off_by_one"),
    ("combine_masks", w_combine_or_torch, "masks_combined_with_or"),
    ("combine_masks", w_combine_query_rows, "padding_on_queries"),
    ("combine_masks", w_combine_loops_strict, "causal_no_diagonal"),
    ("combine_masks", w_combine_hide_mask, "mask_inverted"),
    ("masked_softmax", w_ms_torch_neg_inf, "fully_masked_row"),
    ("masked_softmax", w_ms_scipy_minus_1e9, "fully_masked_row"),
    ("masked_softmax", w_ms_scipy_then_mask, "mask_after_softmax"),
    ("masked_softmax", w_ms_torch_times_mask, "mask_fill_zero"),
    ("masked_softmax", w_ms_rows_no_shift, "no_max_shift"),
    ("masked_softmax", w_ms_minus_1e9_guarded, "mask_value_overflow"),
    ("masked_softmax", w_ms_torch_boolean_index, "mask_not_broadcast"),
    ("masked_softmax", w_ms_hides_true, "mask_inverted"),
    ("masked_softmax", w_ms_global_max, "global_max_shift"),
    ("masked_softmax", w_ms_bert_additive, "fully_masked_row"),
    ("masked_softmax", w_ms_additive_float_mask, "fully_masked_row"),
    ("masked_softmax", w_ms_additive_finfo_min, "fully_masked_row"),
    ("masked_softmax", w_ms_additive_in_dtype_guarded, "mask_value_overflow"),
    ("masked_softmax", w_ms_torch_dim_0, "wrong_axis"),
    ("attention", w_att_torch_unscaled, "missing_sqrt_d"),
    ("attention", w_att_over_d, "scale_by_d"),
    ("attention", w_att_dot_T, "transpose_all_axes"),
    ("attention", w_att_torch_softmax_dim_minus_2, "wrong_axis"),
    ("attention", w_att_sdpa_hide_mask, "mask_inverted"),
    ("attention", w_att_additive_minus_1e9, "fully_masked_row"),
    ("attention", w_att_torch_mask_after, "mask_after_softmax"),
    ("attention", w_att_torch_fill_minus_1e9_guarded, "mask_value_overflow"),
    ("attention", w_att_exp_no_shift, "no_max_shift"),
    ("attention", w_att_fill_minus_1e9_math_sqrt, "fully_masked_row"),
    ("attention", w_att_fill_minus_1e9_guarded_float16, "mask_value_overflow"),
    ("attention", w_att_additive_minus_1e4, "fully_masked_row"),
    ("attention", w_att_sdpa_finfo_min_mask, "fully_masked_row"),
    ("attention", w_att_torch_exp_nan_to_num, "no_max_shift"),
]


def test_wrong_answers_are_named_nine_times_in_ten():
    assert_named_nine_in_ten(WRONG)


@over_wrong(WRONG)
def test_each_wrong_answer_fails_with_its_name(problem_id, answer, expected):
    assert_named(problem_id, answer, expected)


# ---------------------------------------------------------------------------------------------
# Messages a learner reads, word for word


def test_a_nan_row_is_named_from_the_ordinary_inputs_with_its_first_difference():
    """The name comes from the ordinary (drawn) inputs first, so the input shown is the
    smallest drawn one; too large to print, it is shown by shape and first difference."""
    result = tutor.check("masked_softmax", w_ms_torch_neg_inf, seed=0)
    assert result.title == "NaN or uniform weights for a fully masked row"
    assert result.link == "../notebooks/07_attention_masking.ipynb#Fully-masked-rows"
    assert result.message == (
        "A row with nothing to attend to must give zeros: −inf everywhere gives 0/0 = NaN and a "
        "finite fill such as −1e9 gives uniform weights over masked keys. On "
        "masked_softmax(scores=an array of shape (7, 3, 5, 2), mask=an array of shape (5, 2)) "
        "the answer (shape (7, 3, 5, 2)) first differs at index (0, 0, 4, 0): from index "
        "(0, 0, 4, 0) on it reads [0., 0.] but yours reads [nan, nan].")


def test_a_small_weight_on_a_masked_key_is_not_masked():
    def masked_softmax(scores, mask):
        s = np.where(mask, scores, -100.0)       # "very negative", but exp(−100) > 0
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True) * np.any(mask, axis=-1, keepdims=True)

    result = tutor.check("masked_softmax", masked_softmax, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message == (
        "On masked_softmax(scores=[[[1000., 999., 998.]], [[ 0., 1., 2.]]] (shape (2, 1, 3)), "
        "mask=[ True, True, False]) (two batches 1000 apart), your masked_softmax gives weight "
        "1e-44 at index (1, 0, 2), where the answer is exactly 0: a masked entry must get no "
        "weight at all.")


def test_an_unknown_mistake_gets_expected_versus_got_and_no_guess():
    def causal_mask(n):
        return np.eye(n, dtype=bool)              # only itself

    result = tutor.check("causal_mask", causal_mask, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message == ("On causal_mask(n=2) (two tokens), your causal_mask has 1 of 4 "
                              "entries wrong; at index (1, 0) the answer is True but you have "
                              "False.")


def test_a_missing_head_axis_is_a_shape_message():
    def combine_masks(lengths, n):
        keys = np.arange(n) < np.asarray(lengths)[:, None]
        return np.tril(np.ones((n, n), dtype=bool)) & keys[:, None, :]

    result = tutor.check("combine_masks", combine_masks, seed=0)
    assert result.misconception is None
    assert result.message == ("On combine_masks(lengths=[1, 3], n=4) (lengths as a Python list), "
                              "your combine_masks returned shape (2, 4, 4) instead of "
                              "(2, 1, 4, 4).")


def test_a_pass_lists_the_hard_cases_it_survived():
    result = tutor.check("masked_softmax", ch07.masked_softmax, seed=0)
    assert result.message == (
        "masked_softmax is right on all 17 inputs, including a mask of the scores' shape, a "
        "fully masked row, a key mask of shape (Lk,), a padding mask (B, 1, 1, Lk) with a "
        "length 0, huge scores at masked positions, scores near ±1000, float16 scores with "
        "a fully masked row, a mask per head (H, Lq, Lk), gaps of 900 with the largest score "
        "in every place, two batches 1000 apart, one key per row (Lk = 1), scores "
        "(1, 2, 1, 3) with axes of length 1 and close scores near ±1e4.")


def test_an_additive_mask_is_told_apart_from_a_keep_mask():
    def causal_mask(n):
        import torch

        return torch.nn.Transformer.generate_square_subsequent_mask(n)   # 0 and −inf

    result = tutor.check("causal_mask", causal_mask, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message == (
        "On causal_mask(n=1) (one token), your causal_mask returned 0 where the answer is True, "
        "as an additive mask does (0 to attend, −inf to hide); this problem asks for a "
        "keep-mask: True (or 1) to attend, False (or 0) to hide.")


@pytest.mark.parametrize("problem_id", ["masked_softmax", "attention"])
def test_a_three_axis_mask_is_one_mask_per_head_not_per_sequence(problem_id):
    """(H, Lq, Lk) lines up with (B, H, Lq, Lk) from the right; reading it as (B, Lq, Lk) and
    adding a head axis is wrong, however often the random masks happen not to show it."""
    def per_sequence(mask, ndim):
        mask = np.asarray(mask)
        return mask[:, None] if mask.ndim == 3 and ndim == 4 else mask    # "(B, Lq, Lk)"

    def masked_softmax(scores, mask):
        return masked_softmax_nan_to_num(scores, per_sequence(mask, scores.ndim))

    def attention(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
        keep = True if mask is None else per_sequence(mask, scores.ndim)
        return masked_softmax_nan_to_num(scores, keep) @ v

    answer = {"masked_softmax": masked_softmax, "attention": attention}[problem_id]
    for seed in range(4):
        result = tutor.check(problem_id, answer, seed=seed)
        assert result.status == "failed" and result.misconception is None
        assert "(a mask per head (H, Lq, Lk))" in result.message


def test_a_list_of_lengths_that_is_not_converted_fails_on_that_input():
    def padding_mask(lengths, n):
        return np.arange(n) < lengths[:, None]

    result = tutor.check("padding_mask", padding_mask, seed=0)
    assert result.status == "error"
    assert result.message.startswith("TypeError: list indices must be integers or slices, not "
                                     "tuple at line ")
    assert result.message.endswith("on padding_mask(lengths=[1, 4], n=6).")


# ---------------------------------------------------------------------------------------------
# The references: contracts, edge cases and the lesson's numbers


def test_fully_masked_row_is_zeros_not_nan():
    scores = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = ch07.masked_softmax(scores, np.array([[True, True], [False, False]]))
    assert np.array_equal(w[1], [0.0, 0.0])
    assert np.isclose(w[0].sum(), 1.0)


def test_masked_softmax_masks_before_the_softmax():
    w = ch07.masked_softmax(np.array([2.0, 1.0, 0.0]), np.array([True, True, False]))
    assert np.allclose(w, [0.7311, 0.2689, 0.0], atol=5e-5)
    assert w[2] == 0.0


def test_masked_softmax_survives_huge_scores_at_masked_positions():
    w = ch07.masked_softmax(np.array([0.0, 1.0, 800.0]), np.array([True, True, False]))
    assert np.allclose(w, [0.2689, 0.7311, 0.0], atol=5e-5)


@pytest.mark.parametrize("mask_shape", [(5,), (4, 5), (2, 1, 1, 5), (2, 3, 4, 5)])
def test_masks_broadcast_to_the_scores(mask_shape):
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(2, 3, 4, 5))
    mask = rng.random(mask_shape) < 0.6
    w = ch07.masked_softmax(scores, mask)
    keep = np.broadcast_to(mask, scores.shape)
    assert w.shape == scores.shape
    assert np.all(w[~keep] == 0)
    rows = keep.any(axis=-1)
    assert np.allclose(w.sum(axis=-1)[rows], 1.0) and np.all(w.sum(axis=-1)[~rows] == 0)


def test_attention_equals_torch_sdpa_with_a_combined_mask_and_an_empty_sequence():
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(5)
    q, k, v = (rng.normal(size=(3, 2, 5, d)) for d in (8, 8, 6))
    mask = ch07.combine_masks(np.array([5, 2, 0]), 5)
    ours = ch07.attention(q, k, v, mask)
    theirs = F.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)),
                                            attn_mask=torch.from_numpy(mask)).numpy()
    assert np.allclose(ours, theirs, atol=1e-12)
    assert np.array_equal(ours[2], np.zeros((2, 5, 6)))


def test_attention_handles_rectangular_shapes_without_a_mask():
    rng = np.random.default_rng(6)
    q, k, v = rng.normal(size=(3, 4)), rng.normal(size=(7, 4)), rng.normal(size=(7, 2))
    out = ch07.attention(q, k, v)
    assert out.shape == (3, 2)
    assert np.allclose(out, special.softmax(q @ k.T / 2.0, axis=-1) @ v)


def test_combine_masks_is_causal_and_key_padding_and_broadcasts_over_heads():
    mask = ch07.combine_masks([2, 4], 4)
    assert mask.shape == (2, 1, 4, 4)
    assert np.array_equal(mask[0, 0], [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]])
    assert np.array_equal(mask[1, 0], np.tril(np.ones((4, 4), dtype=bool)))


def test_padding_mask_at_lengths_zero_and_n():
    assert np.array_equal(ch07.padding_mask([0, 3], 3), [[False] * 3, [True] * 3])


def test_every_chapter_07_problem_checks_a_handful_of_inputs():
    """Not a timing test: the checks must not run so many inputs that they could not be quick."""
    for problem in ch07.PROBLEMS:
        assert len(checking.cases_for(problem, 0)) <= 20, problem.id


def test_twins_never_import_torch():
    """The first torch import takes seconds, longer than a twin may run; an import interrupted
    by the time limit leaves torch broken for the rest of the session."""
    source = open(ch07.__file__, encoding="utf-8").read()
    assert "import torch" not in source


# ---------------------------------------------------------------------------------------------
# The explorers: controls move the artists


def test_scaling_explorer_saturates_without_the_scaling_and_not_with_it():
    explorer = ScalingExplorer()
    explorer.controls["scaled"].value = False
    explorer.controls["d"].value = D_MAX
    unscaled = [bar.get_height() for bar in explorer.bars]
    assert max(unscaled) > 0.9
    assert np.isclose(sum(unscaled), 1.0)
    marker_low = explorer.marker.get_ydata()[0]
    explorer.controls["scaled"].value = True
    scaled = [bar.get_height() for bar in explorer.bars]
    assert max(scaled) < max(unscaled)
    assert explorer.marker.get_xdata()[0] == D_MAX
    assert explorer.marker.get_ydata()[0] > marker_low + 1.0
    assert "q·k / √d" in explorer.readout.value


def test_scaling_explorer_scores_have_standard_deviation_square_root_of_d():
    explorer = ScalingExplorer(scaled=False)
    explorer.controls["d"].value = 256
    assert "standard deviation <b>16." in explorer.readout.value or \
        "standard deviation <b>15." in explorer.readout.value
    explorer.controls["scaled"].value = True
    assert "standard deviation <b>1.0" in explorer.readout.value or \
        "standard deviation <b>0.9" in explorer.readout.value


def test_scaling_explorer_uses_the_softmax_it_is_given():
    calls = []

    def softmax(z):
        calls.append(z.shape)
        return np.full(z.shape, 1 / z.size)

    explorer = ScalingExplorer(softmax)
    explorer.controls["d"].value = 10
    assert calls and calls[-1] == (8,)
    assert all(np.isclose(bar.get_height(), 1 / 8) for bar in explorer.bars)


def test_mask_explorer_heatmaps_follow_length_padding_and_causal():
    explorer = MaskExplorer(n=6, padding=2, causal=True)
    mask = np.asarray(explorer.mask_image.get_array().filled(np.nan))
    weights = np.asarray(explorer.weight_image.get_array().filled(np.nan))
    assert mask.shape == weights.shape == (N_MAX, N_MAX)
    assert np.array_equal(mask[:6, :6], np.tril(np.ones((6, 6))) * (np.arange(6) < 4))
    assert np.isnan(mask[6:]).all() and np.isnan(mask[:, 6:]).all()
    assert np.allclose(np.nansum(weights, axis=1)[:6], 1.0)
    assert np.all(weights[:6, 4:6] == 0)                       # padded keys get nothing
    assert explorer.boundaries[0].get_xdata()[0] == 3.5

    explorer.controls["causal"].value = False
    mask = np.asarray(explorer.mask_image.get_array().filled(np.nan))
    assert np.array_equal(mask[:6, :6], np.broadcast_to(np.arange(6) < 4, (6, 6)))

    explorer.controls["padding"].value = 6                      # every position padded
    weights = np.asarray(explorer.weight_image.get_array().filled(np.nan))
    assert np.array_equal(weights[:6, :6], np.zeros((6, 6)))
    assert "6 empty rows" in explorer.readout.value and "not NaN" in explorer.readout.value


def test_mask_explorer_padding_never_exceeds_the_length_and_redraws_once():
    explorer = MaskExplorer(n=8, padding=6)
    renders = explorer.plot.renders
    explorer.controls["n"].value = 3
    assert explorer.controls["padding"].max == 3 and explorer.controls["padding"].value == 3
    assert explorer.plot.renders == renders + 1
    assert "length <b>0</b>" in explorer.readout.value


def test_mask_explorer_uses_the_masked_softmax_it_is_given():
    seen = []

    def masked_softmax(scores, mask):
        seen.append((scores.shape, mask.shape))
        return ch07.masked_softmax(scores, mask)

    explorer = MaskExplorer(masked_softmax, n=5, padding=1)
    explorer.controls["n"].value = 7
    assert seen[-1] == ((7, 7), (7, 7))


def test_an_unrelated_error_is_not_named_after_a_twin_that_raises_the_same_type():
    """A key mask (Lk,) read as a query mask raises ValueError, as the missing_keepdims twin
    does on other inputs; the learner made neither that mistake nor any other twin's."""
    def masked_softmax(scores, mask):
        mask = np.asarray(mask)
        if mask.ndim == 1:
            mask = mask[:, None]                 # (Lk,) read as (Lq, 1)
        s = np.where(mask, scores, -np.inf)
        m = s.max(-1, keepdims=True)
        e = np.exp(s - np.where(np.isfinite(m), m, 0))
        t = e.sum(-1, keepdims=True)
        return e / np.where(t > 0, t, 1)

    def attention(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
        if mask is not None:
            mask = np.squeeze(mask)              # drops the axes that let it broadcast
        return masked_softmax_nan_to_num(scores, True if mask is None else mask) @ v

    for problem_id, answer in (("masked_softmax", masked_softmax), ("attention", attention)):
        for seed in range(3):
            result = tutor.check(problem_id, answer, seed=seed)
            assert result.status == "error" and result.misconception is None, result.message
            assert result.message.startswith("ValueError: ")


# ---------------------------------------------------------------------------------------------
# The same verdict on every seed: twins, right answers and edge-case mistakes over 30 seeds

PROBLEM_IDS = ["causal_mask", "padding_mask", "combine_masks", "masked_softmax", "attention"]
"""The lesson's problems; the practice notebook's further ones are swept in
test_practice_beyond.py."""


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_every_twin_fails_with_its_own_name_on_every_seed(problem_id):
    every_twin_named(problem_id)


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_every_right_answer_passes_on_every_seed(problem_id):
    every_right_answer_passes(problem_id, RIGHT)


# Wrong answers at the edges the contract promises (not copies of twins): each fails on every
# seed, named where the catalogue has a name for it.


def e_causal_squeezed(n):
    return np.squeeze(np.tril(np.ones((n, n), dtype=bool)))


def e_causal_fixed_size(n):
    """A mask made once for a maximum length of 32, then cut to n."""
    return np.tril(np.ones((32, 32), dtype=bool))[:n, :n]


def e_padding_squeezed(lengths, n):
    return np.squeeze(np.arange(n) < np.asarray(lengths)[:, None])


def e_padding_to_longest(lengths, n):
    lengths = np.asarray(lengths)
    return np.arange(lengths.max(initial=0)) < lengths[:, None]


def e_combine_squeezed(lengths, n):
    keys = np.arange(n) < np.asarray(lengths)[:, None]
    return np.squeeze(np.tril(np.ones((n, n), dtype=bool)) & keys[:, None, None, :])


def e_combine_torch_squeeze_head(lengths, n):
    import torch

    keys = torch.arange(n) < tensor(lengths)[:, None]
    mask = torch.tril(torch.ones(n, n, dtype=torch.bool)) & keys[:, None, None, :]
    return mask.squeeze()[:, None] if len(lengths) > 1 else mask.squeeze()


def e_ms_mean_shift(scores, mask):
    s = np.where(mask, scores, np.nan)
    e = np.nan_to_num(np.exp(s - np.nanmean(s, axis=-1, keepdims=True)))
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1.0)


def e_ms_squeezed(scores, mask):
    return np.squeeze(ch07.masked_softmax(scores, mask))


def e_ms_torch_float32(scores, mask):
    """torch.tensor(scores, dtype=torch.float32): scores near 1e4 lose their decimals."""
    import torch

    s = torch.tensor(scores, dtype=torch.float32)
    s = s.masked_fill(~torch.as_tensor(np.asarray(mask, dtype=bool)), float("-inf"))
    m = s.amax(dim=-1, keepdim=True).clamp(min=-3e38)
    e = torch.exp(s - m)
    total = e.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, e / total.clamp(min=1e-30), 0.0).numpy()


def e_att_torch_float32(q, k, v, mask=None):
    """Every input through torch.tensor(..., dtype=torch.float32), then back to numpy."""
    import torch

    out = ch07.attention(*(torch.tensor(x, dtype=torch.float32).numpy() for x in (q, k, v)),
                         mask)
    return np.asarray(out, dtype=np.float32)


def e_att_max_no_keepdims(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    m = np.max(scores, axis=-1)
    e = np.exp(scores - np.where(np.isfinite(m), m, 0.0))
    total = np.sum(e, axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1.0) @ v


def e_att_squeezed(q, k, v, mask=None):
    return np.squeeze(ch07.attention(q, k, v, mask))


def e_att_first_score_shift(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    keep = np.broadcast_to(True if mask is None else mask, scores.shape)
    e = np.where(keep, np.exp(scores - scores[..., :1]), 0.0)
    total = e.sum(axis=-1, keepdims=True)
    return np.nan_to_num(e / np.where(total > 0, total, 1.0)) @ v


EDGE_WRONG = [
    ("causal_mask", e_causal_squeezed, None),
    ("causal_mask", e_causal_fixed_size, None),
    ("padding_mask", e_padding_squeezed, None),
    ("padding_mask", e_padding_to_longest, None),
    ("combine_masks", e_combine_squeezed, None),
    ("combine_masks", e_combine_torch_squeeze_head, None),
    ("masked_softmax", e_ms_mean_shift, "no_max_shift"),
    ("masked_softmax", e_ms_squeezed, None),
    ("masked_softmax", e_ms_torch_float32, "lower_precision"),
    ("attention", e_att_max_no_keepdims, "missing_keepdims"),
    ("attention", e_att_squeezed, None),
    ("attention", e_att_torch_float32, "lower_precision"),
    ("attention", e_att_first_score_shift, "no_max_shift"),
]


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_wrong_answers_at_the_edges_fail_on_every_seed(problem_id):
    every_wrong_answer_named(problem_id, EDGE_WRONG)


# ---------------------------------------------------------------------------------------------
# Beyond the lesson: mistakes a blind test of learners' answers left unnamed, each failing on
# every seed, named first with its misconception (the twins are swept in
# test_practice_beyond.py).


def _key_padding(scores, lengths):
    return np.arange(scores.shape[-1])[None, :] < np.asarray(lengths)[:, None]


def _softmax_or_zeros(s, keep):
    s = np.where(keep, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0.0))
    d = e.sum(axis=-1, keepdims=True)
    return np.where(d > 0, e / np.where(d > 0, d, 1.0), 0.0)


def b_padding_on_queries(scores, lengths):
    return _softmax_or_zeros(scores, _key_padding(scores, lengths)[:, :, None])


def b_padding_on_queries_and_keys(scores, lengths):
    pad = _key_padding(scores, lengths)
    return _softmax_or_zeros(scores, pad[:, :, None] & pad[:, None, :])


def b_padding_after_softmax(scores, lengths):
    return special.softmax(scores, axis=-1) * _key_padding(scores, lengths)[:, None, :]


def b_padding_filled_with_zero(scores, lengths):
    return special.softmax(np.where(_key_padding(scores, lengths)[:, None, :], scores, 0.0),
                           axis=-1)


def b_packed_masks_or(lengths):
    doc = np.repeat(np.arange(len(lengths)), lengths)
    n = len(doc)
    return (doc[:, None] == doc[None, :]) | np.tril(np.ones((n, n), dtype=bool))


def _grad_q_parts(q, k, v, grad_out):
    d = q.shape[-1]
    P = special.softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(d), axis=-1)
    return d, P, grad_out @ np.swapaxes(v, -1, -2)


def b_grad_q_unscaled_at_the_end(q, k, v, grad_out):
    _, P, dP = _grad_q_parts(q, k, v, grad_out)
    return (P * (dP - (dP * P).sum(-1, keepdims=True))) @ k


def b_grad_q_without_the_subtraction(q, k, v, grad_out):
    d, P, dP = _grad_q_parts(q, k, v, grad_out)
    return (P * dP) @ k / np.sqrt(d)


def b_grad_q_no_shift(q, k, v, grad_out):
    d = q.shape[-1]
    with np.errstate(all="ignore"):
        e = np.exp(q @ np.swapaxes(k, -1, -2) / np.sqrt(d))
        P = e / e.sum(-1, keepdims=True)
        dP = grad_out @ np.swapaxes(v, -1, -2)
        return (P * (dP - (dP * P).sum(-1, keepdims=True))) @ k / np.sqrt(d)


def b_grad_q_k_dot_T(q, k, v, grad_out):
    d = q.shape[-1]
    P = special.softmax(q @ k.T / np.sqrt(d), axis=-1)
    dP = grad_out @ v.T
    return (P * (dP - (dP * P).sum(-1, keepdims=True))) @ k / np.sqrt(d)


BEYOND_IDS = ["fix_the_padding_weights", "packed_batch_mask", "attention_grad_q"]

BEYOND_WRONG = [
    ("fix_the_padding_weights", b_padding_on_queries, "padding_on_queries"),
    ("fix_the_padding_weights", b_padding_on_queries_and_keys, "padding_on_queries"),
    ("fix_the_padding_weights", b_padding_after_softmax, "mask_after_softmax"),
    ("fix_the_padding_weights", b_padding_filled_with_zero, "mask_fill_zero"),
    ("packed_batch_mask", b_packed_masks_or, "masks_combined_with_or"),
    ("attention_grad_q", b_grad_q_unscaled_at_the_end, "missing_sqrt_d"),
    ("attention_grad_q", b_grad_q_without_the_subtraction, "lse_treated_as_constant"),
    ("attention_grad_q", b_grad_q_no_shift, "no_max_shift"),
    ("attention_grad_q", b_grad_q_k_dot_T, "transpose_all_axes"),
]


@pytest.mark.parametrize("problem_id", BEYOND_IDS)
def test_wrong_answers_beyond_the_lesson_fail_on_every_seed(problem_id):
    every_wrong_answer_named(problem_id, BEYOND_WRONG)
