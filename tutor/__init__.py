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

import inspect
import os
from typing import Any

from tutor import problems  # the registry; `tutor.problems()` lists the problem ids
from tutor.result import Result

__all__ = ["check", "hint", "solution", "progress", "problems", "quiz", "Result"]


def check(problem: str, answer: Any = None, *, seed: int | None = None) -> Result:
    """Check your answer to `problem` and return a `Result` (truthy when passed).

    For a coding problem, `answer` is your function; without it, the function named like the
    problem is looked up in your notebook. For a quiz, `answer` is a letter or a number.
    `seed` repeats the random inputs of an earlier check (its `result.seed`).
    """
    from tutor import checking
    from tutor import problems as registry
    from tutor import progress_store as store
    from tutor.problem import Quiz

    try:
        item = registry.get(problem)
    except KeyError as e:
        result = Result(str(problem), "failed", e.args[0])
        return _strict(result)
    if isinstance(item, Quiz):
        from tutor.quizzes import check_answer

        result = check_answer(item, answer)
    else:
        fn = answer if answer is not None else checking.find_function(item.name)
        result = checking.run(item, fn, seed=seed)
    store.record_check(item.id, result.status, result.misconception)
    return _strict(result)


def _strict(result: Result) -> Result:
    if os.environ.get("TUTOR_STRICT") == "1" and not result.passed:
        raise AssertionError(str(result))
    return result


class _Text:
    """Markdown in a notebook, plain text in a console."""

    def __init__(self, markdown: str):
        self.markdown = markdown

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return self.markdown

    __str__ = __repr__


def hint(problem: str, level: int | None = None) -> _Text:
    """The next hint for `problem` (or hint number `level`); the last is nearly the answer."""
    from tutor import misconceptions
    from tutor import problems as registry
    from tutor import progress_store as store
    from tutor.problem import Quiz

    item = registry.get(problem)
    if isinstance(item, Quiz):
        return _Text(f"**Hint for {item.id}:** reread the question; each wrong choice explains "
                     "itself when you pick it.")
    entry = store.load()["problems"].get(item.id, {})
    n = len(item.hints)
    if level is None:
        level = min(entry.get("hints_seen", 0) + 1, n)
    if not 1 <= level <= n:
        return _Text(f"{item.id} has hints 1 to {n}.")
    store.record_hint(item.id, level)
    text = f"**Hint {level} of {n} for `{item.id}`:** {item.hints[level - 1]}"
    seen = entry.get("misconceptions") or []
    if seen and level == 1:
        m = misconceptions.get(seen[-1])
        text += f"\n\nYour last failing check looked like *{m.name}*: {m.explanation}"
    if level < n:
        text += f"\n\nMore: `tutor.hint({item.id!r})`"
    return _Text(text)


def solution(problem: str, confirm: bool = False) -> _Text:
    """The model answer to `problem`. Before your first attempt it asks you to confirm."""
    from tutor import problems as registry
    from tutor import progress_store as store
    from tutor.problem import Quiz

    item = registry.get(problem)
    entry = store.load()["problems"].get(item.id, {})
    if not entry.get("attempts") and not confirm:
        return _Text(f"You have not tried `{item.id}` yet. Trying first is how it sticks; a hint "
                     f"may be enough: `tutor.hint({item.id!r})`. To see the answer anyway, run "
                     f"`tutor.solution({item.id!r}, confirm=True)`.")
    store.record_solution(item.id)
    if isinstance(item, Quiz):
        if item.choices:
            right = [f"{chr(97 + i)}) {c.text}" for i, c in enumerate(item.choices) if c.correct]
            return _Text(f"**{item.id}:** {'; '.join(right)}. {item.explanation}")
        return _Text(f"**{item.id}:** {item.answer:g}. {item.explanation}")
    source = inspect.getsource(item.reference)
    return _Text(f"**Model answer for `{item.id}`**\n\n```python\n{source}```")


def progress():
    """A table of every problem and quiz: passed, tried or untouched, per chapter."""
    from tutor.report import ProgressTable

    return ProgressTable.build()


def quiz(id: str):
    """Show quiz `id` as a widget; your answer is checked and counted in progress."""
    from tutor import problems as registry
    from tutor import progress_store as store
    from tutor.problem import Quiz
    from tutor.quizzes import QuizWidget

    item = registry.get(id)
    if not isinstance(item, Quiz):
        raise ValueError(f"{id!r} is a coding problem; check it with tutor.check({id!r}).")
    return QuizWidget(item, on_result=lambda r: store.record_check(item.id, r.status,
                                                                   r.misconception))
