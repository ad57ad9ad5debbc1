"""Chapter 05 from the learner's side: right answers written in any style pass (numpy, loops,
scipy, torch, the input's own dtype), wrong answers written the way learners write them are named
with the right misconception, the torch problem notices the built-in loss and checks gradients,
and the margin explorer shows the loss and the gradient p − y."""

from __future__ import annotations

import importlib
import io
import math
import subprocess
import sys

import numpy as np
import pytest
from learners import (
    SWEEP,
    assert_named,
    assert_named_nine_in_ten,
    over_right,
    over_wrong,
    passes,
    sweep,
    torch_in,
)
from PIL import Image
from scipy import special

import tutor
from tutor import registry
from tutor.chapters import ch05_cross_entropy as ch05
from tutor.widgets.cross_entropy import MARGIN, MarginExplorer

# torch is imported here, before any check's time limit starts: a first import cut short by
# the limit would leave it half-imported for every later check.
importlib.import_module("torch")


def rows(z, targets):
    return np.arange(len(z)), np.asarray(targets)


# ---------------------------------------------------------------------------------------------
# Right answers, in several styles


def ce_scipy(logits, targets):
    return np.mean(special.logsumexp(logits, axis=1) - logits[rows(logits, targets)])


def ce_scipy_log_softmax(logits, targets):
    return -np.mean(special.log_softmax(logits, axis=1)[rows(logits, targets)])


def ce_loops(logits, targets):
    total = 0.0
    for z, y in zip(np.asarray(logits, dtype=float), targets, strict=True):
        m = max(z)
        total += m + math.log(sum(math.exp(v - m) for v in z)) - z[y]
    return total / len(logits)


def ce_torch(logits, targets):
    import torch.nn.functional as F

    return F.cross_entropy(torch_in(logits), torch_in(targets).long())


def ce_own_dtype(logits, targets):
    """np.logaddexp.reduce and take_along_axis, computed in the logits' own dtype."""
    lse = np.logaddexp.reduce(logits, axis=1)
    picked = np.take_along_axis(logits, np.asarray(targets)[:, None].astype(np.intp), axis=1)
    return np.mean(lse - picked[:, 0])


def ce_one_hot(logits, targets):
    z = np.asarray(logits, dtype=float)
    m = z.max(axis=1, keepdims=True)
    log_p = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    return -(np.eye(z.shape[1])[targets] * log_p).sum(axis=1).mean()


def grad_scipy(logits, targets):
    N, K = np.shape(logits)
    return (special.softmax(logits, axis=1) - np.eye(K)[targets]) / N


def grad_loops(logits, targets):
    z = np.asarray(logits, dtype=float)
    N, K = z.shape
    g = np.empty((N, K))
    for n in range(N):
        m = max(z[n])
        e = [math.exp(v - m) for v in z[n]]
        for k in range(K):
            g[n, k] = (e[k] / sum(e) - (k == targets[n])) / N
    return g


def grad_torch_autograd(logits, targets):
    import torch
    import torch.nn.functional as F

    z = torch.tensor(np.asarray(logits, dtype=float), requires_grad=True)
    F.cross_entropy(z, torch_in(targets).long()).backward()
    return z.grad


def grad_in_place_on_a_copy(logits, targets):
    g = special.softmax(logits, axis=1)
    g[rows(logits, targets)] -= 1
    return g / len(g)


def jac_scipy(z):
    p = special.softmax(z)
    return np.diag(p) - np.outer(p, p)


def jac_loops(z):
    p = special.softmax(np.asarray(z, dtype=float))
    K = len(p)
    return np.array([[p[i] * ((i == j) - p[j]) for j in range(K)] for i in range(K)])


def jac_torch_autograd(z):
    import torch

    return torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=0),
                                              torch.tensor(np.asarray(z, dtype=float)))


def jac_broadcast(z):
    p = special.softmax(z)
    return p[:, None] * (np.eye(len(p)) - p[None, :])


def ls_torch(logits, targets, eps):
    import torch.nn.functional as F

    return F.cross_entropy(torch_in(logits), torch_in(targets).long(), label_smoothing=eps)


def ls_mixture(logits, targets, eps):
    """(1 − eps)·CE + eps·(mean over classes of −log p_k)."""
    log_p = special.log_softmax(logits, axis=1)
    return np.mean(-(1 - eps) * log_p[rows(logits, targets)] - eps * log_p.mean(axis=1))


def ls_loops(logits, targets, eps):
    total = 0.0
    for z, y in zip(np.asarray(logits, dtype=float), targets, strict=True):
        K, m = len(z), max(z)
        lse = m + math.log(sum(math.exp(v - m) for v in z))
        total += sum(((1 - eps) * (k == y) + eps / K) * (lse - z[k]) for k in range(K))
    return total / len(logits)


def ls_soft_targets_torch(logits, targets, eps):
    import torch.nn.functional as F

    K = np.shape(logits)[1]
    q = (1 - eps) * np.eye(K)[targets] + eps / K
    return F.cross_entropy(torch_in(logits), torch_in(q).to(torch_in(logits).dtype))


def tce_max_values(logits, targets):
    import torch

    m = logits.max(dim=1, keepdim=True).values
    lse = (m + torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True)))[:, 0]
    return (lse - logits[torch.arange(len(logits)), targets]).mean()


def tce_one_hot(logits, targets):
    import torch
    import torch.nn.functional as F

    m = logits.amax(dim=1, keepdim=True)
    log_p = logits - m - torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))
    return -(F.one_hot(targets, logits.shape[1]) * log_p).sum(dim=1).mean()


def tce_gather(logits, targets):
    import torch

    m = logits.detach().max(dim=1, keepdim=True).values
    lse = m[:, 0] + torch.exp(logits - m).sum(dim=1).log()
    return (lse - logits.gather(1, targets[:, None])[:, 0]).mean()


