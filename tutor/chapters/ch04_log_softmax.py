"""Chapter 04, log-softmax: log p = z − logsumexp(z), which stays finite where softmax underflows
to 0; log-probabilities of whole sequences as sums, never products; perplexity."""

from __future__ import annotations

import math

import numpy as np

from tutor import checking
from tutor.chapters import _inputs, blocks
from tutor.chapters.blocks import (
    LogFloored,
    ShiftOverLastAxis,
    SumOverLastAxis,
    TargetsAsColumns,
)
from tutor.problem import Choice, Problem, Quiz, Symptom, Twin, case

CHAPTER = "04_log_softmax"


def _float(z):
    """z as a float array, keeping float16 and float32 as they are (integers become float64):
    the references and their twins compute in the input's own dtype, as learners do."""
    z = np.asarray(z)
    return z if z.dtype.kind == "f" else z.astype(np.float64)


def _softmax(z, axis=-1):
    """The stable softmax of chapter 03, in the input's own dtype (what learners take the log
    of)."""
    return blocks.RIGHT.softmax(_float(z), axis=axis)


# Named by what they do when no twin's numbers match: float32 arithmetic by any route (numpy,
# torch, a cast halfway) by the digits it loses; a shift by the mean or the first entry by the
# overflow it shares with no shift at all.
_SYMPTOMS = (Symptom("lower_precision", blocks.float32_digits_lost),
             Symptom("no_max_shift", blocks.overflowed))

# Contract-harmless derived twins, by problem shape: one-vector problems cannot reduce along a
# wrong axis, and no problem here promises anything for an all −inf slice (its log-softmax is
# NaN in the right answer too).
_ONE_VECTOR = ("wrong_axis", "missing_keepdims", "global_max_shift", "neg_inf_nan")
_LAST_AXIS = ("neg_inf_nan", SumOverLastAxis, ShiftOverLastAxis)


# --- log_prob_of -------------------------------------------------------------------------------

def _log_prob_of(b, z, index):
    """log p_index = z_index − logsumexp(z), for one vector of logits z."""
    return b.log_softmax(_float(z))[index]


log_prob_of, _log_prob_derived = blocks.compose(
    _log_prob_of, example=(np.array([2.0, 1.0, 0.0]), 0), exclude=_ONE_VECTOR)


def _log_prob_log_of_naive_softmax(z, index):
    return np.log(np.exp(z[index]) / np.sum(np.exp(z)))


def _log_prob_floored(z, index):
    return LogFloored(_softmax(z), lambda log_p: log_p[index])


def _log_prob_one_based(z, index):
    return log_prob_of(z, index - 1)


def _log_prob_cases(rng):
    for _ in range(4):
        K = int(rng.integers(2, 10))
        dtype = rng.choice([np.float32, np.float64])
        z = _inputs.logits(rng, (K,), scale=float(rng.uniform(1, 6)))
        index = int(rng.integers(0, K))
        if rng.random() < 0.5:
            # The asked-for class far below the best one, where its probability may underflow.
            z[index] = z.max() - rng.uniform(30, 300)
        yield case(z.astype(dtype), index)


_CLOSE_AT_1E4 = 1e4 + np.array([0.1234567, 0.2345678, 0.0, 0.3456789])
"""Logits near 1e4 that differ in their decimals: float32 (spacing 0.001 there) loses them."""


def _log_prob_probes():
    return [
        case(np.array([2.0, 1.0, 0.0]), 0, note="the lesson's (2, 1, 0)"),
        case(np.array([0.0, -200.0], dtype=np.float32), 1,
             note="float32 [0, −200], where softmax underflows to 0"),
        case(np.array([3.0, -800.0, 1.0]), 1, note="a gap of 800, where float64 softmax gives 0"),
        case(np.array([-900.0, 2.0, 5.0]), 0, note="the first logit 905 below the last"),
        # Right for log(softmax) (the probability is 1), but e^1000 overflows after any shift
        # other than the max (none, the mean, the first entry).
        case(np.array([-1000.0, 0.0, 1000.0]), 2, note="logits 1000 apart, asking for the best"),
        case(np.array([1000.0, 1001.0, 1002.0]), 2, note="logits near 1000"),
        case(np.array([0.0, -20.0, 5.0], dtype=np.float16), 1, note="float16"),
        case(_CLOSE_AT_1E4.copy(), 1, note="close logits near 1e4, where float32 loses digits"),
        case(np.array([-3.5]), 0, note="one class (log-probability 0)"),
    ]


# --- log_softmax -------------------------------------------------------------------------------

def _log_softmax(b, z, axis=-1):
    """log softmax(z)_i = z_i − log Σ_j e^(z_j) along `axis`, computed without ever forming the
    probabilities, so it stays finite where e^(z_i − max) underflows to 0."""
    return b.log_softmax(_float(z), axis=axis)


log_softmax, _ls_derived = blocks.compose(
    _log_softmax, example=(np.zeros((2, 3)), 0), exclude=("neg_inf_nan",))


def _ls_log_of_naive_softmax(z, axis=-1):
    e = np.exp(z)
    return np.log(e / e.sum(axis=axis, keepdims=True))


def _ls_last_axis(z, axis=-1):
    m = np.max(z, axis=-1, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def _ls_whole_array(z, axis=-1):
    m = np.max(z)
    return z - m - np.log(np.sum(np.exp(z - m)))


def _ls_first_axis(z, axis=-1):
    m = np.max(z, axis=0, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=0, keepdims=True))


def _ls_floored(z, axis=-1):
    return LogFloored(_softmax(z, axis=axis), lambda log_p: log_p)


