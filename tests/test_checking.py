"""The checking engine on its own: comparison, tolerances, read-only inputs, time limits,
messages, strict mode."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tutor
from tutor import checking, registry
from tutor.problem import Problem, Twin, case
from tutor.result import Result

SOFTMAX = registry.get("softmax")


def softmax_loops(z, axis=-1):
    z = np.moveaxis(np.array(z, dtype=float), axis, -1)
    out = np.empty_like(z)
    for index in np.ndindex(z.shape[:-1]):
        row = list(z[index])
        top = max(row)
        e = [np.exp(v - top) for v in row]
        out[index] = [v / sum(e) for v in e]
    return np.moveaxis(out, -1, axis)


def softmax_torch(z, axis=-1):
    import torch

    return torch.softmax(torch.as_tensor(z), dim=axis)


def softmax_scipy(z, axis=-1):
    from scipy.special import softmax

    return softmax(z, axis=axis)


def softmax_own_dtype(z, axis=-1):
    """Computes in the input's own dtype, float16 and float32 included."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@pytest.mark.parametrize("answer", [softmax_loops, softmax_torch, softmax_scipy,
                                    softmax_own_dtype])
def test_correct_answers_in_any_style_pass(answer):
    for seed in range(5):
        result = tutor.check("softmax", answer, seed=seed)
        assert result.passed, result.message


def test_a_list_returned_instead_of_an_array_passes():
    def softmax(z, axis=-1):
        return softmax_own_dtype(np.asarray(z), axis).tolist()

    assert tutor.check("softmax", softmax, seed=0)


def test_writing_into_the_input_is_named_mutates_input():
    def softmax(z, axis=-1):
        z -= z.max(axis=axis, keepdims=True)
        return softmax_own_dtype(z, axis)

    result = tutor.check("softmax", softmax, seed=0)
    assert result.misconception == "mutates_input"
    assert "it tried to write into the input" in result.message


def test_changing_a_torch_input_in_place_is_named_mutates_input():
    import torch

    def double(x):
        x.mul_(2)
        return x

    problem = Problem(id="double", chapter="00_test", signature="double(x)", statement="2x",
                      reference=lambda x: 2 * np.asarray(x), generate=lambda rng: [],
                      probes=lambda: [case(torch.ones(3))], hints=("a", "b"))
    result = checking.run(problem, double, seed=0)
    assert result.misconception == "mutates_input"


def test_returning_none_asks_about_return():
    def softmax(z, axis=-1):
        np.exp(z)

    result = tutor.check("softmax", softmax, seed=0)
    assert result.status == "failed"
    assert result.message == ("softmax returned None on softmax(z=[2., 1., 0.]). Did you forget "
                              "the `return` statement?")


def test_a_missing_function_is_not_attempted_with_the_signature():
    result = tutor.check("logit")
    assert result.status == "not_attempted"
    assert result.message == ("No function named logit was found. Define `def logit(p):` in this "
                              "notebook, or pass it: tutor.check('logit', my_function).")


def test_the_function_is_found_by_name_in_the_callers_namespace():
    def logit(p):
        p = np.asarray(p, dtype=float)
        return np.log(p / (1 - p))

    namespace = {"logit": logit, "tutor": tutor}
    exec("result = tutor.check('logit')", namespace)
    assert namespace["result"].passed


def test_a_value_that_is_not_a_function_fails_with_advice():
    result = tutor.check("softmax", [0.665, 0.245, 0.09])
    assert result.status == "failed"
    assert result.message == ("softmax should be a function, but it is a list. Define it with "
                              "`def softmax(z, axis=-1):`.")


def test_an_unknown_problem_suggests_close_names():
    result = tutor.check("sofmax")
    assert not result.passed
    assert result.message.startswith("There is no problem or quiz called 'sofmax'. Did you mean ")
    assert "'softmax'" in result.message


def test_an_endless_loop_hits_the_time_limit_and_names_the_problem():
    def softmax(z, axis=-1):
        while True:
            pass

    quick = dataclasses.replace(SOFTMAX, time_limit=0.5)
    result = checking.run(quick, softmax, seed=0)
    assert result.status == "timeout"
    assert result.message.startswith("softmax did not finish within the 0.5 s time limit on ")


