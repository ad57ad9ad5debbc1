"""Chapter 08, a tiny language model: the pieces the learner wrote in numpy, written again in
torch so that autograd can train through them: a log-softmax, a causal softmax and causal
attention. Lesson 08 trains its model with them once they pass.

A check calls the answer on float64 leaf tensors, multiplies its output by fixed random weights,
sums, runs backward(), and compares the output and every input's gradient with the reference's.
Ready-made torch functions that would do the whole job are ruled out per problem.
"""

from __future__ import annotations

import math

import numpy as np

from tutor import checking, sandbox
from tutor.chapters import _inputs, blocks
from tutor.problem import Choice, Problem, Quiz, Twin, case

CHAPTER = "08_tiny_language_model"

LOG_SOFTMAX_BUILTINS = frozenset({"log_softmax", "_log_softmax", "special_log_softmax",
                                  "logsumexp", "special_logsumexp", "cross_entropy",
                                  "cross_entropy_loss", "nll_loss"})
SOFTMAX_BUILTINS = frozenset({"softmax", "_softmax", "special_softmax", "log_softmax",
                              "_log_softmax", "scaled_dot_product_attention"})


class UsedBuiltin:
    """What the check records instead of a value when the answer called a ruled-out function."""

    def __init__(self, names):
        self.names = tuple(sorted(names))

    def __repr__(self) -> str:
        return f"a result computed with torch's {' and '.join(self.names)}"


class WithGradients:
    """An answer's output and the gradients autograd gives each input, in the output's dtype."""

    def __init__(self, output, grads, names):
        self.output, self.grads, self.names = output, grads, names

    def __repr__(self) -> str:
        parts = [checking.fmt_value(self.output)]
        parts += [f"d/d{n} {checking.fmt_value(g)}" for n, g in zip(self.names, self.grads,
                                                                     strict=True)]
        return "; ".join(parts)


def _watching(forbidden: frozenset, seen: set):
    from torch.overrides import TorchFunctionMode

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in forbidden:
                seen.add(name)
            return func(*args, **(kwargs or {}))

    return Watch()


def _weights(shape) -> np.ndarray:
    """Fixed upstream weights for backward(): the same for the answer and the reference."""
    return np.random.default_rng(sum(shape) + 7 * len(shape)).normal(size=shape)


def _autograd(name: str, params: tuple[str, ...], forbidden: frozenset):
    """A `call` for problems whose answer maps float tensors to a float tensor: leaf tensors
    in, a WithGradients (or UsedBuiltin) out; wrong types raise with a message the learner can
    act on."""
    def call(fn, c):
        import torch

        inputs = [torch.tensor(np.array(a), requires_grad=True) for a in c.args]
        originals = [t.detach().clone() for t in inputs]
        seen: set = set()
        with _watching(forbidden, seen):
            out = fn(*inputs)
        sandbox.fresh_inputs_unchanged(inputs, originals)
        if seen:
            return UsedBuiltin(seen)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{name} returned {type(out).__name__}, not a torch tensor; keep "
                            "the whole computation in torch (no numpy, no .item()) so that "
                            "autograd can differentiate it")
        if not out.requires_grad:
            raise TypeError(f"{name} returned a tensor that autograd cannot differentiate (no "
                            "grad_fn): something detached it from the inputs (.detach(), "
                            "numpy, torch.tensor(...) on a result)")
        expected_shape = _shape_of(name, c)
        if tuple(out.shape) != expected_shape:
            raise ValueError(f"{name} returned shape {tuple(out.shape)} instead of "
                             f"{expected_shape}")
        weights = torch.from_numpy(_weights(expected_shape)).to(out.dtype)
        # Masked entries are exactly 0 in the answer; NaN there would poison the sum.
        (torch.nan_to_num(out, nan=0.0) * weights).sum().backward()
        dtype = out.detach().numpy().dtype
        grads = [np.zeros(a.shape) if a.grad is None else a.grad.numpy() for a in inputs]
        return WithGradients(out.detach().numpy().astype(dtype),
                             [g.astype(dtype) for g in grads], params)
    return call


def _shape_of(name, c):
    if name == "torch_causal_attention":
        q, _, v = c.args
        return tuple(np.shape(q)[:-1]) + (np.shape(v)[-1],)
    return tuple(np.shape(c.args[0]))


