"""The progress file: atomic, locked, forgiving."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import warnings

import numpy as np
import pytest

import tutor
from tutor import progress_store as store
from tutor.problem import Quiz
from tutor.quizzes import check_answer


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_check_is_recorded_with_status_and_misconception(home):
    tutor.check("sigmoid", lambda x: 1 / (1 + __import__("numpy").exp(x)), seed=0)
    entry = json.loads((home / "progress.json").read_text())["problems"]["sigmoid"]
    assert entry["attempts"] == 1
    assert entry["last_status"] == "failed"
    assert entry["misconceptions"] == ["sigmoid_sign"]
    assert "first_pass" not in entry


def test_first_pass_time_is_kept_after_later_failures(home):
    from tutor import registry

    tutor.check("logit", registry.get("logit").reference)
    first = store.load()["problems"]["logit"]["first_pass"]
    tutor.check("logit", lambda p: p)
    entry = store.load()["problems"]["logit"]
    assert entry["first_pass"] == first and entry["attempts"] == 2
    assert store.state(entry) == "passed"


def test_not_attempted_is_not_an_attempt(home):
    def logit(p):
        ...

    tutor.check("logit", logit)
    assert store.load()["problems"]["logit"].get("attempts", 0) == 0


def _hammer(home: str, worker: int, n: int) -> None:
    os.environ["TUTOR_HOME"] = home
    for _ in range(n):
        store.record_check(f"problem{worker % 2}", "failed")
        store.record_check("shared", "failed")


def test_two_writers_at_once_lose_nothing(home):
    n = 60
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hammer, args=(str(home), w, n)) for w in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    problems = store.load()["problems"]
    assert problems["shared"]["attempts"] == 2 * n
    assert problems["problem0"]["attempts"] == n
    assert problems["problem1"]["attempts"] == n
    assert not list(home.glob(".progress-*.tmp")), "no temporary file is left behind"


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", '{"problems": []}',
                                     '{"problems": {"x": 3}}', "\x00\xff"])
def test_a_corrupt_file_is_moved_aside_with_a_warning(home, content):
    home.mkdir(parents=True)
    (home / "progress.json").write_text(content, encoding="latin-1")
    with pytest.warns(UserWarning, match="could not be read; it was moved to progress.json"):
        tutor.check("logit", lambda p: p, seed=0)
    aside = list(home.glob("progress.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text(encoding="latin-1") == content
    assert store.load()["problems"]["logit"]["attempts"] == 1


def test_an_unwritable_home_warns_and_the_check_still_works(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TUTOR_HOME", str(blocker / "home"))
    monkeypatch.setattr(store, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tutor.check("logit", lambda p: p, seed=0)
    assert result.status == "failed"
    assert any("progress cannot be saved" in str(w.message) for w in caught)


def test_hints_advance_one_level_at_a_time_and_stop_at_the_last():
    first = tutor.hint("softmax")
    assert first.markdown.startswith("**Hint 1 of 3 for `softmax`:**")
    assert tutor.hint("softmax").markdown.startswith("**Hint 2 of 3")
    assert tutor.hint("softmax").markdown.startswith("**Hint 3 of 3")
    assert tutor.hint("softmax").markdown.startswith("**Hint 3 of 3")
    assert tutor.hint("softmax", 1).markdown.startswith("**Hint 1 of 3")
    assert store.load()["problems"]["softmax"]["hints_seen"] == 3


def test_the_first_hint_after_a_diagnosed_failure_names_the_mistake():
    tutor.check("logit", lambda p: __import__("numpy").log((1 - p) / p), seed=0)
    assert "looked like *Odds upside down*" in tutor.hint("logit").markdown


def test_solution_asks_before_any_attempt_and_shows_after():
    gate = tutor.solution("logit")
    assert gate.markdown.startswith("You have not tried `logit` yet.")
    assert "def logit(p):" in tutor.solution("logit", confirm=True).markdown
    tutor.check("logit", lambda p: p, seed=0)
    assert "def logit(p):" in tutor.solution("logit").markdown
    assert store.load()["problems"]["logit"]["solution_seen"] is True


def test_progress_table_counts_points_and_states():
    tutor.check("q02_shift", "a")
    tutor.check("logit", lambda p: p, seed=0)
    table = tutor.progress()
    states = {r.id: r.state for r in table.rows}
    assert states["q02_shift"] == "passed" and states["logit"] == "tried"
    assert states["softmax"] == "untouched"
    text = str(table)
    assert text.startswith("Progress: 1 of ")
    assert "q02_shift" in table._repr_html_()


def test_quiz_widget_shows_feedback_and_records_progress():
    widget = tutor.quiz("q02_shift")
    widget.input.value = "b"
    widget.button.click()
    assert "tutor-failed" in widget.feedback.value
    assert "Adding a constant does not change" in widget.feedback.value
    widget.submit("a")
    assert widget.result.passed
    assert store.load()["problems"]["q02_shift"]["attempts"] == 2


@pytest.mark.parametrize("level, shown", [("2", 2), (2.0, 2), (np.int64(3), 3)])
def test_a_hint_level_given_as_text_or_a_whole_float_is_understood(level, shown):
    assert tutor.hint("softmax", level).markdown.startswith(f"**Hint {shown} of 3")
    assert store.load()["problems"]["softmax"]["hints_seen"] == shown


@pytest.mark.parametrize("level", [0, -1, 99, 1.5, True, "two", [2]])
def test_a_hint_level_out_of_range_or_not_a_number_is_explained_and_not_saved(level):
    text = tutor.hint("softmax", level).markdown
    assert text.startswith("softmax has hints 1 to 3: `tutor.hint('softmax', 1)`")
    assert "softmax" not in store.load()["problems"]
    assert tutor.hint("softmax").markdown.startswith("**Hint 1 of 3")


@pytest.mark.parametrize("ask", [tutor.hint, tutor.solution, tutor.quiz])
def test_an_unknown_id_is_a_message_with_suggestions_not_a_traceback(ask):
    assert ask("sofmax").markdown.startswith("There is no problem or quiz called 'sofmax'. Did "
                                             "you mean 'softmax'")
    assert "as a string" in ask(print).markdown


def test_a_coding_problem_given_to_quiz_is_explained():
    assert tutor.quiz("softmax").markdown.startswith("'softmax' is a coding problem, not a quiz")


def test_entries_with_values_of_the_wrong_type_are_dropped_and_the_original_kept(home):
    home.mkdir(parents=True)
    content = json.dumps({"version": 1, "problems": {
        "logit": {"attempts": "3", "hints_seen": None, "misconceptions": "odds_inverted",
                  "first_pass": 5},
        "softmax": {"attempts": 2, "first_pass": "2025-01-01T00:00:00+00:00",
                    "hints_seen": float("nan")}}})
    (home / "progress.json").write_text(content)
    with pytest.warns(UserWarning, match="had values of the wrong type and were dropped"):
        result = tutor.check("logit", lambda p: p, seed=0)
    assert result.status == "failed"
    problems = store.load()["problems"]
    assert problems["logit"]["attempts"] == 1
    assert problems["softmax"] == {"attempts": 2, "first_pass": "2025-01-01T00:00:00+00:00"}
    assert tutor.hint("logit").markdown.startswith("**Hint 1 of")
    (aside,) = home.glob("progress.json.corrupt-*")
    assert aside.read_text() == content


def test_a_misconception_no_longer_in_the_catalogue_does_not_break_hints(home):
    home.mkdir(parents=True)
    (home / "progress.json").write_text(json.dumps({"version": 1, "problems": {
        "logit": {"attempts": 1, "misconceptions": ["renamed_long_ago"]}}}))
    assert tutor.hint("logit").markdown.startswith("**Hint 1 of")


def test_a_home_that_cannot_be_locked_still_shows_the_progress_it_holds(home, monkeypatch):
    home.mkdir(parents=True)
    (home / "progress.json").write_text(json.dumps({"version": 1, "problems": {
        "logit": {"attempts": 2, "first_pass": "2025-01-01T00:00:00+00:00"}}}))

    def read_only_folder():
        raise PermissionError(13, "Permission denied", str(home / "progress.json.lock"))

    monkeypatch.setattr(store, "_locked", read_only_folder)
    monkeypatch.setattr(store, "_warned", False)
    with pytest.warns(UserWarning, match="progress cannot be saved"):
        states = {r.id: r.state for r in tutor.progress().rows}
    assert states["logit"] == "passed"
    assert "def logit(p):" in tutor.solution("logit").markdown


def test_two_corrupt_files_in_the_same_second_are_both_kept(home):
    home.mkdir(parents=True)
    for content in ("{first", "{second"):
        (home / "progress.json").write_text(content)
        with pytest.warns(UserWarning, match="could not be read"):
            store.load()
    kept = sorted(p.read_text() for p in home.glob("progress.json.corrupt-*"))
    assert kept == ["{first", "{second"]


def test_a_home_that_is_a_file_is_named_as_such(tmp_path, monkeypatch):
    blocker = tmp_path / "home"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TUTOR_HOME", str(blocker))
    monkeypatch.setattr(store, "_warned", False)
    with pytest.warns(UserWarning, match=r"\(it is a file, not a folder\)"):
        tutor.check("logit", lambda p: p, seed=0)


NUMERIC = Quiz(id="q00_odds", chapter="00_test", question="p for odds 3?", answer=0.75)


@pytest.mark.parametrize("answer", [[0.75], np.array([0.75]), np.array(0.75), "0.75"])
def test_a_numeric_quiz_takes_a_one_element_list_or_array(answer):
    assert check_answer(NUMERIC, answer).passed


def test_a_numeric_quiz_does_not_take_true_for_one():
    result = check_answer(dataclasses.replace(NUMERIC, answer=1.0), True)
    assert result.message == "The answer should be a number, not True."


def test_a_number_quiz_checked_before_anything_is_typed_is_not_an_answer_of_zero():
    from tutor.quizzes import QuizWidget

    quiz = dataclasses.replace(NUMERIC, wrong_answers=((0.0, "A known slip."),))
    widget = QuizWidget(quiz)
    widget.button.click()
    assert widget.result.status == "not_attempted"
    widget.input.value = 1e-9
    widget.button.click()
    assert widget.result.message == "A known slip."


def test_the_progress_table_counts_one_attempt_in_the_singular():
    tutor.check("logit", lambda p: p, seed=0)
    line = next(x for x in str(tutor.progress()).splitlines() if x.strip().startswith("logit "))
    assert line.endswith("(1 attempt)")
    tutor.check("logit", lambda p: p, seed=0)
    line = next(x for x in str(tutor.progress()).splitlines() if x.strip().startswith("logit "))
    assert line.endswith("(2 attempts)")
