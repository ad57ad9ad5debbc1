"""Chapter 04 from the learner's side: right answers in any style pass (numpy, loops, torch,
scipy, float16-native), wrong answers written the way learners write them are named with the
right misconception, the messages a learner reads are pinned word for word, and the gap explorer
shows what log(softmax) does in float32 and float64."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from learners import (
    SEEDS,
    SWEEP,
    assert_named,
    assert_named_nine_in_ten,
    over_right,
    over_wrong,
    passes,
    sweep,
    torch_in,
)
from scipy import special

import tutor
from tutor import registry
from tutor.chapters import blocks
from tutor.chapters import ch04_log_softmax as ch04
from tutor.widgets.log_softmax import CEILING, FLOOR, LogSoftmaxGapExplorer, examples

# torch is imported here, before any check's time limit starts: a first import cut short by
# the limit would leave it half-imported for every later check.
importlib.import_module("torch")


def _rows_lse(logits):
    """Python floats, one row at a time: the plainest stable log-sum-exp."""
    out = []
    for row in np.asarray(logits, dtype=float):
        m = max(row)
        out.append(m + math.log(sum(math.exp(v - m) for v in row)))
    return out


# ---------------------------------------------------------------------------------------------
# Right answers, in several styles


def log_prob_of_scipy(z, index):
    return special.log_softmax(z)[index]


def log_prob_of_torch(z, index):
    import torch

    return torch.log_softmax(torch_in(z), dim=-1)[index]


def log_prob_of_loops(z, index):
    return float(z[index]) - _rows_lse([z])[0]


def log_prob_of_logaddexp(z, index):
    """Computes in the input's own dtype, float16 included."""
    return z[index] - np.logaddexp.reduce(z)


def log_softmax_scipy(z, axis=-1):
    return special.log_softmax(z, axis=axis)


def log_softmax_torch(z, axis=-1):
    import torch

    return torch.log_softmax(torch_in(z), dim=axis)


def log_softmax_loops(z, axis=-1):
    moved = np.moveaxis(np.array(z, dtype=float), axis, -1)
    out = np.empty_like(moved)
    for index in np.ndindex(moved.shape[:-1]):
        row = moved[index]
        m = max(row)
        if m == -math.inf:
            out[index] = math.nan
            continue
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        out[index] = [v - lse for v in row]
    return np.moveaxis(out, -1, axis)


def log_softmax_logsumexp(z, axis=-1):
    return z - special.logsumexp(z, axis=axis, keepdims=True)


def log_softmax_own_dtype(z, axis=-1):
    """Stays in float16 or float32 throughout."""
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sequence_log_prob_gather_torch(logits, tokens):
    import torch

    log_p = torch.log_softmax(torch_in(logits), dim=-1)
    return log_p.gather(1, torch_in(tokens)[:, None]).sum()


def sequence_log_prob_cross_entropy_torch(logits, tokens):
    import torch.nn.functional as F

    return -F.cross_entropy(torch_in(logits), torch_in(tokens), reduction="sum")


def sequence_log_prob_loops(logits, tokens):
    total = 0.0
    for row, token, lse in zip(np.asarray(logits, dtype=float), tokens, _rows_lse(logits),
                               strict=True):
        total += row[token] - lse
    return total


def sequence_log_prob_take_along_axis(logits, tokens):
    log_p = special.log_softmax(logits, axis=-1)
    return np.take_along_axis(log_p, np.asarray(tokens)[:, None], axis=1).sum()


def sequence_log_prob_one_hot(logits, tokens):
    onehot = np.eye(np.shape(logits)[1])[tokens]
    return np.sum(onehot * special.log_softmax(logits, axis=-1))


def perplexity_torch(logits, tokens):
    import torch
    import torch.nn.functional as F

    return torch.exp(F.cross_entropy(torch_in(logits), torch_in(tokens)))


def perplexity_loops(logits, tokens):
    return math.exp(-sequence_log_prob_loops(logits, tokens) / len(tokens))


def perplexity_scipy(logits, tokens):
    log_p = special.log_softmax(logits, axis=-1)[np.arange(len(tokens)), tokens]
    return np.exp(-np.mean(log_p))