def _compare(expected, got, tol):
    """Output and gradients judged apart, so the message says which is off."""
    if isinstance(got, UsedBuiltin) or isinstance(expected, UsedBuiltin):
        if isinstance(got, UsedBuiltin) and isinstance(expected, UsedBuiltin):
            return None
        if isinstance(got, UsedBuiltin):
            return f"called {' and '.join(got.names)}, which this problem rules out"
        return "built it from elementary operations"
    reason = checking.compare_arrays(expected.output, got.output, tol)
    if reason:
        return reason
    for name, e, g in zip(got.names, expected.grads, got.grads, strict=True):
        reason = checking.compare_arrays(e, g, tol)
        if reason:
            return (f"has the right values, but the gradient with respect to {name} "
                    f"{reason.removeprefix('has ').replace('returned ', 'is ', 1)}")
    return None


# --- torch_log_softmax -------------------------------------------------------------------------

def torch_log_softmax(z):
    """z − logsumexp(z) along the last axis, from max, exp, sum and log. The max is detached:
    it only shifts the exponent, and its gradient cancels anyway."""
    import torch

    m = z.amax(dim=-1, keepdim=True).detach()
    return z - m - torch.log(torch.exp(z - m).sum(dim=-1, keepdim=True))


def _tls_builtin(z):
    import torch

    return torch.log_softmax(z, dim=-1)


def _tls_log_of_softmax(z):
    import torch

    e = torch.exp(z - z.amax(dim=-1, keepdim=True))
    return torch.log(e / e.sum(dim=-1, keepdim=True))


def _tls_no_shift(z):
    import torch

    return z - torch.log(torch.exp(z).sum(dim=-1, keepdim=True))


def _tls_first_axis(z):
    import torch

    m = z.amax(dim=0, keepdim=True)
    return z - m - torch.log(torch.exp(z - m).sum(dim=0, keepdim=True))


def _tls_global_max(z):
    import torch

    m = z.max()
    return z - m - torch.log(torch.exp(z - m).sum(dim=-1, keepdim=True))


def _tls_forgets_max(z):
    import torch

    m = z.amax(dim=-1, keepdim=True)
    return z - torch.log(torch.exp(z - m).sum(dim=-1, keepdim=True))


def _tls_in_float32(z):
    """torch's float32 default on float64 logits (.float(), or torch.tensor of a list)."""
    return torch_log_softmax(z.float()).to(z.dtype)


def _tls_clipped(z):
    import torch

    x = z.clamp(-80.0, 80.0)
    return x - torch.log(torch.exp(x).sum(dim=-1, keepdim=True))


def _tls_no_keepdim(z):
    import torch

    m = z.amax(dim=-1, keepdim=True)
    return z - m - torch.log(torch.exp(z - m).sum(dim=-1))


def _tls_cases(rng):
    for ndim in (1, 2, 3):
        shape = _inputs.shape(rng, ndim, low=2, high=7)
        yield case(_inputs.logits(rng, shape, scale=3.0))


def _tls_probes():
    return [
        case(np.array([[2.0, 1.0, 0.0], [0.5, -1.0, 3.0]]), note="two rows"),
        case(np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -999.0]]),
             note="logits near ±1000"),
        case(np.array([[0.0, -200.0, 5.0, -800.0]]), note="probabilities that underflow"),
        # float32 holds 1e4 to about 0.001: the two logits 0.0004 apart become equal.
        case(np.array([[10000.0004, 10000.0, 9990.0]]), note="two logits 0.0004 apart near 1e4"),
    ]


# --- torch_causal_softmax ----------------------------------------------------------------------

def torch_causal_softmax(scores):
    """Softmax over the last axis of (…, T, T) scores with key j hidden from query i when j > i:
    hidden scores become −inf before the softmax, so their weights are exactly 0."""
    import torch

    T = scores.shape[-1]
    keep = torch.ones(T, T, dtype=torch.bool).tril()
    s = scores.masked_fill(~keep, float("-inf"))
    e = torch.exp(s - s.amax(dim=-1, keepdim=True).detach())
    return e / e.sum(dim=-1, keepdim=True)


def _causal(T):
    import torch

    return torch.ones(T, T, dtype=torch.bool).tril()