def tce_in_float32(logits, targets):
    """Computed in float32 whatever the input: float64 logits near 1e4 lose their decimals."""
    import torch

    z = logits.float()
    m = z.amax(dim=1, keepdim=True)
    lse = m[:, 0] + torch.log(torch.exp(z - m).sum(dim=1))
    return (lse - z[torch.arange(len(z)), targets]).mean()


def tce_row_loop(logits, targets):
    import torch

    losses = []
    for z, y in zip(logits, targets, strict=True):
        m = z.max()
        losses.append(m + torch.log(torch.exp(z - m).sum()) - z[y])
    return torch.stack(losses).mean()


def ls_logsumexp_form(logits, targets, eps):
    """−Σ q log p = LSE(z) − Σ q z, since q sums to one."""
    K = np.shape(logits)[1]
    q = (1 - eps) * np.eye(K)[targets] + eps / K
    return np.mean(special.logsumexp(logits, axis=1) - (q * logits).sum(axis=1))


def tce_logaddexp_columns(logits, targets):
    import torch

    lse = logits[:, 0]
    for k in range(1, logits.shape[1]):
        lse = torch.logaddexp(lse, logits[:, k])
    return (lse - logits[torch.arange(len(logits)), targets]).mean()


def tce_shape_one(logits, targets):
    """A mean that keeps its dimension: shape (1,), one number all the same."""
    m = logits.amax(dim=1, keepdim=True)
    lse = m + (logits - m).exp().sum(dim=1, keepdim=True).log()
    return (lse - logits.gather(1, targets[:, None])).mean(dim=0)


RIGHT = [
    ("cross_entropy", f) for f in (ce_scipy, ce_scipy_log_softmax, ce_loops, ce_torch,
                                   ce_own_dtype, ce_one_hot, ch05.cross_entropy)
] + [
    ("cross_entropy_grad", f) for f in (grad_scipy, grad_loops, grad_torch_autograd,
                                        grad_in_place_on_a_copy)
] + [
    ("softmax_jacobian", f) for f in (jac_scipy, jac_loops, jac_torch_autograd, jac_broadcast)
] + [
    ("label_smoothed_cross_entropy", f) for f in (ls_torch, ls_mixture, ls_loops,
                                                  ls_soft_targets_torch, ls_logsumexp_form)
] + [
    ("torch_cross_entropy", f) for f in (tce_max_values, tce_one_hot, tce_gather, tce_row_loop,
                                         tce_logaddexp_columns, tce_shape_one)
]


@over_right(RIGHT)
def test_right_answers_in_any_style_pass(problem_id, answer):
    passes(problem_id, answer)


# ---------------------------------------------------------------------------------------------
# Wrong answers, written the way learners write them (not the twins), and the names they get


def w_ce_torch_sum(logits, targets):
    import torch.nn.functional as F

    return F.cross_entropy(torch_in(logits), torch_in(targets).long(), reduction="sum")


def w_ce_torch_on_softmax(logits, targets):
    import torch
    import torch.nn.functional as F

    return F.cross_entropy(torch.softmax(torch_in(logits), dim=1), torch_in(targets).long())


def w_ce_scipy_columns(logits, targets):
    return np.mean(special.logsumexp(logits, axis=1) - logits[:, targets])


def w_ce_torch_log_softmax_columns(logits, targets):
    import torch.nn.functional as F

    return -F.log_softmax(torch_in(logits), dim=1)[:, torch_in(targets).long()].mean()


def w_ce_one_based_loops(logits, targets):
    z = np.asarray(logits, dtype=float)
    return np.mean([special.logsumexp(row) - row[y - 1] for row, y in zip(z, targets,
                                                                             strict=True)])


def w_ce_sum_loops(logits, targets):
    return sum(special.logsumexp(row) - row[y] for row, y in zip(logits, targets, strict=True))


def w_ce_log_scipy_softmax(logits, targets):
    return -np.mean(np.log(special.softmax(logits, axis=1)[rows(logits, targets)]))


def w_ce_log_softmax_floor(logits, targets):
    p = special.softmax(logits, axis=1)[rows(logits, targets)]
    return -np.mean(np.log(np.maximum(p, 1e-12)))


def w_ce_naive_per_row(logits, targets):
    return np.mean([np.log(np.sum(np.exp(row))) - row[y]
                    for row, y in zip(np.asarray(logits), targets, strict=True)])


def w_ce_naive_softmax_torch(logits, targets):
    import torch

    z = torch_in(logits)
    p = torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True)
    return -torch.log(p[torch.arange(len(z)), torch_in(targets).long()]).mean()


def w_grad_torch_sum(logits, targets):
    import torch
    import torch.nn.functional as F

    z = torch.tensor(np.asarray(logits, dtype=float), requires_grad=True)
    F.cross_entropy(z, torch_in(targets).long(), reduction="sum").backward()
    return z.grad


def w_grad_y_minus_p(logits, targets):
    N, K = np.shape(logits)
    return (np.eye(K)[targets] - special.softmax(logits, axis=1)) / N


def w_grad_onehot_columns(logits, targets):
    p = special.softmax(logits, axis=1)
    onehot = np.zeros_like(p)
    onehot[:, targets] = 1
    return (p - onehot) / len(p)


def w_grad_naive_softmax_torch(logits, targets):
    import torch

    z = torch_in(logits)
    p = torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True)
    onehot = torch.nn.functional.one_hot(torch_in(targets).long(), z.shape[1])
    return (p - onehot) / len(z)


def w_grad_minus_one_over_p(logits, targets):
    p = special.softmax(logits, axis=1)
    Y = np.eye(p.shape[1])[targets]
    return np.divide(-Y, p, out=np.zeros_like(p), where=Y == 1) / len(p)


def w_grad_one_based(logits, targets):
    N, K = np.shape(logits)
    return (special.softmax(logits, axis=1) - np.eye(K)[np.asarray(targets) - 1]) / N


def w_jac_outer_only_torch(z):
    import torch

    p = torch.softmax(torch_in(z), dim=0)
    return -torch.outer(p, p)


def w_jac_dot_scipy(z):
    p = special.softmax(z)
    return np.diag(p) - np.dot(p, p)


