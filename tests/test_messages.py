"""What a learner reads, word for word: one row per (problem, answer, message).

The problems here are small stand-ins declared in this file, so that the wording of the engine is
pinned without depending on a chapter's probes; `{id}` in a message stands for that
misconception's explanation from the catalogue, and `{line}` for the line of the answer that
raised. Read the table top to bottom: a case that must raise, the most telling mistake first, a
mistake named by its symptom, an invariant broken, a long array shown by a window, and the last
line of every failure's text.
"""

from __future__ import annotations

import numpy as np
import pytest

import tutor
from tutor import checking, misconceptions, registry
from tutor.problem import Problem, Symptom, Twin, case

# --- the stand-in problems ---------------------------------------------------------------------


def softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def temperature(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    return softmax(np.asarray(z) / T)


def temperature_unchecked(z, T):
    return softmax(np.asarray(z) / T)


def temperature_multiplies(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    return softmax(np.asarray(z) * T)


TEMPERATURE = Problem(
    id="softmax_temperature", chapter="06_temperature", signature="softmax_temperature(z, T)",
    statement="softmax(z / T); ValueError for T ≤ 0.", reference=temperature,
    generate=lambda rng: [case(rng.normal(size=3).round(1), 0.5)],
    probes=lambda: [case(np.array([2.0, 1.0, 0.0]), 2.0),
                    case(np.array([2.0, 1.0, 0.0]), -1.0, raises=ValueError,
                         note="T ≤ 0 has no meaning")],
    twins=(Twin("accepts_invalid_temperature", temperature_unchecked),
           Twin("temperature_multiplies", temperature_multiplies)))


def softmax_axis0(z, axis=-1):
    return softmax(z, axis=0)


def softmax_sum_without_keepdims(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis)


def overflowed(case, expected, outcome):
    return not outcome.raised and not np.all(np.isfinite(np.asarray(outcome.value, dtype=float)))


SOFTMAX = Problem(
    id="softmax", chapter="02_softmax", signature="softmax(z, axis=-1)", statement="softmax",
    reference=softmax,
    generate=lambda rng: [case(rng.normal(size=(2, 3)).round(1))],
    probes=lambda: [case(np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])),
                    case(np.array([1000.0, 0.0, -1000.0]), note="huge logits"),
                    case(np.arange(60.0).reshape(6, 10) / 10, note="a 6 × 10 batch")],
    twins=(Twin("missing_keepdims", softmax_sum_without_keepdims),
           Twin("wrong_axis", softmax_axis0)),
    symptoms=(Symptom("no_max_shift", overflowed),))


def logsumexp(z):
    z = np.asarray(z, dtype=float)
    m = z.max(axis=-1, keepdims=True)
    return m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


LOGSUMEXP = Problem(
    id="logsumexp_kept", chapter="03_stability", signature="logsumexp_kept(z)",
    statement="logsumexp along the last axis, keeping it", reference=logsumexp,
    generate=lambda rng: [case(rng.normal(size=(2, 3)).round(1))],
    twins=(Twin("missing_keepdims", lambda z: logsumexp(z)[..., 0]),))


def loss(z):
    """The mean cross-entropy of rows of logits whose target is class 0: never negative."""
    return np.mean(logsumexp(z)[..., 0] - np.asarray(z)[..., 0])


LOSS = Problem(
    id="first_class_loss", chapter="05_cross_entropy", signature="first_class_loss(z)",
    statement="mean cross-entropy with target 0", reference=loss,
    generate=lambda rng: [case(rng.normal(size=(2, 3)).round(1))],
    invariants=(checking.non_negative("a loss"),))

# --- the answers -------------------------------------------------------------------------------


def divides_by_zero(z, T):
    return softmax(np.asarray(z) / T) if T > 0 else 1 / 0


def multiplies_unchecked(z, T):
    return softmax(np.asarray(z) * T)


def max_without_keepdims(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis))
    return e / e.sum(axis=axis, keepdims=True)


