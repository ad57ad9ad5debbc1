"""Chapter 09, softmax at scale: log-sum-exp in one pass over a stream, merging the (max, sum)
statistics of two parts, FlashAttention-style tiled attention, cross-entropy over a large
vocabulary a few rows at a time, and sparsemax.

Every problem here is the same idea seen from a different side: a softmax's normaliser can be
built piece by piece, as long as each partial sum is rescaled to the running max,
s · e^(m_old − m_new), whenever the max grows.
"""

from __future__ import annotations

import tracemalloc
import weakref

import numpy as np

from tutor import checking
from tutor.chapters import _inputs, blocks
from tutor.problem import Choice, Problem, Quiz, Symptom, Twin, case

CHAPTER = "09_softmax_at_scale"


def _rescale(m_old, m_new):
    """e^(m_old − m_new), with 0 where m_old is −inf (nothing seen yet), never NaN."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(np.isneginf(m_old), 0.0, np.exp(m_old - np.where(np.isneginf(m_new),
                                                                            0.0, m_new)))


# --- online_logsumexp --------------------------------------------------------------------------

class Chunks(list):
    """A case's chunks, shown in messages as the stream the learner's function receives."""

    def __repr__(self) -> str:
        return "iter([" + ", ".join(checking.fmt_value(np.asarray(c)) for c in self) + "])"


class HeldChunks:
    """What the check records instead of a value when the answer kept the stream in memory."""

    def __init__(self, held, total):
        self.held, self.total = held, total

    def __repr__(self) -> str:
        return f"an answer that held {self.held} of the {self.total} chunks at once"


class _Stream:
    """A one-shot iterator over fresh read-only copies of the chunks, which notes how many of
    the chunks it handed out are still alive each time the next one is asked for: a loop keeps
    one (its variable), a list(chunks) keeps them all."""

    def __init__(self, chunks):
        self._chunks, self._refs, self.most_held = list(chunks), [], 0

    def __iter__(self):
        return self

    def __next__(self):
        self.most_held = max(self.most_held, sum(r() is not None for r in self._refs))
        if len(self._refs) == len(self._chunks):
            raise StopIteration
        chunk = np.array(self._chunks[len(self._refs)])
        chunk.flags.writeable = False
        self._refs.append(weakref.ref(chunk))
        return chunk


HOLD_LIMIT = 2
"""Chunks an answer may hold at once: the one it works on and, say, the one before."""


def _stream_call(fn, c):
    stream = _Stream(c.args[0])
    value = fn(stream, *c.args[1:], **c.kwargs)
    if stream.most_held > HOLD_LIMIT and len(c.args[0]) > HOLD_LIMIT + 1:
        return HeldChunks(stream.most_held, len(c.args[0]))
    return value


def _compare_stream(expected, got, tol):
    if isinstance(got, HeldChunks):
        if isinstance(expected, HeldChunks):
            return None
        return (f"kept {got.held} of the {got.total} chunks in memory at once (list(chunks), "
                "np.concatenate, or a list you append to); the stream may not fit in memory, "
                "so keep only a running max and a running sum")
    if isinstance(expected, HeldChunks):
        return "worked chunk by chunk"
    return checking.compare_arrays(expected, got, tol)


def online_logsumexp(chunks):
    """log Σ e^x over every x of every chunk, in one pass: a running max m and a running sum
    s = Σ e^(x − m), rescaled by e^(m_old − m_new) whenever the max grows."""
    m, s = -np.inf, 0.0
    for chunk in chunks:
        x = np.asarray(chunk, dtype=np.float64)
        if x.size == 0:
            continue
        m_new = max(m, float(x.max()))
        if m_new == -np.inf:           # nothing but −inf so far: the sum stays 0
            continue
        s = s * _rescale(m, m_new) + float(np.exp(x - m_new).sum())
        m = m_new
    return np.float64(m + np.log(s)) if s > 0 else np.float64(-np.inf)


def _ol_two_pass(chunks):
    # the max in a first pass, the sum in a second: the second finds the iterator exhausted
    m = max((float(np.max(c)) for c in chunks if np.size(c)), default=-np.inf)
    s = sum(float(np.exp(np.asarray(c) - m).sum()) for c in chunks)
    with np.errstate(divide="ignore"):
        return m + np.log(s)


def _ol_listed(chunks):
    # list(chunks), then the two passes: right, with the whole stream in memory
    chunks = list(chunks)
    return blocks.logsumexp(np.concatenate([np.ravel(c) for c in chunks] or [np.zeros(0)]))


def _ol_not_rescaled(chunks):
    m, s = -np.inf, 0.0
    for c in chunks:
        x = np.asarray(c, dtype=float)
        if x.size == 0:
            continue
        m_new = max(m, float(x.max()))
        if m_new == -np.inf:
            continue
        s = s + float(np.exp(x - m_new).sum())       # the old sum is still relative to m_old
        m = m_new
    return m + np.log(s) if s > 0 else -np.inf


def _ol_running(chunks, *, rescale=_rescale, add_max=True, piece=slice(None)):
    """The one-pass log-sum-exp with one of its mistakes: `rescale` for the old sum, whether
    m is added back at the end, and the part of each chunk read."""
    m, s = -np.inf, 0.0
    with np.errstate(all="ignore"):
        for c in chunks:
            x = np.asarray(c, dtype=float)[piece]
            if x.size == 0 or x.max() == -np.inf:
                continue
            m_new = max(m, float(x.max()))
            s = s * rescale(m, m_new) + float(np.exp(x - m_new).sum())
            m = m_new
        if s <= 0:
            return -np.inf
        return m + np.log(s) if add_max else np.log(s)


def _ol_forgets_max(chunks):
    return _ol_running(chunks, add_max=False)


def _ol_rescaled_upside_down(chunks):
    # e^(m_new − m_old): the old sum grows when it should shrink
    return _ol_running(chunks, rescale=lambda m, m_new: 0.0 if m == -np.inf else
                       np.exp(m_new - m))


def _ol_last_of_chunk_dropped(chunks):
    return _ol_running(chunks, piece=slice(None, -1))


def _ol_no_shift(chunks):
    s = 0.0
    for c in chunks:
        s += float(np.exp(np.asarray(c, dtype=float)).sum())
    with np.errstate(divide="ignore"):
        return np.log(s)


def _ol_neg_inf_nan(chunks):
    m, s = -np.inf, 0.0
    for c in chunks:
        x = np.asarray(c, dtype=float)
        if x.size == 0:
            continue
        m_new = max(m, float(x.max()))
        s = s * np.exp(m - m_new) + float(np.exp(x - m_new).sum())   # −inf − (−inf) = NaN
        m = m_new
    with np.errstate(divide="ignore"):
        return m + np.log(s)


def _ol_empty_chunk(chunks):
    m, s = -np.inf, 0.0
    for c in chunks:
        x = np.asarray(c, dtype=float)
        m_new = max(m, x.max())                       # an empty chunk has no max: ValueError
        if m_new == -np.inf:
            continue
        s = s * _rescale(m, m_new) + float(np.exp(x - m_new).sum())
        m = m_new
    return m + np.log(s) if s > 0 else -np.inf


def _chunked(rng, x, n_chunks):
    cuts = np.sort(rng.integers(0, x.size + 1, n_chunks - 1))
    return Chunks(np.split(x, cuts))


def _stream_cases(rng):
    for _ in range(3):
        n = int(rng.integers(20, 60))
        x = _inputs.logits(rng, (n,), scale=4.0)
        # a rising trend, so the max keeps growing from chunk to chunk
        x = x + np.linspace(0, float(rng.uniform(5, 30)), n)
        yield case(_chunked(rng, x, int(rng.integers(5, 9))))


def _stream_probes():
    ramp = np.arange(12, dtype=float)
    return [
        case(Chunks([ramp[:3], ramp[3:6], ramp[6:9], ramp[9:]]), note="a max that grows with "
             "every chunk"),
        case(Chunks([np.array([1000.0, 999.0]), np.array([1001.0]), np.array([998.0, 1000.5]),
                     np.array([1002.0])]), note="values near 1000"),
        case(Chunks([np.array([1.0, 2.0]), np.zeros(0), np.array([0.5]), np.zeros(0),
                     np.array([3.0])]), note="empty chunks"),
        case(Chunks([np.full(3, -np.inf), np.array([0.0, -np.inf]), np.array([1.0]),
                     np.array([-1.0])]), note="a first chunk of −inf only"),
        case(Chunks([np.full(2, -np.inf), np.zeros(0), np.full(1, -np.inf)]),
             note="nothing but −inf and empty chunks"),
        case(Chunks([]), note="no chunks at all"),
        case(Chunks([np.array([5.0, 1.0, 2.0], dtype=np.float32), np.array([7.0, 2.0],
                                                                           dtype=np.float32),
                     np.array([0.0], dtype=np.float32), np.array([6.5], dtype=np.float32)]),
             note="float32 chunks"),
    ]


# --- merge_softmax_stats -----------------------------------------------------------------------

def merge_softmax_stats(a, b):
    """(m, s) of the union of two parts from each part's (m_i, s_i), s_i = Σ e^(x − m_i):
    m = max(m1, m2) and s = s1·e^(m1 − m) + s2·e^(m2 − m). (−inf, 0) is the empty part."""
    (m1, s1), (m2, s2) = a, b
    m1, s1, m2, s2 = (np.asarray(x, dtype=np.float64) for x in (m1, s1, m2, s2))
    m = np.maximum(m1, m2)
    return m, s1 * _rescale(m1, m) + s2 * _rescale(m2, m)


def _merge_no_rescale(a, b):
    (m1, s1), (m2, s2) = a, b
    return np.maximum(m1, m2), np.add(s1, s2)


def _merge_rescale_one_side(a, b):
    (m1, s1), (m2, s2) = a, b
    m = np.maximum(m1, m2)
    with np.errstate(invalid="ignore"):
        return m, np.add(s1, np.multiply(s2, np.exp(np.subtract(m2, m))))


def _merge_rescale_first_only(a, b):
    (m1, s1), (m2, s2) = a, b
    m = np.maximum(m1, m2)
    with np.errstate(invalid="ignore"):
        return m, np.add(np.multiply(s1, np.exp(np.subtract(m1, m))), s2)


def _merge_neg_inf_nan(a, b):
    (m1, s1), (m2, s2) = a, b
    m = np.maximum(m1, m2)
    with np.errstate(invalid="ignore"):
        return m, np.multiply(s1, np.exp(np.subtract(m1, m))) + \
            np.multiply(s2, np.exp(np.subtract(m2, m)))


def _merge_unshifted(a, b):
    # back to Σ e^x of each part, added, then shifted again: e^1000 overflows
    (m1, s1), (m2, s2) = a, b
    m = np.maximum(m1, m2)
    with np.errstate(all="ignore"):
        return m, (np.multiply(s1, np.exp(m1)) + np.multiply(s2, np.exp(m2))) / np.exp(m)


def _merge_rescale_upside_down(a, b):
    (m1, s1), (m2, s2) = a, b
    m = np.maximum(m1, m2)
    with np.errstate(all="ignore"):
        return m, np.multiply(s1, np.exp(np.subtract(m, m1))) + \
            np.multiply(s2, np.exp(np.subtract(m, m2)))


def _merge_first_max_assumed(a, b):
    # m1 taken as the max: only the second part rescaled, by e^(m2 − m1)
    (m1, s1), (m2, s2) = a, b
    with np.errstate(all="ignore"):
        return m1, np.nan_to_num(np.add(s1, np.multiply(s2, np.exp(np.subtract(m2, m1)))),
                                 nan=s1)


def _stats(x):
    """(max, Σ e^(x − max)) along the last axis of a part."""
    m = np.max(x, axis=-1)
    return m, np.exp(x - m[..., None]).sum(axis=-1)


def _merge_cases(rng):
    for shape in ((), (3,), (2, 4)):
        left = _inputs.logits(rng, shape + (int(rng.integers(2, 6)),), scale=3.0)
        right = _inputs.logits(rng, shape + (int(rng.integers(2, 6)),), scale=3.0)
        right = right + rng.uniform(-8, 8, shape + (1,))
        yield case(_stats(left), _stats(right))


def _merge_probes():
    return [
        case((2.0, 1.5), (5.0, 1.2), note="the second part has the larger max"),
        case((np.float64(3.0), np.float64(2.0)), (np.float64(3.0), np.float64(1.0)),
             note="equal maxima"),
        case((1000.0, 1.1), (1001.0, 1.3), note="maxima near 1000"),
        case((-np.inf, 0.0), (0.5, 2.0), note="an empty first part (−inf, 0)"),
        case((-np.inf, 0.0), (-np.inf, 0.0), note="two empty parts"),
        case((np.array([1.0, -np.inf, 4.0]), np.array([2.0, 0.0, 1.0])),
             (np.array([3.0, 2.0, -np.inf]), np.array([1.5, 1.0, 0.0])),
             note="arrays of statistics, with empty parts"),
    ]


def _compare_stats(expected, got, tol):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        what = type(got).__name__ if not isinstance(got, (tuple, list)) else \
            f"{len(got)} values"
        return f"returned {what}; return the pair (m, s)"
    reason = checking.compare_arrays(expected[0], got[0], tol)
    if reason:
        return reason.replace("returned", "returned the max", 1)
    reason = checking.compare_arrays(expected[1], got[1], tol)
    if reason:
        return reason.replace("returned", "returned the sum", 1) + " (the max is right)"
    return None


# --- tiled_attention ---------------------------------------------------------------------------

def _scores(q, k):
    return q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])


def _keep(q, k, mask):
    """The keep-mask broadcast to the full shape of the scores (…, Lq, Lk)."""
    scores = np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (q.shape[-2], k.shape[-2])
    keep = np.asarray(True if mask is None else mask, dtype=bool)
    return np.broadcast_to(keep, np.broadcast_shapes(keep.shape, scores))


def tiled_attention(q, k, v, block, mask=None):
    """softmax(q kᵀ / √d, masked) v, visiting the keys `block` at a time with a running max m,
    sum l and accumulator acc per query, each rescaled by e^(m_old − m_new) as the max grows.
    A query that may attend to no key gets zeros."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    keep = _keep(q, k, mask)
    m = np.full(keep.shape[:-1] + (1,), -np.inf)          # running max, per query
    l = np.zeros(keep.shape[:-1] + (1,))                  # running Σ e^(s − m)
    acc = np.zeros(keep.shape[:-1] + (v.shape[-1],))      # running Σ e^(s − m) v
    for start in range(0, k.shape[-2], block):
        tile = slice(start, start + block)
        s = np.where(keep[..., tile], _scores(q, k[..., tile, :]), -np.inf)
        m_new = np.maximum(m, s.max(axis=-1, keepdims=True))
        p = np.exp(s - np.where(np.isneginf(m_new), 0.0, m_new))   # all masked so far: 0
        scale = _rescale(m, m_new)
        l = l * scale + p.sum(axis=-1, keepdims=True)
        acc = acc * scale + p @ v[..., tile, :]
        m = m_new
    return acc / np.where(l > 0, l, 1.0)


