"""Chapter 02, softmax: the definition along any axis, the two-class case as a sigmoid, and the
way back from probabilities to logits."""

from __future__ import annotations

import math

import numpy as np

from tutor.chapters import _inputs, blocks
from tutor.chapters.blocks import as_in_torch
from tutor.problem import Choice, Problem, Quiz, Symptom, Twin, case

CHAPTER = "02_softmax"


def _softmax(b, z, axis=-1):
    """softmax(z)_i = e^(z_i − m) / Σ_j e^(z_j − m) along `axis`, with m the max of the slice."""
    return b.softmax(b.asarray(z), axis=axis)


# The reference, and a twin for every buggy building block it uses. For logits within ±30 a
# missing or global max shift changes nothing, and there are no −inf entries.
softmax, _SOFTMAX_DERIVED = blocks.compose(
    _softmax, example=(np.zeros((2, 3)), 0),
    exclude=("no_max_shift", "global_max_shift", "neg_inf_nan"))


# Hand-written twins: learners' own variants of each mistake.


def _softmax_ignores_axis(z, axis=-1):
    e = np.exp(np.asarray(z))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_axis_zero(z, axis=-1):
    e = np.exp(np.asarray(z))
    return e / e.sum(axis=0, keepdims=True)


def _softmax_global_sum(z, axis=-1):
    e = np.exp(np.asarray(z))
    return e / e.sum()


def _softmax_shifted_global_sum(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / e.sum()


def _softmax_no_keepdims(z, axis=-1):
    e = np.exp(np.asarray(z))
    return e / e.sum(axis=axis)


def _softmax_shifted_no_keepdims(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / e.sum(axis=axis)


def _softmax_no_keepdims_anywhere(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis))
    return e / e.sum(axis=axis)


def _softmax_not_normalised(z, axis=-1):
    return np.exp(np.asarray(z))


def _softmax_shifted_not_normalised(z, axis=-1):
    return np.exp(z - np.max(z, axis=axis, keepdims=True))


def _softmax_cases(rng):
    for ndim in (1, 2, 2, 3, 3):
        shape = _inputs.shape(rng, ndim)
        z = _inputs.logits(rng, shape, scale=float(rng.uniform(1, 8))).clip(-30, 30)
        if ndim == 1 and rng.random() < 0.5:
            yield case(z)
        else:
            yield case(z, axis=_inputs.axis(rng, ndim))


def _softmax_probes():
    return [
        case(np.array([2.0, 1.0, 0.0]), note="the lesson's (2, 1, 0)"),
        case(np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]), note="a batch of rows"),
        case(np.array([[1.0, 2.0, 3.0], [0.0, 5.0, -1.0]]), axis=0, note="axis=0"),
        case(np.array([[2.0, 1.0], [0.0, 3.0]]), axis=-1, note="a square matrix"),
        case(np.array([4.5, -1.2, 0.8], dtype=np.float32), note="float32"),
        case(np.array([[0.5], [-2.0], [3.0]]), note="slices of length 1"),
        case(np.arange(24.0).reshape(2, 3, 4) % 7 - 3, axis=1, note="the middle axis of three"),
    ]


# --- two_class_softmax -------------------------------------------------------------------------

