"""Quizzes: multiple choice with feedback per choice, or a number within a tolerance.

`check_answer` decides; `QuizWidget` shows the question with a "Check" button and records the
outcome in progress, exactly as `tutor.check(quiz_id, answer)` does.
"""

from __future__ import annotations

import html
import math
import string
from typing import Any

from tutor.problem import Quiz
from tutor.result import Result

LETTERS = string.ascii_lowercase


def check_answer(quiz: Quiz, answer: Any) -> Result:
    """The verdict on `answer`: a letter ("b") or the choice's text, or a number."""
    if answer is None or answer is Ellipsis:
        return Result(quiz.id, "not_attempted",
                      "No answer yet: " + ("pick a letter, e.g. tutor.check("
                                           f"{quiz.id!r}, 'a')." if quiz.choices else
                                           f"give a number, e.g. tutor.check({quiz.id!r}, 0.5)."))
    return _choice(quiz, answer) if quiz.choices else _numeric(quiz, answer)


def _choice(quiz: Quiz, answer: Any) -> Result:
    index = None
    if isinstance(answer, str):
        key = answer.strip().lower().rstrip(").")
        if len(key) == 1 and key in LETTERS[: len(quiz.choices)]:
            index = LETTERS.index(key)
        else:
            texts = [c.text.strip().lower() for c in quiz.choices]
            index = texts.index(answer.strip().lower()) if answer.strip().lower() in texts \
                else None
    if index is None:
        valid = ", ".join(repr(c) for c in LETTERS[: len(quiz.choices)])
        return Result(quiz.id, "failed", f"{answer!r} is not one of the choices; answer with "
                      f"one of {valid}.")
    choice = quiz.choices[index]
    message = choice.feedback
    if choice.correct and quiz.explanation:
        message = f"{message} {quiz.explanation}".strip()
    return Result(quiz.id, "passed" if choice.correct else "failed", message)


def _numeric(quiz: Quiz, answer: Any) -> Result:
    try:
        value = _number(answer)
    except (TypeError, ValueError):
        return Result(quiz.id, "failed", f"The answer should be a number, not {answer!r}.")
    if math.isfinite(value) and abs(value - quiz.answer) <= quiz.tolerance:
        return Result(quiz.id, "passed", f"Right: {value:g}. {quiz.explanation}".strip())
    for wrong, feedback in quiz.wrong_answers:
        if math.isfinite(value) and abs(value - wrong) <= quiz.tolerance:
            return Result(quiz.id, "failed", feedback)
    if not math.isfinite(value):
        return Result(quiz.id, "failed", f"{value} is not a finite number.")
    direction = "high" if value > quiz.answer else "low"
    return Result(quiz.id, "failed", f"{value:g} is too {direction}. Work it out again with the "
                  "formula from the lesson.")


def _number(answer: Any) -> float:
    """The answer as a float: a number, a numeric string, or a one-element list or array."""
    if isinstance(answer, bool):
        raise TypeError("a truth value is not a number")
    if getattr(answer, "size", None) == 1 and hasattr(answer, "item"):  # numpy
        answer = answer.item()
    elif isinstance(answer, (list, tuple)) and len(answer) == 1:
        answer = answer[0]
    return float(answer)


class QuizWidget:
    """The quiz as ipywidgets: question, choices (or a number box), a Check button, feedback."""

    def __init__(self, quiz: Quiz, on_result=None):
        import ipywidgets as w

        self.quiz = quiz
        self._on_result = on_result
        self.question = w.HTML(f"<b>{html.escape(quiz.question)}</b>")
        if quiz.choices:
            self.input = w.RadioButtons(
                options=[(f"{LETTERS[i]}) {c.text}", LETTERS[i])
                         for i, c in enumerate(quiz.choices)],
                value=None, layout=w.Layout(width="auto"))
        else:
            self.input = w.FloatText(value=None, description="Answer:")
        # A number box shows 0 before anything is typed: that 0 is no answer.
        self.typed = bool(quiz.choices)
        self.input.observe(lambda _: setattr(self, "typed", True), names="value")
        self.button = w.Button(description="Check", button_style="primary")
        self.feedback = w.HTML("")
        self.result: Result | None = None
        self.button.on_click(lambda _: self.submit(self.input.value if self.typed else None))
        self.box = w.VBox([self.question, self.input, self.button, self.feedback],
                          layout=w.Layout(border="1px solid #ccc", padding="8px"))
        self.box.add_class("tutor-quiz")

    def submit(self, answer: Any) -> Result:
        """Check `answer` as if typed in the widget; shows and returns the result."""
        self.result = check_answer(self.quiz, answer)
        if self._on_result is not None:
            self._on_result(self.result)
        self.feedback.value = self.result._repr_html_()
        return self.result

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)
