"""Chapter 05, cross-entropy: the loss from logits, its gradient p − y, the softmax Jacobian,
label smoothing, and the same loss in PyTorch built from elementary tensor operations."""

from __future__ import annotations

import numpy as np

from tutor import checking, sandbox
from tutor.chapters import _inputs, blocks
from tutor.chapters.blocks import LogFloored, ShiftOverLastAxis, SumOverLastAxis
from tutor.problem import Choice, Problem, Quiz, Symptom, Twin, case

CHAPTER = "05_cross_entropy"


def _float(z):
    """z as a float array, keeping float16 and float32 as they are (integers become float64):
    the references and their twins compute in the input's own dtype, as learners do."""
    z = np.asarray(z)
    return z if z.dtype.kind == "f" else z.astype(np.float64)


def _softmax(z):
    """The stable softmax along the last axis, in the input's own dtype."""
    return blocks.RIGHT.softmax(_float(z), axis=-1)


def _log_softmax(z):
    """z − logsumexp(z) along the last axis, in the input's own dtype."""
    return blocks.RIGHT.log_softmax(_float(z), axis=-1)


# Named by what they do when no twin's numbers match: float32 arithmetic by any route (numpy,
# torch, a cast halfway) by the digits it loses; a shift by the mean or the first entry by the
# overflow it shares with no shift at all.
_SYMPTOMS = (Symptom("lower_precision", blocks.float32_digits_lost),
             Symptom("no_max_shift", blocks.overflowed))

# Derived twins that the contract makes harmless: every formula here reduces the last axis of
# (N, K) logits, and no logits are −inf.
_LAST_AXIS = ("neg_inf_nan", SumOverLastAxis, ShiftOverLastAxis)
_BATCH_EXAMPLE = (np.zeros((2, 3)), np.array([0, 1]))


# --- cross_entropy -----------------------------------------------------------------------------

def _cross_entropy(b, logits, targets):
    """Mean over the N rows of LSE(z_n) − z_n[y_n] = −log softmax(z_n)[y_n].

    Working from the logits, the loss never forms p_y, so it stays finite when p_y underflows.
    """
    return b.mean(-b.pick(b.log_softmax(_float(logits), axis=-1), targets))


cross_entropy, _ce_derived = blocks.compose(_cross_entropy, example=_BATCH_EXAMPLE,
                                            exclude=_LAST_AXIS)


# Hand-written twins: the variants learners write that no single block gives.

def _lse(z):
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1))


def _ce_of_softmax(logits, targets):
    p = _softmax(logits)
    return np.mean(_lse(p) - p[np.arange(len(p)), targets])


def _ce_picks_columns(logits, targets):
    z = _float(logits)
    return np.mean(_lse(z) - z[:, targets])


def _ce_picks_columns_keepdims(logits, targets):
    z = _float(logits)
    return np.mean(_lse(z)[:, None] - z[:, targets])


def _ce_picks_rows(logits, targets):
    z = _float(logits)
    return np.mean(_lse(z)[:, None] - z[targets])


def _ce_swapped_index(logits, targets):
    return -np.mean(_log_softmax(logits)[targets, np.arange(len(targets))])


def _ce_take_flat(logits, targets):
    z = _float(logits)
    return np.mean(_lse(z) - np.take(z, targets))


def _ce_one_based(logits, targets):
    z = _float(logits)
    return np.mean(_lse(z) - z[np.arange(len(z)), np.asarray(targets) - 1])


def _ce_onehot_columns(logits, targets):
    z = _float(logits)
    onehot = np.zeros(z.shape)
    onehot[:, targets] = 1
    return np.mean(-(onehot * _log_softmax(z)).sum(axis=1))


def _ce_onehot_rows(logits, targets):
    z = _float(logits)
    onehot = np.zeros(z.shape)
    onehot[targets] = 1
    return np.mean(-(onehot * _log_softmax(z)).sum(axis=1))


def _ce_log_softmax_over_batch(logits, targets):
    """log-softmax down each column (axis 0): each class normalised over the batch."""
    log_p = blocks.log_softmax(_float(logits), axis=0)
    return -np.mean(log_p[np.arange(log_p.shape[0]), np.asarray(targets)])


def _ce_log_of_naive_softmax(logits, targets):
    e = np.exp(_float(logits))
    p = e / e.sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(p)), targets]))


def _ce_onehot_no_max_shift(logits, targets):
    z = _float(logits)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return np.mean(-(np.eye(z.shape[1])[targets] * log_p).sum(axis=1))


def _ce_onehot_log_of_softmax(logits, targets):
    z = _float(logits)
    return np.mean(-(np.eye(z.shape[1])[targets] * np.log(_softmax(z))).sum(axis=1))


def _ce_floored(logits, targets):
    """log(softmax) kept finite with a constant of the learner's choice."""
    rows = np.arange(len(targets))
    return LogFloored(_softmax(logits), lambda log_p: -np.mean(log_p[rows, targets]))


def _targets(rng, N, K, dtype=None):
    dtype = dtype or (np.int64 if rng.random() < 0.5 else np.int32)
    return rng.integers(0, K, N).astype(dtype)


def _batch(rng):
    """Logits (N, K) with N ≠ K, so that a matrix picked by the wrong indexing is not (N, K)."""
    N, K = _inputs.shape(rng, 2, low=2, high=7)
    z = _inputs.logits(rng, (N, K), scale=float(rng.uniform(1, 6)))
    return z, _targets(rng, N, K)


def _ce_cases(rng):
    for _ in range(4):
        yield case(*_batch(rng))
    z, y = _batch(rng)
    yield case(z.astype(np.float32), y, note="float32")


_CLOSE_AT_1E4 = 1e4 + np.array([[0.1234567, 0.2345678, 0.0, 0.3456789],
                                [0.3, 0.0123457, 0.4567891, 0.2]])
"""Logits near 1e4 that differ in their decimals: float32 (spacing 0.001 there) loses them."""