def two_class_softmax(a, b):
    """softmax((a, b))[0] = e^a / (e^a + e^b) = 1 / (1 + e^(−(a − b))) = σ(a − b), with
    σ(x) = e^(−log(1 + e^(−x))) so that no exp overflows."""
    return _sigmoid_of_difference(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


def _sigmoid_of_difference(a, b):
    """σ(a − b) in the inputs' own dtype."""
    return np.exp(-np.logaddexp(0, b - a))


def _two_class_exp(a, b):
    return np.exp(a) / (np.exp(a) + np.exp(b))


def _two_class_math_exp(a, b):
    # math.exp raises OverflowError past 709.78, where np.exp returns inf.
    return np.vectorize(lambda x, y: math.exp(x) / (math.exp(x) + math.exp(y)))(a, b)


def _two_class_math_sigmoid(a, b):
    # σ(a − b) as 1/(1 + e^(b − a)) with math.exp, which raises OverflowError for a gap past 709.
    return np.vectorize(lambda x, y: 1 / (1 + math.exp(y - x)))(a, b)


def _two_class_exp_of_difference(a, b):
    """σ(a − b) as e^(a − b) / (1 + e^(a − b)): inf / inf = NaN once a − b passes 709."""
    e = np.exp(np.asarray(a) - b)
    return e / (1 + e)


def _two_class_reversed(a, b):
    return 1 / (1 + np.exp(np.asarray(a) - b))


def _two_class_sigmoid_of_a(a, b):
    return 1 / (1 + np.exp(-np.asarray(a)))


def _two_class_cases(rng):
    for _ in range(4):
        shape = _inputs.shape(rng)
        a = _inputs.logits(rng, shape, scale=3.0)
        b = _inputs.logits(rng, shape, scale=3.0)
        if rng.random() < 0.5:
            yield case(a, b)
        else:
            yield case(a, float(rng.normal(0, 3)))


def _two_class_probes():
    return [
        case(np.array([2.0, 0.0, -1.0]), np.array([1.0, 0.0, 3.0]), note="ordinary logits"),
        case(np.array([1000.0, -1000.0]), np.array([999.0, -1001.0]), note="logits near ±1000"),
        case(np.array([800.0, -800.0, 0.0]), np.array([-800.0, 800.0, 0.0]),
             note="gaps of 1600 either way"),
        # float32 keeps about 7 digits: 1000.3 becomes 1000.29999, off by 1e-5 in a − b.
        case(np.array([1000.3, -999.877]), np.array([1000.0, -1000.0]),
             note="close logits near ±1000"),
        case(np.array([[0.5]]), np.array([[-0.25]]), note="shape (1, 1)"),
        case(np.array([4.5, -1.2], dtype=np.float32), np.array([0.8, 0.8], dtype=np.float32),
             note="float32"),
    ]


# --- probs_to_logits ---------------------------------------------------------------------------

def probs_to_logits(p, axis=-1):
    """log p minus its mean along `axis`: the zero-mean logits whose softmax along `axis` is p."""
    log_p = np.log(np.asarray(p, dtype=float))
    return log_p - log_p.mean(axis=axis, keepdims=True)


def _logits_in_dtype(p, axis=-1):
    log_p = np.log(p)
    return log_p - log_p.mean(axis=axis, keepdims=True)


def _logits_log2(p, axis=-1):
    log_p = np.log2(p)
    return log_p - log_p.mean(axis=axis, keepdims=True)


def _logits_log10(p, axis=-1):
    log_p = np.log10(p)
    return log_p - log_p.mean(axis=axis, keepdims=True)


def _logits_uncentred(p, axis=-1):
    return np.log(p)


def _logits_minus_max(p, axis=-1):
    log_p = np.log(p)
    return log_p - log_p.max(axis=axis, keepdims=True)


def _logits_minus_first(p, axis=-1):
    log_p = np.log(p)
    return log_p - np.take(log_p, [0], axis=axis)


def _logits_minus_last(p, axis=-1):
    log_p = np.log(p)
    return log_p - np.take(log_p, [-1], axis=axis)


def _logits_global_mean(p, axis=-1):
    log_p = np.log(p)
    return log_p - log_p.mean()


def _logits_last_axis(p, axis=-1):
    log_p = np.log(p)
    return log_p - log_p.mean(axis=-1, keepdims=True)


def _logits_no_keepdims(p, axis=-1):
    log_p = np.log(p)
    return log_p - log_p.mean(axis=axis)


def _logits_binary_log_odds(p, axis=-1):
    p = np.asarray(p)
    return np.log(p / (1 - p))


def _logits_binary_log_odds_centred(p, axis=-1):
    p = np.asarray(p)
    z = np.log(p / (1 - p))
    return z - z.mean(axis=axis, keepdims=True)


def _probs_cases(rng):
    for ndim in (1, 2, 2, 3):
        shape = _inputs.shape(rng, ndim)
        axis = _inputs.axis(rng, ndim)
        # Rows on the simplex along the last axis, then moved to `axis`.
        p = np.moveaxis(_inputs.probabilities(rng, shape), -1, axis)
        yield case(p) if ndim == 1 else case(p, axis=axis)


def _probs_probes():
    return [
        case(softmax(np.array([2.0, 1.0, 0.0])), note="softmax of the lesson's (2, 1, 0)"),
        case(np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]]), axis=-1, note="a batch of rows"),
        case(np.array([[0.7, 0.2, 0.6], [0.3, 0.8, 0.4]]), axis=0, note="axis=0"),
        case(softmax(np.array([0.0, -40.0, -80.0])), note="probabilities as small as 2e-35"),
        case(np.array([0.6, 0.3, 0.1], dtype=np.float32), note="float32"),
        # float32 rounds both to 0.5: the logits ±2e-8 become 0.
        case(np.array([0.5 + 1e-8, 0.5 - 1e-8]), note="two probabilities 2e-8 apart"),
        case(np.array([[1.0], [1.0]]), note="slices of length 1"),
        case(softmax(np.arange(24.0).reshape(2, 3, 4) % 5, axis=1), axis=1,
             note="the middle axis of three"),
    ]