def _tiled(q, k, v, block, mask, *, rescale_acc=True, rescale_sum=True, stop=None, width=None,
           guard=True, scale=None):
    """The tiled loop with one of its classic mistakes switched on."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    keep = _keep(q, k, mask)
    Lk = k.shape[-2]
    m = np.full(keep.shape[:-1] + (1,), -np.inf)
    l = np.zeros(keep.shape[:-1] + (1,))
    acc = np.zeros(keep.shape[:-1] + (v.shape[-1],))
    d_scale = np.sqrt(q.shape[-1]) if scale is None else scale
    with np.errstate(all="ignore"):
        for start in range(0, Lk if stop is None else stop(Lk), block):
            tile = slice(start, start + (block if width is None else width(block)))
            s = np.where(keep[..., tile], q @ np.swapaxes(k[..., tile, :], -1, -2) / d_scale,
                         -np.inf)
            m_new = np.maximum(m, s.max(axis=-1, keepdims=True))
            if guard:
                p, factor = np.exp(s - np.where(np.isneginf(m_new), 0.0, m_new)), \
                    _rescale(m, m_new)
            else:
                p, factor = np.exp(s - m_new), np.exp(m - m_new)
            l = (l * factor if rescale_sum else l) + p.sum(axis=-1, keepdims=True)
            acc = (acc * factor if rescale_acc else acc) + p @ v[..., tile, :]
            m = m_new
        return acc / np.where(l > 0, l, 1.0) if guard else acc / l


def _ta_acc_not_rescaled(q, k, v, block, mask=None):
    return _tiled(q, k, v, block, mask, rescale_acc=False)


def _ta_nothing_rescaled(q, k, v, block, mask=None):
    return _tiled(q, k, v, block, mask, rescale_acc=False, rescale_sum=False)


def _ta_last_tile_dropped(q, k, v, block, mask=None):
    return _tiled(q, k, v, block, mask, stop=lambda Lk: Lk - block)


def _ta_tile_one_short(q, k, v, block, mask=None):
    return _tiled(q, k, v, block, mask, width=lambda b: b - 1)


def _ta_neg_inf_nan(q, k, v, block, mask=None):
    return _tiled(q, k, v, block, mask, guard=False)


def _ta_unscaled(q, k, v, block, mask=None):
    return _tiled(q, k, v, block, mask, scale=1.0)


def _ta_over_d(q, k, v, block, mask=None):
    return _tiled(q, k, v, block, mask, scale=float(np.shape(q)[-1]))


def _ta_normalised_per_tile(q, k, v, block, mask=None):
    # each tile's softmax · v added up: every tile gets a total weight of 1
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    keep = _keep(q, k, mask)
    out = 0.0
    with np.errstate(all="ignore"):
        for start in range(0, k.shape[-2], block):
            tile = slice(start, start + block)
            s = np.where(keep[..., tile], _scores(q, k[..., tile, :]), -np.inf)
            m = s.max(axis=-1, keepdims=True)
            p = np.exp(s - np.where(np.isneginf(m), 0.0, m))
            t = p.sum(axis=-1, keepdims=True)
            out = out + (p / np.where(t > 0, t, 1.0)) @ v[..., tile, :]
    return out


def _tiled_cases(rng):
    for ndim, masked in ((2, False), (2, True), (3, True)):
        Lq, Lk, d, dv = (int(x) for x in rng.choice(np.arange(3, 14), 4, replace=False))
        block = int(rng.integers(2, 5))
        while Lk % block == 0:
            Lk += 1
        batch = (int(rng.integers(2, 4)),) if ndim == 3 else ()
        q = rng.normal(0, 1.5, batch + (Lq, d))
        # keys that grow along the sequence, so that later tiles raise the running max
        k = rng.normal(0, 1.5, batch + (Lk, d)) * np.linspace(0.3, 2.0, Lk)[:, None]
        v = rng.normal(0, 1, batch + (Lk, dv))
        mask = (rng.random(batch + (Lq, Lk)) < 0.75) if masked else None
        yield case(q, k, v, block, mask=mask) if masked else case(q, k, v, block)


def _tiled_probes():
    rng = np.random.default_rng(9)
    q = rng.normal(0, 1, (4, 3))
    k = rng.normal(0, 1, (7, 3)) * np.arange(1, 8)[:, None]
    v = rng.normal(0, 1, (7, 2))
    causal = np.tri(4, 7, k=3, dtype=bool)
    late = np.arange(7) >= 3                              # the first tile of 3 keys is hidden
    empty = np.ones((4, 7), dtype=bool)
    empty[2] = False
    return [
        case(q, k, v, 3, note="7 keys in tiles of 3"),
        case(q, k, v, 2, mask=causal, note="a causal mask"),
        case(q, k, v, 3, mask=late, note="a first tile with every key masked"),
        case(q, k, v, 4, mask=empty, note="a query that may attend to nothing"),
        case(q, k, v, 7, note="one tile holding every key"),
        case(q, k, v, 1, note="tiles of one key"),
        case(q * 30, k, v, 3, note="large scores"),
    ]


# --- chunked_cross_entropy ---------------------------------------------------------------------

class Materialised:
    """What the check records when the answer's peak memory was that of the full logits."""

    def __init__(self, peak, full):
        self.peak, self.full = peak, full

    def __repr__(self) -> str:
        return (f"an answer whose memory peaked at {self.peak / 1e6:.2f} MB, "
                f"{self.peak / self.full:.2f} × the {self.full / 1e6:.2f} MB of the full logits")