def w_jac_sigmoid_derivative_loops(z):
    p = special.softmax(np.asarray(z, dtype=float))
    J = np.zeros((len(p), len(p)))
    for i in range(len(p)):
        J[i, i] = p[i] * (1 - p[i])
    return J


def w_jac_naive_softmax(z):
    p = np.exp(z) / np.sum(np.exp(z))
    return np.diag(p) - np.outer(p, p)


def w_jac_p_times_p_transpose_torch(z):
    import torch

    p = torch.softmax(torch_in(z), dim=0)
    return torch.diag(p) - p * p


def w_ls_k_minus_1_soft_targets(logits, targets, eps):
    import torch.nn.functional as F

    K = np.shape(logits)[1]
    q = np.full((len(targets), K), eps / (K - 1))
    q[rows(logits, targets)] = 1 - eps
    return F.cross_entropy(torch_in(logits), torch_in(q).to(torch_in(logits).dtype))


def w_ls_mixture_over_others(logits, targets, eps):
    """(1 − eps)·CE + eps·(mean of −log p over the K − 1 other classes)."""
    log_p = special.log_softmax(logits, axis=1)
    K = log_p.shape[1]
    target = log_p[rows(logits, targets)]
    others = (log_p.sum(axis=1) - target) / (K - 1)
    return np.mean(-(1 - eps) * target - eps * others)


def w_ls_torch_on_softmax(logits, targets, eps):
    import torch
    import torch.nn.functional as F

    return F.cross_entropy(torch.softmax(torch_in(logits), dim=1), torch_in(targets).long(),
                           label_smoothing=eps)


def w_ls_torch_sum(logits, targets, eps):
    import torch.nn.functional as F

    return F.cross_entropy(torch_in(logits), torch_in(targets).long(), label_smoothing=eps,
                           reduction="sum")


def w_ls_log_of_scipy_softmax(logits, targets, eps):
    K = np.shape(logits)[1]
    q = (1 - eps) * np.eye(K)[targets] + eps / K
    return np.mean(-(q * np.log(special.softmax(logits, axis=1))).sum(axis=1))


def w_tce_module(logits, targets):
    import torch

    return torch.nn.CrossEntropyLoss()(logits, targets)


def w_tce_log_softmax_method(logits, targets):
    import torch

    return -logits.log_softmax(dim=1)[torch.arange(len(logits)), targets].mean()


def w_tce_categorical(logits, targets):
    import torch

    return -torch.distributions.Categorical(logits=logits).log_prob(targets).mean()


def w_tce_sum(logits, targets):
    import torch

    m = logits.amax(dim=1, keepdim=True)
    lse = m[:, 0] + torch.log(torch.exp(logits - m).sum(dim=1))
    return (lse - logits[torch.arange(len(logits)), targets]).sum()


def w_tce_log_of_softmax_gather(logits, targets):
    import torch

    return -torch.log(torch.softmax(logits, dim=1)).gather(1, targets[:, None]).mean()


def w_tce_no_shift_one_hot(logits, targets):
    import torch
    import torch.nn.functional as F

    log_p = logits - logits.exp().sum(dim=1, keepdim=True).log()
    onehot = F.one_hot(targets, logits.shape[1]).to(log_p.dtype)
    return -torch.sum(log_p * onehot, dim=1).mean()


def w_tce_softmax_first(logits, targets):
    import torch

    p = torch.softmax(logits, dim=1)
    m = p.amax(dim=1, keepdim=True)
    lse = m[:, 0] + torch.log(torch.exp(p - m).sum(dim=1))
    return (lse - p[torch.arange(len(p)), targets]).mean()


def w_ce_torch_rows_of_log_softmax(logits, targets):
    import torch

    return -torch.log_softmax(torch_in(logits), dim=1)[torch_in(targets).long()].mean()


def w_ce_swapped_index(logits, targets):
    log_p = special.log_softmax(logits, axis=1)
    return -log_p[targets, np.arange(len(targets))].mean()


def w_ce_log_plus_tiny_eps(logits, targets):
    p = special.softmax(logits, axis=1)[rows(logits, targets)]
    return -np.mean(np.log(p + 1e-20))


def w_ce_clip_machine_eps(logits, targets):
    eps = np.finfo(float).eps
    p = np.clip(special.softmax(logits, axis=1), eps, 1 - eps)
    return -np.mean(np.log(p[rows(logits, targets)]))


def w_ce_global_max(logits, targets):
    m = logits.max()
    lse = m + np.log(np.exp(logits - m).sum(axis=1))
    return np.mean(lse - logits[rows(logits, targets)])


def w_grad_global_max(logits, targets):
    e = np.exp(logits - logits.max())
    return (e / e.sum(axis=1, keepdims=True) - np.eye(np.shape(logits)[1])[targets]) / len(e)


def w_jac_p_i_times_one_minus_p_j(z):
    p = special.softmax(z)[:, None]
    return p - p * p.T


def w_ls_log_plus_eps(logits, targets, eps):
    K = np.shape(logits)[1]
    q = (1 - eps) * np.eye(K)[targets] + eps / K
    return -(q * np.log(special.softmax(logits, axis=1) + 1e-12)).sum(axis=1).mean()


def w_ls_global_max(logits, targets, eps):
    """Passed the check while its huge-logits probe had a single row."""
    K = np.shape(logits)[1]
    q = (1 - eps) * np.eye(K)[targets] + eps / K
    m = logits.max()
    log_p = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return -(q * log_p).sum(axis=1).mean()


def w_tce_log_plus_eps(logits, targets):
    import torch

    p = torch.softmax(logits, dim=1)
    return -torch.log(p[torch.arange(len(targets)), targets] + 1e-8).mean()


def w_tce_naive_probabilities(logits, targets):
    import torch

    e = logits.exp()
    return -(e / e.sum(dim=1, keepdim=True))[torch.arange(len(targets)), targets].log().mean()