PROBLEMS = [
    Problem(
        id="two_class_softmax", chapter=CHAPTER, signature="two_class_softmax(a, b)",
        difficulty="easy", points=1,
        statement="For two classes with logits a and b (arrays of one shape, or b a number), "
                  "return the softmax probability of the first class, elementwise, as the "
                  "sigmoid of a difference. It must stay exact when both logits are near ±1000, "
                  "and when they are 1000 or more apart.",
        reference=two_class_softmax, generate=_two_class_cases, probes=_two_class_probes,
        twins=(Twin("no_max_shift", _two_class_exp),
               Twin("no_max_shift", _two_class_math_exp),
               Twin("sigmoid_overflow", _two_class_math_sigmoid),
               Twin("sigmoid_overflow", _two_class_exp_of_difference),
               Twin("sigmoid_sign", _two_class_reversed),
               Twin("sigmoid_of_one_logit", _two_class_sigmoid_of_a),
               Twin("lower_precision", blocks.in_float32(_sigmoid_of_difference))),
        agree=blocks.agree_to_float32,
        hints=("Divide the top and the bottom of e^a / (e^a + e^b) by e^a.",
               "You get 1 / (1 + e^(b − a)): a sigmoid of a difference. Only a − b matters, so "
               "a = 1000, b = 999 is as easy as a = 1, b = 0.",
               "sigmoid(a - b), with the stable sigmoid from chapter 01: "
               "np.exp(-np.logaddexp(0, -(a - b)))."),
    ),
    Problem(
        id="softmax", chapter=CHAPTER, signature="softmax(z, axis=-1)", difficulty="medium",
        points=2,
        statement="Softmax of logits z along `axis`: e^(z_i) / Σ_j e^(z_j) over each slice "
                  "along that axis, for arrays of any shape and any axis (logits between −30 and "
                  "30). Return a new array of the same shape; leave z unchanged.",
        reference=softmax, generate=_softmax_cases, probes=_softmax_probes,
        twins=(Twin("wrong_axis", _softmax_ignores_axis),
               Twin("wrong_axis", _softmax_axis_zero),
               Twin("wrong_axis", _softmax_global_sum),
               Twin("wrong_axis", _softmax_shifted_global_sum),
               *(Twin("missing_keepdims", f(twin)) for f in (lambda fn: fn, as_in_torch)
                 for twin in (_softmax_no_keepdims, _softmax_shifted_no_keepdims,
                              _softmax_no_keepdims_anywhere)),
               Twin("not_normalised", _softmax_not_normalised),
               Twin("not_normalised", _softmax_shifted_not_normalised),
               *_SOFTMAX_DERIVED),
        hints=("Exponentiate, then divide by the sum of the exponentials along `axis` only.",
               "Reductions need `axis=axis`, and keepdims=True so that the sum has shape 1 "
               "along that axis and broadcasts back over it.",
               "e = np.exp(z - z.max(axis=axis, keepdims=True)); return e / e.sum(axis=axis, "
               "keepdims=True)"),
    ),
    Problem(
        id="probs_to_logits", chapter=CHAPTER, signature="probs_to_logits(p, axis=-1)",
        difficulty="hard", points=3,
        statement="The way back: given probabilities p (all positive, each slice along `axis` "
                  "summing to one), return logits z of the same shape whose softmax along "
                  "`axis` is p and whose mean along `axis` is 0. Any shape, any axis.",
        reference=probs_to_logits, generate=_probs_cases, probes=_probs_probes,
        twins=(Twin("logits_not_centred", _logits_uncentred),
               Twin("logits_not_centred", _logits_minus_max),
               Twin("logits_not_centred", _logits_minus_first),
               Twin("logits_not_centred", _logits_minus_last),
               Twin("wrong_axis", _logits_global_mean),
               Twin("wrong_axis", _logits_last_axis),
               Twin("missing_keepdims", _logits_no_keepdims),
               Twin("missing_keepdims", as_in_torch(_logits_no_keepdims)),
               Twin("logit_per_class", _logits_binary_log_odds),
               Twin("logit_per_class", _logits_binary_log_odds_centred),
               Twin("wrong_log_base", _logits_log2),
               Twin("wrong_log_base", _logits_log10),
               Twin("lower_precision", blocks.in_float32(_logits_in_dtype))),
        agree=blocks.agree_to_float32,
        hints=("Softmax exponentiates and divides by a sum. Which function undoes the "
               "exponential, and what does the division turn into after it?",
               "log softmax(z) = z − log Σ e^z: log p is z up to one constant per slice. Every "
               "log p + c works; choose c so that the mean along `axis` is 0.",
               "log_p = np.log(p); return log_p - log_p.mean(axis=axis, keepdims=True)"),
    ),
]


