"""The sandbox: calling the learner's code safely.

Inputs are handed over as read-only copies and compared with the originals afterwards (writing
into them is a mistake of its own, `mutates_input`); a time limit interrupts endless loops, even
ones that catch the interruption; an exception is located at the learner's own line, not in
tutor's or a library's frames; and a function that is still a stub (`...`) is recognised.

    outcome = call(fn, case, problem)      # never raises for what fn does, except TimeUp
    outcome.value, outcome.error, outcome.where, outcome.mutated
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import dis
import inspect
import linecache
import os
import signal
import sys
import textwrap
import threading
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tutor.problem import Case, Problem

_TUTOR_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_DIRS = (_TUTOR_DIR, os.path.dirname(os.path.abspath(os.__file__)) + os.sep)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _numpy(x: Any) -> np.ndarray:
    """A torch tensor's values as numpy (bfloat16 through float32), for comparing inputs."""
    t = x.detach().cpu()
    if str(t.dtype) == "torch.bfloat16":
        t = t.float()
    return t.numpy()


def error_text(e: BaseException) -> str:
    """str(e), or "" for an exception of the learner's whose __str__ fails."""
    try:
        return str(e)
    except Exception:
        return ""


class TimeUp(BaseException):
    """Raised inside a learner's call when the check's time runs out (not an Exception, so a
    learner's `except Exception` cannot swallow it)."""


class time_limit:
    """Interrupt the block after `seconds` with `TimeUp`, where signals allow (the main thread);
    elsewhere the caller compares clocks between calls.

    The alarm repeats until the block ends, and from the second alarm on, the learner's code is
    also stopped at its next line: code that catches the first `TimeUp` (a bare `except:` in a
    loop) cannot keep the check running. An alarm only interrupts the learner's code (or a
    library it called), never tutor's own, so the block always ends cleanly.
    """

    REPEAT = 0.05

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self.traced: list = []

    def __enter__(self):
        if self.seconds <= 0:
            raise TimeUp
        self.active = (threading.current_thread() is threading.main_thread()
                       and hasattr(signal, "setitimer"))
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._expire)
            self.previous_trace = sys.gettrace()
            signal.setitimer(signal.ITIMER_REAL, self.seconds, self.REPEAT)
        return self

    def __exit__(self, *exc) -> None:
        if not self.active:
            return
        self.active = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        if self.traced:
            sys.settrace(self.previous_trace)
            for frame in self.traced:
                frame.f_trace = None

    def _expire(self, signum, frame):
        if not self.active or not _in_learner_code(frame):
            return
        if self.expired:  # the first TimeUp was caught: stop the learner's code at its next line
            self._trace(frame)
        self.expired = True
        raise TimeUp

    def _trace(self, frame) -> None:
        def stop(frame, event, arg):
            if event in ("call", "line") and self.active and \
                    not _is_library_file(frame.f_code.co_filename):
                raise TimeUp
            return stop
        sys.settrace(stop)
        while frame is not None:
            frame.f_trace = stop
            self.traced.append(frame)
            frame = frame.f_back


def read_only(x: Any) -> Any:
    """A copy of `x` the learner cannot write to (numpy); torch tensors and lists are copied."""
    if isinstance(x, list):
        return [read_only(v) for v in x]
    if isinstance(x, np.ndarray):
        y = x.copy()
        y.flags.writeable = False
        return y
    if _is_torch(x) and hasattr(x, "clone"):
        y = x.detach().clone()
        return y.requires_grad_(x.requires_grad) if x.is_leaf else y
    if isinstance(x, np.random.Generator):  # a draw must not move the case's own generator
        return copy.deepcopy(x)
    return x


def frozen_case(case: Case) -> Case:
    """The case with every argument a read-only copy (its note, kind and raises kept)."""
    return dataclasses.replace(case, args=tuple(read_only(a) for a in case.args),
                               kwargs={k: read_only(v) for k, v in case.kwargs.items()})


def float64_case(case: Case) -> Case:
    """The case with float numpy arrays as float64, for the reference."""
    def up(x):
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            return x.astype(np.float64)
        return x
    return dataclasses.replace(case, args=tuple(up(a) for a in case.args),
                               kwargs={k: up(v) for k, v in case.kwargs.items()})


@dataclass
class Outcome:
    """What one call did: returned `value`, or raised `error`."""

    value: Any = None
    error: BaseException | None = None
    located: str | None = None
    """For an error: the learner's line, once asked for (None: not looked up yet)."""
    mutated: bool = False

    @property
    def raised(self) -> bool:
        return self.error is not None

    @property
    def where(self) -> str:
        """For an error: the learner's line that raised it ("line 4 of your cell: `...`").
        Looked up on first use only: twins raise often and their lines are never shown."""
        if self.located is None:
            self.located = learner_line(self.error) if self.error is not None else ""
        return self.located


