"""Chapter 01, logits: the sigmoid and its inverse, log-odds arithmetic, and a binary
cross-entropy that survives logits of ±1e4."""

from __future__ import annotations

import math

import numpy as np

from tutor.chapters import _inputs
from tutor.chapters.blocks import (
    LogFloored,
    agree_floored,
    agree_to_float32,
    float32_digits_lost,
    in_float32,
    negated,
)
from tutor.problem import Choice, Problem, Quiz, Symptom, Twin, case

CHAPTER = "01_logits"


# --- sigmoid -----------------------------------------------------------------------------------

def sigmoid(x):
    """σ(x) = 1 / (1 + e^(−x)), written as e^(−log(1 + e^(−x))) so no exp ever overflows."""
    x = np.asarray(x, dtype=float)
    return np.exp(-np.logaddexp(0.0, -x))


def _sigmoid_exp_over_one_plus_exp(x):
    x = np.asarray(x)
    return np.exp(x) / (1 + np.exp(x))


def _sigmoid_math_exp(x):
    # math.exp raises OverflowError past 709.78, where np.exp returns inf.
    return np.vectorize(lambda v: 1 / (1 + math.exp(-v)))(x)


def _sigmoid_flipped(x):
    return 1 / (1 + np.exp(np.asarray(x)))


def _sigmoid_flipped_ratio(x):
    e = np.exp(-np.asarray(x))
    return e / (1 + e)


def _sigmoid_cases(rng):
    for _ in range(4):
        yield case(rng.uniform(-20, 20, _inputs.shape(rng)))
    yield case(rng.uniform(-8, 8, 7).astype(np.float32), note="float32")


def _sigmoid_probes():
    return [
        case(np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0]), note="±1000"),
        case(np.array(2.0), note="a 0-d array"),
        case(np.array([[-3.0]]), note="shape (1, 1)"),
    ]


# --- logit -------------------------------------------------------------------------------------

def logit(p):
    """logit(p) = log(p / (1 − p)), the log-odds; the inverse of the sigmoid on (0, 1)."""
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def _logit_in_dtype(p):
    return np.log(p) - np.log1p(-p)


def _logit_log10(p):
    p = np.asarray(p)
    return np.log10(p / (1 - p))


def _logit_log2(p):
    p = np.asarray(p)
    return np.log2(p / (1 - p))


def _logit_inverted(p):
    p = np.asarray(p)
    return np.log((1 - p) / p)


def _logit_odds(p):
    p = np.asarray(p)
    return p / (1 - p)


def _logit_cases(rng):
    for _ in range(4):
        yield case(rng.uniform(0.001, 0.999, _inputs.shape(rng)))


def _logit_probes():
    return [case(np.array([0.5, 0.1, 0.9, 0.999]), note="p = 0.5 and near 1"),
            case(np.array([[0.2, 0.8], [0.25, 0.75]]), note="a matrix"),
            # float32 keeps about 7 digits: 1 − 1e-9 becomes 1 and 0.5 + 1e-9 becomes 0.5.
            case(np.array([1 - 1e-9, 0.5 + 1e-9, 1e-300, 1 - 2.0**-53]),
                 note="p within 1e-9 of 1 and of 1/2, and 1e-300"),
            case(np.array([[0.3]]), note="shape (1, 1)")]


# --- shift_log_odds ----------------------------------------------------------------------------

def shift_log_odds(p, delta):
    """σ(logit(p) + δ): the probability whose log-odds are δ above those of p (odds × e^δ)."""
    return sigmoid(logit(p) + np.asarray(delta, dtype=float))


def _shift_in_dtype(p, delta):
    return np.exp(-np.logaddexp(0, -(np.log(p) - np.log1p(-p) + delta)))


def _shift_sigmoid_flipped(p, delta):
    p = np.asarray(p)
    return 1 / (1 + np.exp(np.log(p / (1 - p)) + delta))


def _shift_odds_inverted(p, delta):
    p = np.asarray(p)
    return 1 / (1 + np.exp(-(np.log((1 - p) / p) + delta)))