QUIZZES = [
    Quiz(
        id="q02_shift", chapter=CHAPTER,
        question="You add 100 to every logit of (2, 1, 0). What happens to the softmax?",
        choices=(
            Choice("Nothing: it is still (0.665, 0.245, 0.090)", True,
                   "Right: e^(z + c) = e^c · e^z, and the common factor e^c cancels."),
            Choice("It becomes more peaked", False, "Adding a constant does not change the "
                   "differences between logits, and only differences matter. Scaling would."),
            Choice("It becomes uniform", False, "Only the gaps between logits matter, and adding "
                   "100 to all of them keeps every gap."),
            Choice("It overflows to NaN", False, "In exact arithmetic nothing changes; with a "
                   "naive float implementation e^102 is still finite in float64 (the limit is "
                   "709.78). Chapter 03 is about when it does overflow."),
        ),
    ),
    Quiz(
        id="q02_two_class", chapter=CHAPTER,
        question="Softmax over two logits (a, b) gives the first class probability ...",
        choices=(
            Choice("σ(a − b)", True, "Right: divide top and bottom by e^b."),
            Choice("σ(a) ", False, "That ignores b; only the difference a − b matters."),
            Choice("σ(a) / (σ(a) + σ(b))", False, "Try a = b = 10: the softmax gives 1/2, and so "
                   "does this, but a = 1, b = 0 gives σ(1) = 0.731 vs 0.7311 / 1.2311 = 0.594."),
            Choice("a / (a + b)", False, "Logits can be negative; softmax exponentiates first."),
        ),
    ),
    Quiz(
        id="q02_cat_dog_bird", chapter=CHAPTER,
        question="Logits cat 4.5, dog −1.2, bird 0.8. What probability does softmax give the "
                 "bird? (two decimals, as a fraction of 1)",
        answer=0.0239, tolerance=0.003,
        wrong_answers=((0.8 / 4.1, "That divides the logits themselves; softmax divides their "
                        "exponentials."),),
        explanation="e^0.8 / (e^4.5 + e^−1.2 + e^0.8) ≈ 2.23 / 92.5 ≈ 0.024.",
    ),
    Quiz(
        id="q02_scale", chapter=CHAPTER,
        question="softmax(2, 1, 0) = (0.665, 0.245, 0.090). What happens if every logit is "
                 "multiplied by 10?",
        choices=(
            Choice("Nearly one-hot: about (0.99995, 0.00005, 0.000000002)", True,
                   "Right: the gaps grow from 1 to 10, and a gap of 10 is a ratio of e^10 ≈ "
                   "22 000 between neighbouring probabilities."),
            Choice("Nothing changes", False, "That is adding a constant. Multiplying stretches "
                   "the gaps between logits, and the gaps are what softmax sees."),
            Choice("It becomes uniform", False, "Dividing by a large number would flatten it; "
                   "multiplying by 10 sharpens it."),
            Choice("The order of the classes changes", False, "Multiplying by a positive number "
                   "keeps the order; only how peaked the distribution is changes."),
        ),
    ),
    Quiz(
        id="q02_multi_label", chapter=CHAPTER,
        question="A photo can show a cat, a dog, both or neither. The model has one logit per "
                 "animal: cat 3, dog 3. Which output gives a sensible probability for each "
                 "animal being in the photo?",
        choices=(
            Choice("A sigmoid per animal: σ(3) ≈ 0.95 for each", True, "Right: the labels are "
                   "not exclusive, so each is its own yes/no question with its own sigmoid."),
            Choice("Softmax over the two logits: 0.5 each", False, "Softmax makes the classes "
                   "compete for one unit of probability, so two animals that are both clearly "
                   "there get 0.5 each; it answers 'which one animal?', not 'which animals?'."),
            Choice("Softmax, then any class above 0.5", False, "With softmax, at most one class "
                   "can be above 0.5, so 'both' could never be predicted."),
            Choice("The logits themselves, clipped to [0, 1]", False, "Logits are log-odds, not "
                   "probabilities; a logit of 3 means odds of e^3 ≈ 20 to 1."),
        ),
    ),
    Quiz(
        id="q02_axis", chapter=CHAPTER,
        question="Logits z have shape (32, 10): a batch of 32 examples, 10 classes each. Along "
                 "which axis do you take the softmax?",
        choices=(
            Choice("axis=-1 (or 1): each example's 10 probabilities sum to one", True,
                   "Right: the distribution is over classes, one per example."),
            Choice("axis=0: each class sums to one over the batch", False, "That compares "
                   "examples with each other: a class's probability would depend on the other "
                   "31 photos in the batch."),
            Choice("Over the whole array: all 320 entries sum to one", False, "Then each "
                   "example's probabilities would sum to about 1/32, and would depend on the "
                   "rest of the batch."),
        ),
    ),
]