def call(fn: Callable, case: Case, problem: Problem, watch: bool = True) -> Outcome:
    """Call `fn` on read-only copies of the case; never raises except `TimeUp` (and
    `KeyboardInterrupt`, the learner's interrupt button). `watch=False` skips comparing the
    inputs afterwards, for the course's own twins, which never write into them."""
    frozen = frozen_case(case)
    # Read-only numpy copies can still be written through (torch.as_tensor shares their memory),
    # so every input is compared with the original after the call.
    inputs = [(a, b) for a, b in zip([*frozen.args, *frozen.kwargs.values()],
                              [*case.args, *case.kwargs.values()], strict=True)
              if isinstance(a, (np.ndarray, list)) or _is_torch(a)] if watch else []
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if problem.call is not None:
                value = problem.call(fn, frozen)
            else:
                value = fn(*frozen.args, **frozen.kwargs)
    except (TimeUp, KeyboardInterrupt):
        raise
    except BaseException as e:  # SystemExit and the learner's own BaseExceptions included
        mutated = isinstance(e, InputWritten) or \
            isinstance(e, ValueError) and "read-only" in error_text(e) or _changed(inputs)
        return Outcome(error=e, mutated=mutated)
    return Outcome(value=value, mutated=_changed(inputs))


class InputWritten(Exception):
    """Raised by a problem's own `call` when the learner's function wrote into an input that
    the call made for it (a fresh torch tensor): the engine names it `mutates_input`."""


def fresh_inputs_unchanged(made: list, originals: list) -> None:
    """For a problem's `call` that hands the learner tensors it built itself: raise
    `InputWritten` if any of `made` no longer holds the values of `originals` (their copies
    taken before the call), e.g. after a masked_fill_ under torch.no_grad()."""
    if any(not _same_tensor(m.detach(), o) for m, o in zip(made, originals, strict=True)):
        raise InputWritten("wrote into its input")


def _changed(inputs: list) -> bool:
    try:
        return any(not _same_tensor(a, before) for a, before in inputs)
    except Exception:  # an input the learner replaced by something else entirely
        return True


def _same_tensor(a, before) -> bool:
    """True when the input `a` still holds the values of `before` (numpy, torch or a list)."""
    if isinstance(before, list):
        return isinstance(a, list) and len(a) == len(before) and all(
            _same_tensor(x, y) if isinstance(y, (list, np.ndarray)) or _is_torch(y) else
            x is y or x == y or (x != x and y != y) for x, y in zip(a, before, strict=True))
    if _is_torch(a):
        a, before = _numpy(a), _numpy(before)
    if a.shape != before.shape or a.dtype != before.dtype:
        return False
    return bool(np.array_equal(a, before, equal_nan=a.dtype.kind in "fc"))


def learner_line(error: BaseException) -> str:
    """"line 4 of your cell: `return z / z.sum()`" for the last frame in the learner's code."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if not _is_library_file(f.filename)]
    if not own:
        return ""
    frame = own[-1]
    text = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
    place = "your cell" if _is_cell(frame.filename) else Path(frame.filename).name
    return f"line {frame.lineno} of {place}" + (f": `{text}`" if text else "")


def _is_library_file(filename: str) -> bool:
    """Frames of tutor, the standard library or installed packages are not the learner's."""
    if filename.startswith("<"):
        return filename.startswith("<frozen")
    if filename.endswith((".pyx", ".pxd")):  # compiled numpy and scipy code
        return True
    path = os.path.abspath(filename)
    return path.startswith(_LIBRARY_DIRS) or "site-packages" in path or "dist-packages" in path


def _in_learner_code(frame) -> bool:
    """True when `frame` runs the learner's code, or a library it called; False in tutor's own
    code (between the learner's calls, or cleaning up after one)."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_library_file(filename):
            return True
        if not filename.startswith("<") and os.path.abspath(filename).startswith(_TUTOR_DIR):
            return False
        frame = frame.f_back
    return False


def _is_cell(filename: str) -> bool:
    return filename.startswith("<ipython-input") or "ipykernel_" in filename or \
        filename.startswith("<cell")


def is_stub(fn: Callable) -> bool:
    """True for a function whose body is only a docstring and `...` (or `pass`)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        body = tree.body[0].body
    except (OSError, TypeError, SyntaxError, IndexError, AttributeError):
        # No source (exec'd code): a stub's bytecode only returns None.
        try:
            code = fn.__code__
        except Exception:  # not a plain function
            return False
        if code is None:
            return False
        ops = [(i.opname, i.argval) for i in dis.get_instructions(code)
               if i.opname not in ("RESUME", "NOP")]
        return ops in ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(
        s.value, ast.Constant) and s.value.value is Ellipsis) for s in body)