def _shift_added_to_probability(p, delta):
    return np.asarray(p) + delta


def _shift_probability_as_logit(p, delta):
    return 1 / (1 + np.exp(-(np.asarray(p) + delta)))


def _shift_added_capped(p, delta):
    return np.clip(np.asarray(p) + delta, 0, 1)


def _shift_added_capped_at_one(p, delta):
    return np.minimum(np.asarray(p) + delta, 1)


def _shift_scales_probability(p, delta):
    return np.asarray(p) * np.exp(delta)


def _shift_scales_probability_capped(p, delta):
    return np.minimum(np.asarray(p) * np.exp(delta), 1)


def _shift_through_odds(p, delta):
    odds = np.asarray(p) / (1 - np.asarray(p)) * np.exp(delta)
    return odds / (1 + odds)


def _shift_through_math_exp(p, delta):
    return np.vectorize(lambda q, d: 1 / (1 + math.exp(-(math.log(q / (1 - q)) + d))))(p, delta)


def _shift_cases(rng):
    for _ in range(4):
        shape = _inputs.shape(rng)
        p = rng.uniform(0.01, 0.99, shape)
        if rng.random() < 0.5:
            yield case(p, float(rng.uniform(-4, 4)))
        else:
            yield case(p, rng.uniform(-4, 4, shape))


def _shift_probes():
    return [
        case(np.array([0.2, 0.5, 0.9]), float(np.log(4.0)), note="the lesson's ln 4 of evidence"),
        case(np.array([0.5, 0.01, 0.99, 0.5]), np.array([1000.0, -1000.0, 1000.0, -1000.0]),
             note="delta = ±1000"),
        case(np.array([0.3, 0.7], dtype=np.float32), np.array([1.0, -2.0], dtype=np.float32),
             note="float32"),
        # float32 rounds 1 − 1e-9 to 1, whose log-odds are infinite.
        case(np.array([1 - 1e-9, 1e-9]), np.array([-20.0, 20.0]),
             note="p within 1e-9 of 1 or 0, moved back by 20"),
        case(np.array([[0.4]]), 0.5, note="shape (1, 1)"),
    ]


# --- bce_with_logits ---------------------------------------------------------------------------

def bce_with_logits(z, y):
    """Mean binary cross-entropy from logits: −[y·log σ(z) + (1 − y)·log(1 − σ(z))] averaged.

    log σ(z) = −log(1 + e^(−z)) and log(1 − σ(z)) = −log(1 + e^z), so each term is
    log(1 + e^z) − y·z, and np.logaddexp(0, z) computes log(1 + e^z) without overflow.
    """
    z = np.asarray(z, dtype=float)
    y = np.asarray(y, dtype=float)
    return np.mean(np.logaddexp(0.0, z) - y * z)