def w_tce_global_max(logits, targets):
    import torch

    m = logits.max()
    lse = m + torch.log(torch.exp(logits - m).sum(dim=1))
    return (lse - logits[torch.arange(len(logits)), targets]).mean()


WRONG = [
    ("cross_entropy", w_ce_torch_sum, "sum_not_mean"),
    ("cross_entropy", w_ce_sum_loops, "sum_not_mean"),
    ("cross_entropy", w_ce_torch_on_softmax, "softmax_before_ce"),
    ("cross_entropy", w_ce_scipy_columns, "wrong_target_indexing"),
    ("cross_entropy", w_ce_torch_log_softmax_columns, "wrong_target_indexing"),
    ("cross_entropy", w_ce_one_based_loops, "wrong_target_indexing"),
    ("cross_entropy", w_ce_log_scipy_softmax, "log_of_softmax"),
    ("cross_entropy", w_ce_log_softmax_floor, "log_of_softmax"),
    ("cross_entropy", w_ce_naive_per_row, "no_max_shift"),
    ("cross_entropy", w_ce_naive_softmax_torch, "no_max_shift"),
    ("cross_entropy_grad", w_grad_torch_sum, "sum_not_mean"),
    ("cross_entropy_grad", w_grad_y_minus_p, "grad_sign"),
    ("cross_entropy_grad", w_grad_onehot_columns, "wrong_target_indexing"),
    ("cross_entropy_grad", w_grad_one_based, "wrong_target_indexing"),
    ("cross_entropy_grad", w_grad_naive_softmax_torch, "no_max_shift"),
    ("cross_entropy_grad", w_grad_minus_one_over_p, "grad_wrt_probabilities"),
    ("softmax_jacobian", w_jac_outer_only_torch, "jacobian_missing_diag"),
    ("softmax_jacobian", w_jac_dot_scipy, "outer_product_1d"),
    ("softmax_jacobian", w_jac_p_times_p_transpose_torch, "outer_product_1d"),
    ("softmax_jacobian", w_jac_sigmoid_derivative_loops, "jacobian_elementwise"),
    ("softmax_jacobian", w_jac_naive_softmax, "no_max_shift"),
    ("label_smoothed_cross_entropy", w_ls_k_minus_1_soft_targets, "smoothing_over_k_minus_1"),
    ("label_smoothed_cross_entropy", w_ls_mixture_over_others, "smoothing_over_k_minus_1"),
    ("label_smoothed_cross_entropy", w_ls_torch_on_softmax, "softmax_before_ce"),
    ("label_smoothed_cross_entropy", w_ls_torch_sum, "sum_not_mean"),
    ("label_smoothed_cross_entropy", w_ls_log_of_scipy_softmax, "log_of_softmax"),
    ("torch_cross_entropy", w_tce_module, "forbidden_builtin"),
    ("torch_cross_entropy", w_tce_log_softmax_method, "forbidden_builtin"),
    ("torch_cross_entropy", w_tce_categorical, "forbidden_builtin"),
    ("torch_cross_entropy", w_tce_sum, "sum_not_mean"),
    ("torch_cross_entropy", w_tce_log_of_softmax_gather, "log_of_softmax"),
    ("torch_cross_entropy", w_tce_no_shift_one_hot, "no_max_shift"),
    ("torch_cross_entropy", w_tce_softmax_first, "softmax_before_ce"),
    ("cross_entropy", w_ce_torch_rows_of_log_softmax, "wrong_target_indexing"),
    ("cross_entropy", w_ce_swapped_index, "wrong_target_indexing"),
    ("cross_entropy", w_ce_log_plus_tiny_eps, "log_of_softmax"),
    ("cross_entropy", w_ce_clip_machine_eps, "log_of_softmax"),
    ("cross_entropy", w_ce_global_max, "global_max_shift"),
    ("cross_entropy_grad", w_grad_global_max, "global_max_shift"),
    ("softmax_jacobian", w_jac_p_i_times_one_minus_p_j, "jacobian_missing_diag"),
    ("label_smoothed_cross_entropy", w_ls_log_plus_eps, "log_of_softmax"),
    ("label_smoothed_cross_entropy", w_ls_global_max, "global_max_shift"),
    ("torch_cross_entropy", w_tce_log_plus_eps, "log_of_softmax"),
    ("torch_cross_entropy", w_tce_naive_probabilities, "no_max_shift"),
    ("torch_cross_entropy", w_tce_global_max, "global_max_shift"),
]


def test_wrong_answers_are_named_nine_times_in_ten():
    assert_named_nine_in_ten(WRONG)


@over_wrong(WRONG)
def test_each_wrong_answer_fails_with_its_name(problem_id, answer, expected):
    assert_named(problem_id, answer, expected)


# ---------------------------------------------------------------------------------------------
# Messages a learner reads, word for word


def test_calling_the_built_in_loss_is_named_with_what_was_called():
    def torch_cross_entropy(logits, targets):
        import torch.nn.functional as F

        return F.nll_loss(F.log_softmax(logits, dim=1), targets)

    result = tutor.check("torch_cross_entropy", torch_cross_entropy, seed=0)
    assert result.misconception == "forbidden_builtin"
    assert result.link == "../notebooks/05_cross_entropy.ipynb#Cross-entropy-in-PyTorch"
    assert result.message == (
        "This problem asks you to build the loss from elementary tensor operations; "
        "F.cross_entropy, log_softmax, logsumexp and nll_loss are off limits here. "
        "On torch_cross_entropy(logits=an array of shape (8, 2), targets=[0, 1, 0, 1, 0, 1, 0, "
        "1]) the answer is the loss 2.7653 with the gradient [[-0.1198, 0.1198], [ 0.125, "
        "-0.125], [-0.045, 0.045], [ 0.1068, … but it returned a loss computed with torch's "
        "log_softmax and nll_loss.")