def _ce_probes():
    """Edge and stability inputs shared by cross_entropy and its gradient."""
    return [
        case(np.array([[3.0, 1.0, -2.0, 0.0]]), np.array([1]),
             note="the lesson's z = (3, 1, −2, 0), target 1"),
        case(np.array([[5.0, 2.0, 1.0], [2.0, 1.0, 0.5]]), np.array([0, 0]),
             note="a batch of two rows"),
        case(np.array([[1000.0, 0.0, 3.0], [2.0, 1.0, 0.0], [1.5, -1.0, 4.0]]),
             np.array([1, 0, 2]), note="a target probability that underflows (margin 1000)"),
        # The largest logit in every position, rows far apart: a shift by another row's or
        # column's max, or none, overflows or underflows somewhere.
        case(np.array([[-900.0, 1.0, 2.0], [3.0, 950.0, -1.0], [0.5, -2.0, -800.0]]),
             np.array([0, 2, 1]), note="margins of about 900 in every position"),
        case(np.array([[1e4, 1e4 - 1, 1e4 + 2], [-1e4, -1e4 + 3, -1e4 + 1]]), np.array([2, 0]),
             note="huge logits (±1e4)"),
        # Right for log(softmax) (the target's probability is 1), but e^(2e4) overflows after
        # any shift other than the row's max (none, the mean, the first entry).
        case(np.array([[-1e4, 0.0, 1e4], [2.0, 1.0, 0.0]]), np.array([2, 0]),
             note="logits from −1e4 to 1e4 in one row"),
        case(np.array([[0.3, -1.2]]), np.array([1]), note="N = 1, K = 2"),
        case(np.array([[2.0, 1.0, 0.0, 1.5, -1.0], [0.0, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32),
             np.array([3, 4], dtype=np.int32), note="float32 logits, int32 targets"),
        case(np.array([[1.0, 4.0], [3.0, -2.0], [0.0, 1.0]]), np.array([1, 0, 0], dtype=np.int64),
             note="int64 targets"),
        case(_CLOSE_AT_1E4.copy(), np.array([1, 2]),
             note="close logits near 1e4, where float32 loses digits"),
    ]


# --- cross_entropy_grad ------------------------------------------------------------------------

def _cross_entropy_grad(b, logits, targets):
    """∂/∂z of the mean cross-entropy: (softmax(z) − onehot(y)) / N, shape (N, K)."""
    z = _float(logits)
    N, K = z.shape
    return (b.softmax(z, axis=-1) - np.eye(K)[np.asarray(targets)]) / N


cross_entropy_grad, _grad_derived = blocks.compose(
    _cross_entropy_grad, example=_BATCH_EXAMPLE, exclude=_LAST_AXIS)


def _onehot(targets, K):
    return np.eye(K)[targets]


def _grad_summed(logits, targets):
    z = _float(logits)
    return _softmax(z) - _onehot(targets, z.shape[1])


def _grad_flipped(logits, targets):
    z = _float(logits)
    return (_onehot(targets, z.shape[1]) - _softmax(z)) / len(z)


def _grad_flipped_summed(logits, targets):
    z = _float(logits)
    return _onehot(targets, z.shape[1]) - _softmax(z)


def _grad_columns(logits, targets):
    z = _float(logits)
    g = _softmax(z)
    g[:, targets] -= 1
    return g / len(z)


def _grad_rows(logits, targets):
    z = _float(logits)
    g = _softmax(z)
    g[targets] -= 1
    return g / len(z)


def _grad_one_based(logits, targets):
    z = _float(logits)
    g = _softmax(z)
    g[np.arange(len(z)), np.asarray(targets) - 1] -= 1
    return g / len(z)


def _grad_softmax_over_batch(logits, targets):
    """Softmax down the columns (axis 0): each class normalised over the batch."""
    z = _float(logits)
    return (blocks.RIGHT.softmax(z, axis=0) - _onehot(targets, z.shape[1])) / len(z)


def _grad_wrt_probabilities(logits, targets):
    z = _float(logits)
    N = len(z)
    p = _softmax(z)
    g = np.zeros_like(p)
    g[np.arange(N), targets] = -1 / p[np.arange(N), targets]
    return g / N


# --- softmax_jacobian --------------------------------------------------------------------------

def _softmax_jacobian(b, z):
    """J[i, j] = ∂p_i/∂z_j = p_i (δ_ij − p_j), that is diag(p) − ppᵀ, for z of shape (K,)."""
    p = b.softmax(_float(z), axis=-1)
    return np.diag(p) - np.outer(p, p)


softmax_jacobian, _jac_derived = blocks.compose(
    _softmax_jacobian, example=(np.zeros(3),),
    exclude=("wrong_axis", "missing_keepdims", "global_max_shift", "neg_inf_nan"))


def _jac_no_diag(z):
    p = _softmax(z)
    return -np.outer(p, p)


def _jac_p_minus_outer(z):
    p = _softmax(z)
    return p - np.outer(p, p)


def _jac_rows_minus_outer(z):
    p = _softmax(z)
    return p[:, None] - np.outer(p, p)


def _jac_elementwise(z):
    p = _softmax(z)
    return np.diag(p * (1 - p))


def _jac_dot(z):
    p = _softmax(z)
    return np.diag(p) - p @ p.T


def _jac_times_transpose(z):
    p = _softmax(z)
    return np.diag(p) - p * p.T


def _jacobian_cases(rng):
    for _ in range(4):
        K = int(rng.integers(2, 9))
        yield case(_inputs.logits(rng, (K,), scale=float(rng.uniform(0.5, 3))))
    yield case(_inputs.logits(rng, (int(rng.integers(3, 7)),), scale=2.0).astype(np.float32),
               note="float32")


def _jacobian_probes():
    return [
        case(np.array([2.0, 1.0, 0.0]), note="the lesson's (2, 1, 0)"),
        case(np.array([0.0, 0.0, 0.0, 0.0]), note="equal logits"),
        case(np.array([1000.0, 999.0, 998.0]), note="logits near 1000"),
        case(np.array([0.0, -1000.0, 1.0]), note="a probability that underflows"),
        case(np.array([1000.0, -1000.0, 0.0]), note="logits from −1000 to 1000"),
        case(np.array([3.0]), note="one class"),
        case(np.array([0.5, -0.5], dtype=np.float32), note="float32, K = 2"),
        case(_CLOSE_AT_1E4[0].copy(), note="close logits near 1e4, where float32 loses digits"),
    ]


# --- label_smoothed_cross_entropy --------------------------------------------------------------

def _smoothed_targets(targets, eps, N, K):
    """(1 − eps)·onehot(y) + eps/K: every class, the target included, gets eps/K."""
    q = np.full((N, K), eps / K)
    q[np.arange(N), np.asarray(targets)] += 1 - eps
    return q


def _label_smoothed_cross_entropy(b, logits, targets, eps):
    """Mean over rows of −Σ_k q_k log p_k with q = (1 − eps)·onehot(y) + eps/K (PyTorch's
    convention: every class, the target included, gets eps/K)."""
    z = _float(logits)
    q = _smoothed_targets(targets, eps, *z.shape)
    return b.mean(-(q * b.log_softmax(z, axis=-1)).sum(axis=1))


label_smoothed_cross_entropy, _lsce_derived = blocks.compose(
    _label_smoothed_cross_entropy, example=(*_BATCH_EXAMPLE, 0.1), exclude=_LAST_AXIS)


def _smoothed(z, q):
    return np.mean(-(q * _log_softmax(z)).sum(axis=1))


def _ls_over_k_minus_1(logits, targets, eps):
    z = _float(logits)
    N, K = z.shape
    q = np.full((N, K), eps / (K - 1))
    q[np.arange(N), targets] = 1 - eps
    return _smoothed(z, q)


def _ls_plus_over_k_minus_1(logits, targets, eps):
    z = _float(logits)
    N, K = z.shape
    return _smoothed(z, (1 - eps) * np.eye(K)[targets] + eps / (K - 1))


def _ls_target_keeps_1_minus_eps(logits, targets, eps):
    z = _float(logits)
    N, K = z.shape
    q = np.full((N, K), eps / K)
    q[np.arange(N), targets] = 1 - eps
    return _smoothed(z, q)


def _ls_of_softmax(logits, targets, eps):
    p = _softmax(logits)
    return _smoothed(p, _smoothed_targets(targets, eps, *p.shape))


def _ls_floored(logits, targets, eps):
    """log(softmax) kept finite with a constant of the learner's choice."""
    p = _softmax(logits)
    q = _smoothed_targets(targets, eps, *p.shape)
    return LogFloored(p, lambda log_p: np.mean(-(q * log_p).sum(axis=1)))


def _ls_onehot_columns(logits, targets, eps):
    z = _float(logits)
    N, K = z.shape
    onehot = np.zeros((N, K))
    onehot[:, targets] = 1
    return _smoothed(z, (1 - eps) * onehot + eps / K)


def _ls_cases(rng):
    for _ in range(4):
        z, y = _batch(rng)
        yield case(z, y, float(rng.uniform(0.05, 0.4)))
    z, y = _batch(rng)
    yield case(z.astype(np.float32), y, 0.1, note="float32")


def _ls_probes():
    return [
        case(np.array([[2.0, 1.0, 0.0]]), np.array([0]), 0.1,
             note="the lesson's (2, 1, 0), target 0, eps = 0.1"),
        case(np.array([[3.0, 1.0, -2.0, 0.0], [0.5, 0.0, 1.0, -1.0]]), np.array([1, 3]), 0.0,
             note="eps = 0, plain cross-entropy"),
        case(np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]]), np.array([2, 0]), 1.0,
             note="eps = 1, a uniform target"),
        case(np.array([[0.0, -1000.0, 2.0], [1.0, 0.0, 1.5]]), np.array([0, 1]), 0.1,
             note="a non-target probability that underflows (margin 1000)"),
        case(np.array([[-900.0, 1.0, 2.0], [3.0, 950.0, -1.0], [0.5, -2.0, -800.0]]),
             np.array([0, 2, 1]), 0.3, note="margins of about 900 in every position"),
        case(np.array([[1e4, 1e4 - 1, 1e4 + 2, 1e4 - 3], [-1e4, -1e4 + 3, -1e4 + 1, -1e4 + 2]]),
             np.array([1, 3]), 0.2, note="huge logits (±1e4)"),
        # Every class counts here, so a spread that overflows a shift by the mean also
        # underflows some probability, except in a float32 row of 40 just inside both limits:
        # e^91.5 overflows float32, e^−91.5 does not underflow it.
        case(np.concatenate([[0.0], np.full(39, -91.5)]).astype(np.float32)[None],
             np.array([0]), 0.1, note="a float32 row of 40 logits spread by 91.5"),
        case(np.array([[0.3, -1.2]]), np.array([0]), 0.1, note="N = 1, K = 2"),
        case(np.array([[2.0, 1.0, 0.0], [0.0, 0.5, 1.0]], dtype=np.float32),
             np.array([0, 2], dtype=np.int32), 0.1, note="float32 logits, int32 targets"),
        case(_CLOSE_AT_1E4.copy(), np.array([3, 0]), 0.1,
             note="close logits near 1e4, where float32 loses digits"),
    ]