def test_except_exception_cannot_swallow_the_time_limit():
    def softmax(z, axis=-1):
        while True:
            try:
                while True:
                    pass
            except Exception:
                pass

    quick = dataclasses.replace(SOFTMAX, time_limit=0.5)
    assert checking.run(quick, softmax, seed=0).status == "timeout"


def test_sys_exit_in_learner_code_is_an_error_not_an_exit():
    def softmax(z, axis=-1):
        sys.exit(3)

    result = tutor.check("softmax", softmax, seed=0)
    assert result.status == "error"
    assert result.message.startswith("SystemExit: 3 at line ")


def test_runtime_warnings_do_not_decide():
    def sigmoid(x):
        return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))  # overflows at -1000, value fine

    assert tutor.check("sigmoid", sigmoid, seed=0).passed


def test_the_same_seed_repeats_a_check():
    def softmax(z, axis=-1):
        return softmax_own_dtype(z, -1)

    first = tutor.check("softmax", softmax, seed=7)
    again = tutor.check("softmax", softmax, seed=first.seed)
    assert first.message == again.message and first.seed == 7


def test_undiagnosed_failure_shows_expected_and_got_on_the_smallest_input():
    def sigmoid(x):
        return np.tanh(np.asarray(x, dtype=float))

    result = tutor.check("sigmoid", sigmoid, seed=0)
    assert result.status == "failed" and result.misconception is None
    assert result.message.startswith("On sigmoid(x=2.) (a 0-d array), your sigmoid returned ")
    assert "instead of 0.8808" in result.message


class TestCompareArrays:
    tol = checking.Tolerance(1e-6, 1e-9)

    def test_shape_must_match_exactly(self):
        assert checking.compare_arrays(np.zeros(3), np.zeros((3, 1)), self.tol) == \
            "returned shape (3, 1) instead of (3,)"

    def test_nan_where_a_number_is_expected_is_reported(self):
        reason = checking.compare_arrays(np.array([0.5, 0.5]), np.array([0.5, np.nan]), self.tol)
        assert reason == ("has 1 of 2 entries wrong; at index 1 the answer is 0.5 but you have nan")

    def test_inf_must_match_inf(self):
        assert checking.compare_arrays(np.array([-np.inf]), np.array([-np.inf]), self.tol) is None
        assert checking.compare_arrays(np.array([-np.inf]), np.array([-1e30]), self.tol)

    def test_none_and_strings_are_reported(self):
        assert checking.compare_arrays(np.zeros(2), None, self.tol) == "returned None"
        assert "not numbers" in checking.compare_arrays(np.zeros(2), "0.5", self.tol)

    def test_integers_compare_exactly(self):
        assert checking.compare_arrays(np.array([1, 2]), np.array([1, 2]), self.tol) is None
        assert checking.compare_arrays(np.array([True, False]), np.array([1, 0]), self.tol) \
            is None
        assert checking.compare_arrays(np.array([1, 2]), np.array([1, 3]), self.tol)


def test_tolerance_follows_the_least_precise_dtype():
    c16 = case(np.zeros(3, dtype=np.float16))
    c64 = case(np.zeros(3))
    assert checking.tolerance_for(SOFTMAX, c16).rtol == 1e-2
    assert checking.tolerance_for(SOFTMAX, c64).rtol == 1e-6
    # A float32 answer on float64 input is held to float64's tolerance; only two wrong answers
    # compared with each other (to name a mistake) agree to float32's digits.
    assert checking.tolerance_for(SOFTMAX, c64, np.zeros(3, dtype=np.float32)).rtol == 1e-6
    assert checking.tolerance_for(SOFTMAX, c64, np.zeros(3, dtype=np.float32),
                                  agreeing=True).rtol == 1e-4


def test_tolerance_grows_with_the_size_of_the_inputs():
    small = checking.tolerance_for(SOFTMAX, case(np.ones(3, dtype=np.float32)))
    large = checking.tolerance_for(SOFTMAX, case(np.full(3, 1e4, dtype=np.float32)))
    assert large.atol > 1000 * small.atol