def test_a_loss_taken_out_of_torch_is_an_error_that_says_why():
    def torch_cross_entropy(logits, targets):
        import torch

        m = logits.amax(dim=1, keepdim=True)
        lse = m[:, 0] + torch.log(torch.exp(logits - m).sum(dim=1))
        return (lse - logits[torch.arange(len(logits)), targets]).mean().item()

    result = tutor.check("torch_cross_entropy", torch_cross_entropy, seed=0)
    assert result.status == "error"
    assert result.message == (
        "TypeError: torch_cross_entropy returned a float, not a torch tensor; keep the whole "
        "computation in torch (no .item(), no numpy) so that autograd can differentiate it, "
        "on torch_cross_entropy(logits=[[ 0.3, -1.2]], targets=[1]).")


def test_a_loss_rebuilt_from_the_values_is_an_error_that_says_why():
    """A tensor made from the loss's value has requires_grad but no path back to the logits;
    its gradient is not 'wrong', it is missing."""
    def torch_cross_entropy(logits, targets):
        import torch

        z = logits.detach().numpy()
        loss = np.mean(special.logsumexp(z, axis=1) - z[np.arange(len(z)), targets.numpy()])
        return torch.tensor(loss, requires_grad=True)

    result = tutor.check("torch_cross_entropy", torch_cross_entropy, seed=0)
    assert result.status == "error" and result.misconception is None
    assert result.message == (
        "TypeError: the loss has no path back to `logits`: it was built from a copy of their "
        "values (torch.tensor(...), .tolist(), numpy), on "
        "torch_cross_entropy(logits=[[ 0.3, -1.2]], targets=[1]).")


def test_a_named_torch_mistake_shows_the_loss_and_the_gradient_apart():
    result = tutor.check("torch_cross_entropy", w_tce_sum, seed=0)
    assert result.misconception == "sum_not_mean"
    assert result.message.endswith(
        "On torch_cross_entropy(logits=an array of shape (8, 2), targets=[0, 1, 0, 1, 0, 1, 0, "
        "1]) the answer is the loss 2.7653 with the gradient [[-0.1198, 0.1198], [ 0.125, "
        "-0.125], [-0.045, 0.045], [ 0.1068, … but it returned the loss 22.1227 with the "
        "gradient [[-0.9582, 0.9582], [ 0.9999, -0.9999], [-0.3598, 0.3598], [ 0.8….")


def test_the_margin_of_a_thousand_is_shown_without_exponents():
    result = tutor.check("cross_entropy", w_ce_log_scipy_softmax, seed=0)
    assert result.message.endswith(
        "On cross_entropy(logits=[[1000., 0., 3.], [ 2., 1., 0.], [ 1.5, -1., 4.]], "
        "targets=[1, 0, 2]) (a target probability that underflows (margin 1000)) the answer is "
        "333.4976 but it returned inf.")


def test_a_detached_loss_is_an_error_that_says_why():
    def torch_cross_entropy(logits, targets):
        import torch

        z = logits.detach()
        m = z.amax(dim=1, keepdim=True)
        lse = m[:, 0] + torch.log(torch.exp(z - m).sum(dim=1))
        return (lse - z[torch.arange(len(z)), targets]).mean()

    result = tutor.check("torch_cross_entropy", torch_cross_entropy, seed=0)
    assert result.status == "error"
    assert result.message.startswith(
        "TypeError: torch_cross_entropy returned a tensor that autograd cannot differentiate "
        "(no grad_fn)")


def test_a_loss_per_row_is_told_to_take_the_mean():
    def torch_cross_entropy(logits, targets):
        import torch

        m = logits.amax(dim=1, keepdim=True)
        lse = m[:, 0] + torch.log(torch.exp(logits - m).sum(dim=1))
        return lse - logits[torch.arange(len(logits)), targets]

    result = tutor.check("torch_cross_entropy", torch_cross_entropy, seed=0)
    assert result.status == "error"
    assert result.message.startswith("ValueError: torch_cross_entropy returned a tensor of shape "
                                     "(2,); the loss is one number, the mean over the batch")


def test_a_named_mistake_explains_itself_on_the_smallest_failing_input():
    def cross_entropy(logits, targets):
        z = np.asarray(logits, dtype=float)
        return np.sum(special.logsumexp(z, axis=1) - z[np.arange(len(z)), targets])

    result = tutor.check("cross_entropy", cross_entropy, seed=0)
    assert result.title == "A sum where a mean belongs"
    assert result.link == ("../notebooks/05_cross_entropy.ipynb"
                           "#Cross-entropy-is-negative-log-likelihood")
    assert result.message == (
        "The loss (and its gradient) is averaged over the N examples, and perplexity "
        "exponentiates the mean negative log-probability per token; a sum grows with the batch "
        "or the sequence. Divide by N. On cross_entropy(logits=[[-0.4445, 2.6884], [ 5.1212, "
        "-4.3176], [ 5.1915, 4.6152], [ 2.6793, 0.9069], [-1.0765, 4.9998], [ 6.7221, 6.1781], "
        "[ 4.5097, 1.2255], [-4.1435, -0.0153]], targets=[0, 1, 0, 1, 0, 1, 0, 1]) the answer is "
        "2.7653 but it returned 22.1227.")


