"""The checking engine: make inputs, call the learner safely, compare, diagnose.

A check runs the learner's function on inputs drawn afresh from a per-call seed plus the
problem's fixed probes. Inputs are read-only copies, outputs are compared with a float64 reference
at tolerances scaled to the dtypes involved, and a failure is compared with every buggy twin: a
twin that agrees with the learner wherever the learner is wrong names the misconception.
"""

from __future__ import annotations

import ast
import contextlib
import dis
import inspect
import linecache
import os
import re
import secrets
import signal
import sys
import textwrap
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tutor import misconceptions
from tutor.problem import Case, Problem
from tutor.result import Result

_TUTOR_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_DIRS = (_TUTOR_DIR, os.path.dirname(os.path.abspath(os.__file__)) + os.sep)

# (rtol, atol, eps) per float dtype. The absolute tolerance also grows with the size of the
# inputs: a correct float32 log-softmax of logits near 1e4 is off by about 1e4 · eps.
_TOLERANCES = {
    "float16": (1e-2, 1e-3, float(np.finfo(np.float16).eps)),
    "bfloat16": (4e-2, 4e-3, 2.0**-7),
    "float32": (1e-4, 1e-6, float(np.finfo(np.float32).eps)),
    "float64": (1e-6, 1e-9, float(np.finfo(np.float64).eps)),
}
_PRECISION_ORDER = ["bfloat16", "float16", "float32", "float64"]


# ---------------------------------------------------------------------------------------------
# Values: what the learner returns, as plain numpy


class NotAnArray(Exception):
    """The learner returned something that is not an array of numbers."""


def dtype_name(x: Any) -> str | None:
    """"float16", "bfloat16", ... for a float array or tensor, else None."""
    if _is_torch(x):
        name = str(x.dtype).removeprefix("torch.")
        return name if name in _TOLERANCES else None
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x.dtype.name if x.dtype.name in _TOLERANCES else "float64"
    if isinstance(x, np.floating):
        return np.dtype(type(x)).name
    return None


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def as_array(x: Any) -> np.ndarray:
    """The learner's output as a numpy array (torch tensors, lists and scalars accepted)."""
    if _is_torch(x) and hasattr(x, "detach"):
        t = x.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return t.numpy()
    if isinstance(x, (list, tuple)) and any(_is_torch(v) for v in x):
        return np.asarray([as_array(v) for v in x])
    if isinstance(x, (str, bytes)):
        raise NotAnArray(f"the text {fmt_value(x)}, not numbers")
    if isinstance(x, Iterator):
        raise NotAnArray(f"{_a(type(x).__name__)}, not an array; return an array (np.array(list"
                         "(...)) turns a generator into one)")
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise NotAnArray(f"{_a(type(x).__name__)} that numpy cannot read as an array "
                         f"({_error_text(e)})") from None
    if a.dtype.kind == "c":
        raise NotAnArray("complex numbers; the answer is real (take .real if the imaginary part "
                         "is zero)")
    if a.dtype.kind not in "biuf":
        if a.dtype.kind in "OUS" and isinstance(x, (list, tuple, np.ndarray)):
            odd = next((v for v in a.ravel() if not isinstance(v, (int, float, np.number))), None)
            raise NotAnArray(f"{_a(type(x).__name__)} holding {fmt_value(odd)}, not only numbers")
        raise NotAnArray(f"{_a(type(x).__name__)} object, not an array of numbers")
    return a


def _a(name: str) -> str:
    """"an ndarray", "a dict": the type name with its article."""
    return ("an " if name[:1].lower() in "aeio" or name == "ndarray" else "a ") + name


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