# --- torch_cross_entropy -----------------------------------------------------------------------

FORBIDDEN = frozenset({"cross_entropy", "log_softmax", "_log_softmax", "special_log_softmax",
                       "logsumexp", "special_logsumexp", "nll_loss", "nll_loss_nd",
                       "cross_entropy_loss"})
"""Names (func.__name__) of the torch functions and Tensor methods torch_cross_entropy may not
call: the loss itself and every ready-made log-softmax or log-sum-exp."""


class UsedBuiltin:
    """What the check records instead of a value when the answer called a forbidden function."""

    def __init__(self, names):
        self.names = tuple(sorted(names))

    def __repr__(self) -> str:
        return f"a loss computed with torch's {' and '.join(self.names)}"


def _watching(names: set):
    """A TorchFunctionMode that notes every forbidden torch call made inside it."""
    from torch.overrides import TorchFunctionMode

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in FORBIDDEN:
                names.add(name)
            return func(*args, **(kwargs or {}))

    return Watch()


class LossAndGradient:
    """What the check records for a torch answer: its loss and the gradient autograd gives the
    logits, shown to the learner as such."""

    def __init__(self, loss, grad, case):
        self.loss, self.grad, self.case = loss, grad, case

    def packed(self) -> np.ndarray:
        """The loss followed by the gradient, flattened row by row, in the answer's dtype."""
        return np.concatenate([self.loss.reshape(1), self.grad.ravel()]).astype(self.loss.dtype)

    def __repr__(self) -> str:
        return (f"the loss {checking.fmt_value(self.loss.reshape(()))} with the gradient "
                f"{checking.fmt_value(self.grad)}")


def _autograd_call(fn, case):
    """Call fn on fresh leaf tensors (logits with requires_grad), run backward, and return the
    loss and the gradient of the logits (a LossAndGradient)."""
    import torch

    z_np, y_np = case.args
    z = torch.tensor(np.array(z_np), requires_grad=True)
    y = torch.tensor(np.array(y_np, dtype=np.int64))
    originals = [z.detach().clone(), y.clone()]
    used: set = set()
    with _watching(used):
        loss = fn(z, y)
    sandbox.fresh_inputs_unchanged([z, y], originals)
    if used:
        return UsedBuiltin(used)
    name = "torch_cross_entropy"
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"{name} returned a {type(loss).__name__}, not a torch tensor; keep the "
                        "whole computation in torch (no .item(), no numpy) so that autograd can "
                        "differentiate it")
    if loss.numel() != 1:
        raise ValueError(f"{name} returned a tensor of shape {tuple(loss.shape)}; the loss is "
                         "one number, the mean over the batch")
    if not loss.requires_grad:
        raise TypeError(f"{name} returned a tensor that autograd cannot differentiate (no "
                        "grad_fn): something detached it from the logits (.detach(), .item(), "
                        "numpy or torch.tensor(...) on a result)")
    loss.reshape(()).backward()
    if z.grad is None:
        raise TypeError("the loss has no path back to `logits`: it was built from a copy of "
                        "their values (torch.tensor(...), .tolist(), numpy)")
    value = loss.detach().reshape(()).numpy()
    # In the loss's own dtype: a loss computed in float32 is judged at float32 tolerances,
    # as a float32 numpy answer would be.
    dtype = value.dtype if value.dtype.kind == "f" else np.asarray(z_np).dtype
    return LossAndGradient(value.astype(dtype), z.grad.numpy().astype(dtype), case)


def _compare_autograd(expected, got, tol):
    """Loss and gradient judged apart, so the message says which is off."""
    if isinstance(got, UsedBuiltin) or isinstance(expected, UsedBuiltin):
        if isinstance(got, UsedBuiltin) and isinstance(expected, UsedBuiltin):
            return None
        if isinstance(got, UsedBuiltin):
            return f"called {' and '.join(got.names)}, which this problem rules out"
        return "built the loss itself"
    # The inputs' tolerance, scaled by the loss and the gradient together as one array; the
    # engine's `tol` may be looser (two wrong answers agreeing to float32's digits).
    expected_values, got_values = expected.packed(), got.packed()
    own = checking.tolerance_for(_torch_problem(), got.case, got_values, expected_values)
    tol = checking.Tolerance(max(tol.rtol, own.rtol), max(tol.atol, own.atol))
    loss = checking.compare_arrays(expected_values[0], got_values[0], tol)
    grad = checking.compare_arrays(expected_values[1:], got_values[1:], tol)
    if loss:
        loss = loss.replace("returned", "returned the loss", 1)
        return f"{loss}, and its gradient is off too" if grad else f"{loss} (its gradient is right)"
    if grad:
        grad = grad.removeprefix("has ")
        return f"has the right loss, but its gradient (flattened row by row) has {grad}"
    return None