def test_an_unknown_mistake_gets_expected_versus_got_and_no_guess():
    def cross_entropy(logits, targets):   # in bits: log base 2
        z = np.asarray(logits, dtype=float)
        return np.mean(special.logsumexp(z, axis=1) - z[np.arange(len(z)), targets]) / np.log(2)

    result = tutor.check("cross_entropy", cross_entropy, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message == ("On cross_entropy(logits=[[ 0.3, -1.2]], targets=[1]) (N = 1, "
                              "K = 2), your cross_entropy returned 2.4546 instead of 1.7014.")


def test_per_row_losses_are_a_shape_error():
    def cross_entropy(logits, targets):
        z = np.asarray(logits, dtype=float)
        return special.logsumexp(z, axis=1) - z[np.arange(len(z)), targets]

    result = tutor.check("cross_entropy", cross_entropy, seed=0)
    assert result.misconception is None
    assert result.message == ("On cross_entropy(logits=[[ 0.3, -1.2]], targets=[1]) (N = 1, "
                              "K = 2), your cross_entropy returned shape (1,) instead of ().")


def test_a_pass_lists_the_hard_cases_it_survived():
    result = tutor.check("cross_entropy", ce_scipy, seed=0)
    assert result.message == (
        "cross_entropy is right on all 15 inputs, including the lesson's z = (3, 1, −2, 0), "
        "target 1, a batch of two rows, a target probability that underflows (margin 1000), "
        "margins of about 900 in every position, huge logits (±1e4), logits from −1e4 to 1e4 in "
        "one row, N = 1, K = 2, float32 logits, int32 targets, int64 targets, close logits near "
        "1e4, where float32 loses digits and float32.")


# ---------------------------------------------------------------------------------------------
# The references: the lesson's numbers, PyTorch's values and gradients


def test_references_reproduce_the_lesson_numbers():
    ce = ch05.cross_entropy
    assert np.isclose(ce(np.array([[3.0, 1.0, -2.0, 0.0]]), np.array([1])), 2.1755, atol=5e-5)
    assert np.isclose(ce(np.array([[5.0, 2.0, 1.0]]), np.array([0])), 0.0659, atol=5e-5)
    assert np.isclose(ce(np.array([[2.0, 1.0, 0.5]]), np.array([0])), 0.464, atol=5e-4)
    assert np.isclose(ce(np.array([[1000.0, 0.0, 3.0]]), np.array([1])), 1000.0)
    smoothed = ch05.label_smoothed_cross_entropy(np.array([[2.0, 1.0, 0.0]]), np.array([0]), 0.1)
    assert np.isclose(smoothed, 0.5076, atol=5e-5)
    grad = ch05.cross_entropy_grad(np.log([[0.2, 0.3, 0.5]]), np.array([1]))
    assert np.allclose(grad, [[0.2, -0.7, 0.5]])


def test_the_gradient_reference_agrees_with_centred_differences():
    rng = np.random.default_rng(5)
    z, y, h = rng.normal(0, 3, (4, 6)), rng.integers(0, 6, 4), 1e-6
    numeric = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (ch05.cross_entropy(up, y) - ch05.cross_entropy(down, y)) / (2 * h)
    assert np.allclose(ch05.cross_entropy_grad(z, y), numeric, atol=1e-8)


def test_the_jacobian_is_symmetric_with_rows_summing_to_zero():
    J = ch05.softmax_jacobian(np.array([2.0, -1.0, 0.5, 3.0]))
    assert np.allclose(J, J.T)
    assert np.allclose(J.sum(axis=1), 0.0)
    assert np.all(np.linalg.eigvalsh(J) > -1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.1, 0.3, 1.0])
def test_label_smoothing_equals_pytorch(eps):
    import torch.nn.functional as F

    rng = np.random.default_rng(int(eps * 100))
    z, y = rng.normal(0, 4, (7, 5)), rng.integers(0, 5, 7)
    expected = F.cross_entropy(torch_in(z), torch_in(y), label_smoothing=eps).item()
    assert np.isclose(ch05.label_smoothed_cross_entropy(z, y, eps), expected, rtol=1e-12)


def test_torch_reference_matches_f_cross_entropy_in_value_and_gradient():
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(6)
    for z_np in (rng.normal(0, 3, (5, 4)), np.array([[1000.0, 0.0, 3.0], [1e4, 1e4 - 1, 0.0]])):
        y = torch.tensor(rng.integers(0, z_np.shape[1], len(z_np)))
        mine = torch.tensor(z_np, requires_grad=True)
        theirs = torch.tensor(z_np, requires_grad=True)
        a, b = ch05.torch_cross_entropy(mine, y), F.cross_entropy(theirs, y)
        a.backward()
        b.backward()
        assert torch.isclose(a, b) and torch.allclose(mine.grad, theirs.grad)