def _ls_cases(rng):
    for ndim, dtype in ((1, np.float64), (2, np.float32), (2, np.float64), (3, np.float64),
                        (3, np.float32)):
        shape = _inputs.shape(rng, ndim)
        z = _inputs.logits(rng, shape, scale=float(rng.uniform(1, 60))).astype(dtype)
        yield case(z) if ndim == 1 else case(z, axis=_inputs.axis(rng, ndim))
    shape = _inputs.shape(rng, 2)
    yield case(_inputs.logits(rng, shape, scale=2.0, dtype=np.float16),
               axis=_inputs.axis(rng, 2), note="float16 along a random axis")


def _ls_probes():
    return [
        case(np.array([100.0, 101.0, 102.0]), note="the lesson's (100, 101, 102)"),
        case(np.array([0.0, -200.0], dtype=np.float32),
             note="float32 [0, −200], where softmax underflows to 0"),
        case(np.array([[0.0, -50.0, -100.0, -120.0], [1.0, 0.0, -1.0, -2.0]],
                      dtype=np.float32), note="gaps of 50, 100 and 120 in float32"),
        case(np.array([[3.0, -800.0, 1.0], [2.0, 2.0, -746.0], [-900.0, 1.0, 4.0]]),
             note="gaps beyond 745 in every position, where float64 softmax gives 0"),
        # Along axis 0, where a reduction without keepdims still broadcasts: an answer that
        # raises here (log(0) in a loop without the max shift) is not taken for a missing keepdims.
        case(np.array([[1000.0, -1000.0], [1001.0, -1001.0], [999.0, -999.0]]), axis=0,
             note="logits near ±1000"),
        case(np.array([[1.0, 2.0, 3.0], [0.0, -300.0, 5.0]]), axis=0, note="axis=0"),
        # The middle axis of three, with gaps: a shift or a sum along any other axis shows.
        case(np.array([[[0.0, 900.0], [-800.0, 1.0], [2.0, 0.5]],
                       [[1.5, -2.0], [0.0, 3.0], [-1.0, 2.5]]]), axis=1,
             note="the middle axis of a (2, 3, 2) array"),
        case(np.array([[0.0, -20.0, 5.0], [12.0, 11.0, 0.0]], dtype=np.float16),
             note="float16, where e^12 overflows"),
        case(np.array([0.0, -np.inf, 1.0]), note="a −inf (masked) logit"),
        case(np.array([[2.0, -1.0, 0.5, 4.0]]), axis=0, note="a length-1 axis (all zeros)"),
        case(np.array([[0.5], [-3.0], [7.0]]), note="length-1 last axis, shape (3, 1)"),
        case(np.stack([_CLOSE_AT_1E4, _CLOSE_AT_1E4[::-1]]),
             note="close logits near 1e4, where float32 loses digits"),
    ]


# --- sequence_log_prob -------------------------------------------------------------------------

def _sequence_log_prob(b, logits, tokens):
    """Σ_t log softmax(logits[t])[tokens[t]]: the log-probability of the whole sequence, a sum
    of one log-probability per position (a product of probabilities would underflow)."""
    return np.sum(b.pick(b.log_softmax(_float(logits), axis=-1), tokens))


def _picked_log_p(logits, tokens):
    return log_softmax(logits, axis=-1)[np.arange(len(tokens)), tokens]


_TOKENS_EXAMPLE = (np.zeros((3, 2)), np.array([0, 1, 1]))
# logits[:, tokens] builds an (L, L) matrix, too big at thousands of tokens: written by hand,
# below, as a sum of column sums.
sequence_log_prob, _seq_derived = blocks.compose(
    _sequence_log_prob, example=_TOKENS_EXAMPLE, exclude=(*_LAST_AXIS, TargetsAsColumns))


def _seq_product(logits, tokens):
    p = _softmax(logits, axis=-1)
    return np.log(np.prod(p[np.arange(len(tokens)), tokens]))


def _seq_product_math_log(logits, tokens):
    """A running product, then math.log: the product underflows to 0 and math.log(0) raises
    ValueError (math domain error) instead of returning −inf."""
    p = _softmax(logits, axis=-1)
    return math.log(np.prod(p[np.arange(len(tokens)), tokens]))


def _seq_product_guarded(logits, tokens):
    """A running product, its log guarded by a sentinel once it reaches 0: finite, and as
    wrong as −inf."""
    p = 1.0
    for row, t in zip(_softmax(logits, axis=-1), tokens, strict=True):
        p *= float(row[t])
    return math.log(p) if p > 0 else -1e308


def _product_underflowed(case, expected, outcome) -> bool:
    """`Symptom` of probability_product_underflow with any sentinel: −inf or a value below
    −1e300 on a sequence whose every token has a positive probability but whose product is 0,
    though the answer is finite."""
    if outcome.raised or not np.isfinite(expected):
        return False
    try:
        value = float(np.asarray(outcome.value, dtype=np.float64))
    except (TypeError, ValueError):
        return False
    logits, tokens = case.args[:2]
    p = _softmax(logits, axis=-1)[np.arange(len(tokens)), tokens].astype(np.float64)
    return value <= -1e300 and bool(np.all(p > 0)) and np.prod(p) == 0


def _seq_columns(logits, tokens):
    """Σ over logits[:, tokens]: each column of log p summed once per time its token appears."""
    return log_softmax(logits, axis=-1).sum(axis=0)[tokens].sum()


def _seq_next_token(logits, tokens):
    return log_softmax(logits, axis=-1)[np.arange(len(tokens) - 1), tokens[1:]].sum()


def _seq_previous_token(logits, tokens):
    return log_softmax(logits, axis=-1)[np.arange(1, len(tokens)), tokens[:-1]].sum()


def _seq_take_flat(logits, tokens):
    return np.take(log_softmax(logits, axis=-1), tokens).sum()