PEAK_LIMIT = 0.5
"""Peak memory an answer may use, as a fraction of the full (N, V) float64 logits, when the
chunks are at most an eighth of the rows."""


def _measured_call(fn, c):
    """Call fn with numpy's allocations traced; the peak above the start is compared with the
    size of the full logits when the chunks are small enough for the difference to show."""
    h, W = c.args[0], c.args[1]
    chunk = c.args[3] if len(c.args) > 3 else c.kwargs["chunk"]
    N, V = np.shape(h)[0], np.shape(W)[0]
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        value = fn(*c.args, **c.kwargs)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()
    full = N * V * 8
    if N >= 8 * chunk and full >= 1_000_000 and peak > PEAK_LIMIT * full:
        return Materialised(peak, full)
    return value


def _compare_memory(expected, got, tol):
    if isinstance(got, Materialised):
        if isinstance(expected, Materialised):
            return None
        return (f"used {got.peak / 1e6:.2f} MB at its peak, {got.peak / got.full:.2f} × the "
                f"{got.full / 1e6:.2f} MB of the full logits: compute the logits of one chunk "
                "of rows at a time")
    if isinstance(expected, Materialised):
        return "stayed within the memory of a few chunks"
    return checking.compare_arrays(expected, got, tol)


def _chunk_loss(h, W, y):
    """Σ over the rows of one chunk of logsumexp(z) − z_y, z = h Wᵀ."""
    z = h @ W.T
    return float(np.sum(blocks.logsumexp(z, axis=-1) - z[np.arange(len(y)), y]))


def chunked_cross_entropy(h, W, targets, chunk):
    """Mean over the N rows of −log softmax(h Wᵀ)[n, targets[n]], with the logits of only
    `chunk` rows in memory at a time."""
    h, W = np.asarray(h, dtype=np.float64), np.asarray(W, dtype=np.float64)
    y = np.asarray(targets)
    N = len(h)
    total = 0.0
    for start in range(0, N, chunk):
        rows = slice(start, start + chunk)
        total += _chunk_loss(h[rows], W, y[rows])
    return np.float64(total / N)


def _ce_full(h, W, targets, chunk):
    z = np.asarray(h, dtype=float) @ np.asarray(W, dtype=float).T
    y = np.asarray(targets)
    return np.mean(blocks.logsumexp(z, axis=-1) - z[np.arange(len(y)), y])