def _agree_autograd(twin_value, value, tol):
    """Two wrong answers agree to float32's digits (a float32 loss written two ways)."""
    return blocks.agree_to_float32(twin_value, value, tol, compare=_compare_autograd)


def _torch_problem():
    return next(p for p in PROBLEMS if p.id == "torch_cross_entropy")


def torch_cross_entropy(logits, targets):
    """F.cross_entropy from elementary tensor operations: mean of LSE(z_n) − z_n[y_n].

    The max is detached: it only shifts the exponent, and its gradient would cancel anyway.
    """
    import torch

    N = logits.shape[0]
    m = logits.amax(dim=1, keepdim=True).detach()
    lse = m.squeeze(1) + torch.log(torch.exp(logits - m).sum(dim=1))
    return (lse - logits[torch.arange(N), targets]).mean()


def _t_lse(z):
    import torch

    m = z.amax(dim=1, keepdim=True)
    return m.squeeze(1) + torch.log(torch.exp(z - m).sum(dim=1))


def _t_pick(z, y):
    import torch

    return z[torch.arange(z.shape[0]), y]


def _t_builtin(logits, targets):
    import torch.nn.functional as F

    return F.cross_entropy(logits, targets)


def _t_log_softmax_gather(logits, targets):
    import torch

    return -torch.log_softmax(logits, dim=1).gather(1, targets[:, None]).mean()


def _t_nll(logits, targets):
    import torch.nn.functional as F

    return F.nll_loss(F.log_softmax(logits, dim=1), targets)


def _t_logsumexp(logits, targets):
    return (logits.logsumexp(dim=1) - _t_pick(logits, targets)).mean()


def _t_summed(logits, targets):
    return (_t_lse(logits) - _t_pick(logits, targets)).sum()


def _t_in_float32(logits, targets):
    """torch's float32 default on float64 logits (.float(), or torch.tensor of a list)."""
    return torch_cross_entropy(logits.float(), targets)


def _t_of_softmax(logits, targets):
    import torch

    p = torch.softmax(logits, dim=1)
    return (_t_lse(p) - _t_pick(p, targets)).mean()


def _t_log_of_softmax(logits, targets):
    import torch

    return -torch.log(_t_pick(torch.softmax(logits, dim=1), targets)).mean()


def _t_log_of_whole_softmax(logits, targets):
    """log of every probability, then the targets picked: where a probability is 0, its log's
    gradient 0 · (1/0) is NaN, even though that entry is never picked."""
    import torch

    return -_t_pick(torch.log(torch.softmax(logits, dim=1)), targets).mean()


def _t_no_max_shift(logits, targets):
    import torch

    return (torch.log(torch.exp(logits).sum(dim=1)) - _t_pick(logits, targets)).mean()


def _t_global_max(logits, targets):
    import torch

    m = logits.max()
    return (m + torch.log(torch.exp(logits - m).sum(dim=1)) - _t_pick(logits, targets)).mean()


def _t_log_of_naive_softmax(logits, targets):
    import torch

    e = torch.exp(logits)
    return -torch.log(_t_pick(e / e.sum(dim=1, keepdim=True), targets)).mean()


def _t_log_patched(eps, clip):
    """−log p_y with p_y kept away from 0 by a constant: finite, but capped at −log(eps)."""
    def loss(logits, targets):
        import torch

        p_y = _t_pick(torch.softmax(logits, dim=1), targets)
        return -torch.log(torch.clamp(p_y, min=eps) if clip else p_y + eps).mean()
    return loss


# The commonest constants only: each twin costs a forward and a backward pass when an answer fails.
_TORCH_PATCHES = ((1e-7, False), (1e-8, False), (1e-9, False), (1e-10, False), (1e-12, False),
                  (1e-8, True), (1e-12, True))


def _t_no_max_shift_one_hot(logits, targets):
    import torch
    import torch.nn.functional as F

    log_p = logits - torch.log(torch.exp(logits).sum(dim=1, keepdim=True))
    return -(F.one_hot(targets, logits.shape[1]) * log_p).sum(dim=1).mean()


def _t_log_of_softmax_one_hot(logits, targets):
    import torch
    import torch.nn.functional as F

    log_p = torch.log(torch.softmax(logits, dim=1))
    return -(F.one_hot(targets, logits.shape[1]) * log_p).sum(dim=1).mean()


def _t_lse_forgets_max(logits, targets):
    import torch

    m = logits.amax(dim=1, keepdim=True)
    return (torch.log(torch.exp(logits - m).sum(dim=1)) - _t_pick(logits, targets)).mean()


def _t_over_batch(logits, targets):
    """Log-softmax down the columns (dim=0): each class normalised over the batch."""
    import torch

    m = logits.amax(dim=0, keepdim=True)
    log_p = logits - m - torch.log(torch.exp(logits - m).sum(dim=0, keepdim=True))
    return -_t_pick(log_p, targets).mean()


def _t_picks_columns(logits, targets):
    return (_t_lse(logits) - logits[:, targets]).mean()


def _torch_cases(rng):
    for _ in range(3):
        z, y = _batch(rng)
        yield case(z, y.astype(np.int64))
    z, y = _batch(rng)
    yield case(z.astype(np.float32), y.astype(np.int64), note="float32")


def _torch_probes():
    return [
        case(np.array([[3.0, 1.0, -2.0, 0.0], [5.0, 2.0, 1.0, 0.0]]), np.array([1, 0]),
             note="the lesson's logits"),
        case(np.array([[1000.0, 0.0, 3.0], [2.0, 1.0, 0.0]]), np.array([1, 0]),
             note="a target probability that underflows (margin 1000)"),
        case(np.array([[1e4, 1e4 - 1, 1e4 + 2], [-1e4, -1e4 + 3, -1e4 + 1]]), np.array([2, 0]),
             note="huge logits (±1e4)"),
        case(np.array([[-1e4, 0.0, 1e4], [2.0, 1.0, 0.0]]), np.array([2, 0]),
             note="logits from −1e4 to 1e4 in one row"),
        case(np.array([[0.3, -1.2]]), np.array([1]), note="N = 1, K = 2"),
        case(np.array([[2.0, 1.0, 0.0], [0.0, 0.5, 1.0]], dtype=np.float32), np.array([0, 2]),
             note="float32"),
        case(np.array([[10000.37, 9999.81, 10000.05], [-9999.42, -10000.13, -9998.77]]),
             np.array([0, 2]), note="close logits near ±1e4"),
    ]


