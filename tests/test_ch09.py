"""Chapter 09 from the learner's side: right answers written in any style pass (loops, numpy,
torch, scipy), wrong answers written the way learners write them are named with the right
misconception, and what the checks measure (one pass, one chunk in memory, a peak under half
the full logits) is pinned."""

from __future__ import annotations

import math

import numpy as np
import pytest
from learners import (
    SWEEP,
    assert_named,
    assert_named_nine_in_ten,
    fails_every_seed,
    over_right,
    over_wrong,
    passes,
    sweep,
    twins_of,
)
from scipy import special

import tutor
from tutor import registry
from tutor.chapters import ch09_softmax_at_scale as ch09

# ---------------------------------------------------------------------------------------------
# Right answers, in several styles


def online_logaddexp(chunks):
    """Chunk by chunk with np.logaddexp: the running log-sum-exp itself, no (m, s) pair."""
    total = -np.inf
    for c in chunks:
        if len(c):
            total = np.logaddexp(total, special.logsumexp(c))
    return total


def online_python(chunks):
    m, s = -math.inf, 0.0
    for c in chunks:
        for x in c:
            x = float(x)
            if x == -math.inf:
                continue
            if x > m:
                s = s * math.exp(m - x) + 1.0 if m > -math.inf else 1.0
                m = x
            else:
                s += math.exp(x - m)
    return m + math.log(s) if s > 0 else -math.inf


def online_torch(chunks):
    import torch

    total = torch.tensor(-math.inf, dtype=torch.float64)
    for c in chunks:
        t = torch.as_tensor(np.array(c, dtype=np.float64))
        if t.numel():
            total = torch.logaddexp(total, torch.logsumexp(t, 0))
    return total


def merge_logaddexp(a, b):
    """Through log-sum-exps: log s + m of each part, combined, then split again."""
    m = np.maximum(a[0], b[0])
    with np.errstate(divide="ignore"):
        lse = np.logaddexp(np.log(a[1]) + a[0], np.log(b[1]) + b[0])
    safe = np.where(np.isneginf(m), 0.0, m)
    return m, np.where(np.isneginf(m), 0.0, np.exp(lse - safe))


def merge_torch(a, b):
    import torch

    (m1, s1), (m2, s2) = [(torch.as_tensor(np.float64(m)), torch.as_tensor(np.float64(s)))
                          for m, s in (a, b)]
    m1, s1, m2, s2 = (torch.as_tensor(np.asarray(x, dtype=np.float64)) for x in
                      (a[0], a[1], b[0], b[1]))
    m = torch.maximum(m1, m2)
    safe = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    return m, s1 * torch.exp(m1 - safe) + s2 * torch.exp(m2 - safe)


def tiled_two_loops(q, k, v, block, mask=None):
    """Query by query, tile by tile, in plain numpy on 2-d inputs (batches flattened)."""
    q, k, v = (np.asarray(x, dtype=float) for x in (q, k, v))
    keep = np.broadcast_to(True if mask is None else np.asarray(mask),
                           np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (q.shape[-2],
                                                                             k.shape[-2]))
    shape = keep.shape[:-2]
    q, k, v = (np.broadcast_to(x, shape + x.shape[-2:]) for x in (q, k, v))
    out = np.zeros(shape + (q.shape[-2], v.shape[-1]))
    for b in np.ndindex(shape):
        for i in range(q.shape[-2]):
            m, l, acc = -np.inf, 0.0, np.zeros(v.shape[-1])
            for j in range(0, k.shape[-2], block):
                kept = keep[b][i, j:j + block]
                s = k[b][j:j + block] @ q[b][i] / np.sqrt(q.shape[-1])
                s = s[kept]
                if s.size == 0:
                    continue
                m_new = max(m, s.max())
                scale = np.exp(m - m_new) if m > -np.inf else 0.0
                p = np.exp(s - m_new)
                l = l * scale + p.sum()
                acc = acc * scale + p @ v[b][j:j + block][kept]
                m = m_new
            out[b][i] = acc / l if l > 0 else 0.0
    return out