def test_inputs_handed_to_the_learner_are_read_only():
    seen = []

    def softmax(z, axis=-1):
        seen.append(z.flags.writeable)
        return softmax_own_dtype(z, axis)

    tutor.check("softmax", softmax, seed=0)
    assert seen and not any(seen)


@pytest.mark.parametrize("source, stub", [
    ("def f(x):\n    ...\n", True),
    ("def f(x):\n    '''Doc.'''\n    ...\n", True),
    ("def f(x):\n    pass\n", True),
    ("def f(x):\n    return x\n", False),
    ("def f(x):\n    ...\n    return x\n", False),
])
def test_stub_detection(source, stub, tmp_path):
    file = tmp_path / "answer.py"
    file.write_text(source)
    namespace = {}
    exec(compile(source, str(file), "exec"), namespace)
    assert checking.is_stub(namespace["f"]) is stub


def test_strict_mode_raises_on_a_failing_check(monkeypatch):
    monkeypatch.setenv("TUTOR_STRICT", "1")
    with pytest.raises(AssertionError, match="Not yet: sigmoid"):
        tutor.check("sigmoid", lambda x: np.asarray(x) * 0.0)
    assert tutor.check("sigmoid", registry.get("sigmoid").reference).passed


def test_a_twin_must_agree_everywhere_the_learner_is_wrong():
    """A learner whose mistake only partly looks like a twin gets no misconception name."""
    def softmax(z, axis=-1):
        z = np.asarray(z, dtype=float)
        if z.ndim == 1:  # right on vectors
            return softmax_own_dtype(z)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True) + 1.0  # wrong differently elsewhere

    result = tutor.check("softmax", softmax, seed=0)
    assert result.status == "failed" and result.misconception is None


def test_result_renders_as_text_and_html():
    result = Result("softmax", "failed", "It is wrong.", misconception="wrong_axis",
                    title="Reducing along the wrong axis", link="../notebooks/x.ipynb#A")
    text = str(result)
    assert text.splitlines()[0] == "Not yet: softmax: Reducing along the wrong axis"
    assert "Stuck? tutor.hint('softmax')" in text
    html = result._repr_html_()
    assert "tutor-failed" in html and "It is wrong." in html and "x.ipynb#A" in html
    assert not result and Result("softmax", "passed", "ok")


def test_import_tutor_loads_neither_torch_nor_matplotlib():
    code = ("import sys, tutor; tutor.check('softmax', lambda z, axis=-1: z); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'ipywidgets') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_twin_declarations_are_well_formed():
    for problem in registry.problems():
        assert all(isinstance(t, Twin) and callable(t.fn) for t in problem.twins)


def test_probabilities_keep_a_small_absolute_tolerance_whatever_the_logits():
    """Large float16 logits must not widen the tolerance on a probability into acceptance of a
    wrong one (1/3 where the answer is 0)."""
    big = case(np.array([1000.0, -1000.0, -1000.0], dtype=np.float16))
    expected = np.array([1.0, 0.0, 0.0])
    tol = checking.tolerance_for(SOFTMAX, big, np.zeros(3, np.float16), expected)
    assert checking.compare_arrays(expected, np.array([1.0, 1 / 3, 0.0]), tol) is not None
    assert tol.atol == 1e-3


def test_log_domain_outputs_get_room_for_cancellation_in_low_precision():
    z = np.array([3000.0, 2999.0], dtype=np.float32)
    tol = checking.tolerance_for(SOFTMAX, case(z), z, np.array([-0.3133, -1.3133]))
    assert tol.atol > 1e-3


def test_softmax_through_the_log_domain_passes_in_float32():
    def softmax(z, axis=-1):
        z = np.asarray(z)
        m = z.max(axis=axis, keepdims=True)
        lse = m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))
        return np.exp(z - lse)

    for seed in range(4):
        assert tutor.check("stable_softmax", softmax, seed=seed), seed


def test_an_error_raised_inside_numpy_points_at_the_learners_call():
    def sample_next_token(logits, temperature, rng):
        return int(rng.choice(len(logits), p=np.asarray(logits)))  # logits are not probabilities

    result = tutor.check("sample_next_token", sample_next_token, seed=0)
    assert result.status == "error"
    assert "of test_checking.py: `return int(rng.choice(len(logits), p=np.asarray(logits)))" in \
        result.message
    assert ".pyx" not in result.message


