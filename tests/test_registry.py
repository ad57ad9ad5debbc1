"""Checker self-tests over the whole registry: every reference passes its own check, every buggy
twin fails it with its own misconception, and every problem and quiz is complete."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import tutor
from tutor import checking, misconceptions, registry
from tutor.problem import Problem, Quiz

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = registry.problems()
QUIZZES = registry.quizzes()
TWINS = [(p, i, t) for p in PROBLEMS for i, t in enumerate(p.twins)]


def _id(x):
    return x.id if isinstance(x, (Problem, Quiz)) else None


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_passes_its_own_check(problem, seed):
    result = checking.run(problem, problem.reference, seed=seed)
    assert result.status == "passed", result.message


@pytest.mark.parametrize(("problem", "index", "twin"), TWINS,
                         ids=[f"{p.id}-{t.misconception}-{i}" for p, i, t in TWINS])
def test_every_twin_fails_with_its_own_misconception(problem, index, twin):
    for seed in (0, 1):
        result = checking.run(problem, twin.fn, seed=seed)
        assert result.status == "failed", result.message
        assert result.misconception == twin.misconception, result.message
        entry = misconceptions.get(twin.misconception)
        assert result.message.startswith(entry.explanation)
        assert result.link == entry.link


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
def test_problem_is_complete(problem):
    assert problem.id == problem.name, "the function is named like the problem"
    assert problem.chapter[:2].isdigit()
    assert len(problem.hints) >= 2
    assert problem.statement.strip()
    assert problem.difficulty in {"easy", "medium", "hard"}
    assert problem.points >= 1
    for twin in problem.twins:
        misconceptions.get(twin.misconception)


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
def test_a_stub_is_not_attempted(problem):
    namespace = {}
    params = problem.signature[problem.signature.index("("):]
    exec(f"def {problem.name}{params}:\n    '''Your answer.'''\n    ...\n", namespace)
    result = checking.run(problem, namespace[problem.name])
    assert result.status == "not_attempted"
    assert result.message == (f"{problem.name} is still a stub (`...`). Write its body, then run "
                              "this check again.")


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
def test_a_learner_exception_names_the_learners_line(problem):
    def answer(*args, **kwargs):
        scale = 0
        return 1 / scale

    result = checking.run(problem, answer, seed=0)
    assert result.status == "error"
    assert result.message.startswith("ZeroDivisionError: division by zero at line ")
    assert "test_registry.py: `return 1 / scale`" in result.message
    assert "checking.py" not in result.message


@pytest.mark.parametrize("problem", PROBLEMS, ids=_id)
def test_different_seeds_draw_different_inputs(problem):
    """A learner who pastes back an expected value from one check fails the next."""
    first = [repr(c) for c in checking.cases_for(problem, 1)]
    again = [repr(c) for c in checking.cases_for(problem, 1)]
    other = [repr(c) for c in checking.cases_for(problem, 2)]
    assert first == again
    assert first != other


@pytest.mark.parametrize("quiz", QUIZZES, ids=_id)
def test_quiz_right_answer_passes_and_wrong_ones_explain_themselves(quiz):
    assert quiz.question.strip()
    if quiz.choices:
        assert sum(c.correct for c in quiz.choices) >= 1
        for letter, choice in zip("abcdefgh", quiz.choices, strict=False):
            result = tutor.check(quiz.id, letter)
            assert result.passed == choice.correct
            assert result.message.startswith(choice.feedback)
    else:
        assert tutor.check(quiz.id, quiz.answer).passed
        for value, feedback in quiz.wrong_answers:
            result = tutor.check(quiz.id, value)
            assert not result.passed and result.message == feedback


def test_every_chapter_has_a_quiz():
    chapters = {p.chapter for p in PROBLEMS}
    assert chapters <= {q.chapter for q in QUIZZES}


def _headings(notebook: Path) -> set[str]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    found = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            found |= {m.strip() for m in re.findall(r"^#+\s+(.+)$", text, flags=re.M)}
    return found


USED = sorted({t.misconception for p in PROBLEMS for t in p.twins} | {"mutates_input"})


@pytest.mark.parametrize("id", USED)
def test_misconception_links_point_at_a_lesson_heading(id):
    entry = misconceptions.get(id)
    notebook = ROOT / "notebooks" / f"{entry.lesson}.ipynb"
    assert notebook.exists(), f"{id} points at {notebook.name}, which does not exist"
    assert entry.section in _headings(notebook), f"{notebook.name} has no heading {entry.section!r}"


def test_practice_notebooks_have_easy_medium_and_hard_problems():
    for chapter in sorted({p.chapter for p in PROBLEMS}):
        levels = {p.difficulty for p in PROBLEMS if p.chapter == chapter}
        assert levels == {"easy", "medium", "hard"}, f"{chapter} has only {sorted(levels)}"


def test_every_problem_has_a_cell_in_its_practice_notebook():
    for problem in PROBLEMS:
        notebook = ROOT / "solutions" / f"{problem.chapter}.ipynb"
        assert notebook.exists(), f"no practice notebook for {problem.chapter}"
        sources = ["".join(c["source"]) for c in
                   json.loads(notebook.read_text(encoding="utf-8"))["cells"]]
        assert any(f"def {problem.name}(" in s for s in sources), problem.id
        assert any(f'tutor.check("{problem.id}"' in s for s in sources), problem.id