def _seq_one_based(logits, tokens):
    return log_softmax(logits, axis=-1)[np.arange(len(tokens)), tokens - 1].sum()


def _seq_onehot_columns(logits, tokens):
    """A one-hot built with onehot[:, tokens] = 1: every row marks every token of the sequence."""
    marked = np.zeros(logits.shape[1])
    marked[tokens] = 1
    return (log_softmax(logits, axis=-1) * marked).sum()


def _seq_over_positions(logits, tokens):
    log_p = log_softmax(logits, axis=0)
    return log_p[np.arange(len(tokens)), tokens].sum()


def _seq_whole_array(logits, tokens):
    log_p = log_softmax(_float(logits).ravel()).reshape(np.shape(logits))
    return log_p[np.arange(len(tokens)), tokens].sum()


def _seq_floored(logits, tokens):
    return LogFloored(_softmax(logits, axis=-1),
                      lambda log_p: log_p[np.arange(len(tokens)), tokens].sum())


def _sequence(rng, L, V, scale, dtype=np.float64):
    """Logits (L, V) and tokens drawn from their own softmax, so the sequence is plausible."""
    logits = _inputs.logits(rng, (L, V), scale=scale)
    p = _softmax(logits, axis=-1)
    tokens = (p.cumsum(axis=-1) < rng.random((L, 1))).sum(axis=-1).clip(0, V - 1)
    return logits.astype(dtype), tokens.astype(np.int64)


def _seq_cases(rng):
    for _ in range(4):
        L, V = (int(n) for n in rng.permutation(np.arange(2, 13))[:2])
        dtype = rng.choice([np.float32, np.float64])
        yield case(*_sequence(rng, L, V, float(rng.uniform(0.5, 6)), dtype))
    # The long sequences are fixed probes: each costs every twin a full pass when a check fails.


def _long_sequence(L, V, seed):
    return _sequence(np.random.default_rng(seed), L, V, 1.0)


def _sequence_with_a_gap(L, V, seed):
    """A plausible sequence in which the token at L // 2 is 800 below its row's best logit."""
    logits, tokens = _long_sequence(L, V, seed)
    logits[L // 2, tokens[L // 2]] = logits[L // 2].max() - 800.0
    return logits, tokens


def _close_sequence():
    """Five positions of four logits near 1e4 that differ only in their decimals."""
    logits = 1e4 + np.random.default_rng(5).uniform(0.0, 0.5, (5, 4))
    return logits, np.array([0, 3, 1, 2, 1])


def _seq_probes():
    return [
        case(np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]]), np.array([0, 2]),
             note="two tokens of the lesson's (2, 1, 0)"),
        case(np.array([[0.0, -200.0, 1.0], [2.0, 0.0, 1.0], [0.5, 0.0, -1.0], [1.0, 3.0, 0.0]],
                      dtype=np.float32), np.array([1, 0, 2, 1]),
             note="a float32 token 200 below the best"),
        case(np.array([[3.0, -800.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 0.0, 0.0]]),
             np.array([1, 3, 0]), note="a token 803 below the best, where float64 softmax is 0"),
        case(np.array([[1000.0, 1001.0], [-1000.0, -999.0], [2.0, 0.0]]), np.array([1, 0, 0]),
             note="logits near ±1000"),
        # Large logits in different rows and columns: a shift by another row's or another
        # column's max overflows or underflows.
        case(np.array([[900.0, 0.0, 1.0], [-2.0, -950.0, 3.0], [0.5, 2.0, 800.0]]),
             np.array([0, 2, 1]), note="rows whose best logits are far apart"),
        case(np.array([[0.5, -1.0, 2.0, 0.0, 1.0]]), np.array([2]), note="one token"),
        case(*_close_sequence(), note="close logits near 1e4, where float32 loses digits"),
        # Long inputs last: a twin dismissed on a small input never runs on them.
        case(*_long_sequence(3000, 5, 4), note="3000 tokens, whose probabilities multiply to 0"),
    ]


# --- perplexity --------------------------------------------------------------------------------

def _perplexity(b, logits, tokens):
    """exp of the mean negative log-likelihood per token: exp(−sequence_log_prob / L)."""
    return np.exp(-b.mean(b.pick(b.log_softmax(_float(logits), axis=-1), tokens)))


perplexity, _ppl_derived = blocks.compose(
    _perplexity, example=_TOKENS_EXAMPLE, exclude=(*_LAST_AXIS, TargetsAsColumns))


def _ppl_without_minus(logits, tokens):
    """exp of the mean log-probability: 1 / perplexity."""
    return 1.0 / perplexity(logits, tokens)


def _ppl_product(logits, tokens):
    p = _softmax(logits, axis=-1)[np.arange(len(tokens)), tokens]
    return np.prod(p) ** (-1 / len(tokens))


def _ppl_product_math_log(logits, tokens):
    """exp(−log(running product) / L) with math.log, which raises once the product is 0."""
    p = _softmax(logits, axis=-1)[np.arange(len(tokens)), tokens]
    return math.exp(-math.log(np.prod(p)) / len(tokens))


def _ppl_sum(logits, tokens):
    """The sum in the input's dtype: e^sum overflows sooner in float32."""
    return np.exp(-_picked_log_p(logits, tokens).sum())


def _ppl_base_two(logits, tokens):
    return 2.0 ** -_picked_log_p(logits, tokens).mean()


def _ppl_base_ten(logits, tokens):
    return 10.0 ** -_picked_log_p(logits, tokens).mean()


def _ppl_bits_then_e(logits, tokens):
    return np.exp(-(_picked_log_p(logits, tokens) / np.log(2)).mean())


