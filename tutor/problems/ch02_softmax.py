"""Chapter 02, softmax: the definition along any axis."""

from __future__ import annotations

import numpy as np

from tutor.problem import Choice, Problem, Quiz, Twin, case
from tutor.problems import _inputs

CHAPTER = "02_softmax"


def softmax(z, axis=-1):
    """softmax(z)_i = e^(z_i − m) / Σ_j e^(z_j − m) along `axis`, with m the max of the slice."""
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# Buggy twins: each is a mistake learners make, written the way they write it.

def _softmax_ignores_axis(z, axis=-1):
    e = np.exp(np.asarray(z))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_axis_zero(z, axis=-1):
    e = np.exp(np.asarray(z))
    return e / e.sum(axis=0, keepdims=True)


def _softmax_global_sum(z, axis=-1):
    e = np.exp(np.asarray(z))
    return e / e.sum()


def _softmax_no_keepdims(z, axis=-1):
    e = np.exp(np.asarray(z))
    return e / e.sum(axis=axis)


def _softmax_not_normalised(z, axis=-1):
    return np.exp(np.asarray(z))


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
    ]


PROBLEMS = [
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
               Twin("missing_keepdims", _softmax_no_keepdims),
               Twin("not_normalised", _softmax_not_normalised)),
        hints=("Exponentiate, then divide by the sum of the exponentials along `axis` only.",
               "Reductions need `axis=axis`, and keepdims=True so that the sum has shape 1 "
               "along that axis and broadcasts back over it.",
               "e = np.exp(z - z.max(axis=axis, keepdims=True)); return e / e.sum(axis=axis, "
               "keepdims=True)"),
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
                   "does this, but a = 1, b = 0 gives 0.731 vs 0.576."),
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
]