def test_the_check_compares_gradients_not_only_values():
    """A loss with the right value and a gradient stopped at the target logit fails."""
    def torch_cross_entropy(logits, targets):
        import torch

        m = logits.amax(dim=1, keepdim=True)
        lse = m[:, 0] + torch.log(torch.exp(logits - m).sum(dim=1))
        picked = logits.detach()[torch.arange(len(logits)), targets]
        return (lse - picked).mean()

    result = tutor.check("torch_cross_entropy", torch_cross_entropy, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message == (
        "On torch_cross_entropy(logits=[[ 0.3, -1.2]], targets=[1]) (N = 1, K = 2), your "
        "torch_cross_entropy has the right loss, but its gradient (flattened row by row) has 1 "
        "of 2 entries wrong; at index 1 the answer is -0.8176 but you have 0.1824.")


def test_a_wrong_torch_loss_is_reported_as_the_loss():
    def torch_cross_entropy(logits, targets):   # in bits
        import torch

        m = logits.amax(dim=1, keepdim=True)
        lse = m[:, 0] + torch.log(torch.exp(logits - m).sum(dim=1))
        return (lse - logits[torch.arange(len(logits)), targets]).mean() / math.log(2)

    result = tutor.check("torch_cross_entropy", torch_cross_entropy, seed=0)
    assert result.message == (
        "On torch_cross_entropy(logits=[[ 0.3, -1.2]], targets=[1]) (N = 1, K = 2), your "
        "torch_cross_entropy returned the loss 2.4546 instead of 1.7014, and its gradient is "
        "off too.")


def test_the_torch_check_runs_on_int64_leaf_tensors_and_leaves_nothing_behind():
    import torch

    seen = {}

    def torch_cross_entropy(logits, targets):
        seen.update(leaf=logits.is_leaf, grad=logits.requires_grad, dtype=targets.dtype)
        return tce_gather(logits, targets)

    assert tutor.check("torch_cross_entropy", torch_cross_entropy, seed=0).passed
    assert seen == {"leaf": True, "grad": True, "dtype": torch.int64}
    assert not torch.overrides._is_torch_function_mode_enabled()


def test_importing_tutor_and_listing_problems_does_not_import_torch():
    code = ("import sys, tutor, tutor.registry; tutor.problems(); "
            "tutor.registry.get('torch_cross_entropy'); "
            "print('torch' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


# ---------------------------------------------------------------------------------------------
# The margin explorer


def heights(bars):
    return np.array([bar.get_height() for bar in bars])


def test_margin_slider_moves_the_marker_along_the_loss_curve():
    e = MarginExplorer()
    e.controls["margin"].value = 2.0
    z = np.array([3.0, 1.0, 0.0, -1.0])          # others (1, 0, −1), true logit 1 + 2
    loss = ch05.cross_entropy(z[None], np.array([0]))
    x, y = e.marker.get_data()
    assert list(x) == [2.0] and np.isclose(y[0], loss)
    assert e.loss_label.get_text() == f" loss {loss:.3f}"
    assert np.allclose(e.curve.get_xdata(), np.linspace(-MARGIN, MARGIN, 161))


def test_gradient_bars_are_p_minus_y_and_sum_to_zero():
    e = MarginExplorer()
    e.controls["margin"].value = -1.0
    z = np.array([0.0, 1.0, 0.0, -1.0])
    expected = ch05.cross_entropy_grad(z[None], np.array([0]))[0]
    assert np.allclose(heights(e.bars), expected)
    assert np.isclose(heights(e.bars).sum(), 0.0)
    shown = ", ".join(f"{g:+.3f}" for g in expected)
    assert f"gradient p − y = ({shown})" in e.readout.value
    assert e.grad_title.get_text() == "gradient p − y"
    p_y = np.exp(-ch05.cross_entropy(z[None], np.array([0])))
    assert f"p<sub>y</sub> = <b>{p_y:.4f}</b>" in e.readout.value


def test_the_loss_curve_is_lse_minus_the_true_logit_and_crosses_ln_k_near_margin_zero():
    e = MarginExplorer(others=(0.0, 0.0, 0.0))
    margins, losses = e.curve.get_data()
    expected = np.logaddexp(margins, np.log(3.0)) - margins
    assert np.allclose(losses, expected)
    assert np.isclose(losses[80], np.log(4.0))          # margin 0: four equal logits


def test_double_softmax_shows_a_flat_curve_and_a_starved_gradient():
    e = MarginExplorer()
    assert not e.double_curve.get_visible() and not e.double_marker.get_visible()
    e.controls["double softmax"].value = True
    e.controls["margin"].value = -4.0
    assert e.double_curve.get_visible() and e.double_marker.get_visible()
    doubled = e.double_curve.get_ydata()
    assert doubled.max() - doubled.min() < 1.0          # probabilities as logits: one nat at most
    z = e.logits()
    p = ch05._softmax(z)
    expected = ch05.softmax_jacobian(z).T @ (ch05._softmax(p) - np.eye(4)[0])
    assert np.allclose(heights(e.bars), expected)
    assert np.abs(heights(e.bars)).max() < 0.2 < np.abs(e.gradient()).max()
    assert e.grad_title.get_text() == "gradient through a double softmax"
    assert "double softmax: loss" in e.readout.value


@pytest.mark.parametrize("double", [False, True])
def test_a_cached_redraw_shows_the_same_pixels_as_a_full_redraw(double):
    def pixels(plot):
        return np.asarray(Image.open(io.BytesIO(plot.image.value)).convert("RGBA"))

    e = MarginExplorer()
    e.controls["double softmax"].value = double
    e.controls["margin"].value = -3.0
    e.controls["margin"].value = 2.5
    cached = pixels(e.plot)
    e.plot.invalidate()
    e.plot.refresh()
    assert np.array_equal(cached, pixels(e.plot)), "an old position or title was left on screen"


def test_the_explorer_draws_the_lessons_own_function():
    calls = []

    def my_loss(logits, targets):
        calls.append(np.shape(logits))
        return 2 * ch05.cross_entropy(logits, targets)

    e = MarginExplorer(my_loss)
    assert calls and all(shape == (1, 4) for shape in calls)
    e.controls["margin"].value = 0.5
    assert np.isclose(e.marker.get_data()[1][0],
                      2 * ch05.cross_entropy(e.logits()[None], np.array([0])))


def test_a_named_mistake_that_raised_says_where_it_raised():
    def cross_entropy(logits, targets):
        z = np.asarray(logits, dtype=float)
        m = z.max(axis=1)
        log_p = z - m - np.log(np.exp(z - m).sum(axis=1))   # max and sum without keepdims
        return -log_p[np.arange(len(z)), targets].mean()

    line = cross_entropy.__code__.co_firstlineno + 3
    result = tutor.check("cross_entropy", cross_entropy, seed=0)
    assert result.misconception == "missing_keepdims"
    assert result.message.endswith(
        "the answer is 2.7653 but it raised ValueError: operands could not be broadcast "
        f"together with shapes (8,2) (8,) at line {line} of test_ch05.py: "
        "`log_p = z - m - np.log(np.exp(z - m).sum(axis=1))   # max and sum without keepdims`.")


# ---------------------------------------------------------------------------------------------
# The same verdict on every seed: every twin, every right answer, and wrong answers of our own
# aimed at the edges the contract promises (logits from −1e4 to 1e4 in one row, float32 on
# float64 input, margins in every position)

CHAPTER_PROBLEMS = ["cross_entropy", "cross_entropy_grad", "softmax_jacobian",
                    "label_smoothed_cross_entropy", "torch_cross_entropy"]


def _sweep(problem_id, answers, first=True):
    sweep(problem_id, answers, SWEEP, first)


@pytest.mark.parametrize("problem_id", CHAPTER_PROBLEMS)
def test_every_twin_fails_and_is_named_on_every_seed(problem_id):
    _sweep(problem_id, [(t.fn, t.misconception) for t in registry.get(problem_id).twins])


@pytest.mark.parametrize("problem_id", CHAPTER_PROBLEMS)
def test_every_right_answer_passes_on_every_seed(problem_id):
    problem = registry.get(problem_id)
    for answer in [problem.reference, *(f for p, f in RIGHT if p == problem_id)]:
        passes(problem_id, answer, seeds=SWEEP)


def _float32_then_float64(answer):
    """torch.tensor(z.tolist()) is float32; .double() or .item() hands back float64."""
    def wrong(z, *rest):
        import torch

        out = answer(torch.tensor(np.asarray(z).tolist()), *rest)
        return torch.as_tensor(out).double().numpy()
    wrong.__name__ = f"{answer.__name__}_float32_then_float64"
    return wrong


def _torch_ce(t, targets):
    import torch.nn.functional as F

    return F.cross_entropy(t, torch_in(targets).long())


def _torch_grad(t, targets):
    import torch.nn.functional as F

    t = t.clone().requires_grad_(True)
    F.cross_entropy(t, torch_in(targets).long()).backward()
    return t.grad


def _torch_jacobian(t):
    import torch

    return torch.autograd.functional.jacobian(lambda v: torch.softmax(v, dim=0), t)


def _torch_smoothed(t, targets, eps):
    import torch.nn.functional as F

    return F.cross_entropy(t, torch_in(targets).long(), label_smoothing=eps)


def e_ce_mean_shift(logits, targets):
    s = logits - logits.mean(axis=1, keepdims=True)
    return np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(s)), targets])