def _bce_through_sigmoid(z, y):
    p = 1 / (1 + np.exp(-np.asarray(z)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def _bce_picks_log_with_where(z, y):
    p = 1 / (1 + np.exp(-np.asarray(z)))
    return -np.mean(np.where(np.asarray(y) == 1, np.log(p), np.log(1 - p)))


class _SigmoidFloored(LogFloored):
    """log σ and log(1 − σ) patched with one eps: eps added inside each log, σ floored at eps
    (np.clip(p, eps, None)), or σ clipped to [eps, 1 − eps] ("both"), which caps both σ and
    1 − σ from above as well as from below."""

    MODES = (False, True, "both")

    def at(self, eps: float, clip: bool | str) -> np.ndarray:
        if clip != "both":
            return super().at(eps, clip)
        with np.errstate(all="ignore"):
            return np.asarray(self.combine(np.log(np.clip(self.p, eps, 1 - eps))),
                              dtype=np.float64)


def _bce_floored(z, y):
    """The loss through σ with both logs patched by a small constant of the learner's choice:
    finite, but capped near −log(eps). One twin for every eps (blocks.LogFloored)."""
    p = 1 / (1 + np.exp(-np.asarray(z)))
    y = np.asarray(y)
    return _SigmoidFloored(np.stack([p, 1 - p]),
                           lambda log_p: -np.mean(y * log_p[0] + (1 - y) * log_p[1]))


def _infinite_where_sigmoid_rounds(case, expected, outcome) -> bool:
    """`Symptom` of log_of_sigmoid in any variant (a floor on one side only, a clip of one log):
    the loss is infinite or NaN on an input where σ(z) rounds to exactly 0 or 1 in z's dtype,
    though the answer is finite there."""
    z = np.asarray(case.args[0])
    with np.errstate(all="ignore"):
        value = float(np.asarray(outcome.value, dtype=np.float64))
        p = 1 / (1 + np.exp(-np.abs(z)))
    return not outcome.raised and not np.isfinite(value) and np.isfinite(expected) and \
        bool(np.any(p == 1))


def _bce_log_clamped(z, y):
    # PyTorch's binary_cross_entropy on probabilities clamps each log at −100.
    p = 1 / (1 + np.exp(-np.asarray(z)))
    return -np.mean(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log(1 - p), -100))


def _bce_math_loop(z, y):
    # math.log(0) raises ValueError and math.exp(1e4) OverflowError, where numpy gives inf.
    total = 0.0
    for zi, yi in zip(np.ravel(z), np.ravel(y), strict=True):
        p = 1 / (1 + math.exp(-zi))
        total -= yi * math.log(p) + (1 - yi) * math.log(1 - p)
    return total / np.size(z)


def _bce_math_loop_by_label(z, y):
    total = 0.0
    for zi, yi in zip(np.ravel(z), np.ravel(y), strict=True):
        p = 1 / (1 + math.exp(-zi))
        total -= math.log(p) if yi == 1 else math.log(1 - p)
    return total / np.size(z)


def _bce_naive_softplus(z, y):
    return np.mean(np.log(1 + np.exp(z)) - y * np.asarray(z))


def _bce_log2(z, y):
    z = np.asarray(z, dtype=float)
    return np.mean(np.logaddexp2(0.0, z / np.log(2)) - y * z / np.log(2))


def _bce_summed(z, y):
    return np.sum(np.logaddexp(0.0, z) - y * np.asarray(z))


def _bce_flipped_sigmoid(z, y):
    p = 1 / (1 + np.exp(np.asarray(z)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def _bce_flipped_stable(z, y):
    return np.mean(np.logaddexp(0.0, -np.asarray(z)) + y * np.asarray(z))


def _bce_cases(rng):
    for _ in range(4):
        shape = _inputs.shape(rng)
        z = _inputs.logits(rng, shape, scale=float(rng.uniform(1, 6)))
        yield case(z, rng.integers(0, 2, shape).astype(np.float64))


def _bce_probes():
    return [
        case(np.array([0.0, 2.0, -3.0]), np.array([1.0, 1.0, 0.0]), note="ordinary logits"),
        case(np.array([1e4, -1e4, 1e4, -1e4]), np.array([1.0, 0.0, 0.0, 1.0]),
             note="logits ±1e4"),
        case(np.array([[40.0, -40.0], [-40.0, 40.0]]), np.array([[1.0, 1.0], [0.0, 0.0]]),
             note="logits ±40, where σ(z) rounds to exactly 1"),
        case(np.array([100.0, -100.0, 3.0], dtype=np.float32),
             np.array([0.0, 1.0, 1.0], dtype=np.float32), note="float32"),
        case(np.array([1.5, -0.5, 0.25]), np.array([1, 0, 1]), note="integer labels"),
        case(np.array([[-2.5]]), np.array([[0.0]]), note="shape (1, 1)"),
    ]


PROBLEMS = [
    Problem(
        id="sigmoid", chapter=CHAPTER, signature="sigmoid(x)", difficulty="easy", points=1,
        statement="Elementwise σ(x) = 1/(1 + e^(−x)) for an array of any shape. At x = ±1000 it "
                  "must give exactly 0 and 1, never NaN.",
        reference=sigmoid, generate=_sigmoid_cases, probes=_sigmoid_probes,
        # Relative accuracy only: σ(−50) ≈ 2e-22 must not be 1e-13, which an absolute
        # tolerance would let through, and σ(−1000) must be exactly 0.
        atol=0.0,
        twins=(Twin("sigmoid_overflow", _sigmoid_exp_over_one_plus_exp),
               Twin("sigmoid_overflow", _sigmoid_math_exp),
               Twin("sigmoid_sign", _sigmoid_flipped),
               Twin("sigmoid_sign", _sigmoid_flipped_ratio)),
        hints=("Start from the formula with np.exp; it works elementwise on arrays of any shape.",
               "e^x / (1 + e^x) is the same function, but for x = 1000 it is inf/inf = NaN. "
               "Which form stays finite for large positive x, and which for large negative x?",
               "np.exp(-np.logaddexp(0, -x)) is σ(x) with no overflow: logaddexp(0, −x) = "
               "log(1 + e^(−x)) computed stably."),
    ),
    Problem(
        id="logit", chapter=CHAPTER, signature="logit(p)", difficulty="easy", points=1,
        statement="The log-odds log(p / (1 − p)) of probabilities p in (0, 1), elementwise: the "
                  "inverse of the sigmoid.",
        reference=logit, generate=_logit_cases, probes=_logit_probes,
        twins=(Twin("odds_inverted", _logit_inverted), Twin("odds_not_log", _logit_odds),
               Twin("wrong_log_base", _logit_log10), Twin("wrong_log_base", _logit_log2),
               Twin("lower_precision", in_float32(_logit_in_dtype))),
        agree=agree_to_float32,
        hints=("The odds of p are p / (1 − p); the logit is their natural log.",
               "np.log(p / (1 - p)), or more accurately near p = 1: np.log(p) - np.log1p(-p)."),
    ),
    Problem(
        id="shift_log_odds", chapter=CHAPTER, signature="shift_log_odds(p, delta)",
        difficulty="medium", points=2,
        statement="A piece of evidence adds `delta` to the log-odds of probabilities p in (0, 1). "
                  "Return the new probabilities σ(logit(p) + delta), elementwise (delta is a "
                  "number or an array shaped like p). It must stay exact for delta = ±1000.",
        reference=shift_log_odds, generate=_shift_cases, probes=_shift_probes,
        twins=(Twin("probability_as_logit", _shift_added_to_probability),
               Twin("probability_as_logit", _shift_added_capped),
               Twin("probability_as_logit", _shift_added_capped_at_one),
               Twin("probability_as_logit", _shift_probability_as_logit),
               Twin("probability_scaled_not_odds", _shift_scales_probability),
               Twin("probability_scaled_not_odds", _shift_scales_probability_capped),
               Twin("sigmoid_overflow", _shift_through_odds),
               Twin("sigmoid_overflow", _shift_through_math_exp),
               Twin("sigmoid_sign", _shift_sigmoid_flipped),
               Twin("odds_inverted", _shift_odds_inverted),
               Twin("lower_precision", in_float32(_shift_in_dtype))),
        agree=agree_to_float32,
        hints=("delta is measured on the log-odds scale, so move p to that scale first.",
               "Adding delta to the log-odds multiplies the odds p/(1 − p) by e^delta; the "
               "probability itself is not multiplied by anything simple.",
               "sigmoid(logit(p) + delta), with the stable sigmoid from the first problem so "
               "that delta = 1000 gives 1.0 and not inf/inf."),
    ),
    Problem(
        id="bce_with_logits", chapter=CHAPTER, signature="bce_with_logits(z, y)",
        difficulty="hard", points=3,
        statement="Binary cross-entropy computed from logits: for logits z and labels y (0 or 1, "
                  "same shape), the mean over all elements of −[y·log σ(z) + (1 − y)·log(1 − "
                  "σ(z))], returned as a number. It must be exact for logits as large as ±1e4, "
                  "where σ(z) rounds to exactly 0 or 1.",
        reference=bce_with_logits, generate=_bce_cases, probes=_bce_probes,
        agree=agree_floored,
        twins=(Twin("log_of_sigmoid", _bce_through_sigmoid),
               Twin("log_of_sigmoid", _bce_picks_log_with_where),
               Twin("log_of_sigmoid", _bce_floored),
               Twin("log_of_sigmoid", _bce_log_clamped),
               Twin("log_of_sigmoid", _bce_math_loop),
               Twin("log_of_sigmoid", _bce_math_loop_by_label),
               Twin("log_of_sigmoid", _bce_naive_softplus),
               Twin("sum_not_mean", _bce_summed),
               Twin("wrong_log_base", _bce_log2),
               Twin("sigmoid_sign", _bce_flipped_sigmoid),
               Twin("sigmoid_sign", _bce_flipped_stable),
               Twin("nll_sign", negated(bce_with_logits))),
        symptoms=(Symptom("log_of_sigmoid", _infinite_where_sigmoid_rounds),),
        hints=("Never form σ(z) and then take its log: at z = −1e4, σ(z) is exactly 0 and "
               "log 0 = −inf. Write log σ(z) and log(1 − σ(z)) in terms of z directly.",
               "log σ(z) = −log(1 + e^(−z)) and log(1 − σ(z)) = −log(1 + e^z). Put them in the "
               "formula: each term simplifies to log(1 + e^z) − y·z.",
               "np.mean(np.logaddexp(0, z) - y * z): np.logaddexp(0, z) is log(1 + e^z) "
               "without overflow."),
    ),
]


QUIZZES = [
    Quiz(
        id="q01_odds", chapter=CHAPTER,
        question="A binary classifier outputs the logit z = ln 3 ≈ 1.0986. What probability "
                 "does it give the positive class?",
        answer=0.75, tolerance=1e-3,
        wrong_answers=((0.25, "That is σ(−z): the sign in e^(−z) matters. The odds are e^z = 3, "
                              "so p = 3/(3 + 1)."),
                       (3.0, "3 is the odds e^z, not a probability; p = odds/(1 + odds)."),
                       (1.0986, "That is the logit itself; apply the sigmoid to it.")),
        explanation="The logit is the log of the odds: odds e^z = 3 give p = 3/4.",
    ),
    Quiz(
        id="q01_logit_meaning", chapter=CHAPTER,
        question="A logit goes up by 1. What happens to the odds p/(1 − p)?",
        choices=(
            Choice("They go up by 1", False, "The logit is the log of the odds, so adding 1 to "
                   "it adds 1 to log-odds, not to the odds."),
            Choice("They are multiplied by e ≈ 2.718", True, "Right: log-odds + 1 means odds × e."),
            Choice("The probability goes up by 1/e", False, "Probabilities change non-linearly; "
                   "it is the odds that scale by a constant factor."),
            Choice("Nothing: logits are not probabilities", False, "Logits are not "
                   "probabilities, but they determine them: the logit is the log-odds."),
        ),
    ),
    Quiz(
        id="q01_evidence", chapter=CHAPTER,
        question="Before a test, the probability that a patient is ill is 0.2. A positive result "
                 "adds ln 4 ≈ 1.386 to the log-odds. What is the probability after the test?",
        answer=0.5, tolerance=2e-3,
        wrong_answers=((0.8, "That multiplies the probability by 4. Adding ln 4 to the log-odds "
                             "multiplies the odds by 4: 0.25 × 4 = 1, so p = 1/(1 + 1)."),
                       (0.2 + np.log(4.0), "That adds ln 4 to the probability itself; a "
                        "probability above 1 is a sign the step happened on the wrong scale."),
                       (float(1 / (1 + np.exp(-(0.2 + np.log(4.0))))), "That treats 0.2 as a "
                        "logit. Take logit(0.2) = ln(0.2/0.8) = −1.386 first, then add ln 4.")),
        explanation="Odds 0.2/0.8 = 0.25, times e^(ln 4) = 4, give odds 1: p = 0.5.",
    ),
    Quiz(
        id="q01_symmetry", chapter=CHAPTER,
        question="σ(3) ≈ 0.9526. What is σ(−3)?",
        choices=(
            Choice("1 − σ(3) ≈ 0.0474", True, "Right: σ(−z) = 1 − σ(z), because "
                   "1/(1 + e^z) + 1/(1 + e^(−z)) = 1."),
            Choice("−σ(3) ≈ −0.9526", False, "A sigmoid is a probability, never negative; "
                   "flipping the logit flips which class is favoured."),
            Choice("1/σ(3) ≈ 1.0498", False, "That is above 1, so it cannot be a probability."),
            Choice("σ(3) again: the sigmoid is symmetric", False, "Its curve is symmetric about "
                   "the point (0, 1/2), not about the vertical axis: σ(−z) = 1 − σ(z)."),
        ),
    ),
    Quiz(
        id="q01_overflow", chapter=CHAPTER,
        question="In float64, what does np.exp(x) / (1 + np.exp(x)) give at x = 1000?",
        choices=(
            Choice("nan, with an overflow warning", True, "Right: e^1000 overflows to inf and "
                   "inf/inf is NaN. The form 1/(1 + e^(−x)) gives 1.0 here, but it overflows "
                   "at x = −1000 instead (harmlessly, to 0, with a warning)."),
            Choice("1.0", False, "Mathematically yes, but e^1000 is above the float64 limit "
                   "(e^709.78) and becomes inf, and inf/inf is NaN."),
            Choice("An OverflowError is raised", False, "numpy does not raise: it warns and "
                   "returns inf, and inf/inf is NaN."),
            Choice("0.0", False, "That is what a flipped sign would give at a large logit; "
                   "here the issue is overflow: inf/inf is NaN."),
        ),
    ),
]


# === Practice beyond the lesson ================================================================
# Problems the lesson does not ask: find the bug, derive then check numerically, apply. They are
# declared after everything above and added to PROBLEMS at the end of this section.

# --- fix_the_sigmoid_grad: find the bug ---------------------------------------------------------

def fix_the_sigmoid_grad(x):
    """σ'(x) = σ(x)·(1 − σ(x)) = σ(x)·σ(−x), each factor from the overflow-free sigmoid."""
    x = np.asarray(x, dtype=float)
    return sigmoid(x) * sigmoid(-x)


def _sigmoid_grad_shown(x):
    """The code the practice notebook shows: right on paper, NaN for x below about −709."""
    e = np.exp(-x)
    return e / (1 + e) ** 2


def _sigmoid_grad_no_square(x):
    e = np.exp(-np.asarray(x))
    return e / (1 + e)


def _sigmoid_grad_no_square_stable(x):
    """The same slip with an exponent that never overflows: e^(−|x|) / (1 + e^(−|x|)) is
    σ(−|x|), finite everywhere and still not σ'(x)."""
    e = np.exp(-np.abs(np.asarray(x)))
    return e / (1 + e)


def _sigmoid_grad_exp_over(x):
    s = np.exp(x) / (1 + np.exp(x))
    return s * (1 - s)


def _sigmoid_grad_cases(rng):
    for _ in range(3):
        yield case(rng.uniform(-12, 12, _inputs.shape(rng)))
    yield case(rng.uniform(-8, 8, 6).astype(np.float32), note="float32")


def _sigmoid_grad_probes():
    return [
        case(np.array([-2.0, 0.0, 0.5, 3.0]), note="ordinary inputs"),
        case(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]), note="±1000"),
        case(np.array([-100.0, 1.0, 100.0], dtype=np.float32), note="±100 in float32"),
    ]


# --- observations_to_confidence: apply ----------------------------------------------------------

def observations_to_confidence(p0, ratio, target):
    """The fewest observations n ≥ 0, each multiplying the odds by `ratio` (> 1), that take a
    probability from p0 to at least `target`: logit(p0) + n·log(ratio) ≥ logit(target)."""
    p0, target = np.asarray(p0, dtype=float), np.asarray(target, dtype=float)
    need = (logit(target) - logit(p0)) / np.log(np.asarray(ratio, dtype=float))
    # Counts are whole numbers: round up, and none are needed when p0 is already there.
    return np.maximum(np.ceil(need - 1e-9), 0).astype(np.int64)


def _observations_floor(p0, ratio, target):
    need = (logit(target) - logit(p0)) / np.log(ratio)
    return np.maximum(np.floor(need), 0).astype(np.int64)


def _observations_round(p0, ratio, target):
    need = (logit(target) - logit(p0)) / np.log(ratio)
    return np.maximum(np.round(need), 0).astype(np.int64)


def _observations_not_floored_at_zero(p0, ratio, target):
    """Rounded up, but a probability already past its target needs a negative count."""
    need = (logit(target) - logit(p0)) / np.log(ratio)
    return np.ceil(need - 1e-9).astype(np.int64)


def _observations_scale_probability(p0, ratio, target):
    need = np.log(np.asarray(target) / p0) / np.log(ratio)
    return np.maximum(np.ceil(need), 0).astype(np.int64)


def _observations_ratio_not_log(p0, ratio, target):
    need = (logit(target) - logit(p0)) / np.asarray(ratio)
    return np.maximum(np.ceil(need), 0).astype(np.int64)


def _observations_cases(rng):
    for _ in range(4):
        shape = _inputs.shape(rng, 1)
        p0 = rng.uniform(0.02, 0.6, shape)
        target = rng.uniform(0.9, 0.999, shape)
        ratio = rng.uniform(1.3, 4.0, shape)
        yield case(p0, ratio, target)


def _observations_probes():
    return [
        case(np.array([0.5]), np.array([2.0]), np.array([0.99]), note="even odds to 99 %"),
        case(np.array([0.01, 0.2, 0.5]), np.array([10.0, 3.0, 1.5]), np.array([0.95, 0.9, 0.8]),
             note="a rare event and strong evidence"),
        case(np.array([0.97, 0.3]), np.array([2.0, 2.0]), np.array([0.9, 0.99]),
             note="a probability already past its target"),
    ]


# --- bce_grad: derive, then check numerically ---------------------------------------------------

def bce_grad(z, y):
    """∂/∂z of mean BCE = (σ(z) − y) / n, n the number of elements: the −y·z term gives −y and
    log(1 + e^z) gives σ(z)."""
    z = np.asarray(z, dtype=float)
    return (sigmoid(z) - np.asarray(y, dtype=float)) / z.size


def _bce_grad_flipped(z, y):
    return (np.asarray(y) - sigmoid(z)) / np.size(z)


def _bce_grad_summed(z, y):
    return sigmoid(z) - np.asarray(y)


def _bce_grad_wrt_p(z, y):
    p = sigmoid(z)
    return (-np.asarray(y) / p + (1 - np.asarray(y)) / (1 - p)) / np.size(z)


def _bce_grad_exp_over(z, y):
    z = np.asarray(z)
    return (np.exp(z) / (1 + np.exp(z)) - y) / z.size


def _bce_grad_in_dtype(z, y):
    """The gradient in z's own dtype: in float32, σ(z) − y loses its digits where σ(z) is
    within 1e-4 of y."""
    z = np.asarray(z)
    return (np.exp(-np.logaddexp(z.dtype.type(0), -z)) - np.asarray(y, z.dtype)) / z.size


def _bce_grad_cases(rng):
    for _ in range(4):
        shape = _inputs.shape(rng)
        z = _inputs.logits(rng, shape, scale=float(rng.uniform(1, 5)))
        yield case(z, rng.integers(0, 2, shape).astype(np.float64))


def _bce_grad_probes():
    return [
        case(np.array([0.0, 2.0, -3.0]), np.array([1.0, 1.0, 0.0]), note="ordinary logits"),
        case(np.array([1e4, -1e4, 1e4, -1e4]), np.array([1.0, 0.0, 0.0, 1.0]),
             note="logits ±1e4"),
        case(np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]),
             note="a matrix: the mean is over all 4 elements"),
        case(np.array([10.3, -12.7, 15.1, 9.9]), np.array([1.0, 0.0, 1.0, 1.0]),
             note="σ(z) within 1e-4 of y, where float32 loses digits"),
    ]


