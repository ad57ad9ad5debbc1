"""The practice problems beyond the lessons: every reference passes and every twin is named on
30 seeds, right answers written in other styles (loops, numpy, torch) pass, and the buggy code
that a find-the-bug problem shows in its practice notebook is named as its mistake."""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from scipy import special

from tutor import checking, registry

ROOT = Path(__file__).resolve().parent.parent
SEEDS = range(30)

BEYOND = {
    "01_logits": ("fix_the_sigmoid_grad", "observations_to_confidence", "bce_grad"),
    "02_softmax": ("margin_for_confidence", "fix_the_softmax", "adjust_for_prior"),
    "03_stability": ("fix_the_logsumexp", "smooth_max", "ensemble_log_probs"),
    "04_log_softmax": ("fix_the_log_softmax", "mean_token_log_prob", "log_softmax_vjp"),
    "05_cross_entropy": ("fix_the_loss", "smoothed_loss_floor", "softmax_classifier_grad"),
    "06_temperature": ("nucleus_size", "nll_temperature_grad", "temperature_for_entropy"),
    "07_attention_masking": ("fix_the_padding_weights", "packed_batch_mask", "attention_grad_q"),
    "09_softmax_at_scale": ("fix_the_online_softmax", "chunk_plan", "sparsemax_vjp"),
}
IDS = [pid for ids in BEYOND.values() for pid in ids]
TWINS = [(pid, i) for pid in IDS for i in range(len(registry.get(pid).twins))]
FIND_THE_BUG = [pid for pid in IDS if pid.startswith("fix_the_")]


@pytest.mark.parametrize("pid", IDS)
def test_reference_passes_on_30_seeds(pid):
    problem = registry.get(pid)
    for seed in SEEDS:
        result = checking.run(problem, problem.reference, seed=seed)
        assert result.status == "passed", (seed, result.message)


@pytest.mark.parametrize(("pid", "index"), TWINS)
def test_every_twin_is_named_on_30_seeds(pid, index):
    problem = registry.get(pid)
    twin = problem.twins[index]
    for seed in SEEDS:
        result = checking.run(problem, twin.fn, seed=seed)
        assert result.status == "failed", (seed, result.message)
        assert result.misconception == twin.misconception, (seed, result.message)


@pytest.mark.parametrize("pid", IDS)
def test_every_problem_has_a_cell_and_easy_medium_hard_spread(pid):
    problem = registry.get(pid)
    assert len(problem.hints) >= 2
    notebook = ROOT / "solutions" / f"{problem.chapter}.ipynb"
    text = notebook.read_text(encoding="utf-8")
    assert f"def {pid}(" in text and f'tutor.check(\\"{pid}\\")' in text


@pytest.mark.parametrize("chapter", BEYOND)
def test_each_chapter_adds_an_easy_a_medium_and_a_hard_problem(chapter):
    assert {registry.get(pid).difficulty for pid in BEYOND[chapter]} == \
        {"easy", "medium", "hard"}