PROBLEMS = [
    Problem(
        id="cross_entropy", chapter=CHAPTER, signature="cross_entropy(logits, targets)",
        difficulty="easy", points=1,
        statement="Logits of shape (N, K) and integer targets of shape (N,) (class indices from "
                  "0). Return the mean over the N rows of −log softmax(logits[n])[targets[n]], "
                  "as a number. It must stay finite and exact when a target's probability "
                  "underflows to 0 (a margin of 1000) and for logits as large as ±1e4.",
        reference=cross_entropy, generate=_ce_cases, probes=_ce_probes,
        invariants=(checking.non_negative("the loss"),),
        twins=(*_ce_derived,
               Twin("softmax_before_ce", _ce_of_softmax),
               Twin("nll_sign", blocks.negated(cross_entropy)),
               Twin("wrong_target_indexing", _ce_picks_columns),
               Twin("wrong_target_indexing", _ce_picks_columns_keepdims),
               Twin("wrong_target_indexing", _ce_picks_rows),
               Twin("wrong_target_indexing", _ce_swapped_index),
               Twin("wrong_target_indexing", _ce_take_flat),
               Twin("wrong_target_indexing", _ce_one_based),
               Twin("wrong_target_indexing", _ce_onehot_columns),
               Twin("wrong_target_indexing", _ce_onehot_rows),
               Twin("wrong_axis", _ce_log_softmax_over_batch),
               Twin("no_max_shift", _ce_log_of_naive_softmax),
               Twin("no_max_shift", _ce_onehot_no_max_shift),
               Twin("log_of_softmax", _ce_onehot_log_of_softmax),
               Twin("log_of_softmax", _ce_floored),
               Twin("lower_precision", blocks.in_float32(cross_entropy))),
        agree=blocks.agree_floored,
        symptoms=_SYMPTOMS,
        hints=("Take the log of the softmax formula before computing anything: "
               "−log(e^(z_y) / Σ_j e^(z_j)) simplifies to something with no division and no "
               "tiny probability in it.",
               "Each row's loss is logsumexp(z_n) − z_n[y_n]. Compute logsumexp with the max "
               "shift (m + log Σ e^(z − m)), and pick one entry per row with "
               "z[np.arange(N), targets].",
               "m = z.max(axis=1); lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1)); "
               "return np.mean(lse - z[np.arange(len(z)), targets])"),
    ),
    Problem(
        id="cross_entropy_grad", chapter=CHAPTER, signature="cross_entropy_grad(logits, targets)",
        difficulty="medium", points=2,
        statement="The gradient of `cross_entropy(logits, targets)` (the mean over the batch) "
                  "with respect to the logits: an array of shape (N, K) equal to "
                  "(softmax(logits) − onehot(targets)) / N. It must stay finite for logits as "
                  "large as ±1e4 and margins of 1000.",
        reference=cross_entropy_grad, generate=_ce_cases, probes=_ce_probes,
        twins=(*_grad_derived,
               Twin("sum_not_mean", _grad_summed),
               Twin("grad_sign", _grad_flipped),
               Twin("grad_sign", _grad_flipped_summed),
               Twin("wrong_target_indexing", _grad_columns),
               Twin("wrong_target_indexing", _grad_rows),
               Twin("wrong_target_indexing", _grad_one_based),
               Twin("wrong_axis", _grad_softmax_over_batch),
               Twin("grad_wrt_probabilities", _grad_wrt_probabilities),
               Twin("softmax_before_ce", blocks.softmax_first(cross_entropy_grad)),
               Twin("lower_precision", blocks.in_float32(cross_entropy_grad))),
        symptoms=_SYMPTOMS,
        hints=("Differentiate one row's loss logsumexp(z) − z_y: the derivative of logsumexp "
               "with respect to z_i is softmax(z)_i, and z_y contributes −1 at i = y only.",
               "So one row's gradient is p − onehot(y). The batch loss is a mean, so every row "
               "is divided by N. Build the one-hot rows with np.eye(K)[targets].",
               "p = stable softmax of z along axis 1; g = p.copy(); "
               "g[np.arange(N), targets] -= 1; return g / N"),
    ),
    Problem(
        id="softmax_jacobian", chapter=CHAPTER, signature="softmax_jacobian(z)",
        difficulty="medium", points=2,
        statement="For logits z of shape (K,), return the K×K Jacobian of p = softmax(z): "
                  "J[i, j] = ∂p_i/∂z_j = p_i (δ_ij − p_j), that is diag(p) − ppᵀ. It must be "
                  "exact for logits near 1000 and when a probability underflows to 0.",
        reference=softmax_jacobian, generate=_jacobian_cases, probes=_jacobian_probes,
        twins=(*_jac_derived,
               Twin("jacobian_missing_diag", _jac_no_diag),
               Twin("jacobian_missing_diag", _jac_p_minus_outer),
               Twin("jacobian_missing_diag", _jac_rows_minus_outer),
               Twin("jacobian_elementwise", _jac_elementwise),
               Twin("outer_product_1d", _jac_dot),
               Twin("outer_product_1d", _jac_times_transpose),
               Twin("lower_precision", blocks.in_float32(softmax_jacobian))),
        symptoms=_SYMPTOMS,
        hints=("Differentiate p_i = e^(z_i) / S with S = Σ_j e^(z_j) by the quotient rule, "
               "once for j = i and once for j ≠ i.",
               "You get p_i(1 − p_i) on the diagonal and −p_i p_j off it: p_i(δ_ij − p_j). "
               "As matrices: diag(p) minus the outer product of p with itself.",
               "p = stable softmax of z; return np.diag(p) - np.outer(p, p)"),
    ),
    Problem(
        id="label_smoothed_cross_entropy", chapter=CHAPTER,
        signature="label_smoothed_cross_entropy(logits, targets, eps)",
        difficulty="hard", points=3,
        statement="Cross-entropy against smoothed targets, with PyTorch's convention: each row's "
                  "target distribution is q = (1 − eps)·onehot(y) + eps/K (every class, the true "
                  "one included, gets eps/K), and the loss is the mean over the N rows of "
                  "−Σ_k q_k log softmax(z)_k. It must equal "
                  "F.cross_entropy(logits, targets, label_smoothing=eps), and stay finite when "
                  "any probability, not only the target's, underflows to 0, and for a batch "
                  "with logits of +1e4 in one row and −1e4 in another.",
        reference=label_smoothed_cross_entropy, generate=_ls_cases, probes=_ls_probes,
        invariants=(checking.non_negative("the loss"),),
        twins=(*_lsce_derived,
               Twin("smoothing_over_k_minus_1", _ls_over_k_minus_1),
               Twin("smoothing_over_k_minus_1", _ls_plus_over_k_minus_1),
               Twin("smoothing_over_k_minus_1", _ls_target_keeps_1_minus_eps),
               Twin("softmax_before_ce", _ls_of_softmax),
               Twin("nll_sign", blocks.negated(label_smoothed_cross_entropy)),
               Twin("log_of_softmax", _ls_floored),
               Twin("wrong_target_indexing", _ls_onehot_columns),
               Twin("lower_precision", blocks.in_float32(label_smoothed_cross_entropy))),
        agree=blocks.agree_floored,
        symptoms=_SYMPTOMS,
        hints=("Write the smoothed target q as a matrix: eps/K everywhere, plus 1 − eps at each "
               "row's target. Then the loss is a weighted sum of log-probabilities.",
               "Every class now has weight at least eps/K, so every log p_k counts, not only the "
               "target's: compute log p as z − logsumexp(z) (never log(softmax)).",
               "q = np.full((N, K), eps / K); q[np.arange(N), targets] += 1 - eps; "
               "log_p = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True)) with "
               "m = z.max(axis=1, keepdims=True); return np.mean(-(q * log_p).sum(axis=1))"),
    ),
    Problem(
        id="torch_cross_entropy", chapter=CHAPTER, signature="torch_cross_entropy(logits, targets)",
        difficulty="hard", points=3,
        statement="The same loss in PyTorch: `logits` is a float tensor (N, K) with "
                  "requires_grad=True, `targets` an int64 tensor (N,). Return the mean "
                  "cross-entropy as a scalar tensor that autograd can differentiate, built from "
                  "elementary operations (max, exp, log, sum, indexing): torch's cross_entropy, "
                  "log_softmax, logsumexp and nll_loss are off limits. The check calls "
                  "backward() and compares your loss and your gradient with F.cross_entropy's, "
                  "including a margin of 1000 and logits of ±1e4.",
        reference=torch_cross_entropy, generate=_torch_cases, probes=_torch_probes,
        invariants=(checking.non_negative("the loss"),),
        call=_autograd_call, compare=_compare_autograd, agree=_agree_autograd,
        twins=(Twin("forbidden_builtin", _t_builtin),
               Twin("forbidden_builtin", _t_log_softmax_gather),
               Twin("forbidden_builtin", _t_nll),
               Twin("forbidden_builtin", _t_logsumexp),
               Twin("sum_not_mean", _t_summed),
               Twin("softmax_before_ce", _t_of_softmax),
               Twin("nll_sign", blocks.negated(torch_cross_entropy)),
               Twin("lower_precision", _t_in_float32),
               Twin("log_of_softmax", _t_log_of_softmax),
               Twin("log_of_softmax", _t_log_of_softmax_one_hot),
               Twin("log_of_softmax", _t_log_of_whole_softmax),
               *(Twin("log_of_softmax", _t_log_patched(e, clip)) for e, clip in _TORCH_PATCHES),
               Twin("no_max_shift", _t_no_max_shift),
               Twin("no_max_shift", _t_log_of_naive_softmax),
               Twin("global_max_shift", _t_global_max),
               Twin("no_max_shift", _t_no_max_shift_one_hot),
               Twin("wrong_target_indexing", _t_picks_columns),
               Twin("lse_forgets_max", _t_lse_forgets_max),
               Twin("wrong_axis", _t_over_batch)),
        hints=("Write the numpy cross_entropy again with torch operations: the same "
               "logsumexp(z) − z_y per row, the same mean. Autograd differentiates whatever "
               "you build, as long as you stay in torch.",
               "m = logits.max(dim=1, keepdim=True).values; the log-sum-exp is "
               "m.squeeze(1) + torch.log(torch.exp(logits - m).sum(dim=1)); pick the target "
               "logits with logits[torch.arange(N), targets].",
               "return (lse - logits[torch.arange(N), targets]).mean(), with lse as in hint 2. "
               "Detaching m (m = m.detach()) is allowed: its gradient cancels out."),
    ),
]