def tiled_merging_stats(q, k, v, block, mask=None):
    """Each tile's own (m, l, acc), merged into the running ones as merge_softmax_stats does."""
    q, k, v = (np.asarray(x, dtype=float) for x in (q, k, v))
    keep = np.asarray(True if mask is None else mask)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    scores = np.where(keep, scores, -np.inf)
    m = l = acc = None
    for j in range(0, k.shape[-2], block):
        s = scores[..., j:j + block]
        mt = s.max(axis=-1, keepdims=True)
        pt = np.exp(s - np.where(np.isinf(mt), 0, mt))
        lt, at = pt.sum(-1, keepdims=True), pt @ v[..., j:j + block, :]
        if m is None:
            m, l, acc = mt, lt, at
            continue
        new = np.maximum(m, mt)
        safe = np.where(np.isinf(new), 0, new)
        r1 = np.where(np.isinf(m), 0, np.exp(m - safe))
        r2 = np.where(np.isinf(mt), 0, np.exp(mt - safe))
        m, l, acc = new, l * r1 + lt * r2, acc * r1 + at * r2
    return acc / np.where(l > 0, l, 1)


def chunked_torch(h, W, targets, chunk):
    import torch
    import torch.nn.functional as F

    h, W = torch.as_tensor(np.asarray(h)), torch.as_tensor(np.asarray(W))
    y = torch.as_tensor(np.asarray(targets, dtype=np.int64))
    total = sum(F.cross_entropy(h[s:s + chunk] @ W.T, y[s:s + chunk], reduction="sum")
                for s in range(0, len(h), chunk))
    return total / len(h)


def chunked_scipy(h, W, targets, chunk):
    h, W, y = np.asarray(h, dtype=float), np.asarray(W, dtype=float), np.asarray(targets)
    losses = []
    for start in range(0, len(h), chunk):
        z = h[start:start + chunk] @ W.T
        losses.append(special.logsumexp(z, axis=1) - z[np.arange(len(z)), y[start:start + chunk]])
    return np.concatenate(losses).mean()


def sparsemax_bisection(z):
    """τ found by bisection on Σ max(z − τ, 0) = 1, row by row."""
    z = np.asarray(z, dtype=float)
    lo = z.max(axis=-1, keepdims=True) - 1.0
    hi = z.max(axis=-1, keepdims=True)
    for _ in range(200):
        mid = (lo + hi) / 2
        too_low = np.maximum(z - mid, 0).sum(axis=-1, keepdims=True) > 1
        lo, hi = np.where(too_low, mid, lo), np.where(too_low, hi, mid)
    return np.maximum(z - (lo + hi) / 2, 0)


def sparsemax_torch(z):
    import torch

    t = torch.as_tensor(np.asarray(z, dtype=np.float64))
    s, _ = torch.sort(t, dim=-1, descending=True)
    k = torch.arange(1, t.shape[-1] + 1, dtype=t.dtype)
    c = s.cumsum(-1)
    support = (1 + k * s > c).sum(-1, keepdim=True)
    tau = (c.gather(-1, support - 1) - 1) / support
    return torch.clamp(t - tau, min=0)


RIGHT = [
    ("online_logsumexp", ch09.online_logsumexp),
    ("online_logsumexp", online_logaddexp),
    ("online_logsumexp", online_python),
    ("online_logsumexp", online_torch),
    ("merge_softmax_stats", ch09.merge_softmax_stats),
    ("merge_softmax_stats", merge_logaddexp),
    ("merge_softmax_stats", merge_torch),
    ("tiled_attention", ch09.tiled_attention),
    ("tiled_attention", tiled_two_loops),
    ("tiled_attention", tiled_merging_stats),
    ("chunked_cross_entropy", ch09.chunked_cross_entropy),
    ("chunked_cross_entropy", chunked_torch),
    ("chunked_cross_entropy", chunked_scipy),
    ("sparsemax", ch09.sparsemax),
    ("sparsemax", sparsemax_bisection),
    ("sparsemax", sparsemax_torch),
]


@over_right(RIGHT)
def test_right_answers_in_any_style_pass(problem_id, answer):
    passes(problem_id, answer)


# ---------------------------------------------------------------------------------------------
# Wrong answers, written as learners write them


def two_passes(chunks):
    m = max(np.max(c) for c in chunks if len(c))
    return m + np.log(sum(np.exp(c - m).sum() for c in chunks))


def concatenated(chunks):
    return special.logsumexp(np.concatenate(list(chunks)))