def tolerance_for(problem: Problem, case: Case, output: Any = None,
                  expected: Any = None) -> Tolerance:
    """Tolerance from the least precise float dtype among the inputs; an output of lower
    precision than every input counts down to float32 only.

    Log-domain answers (log-softmax, losses) computed in low precision lose about eps times the
    size of the logits to cancellation, so the absolute tolerance grows with the inputs. Outputs
    bounded by 1 (probabilities, weights, gradients of a mean loss) keep a small absolute
    tolerance, so that a tolerance grown with the logits cannot let a wrong probability
    through; their relative tolerance grows instead, up to ten times its base, for answers that
    go through the log domain (exp(z − logsumexp(z))).
    """
    rank = _PRECISION_ORDER.index
    dtype = min([n for n in map(dtype_name, _array_args(case)) if n] or ["float64"], key=rank)
    out = dtype_name(output)
    if out and rank(out) < rank(dtype):
        # Torch's float32 default is fine on float64 inputs; casting the answer down to
        # float16 is not a licence for float16 tolerance.
        dtype = out if rank(dtype) < rank("float32") else max(out, "float32", key=rank)
    rtol, atol, eps = _TOLERANCES[dtype]
    slack = 16 * eps * max((_finite_scale(a) for a in _array_args(case)), default=0.0)
    if _bounded_by_one(expected):
        rtol, atol = rtol + min(slack, 9 * rtol), atol
    else:
        atol = atol + slack
    return Tolerance(problem.rtol if problem.rtol is not None else rtol,
                     problem.atol if problem.atol is not None else atol)


def _bounded_by_one(expected: Any) -> bool:
    if expected is None:
        return False
    try:
        e = as_array(expected).astype(np.float64)
    except (NotAnArray, TypeError, ValueError):
        return False
    finite = e[np.isfinite(e)]
    return finite.size > 0 and bool(np.abs(finite).max() <= 1.0)


def _finite_scale(a: Any) -> float:
    try:
        v = np.abs(as_array(a).astype(np.float64))
    except (NotAnArray, TypeError, ValueError):
        return 0.0
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else 0.0


def _array_args(case: Case) -> list:
    values = [*case.args, *case.kwargs.values()]
    return [v for v in values if isinstance(v, np.ndarray) or _is_torch(v)]


def compare_arrays(expected: Any, got: Any, tol: Tolerance) -> str | None:
    """None when `got` matches `expected`, else a short reason ("shape (3,) instead of (3, 1)")."""
    if got is None:
        return "returned None"
    try:
        got = as_array(got)
    except NotAnArray as e:
        return f"returned {e}"
    expected = as_array(expected)
    if got.shape != expected.shape:
        return f"returned shape {got.shape} instead of {expected.shape}"
    if expected.dtype.kind in "biu":
        if got.dtype.kind == "f" and not np.all(np.isfinite(got)):
            return "returned non-finite values where whole numbers were expected"
        wrong = np.asarray(got != expected)
        if wrong.any():
            return _first_difference(expected, got, wrong)
        return None
    g = got.astype(np.float64)
    e = expected.astype(np.float64)
    nan_e, nan_g = np.isnan(e), np.isnan(g)
    if (nan_g & ~nan_e).any():
        return _first_difference(e, g, nan_g & ~nan_e, "NaN")
    if (nan_e & ~nan_g).any():
        return _first_difference(e, g, nan_e & ~nan_g)
    inf_mismatch = (np.isinf(e) | np.isinf(g)) & (e != g) & ~nan_e
    if inf_mismatch.any():
        return _first_difference(e, g, inf_mismatch)
    finite = np.isfinite(e) & np.isfinite(g)
    with np.errstate(all="ignore"):
        wrong = finite & (np.abs(g - e) > tol.atol + tol.rtol * np.abs(e))
    if wrong.any():
        return _first_difference(e, g, wrong)
    return None


def _first_difference(e: np.ndarray, g: np.ndarray, wrong: np.ndarray, what: str = "") -> str:
    if e.ndim == 0:
        expected, got = _fmt_pair(e, g)
        return f"returned {got} instead of {expected}" + (f" ({what})" if what else "")
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    where = index[0] if len(index) == 1 else index
    expected, got = _fmt_pair(e[index], g[index])
    return (f"has {int(wrong.sum())} of {wrong.size} entries wrong; at index {where} "
            f"the answer is {expected} but you have {got}")


# ---------------------------------------------------------------------------------------------
# Showing inputs and outputs in messages


def _fmt_number(x: Any, digits: int = 4) -> str:
    x = x.item() if hasattr(x, "item") else x
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if not np.isfinite(x) or abs(x) >= 1e6:
        return str(x)
    if x != 0 and abs(x) < 1e-4:  # 3.7e-07, not 0
        return np.format_float_scientific(x, precision=digits - 1, trim="-")
    return np.format_float_positional(x, precision=digits, trim="-")