def perplexity_in_bits(logits, tokens):
    """2 to the cross-entropy in bits is the same number as e to the one in nats."""
    nats = -special.log_softmax(logits, axis=-1)[np.arange(len(tokens)), tokens].mean()
    return np.exp2(nats / np.log(2))


def log_prob_of_torch_default_float32(z, index):
    """torch.tensor of a list is float32 whatever the input's dtype."""
    import torch

    return torch.log_softmax(torch.tensor(np.asarray(z).tolist()), dim=0)[index]


def log_softmax_apply_along_axis(z, axis=-1):
    def one(v):
        m = v.max()
        return v - m - np.log(np.exp(v - m).sum())

    return np.apply_along_axis(one, axis, z)


def log_softmax_in_float32(z, axis=-1):
    z = np.asarray(z, dtype=np.float32)
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def perplexity_torch_default_float32(logits, tokens):
    """torch.tensor of lists: float32 logits, whatever the input's dtype."""
    import torch
    import torch.nn.functional as F

    z = torch.tensor(np.asarray(logits).tolist())
    return torch.exp(F.cross_entropy(z, torch.tensor(np.asarray(tokens).tolist())))


RIGHT = [
    ("log_prob_of", f) for f in (log_prob_of_scipy, log_prob_of_torch, log_prob_of_loops,
                                 log_prob_of_logaddexp, ch04.log_prob_of)
] + [
    ("log_softmax", f) for f in (log_softmax_scipy, log_softmax_torch, log_softmax_loops,
                                 log_softmax_logsumexp, log_softmax_own_dtype,
                                 log_softmax_apply_along_axis)
] + [
    ("sequence_log_prob", f) for f in (sequence_log_prob_gather_torch,
                                       sequence_log_prob_cross_entropy_torch,
                                       sequence_log_prob_loops,
                                       sequence_log_prob_take_along_axis,
                                       sequence_log_prob_one_hot)
] + [
    ("perplexity", f) for f in (perplexity_torch, perplexity_loops, perplexity_scipy,
                                perplexity_in_bits)
]


@over_right(RIGHT)
def test_right_answers_in_any_style_pass(problem_id, answer):
    passes(problem_id, answer)


# ---------------------------------------------------------------------------------------------
# Wrong answers, written the way learners write them (not the twins), and the names they get


def w_log_prob_torch_log_of_softmax(z, index):
    import torch

    return torch.log(torch.softmax(torch_in(z), dim=-1))[index]


def w_log_prob_scipy_log_of_softmax(z, index):
    return np.log(special.softmax(z))[index]


def w_log_prob_naive_in_float64(z, index):
    z = np.asarray(z, dtype=np.float64)
    return np.log(np.exp(z) / np.exp(z).sum())[index]


def w_log_prob_plus_eps(z, index):
    e = np.exp(z - z.max())
    return np.log(e[index] / e.sum() + 1e-9)


def w_log_prob_no_shift_torch(z, index):
    import torch

    t = torch_in(z)
    return t[index] - torch.log(torch.exp(t).sum())


def w_log_softmax_torch_log_of_softmax(z, axis=-1):
    import torch

    return torch.log(torch.softmax(torch_in(z), dim=axis))


def w_log_softmax_rows_always(z, axis=-1):
    return np.stack([row - special.logsumexp(row) for row in np.reshape(z, (-1, np.shape(z)[-1]))]
                    ).reshape(np.shape(z))