def _ce_loop(h, W, targets, chunk, *, stop=None, width=None, reduce="all", piece=None):
    h, W, y = np.asarray(h, dtype=float), np.asarray(W, dtype=float), np.asarray(targets)
    N = len(h)
    losses = []
    with np.errstate(all="ignore"):
        for start in range(0, N if stop is None else stop(N, chunk), chunk):
            rows = slice(start, start + (chunk if width is None else width(chunk)))
            z = h[rows] @ W.T
            losses.append((piece or _piece)(z, y[rows]))
    if reduce == "chunk means":
        return np.mean([np.mean(x) for x in losses])
    total = sum(float(np.sum(x)) for x in losses)
    return total if reduce == "sum" else total / N


def _piece(z, y):
    return blocks.logsumexp(z, axis=-1) - z[np.arange(len(y)), y]


def _piece_log_of_softmax(z, y):
    p = blocks.softmax(z, axis=-1)
    with np.errstate(divide="ignore"):
        return -np.log(p[np.arange(len(y)), y])


def _piece_mean_of_columns(z, y):
    # z[:, y] is (rows, rows): each row's logits at every target of the chunk
    return blocks.logsumexp(z, axis=-1) - z[:, y].mean(axis=1)


def _piece_no_shift(z, y):
    return np.log(np.exp(z).sum(axis=-1)) - z[np.arange(len(y)), y]


def _ce_last_chunk_dropped(h, W, targets, chunk):
    return _ce_loop(h, W, targets, chunk, stop=lambda N, c: N - c)


def _ce_chunk_one_short(h, W, targets, chunk):
    return _ce_loop(h, W, targets, chunk, width=lambda c: c - 1)