QUIZZES = [
    Quiz(
        id="q05_initial_loss", chapter=CHAPTER,
        question="A freshly initialised classifier with K = 10 classes outputs logits that are "
                 "all nearly equal. What mean cross-entropy do you expect on the first batch "
                 "(natural log, 4 decimals)?",
        answer=float(np.log(10.0)), tolerance=2e-3,
        wrong_answers=((1.0, "That is log base 10 of 10. Cross-entropy uses the natural log: "
                             "−ln(1/10)."),
                       (-float(np.log(10.0)), "The sign: the loss is −log p_y, and log(1/10) is "
                                              "negative, so the loss is positive."),
                       (0.1, "0.1 is the probability each class gets; the loss is −ln 0.1."),
                       (float(np.log2(10.0)), "That is in bits (log base 2); cross-entropy here "
                                              "is in nats (natural log).")),
        explanation="Equal logits give p = 1/K for every class, so the loss is −ln(1/K) = ln K "
                    "= 2.3026. A first loss far above ln K means the initial logits are too "
                    "large: the model is confidently wrong before it has learned anything.",
    ),
    Quiz(
        id="q05_double_softmax", chapter=CHAPTER,
        question="A perfect 10-class model outputs the probabilities (1, 0, …, 0) and the target "
                 "is class 0. By mistake you pass these probabilities to F.cross_entropy, which "
                 "expects logits. What loss does it report (4 decimals)?",
        answer=float(np.log(np.e + 9) - 1), tolerance=2e-3,
        wrong_answers=((0.0, "That is the loss the model deserves, but F.cross_entropy applies "
                             "softmax itself: the 'logits' (1, 0, …, 0) become probabilities "
                             "(e, 1, …, 1)/(e + 9), and the target gets only 0.23."),
                       (float(np.log(10.0)), "Close in spirit: probabilities passed as logits "
                        "lie in [0, 1], so their softmax is never far from uniform; but the "
                        "target's logit is 1, not 0, which lowers the loss a little below ln 10.")),
        explanation="softmax(1, 0, …, 0) gives the target e/(e + 9) ≈ 0.232, so the loss is "
                    "ln(e + 9) − 1 ≈ 1.4612 for a perfect prediction: passing probabilities "
                    "squashes every loss towards ln K, and the gradients nearly vanish.",
    ),
    Quiz(
        id="q05_gradient", chapter=CHAPTER,
        question="One example, three classes: softmax gives p = (0.2, 0.3, 0.5) and the target "
                 "is class 1 (0-based). What is the gradient of the cross-entropy with respect "
                 "to the logits?",
        choices=(
            Choice("(0.2, −0.7, 0.5)", True, "Right: p − y, with y = (0, 1, 0). The target's "
                   "logit is pushed up, the others down, each in proportion to its "
                   "probability."),
            Choice("(−0.2, 0.7, −0.5)", False, "That is y − p, the direction that lowers the "
                   "loss. The gradient itself points uphill: p − y."),
            Choice("(0, −0.7, 0)", False, "Only the target entry? The other logits also get a "
                   "gradient, p_i, because raising any of them lowers p_y through the "
                   "softmax's denominator."),
            Choice("(0, −3.33, 0)", False, "−1/p_y = −1/0.3 is the derivative with respect to "
                   "the probability p_y, not to the logits. Through the softmax it becomes "
                   "p − y."),
        ),
    ),
    Quiz(
        id="q05_jacobian_rows", chapter=CHAPTER,
        question="Every row of the softmax Jacobian diag(p) − ppᵀ sums to the same number. "
                 "Which, and why?",
        choices=(
            Choice("0, because adding the same amount to every logit changes no probability",
                   True, "Right: row i summed over j is the change in p_i when every logit "
                   "moves by the same amount, and softmax is shift invariant: "
                   "p_i − p_i Σ_j p_j = 0."),
            Choice("1, because the probabilities sum to one", False, "The probabilities sum to "
                   "one, so their changes sum to zero: p_i − p_i·Σ_j p_j = p_i − p_i = 0."),
            Choice("p_i, the diagonal entry", False, "The diagonal is p_i(1 − p_i), and the "
                   "off-diagonal entries −p_i p_j sum to −p_i(1 − p_i): the total is 0."),
            Choice("It depends on the logits", False, "It does not: shifting every logit by "
                   "the same amount never changes softmax, so each row sums to exactly 0."),
        ),
    ),
    Quiz(
        id="q05_label_smoothing", chapter=CHAPTER,
        question="K = 3 classes, target class 0, label smoothing eps = 0.1 with PyTorch's "
                 "convention (F.cross_entropy(..., label_smoothing=0.1)). What weight does the "
                 "smoothed target give class 0 (4 decimals)?",
        answer=0.9 + 0.1 / 3, tolerance=5e-4,
        wrong_answers=((0.9, "That is the other convention (1 − eps for the target, eps/(K − 1) "
                             "for each other class). PyTorch gives eps/K to every class, the "
                             "target included: 0.9 + 0.1/3."),
                       (0.1 / 3, "That is the weight of each other class; the target keeps "
                                 "1 − eps on top of its eps/K.")),
        explanation="q = (1 − eps)·onehot + eps/K = (0.9333, 0.0333, 0.0333): the target keeps "
                    "0.9 and shares the remaining 0.1 equally with the other classes.",
    ),
]