def _fmt_pair(expected: Any, got: Any) -> tuple[str, str]:
    """Both numbers with just enough digits to tell them apart: never "0.5594 but you have
    0.5594"."""
    for digits in (4, 6, 8, 12, 17):
        e, g = _fmt_number(expected, digits), _fmt_number(got, digits)
        if e != g:
            break
    return e, g


_PRINT = dict(precision=4, threshold=24, edgeitems=3, linewidth=200, nanstr="nan",
              infstr="inf", formatter=None, sign="-", floatmode="maxprec", legacy=False)


def _plain_decimals(x: np.ndarray) -> bool:
    """Print [[1000., 0., 3.], [0.5, -1., 4.]] rather than numpy's [[1.e+03, 0.e+00, 3.e+00],
    ...] when every non-zero value reads well in plain decimals; tiny or huge ones keep their
    exponent, so 3.68e-45 never shows as 0."""
    if x.dtype.kind != "f":
        return False
    values = np.abs(x[np.isfinite(x) & (x != 0)].astype(np.float64))
    return values.size == 0 or (values.min() >= 1e-3 and values.max() < 1e8)


def fmt_value(x: Any) -> str:
    """A short, readable rendering of an input or output for a message."""
    if x is None:
        return "None"
    if _is_torch(x) and hasattr(x, "detach"):
        dtype = str(x.dtype).removeprefix("torch.")
        body = fmt_value(as_array(x).astype(np.float64) if x.dtype.is_floating_point
                         else as_array(x))
        return f"tensor({body}{'' if dtype == 'float32' else ', ' + dtype})"
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "biuf":
            with np.printoptions(**_PRINT, suppress=_plain_decimals(x)):  # not the learner's
                body = np.array2string(x, separator=", ")
            body = " ".join(body.split())
        else:
            body = repr(x.tolist())
        extra = [f"shape {x.shape}"] if x.size > 24 or x.ndim > 2 else []
        if x.dtype.kind == "f" and x.dtype != np.float64:
            extra.append(x.dtype.name)
        return body + (f" ({', '.join(extra)})" if extra else "")
    if isinstance(x, (float, np.floating)):
        return _fmt_number(x)
    if isinstance(x, np.random.Generator):  # with its seed when it keeps one, to replay
        seed = getattr(x, "seed", None)
        return f"np.random.default_rng({seed if isinstance(seed, int) else '...'})"
    text = repr(x)
    return text if len(text) < 200 else text[:200] + "…"


def fmt_call(problem: Problem, case: Case) -> str:
    """The call as the learner would write it: `softmax(z=[[1, 2], [3, 4]], axis=0)`."""
    params = _param_names(problem.signature)
    parts = []
    for i, a in enumerate(case.args):
        name = params[i] if i < len(params) else None
        parts.append(f"{name}={fmt_value(a)}" if name else fmt_value(a))
    parts += [f"{k}={fmt_value(v)}" for k, v in case.kwargs.items()]
    return f"{problem.name}({', '.join(parts)})"


def _param_names(signature: str) -> list[str]:
    inside = signature[signature.index("(") + 1: signature.rindex(")")]
    names = []
    for part in inside.split(","):
        part = part.strip().lstrip("*")
        if part and part != "/":
            names.append(part.split("=")[0].strip().split(":")[0].strip())
    return names


# ---------------------------------------------------------------------------------------------
# Calling the learner: read-only copies, a time limit, and exceptions located in their code


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
    return x


def frozen_case(case: Case) -> Case:
    return Case(tuple(read_only(a) for a in case.args),
                {k: read_only(v) for k, v in case.kwargs.items()}, case.note)


def float64_case(case: Case) -> Case:
    """The case with float numpy arrays as float64, for the reference."""
    def up(x):
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            return x.astype(np.float64)
        return x
    return Case(tuple(up(a) for a in case.args), {k: up(v) for k, v in case.kwargs.items()},
                case.note)


@dataclass
class Outcome:
    """What one call did: returned `value`, or raised `error`."""

    value: Any = None
    error: BaseException | None = None
    where: str = ""
    """For an error: the learner's line that raised it."""
    mutated: bool = False

    @property
    def raised(self) -> bool:
        return self.error is not None