def no_shift(z, axis=-1):
    e = np.exp(np.asarray(z, dtype=float))
    return e / e.sum(axis=axis, keepdims=True)


def mean_shift(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.mean(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def unnormalised(z, axis=-1):
    z = np.asarray(z, dtype=float)
    return np.exp(z - z.max(axis=axis, keepdims=True))


def max_without_keepdims_lse(z):
    return np.asarray(z).max(axis=-1) - 5.0


def loss_upside_down(z):
    return np.mean(np.asarray(z)[..., 0] - logsumexp(z)[..., 0])


MESSAGES = [
    # A case that must raise reads as a sentence about the behaviour, named when a twin agrees.
    (TEMPERATURE, temperature_unchecked,
     "{accepts_invalid_temperature} softmax_temperature(z=[2., 1., 0.], T=-1) should raise "
     "ValueError, since T ≤ 0 has no meaning, but it returned [0.09, 0.2447, 0.6652]."),
    (TEMPERATURE, divides_by_zero,
     "softmax_temperature(z=[2., 1., 0.], T=-1) should raise ValueError, since T ≤ 0 has no "
     "meaning, but it raised ZeroDivisionError: division by zero at line {line} of "
     "test_messages.py: `return softmax(np.asarray(z) / T) if T > 0 else 1 / 0`."),
    # Ordinary inputs name the mistake first; the validation case then names a second one.
    (TEMPERATURE, multiplies_unchecked,
     "{temperature_multiplies} On softmax_temperature(z=[ 0.1, -0.1, 0.6], T=0.5) the answer is "
     "[0.2279, 0.1527, 0.6194] but it returned [0.3136, 0.2837, 0.4027]. It also shows a second "
     "mistake on softmax_temperature(z=[2., 1., 0.], T=-1): No error for T ≤ 0 "
     "(accepts_invalid_temperature)."),
    # The exception a twin raises, with other numbers in its message, names the twin's mistake.
    (SOFTMAX, max_without_keepdims,
     "{missing_keepdims} On softmax(z=[[ 0.1, -0.1, 0.6], [ 0.1, -0.5, 0.4]]) the answer is "
     "[[0.2884, 0.2361, 0.4755], [0.345, 0.1893, 0.4657]] but it raised ValueError: operands "
     "could not be broadcast together with shapes (2,3) (2,) at line {line} of test_messages.py:"
     " `e = np.exp(z - z.max(axis=axis))`."),
    # A symptom the problem declares: shifting by the mean overflows like no shift at all.
    (SOFTMAX, mean_shift,
     "{no_max_shift} On softmax(z=[ 1000., 0., -1000.]) (huge logits) the answer is [1., 0., 0.]"
     " but it returned [nan, 0., 0.]."),
    # The same wrong shape as a twin names the twin's mistake, whatever the values.
    (LOGSUMEXP, max_without_keepdims_lse,
     "{missing_keepdims} On logsumexp_kept(z=[[ 0.1, -0.1, 0.6], [ 0.1, -0.5, 0.4]]) the answer "
     "is [[1.3434], [1.1643]] but it returned [-4.4, -4.6]."),
    # An invariant the problem declares is said, even when no mistake is named.
    (LOSS, loss_upside_down,
     "On first_class_loss(z=[[ 0.1, -0.1, 0.6], [ 0.1, -0.5, 0.4]]), your first_class_loss "
     "returned -1.1538 instead of 1.1538. A loss is never negative, but yours is -1.1538."),
    # Neither twin nor symptom: the plain message, with the invariant of probabilities, which
    # needs no declaration.
    (SOFTMAX, unnormalised,
     "On softmax(z=[[1., 2., 3.], [1., 1., 1.]]), your softmax has 6 of 6 entries wrong; at "
     "index (0, 0) the answer is 0.09 but you have 0.1353. Each row sums to one, but row 0 of "
     "yours sums to 1.5032."),
    # A named mistake that also breaks an invariant says both.
    (SOFTMAX, softmax_axis0,
     "{wrong_axis} On softmax(z=[[ 0.1, -0.1, 0.6], [ 0.1, -0.5, 0.4]]) the answer is [[0.2884, "
     "0.2361, 0.4755], [0.345, 0.1893, 0.4657]] but it returned [[0.5, 0.5987, 0.5498], [0.5, "
     "0.4013, 0.4502]]. Each row sums to one, but row 0 of yours sums to 1.6485."),
]


def _line(answer, text: str) -> int:
    import inspect

    lines, first = inspect.getsourcelines(answer)
    return first + next(i for i, line in enumerate(lines) if text in line)


@pytest.mark.parametrize(("problem", "answer", "message"), MESSAGES,
                         ids=[f"{p.id}-{a.__name__}" for p, a, _ in MESSAGES])
def test_the_message_reads(problem, answer, message):
    result = checking.run(problem, answer, seed=0)
    explanations = {k: m.explanation for k, m in misconceptions.CATALOGUE.items()}
    raising = message.split("`")[-2] if "{line}" in message else ""
    expected = message.format(**explanations, line=_line(answer, raising) if raising else 0)
    assert result.message == expected


def test_a_long_output_is_shown_by_a_window_not_whole():
    def wrong_axis_big(z, axis=-1):
        return softmax(z, axis=0)

    problem = Problem(
        id="softmax", chapter="02_softmax", signature="softmax(z, axis=-1)", statement="",
        reference=softmax, generate=lambda rng: [],
        probes=lambda: [case(np.arange(600.0).reshape(20, 30) / 100, note="a 20 × 30 batch")],
        twins=(Twin("wrong_axis", softmax_axis0),))
    result = checking.run(problem, wrong_axis_big, seed=0)
    assert result.misconception == "wrong_axis"
    assert "the answer (shape (20, 30)) first differs at index (0, 0): from index (0, 0) on it " \
           "reads [" in result.message
    assert len(result.message) <= checking.MESSAGE_LIMIT


def test_two_mistakes_are_both_named_on_the_result():
    result = checking.run(TEMPERATURE, multiplies_unchecked, seed=0)
    assert result.misconception == "temperature_multiplies"
    assert result.misconceptions == ("temperature_multiplies", "accepts_invalid_temperature")


def test_a_raise_of_a_subclass_satisfies_the_case():
    class TemperatureError(ValueError):
        pass

    def strict(z, T):
        if T <= 0:
            raise TemperatureError("T ≤ 0")
        return softmax(np.asarray(z) / T)

    assert checking.run(TEMPERATURE, strict, seed=0).passed


def test_every_failure_text_ends_with_the_next_step():
    results = [checking.run(p, p.twins[0].fn, seed=0) for p in registry.problems() if p.twins]
    results.append(tutor.check("sofmax", softmax))
    for r in results:
        assert not r.passed
        last = str(r).splitlines()[-1]
        assert last.startswith("Stuck? tutor.hint(") or last.endswith("tutor.problems() lists "
                                                                      "them."), str(r)
        assert len(r.message) <= checking.MESSAGE_LIMIT, r.message


def test_an_exception_message_is_cut_short():
    def shouting(z, axis=-1):
        raise ValueError("no " * 1000)

    result = checking.run(SOFTMAX, shouting, seed=0)
    assert result.status == "error" and len(result.message) <= checking.MESSAGE_LIMIT
    assert result.message.startswith("ValueError: no no no") and "… at line" in result.message


def test_results_hints_solutions_and_unknown_ids_share_one_renderer(tmp_path, monkeypatch):
    """Every text a learner reads is a box in a notebook and plain text in a console."""
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))
    shown = [tutor.check("softmax", no_shift, seed=0), tutor.hint("softmax"),
             tutor.solution("softmax", confirm=True), tutor.hint("sofmax"),
             tutor.check("sofmax", softmax)]
    for item in shown:
        assert item._repr_html_().startswith("<div class='tutor-result ")
        assert "**" not in str(item) and "<" not in str(item).split("\n")[0]
    assert "<pre" in shown[2]._repr_html_() and "def softmax" in str(shown[2])