class _OwnStop(BaseException):
    pass


@pytest.mark.parametrize("error", [BaseException("stop"), GeneratorExit(), _OwnStop("halt")])
def test_any_base_exception_from_the_learner_is_an_error_not_a_crash(error):
    def softmax(z, axis=-1):
        raise error

    result = tutor.check("softmax", softmax, seed=0)
    assert result.status == "error"
    assert result.message.startswith(f"{type(error).__name__}")


def test_an_exception_without_a_message_is_named_without_a_dangling_colon():
    def softmax(z, axis=-1):
        sys.exit()

    result = tutor.check("softmax", softmax, seed=0)
    assert result.message.startswith("SystemExit at line ")


@pytest.mark.parametrize("handler", ["except:", "except BaseException:"])
def test_catching_the_time_limit_in_a_loop_still_ends_the_check(handler):
    source = ("import time\n"
              "def softmax(z, axis=-1):\n"
              "    while True:\n"
              "        try:\n"
              "            time.sleep(100)\n"
              f"        {handler}\n"
              "            pass\n")
    namespace = {}
    exec(compile(source, "<learner>", "exec"), namespace)
    quick = dataclasses.replace(SOFTMAX, time_limit=0.3)
    import signal

    before = signal.getsignal(signal.SIGALRM)
    result = checking.run(quick, namespace["softmax"], seed=0)
    assert result.status == "timeout"
    assert result.message.startswith("softmax did not finish within the 0.3 s time limit")
    assert signal.getsignal(signal.SIGALRM) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert sys.gettrace() is None or "coverage" in type(sys.gettrace()).__module__


def test_writing_through_a_tensor_that_shares_the_inputs_memory_is_mutates_input():
    def softmax(z, axis=-1):
        import torch

        t = torch.as_tensor(z)  # shares the read-only array's memory
        t -= t.amax(dim=axis, keepdim=True)
        return torch.softmax(t, dim=axis)

    assert tutor.check("softmax", softmax, seed=0).misconception == "mutates_input"


def test_making_the_input_writable_and_writing_to_it_is_mutates_input():
    def softmax(z, axis=-1):
        z.setflags(write=True)
        z -= z.max(axis=axis, keepdims=True)
        return softmax_own_dtype(z, axis)

    assert tutor.check("softmax", softmax, seed=0).misconception == "mutates_input"


def test_a_generator_function_is_told_to_return():
    def softmax(z, axis=-1):
        yield softmax_own_dtype(z, axis)

    result = tutor.check("softmax", softmax, seed=0)
    assert result.status == "failed"
    assert result.message.startswith("softmax uses `yield`, so calling it does not compute")


@pytest.mark.parametrize("value, said", [
    ((p for p in [0.665, 0.245, 0.09]), "returned a generator, not an array"),
    ({"p": [0.665, 0.245, 0.09]}, "returned a dict object, not an array of numbers"),
    ("[0.665 0.245 0.09]", "returned the text '[0.665 0.245 0.09]', not numbers"),
    (np.array([0.665, 0.245, 0.09]) + 0j, "returned complex numbers"),
    ([0.665, None, 0.09], "returned a list holding None, not only numbers"),
])
def test_a_value_that_is_not_an_array_of_numbers_is_described_plainly(value, said):
    result = tutor.check("softmax", lambda z, axis=-1: value, seed=0)
    assert result.status == "failed" and said in result.message
    assert "holding object" not in result.message and "<U" not in result.message


def test_a_wrong_signature_is_told_how_the_check_calls_the_function():
    def softmax(x):
        return softmax_own_dtype(x)

    result = tutor.check("softmax", softmax, seed=0)
    assert result.status == "error"
    assert result.message.endswith("The check calls your function like softmax(z, axis=-1); "
                                   "give it exactly these parameters.")


def test_an_error_inside_the_learners_code_gets_no_signature_advice():
    def softmax(z, axis=-1):
        return len(3)

    assert "The check calls" not in tutor.check("softmax", softmax, seed=0).message


