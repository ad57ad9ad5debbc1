"""Chapter 06 from the learner's side: right answers in any style pass (numpy, loops, torch,
scipy), wrong answers written the way learners write them are named with the right
misconception, the ValueError contracts and the statistical check of `sample_next_token` behave,
and the messages a learner reads are pinned word for word."""

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
    torch_in,
)
from scipy import optimize, special, stats

import tutor
from tutor import registry, statistics
from tutor.chapters import ch06_temperature as ch06


@pytest.fixture(autouse=True, scope="module")
def _torch_warmed_up():
    """Import torch and take one optimiser step up front, so that torch's one-time set-up
    (seconds on a busy machine) is not timed as part of a check."""
    import torch

    x = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([x], max_iter=2)

    def closure():
        opt.zero_grad()
        loss = ((x - 1) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)


def stable_softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Right answers, in several styles


def softmax_temperature_logsumexp(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    x = np.asarray(z) / T
    return np.exp(x - special.logsumexp(x, axis=-1, keepdims=True))


def softmax_temperature_scipy(z, T):
    if not T > 0:
        raise ValueError(f"bad temperature {T}")
    return special.softmax(np.divide(z, T), axis=-1)


def softmax_temperature_torch(z, T):
    import torch

    if T <= 0:
        raise ValueError("T must be positive")
    return torch.softmax(torch_in(z) / T, dim=-1)


def softmax_temperature_loops(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    for index in np.ndindex(z.shape[:-1]):
        row = [v / T for v in z[index]]
        top = max(row)
        e = [math.exp(v - top) for v in row]
        out[index] = [v / sum(e) for v in e]
    return out


def softmax_temperature_own_dtype(z, T):
    """Computes in the input's own dtype, float32 included."""
    if T <= 0:
        raise ValueError("T must be positive")
    x = z / np.asarray(T, dtype=z.dtype)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def entropy_scipy_stats(z, axis=-1):
    return stats.entropy(special.softmax(z, axis=axis), axis=axis)


def entropy_entr(z, axis=-1):
    return special.entr(special.softmax(z, axis=axis)).sum(axis=axis)


def entropy_torch(z, axis=-1):
    import torch

    logits = torch.movedim(torch_in(z), axis, -1)
    return torch.distributions.Categorical(logits=logits).entropy()


def entropy_loops(z, axis=-1):
    moved = np.moveaxis(np.asarray(z, dtype=float), axis, -1)
    out = np.empty(moved.shape[:-1])
    for index in np.ndindex(out.shape):
        row = list(moved[index])
        top = max(row)
        lse = top + math.log(sum(math.exp(v - top) for v in row))
        out[index] = -sum(math.exp(v - lse) * (v - lse) for v in row)
    return out


def entropy_log_softmax(z, axis=-1):
    log_p = special.log_softmax(z, axis=axis)
    return -np.sum(np.exp(log_p) * log_p, axis=axis)


def entropy_nansum(z, axis=-1):
    """p·log p with NaN for p = 0, dropped by nansum: right, if not pretty."""
    p = stable_softmax(z, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.nansum(p * np.log(p), axis=axis)


def top_k_partition(logits, k):
    z = np.asarray(logits, dtype=float)
    kth = np.partition(z, -k, axis=-1)[..., [-k]]
    return np.where(z >= kth, z, -np.inf)


def top_k_torch(logits, k):
    import torch

    t = torch_in(logits)
    kth = torch.topk(t, k, dim=-1).values[..., -1:]
    return t.masked_fill(t < kth, float("-inf"))


def top_k_loops(logits, k):
    z = np.asarray(logits, dtype=float)
    out = np.full(z.shape, -np.inf)
    for index in np.ndindex(z.shape[:-1]):
        kth = sorted(z[index], reverse=True)[k - 1]
        for j, v in enumerate(z[index]):
            if v >= kth:
                out[index + (j,)] = v
    return out


def top_p_numpy(logits, p):
    z = np.asarray(logits, dtype=float)
    order = np.argsort(z, axis=-1)[..., ::-1]
    q = np.take_along_axis(special.softmax(z, axis=-1), order, axis=-1)
    keep_sorted = np.cumsum(q, axis=-1) - q < p
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, z, -np.inf)


def top_p_ascending(logits, p):
    """Hugging Face's way round: sort ascending and drop the tail whose mass is ≤ 1 − p."""
    z = np.asarray(logits, dtype=float)
    order = np.argsort(z, axis=-1)
    q = np.take_along_axis(special.softmax(z, axis=-1), order, axis=-1)
    drop_sorted = np.cumsum(q, axis=-1) <= 1 - p
    drop_sorted[..., -1] = False
    drop = np.zeros_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=-1)
    return np.where(drop, -np.inf, z)


def top_p_torch(logits, p):
    import torch

    t = torch_in(logits)
    sorted_logits, order = torch.sort(t, descending=True, dim=-1)
    q = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = torch.cumsum(q, dim=-1) - q >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return t.masked_fill(drop, float("-inf"))


def top_p_loops(logits, p):
    z = np.asarray(logits, dtype=float)
    out = np.full(z.shape, -np.inf)
    for index in np.ndindex(z.shape[:-1]):
        row = z[index]
        probs = stable_softmax(row)
        total = 0.0
        for j in sorted(range(len(row)), key=lambda j: -row[j]):
            out[index + (j,)] = row[j]
            total += probs[j]
            if total >= p:
                break
    return out


def sample_choice(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    return int(rng.choice(len(logits), p=special.softmax(np.divide(logits, temperature))))


def sample_inverse_cdf(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    cdf = np.cumsum(stable_softmax(np.divide(logits, temperature)))
    return int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))


def sample_gumbel_max(logits, temperature, rng):
    """argmax(z / T + Gumbel noise) is an exact draw from softmax(z / T)."""
    if temperature < 0:
        raise ValueError("negative temperature")
    z = np.asarray(logits, dtype=float)
    if temperature == 0:
        return int(np.argmax(z))
    return int(np.argmax(z / temperature + rng.gumbel(size=z.shape)))


def sample_torch(logits, temperature, rng):
    import torch

    if temperature < 0:
        raise ValueError("negative temperature")
    t = torch_in(logits).double()
    if temperature == 0:
        return int(torch.argmax(t))
    cdf = torch.cumsum(torch.softmax(t / temperature, dim=-1), dim=-1)
    u = torch.tensor([rng.random()], dtype=cdf.dtype) * cdf[-1]
    return int(torch.searchsorted(cdf, u, right=True).clamp(max=len(cdf) - 1))


def sample_multinomial(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return np.argmax(logits)
    return rng.multinomial(1, stable_softmax(np.divide(logits, temperature))).argmax()


def sample_torch_generator(logits, temperature, rng):
    """torch.multinomial with a torch Generator seeded from `rng`: the same seed, the same token."""
    import torch

    if temperature < 0:
        raise ValueError("negative temperature")
    t = torch_in(logits)
    if temperature == 0:
        return int(t.argmax())
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return torch.multinomial(torch.softmax(t.float() / temperature, dim=-1), 1,
                             generator=generator).item()


def ece_loop(probs, labels, n_bins=15):
    probs = np.asarray(probs, dtype=float)
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    correct = (pred == np.asarray(labels)).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for b in range(n_bins):
        in_bin = (conf > edges[b]) & (conf <= edges[b + 1])
        if b == 0:
            in_bin |= conf == 0
        if in_bin.sum() > 0:
            total += in_bin.sum() / len(conf) * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return total


def ece_digitize(probs, labels, n_bins=15):
    conf = np.max(probs, axis=-1)
    correct = np.argmax(probs, axis=-1) == labels
    bins = np.digitize(conf, np.linspace(0, 1, n_bins + 1)[1:-1], right=True)
    right = np.bincount(bins, weights=correct, minlength=n_bins)
    sure = np.bincount(bins, weights=conf, minlength=n_bins)
    return np.sum(np.abs(right - sure)) / len(conf)


def ece_histogram(probs, labels, n_bins=15):
    """np.histogram bins are [lo, hi); on −conf they become (lo, hi] in confidence."""
    probs = np.asarray(probs, dtype=float)
    conf = probs.max(axis=-1)
    correct = (probs.argmax(axis=-1) == labels).astype(float)
    right, _ = np.histogram(-conf, bins=n_bins, range=(-1, 0), weights=correct)
    sure, _ = np.histogram(-conf, bins=n_bins, range=(-1, 0), weights=conf)
    return np.abs(right - sure).sum() / len(conf)


def ece_torch(probs, labels, n_bins=15):
    import torch

    p = torch_in(probs).double()
    conf, pred = p.max(dim=-1)
    correct = (pred == torch_in(labels)).double()
    bins = torch.bucketize(conf, torch.linspace(0, 1, n_bins + 1, dtype=p.dtype)[1:-1])
    ece = torch.zeros((), dtype=p.dtype)
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.double().mean() * (correct[in_bin].mean() - conf[in_bin].mean()).abs()
    return ece


def _mean_nll(T, z, y):
    return -np.mean(special.log_softmax(z / T, axis=-1)[np.arange(len(y)), y])


def fit_temperature_bounded(logits, labels):
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    result = optimize.minimize_scalar(lambda u: _mean_nll(np.exp(u), z, y),
                                      bounds=(np.log(0.01), np.log(1000)), method="bounded",
                                      options={"xatol": 1e-8})
    return float(np.exp(result.x))


def fit_temperature_bfgs(logits, labels):
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    result = optimize.minimize(lambda u: _mean_nll(np.exp(u[0]), z, y), x0=[0.0], tol=1e-12)
    return float(np.exp(result.x[0]))


def fit_temperature_newton(logits, labels):
    """Newton's method on β = 1/T, where the mean NLL is convex: its derivative is
    mean(E_p[z] − z_y) and its second derivative mean(Var_p[z])."""
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    z_y = z[np.arange(len(y)), y]
    beta = 1.0 / np.std(z)
    for _ in range(100):
        p = special.softmax(beta * z, axis=-1)
        mean = (p * z).sum(axis=-1)
        grad = np.mean(mean - z_y)
        hess = np.mean((p * z**2).sum(axis=-1) - mean**2)
        step = grad / hess
        while beta - step <= 0:
            step /= 2
        beta -= step
        if abs(step) < 1e-12 * beta:
            break
    return 1.0 / beta


def fit_temperature_nelder_mead(logits, labels):
    """Nelder–Mead over log T with its default tolerances."""
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    result = optimize.minimize(lambda u: _mean_nll(np.exp(u[0]), z, y), x0=[0.0],
                               method="Nelder-Mead")
    return float(np.exp(result.x[0]))


def fit_temperature_torch_float32(logits, labels):
    """LBFGS over log T in torch's default float32, returning a 1-element tensor's item."""
    import torch

    z = torch.tensor(np.asarray(logits), dtype=torch.float32)
    y = torch.tensor(np.asarray(labels), dtype=torch.long)
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return log_t.exp().detach()[0]


def fit_temperature_torch(logits, labels):
    import torch

    z = torch_in(logits).double()
    y = torch_in(labels).long()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], max_iter=50, tolerance_grad=1e-9,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def fit_temperature_grid(logits, labels):
    """A coarse grid over log T, then golden-section search around the best point."""
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    grid = np.linspace(np.log(0.01), np.log(1000), 200)
    best = grid[np.argmin([_mean_nll(np.exp(u), z, y) for u in grid])]
    result = optimize.minimize_scalar(lambda u: _mean_nll(np.exp(u), z, y),
                                      bracket=(best - 0.1, best, best + 0.1), method="golden",
                                      tol=1e-10)
    return float(np.exp(result.x))


def distillation_scipy(student_logits, teacher_logits, T):
    log_q = special.log_softmax(np.divide(student_logits, T), axis=-1)
    log_p = special.log_softmax(np.divide(teacher_logits, T), axis=-1)
    p = special.softmax(np.divide(teacher_logits, T), axis=-1)
    return T**2 * np.mean(np.sum(p * (log_p - log_q), axis=-1))


def distillation_torch_batchmean(student_logits, teacher_logits, T):
    import torch.nn.functional as F

    s, t = torch_in(student_logits), torch_in(teacher_logits)
    return F.kl_div(F.log_softmax(s / T, dim=-1), F.log_softmax(t / T, dim=-1),
                    reduction="batchmean", log_target=True) * T**2


def distillation_torch_probs_target(student_logits, teacher_logits, T):
    import torch.nn.functional as F

    s, t = torch_in(student_logits), torch_in(teacher_logits)
    return F.kl_div(F.log_softmax(s / T, dim=-1), F.softmax(t / T, dim=-1),
                    reduction="batchmean") * T * T


def distillation_loops(student_logits, teacher_logits, T):
    total = 0.0
    rows = list(zip(np.asarray(student_logits, dtype=float),
                    np.asarray(teacher_logits, dtype=float), strict=True))
    for s, t in rows:
        s, t = s / T, t / T
        lse_s = s.max() + math.log(sum(math.exp(v - s.max()) for v in s))
        lse_t = t.max() + math.log(sum(math.exp(v - t.max()) for v in t))
        total += sum(math.exp(b - lse_t) * ((b - lse_t) - (a - lse_s))
                     for a, b in zip(s, t, strict=True))
    return T * T * total / len(rows)


RIGHT = [
    ("softmax_temperature", f) for f in (softmax_temperature_logsumexp, softmax_temperature_scipy,
                                         softmax_temperature_torch, softmax_temperature_loops,
                                         softmax_temperature_own_dtype)
] + [
    ("entropy", f) for f in (entropy_scipy_stats, entropy_entr, entropy_torch, entropy_loops,
                             entropy_log_softmax, entropy_nansum)
] + [
    ("top_k_filter", f) for f in (top_k_partition, top_k_torch, top_k_loops)
] + [
    ("top_p_filter", f) for f in (top_p_numpy, top_p_ascending, top_p_torch, top_p_loops)
] + [
    ("sample_next_token", f) for f in (sample_choice, sample_inverse_cdf, sample_gumbel_max,
                                       sample_torch, sample_multinomial, sample_torch_generator)
] + [
    ("expected_calibration_error", f) for f in (ece_loop, ece_digitize, ece_histogram,
                                                ece_torch)
] + [
    ("fit_temperature", f) for f in (fit_temperature_bounded, fit_temperature_bfgs,
                                     fit_temperature_newton, fit_temperature_torch,
                                     fit_temperature_grid, fit_temperature_nelder_mead,
                                     fit_temperature_torch_float32)
] + [
    ("distillation_loss", f) for f in (distillation_scipy, distillation_torch_batchmean,
                                       distillation_torch_probs_target, distillation_loops)
]


@over_right(RIGHT)
def test_right_answers_in_any_style_pass(problem_id, answer):
    passes(problem_id, answer)


def test_every_model_answer_passes_its_check():
    for problem in ch06.PROBLEMS:
        passes(problem.id, problem.reference, seeds=range(2))


# ---------------------------------------------------------------------------------------------
# Wrong answers, written the way learners write them (not the twins), and the names they get


def w_temperature_times_torch(z, T):
    import torch

    if T <= 0:
        raise ValueError("T must be positive")
    return torch.softmax(torch_in(z) * T, dim=-1)


def w_temperature_scipy_unchecked(z, T):
    return special.softmax(np.asarray(z) / T, axis=-1)


def w_temperature_on_scipy_probs(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    return special.softmax(special.softmax(z, axis=-1) / T, axis=-1)


def w_temperature_assert(z, T):
    assert T > 0, "temperature must be positive"
    return special.softmax(np.asarray(z) / T, axis=-1)


def w_entropy_scipy_plain_log(z, axis=-1):
    p = special.softmax(z, axis=axis)
    return -(p * np.log(p)).sum(axis=axis)


def w_entropy_torch_bits(z, axis=-1):
    import torch

    log_p = torch.log_softmax(torch_in(z), dim=axis)
    return -(log_p.exp() * log_p).sum(dim=axis) / math.log(2)


def w_entropy_scipy_base2(z, axis=-1):
    return stats.entropy(special.softmax(z, axis=axis), base=2, axis=axis)


def w_entropy_rows_only(z, axis=-1):
    return stats.entropy(special.softmax(z, axis=-1), axis=-1)


def w_top_k_torch_scatter(logits, k):
    import torch

    t = torch_in(logits)
    values, index = torch.topk(t, k, dim=-1)
    return torch.full_like(t, float("-inf")).scatter(-1, index, values)


def w_top_k_partition_strict(logits, k):
    z = np.asarray(logits, dtype=float)
    kth = np.partition(z, -k, axis=-1)[..., [-k]]
    return np.where(z > kth, z, -np.inf)


def w_top_k_zero_mask(logits, k):
    z = np.array(logits, dtype=float)
    kth = np.sort(z, axis=-1)[..., [-k]]
    z[z < kth] = 0
    return z


def w_top_k_above_next_largest(logits, k):
    """Strictly above the (k+1)-th largest: k entries when nothing ties, fewer when something
    ties at the k-th place."""
    z = np.asarray(logits, dtype=float)
    if k == z.shape[-1]:
        return z
    return np.where(z > np.sort(z, axis=-1)[..., [-k - 1]], z, -np.inf)


def w_top_p_loop_stops_early(logits, p):
    z = np.asarray(logits, dtype=float)
    out = np.full(z.shape, -np.inf)
    for index in np.ndindex(z.shape[:-1]):
        probs = stable_softmax(z[index])
        total = 0.0
        for j in np.argsort(-z[index]):
            if total + probs[j] > p:
                break
            out[index + (j,)] = z[index + (j,)]
            total += probs[j]
    return out


def w_top_p_unsorted_torch(logits, p):
    import torch

    t = torch_in(logits)
    q = torch.softmax(t, dim=-1)
    return t.masked_fill(torch.cumsum(q, dim=-1) - q >= p, float("-inf"))


def w_top_p_at_most_p_exclusive(logits, p):
    z = np.asarray(logits, dtype=float)
    order = np.argsort(-z, axis=-1)
    q = np.take_along_axis(special.softmax(z, axis=-1), order, axis=-1)
    before = np.cumsum(q, axis=-1) - q
    keep = np.zeros(z.shape, dtype=bool)
    np.put_along_axis(keep, order, before <= p, axis=-1)
    return np.where(keep, z, -np.inf)


def w_top_p_sorted_up(logits, p):
    """np.argsort sorts up, so the running sum starts from the least probable token."""
    z = np.asarray(logits, dtype=float)
    order = np.argsort(z, axis=-1)
    q = np.take_along_axis(special.softmax(z, axis=-1), order, axis=-1)
    keep = np.zeros(z.shape, dtype=bool)
    np.put_along_axis(keep, order, np.cumsum(q, axis=-1) - q < p, axis=-1)
    return np.where(keep, z, -np.inf)


def w_top_p_ascending_strict(logits, p):
    """Hugging Face's ascending sort with < for ≤: at p exactly on a cumulative sum it keeps one
    entry more, here one of two equal probabilities (the other one than a descending sort)."""
    import torch

    t = torch_in(logits)
    sorted_logits, order = torch.sort(t, descending=False, dim=-1)
    drop = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1) < 1 - p
    drop[..., -1:] = False
    return t.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


def w_top_p_torch_no_scatter(logits, p):
    import torch

    t = torch_in(logits)
    sorted_logits, _ = torch.sort(t, descending=True, dim=-1)
    q = torch.softmax(sorted_logits, dim=-1)
    return sorted_logits.masked_fill(torch.cumsum(q, dim=-1) - q >= p, float("-inf"))


def w_top_p_renormalised(logits, p):
    z = np.asarray(logits, dtype=float)
    order = np.argsort(-z, axis=-1)
    q = np.take_along_axis(special.softmax(z, axis=-1), order, axis=-1)
    keep = np.zeros(z.shape, dtype=bool)
    np.put_along_axis(keep, order, np.cumsum(q, axis=-1) - q < p, axis=-1)
    kept = np.where(keep, special.softmax(z, axis=-1), 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)


def w_sample_global_choice(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    return int(np.random.choice(len(logits), p=special.softmax(np.divide(logits, temperature))))


def w_sample_torch_multinomial(logits, temperature, rng):
    import torch

    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(torch.argmax(torch_in(logits)))
    return int(torch.multinomial(torch.softmax(torch_in(logits) / temperature, dim=-1), 1))


def w_sample_greedy(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    return int(np.argmax(special.softmax(np.divide(logits, temperature or 1.0))))


def w_sample_gumbel_times(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    z = np.asarray(logits, dtype=float)
    if temperature == 0:
        return int(np.argmax(z))
    return int(np.argmax(z * temperature + rng.gumbel(size=z.shape)))


def w_ece_plain_histogram(probs, labels, n_bins=15):
    conf = np.max(probs, axis=-1)
    correct = (np.argmax(probs, axis=-1) == labels).astype(float)
    right, _ = np.histogram(conf, bins=n_bins, range=(0, 1), weights=correct)
    sure, _ = np.histogram(conf, bins=n_bins, range=(0, 1), weights=conf)
    return np.abs(right - sure).sum() / len(conf)


def w_ece_mean_of_gaps(probs, labels, n_bins=15):
    conf = np.max(probs, axis=-1)
    correct = np.argmax(probs, axis=-1) == labels
    bins = np.digitize(conf, np.linspace(0, 1, n_bins + 1)[1:-1], right=True)
    gaps = [abs(correct[bins == b].mean() - conf[bins == b].mean())
            for b in range(n_bins) if np.any(bins == b)]
    return np.mean(gaps)


def w_fit_on_probabilities(logits, labels):
    p = special.softmax(logits, axis=-1)
    return fit_temperature_bounded(p, labels)


def w_fit_scale_returned(logits, labels):
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    result = optimize.minimize_scalar(lambda u: _mean_nll(np.exp(-u), z, y),
                                      bounds=(np.log(0.001), np.log(100)), method="bounded",
                                      options={"xatol": 1e-8})
    return float(np.exp(result.x))


def w_distill_torch_mean(student_logits, teacher_logits, T):
    import torch.nn.functional as F

    s, t = torch_in(student_logits), torch_in(teacher_logits)
    return F.kl_div(F.log_softmax(s / T, dim=-1), F.softmax(t / T, dim=-1),
                    reduction="mean") * T**2


def w_fit_labels_as_columns(logits, labels):
    """log_softmax(...)[:, y] is N×N: its NLL keeps falling as T grows, so the search stops at
    the end of its own range (e^7 here)."""
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    result = optimize.minimize_scalar(
        lambda u: -np.mean(special.log_softmax(z / np.exp(u), axis=-1)[:, y]),
        bounds=(-7, 7), method="bounded", options={"xatol": 1e-9})
    return float(np.exp(result.x))


def w_distill_torch_no_t2(student_logits, teacher_logits, T):
    import torch.nn.functional as F

    s, t = torch_in(student_logits), torch_in(teacher_logits)
    return F.kl_div(F.log_softmax(s / T, dim=-1), F.softmax(t / T, dim=-1),
                    reduction="batchmean")


def w_distill_divided_by_t2(student_logits, teacher_logits, T):
    log_q = special.log_softmax(np.divide(student_logits, T), axis=-1)
    log_p = special.log_softmax(np.divide(teacher_logits, T), axis=-1)
    return np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)) / T**2


def w_distill_reverse_rel_entr(student_logits, teacher_logits, T):
    log_q = special.log_softmax(np.divide(student_logits, T), axis=-1)
    log_p = special.log_softmax(np.divide(teacher_logits, T), axis=-1)
    return T**2 * np.mean(np.sum(np.exp(log_q) * (log_q - log_p), axis=-1))


def w_distill_sum_torch(student_logits, teacher_logits, T):
    import torch.nn.functional as F

    s, t = torch_in(student_logits), torch_in(teacher_logits)
    return F.kl_div(F.log_softmax(s / T, dim=-1), F.softmax(t / T, dim=-1),
                    reduction="sum") * T**2


def w_distill_rel_entr(student_logits, teacher_logits, T):
    p = special.softmax(np.divide(teacher_logits, T), axis=-1)
    q = special.softmax(np.divide(student_logits, T), axis=-1)
    return T**2 * special.rel_entr(p, q).sum(axis=-1).mean()


def w_distill_soft_ce_torch(student_logits, teacher_logits, T):
    import torch
    import torch.nn.functional as F

    s, t = torch_in(student_logits), torch_in(teacher_logits)
    soft = F.softmax(t / T, dim=-1)
    return -(soft * torch.log_softmax(s / T, dim=-1)).sum(dim=-1).mean() * T**2


WRONG = [
    ("softmax_temperature", w_temperature_times_torch, "temperature_multiplies"),
    ("softmax_temperature", w_temperature_scipy_unchecked, "accepts_invalid_temperature"),
    ("softmax_temperature", w_temperature_on_scipy_probs, "temperature_on_probs"),
    ("entropy", w_entropy_scipy_plain_log, "entropy_nan_zero_prob"),
    ("entropy", w_entropy_torch_bits, "wrong_log_base"),
    ("entropy", w_entropy_scipy_base2, "wrong_log_base"),
    ("entropy", w_entropy_rows_only, "wrong_axis"),
    ("top_k_filter", w_top_k_torch_scatter, "top_k_off_by_one"),
    ("top_k_filter", w_top_k_partition_strict, "top_k_off_by_one"),
    ("top_k_filter", w_top_k_zero_mask, "mask_fill_zero"),
    ("top_k_filter", w_top_k_above_next_largest, "top_k_off_by_one"),
    ("top_p_filter", w_top_p_loop_stops_early, "top_p_excludes_crossing"),
    ("top_p_filter", w_top_p_unsorted_torch, "top_p_unsorted"),
    ("top_p_filter", w_top_p_at_most_p_exclusive, "top_p_keeps_extra"),
    ("top_p_filter", w_top_p_torch_no_scatter, "sorted_order_returned"),
    ("top_p_filter", w_top_p_renormalised, "filter_returns_probabilities"),
    ("top_p_filter", w_top_p_sorted_up, "top_p_unsorted"),
    ("top_p_filter", w_top_p_ascending_strict, "top_p_keeps_extra"),
    ("sample_next_token", w_sample_global_choice, "ignores_rng"),
    ("sample_next_token", w_sample_torch_multinomial, "ignores_rng"),
    ("sample_next_token", w_sample_greedy, "argmax_not_sample"),
    ("sample_next_token", w_sample_gumbel_times, "temperature_multiplies"),
    ("expected_calibration_error", w_ece_plain_histogram, "ece_bin_edges"),
    ("expected_calibration_error", w_ece_mean_of_gaps, "ece_unweighted"),
    ("fit_temperature", w_fit_on_probabilities, "temperature_on_probs"),
    ("fit_temperature", w_fit_scale_returned, "temperature_multiplies"),
    ("fit_temperature", w_fit_labels_as_columns, "wrong_target_indexing"),
    ("distillation_loss", w_distill_torch_mean, "kl_mean_over_classes"),
    ("distillation_loss", w_distill_torch_no_t2, "no_t_squared"),
    ("distillation_loss", w_distill_divided_by_t2, "no_t_squared"),
    ("distillation_loss", w_distill_reverse_rel_entr, "kl_direction"),
    ("distillation_loss", w_distill_sum_torch, "sum_not_mean"),
    ("distillation_loss", w_distill_rel_entr, "log_of_softmax"),
    ("distillation_loss", w_distill_soft_ce_torch, "soft_ce_not_kl"),
]

NAMING_SEEDS = range(3)


def test_wrong_answers_are_named_nine_times_in_ten():
    assert len(WRONG) >= 15
    assert_named_nine_in_ten(WRONG, NAMING_SEEDS)


@over_wrong(WRONG)
def test_each_wrong_answer_fails_with_its_name(problem_id, answer, expected):
    assert_named(problem_id, answer, expected)


def test_an_assert_instead_of_a_value_error_is_reported_as_such():
    result = tutor.check("softmax_temperature", w_temperature_assert, seed=0)
    line = w_temperature_assert.__code__.co_firstlineno + 1
    assert result.status == "failed" and result.misconception is None
    # (pytest's assertion rewriting adds "assert 0.0 > 0" to the exception's text)
    assert result.message.startswith(
        "softmax_temperature(z=[2., 1., 0.], T=0) should raise ValueError, since T = 0 divides "
        "by zero, but it raised AssertionError: temperature must be positive")
    assert result.message.endswith(
        f"at line {line} of test_ch06.py: `assert T > 0, \"temperature must be positive\"`.")


def test_a_value_error_for_a_valid_temperature_is_not_mistaken_for_the_contract():
    """Broadcasting errors are ValueErrors too: on a valid T this one is the shared softmax's
    missing keepdims (named from the ordinary inputs), and the missing max shift shows too."""
    def softmax_temperature(z, T):
        if T <= 0:
            raise ValueError("T must be positive")
        e = np.exp(np.asarray(z) / T)
        return e / e.sum(axis=-1)

    line = softmax_temperature.__code__.co_firstlineno + 4
    result = tutor.check("softmax_temperature", softmax_temperature, seed=0)
    assert result.status == "failed"
    assert result.misconceptions == ("missing_keepdims", "no_max_shift")
    assert result.message.endswith(
        "but it raised ValueError: operands could not be broadcast together with shapes (3,2) "
        f"(3,) at line {line} of test_ch06.py: `return e / e.sum(axis=-1)`. It also shows a "
        "second mistake on softmax_temperature(z=[ 3., 1., -2.], T=0.001): No max shift before "
        "exp (no_max_shift).")


def test_a_mistake_no_twin_knows_gets_expected_versus_got():
    def entropy(z, axis=-1):  # the logits where the log-probabilities belong
        p = special.softmax(z, axis=axis)
        return -np.sum(p * z, axis=axis)

    result = tutor.check("entropy", entropy, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message == (
        "On entropy(z=[[1.], [3.]]) (rows of one logit: entropy 0), your entropy has 2 of 2 "
        "entries wrong; at index 0 the answer is 0 but you have -1. Entropy is never negative, "
        "but yours is -3.")


def test_entropy_without_its_minus_sign_is_named():
    def entropy(z, axis=-1):
        log_p = special.log_softmax(z, axis=axis)
        return np.sum(np.exp(log_p) * log_p, axis=axis)

    result = tutor.check("entropy", entropy, seed=0)
    assert result.misconception == "nll_sign"
    assert result.message.endswith("Entropy is never negative, but yours is -1.3224.")


# ---------------------------------------------------------------------------------------------
# The statistical check of sample_next_token


def test_ignoring_the_generator_is_named_and_explained():
    result = tutor.check("sample_next_token", w_sample_global_choice, seed=0)
    assert result.misconception == "ignores_rng"
    assert result.message.startswith(
        "Draw with the `rng` argument (rng.choice, rng.random) so that the same seed gives the "
        "same token; the global np.random state makes runs irreproducible. On "
        "sample_next_token(logits=[ 0.5, 2., 1.5, -1.] (float32), temperature=0.5, "
        "rng=np.random.default_rng(20240608)) (float32 logits, T = 0.5) the answer is [0.0351, "
        "0.7042, 0.259, 0.0017] but it returned different tokens from two generators with the "
        "same seed.")


def test_a_wrong_distribution_names_the_frequencies_and_the_test():
    def sample_next_token(logits, temperature, rng):  # a sampler that drops the last token
        if temperature < 0:
            raise ValueError("negative temperature")
        if temperature == 0:
            return int(np.argmax(logits))
        p = stable_softmax(np.divide(logits, temperature))[:-1]
        return int(rng.choice(len(p), p=p / p.sum()))

    result = tutor.check("sample_next_token", sample_next_token, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message.startswith("On sample_next_token(logits=[ 2., 1., 0.5, -0.5, -1.], "
                                     "temperature=2, rng=np.random.default_rng(20240607)) (the "
                                     "lesson's (2, 1, 0.5, −0.5, −1) at T = 2), your "
                                     "sample_next_token drew tokens with frequencies [")
    assert "in 2000 draws, but softmax(logits / T) is [0.3863, 0.2343, 0.1825, 0.1107, 0.0862] " \
           "(a chi-square test rejects this, p = " in result.message


def sample_exponential_noise(logits, temperature, rng):
    """Gumbel-max one log short: −log u is exponential noise, not Gumbel."""
    if temperature < 0:
        raise ValueError("negative temperature")
    z = np.asarray(logits, dtype=float)
    if temperature == 0:
        return int(np.argmax(z))
    return int(np.argmax(z / temperature - np.log(rng.random(z.shape))))


def sample_normal_noise(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    z = np.asarray(logits, dtype=float)
    if temperature == 0:
        return int(np.argmax(z))
    return int(np.argmax(z / temperature + rng.normal(size=z.shape)))


def sample_gumbel_subtracted(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    z = np.asarray(logits, dtype=float)
    if temperature == 0:
        return int(np.argmax(z))
    return int(np.argmax(z / temperature - rng.gumbel(size=z.shape)))


def sample_temperature_off(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    p = stable_softmax(np.divide(logits, 1.3 * temperature))
    return int(rng.choice(len(p), p=p))


@pytest.mark.parametrize("answer", [sample_exponential_noise, sample_normal_noise,
                                    sample_gumbel_subtracted, sample_temperature_off])
def test_a_sampler_near_the_right_distribution_fails_without_a_wrong_name(answer):
    """Close to softmax(z / T) but not it: each fails, with expected-vs-got frequencies, never
    named after a twin that draws from the right distribution for T > 0 (as the one that skips
    the T < 0 check does)."""
    for seed in range(3):
        result = tutor.check("sample_next_token", answer, seed=seed)
        assert result.status == "failed", f"seed {seed}: {result.message}"
        assert result.misconception is None, f"seed {seed}: {result.message}"
        assert "a chi-square test rejects this" in result.message


def test_each_twin_sampler_draws_from_the_distribution_it_declares():
    problem = registry.get("sample_next_token")
    rng = np.random.default_rng(7)
    for twin in problem.twins:
        exact = getattr(twin.fn, "exact", None)
        if exact is None:
            continue
        for case in [*problem.probes(), *problem.generate(rng)]:
            logits, T, seed = case.args
            with np.errstate(all="ignore"):
                p = exact(np.asarray(logits, dtype=float), T)
            if T <= 0 or not np.all(np.isfinite(p)):
                continue
            generator = np.random.default_rng(seed.seed)
            tokens = [twin.fn(logits, T, generator) for _ in range(ch06.DRAWS)]
            counts = np.bincount(tokens, minlength=len(logits))
            assert statistics.goodness_of_fit(p, counts) > 1e-6, (twin.fn.__name__, case.note)


def test_returning_an_array_of_one_token_is_explained():
    def sample_next_token(logits, temperature, rng):
        if temperature < 0:
            raise ValueError("negative temperature")
        if temperature == 0:
            return np.argmax(logits, keepdims=True)
        return rng.choice(len(logits), size=1, p=stable_softmax(np.divide(logits, temperature)))

    result = tutor.check("sample_next_token", sample_next_token, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert "instead of one token: return a single int, e.g. int(rng.choice(V, p=p))" \
        in result.message


def test_a_token_returned_as_a_float_shows_its_decimal_point():
    def sample_next_token(logits, temperature, rng):
        if temperature < 0:
            raise ValueError("negative temperature")
        if temperature == 0:
            return float(np.argmax(logits))
        return float(rng.choice(len(logits), p=stable_softmax(np.divide(logits, temperature))))

    result = tutor.check("sample_next_token", sample_next_token, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message.endswith("your sample_next_token returned 1.0, a float64 value, "
                                   "instead of an int.")


def test_greedy_must_not_need_the_generator():
    def sample_next_token(logits, temperature, rng):
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        return int(rng.choice(len(logits), p=stable_softmax(np.divide(logits, temperature))))

    result = tutor.check("sample_next_token", sample_next_token, seed=0)
    assert not result.passed
    assert result.status == "error"
    assert result.message.startswith("ValueError: temperature must be positive at line ")
    assert result.message.endswith(", on sample_next_token(logits=[ 0.5, -1., 2.5, 1.], "
                                   "temperature=0, rng=np.random.default_rng(20240610)).")


# ---------------------------------------------------------------------------------------------
# Messages a learner reads, word for word


def test_a_missing_value_error_is_named_with_the_verdicts():
    result = tutor.check("softmax_temperature", w_temperature_scipy_unchecked, seed=0)
    assert result.title == "No error for T ≤ 0"
    assert result.link == "../notebooks/06_temperature.ipynb#Temperature"
    assert result.message == (
        "Dividing by T = 0 gives inf/NaN and a negative T reverses the ranking; raise "
        "ValueError for T ≤ 0 (in a sampler, where T = 0 means greedy, for T < 0). "
        "softmax_temperature(z=[2., 1., 0.], T=0) should raise ValueError, since T = 0 divides "
        "by zero, but it returned [nan, nan, nan].")


def test_a_fitted_temperature_left_in_an_array_is_told_how_to_unwrap_it():
    def fit_temperature(logits, labels):
        z, y = np.asarray(logits, dtype=float), np.asarray(labels)
        return np.exp(optimize.minimize(lambda u: _mean_nll(np.exp(u[0]), z, y), x0=[0.0],
                                        tol=1e-10).x)

    result = tutor.check("fit_temperature", fit_temperature, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message == (
        "On fit_temperature(logits=[[ 3., 0., -1.], [ 0., 2., 1.], [ 1., -1., 3.], [ 2., 1., "
        "0.], [ -2., 2., 0.], [ 0., 3., 1.], [2000., 0., -5.]], labels=[0, 1, 2, 1, 1, 2, 0]) "
        "(seven examples: two misclassified, one sure (a logit of 2000)), your fit_temperature "
        "returned shape (1,) instead of (): an array holding one number, such as the .x of "
        "scipy.optimize.minimize; return the number itself, float(result.x[0]).")


def test_a_pass_lists_the_hard_cases_it_survived():
    result = tutor.check("top_p_filter", ch06.top_p_filter, seed=0)
    assert result.message == (
        "top_p_filter is right on all 15 inputs, including p exactly at a cumulative sum "
        "(1/2 + 1/4), p between two cumulative sums, p below the top probability, probabilities "
        "(0.1, 0.5, 0.05, 0.35) and p = 0.9, p = 1 keeps everything, a batch of rows, logits "
        "near 1000, two rows 1000 apart, rows of one logit, float32 and two logits 0.0004 "
        "apart near 1e4.")


def test_the_boundary_probe_is_exact():
    """Logits a whole number of ln 2 apart give exact cumulative sums in numpy, scipy and
    torch, so p = 0.75 really sits on the boundary for every correct answer."""
    z = np.array([-2.0, 0.0, -2.0, -1.0]) * np.log(2.0)
    for p in (stable_softmax(z), special.softmax(z), torch_in(z).softmax(-1).numpy()):
        assert np.cumsum(np.sort(p)[::-1]).tolist() == [0.5, 0.75, 0.875, 1.0]


# ---------------------------------------------------------------------------------------------
# The references: the numbers the lesson asserts, and the properties they rest on


def test_references_reproduce_the_lesson_numbers():
    z = np.array([2.0, 1.0, 0.0])
    assert np.allclose(ch06.softmax_temperature(z, 0.5), [0.8668, 0.1173, 0.0159], atol=5e-5)
    assert np.allclose(ch06.softmax_temperature(z, 2.0), [0.5065, 0.3072, 0.1863], atol=5e-5)
    assert np.allclose(ch06.softmax_temperature(z, 5.0), [0.4018, 0.3289, 0.2693], atol=5e-5)
    assert np.isclose(ch06.entropy(np.zeros(4)), np.log(4))
    kept = ch06.top_p_filter(np.log(np.array([0.50, 0.35, 0.10, 0.05])), 0.9)
    assert np.isfinite(kept).sum() == 3  # the nucleus of p = 0.9 holds three tokens (0.95)


def test_temperature_keeps_the_argmax_and_entropy_grows_with_it():
    z = np.random.default_rng(3).normal(0, 2, (20, 7))
    entropies = [ch06.entropy(z / T) for T in (0.2, 0.5, 1, 2, 5)]
    for T in (0.2, 0.5, 1, 2, 5):
        assert np.array_equal(ch06.softmax_temperature(z, T).argmax(-1), z.argmax(-1))
    assert np.all(np.diff(entropies, axis=0) > 0)


def test_fit_temperature_recovers_the_true_temperature_of_a_large_sample():
    rng = np.random.default_rng(4)
    logits, labels = ch06._classifier(rng, 20_000, 6, 2.5)
    assert abs(ch06.fit_temperature(logits, labels) - 2.5) < 0.1


def test_distillation_gradient_scale_is_steady_in_t():
    """With T², the gradient with respect to the student's logits stays about the same size as
    T grows (it tends to (z_s − z_t)/K for zero-mean logits); without it, it falls like 1/T²."""
    rng = np.random.default_rng(5)
    s, t = rng.normal(0, 1, (1, 5)), rng.normal(0, 1, (1, 5))
    s, t = s - s.mean(), t - t.mean()

    def grad(T, h=1e-6):
        g = np.zeros_like(s)
        for j in range(s.shape[1]):
            e = np.zeros_like(s)
            e[0, j] = h
            g[0, j] = (ch06.distillation_loss(s + e, t, T) - ch06.distillation_loss(s - e, t, T)) \
                / (2 * h)
        return g

    assert np.allclose(grad(50.0), (s - t) / 5, rtol=0.02, atol=1e-3)
    assert np.allclose(grad(100.0), grad(50.0), rtol=0.02, atol=1e-4)


def test_ece_bins_are_closed_on_the_right():
    probs = np.array([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]])
    # 0.5 is in bin (0, 0.5] alone: right, conf 0.5 → gap 0.5; bin (0.5, 1]: wrong, conf 0.9.
    assert np.isclose(ch06.expected_calibration_error(probs, np.array([0, 1]), n_bins=2),
                      0.5 * 0.5 + 0.5 * 0.9)


# ---------------------------------------------------------------------------------------------
# The same verdict on every seed: twins, right answers and edge-case mistakes over 30 seeds

PROBLEM_IDS = ["softmax_temperature", "entropy", "top_k_filter", "top_p_filter",
               "sample_next_token", "expected_calibration_error", "fit_temperature",
               "distillation_loss"]
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


def e_temperature_power(z, T):
    """softmax(z)^(1/T) renormalised: right on paper, 0/0 once (1/4)^1000 underflows."""
    if T <= 0:
        raise ValueError("T must be positive")
    q = stable_softmax(z) ** (1 / T)
    return q / q.sum(axis=-1, keepdims=True)


def e_temperature_torch_float32(z, T):
    import torch

    if T <= 0:
        raise ValueError("T must be positive")
    return torch.softmax(torch.tensor(np.asarray(z), dtype=torch.float32) / T, dim=-1)


def e_temperature_squeezed(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    return np.squeeze(special.softmax(np.divide(z, T), axis=-1))


def e_temperature_mean_shift(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    x = np.asarray(z) / T
    e = np.exp(x - x.mean(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def e_entropy_keepdims(z, axis=-1):
    log_p = special.log_softmax(z, axis=axis)
    return -np.sum(np.exp(log_p) * log_p, axis=axis, keepdims=True)


def e_entropy_shift_first_entry(z, axis=-1):
    z = np.asarray(z)
    first = np.take(z, [0], axis=axis)
    log_p = z - first - np.log(np.sum(np.exp(z - first), axis=axis, keepdims=True))
    return -np.sum(np.exp(log_p) * log_p, axis=axis)


def e_entropy_lse_last_axis(z, axis=-1):
    log_p = z - special.logsumexp(z, axis=-1, keepdims=True)
    return -np.sum(np.exp(log_p) * log_p, axis=axis)


def e_top_k_squeezed(logits, k):
    z = np.asarray(logits, dtype=float)
    return np.squeeze(np.where(z >= np.sort(z, axis=-1)[..., [-k]], z, -np.inf))


def e_top_k_torch_sorted(logits, k):
    import torch

    values = torch.sort(torch_in(logits), descending=True, dim=-1).values
    return values.masked_fill(values < values[..., k - 1:k], float("-inf"))


def e_top_p_no_shift(logits, p):
    z = np.asarray(logits, dtype=float)
    order = np.argsort(-z, axis=-1)
    e = np.exp(np.take_along_axis(z, order, axis=-1))
    q = e / e.sum(axis=-1, keepdims=True)
    keep = np.zeros(z.shape, dtype=bool)
    np.put_along_axis(keep, order, np.cumsum(q, axis=-1) - q < p, axis=-1)
    return np.where(keep, z, -np.inf)


def e_top_p_softmax_of_everything(logits, p):
    z = np.asarray(logits, dtype=float)
    order = np.argsort(-z, axis=-1)
    q = np.take_along_axis(special.softmax(z), order, axis=-1)  # no axis: the whole batch
    keep = np.zeros(z.shape, dtype=bool)
    np.put_along_axis(keep, order, np.cumsum(q, axis=-1) - q < p, axis=-1)
    return np.where(keep, z, -np.inf)


def e_top_p_squeezed(logits, p):
    return np.squeeze(top_p_numpy(logits, p))


def e_top_p_float32(logits, p):
    """np.float32 "to save memory": two logits 0.0004 apart near 1e4 become equal."""
    return top_p_numpy(np.asarray(logits, dtype=np.float32), p).astype(np.float64)


def e_sample_argmax_no_check(logits, temperature, rng):
    return int(np.argmax(logits))


def e_sample_torch_float_token(logits, temperature, rng):
    if temperature < 0:
        raise ValueError("negative temperature")
    if temperature == 0:
        return int(np.argmax(logits))
    p = stable_softmax(np.divide(logits, temperature))
    return np.float64(rng.choice(len(p), p=p))


def e_ece_left_closed_digitize(probs, labels, n_bins=15):
    conf = np.max(probs, axis=-1)
    correct = np.argmax(probs, axis=-1) == np.asarray(labels)
    b = np.minimum((conf * n_bins).astype(int), n_bins - 1)   # [lo, hi): 0.5 goes up a bin
    return sum(np.mean(b == i) * abs(correct[b == i].mean() - conf[b == i].mean())
               for i in range(n_bins) if np.any(b == i))


def e_fit_coarse_grid(logits, labels):
    Ts = np.exp(np.linspace(np.log(0.05), np.log(100), 60))    # steps of 13 %
    return float(Ts[np.argmin([_mean_nll(T, logits, labels) for T in Ts])])


def e_distill_global_shift(student_logits, teacher_logits, T):
    def log_softmax(x):
        x = np.asarray(x) / T
        return x - x.max() - np.log(np.exp(x - x.max()).sum(axis=-1, keepdims=True))
    log_q, log_p = log_softmax(student_logits), log_softmax(teacher_logits)
    return T * T * np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1))


def e_distill_torch_float32(student_logits, teacher_logits, T):
    """torch.tensor of each input (float32), F.log_softmax and F.kl_div, back to a float."""
    import torch
    import torch.nn.functional as F

    s, t = (torch.tensor(x, dtype=torch.float32) / T for x in (student_logits, teacher_logits))
    kl = F.kl_div(F.log_softmax(s, dim=-1), F.log_softmax(t, dim=-1), log_target=True,
                  reduction="batchmean")
    return float(kl) * T * T


EDGE_WRONG = [
    ("softmax_temperature", e_temperature_power, None),
    ("softmax_temperature", e_temperature_torch_float32, "lower_precision"),
    ("softmax_temperature", e_temperature_squeezed, None),
    ("softmax_temperature", e_temperature_mean_shift, "no_max_shift"),
    ("entropy", e_entropy_keepdims, None),
    ("entropy", e_entropy_shift_first_entry, "no_max_shift"),
    ("entropy", e_entropy_lse_last_axis, "wrong_axis"),
    ("top_k_filter", e_top_k_squeezed, None),
    ("top_k_filter", e_top_k_torch_sorted, "sorted_order_returned"),
    ("top_p_filter", e_top_p_no_shift, "no_max_shift"),
    ("top_p_filter", e_top_p_softmax_of_everything, "wrong_axis"),
    ("top_p_filter", e_top_p_squeezed, None),
    ("top_p_filter", e_top_p_float32, "lower_precision"),
    ("sample_next_token", e_sample_argmax_no_check, "argmax_not_sample"),
    ("sample_next_token", e_sample_torch_float_token, None),
    ("expected_calibration_error", e_ece_left_closed_digitize, "ece_bin_edges"),
    ("fit_temperature", e_fit_coarse_grid, None),
    ("distillation_loss", e_distill_global_shift, "global_max_shift"),
    ("distillation_loss", e_distill_torch_float32, "lower_precision"),
]


@pytest.mark.parametrize("problem_id", PROBLEM_IDS)
def test_wrong_answers_at_the_edges_fail_on_every_seed(problem_id):
    every_wrong_answer_named(problem_id, EDGE_WRONG)


def e_entropy_torch_float32(z, axis=-1):
    """torch.tensor(z, dtype=torch.float32): right to float32's digits, not to float64's."""
    import torch

    logits = torch.movedim(torch.tensor(np.asarray(z), dtype=torch.float32), axis, -1)
    return torch.distributions.Categorical(logits=logits).entropy()


EDGE_WRONG.append(("entropy", e_entropy_torch_float32, "lower_precision"))


# ---------------------------------------------------------------------------------------------
# Mistakes a blind test of learners' answers found passing, unnamed or misnamed: each fails on
# every seed, named first with its misconception.


def e_top_k_sorted_row_cut_at_k(logits, k):
    """The row sorted, every entry after the k-th set to −inf: in sorted order, ties dropped."""
    z = -np.sort(-np.asarray(logits), axis=-1)
    z[..., k:] = -np.inf
    return z


def _ranked_probs(logits):
    p = special.softmax(np.asarray(logits, dtype=float), axis=-1)
    order = np.argsort(-p, axis=-1)
    return order, np.take_along_axis(p, order, axis=-1)


def e_top_p_on_sorted_logits(logits, p):
    """The running sum taken over the sorted logits instead of their probabilities."""
    z = np.asarray(logits, dtype=float)
    order = np.argsort(-z, axis=-1)
    ranked = np.take_along_axis(z, order, axis=-1)
    keep_ranked = np.cumsum(ranked, axis=-1) - ranked < p
    keep_ranked[..., 0] = True
    keep = np.empty_like(keep_ranked)
    np.put_along_axis(keep, order, keep_ranked, axis=-1)
    return np.where(keep, z, -np.inf)


def e_top_p_kept_probabilities(logits, p):
    """The nucleus's probabilities, not renormalised, 0 elsewhere: probabilities, not logits."""
    order, ranked = _ranked_probs(logits)
    keep_ranked = np.cumsum(ranked, axis=-1) - ranked < p
    keep_ranked[..., 0] = True
    keep = np.empty_like(keep_ranked)
    np.put_along_axis(keep, order, keep_ranked, axis=-1)
    return np.where(keep, special.softmax(np.asarray(logits, dtype=float), axis=-1), 0.0)


EDGE_WRONG += [
    ("top_k_filter", e_top_k_sorted_row_cut_at_k, "sorted_order_returned"),
    ("top_p_filter", e_top_p_on_sorted_logits, "filter_on_logits"),
    ("top_p_filter", e_top_p_kept_probabilities, "filter_returns_probabilities"),
]


def b_nucleus_mass_before_at_most_p(logits, p):
    """≤ p on the mass before each token: at p exactly on a cumulative sum, one token too many."""
    _, ranked = _ranked_probs(logits)
    return ((np.cumsum(ranked, axis=-1) - ranked) <= p).sum(axis=-1)


def b_nucleus_first_above_p(logits, p):
    """The first position where the mass exceeds p (> instead of ≥)."""
    _, ranked = _ranked_probs(logits)
    above = np.cumsum(ranked, axis=-1) > p
    above[:, -1] = True
    return above.argmax(axis=-1) + 1


def b_nucleus_on_logits(logits, p):
    z = -np.sort(-np.asarray(logits, dtype=float), axis=-1)
    return np.maximum(((np.cumsum(z, axis=-1) - z) < p).sum(axis=-1), 1)


def b_nucleus_softmax_over_rows(logits, p):
    probs = special.softmax(np.asarray(logits, dtype=float), axis=0)
    ranked = -np.sort(-probs, axis=-1)
    return np.maximum(((np.cumsum(ranked, axis=-1) - ranked) < p).sum(axis=-1), 1)


def b_nll_grad_no_shift(logits, labels, T):
    z, y = np.asarray(logits, dtype=float), np.asarray(labels)
    with np.errstate(all="ignore"):
        e = np.exp(z / T)
        p = e / e.sum(axis=1, keepdims=True)
    return float(np.mean(z[np.arange(len(y)), y] - (p * z).sum(axis=1)) / T**2)


def _bisect_log_t(entropy_at, H, lo, hi):
    for _ in range(200):
        mid = (lo + hi) / 2
        if entropy_at(math.exp(mid)) < H:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def b_temperature_unshifted_entropy(z, H):
    """exp(z / T) without the max shift: NaN once it overflows, and NaN < H is False."""
    def entropy_at(T):
        with np.errstate(all="ignore"):
            e = np.exp(np.asarray(z, dtype=float) / T)
            p = e / e.sum()
            return float(-special.xlogy(p, p).sum())
    return _bisect_log_t(entropy_at, H, -20.0, 20.0)


def b_temperature_entropy_nan_at_zero(z, H):
    """p · log p with p = 0 gives NaN, read as an entropy too high."""
    def entropy_at(T):
        p = special.softmax(np.asarray(z, dtype=float) / T)
        with np.errstate(all="ignore"):
            return float(-(p * np.log(p)).sum())
    return _bisect_log_t(entropy_at, H, -30.0, 30.0)


BEYOND_IDS = ["nucleus_size", "nll_temperature_grad", "temperature_for_entropy"]
"""The practice notebook's further problems (their twins are swept in test_practice_beyond.py)."""

BEYOND_WRONG = [
    ("nucleus_size", b_nucleus_mass_before_at_most_p, "top_p_keeps_extra"),
    ("nucleus_size", b_nucleus_first_above_p, "top_p_keeps_extra"),
    ("nucleus_size", b_nucleus_on_logits, "filter_on_logits"),
    ("nucleus_size", b_nucleus_softmax_over_rows, "wrong_axis"),
    ("nll_temperature_grad", b_nll_grad_no_shift, "no_max_shift"),
    ("temperature_for_entropy", b_temperature_unshifted_entropy, "no_max_shift"),
    ("temperature_for_entropy", b_temperature_entropy_nan_at_zero, "entropy_nan_zero_prob"),
]


@pytest.mark.parametrize("problem_id", BEYOND_IDS)
def test_wrong_answers_beyond_the_lesson_fail_on_every_seed(problem_id):
    every_wrong_answer_named(problem_id, BEYOND_WRONG)


def test_the_temperature_for_entropy_example_is_true():
    """The statement's example: softmax(2, 1, 0) has entropy 0.8324 nats, and that entropy
    gives back T = 1.00."""
    p = special.softmax([2.0, 1.0, 0.0])
    assert round(float(-np.sum(p * np.log(p))), 4) == 0.8324
    assert round(ch06.temperature_for_entropy(np.array([2.0, 1.0, 0.0]), 0.8324), 2) == 1.0
    assert "H = 0.8324" in registry.get("temperature_for_entropy").statement