def _ce_chunks_floored(h, W, targets, chunk):
    return _ce_loop(h, W, targets, chunk, stop=lambda N, c: N // c * c)


def _ce_targets_as_columns(h, W, targets, chunk):
    return _ce_loop(h, W, targets, chunk, piece=_piece_mean_of_columns)


def _ce_in_float32(h, W, targets, chunk):
    """The loop in float32 arithmetic: h and W cast down, the sum of losses a Python float."""
    h, W, y = np.asarray(h, np.float32), np.asarray(W, np.float32), np.asarray(targets)
    total = 0.0
    for start in range(0, len(h), chunk):
        z = h[start:start + chunk] @ W.T
        m = z.max(axis=-1, keepdims=True)
        lse = (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[:, 0]
        total += float(np.sum(lse - z[np.arange(len(z)), y[start:start + chunk]]))
    return total / len(h)


def _ce_mean_of_means(h, W, targets, chunk):
    return _ce_loop(h, W, targets, chunk, reduce="chunk means")


def _ce_summed(h, W, targets, chunk):
    return _ce_loop(h, W, targets, chunk, reduce="sum")


def _ce_log_of_softmax(h, W, targets, chunk):
    return _ce_loop(h, W, targets, chunk, piece=_piece_log_of_softmax)


def _ce_no_shift(h, W, targets, chunk):
    return _ce_loop(h, W, targets, chunk, piece=_piece_no_shift)


def _ce_cases(rng):
    for _ in range(3):
        N, V, d = int(rng.integers(9, 40)), int(rng.integers(5, 30)), int(rng.integers(2, 6))
        chunk = int(rng.integers(2, 8))
        while N % chunk == 0:
            N += 1
        h = rng.normal(0, 1, (N, d))
        W = rng.normal(0, 1.5, (V, d))
        yield case(h, W, rng.integers(0, V, N), chunk)


def _ce_probes():
    rng = np.random.default_rng(11)
    h, W = rng.normal(0, 1, (10, 3)), rng.normal(0, 1, (6, 3))
    y = rng.integers(0, 6, 10)
    big_h, big_W = rng.normal(0, 1, (512, 8)), rng.normal(0, 1, (500, 8))
    return [
        case(h, W, y, 4, note="10 rows in chunks of 4"),
        case(h, W, y, 5, note="10 rows in chunks of 5"),
        case(h, W, y, 10, note="one chunk holding every row"),
        # W = I makes h the logits themselves
        case(np.array([[0.0, -800.0, -5.0], [-3.0, 0.0, -900.0], [-1.0, -2.0, 0.0]]), np.eye(3),
             np.array([1, 2, 0]), 2, note="targets 800 below their row's max"),
        case(np.array([[1000.0, 990.0, 995.0], [980.0, 1001.0, 1000.0], [1.0, 2.0, 3.0]]),
             np.eye(3), np.array([0, 1, 2]), 2, note="logits near 1000"),
        case(big_h, big_W, rng.integers(0, 500, 512), 32,
             note="512 rows and 500 classes in chunks of 32, memory measured"),
    ]


# --- sparsemax ---------------------------------------------------------------------------------

def sparsemax(z):
    """The Euclidean projection of z onto the probability simplex, along the last axis:
    p = max(z − τ, 0), with τ chosen so that p sums to one (Martins & Astudillo, 2016).

    Sorted decreasingly, z_(1) ≥ z_(2) ≥ …, the support is the largest k with
    1 + k·z_(k) > Σ_{j ≤ k} z_(j), and τ = (Σ_{j ≤ k} z_(j) − 1) / k.
    """
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z - _tau(z), 0.0)


def _support(z):
    """(k*, the sum of the k* largest entries) along the last axis, each keeping that axis."""
    s = -np.sort(-z, axis=-1)
    k = np.arange(1, z.shape[-1] + 1)
    cumulative = np.cumsum(s, axis=-1)
    support = (1 + k * s > cumulative).sum(axis=-1, keepdims=True)
    return support, np.take_along_axis(cumulative, support - 1, axis=-1)


def _tau(z):
    support, total = _support(z)
    return (total - 1) / support


def _sm_from(z, s, ks, strict=True):
    cumulative = np.cumsum(s, axis=-1)
    cond = (1 + ks * s > cumulative) if strict else (1 + ks * s >= cumulative - 1e-300)
    support = np.maximum(cond.sum(axis=-1, keepdims=True), 1)
    tau = (np.take_along_axis(cumulative, support - 1, axis=-1) - 1) / support
    return np.maximum(z - tau, 0.0)


def _sm_unsorted(z):
    z = np.asarray(z, dtype=float)
    return _sm_from(z, z, np.arange(1, z.shape[-1] + 1))


def _sm_ascending(z):
    z = np.asarray(z, dtype=float)
    return _sm_from(z, np.sort(z, axis=-1), np.arange(1, z.shape[-1] + 1))


def _sm_zero_based(z):
    z = np.asarray(z, dtype=float)
    s = -np.sort(-z, axis=-1)
    return _sm_from(z, s, np.arange(z.shape[-1]))


def _sm_k_plus_one(z):
    # τ divided by k + 1: the count of the support read as an index
    z = np.asarray(z, dtype=float)
    support, total = _support(z)
    return np.maximum(z - (total - 1) / (support + 1), 0.0)


def _sm_k_minus_one(z):
    # τ divided by k* − 1 (1 when k* = 1): the support's last index read as its size
    z = np.asarray(z, dtype=float)
    support, total = _support(z)
    return np.maximum(z - (total - 1) / np.maximum(support - 1, 1), 0.0)


def _sm_first_axis(z):
    z = np.asarray(z, dtype=float)
    return np.moveaxis(sparsemax(np.moveaxis(z, 0, -1)), -1, 0)


def _sm_not_clipped(z):
    z = np.asarray(z, dtype=float)
    return z - _tau(z)                      # negative entries left in


def _sm_flattened(z):
    # one sort of the whole array: the rows' values mixed together
    z = np.asarray(z, dtype=float)
    flat = z.reshape(-1)
    s = -np.sort(-flat)
    k = np.arange(1, flat.size + 1)
    cumulative = np.cumsum(s)
    support = int((1 + k * s > cumulative).sum())
    return np.maximum(z - (cumulative[support - 1] - 1) / support, 0.0)


def _sm_softmax(z):
    return blocks.softmax(z, axis=-1)


def _sparsemax_cases(rng):
    for ndim in (1, 2, 3):
        shape = _inputs.shape(rng, ndim, low=3, high=7)
        yield case(_inputs.logits(rng, shape, scale=1.0))


def _sparsemax_probes():
    return [
        case(np.array([0.5, 2.0, 0.1, 1.8]), note="the two largest entries not first"),
        case(np.array([[1.0, 0.2, 0.9, -1.0], [0.3, 0.3, 0.3, 0.3]]), note="two rows, one "
             "with ties"),
        case(np.array([3.0, 0.0, 0.0]), note="a clear winner: one-hot"),
        case(np.array([0.1, 0.0, 0.05]), note="close values: all kept"),
        case(np.array([1000.0, 999.5, 990.0]), note="values near 1000"),
        case(np.array([[-2.0, 0.4, 1.1, 0.9, -0.3]], dtype=np.float32), note="float32"),
        # float32 holds 1e4 to about 0.001: these values' decimals are lost there.
        case(np.array([10000.37, 10000.81, 9999.95, 10000.12]), note="close values near 1e4"),
    ]


# --- the problems ------------------------------------------------------------------------------

PROBLEMS = [
    Problem(
        id="online_logsumexp", chapter=CHAPTER, signature="online_logsumexp(chunks)",
        difficulty="easy", points=1,
        statement="`chunks` is a one-shot iterator of 1-D float arrays, the pieces of one long "
                  "vector that does not fit in memory. Return log Σ e^x over all their entries "
                  "in one pass, holding one chunk at a time: keep a running max m and a running "
                  "sum s = Σ e^(x − m), and rescale s when m grows. Chunks may be empty or hold "
                  "−inf; with no finite entry at all, return −inf.",
        reference=online_logsumexp, generate=_stream_cases, probes=_stream_probes,
        call=_stream_call, compare=_compare_stream,
        twins=(Twin("two_pass_stream", _ol_two_pass),
               Twin("stream_kept_in_memory", _ol_listed),
               Twin("accumulator_not_rescaled", _ol_not_rescaled),
               Twin("no_max_shift", _ol_no_shift),
               Twin("accumulator_not_rescaled", _ol_rescaled_upside_down),
               Twin("lse_forgets_max", _ol_forgets_max),
               Twin("chunk_boundary_off_by_one", _ol_last_of_chunk_dropped),
               Twin("neg_inf_nan", _ol_neg_inf_nan),
               Twin("empty_chunk", _ol_empty_chunk)),
        hints=("One loop over the chunks, two running numbers: the largest value so far m (start "
               "at −inf) and the sum s of e^(x − m) over everything seen (start at 0).",
               "When a chunk raises the max from m to m_new, the old sum is relative to the old "
               "max: multiply it by e^(m − m_new), then add the chunk's Σ e^(x − m_new). Skip "
               "empty chunks, and while m_new is still −inf there is nothing to add.",
               "for c in chunks: if c.size == 0: continue; m_new = max(m, c.max()); if m_new == "
               "-np.inf: continue; s = s * np.exp(m - m_new) + np.exp(c - m_new).sum(); m = "
               "m_new. At the end: m + np.log(s) if s > 0 else -np.inf"),
    ),
    Problem(
        id="merge_softmax_stats", chapter=CHAPTER, signature="merge_softmax_stats(a, b)",
        difficulty="easy", points=1,
        statement="a = (m1, s1) and b = (m2, s2) describe two parts of a vector: m_i is the max "
                  "of part i and s_i = Σ e^(x − m_i) over it. Return the pair (m, s) for the two "
                  "parts together. (−inf, 0) is an empty part and must change nothing; maxima "
                  "may be near 1000; the m_i and s_i may also be arrays (one pair per row), to "
                  "be merged entry by entry.",
        reference=merge_softmax_stats, generate=_merge_cases, probes=_merge_probes,
        compare=_compare_stats,
        twins=(Twin("merge_forgets_rescale", _merge_no_rescale),
               Twin("merge_forgets_rescale", _merge_rescale_one_side),
               Twin("merge_forgets_rescale", _merge_rescale_first_only),
               Twin("merge_forgets_rescale", _merge_rescale_upside_down),
               Twin("merge_forgets_rescale", _merge_first_max_assumed),
               Twin("neg_inf_nan", _merge_neg_inf_nan),
               Twin("no_max_shift", _merge_unshifted)),
        hints=("The union's max is the larger of the two. Each s_i counts e^(x − m_i): relative "
               "to its own max, not to the union's.",
               "Rescale each sum to the common max m: s_i · e^(m_i − m), which is 1 for the part "
               "that holds the max and smaller for the other. An empty part (−inf, 0) must give "
               "0 there, not e^(−inf − (−inf)) = NaN.",
               "m = np.maximum(m1, m2); r_i = np.where(m_i == -np.inf, 0, np.exp(m_i - m)) (use "
               "a safe m where both are −inf); return m, s1 * r1 + s2 * r2"),
    ),
    Problem(
        id="chunked_cross_entropy", chapter=CHAPTER,
        signature="chunked_cross_entropy(h, W, targets, chunk)", difficulty="medium", points=2,
        statement="A language model's last layer: hidden states h (N, d), the output matrix W "
                  "(V, d), so the logits are z = h Wᵀ of shape (N, V), and integer targets (N,). "
                  "Return the mean cross-entropy over the N rows without ever holding all of "
                  "z: take `chunk` rows at a time (the last chunk may be shorter). The check "
                  "measures your peak memory on 512 rows × 500 classes in chunks of 32: it must "
                  "stay under half the size of the full logits. Logits may be huge.",
        reference=chunked_cross_entropy, generate=_ce_cases, probes=_ce_probes,
        invariants=(checking.non_negative("the loss"),),
        call=_measured_call, compare=_compare_memory,
        twins=(Twin("full_logits_materialised", _ce_full),
               Twin("lower_precision", _ce_in_float32),
               Twin("chunk_count_rounded_down", _ce_chunks_floored),
               Twin("wrong_target_indexing", _ce_targets_as_columns),
               Twin("chunk_boundary_off_by_one", _ce_last_chunk_dropped),
               Twin("chunk_boundary_off_by_one", _ce_chunk_one_short),
               Twin("mean_of_chunk_means", _ce_mean_of_means),
               Twin("sum_not_mean", _ce_summed),
               Twin("nll_sign", blocks.negated(chunked_cross_entropy)),
               Twin("log_of_softmax", _ce_log_of_softmax),
               Twin("no_max_shift", _ce_no_shift)),
        hints=("Loop over row ranges start = 0, chunk, 2·chunk, … up to N, with h[start:start + "
               "chunk] (Python slices stop at the end, so the last chunk is simply shorter).",
               "For each chunk, z = h_chunk @ W.T is (rows, V); its losses are logsumexp(z) − "
               "z[row, target] with the max shift. Add up the losses of every row, and divide "
               "by N once at the end: a mean of chunk means weighs a short last chunk wrongly.",
               "total = 0.0; for s in range(0, N, chunk): z = h[s:s+chunk] @ W.T; m = "
               "z.max(1, keepdims=True); lse = (m + np.log(np.exp(z - m).sum(1, keepdims=True)))"
               "[:, 0]; total += (lse - z[np.arange(len(z)), targets[s:s+chunk]]).sum(). "
               "return total / N"),
    ),
    Problem(
        id="sparsemax", chapter=CHAPTER, signature="sparsemax(z)", difficulty="medium",
        points=2,
        statement="Sparsemax along the last axis: the point of the probability simplex closest "
                  "to z, p = max(z − τ, 0) with the threshold τ chosen so that each row sums to "
                  "one. Unlike softmax, it gives exact zeros. z has any shape; rows may have ties "
                  "and values near 1000.",
        reference=sparsemax, generate=_sparsemax_cases, probes=_sparsemax_probes,
        symptoms=(Symptom("lower_precision", blocks.float32_digits_lost),),
        twins=(Twin("lower_precision", blocks.in_float32(sparsemax)),
               Twin("sparsemax_unsorted_threshold", _sm_unsorted),
               Twin("sparsemax_unsorted_threshold", _sm_ascending),
               Twin("sparsemax_support_off_by_one", _sm_zero_based),
               Twin("sparsemax_support_off_by_one", _sm_k_plus_one),
               Twin("sparsemax_support_off_by_one", _sm_k_minus_one),
               Twin("sparsemax_not_clipped", _sm_not_clipped),
               Twin("wrong_axis", _sm_flattened),
               Twin("wrong_axis", _sm_first_axis),
               Twin("softmax_not_sparsemax", _sm_softmax)),
        hints=("Sort each row decreasingly, s_1 ≥ s_2 ≥ …, and take cumulative sums c_k. Entry "
               "k is in the support while 1 + k·s_k > c_k (k counted from 1).",
               "With k* the size of the support, τ = (c_{k*} − 1) / k*, and p = max(z − τ, 0) "
               "on the original, unsorted z. Do it along the last axis with keepdims.",
               "s = -np.sort(-z, axis=-1); c = np.cumsum(s, -1); k = np.arange(1, z.shape[-1] "
               "+ 1); ks = (1 + k * s > c).sum(-1, keepdims=True); tau = (np.take_along_axis(c, "
               "ks - 1, -1) - 1) / ks; return np.maximum(z - tau, 0)"),
    ),
    Problem(
        id="tiled_attention", chapter=CHAPTER, signature="tiled_attention(q, k, v, block, "
        "mask=None)", difficulty="hard", points=3,
        statement="Attention softmax(q kᵀ / √d, masked) v as FlashAttention computes it: q "
                  "(…, Lq, d), k (…, Lk, d), v (…, Lk, dv), and an optional boolean keep-mask "
                  "that broadcasts to (…, Lq, Lk). Visit the keys `block` at a time (the last "
                  "tile may be shorter), keeping per query a running max, a running sum of "
                  "exponentials and a running output, all rescaled when the max grows; divide "
                  "once at the end. The result equals untiled attention; a query that may "
                  "attend to no key gets zeros.",
        reference=tiled_attention, generate=_tiled_cases, probes=_tiled_probes,
        symptoms=(Symptom("lower_precision", blocks.float32_digits_lost),),
        twins=(Twin("lower_precision", blocks.in_float32(tiled_attention)),
               Twin("accumulator_not_rescaled", _ta_acc_not_rescaled),
               Twin("merge_forgets_rescale", _ta_nothing_rescaled),
               Twin("chunk_boundary_off_by_one", _ta_last_tile_dropped),
               Twin("chunk_boundary_off_by_one", _ta_tile_one_short),
               Twin("neg_inf_nan", _ta_neg_inf_nan),
               Twin("softmax_per_tile", _ta_normalised_per_tile),
               Twin("missing_sqrt_d", _ta_unscaled),
               Twin("scale_by_d", _ta_over_d)),
        hints=("Per query keep m (start −inf), l (start 0) and acc (start 0, shape (…, Lq, "
               "dv)). For each tile k[..., j:j + block, :], compute its masked scores s, then "
               "m_new = max(m, s.max(-1)).",
               "Rescale what you have to the new max, scale = e^(m − m_new): l = l·scale + "
               "Σ e^(s − m_new), acc = acc·scale + e^(s − m_new) @ v_tile. While m_new is −inf "
               "(all masked so far) use 0 for the scale and shift by 0, or NaN appears.",
               "for j in range(0, Lk, block): s = np.where(mask_tile, q @ k_tile.T / np.sqrt(d), "
               "-np.inf); m_new = np.maximum(m, s.max(-1, keepdims=True)); safe = np.where("
               "np.isinf(m_new), 0, m_new); scale = np.where(np.isinf(m), 0, np.exp(m - safe)); "
               "p = np.exp(s - safe); l = l*scale + p.sum(-1, keepdims=True); acc = acc*scale "
               "+ p @ v_tile; m = m_new. Return acc / np.where(l > 0, l, 1)."),
    ),
]


QUIZZES = [
    Quiz(
        id="q09_rescale", chapter=CHAPTER,
        question="A stream's first chunk has max 2 and Σ e^(x − 2) = 3. The next chunk raises "
                 "the max to 5. By what factor must the running sum 3 be multiplied before the "
                 "new chunk's terms are added? (4 decimals)",
        answer=float(np.exp(-3.0)), tolerance=5e-5,
        wrong_answers=((float(np.exp(3.0)), "That is e^(5 − 2): the sum must shrink, because "
                                           "each old term e^(x − 2) becomes e^(x − 5)."),
                       (1.0, "Without rescaling, the old terms stay relative to the old max 2 "
                             "while the new ones are relative to 5.")),
        explanation="e^(x − 5) = e^(x − 2) · e^(2 − 5), so the old sum is multiplied by "
                    "e^(−3) ≈ 0.0498.",
    ),
    Quiz(
        id="q09_chunk_memory", chapter=CHAPTER,
        question="Cross-entropy over N = 8192 positions and a vocabulary of V = 50,000 in "
                 "float32. How much memory do the full logits take, and in chunks of 512 rows?",
        choices=(
            Choice("1.64 GB, and 102 MB per chunk", True, "Right: 8192 · 50,000 · 4 bytes, and "
                   "512 rows are a sixteenth of that. The loss is the same to rounding."),
            Choice("205 MB, and 12.8 MB per chunk", False, "That counts one byte per logit; "
                   "float32 takes four."),
            Choice("1.64 GB either way: the loss needs every logit", False, "It needs every "
                   "logit once, not all at the same time: a row's loss depends on its own row "
                   "only."),
            Choice("3.28 GB, and 205 MB per chunk", False, "That is float64."),
        ),
    ),
    Quiz(
        id="q09_sparsemax", chapter=CHAPTER,
        question="What is sparsemax(1.0, 0.2, −0.5)?",
        choices=(
            Choice("(0.9, 0.1, 0)", True, "Right: τ = 0.1; the first two entries minus τ sum to "
                   "one, and the third, below τ, is clipped to exactly 0."),
            Choice("(0.60, 0.27, 0.13)", False, "That is softmax: it never gives an exact 0."),
            Choice("(1, 0, 0)", False, "That is argmax; sparsemax keeps 0.2 because it is within "
                   "1 of the largest entry."),
            Choice("(1.1, 0.3, −0.4)", False, "That is z − τ with τ = −0.1 chosen so that all "
                   "three sum to one; sparsemax clips at 0, and the clip changes τ."),
        ),
    ),
]


# === Practice beyond the lesson ================================================================
# Problems the lesson does not ask: a bug to find in the lesson's two-pass online softmax, a
# memory plan for chunked cross-entropy, and the backward pass of sparsemax. They are declared
# after everything above and added to PROBLEMS at the end of this section.

# --- fix_the_online_softmax: find the bug ------------------------------------------------------

def fix_the_online_softmax(x, block):
    """softmax of a 1-D x, as the online version computes it: pass 1 writes each block's
    e^(x − m_b) with the block's own max m_b and merges (m_b, s_b) into a running (m, s); pass 2
    multiplies each block by e^(m_b − m) / s."""
    return blocks.softmax(np.asarray(x, dtype=np.float64), axis=-1)


def _online_softmax(x, block, *, final_rescale=True, sum_rescale=True, shift=True,
                    per_block=False):
    """The two-pass online softmax with one of its classic mistakes switched on."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(len(x))
    maxima, sums = [], []
    m, s = -np.inf, 0.0
    with np.errstate(all="ignore"):
        for i in range(0, len(x), block):
            m_b = x[i:i + block].max() if shift else 0.0
            out[i:i + block] = np.exp(x[i:i + block] - m_b)
            maxima.append(m_b)
            sums.append(out[i:i + block].sum())
            m_new = max(m, m_b)
            s = (s * np.exp(m - m_new) if sum_rescale else s) + sums[-1] * np.exp(m_b - m_new)
            m = m_new
        for b, i in enumerate(range(0, len(x), block)):
            if per_block:
                out[i:i + block] /= sums[b]
            else:
                out[i:i + block] *= (np.exp(maxima[b] - m) if final_rescale else 1.0) / s
    return out


def _fix_online_softmax_shown(x, block):
    """The code the practice notebook shows: pass 2 divides by s and forgets e^(m_b − m)."""
    return _online_softmax(x, block, final_rescale=False)


def _fix_online_softmax_sum_not_rescaled(x, block):
    return _online_softmax(x, block, sum_rescale=False)


def _fix_online_softmax_per_block(x, block):
    return _online_softmax(x, block, per_block=True)


def _fix_online_softmax_no_shift(x, block):
    return _online_softmax(x, block, shift=False)


def _fix_online_softmax_sums_added(x, block):
    """s = s + Σ e^(x − m_b): neither the running sum nor the block's sum rescaled."""
    x = np.asarray(x, dtype=np.float64)
    parts, maxima = [], []
    m, s = -np.inf, 0.0
    for i in range(0, len(x), block):
        maxima.append(x[i:i + block].max())
        parts.append(np.exp(x[i:i + block] - maxima[-1]))
        m, s = max(m, maxima[-1]), s + parts[-1].sum()
    return np.concatenate([e * np.exp(m_b - m) / s for e, m_b in zip(parts, maxima,
                                                                       strict=True)])


def _fix_online_softmax_rescaled_upside_down(x, block):
    """Pass 2 multiplies by e^(m − m_b) instead of e^(m_b − m)."""
    x = np.asarray(x, dtype=np.float64)
    out = _online_softmax(x, block, final_rescale=False)
    with np.errstate(all="ignore"):
        for i in range(0, len(x), block):
            out[i:i + block] *= np.exp(x.max() - x[i:i + block].max())
    return out


def _fix_online_softmax_last_block_dropped(x, block):
    """range(0, n − block, block): the last block (or two) never visited, a shorter output."""
    x = np.asarray(x, dtype=np.float64)
    starts = range(0, len(x) - block if len(x) > block else len(x), block)
    return _online_softmax(x[:min(starts[-1] + block, len(x))], block)


def _fix_online_softmax_cases(rng):
    for _ in range(3):
        n = int(rng.integers(12, 40))
        block = int(rng.integers(2, 6))
        while n % block == 0:
            n += 1
        # a rising trend, so that later blocks have larger maxima than earlier ones
        x = _inputs.logits(rng, (n,), scale=2.0) + np.linspace(0, float(rng.uniform(4, 12)), n)
        yield case(x, block)


def _fix_online_softmax_probes():
    ramp = np.arange(10, dtype=float) / 2
    return [
        case(ramp, 3, note="a max that grows from block to block, the last block shorter"),
        case(ramp[::-1].copy(), 4, note="the largest value in the first block"),
        case(np.array([1000.0, 998.0, 1001.0, 999.5, 1003.0]), 2, note="values near 1000"),
        case(np.array([0.5, -1.0, 2.0, 0.0]), 1, note="blocks of one"),
        case(np.array([0.5, -1.0, 2.0, 0.0]), 8, note="one block holding every entry"),
        case(np.array([2.0, 1.0, 0.0, 3.0, -1.0, 4.0], dtype=np.float32), 2, note="float32"),
    ]


# --- chunk_plan: apply ---------------------------------------------------------------------------

BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
"""Bytes per element of the dtypes a chunk's logits may have."""


def chunk_plan(N, V, dtype, budget):
    """(chunk, n_chunks): the most rows whose logits, chunk × V numbers of `dtype`, fit in
    `budget` bytes (at most N), and how many chunks then cover the N rows (the last shorter).
    ValueError when not even one row fits."""
    row = V * BYTES[dtype]
    if row > budget:
        raise ValueError(f"one row of logits takes {row} bytes, more than the budget {budget}")
    chunk = min(budget // row, N)
    return chunk, -(-N // chunk)


def _plan(N, V, budget, nbytes, *, chunks=None, rows=None):
    rows = rows or (lambda budget, row: budget // row)
    chunk = min(rows(budget, V * nbytes), N)
    return chunk, (chunks or (lambda N, c: -(-N // c)))(N, chunk)


def _plan_bits(N, V, dtype, budget):
    return _plan(N, V, budget, {"float16": 16, "bfloat16": 16, "float32": 32,
                                "float64": 64}[dtype])


def _plan_float64(N, V, dtype, budget):
    return _plan(N, V, budget, 8)


def _plan_float32(N, V, dtype, budget):
    return _plan(N, V, budget, 4)


def _plan_floored_count(N, V, dtype, budget):
    return _plan(N, V, budget, BYTES[dtype], chunks=lambda N, c: N // c)


def _plan_rounded_rows(N, V, dtype, budget):
    return _plan(N, V, budget, BYTES[dtype], rows=lambda budget, row: -(-budget // row))


def _plan_cases(rng):
    for _ in range(3):
        dtype = str(rng.choice(list(BYTES)))
        V = int(rng.integers(1_000, 200_000))
        N = int(rng.integers(2_000, 100_000))
        # between 40 and 400 rows, never a whole number of them
        budget = int(V * BYTES[dtype] * (rng.integers(40, 400) + rng.uniform(0.1, 0.9)))
        chunk = budget // (V * BYTES[dtype])
        while N % chunk == 0:
            N += 1
        yield case(N, V, dtype, budget)


def _plan_probes():
    return [
        case(8192, 50_000, "float32", 102_400_000, note="the lesson's 8192 × 50,000, 102.4 MB"),
        case(1000, 30_000, "bfloat16", 1_000_000, note="bfloat16, 1 MB for 16.7 rows"),
        case(5000, 50_257, "float16", 100 * 2**20, note="float16, 100 MiB"),
        case(3000, 32_000, "float64", 2**30, note="float64, 1 GiB"),
        case(10, 100, "float64", 10**9, note="a budget larger than all the logits"),
        case(100, 50_000, "float32", 100_000, raises=ValueError,
             note="not even one row of logits fits in the budget"),
    ]


# --- sparsemax_vjp: derive, then check numerically ---------------------------------------------

def sparsemax_vjp(z, g):
    """Jᵀg for J = ∂ sparsemax(z) / ∂z along the last axis. On the support S, p = z − τ with
    ∂τ/∂z_j = 1/|S| for j in S, so J = diag(s) − s sᵀ/|S| (s the support's indicator), which is
    symmetric: (Jᵀg)_j = s_j (g_j − mean of g over S)."""
    z, g = np.asarray(z, dtype=np.float64), np.asarray(g, dtype=np.float64)
    s = sparsemax(z) > 0
    mean = (g * s).sum(axis=-1, keepdims=True) / s.sum(axis=-1, keepdims=True)
    return np.where(s, g - mean, 0.0)


def _vjp_parts(z, g):
    z, g = np.asarray(z, dtype=float), np.asarray(g, dtype=float)
    return sparsemax(z) > 0, g


def _svjp_tau_fixed(z, g):
    s, g = _vjp_parts(z, g)
    return np.where(s, g, 0.0)


def _svjp_mean_over_all(z, g):
    s, g = _vjp_parts(z, g)
    return np.where(s, g - g.mean(axis=-1, keepdims=True), 0.0)


def _svjp_not_masked(z, g):
    s, g = _vjp_parts(z, g)
    return g - (g * s).sum(axis=-1, keepdims=True) / s.sum(axis=-1, keepdims=True)


def _svjp_softmax(z, g):
    p, g = blocks.softmax(z, axis=-1), np.asarray(g, dtype=float)
    return p * (g - (p * g).sum(axis=-1, keepdims=True))


def _svjp_softmax_formula(z, g):
    # softmax's backward with sparsemax's probabilities in it
    p, g = sparsemax(z), np.asarray(g, dtype=float)
    return p * (g - (p * g).sum(axis=-1, keepdims=True))


def _svjp_flattened(z, g):
    s, g = _vjp_parts(z, g)
    return np.where(s, g - (g * s).sum() / s.sum(), 0.0)


def _svjp_cases(rng):
    for ndim in (1, 2, 3):
        shape = _inputs.shape(rng, ndim, low=3, high=7)
        yield case(_inputs.logits(rng, shape, scale=1.0), rng.normal(0, 1, shape))


def _svjp_probes():
    return [
        case(np.array([0.5, 2.0, 0.1, 1.8]), np.array([1.0, -2.0, 0.5, 3.0]),
             note="a support of two entries"),
        case(np.array([[1.0, 0.2, 0.9, -1.0], [0.3, 0.25, 0.35, 0.3]]),
             np.array([[0.2, 1.0, -1.0, 2.0], [1.0, 2.0, 3.0, 4.0]]),
             note="two rows, the second with every entry in the support"),
        case(np.array([3.0, 0.0, 0.0]), np.array([1.0, 2.0, 3.0]),
             note="a one-hot sparsemax, support of one"),
        case(np.array([1000.0, 999.5, 990.0]), np.array([0.0, 1.0, 5.0]),
             note="values near 1000"),
    ]


_BEYOND = [
    Problem(
        id="fix_the_online_softmax", chapter=CHAPTER, signature="fix_the_online_softmax(x, block)",
        difficulty="easy", points=1,
        statement="Find the bug. This online softmax of a 1-D x works in blocks: pass 1 writes "
                  "each block's e^(x − m_b) with the block's own max and merges (m_b, s_b) "
                  "into a running (m, s); pass 2 divides every block by s. It sums to one "
                  "only when every block has the same max. Fix it: softmax(x) for blocks of any "
                  "size (the last one may be shorter), exact for values near 1000.",
        reference=fix_the_online_softmax, generate=_fix_online_softmax_cases,
        probes=_fix_online_softmax_probes,
        twins=(Twin("block_not_rescaled", _fix_online_softmax_shown),
               Twin("block_not_rescaled", _fix_online_softmax_rescaled_upside_down),
               Twin("merge_forgets_rescale", _fix_online_softmax_sums_added),
               Twin("chunk_boundary_off_by_one", _fix_online_softmax_last_block_dropped),
               Twin("accumulator_not_rescaled", _fix_online_softmax_sum_not_rescaled),
               Twin("softmax_per_tile", _fix_online_softmax_per_block),
               Twin("no_max_shift", _fix_online_softmax_no_shift)),
        hints=("Pass 1 keeps `maxima`, but pass 2 never reads it. Relative to which max is "
               "each block's e^(x − m_b), and relative to which max is s?",
               "e^(x − m) = e^(x − m_b) · e^(m_b − m): in pass 2 each block needs the factor "
               "e^(m_b − m) as well as 1/s, with m the final max.",
               "out[i:i + block] = out[i:i + block] * np.exp(maxima[b] - m) / s"),
    ),
    Problem(
        id="chunk_plan", chapter=CHAPTER, signature="chunk_plan(N, V, dtype, budget)",
        difficulty="medium", points=2,
        statement="Plan a chunked cross-entropy: N positions, a vocabulary of V, logits of "
                  "`dtype` (\"float16\", \"bfloat16\", \"float32\" or \"float64\"), and `budget` "
                  "bytes for one chunk's logits. Return (chunk, n_chunks): the most rows whose "
                  "chunk × V logits fit in the budget (at most N), and the number of chunks "
                  "that cover the N rows, the last one shorter. Raise ValueError when not even "
                  "one row fits.",
        reference=chunk_plan, generate=_plan_cases, probes=_plan_probes,
        twins=(Twin("bits_for_bytes", _plan_bits),
               Twin("itemsize_ignored", _plan_float64),
               Twin("itemsize_ignored", _plan_float32),
               Twin("chunk_count_rounded_down", _plan_floored_count),
               Twin("chunk_over_budget", _plan_rounded_rows)),
        hints=("One row of logits is V numbers of `dtype`. How many bytes is one float16, "
               "bfloat16, float32, float64 number?",
               "Rows that fit: budget // (V · bytes), rounded down (a row more would not fit) "
               "and at most N. Chunks: ⌈N / chunk⌉, since the rows left over still need a "
               "chunk of their own.",
               "row = V * {\"float16\": 2, \"bfloat16\": 2, \"float32\": 4, \"float64\": 8}"
               "[dtype]; if row > budget: raise ValueError(...); chunk = min(budget // row, N); "
               "return chunk, -(-N // chunk)"),
    ),
    Problem(
        id="sparsemax_vjp", chapter=CHAPTER, signature="sparsemax_vjp(z, g)",
        difficulty="hard", points=3,
        statement="Backpropagation through sparsemax. For z and an upstream gradient g = ∂L/∂p "
                  "of the same shape, p = sparsemax(z) along the last axis, derive and return "
                  "∂L/∂z = Jᵀg with the shape of z. Away from ties at the threshold, p_j = z_j "
                  "− τ on the support and 0 off it, and τ depends on z.",
        reference=sparsemax_vjp, generate=_svjp_cases, probes=_svjp_probes,
        twins=(Twin("sparsemax_tau_held_fixed", _svjp_tau_fixed),
               Twin("sparsemax_grad_mean_over_all", _svjp_mean_over_all),
               Twin("sparsemax_grad_off_support", _svjp_not_masked),
               Twin("softmax_backward_for_sparsemax", _svjp_softmax),
               Twin("softmax_backward_for_sparsemax", _svjp_softmax_formula),
               Twin("wrong_axis", _svjp_flattened)),
        hints=("Off the support p_j is 0 for every small change of z: its row of J is 0. On the "
               "support S, p_j = z_j − τ with τ = (Σ_{i∈S} z_i − 1)/|S|. What is ∂τ/∂z_j?",
               "∂τ/∂z_j = 1/|S| for j in S, so J = diag(s) − s sᵀ/|S| with s the support's "
               "0/1 indicator. J is symmetric; Jᵀg = s ⊙ (g − the mean of g over the support).",
               "s = sparsemax(z) > 0; mean = (g * s).sum(-1, keepdims=True) / s.sum(-1, "
               "keepdims=True); return np.where(s, g - mean, 0.0)"),
    ),
]

PROBLEMS += _BEYOND