def _ppl_columns(logits, tokens):
    """The mean over logits[:, tokens], an (L, L) matrix, from column sums."""
    L = len(tokens)
    return np.exp(-log_softmax(logits, axis=-1).sum(axis=0)[tokens].sum() / (L * L))


def _ppl_next_token(logits, tokens):
    return np.exp(-log_softmax(logits, axis=-1)[np.arange(len(tokens) - 1), tokens[1:]].mean())


def _ppl_over_positions(logits, tokens):
    return np.exp(-log_softmax(logits, axis=0)[np.arange(len(tokens)), tokens].mean())


def _ppl_whole_array(logits, tokens):
    log_p = log_softmax(_float(logits).ravel()).reshape(np.shape(logits))
    return np.exp(-log_p[np.arange(len(tokens)), tokens].mean())


class _TinyFloored(LogFloored):
    """The floor family with eps up to 1e-4 only (a larger eps changes ordinary probabilities,
    and some eps fits a single number, a perplexity, whatever the mistake), and the tiny
    constants no bisection reaches: 1e-300 (log 1e-300 = −691, where an underflowed p is
    e^(−800)), which float32 rounds to 0, leaving log 0 = −inf."""

    EXPONENTS = (-80.0, -4.0)
    TINY = (1e-300, 1e-200, 1e-100)

    def solve(self, got, clip):
        return super().solve(got, clip) or list(self.TINY)


def _ppl_floored(logits, tokens):
    return _TinyFloored(_softmax(logits, axis=-1),
                      lambda log_p: np.exp(-log_p[np.arange(len(tokens)), tokens].mean()))


def _ppl_cases(rng):
    for _ in range(3):
        L, V = (int(n) for n in rng.permutation(np.arange(2, 13))[:2])
        dtype = rng.choice([np.float32, np.float64])
        yield case(*_sequence(rng, L, V, float(rng.uniform(0.5, 4)), dtype))


def _ppl_probes():
    return [
        case(np.zeros((4, 50)), np.array([3, 17, 0, 49]),
             note="equal logits over 50 tokens (perplexity 50)"),
        case(np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0], [1.0, 1.0, 3.0]]), np.array([0, 2, 1]),
             note="three tokens"),
        case(np.array([[0.0, -150.0, 1.0], [2.0, 0.0, 1.0], [0.5, 0.0, -1.0]], dtype=np.float32),
             np.array([1, 0, 2]), note="a float32 token 150 below the best"),
        case(np.array([[1000.0, 1001.0], [-1000.0, -999.0], [2.0, 0.0]]), np.array([1, 0, 0]),
             note="logits near ±1000"),
        # Each token its row's best, so that the perplexity stays within float32's range.
        case(np.array([[900.0, 0.0, 1.0], [-2.0, -950.0, 3.0], [0.5, 2.0, 800.0]]),
             np.array([0, 2, 2]), note="rows whose best logits are far apart"),
        case(np.array([[0.5, -1.0, 2.0, 0.0, 1.0]]), np.array([2]), note="one token"),
        case(*_close_sequence(), note="close logits near 1e4, where float32 loses digits"),
        # Long inputs last: a twin dismissed on a small input never runs on them.
        # Long enough that the perplexity stays small: an answer computed in float32 (torch's
        # default) still represents it, while log(softmax) even in float64 gives inf.
        case(*_sequence_with_a_gap(400, 5, 8),
             note="400 tokens, one of them 800 below the best, where float64 softmax is 0"),
        case(*_long_sequence(3000, 5, 7), note="3000 tokens, whose probabilities multiply to 0"),
    ]