# === Practice beyond the lesson ================================================================
# Problems the lesson does not ask: find the bug, apply label smoothing, derive then check
# numerically. They are declared after everything above and added to PROBLEMS at the end.

# --- fix_the_loss: find the bug ------------------------------------------------------------------

def fix_the_loss(logits, targets):
    """Mean cross-entropy of logits (N, K) against class indices (N,): LSE(z_n) − z_n[y_n]."""
    z = np.asarray(logits, dtype=float)
    lse = blocks.logsumexp(z, axis=1)
    return np.mean(lse - z[np.arange(z.shape[0]), np.asarray(targets)])


def _fix_loss_shown(logits, targets):
    """The code the practice notebook shows: cross-entropy of the probabilities, a second
    softmax."""
    z = np.asarray(logits, dtype=float)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p = p / p.sum(axis=1, keepdims=True)
    lse = np.log(np.exp(p).sum(axis=1))
    return np.mean(lse - p[np.arange(len(z)), targets])


def _fix_loss_log_of_p(logits, targets):
    z = np.asarray(logits, dtype=float)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p = p / p.sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(z)), targets]))


def _fix_loss_summed(logits, targets):
    z = np.asarray(logits, dtype=float)
    return np.sum(blocks.logsumexp(z, axis=1) - z[np.arange(len(z)), targets])


def _fix_loss_one_based(logits, targets):
    return fix_the_loss(logits, np.asarray(targets) - 1)


def _fix_loss_cases(rng):
    for _ in range(3):
        N, K = _inputs.shape(rng, 2)
        yield case(_inputs.logits(rng, (N, K), scale=3.0), rng.integers(0, K, N))


def _fix_loss_probes():
    return [
        case(np.array([[3.0, 1.0, -2.0, 0.0]]), np.array([1]), note="the lesson's 2.1755"),
        case(np.array([[2.0, 1.0, 0.5], [5.0, 2.0, 1.0]]), np.array([0, 0]),
             note="two rows"),
        case(np.array([[0.0, 1000.0], [3.0, 0.0]]), np.array([0, 0]),
             note="a target probability of e^(−1000)"),
    ]


# --- smoothed_loss_floor: apply -------------------------------------------------------------------

def smoothed_loss_floor(K, eps):
    """The smallest label-smoothed cross-entropy any logits reach: the entropy of the target
    q = (1 − eps + eps/K on the class, eps/K on each of the K − 1 others), 0·log 0 = 0."""
    K, eps = np.asarray(K, dtype=float), np.asarray(eps, dtype=float)
    hi, lo = 1 - eps + eps / K, eps / K
    return -(blocks.RIGHT.xlogx(hi, np.log(hi)) + (K - 1) * blocks.RIGHT.xlogx(lo, blocks.RIGHT.log(lo)))


def _floor_over_k_minus_1(K, eps):
    K, eps = np.asarray(K, dtype=float), np.asarray(eps, dtype=float)
    hi, lo = 1 - eps, eps / (K - 1)
    with np.errstate(all="ignore"):
        return -(np.where(hi > 0, hi * np.log(hi), 0.0) +
                 (K - 1) * np.where(lo > 0, lo * np.log(lo), 0.0))


def _floor_nan_at_zero(K, eps):
    K, eps = np.asarray(K, dtype=float), np.asarray(eps, dtype=float)
    hi, lo = 1 - eps + eps / K, eps / K
    with np.errstate(all="ignore"):
        return -(hi * np.log(hi) + (K - 1) * lo * np.log(lo))


def _floor_bits(K, eps):
    return smoothed_loss_floor(K, eps) / np.log(2)


def _floor_zero(K, eps):
    return np.zeros(np.broadcast(np.asarray(K), np.asarray(eps)).shape)


def _floor_target_term_only(K, eps):
    K, eps = np.asarray(K, dtype=float), np.asarray(eps, dtype=float)
    return -np.log(1 - eps + eps / K)


def _floor_target_entropy_term_only(K, eps):
    """−q_t·log q_t for the target class alone (scipy.special.xlogy): the K − 1 others left
    out of the entropy."""
    K, eps = np.asarray(K, dtype=float), np.asarray(eps, dtype=float)
    hi = 1 - eps + eps / K
    return -blocks.RIGHT.xlogx(hi, np.log(hi))


def _floor_cases(rng):
    for _ in range(3):
        shape = _inputs.shape(rng, 1)
        yield case(rng.integers(2, 1000, shape), rng.uniform(0.01, 0.5, shape))


def _floor_probes():
    return [
        case(np.array([10, 1000, 50257]), np.array([0.1, 0.1, 0.1]), note="eps = 0.1"),
        case(np.array([5, 5]), np.array([0.0, 1.0]), note="eps = 0 and eps = 1"),
    ]


# --- softmax_classifier_grad: derive, then check numerically ------------------------------------

def softmax_classifier_grad(X, y, W, b):
    """∂L/∂W stacked over ∂L/∂b, shape (D + 1, K), for L the mean cross-entropy of logits
    X @ W + b: with P the probabilities and Y the one-hot targets, Xᵀ(P − Y)/N, then the column
    sums of (P − Y)/N (b is added to every row)."""
    X, W, b = (np.asarray(a, dtype=float) for a in (X, W, b))
    N, K = X.shape[0], W.shape[1]
    G = (blocks.softmax(X @ W + b, axis=1) - np.eye(K)[np.asarray(y)]) / N
    return np.vstack([X.T @ G, G.sum(axis=0)])


def _classifier_flipped(X, y, W, b):
    return -softmax_classifier_grad(X, y, W, b)


def _classifier_summed(X, y, W, b):
    return softmax_classifier_grad(X, y, W, b) * len(X)


def _classifier_bias_averaged(X, y, W, b):
    grad = softmax_classifier_grad(X, y, W, b)
    grad[-1] /= len(X)
    return grad


def _classifier_targets_as_columns(X, y, W, b):
    X, W = np.asarray(X), np.asarray(W)
    P = blocks.softmax(X @ W + b, axis=1)
    Y = np.zeros_like(P)
    Y[:, np.asarray(y)] = 1
    G = (P - Y) / len(X)
    return np.vstack([X.T @ G, G.sum(axis=0)])


