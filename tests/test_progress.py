"""The progress file: atomic, locked, forgiving."""

from __future__ import annotations

import json
import multiprocessing
import os
import warnings

import pytest

import tutor
from tutor import progress_store as store


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
    reference = tutor.problems  # noqa: F841 - the registry is loaded through the API
    from tutor import problems as registry

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