PROBLEMS = [
    Problem(
        id="log_prob_of", chapter=CHAPTER, signature="log_prob_of(z, index)",
        difficulty="easy", points=1,
        statement="For one vector of logits z (shape (K,)) and a class `index`, return "
                  "log softmax(z)[index], the log-probability of that class, as a number. It "
                  "must stay finite and exact when that probability is too small for the "
                  "dtype (float32 [0, −200]), and for logits near 1000.",
        reference=log_prob_of, generate=_log_prob_cases, probes=_log_prob_probes,
        twins=(*_log_prob_derived,
               Twin("log_of_softmax", _log_prob_log_of_naive_softmax),
               Twin("log_of_softmax", _log_prob_floored),
               Twin("nll_sign", blocks.negated(log_prob_of)),
               Twin("wrong_target_indexing", _log_prob_one_based),
               Twin("lower_precision", blocks.in_float32(log_prob_of))),
        agree=blocks.agree_floored,
        symptoms=_SYMPTOMS,
        hints=("Do not compute the probability and then its log: take the log of the formula "
               "e^(z_k) / Σ_j e^(z_j) on paper first.",
               "log(e^(z_k) / Σ_j e^(z_j)) = z_k − log Σ_j e^(z_j), and that log-sum-exp is "
               "computed safely as m + log Σ_j e^(z_j − m) with m = max(z).",
               "m = z.max(); return z[index] - (m + np.log(np.sum(np.exp(z - m))))"),
    ),
    Problem(
        id="log_softmax", chapter=CHAPTER, signature="log_softmax(z, axis=-1)",
        difficulty="medium", points=2,
        statement="Log-softmax of logits z along `axis`: z − logsumexp(z) over each slice, for "
                  "any shape and any axis, in float16, float32 or float64. It must be finite "
                  "wherever z is, even where softmax underflows to 0 (gaps of 120 in float32, "
                  "800 in float64) and for logits of ±1000; a −inf logit gives −inf. Return a "
                  "new array of the same shape; leave z unchanged.",
        reference=log_softmax, generate=_ls_cases, probes=_ls_probes,
        twins=(*_ls_derived,
               Twin("log_of_softmax", _ls_log_of_naive_softmax),
               Twin("log_of_softmax", _ls_floored),
               Twin("wrong_axis", _ls_last_axis),
               Twin("wrong_axis", _ls_whole_array),
               Twin("wrong_axis", _ls_first_axis),
               Twin("nll_sign", blocks.negated(log_softmax)),
               Twin("lower_precision", blocks.in_float32(log_softmax))),
        agree=blocks.agree_floored,
        symptoms=_SYMPTOMS,
        hints=("Never form the probabilities: log(softmax(z)) is exactly where the −inf comes "
               "from. Subtract something from z instead.",
               "log softmax(z) = z − logsumexp(z), with logsumexp = m + log Σ e^(z − m) and m "
               "the max of each slice. Every reduction needs axis=axis and keepdims=True.",
               "m = z.max(axis=axis, keepdims=True); return z - m - np.log(np.exp(z - m)"
               ".sum(axis=axis, keepdims=True))"),
    ),
    Problem(
        id="sequence_log_prob", chapter=CHAPTER, signature="sequence_log_prob(logits, tokens)",
        difficulty="hard", points=3,
        statement="A model has produced logits of shape (L, V): row t scores the V possible "
                  "tokens at position t, and `tokens` (shape (L,), integers) is the sequence "
                  "that actually came. Return the log-probability of the whole sequence, "
                  "Σ_t log softmax(logits[t])[tokens[t]], as a number. It must be finite for "
                  "sequences thousands of tokens long and when one token's probability "
                  "underflows.",
        reference=sequence_log_prob, generate=_seq_cases, probes=_seq_probes,
        twins=(*_seq_derived,
               Twin("probability_product_underflow", _seq_product),
               Twin("probability_product_underflow", _seq_product_math_log),
               Twin("probability_product_underflow", _seq_product_guarded),
               Twin("nll_sign", blocks.negated(sequence_log_prob)),
               Twin("log_of_softmax", _seq_floored),
               Twin("wrong_target_indexing", _seq_columns),
               Twin("wrong_target_indexing", _seq_take_flat),
               Twin("wrong_target_indexing", _seq_one_based),
               Twin("wrong_target_indexing", _seq_onehot_columns),
               Twin("targets_shifted", _seq_next_token),
               Twin("targets_shifted", _seq_previous_token),
               Twin("wrong_axis", _seq_over_positions),
               Twin("wrong_axis", _seq_whole_array),
               Twin("softmax_before_ce", blocks.softmax_first(sequence_log_prob)),
               Twin("lower_precision", blocks.in_float32(sequence_log_prob))),
        agree=blocks.agree_floored,
        symptoms=(*_SYMPTOMS,
                  Symptom("probability_product_underflow", _product_underflowed)),
        hints=("The probability of a sequence is a product over positions; its log is a sum. "
               "Work with log-probabilities from the start.",
               "Take log-softmax of every row (axis=-1), then pick one entry per row: row t, "
               "column tokens[t]. logits[:, tokens] would pick whole columns.",
               "log_p = log_softmax(logits, axis=-1); "
               "return log_p[np.arange(len(tokens)), tokens].sum()"),
    ),
    Problem(
        id="perplexity", chapter=CHAPTER, signature="perplexity(logits, tokens)",
        difficulty="hard", points=3,
        statement="Logits (L, V) and tokens (L,) as for sequence_log_prob. Return the "
                  "perplexity exp(−(1/L)·Σ_t log softmax(logits[t])[tokens[t]]): e to the mean "
                  "negative log-likelihood per token, in nats. A model that gives every one of V "
                  "tokens the same logit has perplexity V. Finite for thousands of tokens, and "
                  "when one token's probability underflows to 0 even in float64 (one token 800 "
                  "below the best among 400).",
        reference=perplexity, generate=_ppl_cases, probes=_ppl_probes,
        invariants=(checking.at_least(1.0, "a perplexity"),),
        twins=(*_ppl_derived,
               Twin("probability_product_underflow", _ppl_product),
               Twin("probability_product_underflow", _ppl_product_math_log),
               Twin("log_of_softmax", _ppl_floored),
               Twin("wrong_log_base", _ppl_base_two),
               Twin("wrong_log_base", _ppl_base_ten),
               Twin("wrong_log_base", _ppl_bits_then_e),
               Twin("wrong_target_indexing", _ppl_columns),
               Twin("targets_shifted", _ppl_next_token),
               Twin("wrong_axis", _ppl_over_positions),
               Twin("wrong_axis", _ppl_whole_array),
               Twin("softmax_before_ce", blocks.softmax_first(perplexity)),
               Twin("nll_sign", _ppl_without_minus),
               Twin("lower_precision", blocks.in_float32(perplexity))),
        agree=blocks.agree_floored,
        symptoms=_SYMPTOMS,
        hints=("Perplexity is 1 / (the geometric mean of the tokens' probabilities). Compute "
               "that geometric mean in log space.",
               "The mean log-probability per token is sequence_log_prob / L; perplexity is e "
               "to minus that (np.exp, not 2 **, since the logs are natural).",
               "return np.exp(-sequence_log_prob(logits, tokens) / len(tokens))"),
    ),
]