_BEYOND = [
    Problem(
        id="fix_the_sigmoid_grad", chapter=CHAPTER, signature="fix_the_sigmoid_grad(x)",
        difficulty="easy", points=1,
        statement="Find the bug. `e = np.exp(-x); return e / (1 + e) ** 2` is σ'(x) on paper, "
                  "and right for everyday x, but gives NaN for x = −1000. Fix it: elementwise "
                  "σ'(x) = σ(x)(1 − σ(x)) for any shape, finite and exact at x = ±1000 and in "
                  "float32.",
        reference=fix_the_sigmoid_grad, generate=_sigmoid_grad_cases,
        probes=_sigmoid_grad_probes,
        twins=(Twin("sigmoid_overflow", _sigmoid_grad_shown),
               Twin("sigmoid_overflow", _sigmoid_grad_exp_over),
               Twin("quotient_rule_square", _sigmoid_grad_no_square),
               Twin("quotient_rule_square", _sigmoid_grad_no_square_stable)),
        hints=("Evaluate the shown code at x = −1000 by hand: what is e, and what is "
               "inf / inf?",
               "σ'(x) = σ(x)·(1 − σ(x)), and 1 − σ(x) = σ(−x). With an overflow-free σ, neither "
               "factor ever overflows.",
               "s = np.exp(-np.logaddexp(0, -x)); t = np.exp(-np.logaddexp(0, x)); return s * t"),
    ),
    Problem(
        id="observations_to_confidence", chapter=CHAPTER,
        signature="observations_to_confidence(p0, ratio, target)", difficulty="medium", points=2,
        statement="Each independent observation multiplies the odds by a likelihood ratio `ratio` "
                  "(> 1). Starting from probability p0, return the fewest observations n ≥ 0 "
                  "that bring the probability to at least `target`, as whole numbers, "
                  "elementwise (p0, ratio and target are arrays of one shape). From even odds, "
                  "with a ratio of 2, 99 % takes 7 observations.",
        reference=observations_to_confidence, generate=_observations_cases,
        probes=_observations_probes,
        twins=(Twin("count_not_rounded_up", _observations_floor),
               Twin("count_not_rounded_up", _observations_round),
               Twin("count_not_rounded_up", _observations_not_floored_at_zero),
               Twin("probability_scaled_not_odds", _observations_scale_probability),
               Twin("odds_not_log", _observations_ratio_not_log)),
        hints=("Work on the log-odds scale: each observation adds the same amount to "
               "logit(p). How much?",
               "logit(p0) + n·log(ratio) ≥ logit(target): solve for n, then take the smallest "
               "whole n; never a negative one.",
               "need = (logit(target) - logit(p0)) / np.log(ratio); "
               "return np.maximum(np.ceil(need), 0).astype(int)"),
    ),
    Problem(
        id="bce_grad", chapter=CHAPTER, signature="bce_grad(z, y)", difficulty="hard", points=3,
        statement="Derive, then check numerically: the gradient of `bce_with_logits(z, y)` (the "
                  "mean over all elements of log(1 + e^z) − y·z) with respect to the logits z, "
                  "an array of z's shape. Check your formula against a centred difference "
                  "before you run the check. It must stay exact at z = ±1e4.",
        reference=bce_grad, generate=_bce_grad_cases, probes=_bce_grad_probes,
        symptoms=(Symptom("lower_precision", float32_digits_lost),),
        twins=(Twin("lower_precision", in_float32(_bce_grad_in_dtype)),
               Twin("grad_sign", _bce_grad_flipped),
               Twin("sum_not_mean", _bce_grad_summed),
               Twin("grad_wrt_probabilities", _bce_grad_wrt_p),
               Twin("sigmoid_overflow", _bce_grad_exp_over)),
        hints=("Differentiate one term: d/dz log(1 + e^z) = e^z / (1 + e^z), and d/dz (y·z) = y. "
               "Then account for the mean.",
               "Each element's derivative is σ(z) − y; the mean over n elements divides it by n "
               "(z.size, not the length of the first axis).",
               "(np.exp(-np.logaddexp(0, -z)) - y) / z.size"),
    ),
]

PROBLEMS += _BEYOND
