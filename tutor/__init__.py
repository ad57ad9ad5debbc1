"""tutor: checks, hints and solutions for the course "Softmax, from logits to attention".

    import tutor
    tutor.check("softmax")            # finds your function named softmax in the notebook
    tutor.check("softmax", my_fn)     # or takes it; a value for quizzes
    tutor.hint("softmax")             # the next hint; tutor.hint("softmax", 2) a given level
    tutor.solution("softmax")         # the model answer (asks first if you have not tried)
    tutor.progress()                  # what you have passed, tried and not touched
    tutor.problems()                  # the problem ids
    tutor.quiz("q02_shift")           # a quiz with feedback per choice

Set TUTOR_STRICT=1 to make a failing check raise AssertionError (how CI proves the solutions).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from typing import Any

from tutor.classroom import join, leave
from tutor.classroom import record as _share
from tutor.result import Note, Result

__all__ = ["check", "hint", "solution", "progress", "problems", "quiz", "join", "leave", "Result"]


def check(problem: str, answer: Any = None, *, seed: int | None = None) -> Result:
    """Check your answer to `problem` and return a `Result` (truthy when passed).

    For a coding problem, `answer` is your function; without it, the function named like the
    problem is looked up in your notebook. For a quiz, `answer` is a letter or a number.
    `seed` repeats the random inputs of an earlier check (its `result.seed`).
    """
    from tutor import checking, registry
    from tutor import progress_store as store
    from tutor.problem import Quiz

    if not isinstance(problem, str):
        name = getattr(problem, "__name__", None)
        example = f"tutor.check({name!r}, {name})" if name in registry.all_items() else \
            "tutor.check('softmax', my_softmax)"
        return _strict(Result(name or type(problem).__name__, "failed",
                              f"tutor.check takes the problem's id, a string, first: {example}.",
                              next_step=""))
    try:
        item = registry.get(problem)
    except KeyError as e:
        result = Result(str(problem), "failed", e.args[0], next_step="")
        return _strict(result)
    if seed is not None and (isinstance(seed, bool) or not hasattr(seed, "__index__")
                             or seed.__index__() < 0):
        return _strict(Result(item.id, "failed", f"seed={seed!r} cannot repeat a check: give "
                              "the whole number ≥ 0 that an earlier result shows as its .seed, "
                              "or leave seed out.", next_step=""))
    seed = None if seed is None else seed.__index__()
    if isinstance(item, Quiz):
        from tutor.quizzes import check_answer

        result = check_answer(item, answer)
    else:
        fn = answer if answer is not None else checking.find_function(item.name)
        result = checking.run(item, fn, seed=seed)
        close = checking.similar_names(item.name) if fn is None else []
        if close:
            result = dataclasses.replace(result, message=(
                f"No function named {item.name} was found, but there is {' and '.join(close)}: "
                f"rename it `{item.name}`, or pass it: tutor.check({item.id!r}, {close[0]})."))
    store.record_check(item.id, result.status, result.misconception)
    _share(result)  # to the workshop's dashboard, in the background, if joined
    return _strict(result)


def _strict(result: Result) -> Result:
    if os.environ.get("TUTOR_STRICT") == "1" and not result.passed:
        raise AssertionError(str(result))
    return result


def _find(id: str):
    """The problem or quiz `id`, or a `Note` saying there is none (and what was meant)."""
    from tutor import registry

    if not isinstance(id, str):
        name = getattr(id, "__name__", None)
        name = name if name in registry.all_items() else "softmax"
        return Note(f"Give the problem's id as a string, e.g. {name!r}; tutor.problems() lists "
                     "them.")
    try:
        return registry.get(id)
    except KeyError as e:
        return Note(e.args[0])


def _level(level: Any) -> int | None:
    """A hint level as a whole number ("2" and 2.0 too), or None when it is not one."""
    if isinstance(level, bool):
        return None
    if isinstance(level, str):
        level = level.strip()
        return int(level) if level.isdigit() else None
    if hasattr(level, "__index__"):
        return level.__index__()
    if isinstance(level, float) and level.is_integer():
        return int(level)
    return None


def hint(problem: str, level: int | None = None) -> Note:
    """The next hint for `problem` (or hint number `level`); the last is nearly the answer."""
    from tutor import misconceptions
    from tutor import progress_store as store
    from tutor.problem import Quiz

    item = _find(problem)
    if isinstance(item, Note):
        return item
    if isinstance(item, Quiz):
        return Note(f"**Hint for {item.id}:** reread the question; each wrong choice explains "
                     "itself when you pick it.")
    entry = store.load()["problems"].get(item.id, {})
    n = len(item.hints)
    level = min(entry.get("hints_seen", 0) + 1, n) if level is None else _level(level)
    if level is None or not 1 <= level <= n:
        return Note(f"{item.id} has hints 1 to {n}: `tutor.hint({item.id!r}, 1)` to "
                     f"`tutor.hint({item.id!r}, {n})`, or `tutor.hint({item.id!r})` for the next "
                     "one.")
    store.record_hint(item.id, level)
    text = f"**Hint {level} of {n} for `{item.id}`:** {item.hints[level - 1]}"
    seen = [m for m in entry.get("misconceptions") or [] if m in misconceptions.CATALOGUE]
    if seen and level == 1:
        m = misconceptions.get(seen[-1])
        text += f"\n\nYour last failing check looked like *{m.name}*: {m.explanation}"
    if level < n:
        text += f"\n\nMore: `tutor.hint({item.id!r})`"
    return Note(text)


def solution(problem: str, confirm: bool = False) -> Note:
    """The model answer to `problem`. Before your first attempt it asks you to confirm."""
    from tutor import progress_store as store
    from tutor.problem import Quiz

    item = _find(problem)
    if isinstance(item, Note):
        return item
    entry = store.load()["problems"].get(item.id, {})
    if not entry.get("attempts") and not confirm:
        return Note(f"You have not tried `{item.id}` yet. Trying first is how it sticks; a hint "
                     f"may be enough: `tutor.hint({item.id!r})`. To see the answer anyway, run "
                     f"`tutor.solution({item.id!r}, confirm=True)`.")
    store.record_solution(item.id)
    if isinstance(item, Quiz):
        if item.choices:
            right = [f"{chr(97 + i)}) {c.text}" for i, c in enumerate(item.choices) if c.correct]
            return Note(f"**{item.id}:** {'; '.join(right)}. {item.explanation}")
        return Note(f"**{item.id}:** {item.answer:g}. {item.explanation}")
    return Note(f"**Model answer for `{item.id}`**\n\n```python\n{_model_answer(item)}```")


def _model_answer(problem) -> str:
    """The solutions notebook's cell that defines the function (its markers dropped), or the
    reference's source when there is no such notebook (a reference composed from shared blocks
    has no source of its own: then the last hint, which is nearly the answer)."""
    import json
    from pathlib import Path

    notebook = Path(__file__).resolve().parent.parent / "solutions" / f"{problem.chapter}.ipynb"
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        cells = []
    for cell in cells:
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "code" and f"def {problem.name}(" in source:
            lines = [line for line in source.split("\n")
                     if line.strip() not in ("# BEGIN SOLUTION", "# END SOLUTION")]
            return "\n".join(lines).rstrip() + "\n"
    try:
        return inspect.getsource(getattr(problem.reference, "func", problem.reference))
    except (OSError, TypeError):
        return f"# {problem.hints[-1]}\n" if problem.hints else "# (no model answer)\n"


def progress():
    """A table of every problem and quiz: passed, tried or untouched, per chapter."""
    from tutor.report import ProgressTable

    return ProgressTable.build()


def quiz(id: str):
    """Show quiz `id` as a widget; your answer is checked and counted in progress."""
    from tutor import progress_store as store
    from tutor.problem import Quiz
    from tutor.quizzes import QuizWidget

    item = _find(id)
    if isinstance(item, Note):
        return item
    if not isinstance(item, Quiz):
        return Note(f"{item.id!r} is a coding problem, not a quiz; check it with "
                     f"tutor.check({item.id!r}).")
    def recorded(result: Result) -> None:
        store.record_check(item.id, result.status, result.misconception)
        _share(result)  # a quiz answered in its widget reaches the workshop's dashboard too

    return QuizWidget(item, on_result=recorded)


def problems() -> list[str]:
    """The ids of all practice problems, in chapter order."""
    from tutor import registry

    return [p.id for p in registry.problems()]