def e_ce_log_clamped_at_minus_100(logits, targets):
    """torch's binary cross-entropy clamps log p at −100; done here by hand."""
    log_p = np.maximum(np.log(special.softmax(logits, axis=1)), -100.0)
    return -np.mean(log_p[np.arange(len(log_p)), targets])


def e_ce_plus_1e_13(logits, targets):
    p = special.softmax(logits, axis=1)[np.arange(len(targets)), targets]
    return -np.mean(np.log(p + 1e-13))


def e_grad_columns_normalised(logits, targets):
    e = np.exp(logits - logits.max(axis=0))
    return (e / e.sum(axis=0) - np.eye(logits.shape[1])[targets]) / len(logits)


def e_grad_max_of_columns(logits, targets):
    """z.max(axis=0) broadcasts without keepdims, so nothing complains."""
    e = np.exp(logits - logits.max(axis=0))
    return (e / e.sum(axis=1, keepdims=True) - np.eye(logits.shape[1])[targets]) / len(logits)


def e_grad_sum_reduction_torch(logits, targets):
    import torch.nn.functional as F

    t = torch_in(logits).clone().requires_grad_(True)
    F.cross_entropy(t, torch_in(targets).long(), reduction="sum").backward()
    return t.grad


def e_jacobian_mean_shift(z):
    e = np.exp(z - z.mean())
    p = e / e.sum()
    return np.diag(p) - np.outer(p, p)


def e_smoothed_mean_shift(logits, targets, eps):
    N, K = logits.shape
    s = logits - logits.mean(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    q = np.full((N, K), eps / K)
    q[np.arange(N), targets] += 1 - eps
    return np.mean(-(q * log_p).sum(axis=1))


def e_smoothed_plus_1e_9(logits, targets, eps):
    N, K = logits.shape
    log_p = np.log(special.softmax(logits, axis=1) + 1e-9)
    return np.mean(-((1 - eps) * log_p[np.arange(N), targets] + eps * log_p.mean(axis=1)))


def e_tce_mean_shift(logits, targets):
    import torch

    s = logits - logits.mean(dim=1, keepdim=True)
    return (torch.log(torch.exp(s).sum(dim=1)) - s[torch.arange(len(s)), targets]).mean()


def e_tce_softmax_down_the_batch(logits, targets):
    import torch

    p = torch.exp(logits - logits.amax(dim=0)) / torch.exp(logits - logits.amax(dim=0)).sum(0)
    return -torch.log(p[torch.arange(len(p)), targets]).mean()


def b_ce_log_softmax_over_batch(logits, targets):
    """A blind test's answer: log-softmax down the columns (axis 0)."""
    lp = special.log_softmax(logits, axis=0)
    return float(-lp[np.arange(len(targets)), targets].mean())


EDGE_WRONG = [
    ("cross_entropy", e_ce_mean_shift, "no_max_shift"),
    ("cross_entropy", b_ce_log_softmax_over_batch, "wrong_axis"),
    ("cross_entropy", e_ce_log_clamped_at_minus_100, "log_of_softmax"),
    ("cross_entropy", e_ce_plus_1e_13, "log_of_softmax"),
    ("cross_entropy", _float32_then_float64(_torch_ce), "lower_precision"),
    ("cross_entropy_grad", e_grad_columns_normalised, "wrong_axis"),
    ("cross_entropy_grad", e_grad_max_of_columns, "wrong_axis"),
    ("cross_entropy_grad", e_grad_sum_reduction_torch, "sum_not_mean"),
    ("cross_entropy_grad", _float32_then_float64(_torch_grad), "lower_precision"),
    ("softmax_jacobian", e_jacobian_mean_shift, "no_max_shift"),
    ("softmax_jacobian", _float32_then_float64(_torch_jacobian), "lower_precision"),
    ("label_smoothed_cross_entropy", e_smoothed_mean_shift, "no_max_shift"),
    ("label_smoothed_cross_entropy", e_smoothed_plus_1e_9, "log_of_softmax"),
    ("label_smoothed_cross_entropy", _float32_then_float64(_torch_smoothed), "lower_precision"),
    ("torch_cross_entropy", e_tce_mean_shift, None),
    ("torch_cross_entropy", e_tce_softmax_down_the_batch, None),
    ("torch_cross_entropy", tce_in_float32, "lower_precision"),
]


@pytest.mark.parametrize("problem_id", CHAPTER_PROBLEMS)
def test_wrong_answers_at_the_edges_fail_on_every_seed(problem_id):
    _sweep(problem_id, [(answer, expected) for p, answer, expected in EDGE_WRONG
                        if p == problem_id], first=False)