def _softmax_last(s):
    import torch

    e = torch.exp(s - s.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


def _tcs_after(scores):
    return _softmax_last(scores) * _causal(scores.shape[-1])


def _tcs_after_renormalised(scores):
    w = _softmax_last(scores) * _causal(scores.shape[-1])
    return w / w.sum(dim=-1, keepdim=True)


def _tcs_upper(scores):
    return _softmax_last(scores.masked_fill(_causal(scores.shape[-1]).T.logical_not(),
                                            float("-inf")))


def _tcs_no_diagonal(scores):
    import torch

    T = scores.shape[-1]
    keep = torch.ones(T, T, dtype=torch.bool).tril(-1)
    return _softmax_last(scores.masked_fill(~keep, float("-inf")))


def _tcs_fill_zero(scores):
    return _softmax_last(scores.masked_fill(~_causal(scores.shape[-1]), 0.0))


def _tcs_no_shift(scores):
    import torch

    e = torch.exp(scores) * _causal(scores.shape[-1])
    return e / e.sum(dim=-1, keepdim=True)


def _tcs_over_queries(scores):
    import torch

    s = scores.masked_fill(~_causal(scores.shape[-1]), float("-inf"))
    e = torch.exp(s - s.amax(dim=-2, keepdim=True))
    return e / e.sum(dim=-2, keepdim=True)


def _tcs_builtin(scores):
    import torch

    return torch.softmax(scores.masked_fill(~_causal(scores.shape[-1]), float("-inf")), dim=-1)


def _tcs_masked_no_shift(scores):
    import torch

    e = torch.exp(scores.masked_fill(~_causal(scores.shape[-1]), float("-inf")))
    return e / e.sum(dim=-1, keepdim=True)


def _tcs_no_diagonal_rows_zero(scores):
    """j < i, with the first query's empty row kept at 0 instead of NaN."""
    import torch

    T = scores.shape[-1]
    s = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(-1), float("-inf"))
    m = s.amax(dim=-1, keepdim=True)
    e = torch.exp(s - torch.where(torch.isfinite(m), m, torch.zeros_like(m)))
    return e / e.sum(dim=-1, keepdim=True).clamp_min(1e-300)


def _tcs_in_float32(scores):
    """torch's float32 default on float64 scores (.float(), or torch.tensor of a list)."""
    return torch_causal_softmax(scores.float()).to(scores.dtype)


def _agree_to_float32(twin_value, value, tol):
    """Two wrong answers agree to float32's digits (a float32 softmax written two ways)."""
    return blocks.agree_to_float32(twin_value, value, tol, compare=_compare)


def _tcs_cases(rng):
    for batch in ((), (2,), (2, 3)):
        T = int(rng.integers(3, 8))
        yield case(_inputs.logits(rng, batch + (T, T), scale=2.0))


def _tcs_probes():
    return [
        case(np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 2.0], [0.5, 0.5, 4.0]]), note="three tokens"),
        case(np.array([[0.0, 900.0], [800.0, 1.0]]), note="a huge score at a hidden key"),
        case(np.array([[[1000.0, 0.0, 0.0], [1001.0, 1000.0, 0.0], [999.0, 1000.0, 1002.0]]]),
             note="scores near 1000"),
        # float32 holds 1e4 to about 0.001: the two scores 0.0004 apart become equal.
        case(np.array([[1e4, 0.0, 0.0], [1e4 + 4e-4, 1e4, 0.0], [1e4, 1e4 - 3e-4, 1e4 + 2e-4]]),
             note="scores 0.0004 apart near 1e4"),
    ]


# --- torch_causal_attention --------------------------------------------------------------------

def torch_causal_attention(q, k, v):
    """softmax(q kᵀ / √d, causal) v over inputs (…, T, d) and values (…, T, dv)."""
    return torch_causal_softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])) @ v


def _tca_with(softmax, scale=None, transpose_all=False):
    def twin(q, k, v):
        kt = k.permute(*reversed(range(k.dim()))) if transpose_all else k.transpose(-2, -1)
        d = q.shape[-1]
        return softmax(q @ kt / (math.sqrt(d) if scale is None else scale(d))) @ v
    return twin


_tca_unscaled = _tca_with(torch_causal_softmax, scale=lambda d: 1.0)
_tca_over_d = _tca_with(torch_causal_softmax, scale=lambda d: d)
_tca_after = _tca_with(_tcs_after)
_tca_upper = _tca_with(_tcs_upper)
_tca_fill_zero = _tca_with(_tcs_fill_zero)
_tca_over_queries = _tca_with(_tcs_over_queries)
_tca_unmasked = _tca_with(_softmax_last)


def _tca_builtin(q, k, v):
    import torch.nn.functional as F

    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def _tca_cases(rng):
    for batch in ((), (2,), (3, 2)):
        T, d, dv = (int(x) for x in rng.choice(np.arange(2, 8), 3, replace=False))
        yield case(rng.normal(size=batch + (T, d)), rng.normal(size=batch + (T, d)),
                   rng.normal(size=batch + (T, dv)))