def w_log_softmax_no_shift_float64(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def w_log_softmax_in_place(z, axis=-1):
    z -= np.max(z, axis=axis, keepdims=True)
    z -= np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
    return z


def w_log_softmax_whole_array(z, axis=-1):
    return z - special.logsumexp(z)


def w_log_softmax_global_max_torch(z, axis=-1):
    import torch

    t = torch_in(z)
    shifted = t - t.max()
    return shifted - torch.log(torch.exp(shifted).sum(dim=axis, keepdim=True))


def w_log_softmax_clipped(z, axis=-1):
    return np.log(np.clip(special.softmax(z, axis=axis), 1e-12, 1.0))


def w_log_softmax_lse_no_keepdims(z, axis=-1):
    return z - special.logsumexp(z, axis=axis)


def w_sequence_product_torch(logits, tokens):
    import torch

    p = torch.softmax(torch_in(logits), dim=-1)
    total = torch.tensor(1.0, dtype=p.dtype)
    for t, token in enumerate(tokens):
        total = total * p[t, int(token)]
    return torch.log(total)


def w_sequence_take_columns(logits, tokens):
    return np.take(special.log_softmax(logits, axis=-1), tokens, axis=1).sum()


def w_sequence_next_token_loop(logits, tokens):
    log_p = special.log_softmax(logits, axis=-1)
    return sum(log_p[t - 1, tokens[t]] for t in range(1, len(tokens)))


def w_sequence_scipy_log_of_softmax(logits, tokens):
    p = special.softmax(logits, axis=-1)
    return np.log(p[np.arange(len(tokens)), tokens]).sum()


def w_sequence_positions_axis(logits, tokens):
    import torch

    log_p = torch.log_softmax(torch_in(logits), dim=0)
    return log_p[torch.arange(len(tokens)), torch_in(tokens)].sum()


def w_perplexity_sum_torch(logits, tokens):
    import torch
    import torch.nn.functional as F

    return torch.exp(F.cross_entropy(torch_in(logits), torch_in(tokens), reduction="sum"))


def w_perplexity_base_two(logits, tokens):
    import torch.nn.functional as F

    return 2 ** F.cross_entropy(torch_in(logits), torch_in(tokens)).item()


def w_perplexity_product_loop(logits, tokens):
    p = special.softmax(np.asarray(logits, dtype=float), axis=-1)
    prob = 1.0
    for t, token in enumerate(tokens):
        prob *= p[t, token]
    return prob ** (-1.0 / len(tokens))


def w_perplexity_nll_of_log_softmax_torch(logits, tokens):
    import torch
    import torch.nn.functional as F

    t = torch_in(logits)
    return torch.exp(F.nll_loss(torch.log(torch.softmax(t, dim=-1)), torch_in(tokens)))


def w_perplexity_columns(logits, tokens):
    log_p = special.log_softmax(logits, axis=-1)
    return np.exp(-log_p[:, tokens].mean())


def w_log_prob_plus_tiny_eps(z, index):
    return np.log(special.softmax(z)[index] + 1e-20)


def w_log_softmax_clip_1e_30(z, axis=-1):
    return np.log(np.clip(special.softmax(z, axis=axis), 1e-30, 1.0))


def w_log_softmax_axis_zero(z, axis=-1):
    return special.log_softmax(z, axis=0)


def w_log_softmax_sum_without_axis(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m)))


def w_sequence_take_flat(logits, tokens):
    return np.take(special.log_softmax(logits, axis=1), tokens).sum()


def w_sequence_one_based(logits, tokens):
    return special.log_softmax(logits, axis=1)[np.arange(len(tokens)), tokens - 1].sum()


def w_sequence_one_hot_columns(logits, tokens):
    onehot = np.zeros_like(logits)
    onehot[:, tokens] = 1
    return (onehot * special.log_softmax(logits, axis=1)).sum()


def w_sequence_scipy_default_axis(logits, tokens):
    return special.log_softmax(logits)[np.arange(len(tokens)), tokens].sum()


def w_sequence_global_max(logits, tokens):
    m = logits.max()
    log_p = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return log_p[np.arange(len(tokens)), tokens].sum()


def w_perplexity_sum_in_python_floats(logits, tokens):
    nll = sum(special.logsumexp(logits[t]) - logits[t][tokens[t]] for t in range(len(tokens)))
    return math.exp(nll) if nll < 700 else math.inf


def w_perplexity_base_ten(logits, tokens):
    log_p = special.log_softmax(logits, axis=-1)[np.arange(len(tokens)), tokens]
    return 10 ** -log_p.mean()


def w_perplexity_bits_then_e(logits, tokens):
    bits = special.log_softmax(logits, axis=-1)[np.arange(len(tokens)), tokens] / np.log(2)
    return np.exp(-bits.mean())


def w_perplexity_rows(logits, tokens):
    return np.exp(-np.mean(special.log_softmax(logits, axis=-1)[tokens]))


