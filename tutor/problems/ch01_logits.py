"""Chapter 01, logits: the sigmoid and its inverse."""

from __future__ import annotations

import numpy as np

from tutor.problem import Choice, Problem, Quiz, Twin, case
from tutor.problems import _inputs

CHAPTER = "01_logits"


# --- sigmoid -----------------------------------------------------------------------------------

def sigmoid(x):
    """σ(x) = 1 / (1 + e^(−x)), written as e^(−log(1 + e^(−x))) so no exp ever overflows."""
    x = np.asarray(x, dtype=float)
    return np.exp(-np.logaddexp(0.0, -x))


def _sigmoid_exp_over_one_plus_exp(x):
    x = np.asarray(x)
    return np.exp(x) / (1 + np.exp(x))


def _sigmoid_flipped(x):
    return 1 / (1 + np.exp(np.asarray(x)))


def _sigmoid_cases(rng):
    for _ in range(4):
        yield case(rng.uniform(-20, 20, _inputs.shape(rng)))
    yield case(rng.uniform(-8, 8, 7).astype(np.float32), note="float32")


def _sigmoid_probes():
    return [
        case(np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0]), note="±1000"),
        case(np.array(2.0), note="a 0-d array"),
    ]


# --- logit -------------------------------------------------------------------------------------

def logit(p):
    """logit(p) = log(p / (1 − p)), the log-odds; the inverse of the sigmoid on (0, 1)."""
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


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
            case(np.array([[0.2, 0.8], [0.25, 0.75]]), note="a matrix")]


PROBLEMS = [
    Problem(
        id="sigmoid", chapter=CHAPTER, signature="sigmoid(x)", difficulty="easy", points=1,
        statement="Elementwise σ(x) = 1/(1 + e^(−x)) for an array of any shape. At x = ±1000 it "
                  "must give exactly 0 and 1, never NaN.",
        reference=sigmoid, generate=_sigmoid_cases, probes=_sigmoid_probes,
        twins=(Twin("sigmoid_overflow", _sigmoid_exp_over_one_plus_exp),
               Twin("sigmoid_sign", _sigmoid_flipped)),
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
        twins=(Twin("odds_inverted", _logit_inverted), Twin("odds_not_log", _logit_odds)),
        hints=("The odds of p are p / (1 − p); the logit is their natural log.",
               "np.log(p / (1 - p)), or more accurately near p = 1: np.log(p) - np.log1p(-p)."),
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
]