def _tca_probes():
    rng = np.random.default_rng(8)
    return [
        case(rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), rng.normal(size=(4, 3)),
             note="four tokens"),
        case(rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 5)),
             note="a batch, d ≠ dv"),
        case(30 * rng.normal(size=(3, 4)), 30 * rng.normal(size=(3, 4)), rng.normal(size=(3, 2)),
             note="large scores"),
    ]


# --- the problems ------------------------------------------------------------------------------

PROBLEMS = [
    Problem(
        id="torch_log_softmax", chapter=CHAPTER, signature="torch_log_softmax(z)",
        difficulty="easy", points=1,
        statement="Log-softmax along the last axis in PyTorch: `z` is a float tensor of any "
                  "shape with requires_grad=True; return the tensor z − logsumexp(z) of the "
                  "same shape, built from elementary operations (max, exp, sum, log): torch's "
                  "log_softmax, logsumexp and cross_entropy are off limits. The check runs "
                  "backward() and compares values and gradients, on logits near ±1000 and "
                  "probabilities that underflow too.",
        reference=torch_log_softmax, generate=_tls_cases, probes=_tls_probes,
        call=_autograd("torch_log_softmax", ("z",), LOG_SOFTMAX_BUILTINS), compare=_compare,
        agree=_agree_to_float32,
        twins=(Twin("forbidden_torch_function", _tls_builtin),
               Twin("lower_precision", _tls_in_float32),
               Twin("clips_logits", _tls_clipped),
               Twin("missing_keepdims", _tls_no_keepdim),
               Twin("log_of_softmax", _tls_log_of_softmax),
               Twin("no_max_shift", _tls_no_shift),
               Twin("wrong_axis", _tls_first_axis),
               Twin("global_max_shift", _tls_global_max),
               Twin("lse_forgets_max", _tls_forgets_max)),
        hints=("The numpy log_softmax of chapter 04, with torch names: subtract the max of each "
               "row, then the log of the sum of the exponentials. Autograd follows any torch "
               "operations.",
               "m = z.amax(dim=-1, keepdim=True); keepdim makes it broadcast against z. Never "
               "take torch.log of a softmax: probabilities that underflow give −inf.",
               "m = z.amax(dim=-1, keepdim=True).detach(); return z - m - torch.log(torch.exp("
               "z - m).sum(dim=-1, keepdim=True))"),
    ),
    Problem(
        id="torch_causal_softmax", chapter=CHAPTER, signature="torch_causal_softmax(scores)",
        difficulty="medium", points=2,
        statement="The causal masked softmax of attention, in PyTorch: `scores` is a float "
                  "tensor (…, T, T), rows are queries and columns keys, with requires_grad=True. "
                  "Return the softmax over the last axis in which query i gives key j weight "
                  "exactly 0 when j > i (the future), the other weights of each row summing to "
                  "one. Scores may be near 1000, and a hidden score may be huge. torch's "
                  "softmax functions are off limits.",
        reference=torch_causal_softmax, generate=_tcs_cases, probes=_tcs_probes,
        call=_autograd("torch_causal_softmax", ("scores",), SOFTMAX_BUILTINS),
        compare=_compare, agree=_agree_to_float32,
        twins=(Twin("forbidden_torch_function", _tcs_builtin),
               Twin("lower_precision", _tcs_in_float32),
               Twin("no_causal_mask", _softmax_last),
               Twin("mask_after_softmax", _tcs_after),
               Twin("mask_after_softmax", _tcs_after_renormalised),
               Twin("causal_wrong_triangle", _tcs_upper),
               Twin("causal_no_diagonal", _tcs_no_diagonal),
               Twin("causal_no_diagonal", _tcs_no_diagonal_rows_zero),
               Twin("mask_fill_zero", _tcs_fill_zero),
               Twin("no_max_shift", _tcs_no_shift),
               Twin("no_max_shift", _tcs_masked_no_shift),
               Twin("wrong_axis", _tcs_over_queries)),
        hints=("Mask before the softmax: build the (T, T) lower triangle, diagonal included, "
               "and give every score above it −inf, so that its exponential is exactly 0.",
               "keep = torch.ones(T, T, dtype=torch.bool).tril(); s = scores.masked_fill(~keep, "
               "float('-inf')). Then the stable softmax over dim=-1: no row is fully masked, "
               "since every query sees itself.",
               "e = torch.exp(s - s.amax(dim=-1, keepdim=True)); return e / e.sum(dim=-1, "
               "keepdim=True)"),
    ),
    Problem(
        id="torch_causal_attention", chapter=CHAPTER,
        signature="torch_causal_attention(q, k, v)", difficulty="hard", points=3,
        statement="Causal self-attention in PyTorch, as the lesson's model uses it: q and k "
                  "(…, T, d), v (…, T, dv), float tensors with requires_grad=True. Return "
                  "softmax(q kᵀ / √d) v of shape (…, T, dv), where query i attends only to keys "
                  "j ≤ i. The check compares the output and the gradients of q, k and v; "
                  "scaled_dot_product_attention and torch's softmax functions are off limits "
                  "(use your torch_causal_softmax).",
        reference=torch_causal_attention, generate=_tca_cases, probes=_tca_probes,
        call=_autograd("torch_causal_attention", ("q", "k", "v"), SOFTMAX_BUILTINS),
        compare=_compare,
        twins=(Twin("forbidden_torch_function", _tca_builtin),
               Twin("missing_sqrt_d", _tca_unscaled),
               Twin("scale_by_d", _tca_over_d),
               Twin("mask_after_softmax", _tca_after),
               Twin("causal_wrong_triangle", _tca_upper),
               Twin("mask_fill_zero", _tca_fill_zero),
               Twin("wrong_axis", _tca_over_queries),
               Twin("no_causal_mask", _tca_unmasked)),
        hints=("Three steps, as in chapter 07: scores = q kᵀ / √d over the last two axes, "
               "weights = your causal softmax of the scores, output = weights @ v.",
               "k.transpose(-2, -1) swaps only the last two axes (k.T would reverse batch axes "
               "too); d = q.shape[-1], and math.sqrt(d) keeps the dtype of q.",
               "return torch_causal_softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])) "
               "@ v"),
    ),
]