def call(fn: Callable, case: Case, problem: Problem) -> Outcome:
    """Call `fn` on read-only copies of the case; never raises except `TimeUp` (and
    `KeyboardInterrupt`, the learner's interrupt button)."""
    frozen = frozen_case(case)
    # Read-only numpy copies can still be written through (torch.as_tensor shares their memory),
    # so every input is compared with the original after the call.
    inputs = [(a, b) for a, b in zip([*frozen.args, *frozen.kwargs.values()],
                              [*case.args, *case.kwargs.values()], strict=True)
              if isinstance(a, (np.ndarray, list)) or _is_torch(a)]
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
        mutated = isinstance(e, ValueError) and "read-only" in _error_text(e) or _changed(inputs)
        return Outcome(error=e, where=learner_line(e), mutated=mutated)
    return Outcome(value=value, mutated=_changed(inputs))


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
        a, before = as_array(a), as_array(before)
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


# ---------------------------------------------------------------------------------------------
# The check


@dataclass
class _Trial:
    case: Case
    expected: Any
    outcome: Outcome
    wrong: str | None
    """None when the learner's outcome is right, else the reason."""


def _expected(problem: Problem, case: Case) -> Any:
    if problem.expect is not None:
        return problem.expect(case)
    ref_case = case if problem.reference_in_input_dtype else float64_case(case)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if problem.call is not None:
            return problem.call(problem.reference, frozen_case(ref_case))
        return problem.reference(*frozen_case(ref_case).args, **frozen_case(ref_case).kwargs)


def _judge(problem: Problem, case: Case, expected: Any, outcome: Outcome) -> str | None:
    if outcome.raised:
        return f"raised {fmt_error(outcome.error)}"
    if outcome.mutated:
        return "changed its input in place"
    compare = problem.compare or compare_arrays
    return compare(expected, outcome.value,
                   tolerance_for(problem, case, outcome.value, expected))


def cases_for(problem: Problem, seed: int) -> list[Case]:
    """The probes, then inputs drawn from `seed`."""
    rng = np.random.default_rng(seed)
    return [*problem.probes(), *problem.generate(rng)]


def fmt_error(e: BaseException) -> str:
    """"ValueError: bad shape", or just "SystemExit" when the exception has no message."""
    text = _error_text(e)
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _error_text(e: BaseException) -> str:
    try:
        return str(e)
    except Exception:  # an exception class of the learner's whose __str__ fails
        return ""


_running = threading.local()


def run(problem: Problem, fn: Callable | None, seed: int | None = None) -> Result:
    """Check `fn` against `problem`. Never raises for anything the learner's code does."""
    outer = getattr(_running, "problem", None)
    if outer is not None:
        # A check inside the function being checked (an indented `tutor.check` line): raising
        # here reports it, at the learner's line, as the outer check's error.
        raise RuntimeError(f"tutor.check({problem.id!r}) ran inside the function that "
                           f"tutor.check({outer!r}) is checking; move that line out of the "
                           "function (no indentation)")
    _running.problem = problem.id
    try:
        return _run(problem, fn, secrets.randbits(32) if seed is None else seed)
    finally:
        _running.problem = None