def _classifier_with(softmax):
    """The gradient with the probabilities P made by `softmax` (of the logits, along axis 1)."""
    def grad(X, y, W, b):
        X, W, b = (np.asarray(a, dtype=float) for a in (X, W, b))
        G = (softmax(X @ W + b) - np.eye(W.shape[1])[np.asarray(y)]) / len(X)
        return np.vstack([X.T @ G, G.sum(axis=0)])
    grad.__name__ = f"classifier_grad_{softmax.__name__}"
    return grad


def _no_max_shift(z):
    return blocks.NoMaxShift().softmax(z, axis=1)


def _global_max_shift(z):
    return blocks.GlobalMaxShift().softmax(z, axis=1)


def _double_softmax(z):
    return blocks.softmax(blocks.softmax(z, axis=1), axis=1)


def _classifier_cases(rng):
    for _ in range(3):
        N, D, K = _inputs.shape(rng, 3)
        yield case(rng.normal(0, 1, (N, D)), rng.integers(0, K, N),
                   rng.normal(0, 1, (D, K)), rng.normal(0, 1, K))


def _classifier_probes():
    X = np.array([[1.0, 2.0], [0.5, -1.0], [-1.0, 0.0]])
    return [
        case(X, np.array([0, 2, 1]), np.zeros((2, 3)), np.zeros(3),
             note="W = 0, b = 0: every p is 1/3"),
        case(X, np.array([1, 1, 0]), np.array([[300.0, 0.0, -300.0], [0.0, 400.0, 0.0]]),
             np.array([0.0, 1.0, 2.0]), note="logits in the hundreds"),
        case(X, np.array([2, 0, 1]), np.array([[5000.3, 5000.1, 4999.9], [0.0, 0.0, 0.0]]),
             np.array([0.1, 0.3, 0.0]), note="close logits in the thousands"),
        case(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 2]),
             np.array([[1e4, 1e4 - 1.0, 1e4 - 2.0], [0.0, 1.0, -1.0]]), np.zeros(3),
             note="two rows of logits 1e4 apart"),
    ]


_BEYOND = [
    Problem(
        id="fix_the_loss", chapter=CHAPTER, signature="fix_the_loss(logits, targets)",
        difficulty="easy", points=1,
        statement="Find the bug. The loss shown in the practice notebook computes the "
                  "probabilities p from the logits, then cross-entropy as LSE − z_y, but of p. It "
                  "gives 1.59 for the lesson's z = (3, 1, −2, 0), target 1, instead of 2.1755, and "
                  "training with it barely moves. Fix it: the mean cross-entropy of logits "
                  "(N, K) against class indices (N,), finite for a target probability of "
                  "e^(−1000).",
        reference=fix_the_loss, generate=_fix_loss_cases, probes=_fix_loss_probes,
        invariants=(checking.non_negative("the loss"),),
        twins=(Twin("softmax_before_ce", _fix_loss_shown),
               Twin("log_of_softmax", _fix_loss_log_of_p),
               Twin("sum_not_mean", _fix_loss_summed),
               Twin("nll_sign", blocks.negated(fix_the_loss)),
               Twin("wrong_target_indexing", _fix_loss_one_based)),
        hints=("What does LSE(z) − z_y expect as z: logits or probabilities? What does the code "
               "feed it?",
               "Applied to p, the formula takes a second softmax of numbers in [0, 1], so every "
               "loss lands between about ln K − 1 and ln K. Apply it to the logits themselves.",
               "m = z.max(axis=1, keepdims=True); lse = m[:, 0] + np.log(np.exp(z - m).sum("
               "axis=1)); return np.mean(lse - z[np.arange(len(z)), targets])"),
    ),
    Problem(
        id="smoothed_loss_floor", chapter=CHAPTER, signature="smoothed_loss_floor(K, eps)",
        difficulty="medium", points=2,
        statement="With label smoothing eps (PyTorch's convention: the target class gets "
                  "1 − eps + eps/K, every other class eps/K), the loss can no longer reach 0. "
                  "Return the smallest loss any logits can reach, for K classes, elementwise (K "
                  "and eps arrays of one shape, eps in [0, 1]), in nats. eps = 0 gives 0.",
        reference=smoothed_loss_floor, generate=_floor_cases, probes=_floor_probes,
        invariants=(checking.non_negative("the loss"),),
        twins=(Twin("smoothing_over_k_minus_1", _floor_over_k_minus_1),
               Twin("entropy_nan_zero_prob", _floor_nan_at_zero),
               Twin("wrong_log_base", _floor_bits),
               Twin("smoothed_loss_reaches_zero", _floor_zero),
               Twin("smoothed_loss_reaches_zero", _floor_target_term_only),
               Twin("smoothed_loss_reaches_zero", _floor_target_entropy_term_only),
               Twin("nll_sign", blocks.negated(smoothed_loss_floor))),
        hints=("Cross-entropy H(q, p) = H(q) + KL(q ‖ p) and KL ≥ 0: the best p is q itself. "
               "So the floor is the entropy of the smoothed target.",
               "H(q) = −[(1 − eps + eps/K)·log(1 − eps + eps/K) + (K − 1)·(eps/K)·log(eps/K)], "
               "with 0·log 0 = 0 when eps = 0.",
               "hi, lo = 1 - eps + eps / K, eps / K; return -(hi * np.log(hi) + (K - 1) * "
               "np.where(lo > 0, lo * np.log(np.where(lo > 0, lo, 1)), 0))"),
    ),
    Problem(
        id="softmax_classifier_grad", chapter=CHAPTER,
        signature="softmax_classifier_grad(X, y, W, b)", difficulty="hard", points=3,
        statement="Derive, then check numerically: a linear softmax classifier has logits "
                  "X @ W + b (X (N, D), W (D, K), b (K,)) and the mean cross-entropy loss against "
                  "class indices y (N,). Return its gradients with respect to W and b stacked "
                  "as one array of shape (D + 1, K), ∂L/∂W above and ∂L/∂b as the last row "
                  "(np.vstack([dW, db])). Check them against autograd and a centred "
                  "difference before you run the check. Exact for logits in the hundreds.",
        reference=softmax_classifier_grad, generate=_classifier_cases,
        probes=_classifier_probes,
        twins=(Twin("lower_precision", blocks.in_float32(softmax_classifier_grad)),
               Twin("grad_sign", _classifier_flipped),
               Twin("sum_not_mean", _classifier_summed),
               Twin("bias_grad_averaged", _classifier_bias_averaged),
               Twin("wrong_target_indexing", _classifier_targets_as_columns),
               Twin("no_max_shift", _classifier_with(_no_max_shift)),
               Twin("global_max_shift", _classifier_with(_global_max_shift)),
               Twin("softmax_before_ce", _classifier_with(_double_softmax))),
        hints=("Start from the gradient with respect to the logits, (P − Y)/N for a mean "
               "loss. Then the chain rule through Z = X @ W + b.",
               "∂L/∂W = Xᵀ ∂L/∂Z (shapes: (D, N) @ (N, K)); b is added to every row, so "
               "∂L/∂b sums ∂L/∂Z over the rows.",
               "G = (softmax(X @ W + b) - np.eye(K)[y]) / N; "
               "return np.vstack([X.T @ G, G.sum(axis=0)])"),
    ),
]

PROBLEMS += _BEYOND