QUIZZES = [
    Quiz(
        id="q08_baseline", chapter=CHAPTER,
        question="A character model with a vocabulary of V = 105 characters starts from "
                 "logits that are all nearly equal. What loss does it start at, in nats? "
                 "(3 decimals)",
        answer=float(np.log(105.0)), tolerance=2e-3,
        wrong_answers=((float(np.log2(105.0)), "That is in bits (log base 2); cross-entropy "
                                               "here uses the natural log."),
                       (1 / 105, "That is the probability of each character; the loss is "
                                 "−ln(1/105).")),
        explanation="A uniform guess gives every character 1/105, so the loss is "
                    "−ln(1/105) = ln 105 ≈ 4.654 nats, and the perplexity is 105.",
    ),
    Quiz(
        id="q08_perplexity", chapter=CHAPTER,
        question="After training, the validation loss is 2.3 nats per character. What does "
                 "the perplexity e^2.3 ≈ 10 mean?",
        choices=(
            Choice("The model is as unsure as a uniform choice among about 10 characters", True,
                   "Right: perplexity is the size of the uniform distribution with the same "
                   "cross-entropy; the uniform baseline would be 105."),
            Choice("The model gets 10 % of the characters right", False, "Perplexity is not an "
                   "accuracy; a model can be right most of the time and still have a "
                   "perplexity well above 1."),
            Choice("The model has seen each character 10 times", False, "Perplexity measures "
                   "uncertainty about the next character, not data."),
            Choice("The loss is 10 times below the baseline", False, "The baseline loss is "
                   "ln 105 ≈ 4.65 nats: 2.3 is about half of it, and e^2.3 is 10 times smaller "
                   "than the baseline perplexity of 105."),
        ),
    ),
    Quiz(
        id="q08_causal_leak", chapter=CHAPTER,
        question="The attention's mask is switched off by mistake during training: every "
                 "position can see the whole window. What happens?",
        choices=(
            Choice("The training loss falls far below what the model can do when it "
                   "generates", True, "Right: each position can read the very character it "
                   "must predict, one step to its right, so training looks excellent and "
                   "generation, where the future does not exist yet, is poor."),
            Choice("Training fails with NaN", False, "Nothing overflows: the softmax simply "
                   "has more keys to choose from."),
            Choice("Nothing changes: the model learns to ignore the future", False, "The "
                   "future holds the answer; gradient descent finds it at once."),
            Choice("The loss stays at ln V", False, "It drops, and faster than with the mask: "
                   "that is what makes the bug easy to miss."),
        ),
    ),
]