def appended(chunks):
    seen = []
    for c in chunks:
        seen.append(c)
    return special.logsumexp(np.concatenate(seen))


def sum_not_rescaled(chunks):
    m, s = -np.inf, 0.0
    for c in chunks:
        if len(c) == 0:
            continue
        m = max(m, c.max())
        if m > -np.inf:
            s += np.exp(c - m).sum()
    return m + np.log(s) if s > 0 else -np.inf


def running_max_without_guard(chunks):
    m, s = -np.inf, 0.0
    for c in chunks:
        if len(c) == 0:
            continue
        m_new = max(m, c.max())
        s = s * np.exp(m - m_new) + np.exp(c - m_new).sum()
        m = m_new
    return m + np.log(s)


def max_of_every_chunk(chunks):
    m, s = -np.inf, 0.0
    for c in chunks:
        m_new = max(m, np.max(c))
        if m_new > -np.inf:
            s = s * (np.exp(m - m_new) if m > -np.inf else 0) + np.exp(c - m_new).sum()
            m = m_new
    return m + np.log(s) if s > 0 else -np.inf


def merge_added(a, b):
    return np.maximum(a[0], b[0]), a[1] + b[1]


def merge_one_side(a, b):
    m = np.maximum(a[0], b[0])
    return m, a[1] * np.exp(a[0] - m) + b[1]


def merge_both_unguarded(a, b):
    m = np.maximum(a[0], b[0])
    return m, a[1] * np.exp(a[0] - m) + b[1] * np.exp(b[0] - m)


def tiled_forgets_acc(q, k, v, block, mask=None):
    q, k, v = (np.asarray(x, dtype=float) for x in (q, k, v))
    keep = np.asarray(True if mask is None else mask)
    scores = np.where(keep, q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]), -np.inf)
    m = np.full(scores.shape[:-1] + (1,), -np.inf)
    l = np.zeros_like(m)
    acc = 0.0
    for j in range(0, k.shape[-2], block):
        s = scores[..., j:j + block]
        m_new = np.maximum(m, s.max(-1, keepdims=True))
        safe = np.where(np.isinf(m_new), 0, m_new)
        p = np.exp(s - safe)
        l = l * np.where(np.isinf(m), 0, np.exp(m - safe)) + p.sum(-1, keepdims=True)
        acc = acc + p @ v[..., j:j + block, :]
        m = m_new
    return acc / np.where(l > 0, l, 1)