# === Practice beyond the lesson ================================================================
# Problems the lesson does not ask: apply, find the bug, apply with Bayes' rule. They are
# declared after everything above and added to PROBLEMS at the end of this section.

# --- margin_for_confidence: apply --------------------------------------------------------------

def margin_for_confidence(p, K):
    """The gap m between the top logit and K − 1 equal others that gives the top class
    probability p: e^m / (e^m + K − 1) = p, so m = log(p (K − 1) / (1 − p))."""
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p) + np.log(np.asarray(K, dtype=float) - 1)


def _margin_two_classes(p, K):
    p = np.asarray(p)
    return np.log(p / (1 - p))


def _margin_over_k(p, K):
    p = np.asarray(p)
    return np.log(p * K / (1 - p))


def _margin_log10(p, K):
    p = np.asarray(p)
    return np.log10(p * (np.asarray(K) - 1) / (1 - p))


def _margin_not_log(p, K):
    p = np.asarray(p)
    return p * (np.asarray(K) - 1) / (1 - p)


def _margin_cases(rng):
    for _ in range(4):
        shape = _inputs.shape(rng, 1)
        K = rng.integers(3, 50, shape)
        yield case(rng.uniform(1.2 / K, 0.9999), K)


def _margin_probes():
    return [
        case(np.array([0.731, 0.99, 0.99995]), np.array([2, 2, 2]), note="two classes"),
        case(np.array([0.99, 0.5]), np.array([10, 1000]), note="99 % of 10, half of 1000"),
    ]


# --- fix_the_softmax: find the bug --------------------------------------------------------------

def _fix_the_softmax(b, z):
    """Softmax of every row of a batch z of shape (N, K)."""
    return b.softmax(b.asarray(z), axis=-1)


# The reference, and a twin for every buggy block it uses (no max shift, one global max, the
# wrong axis, no keepdims). The last axis is the right one here, and there are no −inf entries.
fix_the_softmax, _FIX_SOFTMAX_DERIVED = blocks.compose(
    _fix_the_softmax, example=(np.zeros((2, 3)),),
    exclude=("neg_inf_nan", blocks.SumOverLastAxis, blocks.ShiftOverLastAxis))