QUIZZES = [
    Quiz(
        id="q04_log_of_softmax", chapter=CHAPTER,
        question="In float32, z = [0, −200]. What does np.log(softmax(z))[1] give, with a "
                 "softmax that subtracts the max?",
        choices=(
            Choice("−inf", True, "Right: e^(−200) ≈ 1.4e−87 is below the smallest float32 "
                   "(about 1.4e−45), so the probability rounds to exactly 0 and log(0) = −inf. "
                   "z − logsumexp(z) gives −200."),
            Choice("−200", False, "That is the true value, and what log-softmax returns, but "
                   "the probability e^(−200) rounds to 0 in float32 before the log sees it."),
            Choice("NaN", False, "The max shift prevents inf/inf; nothing here is undefined. "
                   "The probability is exactly 0, and log(0) is −inf."),
            Choice("An overflow error", False, "numpy does not raise: the probability "
                   "underflows quietly to 0 and log(0) = −inf, with at most a warning."),
        ),
    ),
    Quiz(
        id="q04_lse", chapter=CHAPTER,
        question="Logits (100, 101, 102). What is the log-softmax of the first entry? (four "
                 "decimals)",
        answer=-2.4076, tolerance=5e-4,
        wrong_answers=(
            (-2.0, "That is z − max(z). Log-softmax subtracts the log-sum-exp, which is a bit "
               "more than the max: 102 + log(1 + e^−1 + e^−2) = 102.4076."),
            (0.0900, "That is the probability itself; log-softmax is its natural log."),
            (2.4076, "The sign: log-probabilities are never positive."),
        ),
        explanation="logsumexp(100, 101, 102) = 102 + log(e^−2 + e^−1 + 1) = 102.4076, so the "
                    "first entry is 100 − 102.4076.",
    ),
    Quiz(
        id="q04_product", chapter=CHAPTER,
        question="A model gives each of 3000 tokens probability 0.2. In float64, what is "
                 "np.prod(np.full(3000, 0.2))?",
        choices=(
            Choice("0.0", True, "Right: 0.2^3000 ≈ 10^−2097, far below the smallest float64 "
                   "(about 5e−324), so the product underflows to exactly 0 and its log is "
                   "−inf. The sum of logs, 3000·log 0.2 = −4828.3, is an ordinary number."),
            Choice("About 1e−2097", False, "That is the true value, but float64 cannot hold "
                   "anything below about 5e−324: the product underflows to 0."),
            Choice("NaN", False, "Multiplying small positive numbers never gives NaN; it "
                   "rounds to 0."),
            Choice("0.2", False, "Each factor is 0.2, but the product shrinks at every step."),
        ),
    ),
    Quiz(
        id="q04_perplexity", chapter=CHAPTER,
        question="A language model gives every one of its 50 tokens the same logit. What is its "
                 "perplexity on any sequence?",
        answer=50.0, tolerance=1e-6,
        wrong_answers=(
            (float(np.log(50.0)), "That is the mean negative log-likelihood, log 50 = 3.912 "
             "nats; perplexity is e to that power."),
            (0.02, "That is the probability of each token; perplexity is one over the "
             "(geometric mean) probability."),
            (float(2.0 ** np.log(50.0)), "That is 2 to the nats: perplexity is e^H with H in "
             "nats (or 2^H with H in bits), never a mix."),
        ),
        explanation="Every token has probability 1/50, so the mean negative log-likelihood is "
                    "log 50 and the perplexity is e^(log 50) = 50: as unsure as a fair 50-sided "
                    "die.",
    ),
    Quiz(
        id="q04_nll_loss", chapter=CHAPTER,
        question="PyTorch's F.nll_loss(x, targets) returns −mean(x[n, targets[n]]). What should "
                 "x be?",
        choices=(
            Choice("F.log_softmax(logits, dim=-1)", True, "Right: nll_loss only picks and "
                   "negates; log_softmax + nll_loss is exactly F.cross_entropy(logits, "
                   "targets)."),
            Choice("The raw logits", False, "Then nothing normalises them: the 'loss' would be "
                   "minus the target's logit, which can go to −∞. Logits go to "
                   "F.cross_entropy, which applies log_softmax itself."),
            Choice("F.softmax(logits, dim=-1)", False, "nll_loss does not take a log: it would "
                   "return −p, not −log p."),
            Choice("torch.log(F.softmax(logits, dim=-1))", False, "Equal on paper, but the "
                   "probability underflows to 0 for a target far below the best logit, and "
                   "log(0) = −inf makes the loss inf and the gradients NaN."),
        ),
    ),
]


# === Practice beyond the lesson ================================================================
# Problems the lesson does not ask: find the bug, apply to a padded batch, derive then check
# numerically. They are declared after everything above and added to PROBLEMS at the end.

# --- fix_the_log_softmax: find the bug ---------------------------------------------------------

def fix_the_log_softmax(z):
    """z − logsumexp(z) along the last axis, the max added back into the log-sum-exp."""
    return blocks.log_softmax(z, axis=-1)


def _fix_log_softmax_shown(z):
    """The code the practice notebook shows: the shift taken out of the sum, never put back."""
    m = z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _fix_log_softmax_of_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.log(e / e.sum(axis=-1, keepdims=True))


def _fix_log_softmax_no_shift(z):
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _fix_log_softmax_global_max(z):
    m = z.max()
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _fix_log_softmax_no_keepdims(z):
    """Each row's max and sum as (N,), which line up with the columns: an error for most
    shapes, and for a square batch, each row shifted by other rows' numbers."""
    m = z.max(axis=-1)
    return z - m - np.log(np.exp(z - m).sum(axis=-1))


def _fix_log_softmax_cases(rng):
    for ndim in (1, 2, 3):
        yield case(_inputs.logits(rng, _inputs.shape(rng, ndim), scale=4.0))


def _fix_log_softmax_probes():
    return [
        case(np.array([100.0, 101.0, 102.0]), note="the lesson's (100, 101, 102)"),
        case(np.array([[0.0, -1000.0], [2.0, 1.0]]), note="a gap of 1000"),
        case(np.array([[1e4, 1e4 - 3.0, -1e4]]), note="logits of ±1e4"),
        case(np.array([[1e4, 1e4 - 1.0, 1e4 - 2.0], [0.0, -1.0, -2.0]]),
             note="two rows 1e4 apart"),
    ]


