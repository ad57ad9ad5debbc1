"""How a problem or a quiz is declared: plain data that the checking engine reads.

A chapter module (`tutor/chapters/chNN_*.py`) lists its problems as `PROBLEMS` and its quizzes as
`QUIZZES`. Adding a problem is one `Problem(...)` there plus a cell in the practice notebook; the
engine needs no change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

KINDS = ("ordinary", "edge", "validation")
"""The kinds of case, in the order a failure is diagnosed: a mistake seen on ordinary inputs
says more about the learner than one seen only on an edge, or on an argument to be refused."""


@dataclass(frozen=True)
class Case:
    """One call of the learner's function: the arguments, and a note shown in messages."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    note: str = ""
    """What makes this input special ("huge logits", "float16"), empty for ordinary inputs. For a
    case that must raise, the reason, read after "since": "T ≤ 0 has no meaning"."""
    raises: type[BaseException] | None = None
    """The exception the call must raise (any subclass of it); None: it must return the answer."""
    kind: str = "edge"
    """"ordinary" (drawn by `generate`), "edge" (a fixed probe) or "validation" (must raise);
    set by the engine and by `raises`, so chapters rarely write it."""

    def __post_init__(self):
        if self.raises is not None and self.kind == "edge":
            object.__setattr__(self, "kind", "validation")
        if self.kind not in KINDS:
            raise ValueError(f"Case kind {self.kind!r} is not one of {KINDS}")


def case(*args: Any, note: str = "", raises: type[BaseException] | None = None,
         **kwargs: Any) -> Case:
    """A `Case` written like the call it stands for: `case(z, axis=0, note="axis 0")`; one that
    must raise: `case(z, 0.0, raises=ValueError, note="T ≤ 0 has no meaning")`."""
    return Case(args, kwargs, note, raises)


@dataclass(frozen=True)
class Twin:
    """A known-wrong implementation: if the learner's outputs match it, we know the mistake."""

    misconception: str
    """An id of `tutor.misconceptions.CATALOGUE`."""
    fn: Callable
    """Called exactly like the learner's function."""


@dataclass(frozen=True)
class Symptom:
    """A mistake recognised by what it does rather than by one twin's exact numbers: variants of
    a mistake (shifting by the mean instead of the max overflows just like no shift at all)
    rarely match a twin, but show the same symptom on the inputs that expose it.

        Symptom("no_max_shift", lambda case, expected, outcome: overflowed(outcome))
    """

    misconception: str
    """An id of `tutor.misconceptions.CATALOGUE`."""
    test: Callable[[Any, Any, Any], bool]
    """(case, expected, outcome) -> True when the learner's outcome on this failing case shows the
    mistake. `outcome` is a `tutor.sandbox.Outcome` (`.value`, `.error`, `.raised`)."""


@dataclass(frozen=True)
class Problem:
    """A practice problem: the learner writes a function named `id` with this signature."""

    id: str
    """Problem id, also the function's name."""
    chapter: str
    """Lesson notebook stem, e.g. "02_softmax"."""
    signature: str
    """As the learner writes it, e.g. "softmax(z, axis=-1)"."""
    statement: str
    """One paragraph: what the function must do."""
    reference: Callable
    """The model answer; called on float64 copies of the inputs to make expected outputs."""
    generate: Callable[[Any], Iterable[Case]]
    """Random inputs, drawn afresh at every check from the numpy Generator it is given."""
    probes: Callable[[], Iterable[Case]] = tuple
    """Fixed edge and stability inputs (huge logits, −inf, float16, ...), tried at every check."""
    twins: tuple[Twin, ...] = ()
    """One or more buggy twins per misconception this problem can show."""
    hints: tuple[str, ...] = ()
    """From a nudge to nearly the answer; at least two."""
    difficulty: str = "easy"
    """"easy", "medium" or "hard"."""
    points: int = 1
    rtol: float | None = None
    """Relative tolerance; None scales it to the input's float dtype."""
    atol: float | None = None
    """Absolute tolerance; None scales it to the input's float dtype."""
    call: Callable | None = None
    """(fn, case) -> output, for problems that call the function in a special way (sampling,
    autograd). Default: fn(*case.args, **case.kwargs)."""
    compare: Callable | None = None
    """(expected, got, tolerance) -> None when they agree, else a short reason. Default: exact
    shape, dtype-scaled closeness, NaN and inf where the reference has them."""
    expect: Callable | None = None
    """case -> expected output, when it is not simply the reference's return value (for
    example the probabilities a sampler should follow). Default: the reference on float64
    copies of the inputs (through `call` when given)."""
    agree: Callable | None = None
    """(twin_output, learner_output, tolerance) -> bool, when two wrong outputs should count as
    the same mistake by another rule than `compare` (two samples of one distribution)."""
    reference_in_input_dtype: bool = False
    """Call the reference on the inputs as given instead of float64 copies (for dtype problems)."""
    time_limit: float = 10.0
    """Seconds for the whole check."""
    symptoms: tuple[Symptom, ...] = ()
    """Mistakes named by their symptom on a failing case, when no twin agrees with the learner."""
    invariants: tuple[Callable, ...] = ()
    """(case, value) -> None, or a sentence saying which property of every right answer the
    learner's output breaks ("The loss is never negative, but yours is −0.3."); see
    `tutor.checking.non_negative`. Probabilities that should sum to one are checked without
    declaring anything."""

    @property
    def name(self) -> str:
        return self.signature.split("(")[0]

    @property
    def kind(self) -> str:
        return "problem"


@dataclass(frozen=True)
class Choice:
    """One option of a multiple-choice quiz, with the feedback a learner sees on picking it."""

    text: str
    correct: bool
    feedback: str


@dataclass(frozen=True)
class Quiz:
    """A short question: multiple choice (`choices`) or numeric (`answer` within `tolerance`)."""

    id: str
    """Starts with "q" and the chapter number: "q06_entropy"."""
    chapter: str
    question: str
    choices: tuple[Choice, ...] = ()
    answer: float | None = None
    tolerance: float = 1e-3
    """Absolute tolerance for numeric answers."""
    wrong_answers: tuple[tuple[float, str], ...] = ()
    """Numeric answers that reveal a known slip, each with its feedback."""
    explanation: str = ""
    """Shown once answered correctly."""
    points: int = 1

    @property
    def kind(self) -> str:
        return "quiz"

    @property
    def difficulty(self) -> str:
        return "quiz"