def _run(problem: Problem, fn: Callable | None, seed: int) -> Result:
    if fn is None:
        return _result(problem, "not_attempted", seed,
                       f"No function named {problem.name} was found. Define "
                       f"`def {problem.signature}:` in this notebook, or pass it: "
                       f"tutor.check({problem.id!r}, my_function).")
    if not callable(fn):
        return _result(problem, "failed", seed,
                       f"{problem.name} should be a function, but it is "
                       f"{_a(type(fn).__name__)}. Define it with `def {problem.signature}:`.")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn) or \
            inspect.iscoroutinefunction(fn):
        what = "`async def`" if not inspect.isgeneratorfunction(fn) else "`yield`"
        return _result(problem, "failed", seed,
                       f"{problem.name} uses {what}, so calling it does not compute the answer "
                       f"but gives back {'a coroutine' if 'async' in what else 'a generator'}. "
                       f"Write a plain function, `def {problem.signature}:`, that ends in "
                       "`return`.")
    if is_stub(fn):
        return _result(problem, "not_attempted", seed,
                       f"{problem.name} is still a stub (`...`). Write its body, then run "
                       "this check again.")
    with contextlib.suppress(Exception):  # only a head start; the check goes on regardless
        _import_torch_first(fn)
    cases = cases_for(problem, seed)
    deadline = time.monotonic() + problem.time_limit
    trials: list[_Trial] = []
    for case in cases:
        expected = _expected(problem, case)
        try:
            with time_limit(deadline - time.monotonic()):
                outcome = call(fn, case, problem)
        except TimeUp:
            return _result(problem, "timeout", seed,
                           f"{problem.name} did not finish within the {problem.time_limit:g} s "
                           f"time limit on {fmt_call(problem, case)}. Look for a loop that never "
                           "ends, or a Python loop over every element of a large array.")
        trials.append(_Trial(case, expected, outcome, _judge(problem, case, expected, outcome)))
        if time.monotonic() > deadline:
            return _result(problem, "timeout", seed,
                           f"{problem.name} took longer than the {problem.time_limit:g} s time "
                           f"limit (last input: {fmt_call(problem, case)}).")
    failures = [t for t in trials if t.wrong]
    if not failures:
        return _passed(problem, trials, seed)
    if all(t.outcome.value is None and not t.outcome.raised for t in failures) and \
            len(failures) == len(trials):
        return _result(problem, "failed", seed,
                       f"{problem.name} returned None on {fmt_call(problem, failures[0].case)}. "
                       "Did you forget the `return` statement?")
    mutation = [t for t in failures if t.outcome.mutated]
    if mutation:
        return _diagnosed(problem, "mutates_input", _smallest(mutation), seed)
    twin = _matching_twin(problem, trials)
    if twin is not None:
        return _diagnosed(problem, twin, _smallest(failures), seed)
    raising = [t for t in failures if t.outcome.raised]
    if raising:
        t = _smallest(raising)
        e = t.outcome.error
        where = f" at {t.outcome.where}" if t.outcome.where else ""
        advice = ""
        if isinstance(e, TypeError) and not where and not _accepts(fn, problem, t.case):
            advice = (f" The check calls your function like {problem.signature}; give it "
                      "exactly these parameters.")
        return _result(problem, "error", seed,
                       f"{fmt_error(e)}{where}, on {fmt_call(problem, t.case)}.{advice}")
    t = _smallest(failures)
    advice = " Does every path through it end in `return`?" \
        if t.outcome.value is None and not t.outcome.mutated else ""
    return _result(problem, "failed", seed,
                   f"On {fmt_call(problem, t.case)}{_note(t.case)}, your {problem.name} "
                   f"{t.wrong}.{advice}")


def _accepts(fn: Callable, problem: Problem, case: Case) -> bool:
    """False when `fn`'s parameters cannot take the case's arguments (a wrong signature)."""
    if problem.call is not None:
        return True
    try:
        inspect.signature(fn).bind(*case.args, **case.kwargs)
    except TypeError:
        return False
    except ValueError:  # no signature to inspect (some builtins)
        return True
    return True


def _import_torch_first(fn: Callable) -> None:
    """Import torch before the clock starts if the learner's function uses it: a first import
    takes seconds, and a time limit that interrupts it halfway breaks torch for the session."""
    if "torch" in sys.modules:
        return
    code = getattr(fn, "__code__", None)
    stack, names = [code] if code is not None else [], set()
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if inspect.iscode(k))
    if "torch" in names or "torch" in getattr(fn, "__globals__", {}):
        with contextlib.suppress(ImportError):
            import torch  # noqa: F401


def _note(case: Case) -> str:
    return f" ({case.note})" if case.note else ""


def _smallest(trials: list[_Trial]) -> _Trial:
    def size(t: _Trial) -> int:
        return sum(int(np.prod(np.shape(a))) for a in _array_args(t.case)) or 1
    return min(trials, key=size)