def _shown_code(pid: str) -> str:
    """The buggy function a find-the-bug problem shows in its statement cell."""
    problem = registry.get(pid)
    nb = nbformat.read(ROOT / "solutions" / f"{problem.chapter}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and f"`{pid}(" in cell.source:
            return re.search(r"```python\n(.*?)```", cell.source, flags=re.S)[1]
    raise AssertionError(f"no statement cell for {pid}")


@pytest.mark.parametrize("pid", FIND_THE_BUG)
def test_the_shown_buggy_code_is_named(pid):
    problem = registry.get(pid)
    namespace = {"np": np, "math": math}
    exec(_shown_code(pid), namespace)
    expected = {t.misconception for t in problem.twins if t.fn.__name__.endswith("_shown")}
    assert expected, "the shown code is one of the twins"
    for seed in range(5):
        result = checking.run(problem, namespace[pid], seed=seed)
        assert result.status == "failed", result.message
        assert result.misconception in expected, result.message


# --- right answers in other styles ------------------------------------------------------------

def _loop_sigmoid(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def sigmoid_grad_loops(x):
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    for i, v in np.ndenumerate(x):
        out[i] = _loop_sigmoid(v) * _loop_sigmoid(-v)
    return out


def sigmoid_grad_symmetric(x):
    e = np.exp(-np.abs(x))
    return e / (1 + e) ** 2


def sigmoid_grad_torch(x):
    import torch

    s = torch.sigmoid(torch.as_tensor(x))
    return s * (1 - s)


def observations_loops(p0, ratio, target):
    out = []
    for a, r, t in zip(np.ravel(p0), np.ravel(ratio), np.ravel(target), strict=True):
        odds, n = a / (1 - a), 0
        while odds / (1 + odds) < t:
            odds, n = odds * r, n + 1
        out.append(n)
    return np.array(out).reshape(np.shape(p0))


def observations_numpy(p0, ratio, target):
    from scipy.special import logit

    return np.ceil(np.clip((logit(target) - logit(p0)) / np.log(ratio), 0, None))


def bce_grad_numpy(z, y):
    z = np.asarray(z, dtype=float)
    return (0.5 * (1 + np.tanh(z / 2)) - y) / z.size


def bce_grad_torch(z, y):
    import torch

    zt = torch.tensor(np.asarray(z, dtype=float), requires_grad=True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(zt, torch.as_tensor(y))
    loss.backward()
    return zt.grad


def margin_loops(p, K):
    return np.array([math.log(a * (k - 1) / (1 - a)) for a, k in
                     zip(np.ravel(p), np.ravel(K), strict=True)]).reshape(np.shape(p))


def margin_numpy(p, K):
    from scipy.special import logit

    return logit(p) + np.log(np.asarray(K) - 1)


def margin_torch(p, K):
    import torch

    p = torch.as_tensor(p)
    return torch.logit(p) + torch.log(torch.as_tensor(K, dtype=p.dtype) - 1)


def softmax_rows_loops(z):
    out = []
    for row in np.asarray(z, dtype=float).tolist():
        m = max(row)
        e = [math.exp(v - m) for v in row]
        out.append([v / sum(e) for v in e])
    return np.array(out)


def softmax_rows_torch(z):
    import torch

    return torch.softmax(torch.as_tensor(z), dim=1)


def softmax_rows_scipy(z):
    from scipy.special import softmax

    return softmax(z, axis=1)


def prior_loops(probs, train_prior, new_prior):
    out = []
    for row in np.asarray(probs, dtype=float):
        q = [p * n / t for p, n, t in zip(row, new_prior, train_prior, strict=True)]
        out.append([v / sum(q) for v in q])
    return np.array(out)


def prior_log_space(probs, train_prior, new_prior):
    from scipy.special import logsumexp

    z = np.log(probs) + np.log(new_prior) - np.log(train_prior)
    return np.exp(z - logsumexp(z, axis=1, keepdims=True))


def prior_torch(probs, train_prior, new_prior):
    import torch

    z = torch.log(torch.as_tensor(probs)) + torch.log(torch.as_tensor(new_prior / train_prior))
    return torch.softmax(z, dim=-1)


def lse_rows_loops(z):
    out = []
    for row in np.asarray(z, dtype=float).tolist():
        m = max(row)
        out.append(m + math.log(sum(math.exp(v - m) for v in row)))
    return np.array(out)


def lse_rows_scipy(z):
    from scipy.special import logsumexp

    return logsumexp(z, axis=1)


def lse_rows_torch(z):
    import torch

    return torch.logsumexp(torch.as_tensor(z), dim=1)


def smooth_max_scipy(z, tau, axis=-1):
    from scipy.special import logsumexp

    return tau * logsumexp(np.asarray(z) / tau, axis=axis)


def smooth_max_torch(z, tau, axis=-1):
    import torch

    return tau * torch.logsumexp(torch.as_tensor(z) / tau, dim=axis)


def smooth_max_loops(z, tau, axis=-1):
    def one(row):
        m = max(row)
        return m + tau * math.log(sum(math.exp((v - m) / tau) for v in row))
    return np.apply_along_axis(one, axis, np.asarray(z, dtype=float))


def ensemble_loops(log_probs):
    lp = np.asarray(log_probs, dtype=float)
    total = lp[0]
    for row in lp[1:]:
        total = np.logaddexp(total, row)
    return total - math.log(len(lp))


def ensemble_scipy(log_probs):
    from scipy.special import logsumexp

    return logsumexp(log_probs, axis=0, b=1 / len(log_probs))


def ensemble_torch(log_probs):
    import torch

    lp = torch.as_tensor(log_probs)
    return torch.logsumexp(lp, dim=0) - math.log(lp.shape[0])


def log_softmax_loops(z):
    def one(row):
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        return [v - lse for v in row]
    return np.apply_along_axis(one, -1, np.asarray(z, dtype=float))


def log_softmax_scipy(z):
    from scipy.special import log_softmax

    return log_softmax(z, axis=-1)


def log_softmax_torch(z):
    import torch

    return torch.log_softmax(torch.as_tensor(z), dim=-1)


def tokens_loops(logits, tokens, lengths):
    out = []
    for b, n in enumerate(lengths):
        total = 0.0
        for t in range(n):
            row = [float(v) for v in logits[b][t]]
            m = max(row)
            total += row[tokens[b][t]] - m - math.log(sum(math.exp(v - m) for v in row))
        out.append(total / n)
    return np.array(out)


def tokens_torch(logits, tokens, lengths):
    import torch
    import torch.nn.functional as F

    z, y = torch.as_tensor(logits), torch.as_tensor(tokens, dtype=torch.int64)
    L = z.shape[1]
    y = torch.where(torch.arange(L)[None, :] < torch.as_tensor(lengths)[:, None], y, -100)
    nll = F.cross_entropy(z.transpose(1, 2), y, ignore_index=-100, reduction="none")
    return -nll.sum(dim=1) / torch.as_tensor(lengths)


def vjp_autograd(z, g):
    import torch

    zt = torch.tensor(np.asarray(z, dtype=float), requires_grad=True)
    (grad,) = torch.autograd.grad(torch.log_softmax(zt, dim=-1), zt, torch.as_tensor(g))
    return grad


def vjp_jacobian(z, g):
    from scipy.special import softmax

    shape = np.shape(g)
    z, g = np.atleast_2d(z), np.atleast_2d(g)
    rows = []
    for zr, gr in zip(z, g, strict=True):
        J = np.eye(len(zr)) - softmax(zr)[None, :]
        rows.append(J.T @ gr)
    return np.array(rows).reshape(shape)


def loss_torch(logits, targets):
    import torch
    import torch.nn.functional as F

    return F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(targets, dtype=torch.int64))


def loss_loops(logits, targets):
    total = 0.0
    for row, t in zip(np.asarray(logits, dtype=float).tolist(), targets, strict=True):
        m = max(row)
        total += m + math.log(sum(math.exp(v - m) for v in row)) - row[t]
    return total / len(targets)


def floor_loops(K, eps):
    out = []
    for k, e in zip(np.ravel(K), np.ravel(eps), strict=True):
        q = [1 - e + e / k] + [e / k] * (int(k) - 1)
        out.append(-sum(v * math.log(v) for v in q if v > 0))
    return np.array(out).reshape(np.shape(K))


def floor_scipy(K, eps):
    from scipy.special import entr

    K, eps = np.asarray(K, dtype=float), np.asarray(eps, dtype=float)
    return entr(1 - eps + eps / K) + (K - 1) * entr(eps / K)


def floor_torch(K, eps):
    import torch

    K, eps = torch.as_tensor(K, dtype=torch.float64), torch.as_tensor(eps)
    hi, lo = 1 - eps + eps / K, eps / K
    return -(torch.xlogy(hi, hi) + (K - 1) * torch.xlogy(lo, lo))


def classifier_autograd(X, y, W, b):
    import torch
    import torch.nn.functional as F

    Wt = torch.tensor(np.asarray(W, dtype=float), requires_grad=True)
    bt = torch.tensor(np.asarray(b, dtype=float), requires_grad=True)
    F.cross_entropy(torch.as_tensor(X) @ Wt + bt, torch.as_tensor(y, dtype=torch.int64)).backward()
    return torch.vstack([Wt.grad, bt.grad[None, :]])


def classifier_loops(X, y, W, b):
    X, W, b = np.asarray(X, dtype=float), np.asarray(W, dtype=float), np.asarray(b, dtype=float)
    (N, D), K = X.shape, W.shape[1]
    grad = np.zeros((D + 1, K))
    for n in range(N):
        z = [sum(X[n, d] * W[d, k] for d in range(D)) + b[k] for k in range(K)]
        m = max(z)
        e = [math.exp(v - m) for v in z]
        for k in range(K):
            g = (e[k] / sum(e) - (k == y[n])) / N
            for d in range(D):
                grad[d, k] += X[n, d] * g
            grad[D, k] += g
    return grad


def nucleus_loops(logits, p):
    out = []
    for row in np.asarray(logits, dtype=float).tolist():
        m = max(row)
        e = sorted((math.exp(v - m) for v in row), reverse=True)
        total, k = 0.0, 0
        while k < len(e) and total < p * sum(e):
            total, k = total + e[k], k + 1
        out.append(max(k, 1))
    return np.array(out)


def nucleus_torch(logits, p):
    import torch

    probs = torch.softmax(torch.as_tensor(logits), dim=-1)
    mass = torch.cumsum(torch.sort(probs, dim=-1, descending=True).values, dim=-1)
    return torch.clamp((mass < p).sum(dim=-1) + 1, max=probs.shape[-1])


def nll_grad_autograd(logits, labels, T):
    import torch
    import torch.nn.functional as F

    t = torch.tensor(float(T), dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(torch.as_tensor(logits) / t, torch.as_tensor(labels, dtype=torch.int64))
    loss.backward()
    return t.grad


def nll_grad_loops(logits, labels, T):
    total = 0.0
    for row, y in zip(np.asarray(logits, dtype=float).tolist(), labels, strict=True):
        m = max(row)
        e = [math.exp((v - m) / T) for v in row]
        z_bar = sum(w * v for w, v in zip(e, row, strict=True)) / sum(e)
        total += (row[y] - z_bar) / T**2
    return total / len(labels)


def temperature_brentq(z, H):
    from scipy.optimize import brentq
    from scipy.special import softmax

    def gap(log_t):
        p = softmax(np.asarray(z) / np.exp(log_t))
        return -np.sum(p * np.log(np.where(p > 0, p, 1.0))) - H
    return math.exp(brentq(gap, -15, 15, xtol=1e-12))


def temperature_bisect_loops(z, H):
    z = [float(v) for v in z]
    lo, hi = 1e-6, 1e6
    for _ in range(200):
        T = math.sqrt(lo * hi)
        m = max(z)
        e = [math.exp((v - m) / T) for v in z]
        S = sum(e)
        entropy = -sum(v / S * math.log(v / S) for v in e if v > 0)
        lo, hi = (T, hi) if entropy < H else (lo, T)
    return math.sqrt(lo * hi)


def padding_weights_loops(scores, lengths):
    scores = np.asarray(scores, dtype=float)
    out = np.zeros_like(scores)
    for b, n in enumerate(lengths):
        for i in range(scores.shape[1]):
            row = scores[b, i, :n]
            e = np.exp(row - row.max())
            out[b, i, :n] = e / e.sum()
    return out


def padding_weights_torch(scores, lengths):
    import torch

    s = torch.as_tensor(scores)
    keep = torch.arange(s.shape[-1])[None, :] < torch.as_tensor(lengths)[:, None]
    return torch.softmax(s.masked_fill(~keep[:, None, :], float("-inf")), dim=-1)


def packed_loops(lengths):
    n = sum(lengths)
    starts = np.cumsum([0, *lengths[:-1]])
    mask = np.zeros((n, n), dtype=bool)
    for start, length in zip(starts, lengths, strict=True):
        for i in range(start, start + length):
            for j in range(start, i + 1):
                mask[i, j] = True
    return mask


def packed_torch(lengths):
    import torch

    doc = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    n = doc.numel()
    return (doc[:, None] == doc[None, :]) & torch.ones(n, n, dtype=torch.bool).tril()


def grad_q_autograd(q, k, v, grad_out):
    import torch
    import torch.nn.functional as F

    qt = torch.tensor(np.asarray(q, dtype=float), requires_grad=True)
    out = F.scaled_dot_product_attention(qt, torch.as_tensor(k), torch.as_tensor(v))
    out.backward(torch.as_tensor(grad_out))
    return qt.grad


def grad_q_jacobian(q, k, v, grad_out):
    q, k, v, g = (np.asarray(a, dtype=float) for a in (q, k, v, grad_out))
    d = q.shape[-1]
    dq = np.zeros_like(q)
    for idx in np.ndindex(q.shape[:-2]):
        for i in range(q.shape[-2]):
            s = k[idx] @ q[idx][i] / math.sqrt(d)
            p = np.exp(s - s.max())
            p /= p.sum()
            J = np.diag(p) - np.outer(p, p)
            dq[idx][i] = k[idx].T @ (J @ (v[idx] @ g[idx][i])) / math.sqrt(d)
    return dq


def online_softmax_loops(x, block):
    x = [float(v) for v in x]
    m = max(x)
    e = [math.exp(v - m) for v in x]
    return np.array([v / sum(e) for v in e])


def online_softmax_torch(x, block):
    import torch

    return torch.softmax(torch.as_tensor(x), dim=0)


def online_softmax_merged(x, block):
    # the blocks' (max, sum) merged pairwise at the end, as a parallel reduction would
    x = np.asarray(x, dtype=float)
    parts = [x[i:i + block] for i in range(0, len(x), block)]
    stats = [(b.max(), np.exp(b - b.max()).sum()) for b in parts]
    m = max(mb for mb, _ in stats)
    s = sum(sb * math.exp(mb - m) for mb, sb in stats)
    return np.concatenate([np.exp(b - m) / s for b in parts])


def plan_ceil(N, V, dtype, budget):
    row = V * {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}[dtype]
    if budget < row:
        raise ValueError("not even one row fits")
    chunk = min(math.floor(budget / row), N)
    return chunk, math.ceil(N / chunk)


def plan_torch_itemsize(N, V, dtype, budget):
    import torch

    row = V * torch.finfo(getattr(torch, dtype)).bits // 8
    if budget < row:
        raise ValueError("not even one row fits")
    chunk = min(budget // row, N)
    return [chunk, (N + chunk - 1) // chunk]


def sparsemax_vjp_autograd(z, g):
    import torch

    zt = torch.tensor(np.asarray(z, dtype=float), requires_grad=True)
    s = torch.sort(zt, dim=-1, descending=True).values
    k = torch.arange(1, zt.shape[-1] + 1, dtype=zt.dtype)
    cumulative = torch.cumsum(s, dim=-1)
    support = (1 + k * s > cumulative).sum(dim=-1, keepdim=True)
    tau = (torch.gather(cumulative, -1, support - 1) - 1) / support
    p = torch.clamp(zt - tau, min=0)
    (grad,) = torch.autograd.grad(p, zt, torch.as_tensor(g))
    return grad


def sparsemax_vjp_jacobian(z, g):
    from tutor.chapters.ch09_softmax_at_scale import sparsemax

    shape = np.shape(g)
    z, g = np.reshape(z, (-1, shape[-1])), np.reshape(g, (-1, shape[-1]))
    rows = []
    for zr, gr in zip(z, g, strict=True):
        s = (sparsemax(zr) > 0).astype(float)
        J = np.diag(s) - np.outer(s, s) / s.sum()
        rows.append(J.T @ gr)
    return np.array(rows).reshape(shape)


STYLES = [
    ("fix_the_sigmoid_grad", sigmoid_grad_loops), ("fix_the_sigmoid_grad", sigmoid_grad_symmetric),
    ("fix_the_sigmoid_grad", sigmoid_grad_torch),
    ("observations_to_confidence", observations_loops),
    ("observations_to_confidence", observations_numpy),
    ("bce_grad", bce_grad_numpy), ("bce_grad", bce_grad_torch),
    ("margin_for_confidence", margin_loops), ("margin_for_confidence", margin_numpy),
    ("margin_for_confidence", margin_torch),
    ("fix_the_softmax", softmax_rows_loops), ("fix_the_softmax", softmax_rows_torch),
    ("fix_the_softmax", softmax_rows_scipy),
    ("adjust_for_prior", prior_loops), ("adjust_for_prior", prior_log_space),
    ("adjust_for_prior", prior_torch),
    ("fix_the_logsumexp", lse_rows_loops), ("fix_the_logsumexp", lse_rows_scipy),
    ("fix_the_logsumexp", lse_rows_torch),
    ("smooth_max", smooth_max_scipy), ("smooth_max", smooth_max_torch),
    ("smooth_max", smooth_max_loops),
    ("ensemble_log_probs", ensemble_loops), ("ensemble_log_probs", ensemble_scipy),
    ("ensemble_log_probs", ensemble_torch),
    ("fix_the_log_softmax", log_softmax_loops), ("fix_the_log_softmax", log_softmax_scipy),
    ("fix_the_log_softmax", log_softmax_torch),
    ("mean_token_log_prob", tokens_loops), ("mean_token_log_prob", tokens_torch),
    ("log_softmax_vjp", vjp_autograd), ("log_softmax_vjp", vjp_jacobian),
    ("fix_the_loss", loss_torch), ("fix_the_loss", loss_loops),
    ("smoothed_loss_floor", floor_loops), ("smoothed_loss_floor", floor_scipy),
    ("smoothed_loss_floor", floor_torch),
    ("softmax_classifier_grad", classifier_autograd), ("softmax_classifier_grad", classifier_loops),
    ("nucleus_size", nucleus_loops), ("nucleus_size", nucleus_torch),
    ("nll_temperature_grad", nll_grad_autograd), ("nll_temperature_grad", nll_grad_loops),
    ("temperature_for_entropy", temperature_brentq),
    ("temperature_for_entropy", temperature_bisect_loops),
    ("fix_the_padding_weights", padding_weights_loops),
    ("fix_the_padding_weights", padding_weights_torch),
    ("packed_batch_mask", packed_loops), ("packed_batch_mask", packed_torch),
    ("attention_grad_q", grad_q_autograd), ("attention_grad_q", grad_q_jacobian),
    ("fix_the_online_softmax", online_softmax_loops),
    ("fix_the_online_softmax", online_softmax_torch),
    ("fix_the_online_softmax", online_softmax_merged),
    ("chunk_plan", plan_ceil), ("chunk_plan", plan_torch_itemsize),
    ("sparsemax_vjp", sparsemax_vjp_autograd), ("sparsemax_vjp", sparsemax_vjp_jacobian),
]


@pytest.mark.parametrize(("pid", "answer"), STYLES, ids=[f"{p}-{a.__name__}" for p, a in STYLES])
def test_right_answers_in_other_styles_pass(pid, answer):
    problem = registry.get(pid)
    for seed in range(5):
        result = checking.run(problem, answer, seed=seed)
        assert result.status == "passed", result.message


# ---------------------------------------------------------------------------------------------
# Wrong answers from a blind test of learners' code: each fails on every seed, named its mistake


def w_sigmoid_grad_stable_no_square(x):
    e = np.exp(-np.abs(x))
    return e / (1 + e)


def w_observations_not_floored_at_zero(p0, ratio, target):
    n = (special.logit(target) - special.logit(p0)) / np.log(ratio)
    return np.ceil(n - 1e-9).astype(int)


def w_bce_grad_float32(z, y):
    z = np.asarray(z, np.float32)
    return (special.expit(z) - y) / z.size


def w_softmax_rows_global_max(z):
    e = np.exp(z - z.max())
    return e / e.sum(axis=1, keepdims=True)


def w_softmax_rows_no_shift(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def w_softmax_rows_sum_of_all(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum()


def w_prior_log_plus_1e_10(probs, train_prior, new_prior):
    log_q = np.log(probs + 1e-10) + np.log(new_prior) - np.log(train_prior)
    return special.softmax(log_q, axis=1)


def w_prior_log_clipped_1e_12(probs, train_prior, new_prior):
    log_q = np.log(np.clip(probs, 1e-12, 1)) + np.log(new_prior) - np.log(train_prior)
    return special.softmax(log_q, axis=1)


def w_prior_inverted(probs, train_prior, new_prior):
    q = probs * train_prior / new_prior
    return q / q.sum(axis=1, keepdims=True)


def w_lse_rows_no_keepdims(z):
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m).sum(axis=1))


def w_lse_rows_axis_0(z):
    return special.logsumexp(z, axis=0)


def w_smooth_max_times_tau(z, tau, axis=-1):
    return special.logsumexp(np.asarray(z) * tau, axis=axis) / tau


def w_smooth_max_last_axis(z, tau, axis=-1):
    return tau * special.logsumexp(np.asarray(z) / tau, axis=-1)


def w_smooth_max_tau_inside_only(z, tau, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp((z - m) / tau), axis=axis))


def w_ensemble_over_classes(log_probs):
    return special.logsumexp(log_probs, axis=-1) - np.log(np.shape(log_probs)[-1])


def w_ensemble_global_max(log_probs):
    m = np.max(log_probs)
    return m + np.log(np.mean(np.exp(log_probs - m), axis=0))


def w_log_softmax_global_max(z):
    m = z.max()
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def w_log_softmax_no_keepdims(z):
    m = z.max(axis=-1)
    return z - m - np.log(np.exp(z - m).sum(axis=-1))


def _picked(logits, tokens):
    lp = special.log_softmax(logits, axis=-1)
    return np.take_along_axis(lp, tokens[..., None], axis=-1)[..., 0]


def w_tokens_mask_one_past(logits, tokens, lengths):
    mask = np.arange(tokens.shape[1]) <= np.asarray(lengths)[:, None]
    return (_picked(logits, tokens) * mask).sum(axis=1) / np.asarray(lengths)


def w_tokens_mask_one_short(logits, tokens, lengths):
    mask = np.arange(tokens.shape[1]) < np.asarray(lengths)[:, None] - 1
    return (_picked(logits, tokens) * mask).sum(axis=1) / np.asarray(lengths)


def w_tokens_padding_is_token_0(logits, tokens, lengths):
    mask = tokens != 0
    return (_picked(logits, tokens) * mask).sum(axis=1) / mask.sum(axis=1)


def w_tokens_negated(logits, tokens, lengths):
    mask = np.arange(tokens.shape[1]) < np.asarray(lengths)[:, None]
    return -(_picked(logits, tokens) * mask).sum(axis=1) / np.asarray(lengths)


def w_vjp_no_keepdims(z, g):
    return g - special.softmax(z, axis=-1) * g.sum(axis=-1)


def w_vjp_flipped(z, g):
    return special.softmax(z, axis=-1) * g.sum(axis=-1, keepdims=True) - g


def w_vjp_axis_0(z, g):
    return g - special.softmax(z, axis=0) * g.sum(axis=0, keepdims=True)


def w_loss_log_likelihood(logits, targets):
    lse = special.logsumexp(logits, axis=1)
    return float(np.mean(logits[np.arange(len(targets)), targets] - lse))


def w_loss_targets_minus_1(logits, targets):
    lse = special.logsumexp(logits, axis=1)
    return float(np.mean(lse - logits[np.arange(len(targets)), np.asarray(targets) - 1]))


def w_floor_target_xlogy_only(K, eps):
    K, eps = np.asarray(K, dtype=float), np.asarray(eps, dtype=float)
    qt = 1 - eps + eps / K
    return -special.xlogy(qt, qt)


def _classifier_from(P, X, y, W):
    dZ = (P - np.eye(W.shape[1])[y]) / X.shape[0]
    return np.vstack([X.T @ dZ, dZ.sum(axis=0)])


def w_classifier_no_shift(X, y, W, b):
    e = np.exp(X @ W + b)
    return _classifier_from(e / e.sum(axis=1, keepdims=True), X, y, W)


def w_classifier_global_max(X, y, W, b):
    Z = X @ W + b
    e = np.exp(Z - Z.max())
    return _classifier_from(e / e.sum(axis=1, keepdims=True), X, y, W)


def w_classifier_double_softmax(X, y, W, b):
    P = special.softmax(special.softmax(X @ W + b, axis=1), axis=1)
    return _classifier_from(P, X, y, W)


BLIND_WRONG = [
    ("fix_the_sigmoid_grad", w_sigmoid_grad_stable_no_square, "quotient_rule_square"),
    ("observations_to_confidence", w_observations_not_floored_at_zero, "count_not_rounded_up"),
    ("bce_grad", w_bce_grad_float32, "lower_precision"),
    ("fix_the_softmax", w_softmax_rows_global_max, "global_max_shift"),
    ("fix_the_softmax", w_softmax_rows_no_shift, "no_max_shift"),
    ("fix_the_softmax", w_softmax_rows_sum_of_all, "wrong_axis"),
    ("adjust_for_prior", w_prior_log_plus_1e_10, "log_of_softmax"),
    ("adjust_for_prior", w_prior_log_clipped_1e_12, "log_of_softmax"),
    ("adjust_for_prior", w_prior_inverted, "prior_not_removed"),
    ("fix_the_logsumexp", w_lse_rows_no_keepdims, "missing_keepdims"),
    ("fix_the_logsumexp", w_lse_rows_axis_0, "wrong_axis"),
    ("smooth_max", w_smooth_max_times_tau, "temperature_multiplies"),
    ("smooth_max", w_smooth_max_last_axis, "wrong_axis"),
    ("smooth_max", w_smooth_max_tau_inside_only, "smooth_max_not_rescaled"),
    ("ensemble_log_probs", w_ensemble_over_classes, "wrong_axis"),
    ("ensemble_log_probs", w_ensemble_global_max, "global_max_shift"),
    ("fix_the_log_softmax", w_log_softmax_global_max, "global_max_shift"),
    ("fix_the_log_softmax", w_log_softmax_no_keepdims, "missing_keepdims"),
    ("mean_token_log_prob", w_tokens_mask_one_past, "padding_counted"),
    ("mean_token_log_prob", w_tokens_mask_one_short, "padding_counted"),
    ("mean_token_log_prob", w_tokens_padding_is_token_0, "padding_counted"),
    ("mean_token_log_prob", w_tokens_negated, "nll_sign"),
    ("log_softmax_vjp", w_vjp_no_keepdims, "missing_keepdims"),
    ("log_softmax_vjp", w_vjp_flipped, "grad_sign"),
    ("log_softmax_vjp", w_vjp_axis_0, "wrong_axis"),
    ("fix_the_loss", w_loss_log_likelihood, "nll_sign"),
    ("fix_the_loss", w_loss_targets_minus_1, "wrong_target_indexing"),
    ("smoothed_loss_floor", w_floor_target_xlogy_only, "smoothed_loss_reaches_zero"),
    ("softmax_classifier_grad", w_classifier_no_shift, "no_max_shift"),
    ("softmax_classifier_grad", w_classifier_global_max, "global_max_shift"),
    ("softmax_classifier_grad", w_classifier_double_softmax, "softmax_before_ce"),
]


@pytest.mark.parametrize(("pid", "answer", "expected"), BLIND_WRONG,
                         ids=[a.__name__ for _, a, _ in BLIND_WRONG])
def test_learners_wrong_answers_fail_named_on_30_seeds(pid, answer, expected):
    problem = registry.get(pid)
    for seed in SEEDS:
        result = checking.run(problem, answer, seed=seed)
        assert result.status == "failed", (seed, result.message)
        assert result.misconception == expected, (seed, result.message)