# --- mean_token_log_prob: apply ------------------------------------------------------------------

def mean_token_log_prob(logits, tokens, lengths):
    """Per sequence b: the mean over its first lengths[b] positions of
    log softmax(logits[b, t])[tokens[b, t]]; the positions after them are padding."""
    z = np.asarray(logits, dtype=float)
    B, L, _ = z.shape
    lp = np.take_along_axis(blocks.log_softmax(z, axis=-1),
                            np.asarray(tokens)[..., None], axis=-1)[..., 0]
    lengths = np.asarray(lengths)
    valid = np.arange(L)[None, :] < lengths[:, None]
    return np.where(valid, lp, 0.0).sum(axis=1) / lengths


def _token_lp(logits, tokens):
    return np.take_along_axis(blocks.log_softmax(logits, axis=-1),
                              np.asarray(tokens)[..., None], axis=-1)[..., 0]


def _tokens_padding_averaged(logits, tokens, lengths):
    return _token_lp(logits, tokens).mean(axis=1)


def _tokens_padding_summed(logits, tokens, lengths):
    return _token_lp(logits, tokens).sum(axis=1) / np.asarray(lengths)


def _tokens_divided_by_L(logits, tokens, lengths):
    lp = _token_lp(logits, tokens)
    valid = np.arange(lp.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return np.where(valid, lp, 0.0).mean(axis=1)


def _tokens_mask_one_past(logits, tokens, lengths):
    """A mask with <=: one padding position counted as a token."""
    lp = _token_lp(logits, tokens)
    valid = np.arange(lp.shape[1])[None, :] <= np.asarray(lengths)[:, None]
    return np.where(valid, lp, 0.0).sum(axis=1) / np.asarray(lengths)


def _tokens_mask_one_short(logits, tokens, lengths):
    """A mask with < lengths − 1: the last real token left out with the padding."""
    lp = _token_lp(logits, tokens)
    valid = np.arange(lp.shape[1])[None, :] < np.asarray(lengths)[:, None] - 1
    return np.where(valid, lp, 0.0).sum(axis=1) / np.asarray(lengths)


def _tokens_mask_by_token_id(logits, tokens, lengths):
    """Padding taken to be token 0: a real token 0 is dropped."""
    lp = _token_lp(logits, tokens)
    valid = np.asarray(tokens) != 0
    return np.where(valid, lp, 0.0).sum(axis=1) / valid.sum(axis=1)


def _tokens_summed(logits, tokens, lengths):
    lp = _token_lp(logits, tokens)
    valid = np.arange(lp.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return np.where(valid, lp, 0.0).sum(axis=1)


def _tokens_log_of_softmax(logits, tokens, lengths):
    e = np.exp(logits - np.max(logits, axis=-1, keepdims=True))
    lp = np.log(np.take_along_axis(e / e.sum(axis=-1, keepdims=True),
                                   np.asarray(tokens)[..., None], axis=-1)[..., 0])
    valid = np.arange(lp.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return np.where(valid, lp, 0.0).sum(axis=1) / np.asarray(lengths)


def _tokens_cases(rng):
    for _ in range(3):
        B, L, V = _inputs.shape(rng, 3)
        lengths = rng.integers(1, L + 1, B)
        lengths[rng.integers(0, B)] = max(1, L - 1)
        yield case(_inputs.logits(rng, (B, L, V), scale=3.0), rng.integers(0, V, (B, L)),
                   lengths)


def _tokens_probes():
    z = np.zeros((2, 3, 4))
    z[0, 0] = [0.0, 0.0, 2000.0, 0.0]
    return [
        case(np.log(np.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]],
                              [[0.2, 0.2, 0.6], [0.3, 0.3, 0.4]]])),
             np.array([[0, 1], [2, 0]]), np.array([2, 1]), note="one padded position"),
        case(z, np.array([[1, 3, 3], [0, 1, 2]]), np.array([1, 3]),
             note="a token at e^(−2000), padding after it"),
    ]


# --- log_softmax_vjp: derive, then check numerically -----------------------------------------

def log_softmax_vjp(z, g):
    """Jᵀg for J = ∂ log_softmax(z) / ∂z along the last axis: J_ij = δ_ij − p_j, so
    (Jᵀg)_j = g_j − p_j Σ_i g_i."""
    z, g = np.asarray(z, dtype=float), np.asarray(g, dtype=float)
    p = blocks.softmax(z, axis=-1)
    return g - p * g.sum(axis=-1, keepdims=True)


def _vjp_lse_constant(z, g):
    return np.array(g, dtype=float)


def _vjp_one_hot(z, g):
    return np.asarray(g) - blocks.softmax(z, axis=-1)


def _vjp_not_transposed(z, g):
    p = blocks.softmax(z, axis=-1)
    return np.asarray(g) - (p * g).sum(axis=-1, keepdims=True)


def _vjp_no_shift(z, g):
    e = np.exp(z)
    return np.asarray(g) - e / e.sum(axis=-1, keepdims=True) * np.sum(g, axis=-1, keepdims=True)


def _vjp_no_keepdims(z, g):
    """Σ g as (N,), which lines up with the columns: an error for most shapes, and for a square
    batch, row n scaled by other rows' sums."""
    p = blocks.softmax(z, axis=-1)
    return g - p * np.asarray(g).sum(axis=-1)


def _vjp_over_batch(z, g):
    p = blocks.softmax(z, axis=0)
    return g - p * np.asarray(g).sum(axis=0, keepdims=True)


def _vjp_cases(rng):
    for ndim in (1, 2, 2):
        shape = _inputs.shape(rng, ndim)
        yield case(_inputs.logits(rng, shape, scale=3.0), rng.normal(0, 1, shape))