def w_perplexity_scipy_default_axis(logits, tokens):
    return np.exp(-special.log_softmax(logits)[np.arange(len(tokens)), tokens].mean())


def w_perplexity_global_max(logits, tokens):
    m = logits.max()
    log_p = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return np.exp(-log_p[np.arange(len(tokens)), tokens].mean())


def w_perplexity_log_of_float64_softmax(logits, tokens):
    """Passed while no probe made a token's probability underflow in float64."""
    p = special.softmax(np.asarray(logits, dtype=np.float64), axis=-1)
    return np.exp(-np.mean(np.log(p[np.arange(len(tokens)), tokens])))


WRONG = [
    ("log_prob_of", w_log_prob_torch_log_of_softmax, "log_of_softmax"),
    ("log_prob_of", w_log_prob_scipy_log_of_softmax, "log_of_softmax"),
    ("log_prob_of", w_log_prob_naive_in_float64, "log_of_softmax"),
    ("log_prob_of", w_log_prob_plus_eps, "log_of_softmax"),
    ("log_prob_of", w_log_prob_no_shift_torch, "no_max_shift"),
    ("log_softmax", w_log_softmax_torch_log_of_softmax, "log_of_softmax"),
    ("log_softmax", w_log_softmax_rows_always, "wrong_axis"),
    ("log_softmax", w_log_softmax_no_shift_float64, "no_max_shift"),
    ("log_softmax", w_log_softmax_in_place, "mutates_input"),
    ("log_softmax", w_log_softmax_whole_array, "wrong_axis"),
    ("log_softmax", w_log_softmax_global_max_torch, "global_max_shift"),
    ("log_softmax", w_log_softmax_clipped, "log_of_softmax"),
    ("log_softmax", w_log_softmax_lse_no_keepdims, "missing_keepdims"),
    ("sequence_log_prob", w_sequence_product_torch, "probability_product_underflow"),
    ("sequence_log_prob", w_sequence_take_columns, "wrong_target_indexing"),
    ("sequence_log_prob", w_sequence_next_token_loop, "targets_shifted"),
    ("sequence_log_prob", w_sequence_scipy_log_of_softmax, "log_of_softmax"),
    ("sequence_log_prob", w_sequence_positions_axis, "wrong_axis"),
    ("perplexity", w_perplexity_sum_torch, "sum_not_mean"),
    ("perplexity", w_perplexity_base_two, "wrong_log_base"),
    ("perplexity", w_perplexity_product_loop, "probability_product_underflow"),
    ("perplexity", w_perplexity_nll_of_log_softmax_torch, "log_of_softmax"),
    ("perplexity", w_perplexity_columns, "wrong_target_indexing"),
    ("log_prob_of", w_log_prob_plus_tiny_eps, "log_of_softmax"),
    ("log_softmax", w_log_softmax_clip_1e_30, "log_of_softmax"),
    ("log_softmax", w_log_softmax_axis_zero, "wrong_axis"),
    ("log_softmax", w_log_softmax_sum_without_axis, "wrong_axis"),
    ("sequence_log_prob", w_sequence_take_flat, "wrong_target_indexing"),
    ("sequence_log_prob", w_sequence_one_based, "wrong_target_indexing"),
    ("sequence_log_prob", w_sequence_one_hot_columns, "wrong_target_indexing"),
    ("sequence_log_prob", w_sequence_scipy_default_axis, "wrong_axis"),
    ("sequence_log_prob", w_sequence_global_max, "global_max_shift"),
    ("perplexity", w_perplexity_sum_in_python_floats, "sum_not_mean"),
    ("perplexity", w_perplexity_base_ten, "wrong_log_base"),
    ("perplexity", w_perplexity_bits_then_e, "wrong_log_base"),
    ("perplexity", w_perplexity_rows, "wrong_target_indexing"),
    ("perplexity", w_perplexity_scipy_default_axis, "wrong_axis"),
    ("perplexity", w_perplexity_global_max, "global_max_shift"),
    ("perplexity", w_perplexity_log_of_float64_softmax, "log_of_softmax"),
    # float32 arithmetic on float64 input, handed back in float32: held to the input's
    # precision, it fails on close logits near 1e4 (and on ordinary logits of a few dozen).
    ("log_prob_of", log_prob_of_torch_default_float32, "lower_precision"),
    ("log_softmax", log_softmax_in_float32, "lower_precision"),
    ("perplexity", perplexity_torch_default_float32, "lower_precision"),
]