def _matching_twin(problem: Problem, trials: list[_Trial]) -> str | None:
    """The misconception of the twin that agrees with the learner wherever the learner is
    wrong, preferring the twin that agrees on the most inputs overall.

    Two exceptions of the same type agree, but an exception alone is weak evidence (a learner's
    unrelated bug can raise the same ValueError as a twin): a twin is named only if it also
    returns the learner's wrong values somewhere, raises with the learner's very message, or
    behaves like the learner on every input, raising exactly where the learner raises."""
    best, best_agreement = None, -1
    for twin in problem.twins:
        agreement, by_value, same_messages = 0, False, True
        for t in trials:
            # Twins are the course's own code on the course's own inputs: no time limit, which
            # could interrupt a first `import torch` halfway and break torch for the session.
            twin_outcome = call(twin.fn, t.case, problem)
            same = _agree(problem, t, twin_outcome)
            if t.wrong and not same:
                break
            if t.wrong and t.outcome.raised:
                same_messages &= _same_message(t.outcome.error, twin_outcome.error)
            elif t.wrong:
                by_value = True
            agreement += same
        else:
            exact = agreement == len(trials)  # raises exactly where the learner raises
            if (by_value or same_messages or exact) and agreement > best_agreement:
                best, best_agreement = twin.misconception, agreement
    return best


def _same_message(mine: BaseException | None, twin: BaseException | None) -> bool:
    return mine is not None and twin is not None and _error_text(mine) == _error_text(twin)


def _agree(problem: Problem, trial: _Trial, twin: Outcome) -> bool:
    mine = trial.outcome
    if mine.raised or twin.raised:
        return mine.raised and twin.raised and type(mine.error) is type(twin.error)
    if twin.value is None:
        return False
    compare = problem.compare or compare_arrays
    try:
        if problem.agree is not None:
            return bool(problem.agree(twin.value, mine.value,
                                      tolerance_for(problem, trial.case, mine.value,
                                                    twin.value)))
        return compare(twin.value, mine.value,
                       tolerance_for(problem, trial.case, mine.value, twin.value)) \
            is None
    except Exception:
        return False


def _passed(problem: Problem, trials: list[_Trial], seed: int) -> Result:
    notes = list(dict.fromkeys(t.case.note for t in trials if t.case.note))
    including = f", including {_join(notes)}" if notes else ""
    return _result(problem, "passed", seed,
                   f"{problem.name} is right on all {len(trials)} inputs{including}.")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _diagnosed(problem: Problem, misconception_id: str, t: _Trial, seed: int) -> Result:
    m = misconceptions.get(misconception_id)
    if t.outcome.raised:
        got = f"it raised {type(t.outcome.error).__name__}"
        if t.outcome.where:
            got += f" at {t.outcome.where}"
    elif t.outcome.mutated:
        got = "it changed the input in place"
    if t.outcome.mutated:
        got = "it tried to write into the input"
    elif not t.outcome.raised:
        got = f"it returned {fmt_value(_safe_array(t.outcome.value))}"
    expected = fmt_value(_safe_array(t.expected))
    return Result(problem.id, "failed",
                  f"{m.explanation} On {fmt_call(problem, t.case)}{_note(t.case)} the answer is "
                  f"{expected} but {got}.",
                  misconception=m.id, title=m.name, link=m.link, seed=seed)


def _safe_array(x: Any) -> Any:
    try:
        return as_array(x)
    except NotAnArray:
        return x


def _result(problem: Problem, status: str, seed: int, message: str) -> Result:
    return Result(problem.id, status, message, seed=seed)


def find_function(name: str, depth: int = 2) -> Callable | None:
    """The learner's function called `name`, from the caller's notebook namespace."""
    frame = sys._getframe(depth)
    while frame is not None:
        if name in frame.f_globals and frame.f_globals.get("__name__") != "tutor":
            return frame.f_globals[name]
        frame = frame.f_back
    main = sys.modules.get("__main__")
    return getattr(main, name, None)


def similar_names(name: str, depth: int = 2) -> list[str]:
    """Functions in the caller's namespace named nearly like `name` (`sofmax`, `my_softmax`)."""
    import difflib

    space = sys._getframe(depth).f_globals
    names = [k for k, v in space.items() if callable(v) and not k.startswith("_")
             and not isinstance(v, type) and k != name]
    renamed = re.compile(rf"(my_?)?{re.escape(name)}(_?v?\d+)?", re.IGNORECASE)
    return [k for k in names if renamed.fullmatch(k)][:2] or \
        difflib.get_close_matches(name, names, n=2, cutoff=0.85)