def test_a_check_inside_the_checked_function_is_an_error_at_that_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))

    def softmax(z, axis=-1):
        out = softmax_own_dtype(z, axis)
        tutor.check("softmax")
        return out

    result = tutor.check("softmax", softmax, seed=0)
    assert result.status == "error"
    assert "tutor.check('softmax') ran inside the function that tutor.check('softmax') is " \
        "checking" in result.message
    assert '`tutor.check("softmax")`' in result.message
    from tutor import progress_store as store

    assert store.load()["problems"]["softmax"]["attempts"] == 1
    assert tutor.check("softmax", softmax_own_dtype, seed=0).passed  # nothing left behind


@pytest.mark.parametrize("seed", ["3", 1.5, -1, True])
def test_a_seed_that_is_not_a_whole_number_is_explained(seed):
    result = tutor.check("softmax", softmax_own_dtype, seed=seed)
    assert result.status == "failed"
    assert result.message.startswith(f"seed={seed!r} cannot repeat a check")


def test_a_numpy_integer_seed_repeats_a_check():
    result = tutor.check("softmax", softmax_own_dtype, seed=np.int64(3))
    assert result.passed and type(result.seed) is int and result.seed == 3


def test_the_function_given_instead_of_the_id_is_explained():
    def softmax(z, axis=-1):
        return softmax_loops(z, axis)

    result = tutor.check(softmax)
    assert result.status == "failed"
    assert result.message == ("tutor.check takes the problem's id, a string, first: "
                              "tutor.check('softmax', softmax).")
    assert "tutor.check('softmax', my_softmax)" in tutor.check(3).message


class _Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text")


def test_an_exception_that_cannot_be_printed_or_is_huge_still_gives_a_short_message():
    def softmax(z, axis=-1):
        raise _Unprintable()

    result = tutor.check("softmax", softmax, seed=0)
    assert result.status == "error" and result.message.startswith("_Unprintable at line ")

    def softmax(z, axis=-1):
        raise ValueError("x" * 100_000)

    result = tutor.check("softmax", softmax, seed=0)
    assert result.status == "error" and len(result.message) < 1000


def test_the_hint_pointer_in_html_is_escaped():
    html = tutor.check("<b>x</b>")._repr_html_()
    assert "<b>x</b>" not in html


def test_a_function_defined_under_a_near_name_is_suggested():
    namespace = {"tutor": tutor, "np": np}
    exec("def sofmax(z, axis=-1):\n    return z\n"
         "def stable_softmax(z, axis=-1):\n    return z\n"
         "typo = tutor.check('softmax')\n"
         "other = tutor.check('log_softmax')\n", namespace)
    assert namespace["typo"].status == "not_attempted"
    assert namespace["typo"].message == (
        "No function named softmax was found, but there is sofmax: rename it `softmax`, or pass "
        "it: tutor.check('softmax', sofmax).")
    assert "but there is" not in namespace["other"].message


def test_the_learners_numpy_print_options_do_not_change_messages():
    def softmax(z, axis=-1):
        return np.asarray(z) * 0

    plain = tutor.check("softmax", softmax, seed=0).message
    with np.printoptions(precision=1, floatmode="fixed", sign="+", legacy="1.13",
                         formatter={"float": lambda v: "X"}):
        assert tutor.check("softmax", softmax, seed=0).message == plain
    assert "z=[2., 1., 0.]" in plain


def test_changing_a_list_input_in_place_is_mutates_input_and_the_case_stays_whole():
    original = [3, 1, 2]

    def largest(xs):
        xs.sort()
        return xs[-1]

    problem = Problem(id="largest", chapter="00_test", signature="largest(xs)", statement="max",
                      reference=lambda xs: max(xs), generate=lambda rng: [],
                      probes=lambda: [case(original)], hints=("a", "b"))
    result = checking.run(problem, largest, seed=0)
    assert result.misconception == "mutates_input"
    assert original == [3, 1, 2] and "largest(xs=[3, 1, 2])" in result.message