def test_wrong_answers_are_named_nine_times_in_ten():
    assert_named_nine_in_ten(WRONG)


@over_wrong(WRONG)
def test_each_wrong_answer_fails_with_its_name(problem_id, answer, expected):
    assert_named(problem_id, answer, expected)


# ---------------------------------------------------------------------------------------------
# Messages a learner reads, word for word


def test_log_of_softmax_is_explained_on_float32_zero_minus_two_hundred():
    def log_prob_of(z, index):
        e = np.exp(z - z.max())
        return np.log(e / e.sum())[index]

    result = tutor.check("log_prob_of", log_prob_of, seed=0)
    assert result.title == "log(softmax(z)) instead of log-softmax"
    assert result.link == "../notebooks/04_log_softmax.ipynb#Why-log(softmax)-fails"
    assert result.message == (
        "softmax underflows to exactly 0 for logits far below the maximum and log(0) = −inf "
        "(log(p + eps), or p clipped at eps, turns every p below eps into eps instead); "
        "compute z − logsumexp(z) directly. On log_prob_of(z=[ 0., -200.] (float32), index=1) "
        "(float32 [0, −200], where softmax underflows to 0) the answer is -200. but it returned "
        "-inf (float32).")


def test_a_product_of_probabilities_is_named_on_the_smallest_input_it_breaks():
    result = tutor.check("sequence_log_prob", w_sequence_product_torch, seed=0)
    assert result.title == "Multiplying probabilities"
    assert result.link == "../notebooks/04_log_softmax.ipynb#Sums-of-log-probabilities"
    assert result.message == (
        "A product of many probabilities underflows to 0 long before the sequence ends; add "
        "log-probabilities instead. On sequence_log_prob(logits=[[ 900., 0., 1.], [ -2., -950., "
        "3.], [ 0.5, 2., 800.]], tokens=[0, 2, 1]) (rows whose best logits are far apart) the "
        "answer is -798.0067 but it returned -inf.")


def test_shifted_tokens_have_their_own_explanation():
    result = tutor.check("sequence_log_prob", w_sequence_next_token_loop, seed=0)
    assert result.title == "Tokens shifted by one position"
    assert result.message.startswith(
        "Row t of the logits already scores tokens[t] (the shift to next-token targets happened "
        "when the logits were made); shifting again pairs each row with a neighbouring token and "
        "drops one position. Pick logits[t, tokens[t]] for every t. On sequence_log_prob(")