def _fix_softmax_shown(z):
    """The code the practice notebook shows: an error for most shapes, and for a square batch,
    column j divided by row j's sum without a word."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1)


def _fix_softmax_columns(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _fix_softmax_cases(rng):
    for _ in range(3):
        N, K = _inputs.shape(rng, 2)
        yield case(_inputs.logits(rng, (N, K), scale=3.0))
    n = int(rng.integers(2, 6))
    yield case(_inputs.logits(rng, (n, n), scale=3.0), note="a square batch")


def _fix_softmax_probes():
    return [
        case(np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]]),
             note="the 3 × 3 batch of the demo"),
        case(np.array([[2.0, 1.0, 0.0], [4.5, -1.2, 0.8]]), note="a batch of 2 rows of 3"),
        case(np.array([[1000.0, 999.0], [-1000.0, -998.0]]), note="logits near ±1000"),
    ]


# --- adjust_for_prior: apply ---------------------------------------------------------------------

def adjust_for_prior(probs, train_prior, new_prior):
    """Bayes' rule on the logits: p'_k ∝ p_k · new_k / train_k along each row, that is
    softmax(log p + log new − log train)."""
    log_p = np.log(np.asarray(probs, dtype=float))
    shift = np.log(np.asarray(new_prior, dtype=float)) - np.log(np.asarray(train_prior, float))
    return softmax(log_p + shift, axis=-1)


def _prior_not_removed(probs, train_prior, new_prior):
    q = np.asarray(probs) * new_prior
    return q / q.sum(axis=-1, keepdims=True)


def _prior_not_renormalised(probs, train_prior, new_prior):
    return np.asarray(probs) * new_prior / train_prior


def _prior_inverted(probs, train_prior, new_prior):
    q = np.asarray(probs) * train_prior / new_prior
    return q / q.sum(axis=-1, keepdims=True)


class _PriorFloored(blocks.LogFloored):
    """log p patched with eps before the prior shift. The adjusted rows always sum to one, so
    eps is found on the log scale of the output, where it moves the total."""

    def solve(self, got, clip):
        logged = blocks.LogFloored(self.p, lambda log_p: np.log(self.combine(log_p)))
        with np.errstate(all="ignore"):
            return logged.solve(np.log(np.asarray(got, dtype=np.float64)), clip)


def _prior_floored(probs, train_prior, new_prior):
    """log(p + eps) or log(max(p, eps)), eps the learner's choice: a class whose probability is
    below eps but whose training prior is tinier still gets eps / train_k, far too much."""
    shift = np.log(np.asarray(new_prior)) - np.log(np.asarray(train_prior))
    return _PriorFloored(np.asarray(probs), lambda log_p: softmax(log_p + shift, axis=-1))


def _prior_column_sums(probs, train_prior, new_prior):
    q = np.asarray(probs) * new_prior / train_prior
    return q / q.sum(axis=0, keepdims=True)


def _prior_cases(rng):
    for _ in range(4):
        N, K = _inputs.shape(rng, 2)
        yield case(_inputs.probabilities(rng, (N, K)), _inputs.probabilities(rng, (K,)),
                   _inputs.probabilities(rng, (K,)))


def _prior_probes():
    return [
        case(np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]]), np.array([0.6, 0.3, 0.1]),
             np.array([1 / 3, 1 / 3, 1 / 3]), note="a trained-on imbalance, balanced now"),
        case(np.array([[0.5, 0.5]]), np.array([0.5, 0.5]), np.array([0.99, 0.01]),
             note="a rare disease: 1 % after training at 50 %"),
        case(softmax(np.array([[0.0, -60.0, -30.0]])), np.array([0.25, 0.25, 0.5]),
             np.array([0.1, 0.8, 0.1]), note="probabilities as small as 1e-26"),
        case(softmax(np.array([[0.0, -50.0, -1.0]])), np.array([0.5, 1e-24, 0.5 - 1e-24]),
             np.array([1 / 3, 1 / 3, 1 / 3]),
             note="a probability of 1e-22 for a class trained at 1e-24: it wins"),
    ]


_BEYOND = [
    Problem(
        id="margin_for_confidence", chapter=CHAPTER, signature="margin_for_confidence(p, K)",
        difficulty="easy", points=1,
        statement="How far must the top logit lead? With K classes, one logit m above the other "
                  "K − 1 (which are equal), return the margin m that gives the top class "
                  "probability p, elementwise (p and K arrays of one shape). For two classes, "
                  "99 % takes a margin of 4.6.",
        reference=margin_for_confidence, generate=_margin_cases, probes=_margin_probes,
        symptoms=(Symptom("lower_precision", blocks.float32_digits_lost),),
        twins=(Twin("lower_precision", blocks.in_float32(margin_for_confidence)),
               Twin("margin_ignores_other_classes", _margin_two_classes),
               Twin("margin_ignores_other_classes", _margin_over_k),
               Twin("wrong_log_base", _margin_log10),
               Twin("odds_not_log", _margin_not_log)),
        hints=("Write the top class's probability with the other logits at 0 and the top one "
               "at m: e^m / (e^m + (K − 1)·e^0). Set it equal to p.",
               "Solve e^m = p·(e^m + K − 1) for e^m: e^m = p(K − 1)/(1 − p). Every one of the "
               "K − 1 others counts, so the margin grows like log K.",
               "np.log(p * (K - 1) / (1 - p))"),
    ),
    Problem(
        id="fix_the_softmax", chapter=CHAPTER, signature="fix_the_softmax(z)",
        difficulty="medium", points=2,
        statement="Find the bug. `e = np.exp(z - z.max(axis=1, keepdims=True)); return e / "
                  "e.sum(axis=1)` ran on a 3 × 3 demo batch without an error, yet its rows do "
                  "not sum to one. Fix it: the softmax of every row of z, shape (N, K), for any "
                  "N and K.",
        reference=fix_the_softmax, generate=_fix_softmax_cases, probes=_fix_softmax_probes,
        twins=(Twin("missing_keepdims", _fix_softmax_shown),
               Twin("missing_keepdims", as_in_torch(_fix_softmax_shown)),
               Twin("wrong_axis", _fix_softmax_columns),
               *_FIX_SOFTMAX_DERIVED),
        hints=("Print the shapes: e is (N, K) and e.sum(axis=1) is (N,). How does numpy "
               "broadcast (N, K) / (N,), and when does it not complain?",
               "(N,) lines up with the last axis, so column j is divided by row j's sum; for a "
               "square batch that runs, and is wrong. keepdims=True keeps the sum as (N, 1).",
               "return e / e.sum(axis=1, keepdims=True)"),
    ),
    Problem(
        id="adjust_for_prior", chapter=CHAPTER,
        signature="adjust_for_prior(probs, train_prior, new_prior)", difficulty="hard",
        points=3,
        statement="A classifier was trained where the K classes had frequencies `train_prior`; "
                  "it is used where they have frequencies `new_prior` (both shape (K,)). By "
                  "Bayes' rule its probabilities `probs` (N, K) change by a factor new_k / "
                  "train_k per class, renormalised: adding log new_k − log train_k to each "
                  "logit. Return the adjusted probabilities, shape (N, K), exact for "
                  "probabilities as small as 1e-26.",
        reference=adjust_for_prior, generate=_prior_cases, probes=_prior_probes,
        twins=(Twin("prior_not_removed", _prior_not_removed),
               Twin("prior_not_removed", _prior_inverted),
               Twin("not_normalised", _prior_not_renormalised),
               Twin("wrong_axis", _prior_column_sums),
               Twin("log_of_softmax", _prior_floored)),
        agree=blocks.agree_floored,
        hints=("The model's probabilities already carry the training prior: p_k ∝ "
               "likelihood_k · train_k. Divide it out, multiply the new one in.",
               "On logits this is a shift per class, log new_k − log train_k, and softmax "
               "renormalises each row: softmax(log p + log new − log train).",
               "q = probs * new_prior / train_prior; return q / q.sum(axis=1, keepdims=True)"),
    ),
]

PROBLEMS += _BEYOND