def _shift_problem() -> Problem:
    return Problem(id="shift", chapter="00_start_here", signature="shift(z)", statement="",
                   reference=lambda z: z - 1.0,
                   generate=lambda rng: [case(np.zeros((2, 3))), case(np.zeros((3, 3)))],
                   twins=(Twin("missing_keepdims", lambda z: z - z.sum(axis=1)),))


def test_an_error_of_the_twins_type_for_another_reason_names_nothing():
    import math

    def shift(z):
        return z - math.log(0.0)          # ValueError: math domain error

    result = checking.run(_shift_problem(), shift, seed=0)
    assert result.status == "error" and result.misconception is None


def test_a_twin_that_raises_exactly_where_the_learner_raises_is_named():
    def shift(z):
        return z - np.sum(z, axis=1)      # the twin's mistake, raised on (2, 3), wrong on (3, 3)

    assert checking.run(_shift_problem(), shift, seed=0).misconception == "missing_keepdims"

    def shift_raising_only(z):
        if z.shape[0] != z.shape[1]:
            raise ValueError("expected a square matrix")
        return z - 1.0

    assert checking.run(_shift_problem(), shift_raising_only, seed=0).misconception is None


def test_expected_and_got_always_read_differently():
    from scipy import special

    def sigmoid(x):
        return special.expit(np.asarray(x).astype(np.float16))

    for seed in range(6):
        result = tutor.check("sigmoid", sigmoid, seed=seed)
        assert not result.passed
        answer, got = result.message.split(" the answer is ")[1].split(" but you have ")
        assert answer != got.rstrip(".")


def test_numbers_in_messages_keep_their_size():
    assert checking._fmt_pair(2.7541e-05, 0.0) == ("2.754e-05", "0")
    assert checking._fmt_pair(0.5594438, 0.5594) == ("0.559444", "0.5594")
    assert checking.fmt_value(np.array([[1000.0, 0.0, 3.0], [0.5, -1.0, 4.0]])) == \
        "[[1000., 0., 3.], [ 0.5, -1., 4.]]"
    assert checking.fmt_value(np.array([3.68e-45, 0.5])) == "[3.68e-45, 5.00e-01]"


def test_an_answer_cast_down_to_float16_is_held_to_its_inputs_precision():
    from scipy import special

    def softmax(z, axis=-1):
        return special.softmax(z, axis=axis).astype(np.float16)

    def softmax_torch_default(z, axis=-1):
        import torch

        return torch.softmax(torch.tensor(np.asarray(z), dtype=torch.float32), dim=axis)

    assert tutor.check("softmax", softmax, seed=0).status == "failed"
    assert tutor.check("softmax", softmax_torch_default, seed=0).passed


def test_torch_is_imported_before_the_clock_for_any_torch_import_in_the_answer():
    """A first torch import takes seconds; the time limit must not cut it halfway, whichever
    way the learner's function imports torch."""
    script = textwrap.dedent("""
        import sys
        from tutor import checking
        def answer(z):
            import torch.nn.functional as F
            return F.softmax(z, dim=-1)
        assert "torch" not in sys.modules
        checking._import_torch_first(answer)
        assert "torch" in sys.modules
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def _causal_softmax_written_in_place(scores):
    import torch

    T = scores.shape[-1]
    with torch.no_grad():  # no autograd error to give it away
        scores.masked_fill_(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return torch.softmax(scores, dim=-1)


def _cross_entropy_shifted_in_place(logits, targets):
    import torch

    with torch.no_grad():
        logits.sub_(logits.amax(dim=1, keepdim=True))
    lse = torch.log(torch.exp(logits).sum(dim=1))
    return (lse - logits[torch.arange(len(logits)), targets]).mean()


@pytest.mark.parametrize(("problem_id", "answer"), [
    ("torch_causal_softmax", _causal_softmax_written_in_place),
    ("torch_cross_entropy", _cross_entropy_shifted_in_place),
])
def test_writing_into_a_torch_input_is_named_even_under_no_grad(problem_id, answer):
    """The tensors a torch problem hands the learner are made by its own call, so the engine's
    comparison of the case's arrays cannot see them change: the call compares them itself."""
    for seed in range(3):
        result = tutor.check(problem_id, answer, seed=seed)
        assert result.misconception == "mutates_input", result.message