def test_a_mean_instead_of_the_sum_gets_expected_versus_got_and_no_guess():
    def sequence_log_prob(logits, tokens):
        return special.log_softmax(logits, axis=-1)[np.arange(len(tokens)), tokens].mean()

    result = tutor.check("sequence_log_prob", sequence_log_prob, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message == (
        "On sequence_log_prob(logits=[[2., 1., 0.], [0., 1., 2.]], tokens=[0, 2]) (two tokens of "
        "the lesson's (2, 1, 0)), your sequence_log_prob returned -0.4076 instead of -0.8152.")


def test_an_answer_that_raises_valueerror_for_its_own_reason_is_not_called_missing_keepdims():
    """No max shift in a row loop: math.log(0) raises ValueError on the row near −1000, which the
    missing-keepdims twin (a broadcasting ValueError) must not claim. The overflow it shows on
    the logits near 1e4 (every entry −inf) names what it is: no max shift."""
    def log_softmax(z, axis=-1):
        rows = np.moveaxis(np.asarray(z, dtype=float), axis, -1)
        out = np.empty_like(rows)
        for index in np.ndindex(rows.shape[:-1]):
            out[index] = rows[index] - math.log(np.sum(np.exp(rows[index])))
        return np.moveaxis(out, -1, axis)

    for seed in SEEDS:
        result = tutor.check("log_softmax", log_softmax, seed=seed)
        assert result.status == "failed" and result.misconception == "no_max_shift"
        assert result.message.endswith(
            "On log_softmax(z=[[10000.1235, 10000.2346, 10000., 10000.3457], [10000.3457, "
            "10000., 10000.2346, 10000.1235]]) (close logits near 1e4, where float32 loses "
            "digits) the answer is [[-1.447, -1.3359, -1.5704, -1.2248], [-1.2248, -1.5704, "
            "-1.3359, -1.447]] but it returned [[-inf, -inf, -inf, -inf], [-inf, -inf, -inf, "
            "-inf]].")


def test_logits_near_a_thousand_are_shown_without_exponents():
    def perplexity(logits, tokens):
        log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        return np.exp(-log_p[np.arange(len(tokens)), tokens].mean())

    result = tutor.check("perplexity", perplexity, seed=0)
    assert result.misconception == "no_max_shift"
    assert result.message.endswith(
        "On perplexity(logits=[[ 1000., 1001.], [-1000., -999.], [ 2., 0.]], tokens=[1, 0, 0]) "
        "(logits near ±1000) the answer is 1.7941 but it returned nan.")


def test_a_pass_lists_the_hard_cases_it_survived():
    result = tutor.check("log_softmax", log_softmax_own_dtype, seed=0)
    assert result.message == (
        "log_softmax is right on all 18 inputs, including the lesson's (100, 101, 102), float32 "
        "[0, −200], where softmax underflows to 0, gaps of 50, 100 and 120 in float32, gaps "
        "beyond 745 in every position, where float64 softmax gives 0, logits near ±1000, "
        "axis=0, the middle axis of a (2, 3, 2) array, float16, where e^12 overflows, a −inf "
        "(masked) logit, a length-1 axis (all zeros), length-1 last axis, shape (3, 1), close "
        "logits near 1e4, where float32 loses digits and float16 along a random axis.")


# ---------------------------------------------------------------------------------------------
# The references: the lesson's numbers, dtypes kept, and the failure they guard against


def test_log_softmax_reproduces_the_lesson_numbers():
    assert np.allclose(ch04.log_softmax(np.array([100.0, 101.0, 102.0])),
                       [-2.4076, -1.4076, -0.4076], atol=5e-5)
    assert np.isclose(ch04.log_prob_of(np.array([2.0, 1.0, 0.0]), 0), -0.4076, atol=5e-5)


def test_float32_zero_minus_two_hundred_is_minus_two_hundred_not_minus_inf():
    z = np.array([0.0, -200.0], dtype=np.float32)
    out = ch04.log_softmax(z)
    assert out.dtype == np.float32 and out[1] == -200.0
    with np.errstate(divide="ignore"):
        assert np.isneginf(ch04._log_softmax(blocks.LogOfSoftmax(), z)[1])


def test_log_softmax_keeps_float16_and_gives_minus_inf_for_a_masked_logit():
    assert ch04.log_softmax(np.array([0.0, -20.0, 5.0], dtype=np.float16)).dtype == np.float16
    out = ch04.log_softmax(np.array([0.0, -np.inf, 1.0]))
    assert np.isneginf(out[1]) and np.all(np.isfinite(out[[0, 2]]))


def test_a_3000_token_sequence_has_a_finite_log_prob_where_the_product_is_zero():
    logits, tokens = ch04._long_sequence(3000, 5, 4)
    p = ch04._softmax(logits)[np.arange(3000), tokens]
    assert np.prod(p) == 0.0
    assert np.isclose(ch04.sequence_log_prob(logits, tokens), np.log(p).sum())


def test_uniform_logits_have_perplexity_equal_to_the_vocabulary_size():
    assert np.isclose(ch04.perplexity(np.zeros((7, 50)), np.arange(7)), 50.0)


# ---------------------------------------------------------------------------------------------
# The gap explorer


def _marker_y(explorer, dtype, method):
    return explorer.markers[dtype, method].get_ydata()[0]


def test_gap_200_flags_minus_inf_for_float32_log_of_softmax_only():
    explorer = LogSoftmaxGapExplorer()
    explorer.controls["gap"].value = 200.0
    assert _marker_y(explorer, "float32", "naive") == CEILING
    assert _marker_y(explorer, "float64", "naive") == FLOOR
    assert _marker_y(explorer, "float32", "stable") == FLOOR
    assert explorer.title.get_text() == "gap 200.0: log(softmax) is −inf in float32"
    assert explorer.readout.value.count("−inf") == 1
    assert "−200.000000" in explorer.readout.value


def test_gap_800_is_minus_inf_in_both_dtypes_and_the_cursor_follows():
    explorer = LogSoftmaxGapExplorer()
    explorer.controls["gap"].value = 800.0
    assert explorer.title.get_text() == "gap 800.0: log(softmax) is −inf in float32 and float64"
    assert _marker_y(explorer, "float64", "naive") == CEILING
    assert _marker_y(explorer, "float64", "stable") == FLOOR
    assert list(explorer.cursor.get_xdata()) == [800.0, 800.0]
    assert explorer.readout.value.count("−inf") == 2


def test_gap_100_shows_lost_digits_in_float32_without_minus_inf():
    explorer = LogSoftmaxGapExplorer()
    explorer.controls["gap"].value = 100.0
    assert 1e-3 < _marker_y(explorer, "float32", "naive") < 0.1
    assert explorer.title.get_text() == "gap 100.0: every method is finite"
    assert "−99.983093" in explorer.readout.value and "−inf" not in explorer.readout.value


def test_the_explorer_draws_the_lessons_own_function():
    calls = []

    def log_softmax(z):
        calls.append(z.dtype)
        return z - special.logsumexp(z, axis=-1, keepdims=True)

    explorer = LogSoftmaxGapExplorer(log_softmax, gap=50.0)
    assert {np.dtype(np.float32), np.dtype(np.float64)} <= set(calls)
    assert explorer.values()["float32", "stable"] == -50.0


def test_examples_build_with_default_arguments():
    assert [type(e) for e in examples()] == [LogSoftmaxGapExplorer]


# ---------------------------------------------------------------------------------------------
# The same verdict on every seed: every twin, every right answer, and wrong answers of our own
# aimed at the edges the contract promises (length-1 axes, gaps in every position, float32 on
# float64 input, thousands of tokens)

CHAPTER_PROBLEMS = ["log_prob_of", "log_softmax", "sequence_log_prob", "perplexity"]


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


def _float32_then_float(reference):
    """torch.tensor(z.tolist()) is float32; .item() or float() hands back a Python float."""
    def answer(z, *rest, **kwargs):
        import torch

        t = torch.tensor(np.asarray(z).tolist())
        return torch.as_tensor(reference(t, *rest, **kwargs)).double().numpy()
    answer.__name__ = f"{reference.__name__}_float32_then_float64"
    return answer


def e_log_prob_mean_shift(z, index):
    """Shifted by the mean, not the max: overflows once the logits spread over about 180 in
    float32."""
    s = z - z.mean()
    return s[index] - np.log(np.sum(np.exp(s)))


def e_log_prob_first_entry_shift(z, index):
    s = z - z[0]
    return s[index] - np.log(np.sum(np.exp(s)))


def e_log_prob_plus_1e_11(z, index):
    return np.log(special.softmax(z)[index] + 1e-11)


def _torch_log_prob(t, index):
    import torch

    return torch.log_softmax(t, dim=0)[index]


def e_log_softmax_squeezed(z, axis=-1):
    return np.squeeze(special.log_softmax(z, axis=axis))


def e_log_softmax_mean_shift(z, axis=-1):
    s = z - np.mean(z, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def e_log_softmax_clip_3e_13(z, axis=-1):
    return np.log(np.maximum(special.softmax(z, axis=axis), 3e-13))


def _torch_log_softmax(t, axis=-1):
    import torch

    return torch.log_softmax(t, dim=axis)


def e_sequence_running_product_math_log(logits, tokens):
    p = special.softmax(logits, axis=-1)
    prob = 1.0
    for t, token in enumerate(tokens):
        prob *= float(p[t, token])
    return math.log(prob)


def e_sequence_plus_1e_11(logits, tokens):
    p = special.softmax(logits, axis=-1)[np.arange(len(tokens)), tokens]
    return np.sum(np.log(p + 1e-11))


def _torch_sequence(t, tokens):
    import torch

    return torch.log_softmax(t, dim=-1)[torch.arange(len(tokens)), torch.as_tensor(tokens)].sum()


def e_perplexity_running_product_math_log(logits, tokens):
    p = special.softmax(logits, axis=-1)
    prob = 1.0
    for t, token in enumerate(tokens):
        prob *= float(p[t, token])
    return math.exp(-math.log(prob) / len(tokens))


def e_perplexity_root_of_each(logits, tokens):
    """The geometric mean as a product of L-th roots: no underflow, but a probability that is
    already 0 stays 0."""
    p = special.softmax(logits, axis=-1)[np.arange(len(tokens)), tokens]
    return 1.0 / np.prod(p ** (1.0 / len(tokens)))


def _torch_perplexity(t, tokens):
    import torch

    log_p = torch.log_softmax(t, dim=-1)[torch.arange(len(tokens)), torch.as_tensor(tokens)]
    return torch.exp(-log_p.mean())


# Answers from a blind test of learners' code.

def b_log_prob_one_based(z, index):
    return float(z[index - 1] - special.logsumexp(z))


def b_log_prob_lse_minus_z(z, index):
    return float(special.logsumexp(z) - z[index])


def b_sequence_negated(logits, tokens):
    lp = special.log_softmax(logits, axis=-1)
    return float(-lp[np.arange(len(tokens)), tokens].sum())


def b_sequence_product_with_sentinel(logits, tokens):
    p = 1.0
    for row, t in zip(logits, tokens, strict=True):
        p *= special.softmax(row)[t]
    return math.log(p) if p > 0 else -1e308


def b_perplexity_arithmetic_mean(logits, tokens):
    p = special.softmax(logits, axis=-1)[np.arange(len(tokens)), tokens]
    return float(1 / np.mean(p))


def b_perplexity_plus_1e_300(logits, tokens):
    p = special.softmax(logits, axis=-1)
    return float(np.exp(-np.log(p[np.arange(len(tokens)), tokens] + 1e-300).mean()))


EDGE_WRONG = [
    ("log_prob_of", e_log_prob_mean_shift, "no_max_shift"),
    ("log_prob_of", e_log_prob_first_entry_shift, "no_max_shift"),
    ("log_prob_of", e_log_prob_plus_1e_11, "log_of_softmax"),
    ("log_prob_of", _float32_then_float(_torch_log_prob), "lower_precision"),
    ("log_prob_of", b_log_prob_one_based, "wrong_target_indexing"),
    ("log_prob_of", b_log_prob_lse_minus_z, "nll_sign"),
    ("log_softmax", e_log_softmax_squeezed, None),
    ("log_softmax", e_log_softmax_mean_shift, "no_max_shift"),
    ("log_softmax", e_log_softmax_clip_3e_13, "log_of_softmax"),
    ("log_softmax", _float32_then_float(_torch_log_softmax), "lower_precision"),
    ("sequence_log_prob", e_sequence_running_product_math_log, "probability_product_underflow"),
    ("sequence_log_prob", e_sequence_plus_1e_11, "log_of_softmax"),
    ("sequence_log_prob", _float32_then_float(_torch_sequence), "lower_precision"),
    ("sequence_log_prob", b_sequence_negated, "nll_sign"),
    ("sequence_log_prob", b_sequence_product_with_sentinel, "probability_product_underflow"),
    ("perplexity", e_perplexity_running_product_math_log, "probability_product_underflow"),
    ("perplexity", e_perplexity_root_of_each, "log_of_softmax"),
    ("perplexity", _float32_then_float(_torch_perplexity), "lower_precision"),
    ("perplexity", b_perplexity_arithmetic_mean, None),
    ("perplexity", b_perplexity_plus_1e_300, "log_of_softmax"),
]


@pytest.mark.parametrize("problem_id", CHAPTER_PROBLEMS)
def test_wrong_answers_at_the_edges_fail_on_every_seed(problem_id):
    _sweep(problem_id, [(answer, expected) for p, answer, expected in EDGE_WRONG
                        if p == problem_id], first=False)