def _vjp_probes():
    return [
        case(np.array([2.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0]), note="g one-hot"),
        case(np.array([[0.5, -1.0, 2.0], [1.0, 1.0, 1.0]]),
             np.array([[1.0, 2.0, -0.5], [0.3, 0.3, 0.3]]), note="g not summing to 1"),
        case(np.array([[1000.0, 999.0, 0.0]]), np.array([[0.0, 1.0, 2.0]]),
             note="logits near 1000"),
        case(np.array([[10000.37, 10000.81, 9999.95]]), np.array([[0.0, 1.0, 2.0]]),
             note="close logits near 1e4"),
    ]


_BEYOND = [
    Problem(
        id="fix_the_log_softmax", chapter=CHAPTER, signature="fix_the_log_softmax(z)",
        difficulty="easy", points=1,
        statement="Find the bug. `m = z.max(axis=-1, keepdims=True); return z - np.log(np.exp("
                  "z - m).sum(axis=-1, keepdims=True))` is meant to be a stable log-softmax "
                  "along the last axis, but (100, 101, 102) gives (99.59, 100.59, 101.59). Fix "
                  "it, for any shape, exact for gaps of 1000 and logits of ±1e4.",
        reference=fix_the_log_softmax, generate=_fix_log_softmax_cases,
        probes=_fix_log_softmax_probes,
        twins=(Twin("lse_forgets_max", _fix_log_softmax_shown),
               Twin("log_of_softmax", _fix_log_softmax_of_softmax),
               Twin("no_max_shift", _fix_log_softmax_no_shift),
               Twin("global_max_shift", _fix_log_softmax_global_max),
               Twin("missing_keepdims", _fix_log_softmax_no_keepdims),
               Twin("missing_keepdims", blocks.as_in_torch(_fix_log_softmax_no_keepdims)),
               Twin("nll_sign", blocks.negated(fix_the_log_softmax))),
        hints=("Log-probabilities are never positive. Which term of z − LSE(z) came out too "
               "small, and by how much?",
               "LSE(z) = m + log Σ e^(z − m): the shift m comes out of the sum and must be added "
               "back.",
               "return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))"),
    ),
    Problem(
        id="mean_token_log_prob", chapter=CHAPTER,
        signature="mean_token_log_prob(logits, tokens, lengths)", difficulty="medium",
        points=2,
        statement="A padded batch of B sequences: logits (B, L, V), tokens (B, L), and lengths "
                  "(B,), where only the first lengths[b] positions of sequence b are real and the "
                  "rest is padding. Return, per sequence, the mean log-probability of its real "
                  "tokens, shape (B,), finite when a token's probability underflows.",
        reference=mean_token_log_prob, generate=_tokens_cases, probes=_tokens_probes,
        twins=(Twin("padding_counted", _tokens_padding_averaged),
               Twin("padding_counted", _tokens_padding_summed),
               Twin("padding_counted", _tokens_divided_by_L),
               Twin("padding_counted", _tokens_mask_one_past),
               Twin("padding_counted", _tokens_mask_one_short),
               Twin("padding_counted", _tokens_mask_by_token_id),
               Twin("nll_sign", blocks.negated(mean_token_log_prob)),
               Twin("sum_not_mean", _tokens_summed),
               Twin("log_of_softmax", _tokens_log_of_softmax)),
        hints=("First the log-probability of every position's token, (B, L), from a stable "
               "log-softmax over V. Then keep only the real positions.",
               "A mask (B, L): np.arange(L) < lengths[:, None]. Sum the masked "
               "log-probabilities and divide by lengths, not by L.",
               "lp = np.take_along_axis(log_softmax(logits), tokens[..., None], -1)[..., 0]; "
               "valid = np.arange(L) < lengths[:, None]; "
               "return (lp * valid).sum(1) / lengths"),
    ),
    Problem(
        id="log_softmax_vjp", chapter=CHAPTER, signature="log_softmax_vjp(z, g)",
        difficulty="hard", points=3,
        statement="Derive, then check numerically: backpropagation through log-softmax. For "
                  "logits z and an upstream gradient g = ∂L/∂ log_softmax(z) (same shape, the "
                  "last axis the classes), return ∂L/∂z, the vector-Jacobian product Jᵀg, "
                  "shape of z. Compare with a centred difference of L = Σ g · log_softmax(z) "
                  "before you run the check. Exact for logits near 1000.",
        reference=log_softmax_vjp, generate=_vjp_cases, probes=_vjp_probes,
        twins=(Twin("lower_precision", blocks.in_float32(log_softmax_vjp)),
               Twin("lse_treated_as_constant", _vjp_lse_constant),
               Twin("grad_assumes_one_hot", _vjp_one_hot),
               Twin("jacobian_not_transposed", _vjp_not_transposed),
               Twin("no_max_shift", _vjp_no_shift),
               Twin("missing_keepdims", _vjp_no_keepdims),
               Twin("missing_keepdims", blocks.as_in_torch(_vjp_no_keepdims)),
               Twin("wrong_axis", _vjp_over_batch),
               Twin("grad_sign", blocks.negated(log_softmax_vjp))),
        hints=("log_softmax(z)_i = z_i − LSE(z). Differentiate with respect to z_j: what is "
               "∂z_i/∂z_j, and what is ∂LSE/∂z_j (chapter 03)?",
               "J_ij = δ_ij − p_j. Then (Jᵀg)_j = Σ_i g_i J_ij = g_j − p_j Σ_i g_i; it is g − p "
               "only when g sums to 1.",
               "p = softmax(z, axis=-1); return g - p * g.sum(axis=-1, keepdims=True)"),
    ),
]

PROBLEMS += _BEYOND