def tiled_loses_last_tile(q, k, v, block, mask=None):
    return tiled_two_loops(q, k[..., :block * (k.shape[-2] // block), :],
                           v[..., :block * (k.shape[-2] // block), :], block,
                           None if mask is None else
                           np.asarray(mask)[..., :block * (k.shape[-2] // block)])


def chunked_mean_of_means(h, W, targets, chunk):
    means = []
    for s in range(0, len(h), chunk):
        z = h[s:s + chunk] @ W.T
        means.append(np.mean(special.logsumexp(z, axis=1) - z[np.arange(len(z)),
                                                                  targets[s:s + chunk]]))
    return np.mean(means)


def chunked_all_at_once(h, W, targets, chunk):
    z = h @ W.T
    return np.mean(special.logsumexp(z, axis=1) - z[np.arange(len(z)), targets])


def chunked_range_short(h, W, targets, chunk):
    total = 0.0
    for s in range(0, len(h) - chunk, chunk):
        z = h[s:s + chunk] @ W.T
        total += (special.logsumexp(z, axis=1) - z[np.arange(len(z)), targets[s:s + chunk]]).sum()
    return total / len(h)


def sparsemax_no_sort(z):
    z = np.asarray(z, dtype=float)
    k = np.arange(1, z.shape[-1] + 1)
    c = np.cumsum(z, axis=-1)
    support = (1 + k * z > c).sum(-1, keepdims=True)
    tau = (np.take_along_axis(c, support - 1, -1) - 1) / support
    return np.maximum(z - tau, 0)


def sparsemax_k_from_zero(z):
    z = np.asarray(z, dtype=float)
    s = -np.sort(-z, axis=-1)
    k = np.arange(z.shape[-1])
    c = np.cumsum(s, axis=-1)
    support = np.maximum((1 + k * s > c).sum(-1, keepdims=True), 1)
    tau = (np.take_along_axis(c, support - 1, -1) - 1) / support
    return np.maximum(z - tau, 0)


WRONG = [
    ("online_logsumexp", two_passes, "two_pass_stream"),
    ("online_logsumexp", concatenated, "stream_kept_in_memory"),
    ("online_logsumexp", appended, "stream_kept_in_memory"),
    ("online_logsumexp", sum_not_rescaled, "accumulator_not_rescaled"),
    ("online_logsumexp", running_max_without_guard, "neg_inf_nan"),
    ("online_logsumexp", max_of_every_chunk, "empty_chunk"),
    ("merge_softmax_stats", merge_added, "merge_forgets_rescale"),
    ("merge_softmax_stats", merge_one_side, "merge_forgets_rescale"),
    ("merge_softmax_stats", merge_both_unguarded, "neg_inf_nan"),
    ("tiled_attention", tiled_forgets_acc, "accumulator_not_rescaled"),
    ("tiled_attention", tiled_loses_last_tile, "chunk_boundary_off_by_one"),
    ("chunked_cross_entropy", chunked_mean_of_means, "mean_of_chunk_means"),
    ("chunked_cross_entropy", chunked_all_at_once, "full_logits_materialised"),
    ("chunked_cross_entropy", chunked_range_short, "chunk_boundary_off_by_one"),
    ("sparsemax", sparsemax_no_sort, "sparsemax_unsorted_threshold"),
    ("sparsemax", sparsemax_k_from_zero, "sparsemax_support_off_by_one"),
]


def test_wrong_answers_are_named_nine_times_in_ten():
    assert_named_nine_in_ten(WRONG)


@over_wrong(WRONG)
def test_each_wrong_answer_fails_with_its_name(problem_id, answer, expected):
    assert_named(problem_id, answer, expected)


# ---------------------------------------------------------------------------------------------
# What the checks measure, and the numbers behind the lesson


def test_a_stream_is_one_shot_and_keeping_it_is_measured():
    stream = ch09._Stream([np.arange(3.0), np.arange(2.0), np.arange(4.0), np.arange(1.0)])
    kept = list(stream)
    assert list(stream) == []                                     # a second pass sees nothing
    assert stream.most_held == 4 and all(not c.flags.writeable for c in kept)


def test_a_loop_over_the_stream_holds_one_chunk_at_a_time():
    stream = ch09._Stream([np.full(2, float(i)) for i in range(6)])
    for _ in stream:
        pass
    assert stream.most_held <= ch09.HOLD_LIMIT


def test_a_kept_stream_is_told_what_to_keep_instead():
    result = tutor.check("online_logsumexp", concatenated, seed=0)
    assert "kept 4 of the 4 chunks" in result.message or "chunks at once" in result.message
    assert result.misconception == "stream_kept_in_memory"


def test_the_memory_check_names_the_peak_and_the_full_logits():
    result = tutor.check("chunked_cross_entropy", chunked_all_at_once, seed=0)
    assert result.misconception == "full_logits_materialised"
    assert "× the 2.05 MB of the full logits" in result.message


def test_the_reference_chunked_loss_peaks_under_an_eighth_of_the_full_logits():
    rng = np.random.default_rng(0)
    h, W = rng.normal(size=(2048, 16)), rng.normal(size=(2000, 16))
    y = rng.integers(0, 2000, 2048)
    got = ch09._measured_call(ch09.chunked_cross_entropy, tutor.problem.case(h, W, y, 64))
    assert not isinstance(got, ch09.Materialised)
    import tracemalloc

    tracemalloc.start()
    ch09.chunked_cross_entropy(h, W, y, 64)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= 2048 * 2000 * 8 / 8
    assert np.isclose(got, chunked_all_at_once(h, W, y, 64))


def test_merge_stats_reports_which_of_the_pair_is_wrong():
    result = tutor.check("merge_softmax_stats", merge_added, seed=0)
    assert "the sum" in result.message or result.misconception == "merge_forgets_rescale"
    swapped = tutor.check("merge_softmax_stats", lambda a, b: (a[1], a[0]), seed=0)
    assert "returned the max" in swapped.message


def test_merge_stats_with_the_empty_part_changes_nothing():
    m, s = ch09.merge_softmax_stats((-np.inf, 0.0), (2.0, 3.0))
    assert (m, s) == (2.0, 3.0)
    m, s = ch09.merge_softmax_stats((-np.inf, 0.0), (-np.inf, 0.0))
    assert m == -np.inf and s == 0.0


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 50])
def test_tiled_attention_equals_untiled_attention_with_a_causal_mask(block):
    rng = np.random.default_rng(block)
    q, k, v = rng.normal(size=(2, 6, 4)), rng.normal(size=(2, 7, 4)), rng.normal(size=(2, 7, 3))
    mask = np.tri(6, 7, k=1, dtype=bool)
    scores = np.where(mask, q @ np.swapaxes(k, -1, -2) / 2.0, -np.inf)
    untiled = special.softmax(scores, axis=-1) @ v
    assert np.allclose(ch09.tiled_attention(q, k, v, block, mask), untiled)


def test_a_query_with_nothing_to_attend_gets_zeros_not_nan():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(3, 2)), rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    out = ch09.tiled_attention(q, k, v, 2, mask)
    assert np.array_equal(out[1], np.zeros(2)) and np.isfinite(out).all()


def test_sparsemax_of_the_quiz_is_point_nine_point_one_zero():
    assert np.allclose(ch09.sparsemax([1.0, 0.2, -0.5]), [0.9, 0.1, 0.0])
    assert ch09.sparsemax([1.0, 0.2, -0.5])[2] == 0.0
    assert tutor.check("q09_sparsemax", "a").passed


def test_sparsemax_rows_sum_to_one_with_exact_zeros():
    z = np.random.default_rng(3).normal(size=(50, 9))
    p = ch09.sparsemax(z)
    assert np.allclose(p.sum(-1), 1.0) and (p == 0).any() and (p >= 0).all()


def test_online_logsumexp_of_nothing_is_minus_infinity():
    assert ch09.online_logsumexp(iter([])) == -np.inf
    assert ch09.online_logsumexp(iter([np.full(2, -np.inf), np.zeros(0)])) == -np.inf
    assert np.isclose(ch09.online_logsumexp(iter([np.array([1000.0]), np.array([1000.0])])),
                      1000 + np.log(2))


# ---------------------------------------------------------------------------------------------
# Mistakes a blind test of learners' answers left unnamed or misnamed: each fails on every seed,
# named first with its misconception, and so does every twin of the lesson's problems (the
# practice notebook's are swept in test_practice_beyond.py).


def _running_lse(chunks, rescale, add_max=True, part=slice(None)):
    m, s = -np.inf, 0.0
    for c in chunks:
        c = np.asarray(c, dtype=float)[part]
        if c.size == 0 or c.max() == -np.inf:
            continue
        cm = max(m, c.max())
        s = rescale(s, m, cm) + np.exp(c - cm).sum()
        m = cm
    if s <= 0:
        return -np.inf
    return m + np.log(s) if add_max else np.log(s)


def _shrink(s, m, cm):
    return s * np.exp(m - cm)


def lse_without_its_max(chunks):
    return _running_lse(chunks, _shrink, add_max=False)


def lse_rescaled_upside_down(chunks):
    return _running_lse(chunks, lambda s, m, cm: s * np.exp(cm - m) if m > -np.inf else s)


def lse_last_of_each_chunk_dropped(chunks):
    return _running_lse(chunks, _shrink, part=slice(None, -1))


def merge_assuming_first_max(a, b):
    (m1, s1), (m2, s2) = a, b
    with np.errstate(all="ignore"):
        return m1, np.nan_to_num(s1 + s2 * np.exp(np.asarray(m2) - m1), nan=s1)


def _chunk_losses(h, W, targets, chunk, starts, pick):
    total = 0.0
    for i in starts:
        z = h[i:i + chunk] @ W.T
        total += (special.logsumexp(z, 1) - pick(z, targets[i:i + chunk])).sum()
    return total / len(h)


def _picked(z, t):
    return z[np.arange(len(t)), t]


def chunked_ce_floor_count(h, W, targets, chunk):
    return _chunk_losses(h, W, targets, chunk, range(0, len(h) // chunk * chunk, chunk), _picked)


def chunked_ce_columns_of_targets(h, W, targets, chunk):
    return _chunk_losses(h, W, targets, chunk, range(0, len(h), chunk),
                         lambda z, t: z[:, t].mean(1))


def chunked_ce_in_float32(h, W, targets, chunk):
    h, W = h.astype(np.float32), W.astype(np.float32)
    return _chunk_losses(h, W, targets, chunk, range(0, len(h), chunk), _picked)


def _sparsemax_tau(z, divide):
    s = -np.sort(-z, axis=-1)
    k = np.arange(1, z.shape[-1] + 1)
    cs = np.cumsum(s, -1)
    kstar = (1 + k * s > cs).sum(-1, keepdims=True)
    return (np.take_along_axis(cs, kstar - 1, -1) - 1) / divide(kstar)


def sparsemax_over_k_minus_one(z):
    z = np.asarray(z, dtype=float)
    return np.maximum(z - _sparsemax_tau(z, lambda k: k - 1 + (k == 1)), 0)


def sparsemax_along_first_axis(z):
    z = np.asarray(z, dtype=float)
    if z.ndim == 1:
        return ch09.sparsemax(z)
    return np.swapaxes(ch09.sparsemax(np.swapaxes(z, 0, -1)), 0, -1)


def _online_softmax_blocks(x, block, stop, merge, factor):
    x = np.asarray(x, dtype=float)
    parts, maxima, m, s = [], [], -np.inf, 0.0
    for i in range(0, stop(len(x), block), block):
        mb = x[i:i + block].max()
        eb = np.exp(x[i:i + block] - mb)
        parts.append(eb)
        maxima.append(mb)
        m, s = max(m, mb), merge(s, m, mb, eb.sum())
    return np.concatenate([eb * factor(mb, m) / s for eb, mb in zip(parts, maxima, strict=True)])


def _every_block(n, block):
    return n


def _merged(s, m, mb, sb):
    mn = max(m, mb)
    return s * np.exp(m - mn) + sb * np.exp(mb - mn)


def _down(mb, m):
    return np.exp(mb - m)


def online_softmax_sums_just_added(x, block):
    return _online_softmax_blocks(x, block, _every_block, lambda s, m, mb, sb: s + sb, _down)


def online_softmax_rescaled_upside_down(x, block):
    return _online_softmax_blocks(x, block, _every_block, _merged, lambda mb, m: np.exp(m - mb))


def online_softmax_range_stops_a_block_early(x, block):
    return _online_softmax_blocks(x, block, lambda n, b: n - b if n > b else n, _merged, _down)


BLIND_WRONG = [
    ("online_logsumexp", lse_without_its_max, "lse_forgets_max"),
    ("online_logsumexp", lse_rescaled_upside_down, "accumulator_not_rescaled"),
    ("online_logsumexp", lse_last_of_each_chunk_dropped, "chunk_boundary_off_by_one"),
    ("merge_softmax_stats", merge_assuming_first_max, "merge_forgets_rescale"),
    ("chunked_cross_entropy", chunked_ce_floor_count, "chunk_count_rounded_down"),
    ("chunked_cross_entropy", chunked_ce_columns_of_targets, "wrong_target_indexing"),
    ("chunked_cross_entropy", chunked_ce_in_float32, "lower_precision"),
    ("sparsemax", sparsemax_over_k_minus_one, "sparsemax_support_off_by_one"),
    ("sparsemax", sparsemax_along_first_axis, "wrong_axis"),
    ("fix_the_online_softmax", online_softmax_sums_just_added, "merge_forgets_rescale"),
    ("fix_the_online_softmax", online_softmax_rescaled_upside_down, "block_not_rescaled"),
    ("fix_the_online_softmax", online_softmax_range_stops_a_block_early,
     "chunk_boundary_off_by_one"),
]


@pytest.mark.parametrize("problem_id", ["online_logsumexp", "merge_softmax_stats",
                                        "chunked_cross_entropy", "sparsemax"])
def test_wrong_answers_and_twins_fail_and_are_named_on_every_seed(problem_id):
    answers = [(a, e) for p, a, e in BLIND_WRONG if p == problem_id] + twins_of(problem_id)
    sweep(problem_id, answers, SWEEP)


def test_online_softmax_mistakes_beyond_the_lesson_fail_on_every_seed():
    problem = registry.get("fix_the_online_softmax")
    misses = {a.__name__: m for p, a, e in BLIND_WRONG if p == "fix_the_online_softmax"
              if (m := fails_every_seed(problem, a, e))}
    assert not misses, misses
