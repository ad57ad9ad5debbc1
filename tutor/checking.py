"""The checking engine: make inputs, call the learner safely, compare, diagnose.

A check runs the learner's function on inputs drawn afresh from a per-call seed plus the
problem's fixed probes. Inputs are read-only copies (see `tutor.sandbox`), outputs are compared
with a float64 reference at tolerances scaled to the dtypes involved, and a case may instead
require an exception (`case(..., raises=ValueError)`).

A failure is diagnosed from the earliest kind of input it shows on: ordinary inputs, then edge
probes, then validation. A buggy twin that agrees with the learner on those failures names the
misconception; failing that, a symptom does (one the problem declares, the exception a twin
raises there with a message of the same shape, or the wrong shape a twin returns). Failures
left unexplained may name a second mistake. Nothing matching: a plain expected-vs-got message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import re
import secrets
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tutor import misconceptions
from tutor.problem import KINDS, Case, Problem, Symptom
from tutor.result import Result
from tutor.sandbox import (  # noqa: F401  (the sandbox's names, importable from here as before)
    Outcome,
    TimeUp,
    call,
    error_text,
    float64_case,
    frozen_case,
    is_stub,
    learner_line,
    read_only,
    time_limit,
)

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
        return _FLOAT_NAMES.get(x.dtype.itemsize, "float64")
    if isinstance(x, np.floating):
        return np.dtype(type(x)).name
    return None


_FLOAT_NAMES = {2: "float16", 4: "float32", 8: "float64"}


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
                         f"({error_text(e)})") from None
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
                  expected: Any = None, *, agreeing: bool = False) -> Tolerance:
    """Tolerance from the least precise float dtype among the inputs.

    An answer is held to its inputs' precision whatever dtype it returns: float64 logits whose
    answer comes back in float32 (torch's default dtype, a float32 cast in the middle) pass only
    where float32's error stays within float64's tolerance, and the probes with close values at
    large magnitude show where it does not. Only `agreeing` (two wrong answers compared with each
    other, to name a mistake) lets an output of lower precision count down to float32.

    Log-domain answers (log-softmax, losses) computed in low precision lose about eps times the
    size of the logits to cancellation, so the absolute tolerance grows with the inputs. Outputs
    bounded by 1 (probabilities, weights, gradients of a mean loss) keep a small absolute
    tolerance, so that a tolerance grown with the logits cannot let a wrong probability
    through; their relative tolerance grows instead, up to ten times its base, for answers that
    go through the log domain (exp(z − logsumexp(z))).
    """
    rank = _PRECISION_ORDER.index
    dtype, scale = _case_precision(case)
    out = dtype_name(output)
    if agreeing and out and rank(out) < rank(dtype):
        # A float32 answer agrees with its float64 twin to float32's digits; casting down to
        # float16 is not a licence for float16 tolerance.
        dtype = out if rank(dtype) < rank("float32") else max(out, "float32", key=rank)
    rtol, atol, eps = _TOLERANCES[dtype]
    slack = 16 * eps * scale
    if _bounded_by_one(expected):
        rtol, atol = rtol + min(slack, 9 * rtol), atol
    else:
        atol = atol + slack
    return Tolerance(problem.rtol if problem.rtol is not None else rtol,
                     problem.atol if problem.atol is not None else atol)


_PRECISIONS: dict[int, tuple[Case, str, float]] = {}


def _case_precision(case: Case) -> tuple[str, float]:
    """The least precise float dtype among the case's arrays, and their largest finite
    magnitude; remembered per case, since a check compares each case many times."""
    known = _PRECISIONS.get(id(case))
    if known is not None and known[0] is case:
        return known[1], known[2]
    arrays = _array_args(case)
    dtype = min([n for n in map(dtype_name, arrays) if n] or ["float64"],
                key=_PRECISION_ORDER.index)
    scale = max((_finite_scale(a) for a in arrays), default=0.0)
    if len(_PRECISIONS) > 4096:
        _PRECISIONS.clear()
    _PRECISIONS[id(case)] = (case, dtype, scale)
    return dtype, scale


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


_quiet = threading.local()
"""While `_quiet.on`, a comparison only needs to know whether values differ (twin agreement):
the reason's words, which cost more than the comparison, are not written."""


def _first_difference(e: np.ndarray, g: np.ndarray, wrong: np.ndarray, what: str = "") -> str:
    if getattr(_quiet, "on", False):
        return "differs"
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
    x = float(x) + 0.0  # −0.0 reads as 0
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
        if x.dtype.kind == "f":
            x = x + x.dtype.type(0)  # −0.0 reads as 0
        if x.dtype.kind in "biuf":
            with np.printoptions(**_PRINT, suppress=_plain_decimals(x)):  # not the learner's
                body = np.array2string(x, separator=", ")
            body = re.sub(r" +([,\]])", r"\1", " ".join(body.split()))  # numpy pads "0.5 ,"
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
# The check: one trial per case, then a verdict


@dataclass(eq=False)
class _Trial:
    case: Case
    expected: Any
    outcome: Outcome
    wrong: str | None
    """None when the learner's outcome is right, else the reason."""
    probe: int = -1
    """The index of the fixed probe this trial ran, -1 for a drawn case."""


def _expected(problem: Problem, case: Case) -> Any:
    if case.raises is not None:
        return case.raises
    if problem.expect is not None:
        return problem.expect(case)
    ref_case = case if problem.reference_in_input_dtype else float64_case(case)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        frozen = frozen_case(ref_case)
        if problem.call is not None:
            return problem.call(problem.reference, frozen)
        return problem.reference(*frozen.args, **frozen.kwargs)


def _with_case(fn: Callable, *args: Any, case: Case) -> Any:
    """fn(*args, case=case) when `fn` takes the case, else fn(*args): chapters' compare and
    agree functions written as (expected, got, tol) keep working."""
    return fn(*args, case=case) if _takes_case(fn) else fn(*args)


@functools.cache
def _takes_case(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "case" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _judge(problem: Problem, case: Case, expected: Any, outcome: Outcome) -> str | None:
    if outcome.mutated:
        return "changed its input in place"
    if case.raises is not None:
        if outcome.raised and isinstance(outcome.error, case.raises):
            return None
        what = f"raised {fmt_error(outcome.error)}" if outcome.raised else \
            f"returned {fmt_value(_safe_array(outcome.value))}"
        return f"{what} instead of raising {case.raises.__name__}"
    if outcome.raised:
        return f"raised {fmt_error(outcome.error)}"
    return _with_case(problem.compare or compare_arrays, expected, outcome.value,
                      tolerance_for(problem, case, outcome.value, expected), case=case)


_PROBES: dict[int, tuple[Problem, list[Case], list]] = {}
_UNSET = object()


def _probes(problem: Problem) -> tuple[list[Case], list]:
    """The problem's fixed probes and their expected values, made once per problem: they are
    the same at every check (the learner, twins and reference only ever see copies)."""
    if id(problem) not in _PROBES or _PROBES[id(problem)][0] is not problem:
        probes = list(problem.probes())
        _PROBES[id(problem)] = (problem, probes, [_UNSET] * len(probes))
    return _PROBES[id(problem)][1], _PROBES[id(problem)][2]


def _drawn(problem: Problem, seed: int) -> list[Case]:
    """The random cases of `seed`, of kind "ordinary" (or "validation" when they must raise)."""
    rng = np.random.default_rng(seed)
    return [c if c.raises is not None or c.kind != "edge" else dataclasses.replace(
        c, kind="ordinary") for c in problem.generate(rng)]


def cases_for(problem: Problem, seed: int) -> list[Case]:
    """The probes, then inputs drawn from `seed`."""
    return [*_probes(problem)[0], *_drawn(problem, seed)]


def fmt_error(e: BaseException) -> str:
    """"ValueError: bad shape", or just "SystemExit" when the exception has no message; a long
    message is cut short (a numpy error can quote a whole array)."""
    text = " ".join(error_text(e).split())
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


_error_text = error_text  # the name this module used before the sandbox had its own
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
    refusal = _refuse(problem, fn, seed)
    if refusal is not None:
        return refusal
    with contextlib.suppress(Exception):  # only a head start; the check goes on regardless
        _import_torch_first(fn)
    probes, probe_expected = _probes(problem)
    cases = [*probes, *_drawn(problem, seed)]
    deadline = time.monotonic() + problem.time_limit
    trials: list[_Trial] = []
    for i, case in enumerate(cases):
        if i < len(probes):
            if probe_expected[i] is _UNSET:
                probe_expected[i] = _expected(problem, case)
            expected = probe_expected[i]
        else:
            expected = _expected(problem, case)
        try:
            with time_limit(deadline - time.monotonic()):
                outcome = call(fn, case, problem)
        except TimeUp:
            return _result(problem, "timeout", seed,
                           f"{problem.name} did not finish within the {problem.time_limit:g} s "
                           f"time limit on {_fit_call(problem, case, 300)}. Look for a loop "
                           "that never ends, or a Python loop over every element of a large "
                           "array.")
        trials.append(_Trial(case, expected, outcome, _judge(problem, case, expected, outcome),
                             i if i < len(probes) else -1))
        if time.monotonic() > deadline:
            return _result(problem, "timeout", seed,
                           f"{problem.name} took longer than the {problem.time_limit:g} s time "
                           f"limit (last input: {_fit_call(problem, case, 300)}).")
    return _verdict(problem, fn, trials, seed)


def _refuse(problem: Problem, fn: Any, seed: int) -> Result | None:
    """A result before any call: no function, not a function, a generator, a stub."""
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
    return None


def _verdict(problem: Problem, fn: Callable, trials: list[_Trial], seed: int) -> Result:
    failures = [t for t in trials if t.wrong]
    if not failures:
        return _passed(problem, trials, seed)
    if len(failures) == len(trials) and all(t.outcome.value is None and not t.outcome.raised
                                            and t.case.raises is None for t in failures):
        return _result(problem, "failed", seed,
                       f"{problem.name} returned None on "
                       f"{_fit_call(problem, _smallest(failures).case, 300)}. "
                       "Did you forget the `return` statement?")
    mutation = [t for t in failures if t.outcome.mutated]
    if mutation:
        return _diagnosed(problem, _Diagnosis(("mutates_input",), _smallest(mutation)), trials,
                          seed)
    diagnosis = _diagnose(problem, trials, failures)
    if diagnosis is not None:
        return _diagnosed(problem, diagnosis, trials, seed)
    raising = [t for t in failures if t.outcome.raised and t.case.raises is None]
    if raising:
        t = _smallest(raising)
        e = t.outcome.error
        where = f" at {t.outcome.where}" if t.outcome.where else ""
        advice = ""
        if isinstance(e, TypeError) and not where and not _accepts(fn, problem, t.case):
            advice = (f" The check calls your function like {problem.signature}; give it "
                      "exactly these parameters.")
        return _result(problem, "error", seed, _fit(lambda width: (
            f"{fmt_error(e)}{where}, on {_fit_call(problem, t.case, width)}.{advice}")))
    t = _smallest(failures)
    advice = " Does every path through it end in `return`?" \
        if t.outcome.value is None and not t.outcome.raised and t.case.raises is None else ""
    return _result(problem, "failed", seed, _fit(lambda width: (
        f"{_plainly(problem, t, width)}.{advice}{_invariant(problem, t, trials)}")))


def _plainly(problem: Problem, t: _Trial, width: int) -> str:
    """What went wrong on trial `t`, undiagnosed: "On softmax(z=[1., 2.]), your softmax has 1 of
    2 entries wrong; ...", or, for a case that must raise, a sentence about the behaviour."""
    if t.case.raises is not None:
        return _should_raise(problem, t, width)
    return f"On {_fit_call(problem, t.case, width)}{_note(t.case)}, your {problem.name} {t.wrong}"


def _should_raise(problem: Problem, t: _Trial, width: int) -> str:
    """"softmax_temperature(z=[2., 1., 0.], T=0.) should raise ValueError, since T ≤ 0 has no
    meaning, but it returned [0.3333, 0.3333, 0.3333]"."""
    since = f", since {t.case.note}" if t.case.note else ""
    o = t.outcome
    if o.mutated:
        did = "tried to write into its input"
    elif o.raised:
        did = f"raised {fmt_error(o.error)}" + (f" at {o.where}" if o.where else "")
    else:
        did = f"returned {_fit_value(_safe_array(o.value), 120)}"
    return (f"{_fit_call(problem, t.case, width)} should raise {t.case.raises.__name__}{since}, "
            f"but it {did}")


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
    # `import torch.nn.functional as F` inside the function names "torch.nn.functional".
    if any(n == "torch" or n.startswith("torch.") for n in names) or \
            "torch" in getattr(fn, "__globals__", {}):
        with contextlib.suppress(ImportError):
            import torch  # noqa: F401


def _note(case: Case) -> str:
    return f" ({case.note})" if case.note and case.raises is None else ""


def _size(t: _Trial) -> int:
    return sum(int(np.prod(np.shape(a))) for a in _array_args(t.case)) or 1


def _smallest(trials: list[_Trial]) -> _Trial:
    return min(trials, key=_size)


# ---------------------------------------------------------------------------------------------
# Diagnosis: which catalogued mistake, if any, explains the failures


@dataclass
class _Diagnosis:
    ids: tuple[str, ...]
    """The misconceptions named, the most telling first."""
    shown: _Trial
    """The failing input the message shows for the first."""
    also: _Trial | None = None
    """Where the second shows, when it is not on `shown`."""


_TWIN_PROBES: dict[tuple[int, int, int], Outcome] = {}
"""Twins' outcomes on the fixed probes, kept across checks (small values only): the same
twin on the same probe always does the same thing."""


class _TwinRuns:
    """Each twin's outcome on each trial, computed at most once per check (once per session on
    a fixed probe)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.outcomes: dict[tuple[int, int], Outcome] = {}

    def __call__(self, i: int, t: _Trial) -> Outcome:
        key = (i, id(t))
        if key in self.outcomes:
            return self.outcomes[key]
        lasting = (id(self.problem), i, t.probe)
        outcome = _TWIN_PROBES.get(lasting) if t.probe >= 0 else None
        if outcome is None:
            # Twins are the course's own code on the course's own inputs: no time limit, which
            # could interrupt a first `import torch` halfway and break torch for the session.
            outcome = call(self.problem.twins[i].fn, t.case, self.problem, watch=False)
            if t.probe >= 0 and _small(outcome):
                if len(_TWIN_PROBES) > 20_000:
                    _TWIN_PROBES.clear()
                if outcome.error is not None:  # its frames are never shown; let them go
                    outcome.error = outcome.error.with_traceback(None)
                _TWIN_PROBES[lasting] = outcome
        self.outcomes[key] = outcome
        return outcome


def _small(outcome: Outcome) -> bool:
    nbytes = getattr(outcome.value, "nbytes", None)
    return nbytes is None or nbytes <= 16_384


def _deciding(failures: list[_Trial]) -> list[_Trial]:
    """The failures of the earliest kind: ordinary inputs, then edges, then validation."""
    for kind in KINDS:
        chosen = [t for t in failures if t.case.kind == kind]
        if chosen:
            return chosen
    return failures


def _diagnose(problem: Problem, trials: list[_Trial], failures: list[_Trial]) -> _Diagnosis | None:
    """Name the mistake from the earliest kind of input the learner fails on; then, if some
    failures are left unexplained, a second mistake that explains them."""
    runs = _TwinRuns(problem)
    first = _explain(problem, trials, failures, runs, exclude=())
    if first is None:
        return None
    ids, explained, shown = first
    if len(ids) > 1:
        return _Diagnosis(ids[:2], shown)
    rest = [t for t in failures if t not in explained]
    second = _explain(problem, trials, rest, runs, exclude=ids) if rest else None
    if second is None:
        return _Diagnosis(ids, shown)
    return _Diagnosis((ids[0], second[0][0]), shown, second[2])


def _explain(problem: Problem, trials: list[_Trial], failures: list[_Trial], runs: _TwinRuns,
             exclude: tuple[str, ...]) -> tuple[tuple[str, ...], list[_Trial], _Trial] | None:
    """(ids, the failures they explain, the failure to show) from a twin that agrees with the
    learner on every deciding failure, else from a symptom; None when nothing explains them."""
    deciding = _deciding(failures)
    twin = _matching_twins(problem, trials, failures, deciding, runs, exclude)
    if twin is not None:
        return twin
    return _symptom(problem, failures, deciding, runs, exclude)


def _matching_twins(problem, trials, failures, deciding, runs, exclude):
    """Twins that agree with the learner on every deciding failure (tried first, smallest
    first, so most twins are dismissed after one cheap call), ranked by the failures they
    explain, then by agreement overall, then on the fixed probes. The failure shown is the
    smallest deciding one: an ordinary input when the mistake shows on one.

    Two exceptions of the same type agree, but an exception alone is weak evidence (a learner's
    unrelated bug can raise the same ValueError as a twin): a twin is named only if it also
    returns the learner's wrong values somewhere, raises with the learner's very message, or
    behaves like the learner on every input, raising exactly where the learner raises."""
    ranked = []
    cheapest_first = sorted(deciding, key=_size)
    for i, twin in enumerate(problem.twins):
        if twin.misconception in exclude or \
                not all(_agree(problem, t, runs(i, t)) for t in cheapest_first):
            continue
        agreeing = [t for t in trials if t in deciding or _agree(problem, t, runs(i, t))]
        explained = [t for t in failures if t in agreeing]
        by_value = any(not t.outcome.raised for t in explained)
        same_messages = all(_same_message(t.outcome.error, runs(i, t).error)
                            for t in explained if t.outcome.raised)
        exact = len(agreeing) == len(trials)  # raises exactly where the learner raises
        if by_value or same_messages or exact:
            key = (len(explained), len(agreeing),
                   sum(t.case.kind != "ordinary" for t in agreeing))
            ranked.append((key, i, explained))
    if not ranked:
        return None
    ranked.sort(key=lambda r: r[0], reverse=True)
    best_key, best, explained = ranked[0]
    ids = [problem.twins[best].misconception]
    ids += [problem.twins[i].misconception for key, i, _ in ranked[1:]
            if key == best_key and problem.twins[i].misconception not in ids][:1]
    return tuple(ids), explained, _smallest(deciding)


def _symptom(problem, failures, deciding, runs, exclude):
    """A mistake recognised by what the learner's code did on a deciding failure: a symptom the
    problem declares, the exception a twin raises there with a message of the same shape, or
    the wrong shape a twin returns there."""
    for t in sorted(deciding, key=_size):
        for s in problem.symptoms:
            if s.misconception not in exclude and _shows(s, t):
                return (s.misconception,), [f for f in failures if _shows(s, f)], t
        for i, twin in enumerate(problem.twins):
            if twin.misconception in exclude:
                continue
            if _same_failure(t, runs(i, t)):
                return ((twin.misconception,),
                        [f for f in failures if _same_failure(f, runs(i, f))], t)
    return None


def _shows(symptom: Symptom, t: _Trial) -> bool:
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return bool(symptom.test(t.case, t.expected, t.outcome))
    except Exception:  # a symptom that cannot read this outcome does not show on it
        return False


def _same_failure(t: _Trial, twin: Outcome) -> bool:
    """The learner's failure on `t` looks like the twin's: the same exception type with a
    message of the same shape (the numbers aside: "operands could not be broadcast together
    with shapes (4,3) (4,)"), or a value of the same wrong shape (a missing keepdims)."""
    mine = t.outcome
    if mine.raised:
        return twin.raised and type(twin.error) is type(mine.error) and \
            _message_shape(mine.error) == _message_shape(twin.error) != ""
    if twin.raised or t.case.raises is not None:
        return False
    shape, twin_shape, expected_shape = _shape(mine.value), _shape(twin.value), \
        _shape(t.expected)
    return shape is not None and shape != expected_shape and shape == twin_shape


def _shape(x: Any) -> tuple | None:
    try:
        return as_array(x).shape
    except Exception:
        return None


def _message_shape(e: BaseException | None) -> str:
    return re.sub(r"\d+", "#", error_text(e)) if e is not None else ""


def _same_message(mine: BaseException | None, twin: BaseException | None) -> bool:
    return mine is not None and twin is not None and error_text(mine) == error_text(twin)


def _agree(problem: Problem, trial: _Trial, twin: Outcome) -> bool:
    mine = trial.outcome
    if mine.raised or twin.raised:
        return mine.raised and twin.raised and type(mine.error) is type(twin.error)
    if twin.value is None:
        return False
    _quiet.on = True
    try:
        tol = tolerance_for(problem, trial.case, mine.value, twin.value, agreeing=True)
        if problem.agree is not None:
            return bool(_with_case(problem.agree, twin.value, mine.value, tol, case=trial.case))
        return _with_case(problem.compare or compare_arrays, twin.value, mine.value, tol,
                          case=trial.case) is None
    except Exception:
        return False
    finally:
        _quiet.on = False


# ---------------------------------------------------------------------------------------------
# Invariants: what every right answer satisfies, said when the learner's output breaks it


def at_least(low: float, what: str) -> Callable:
    """An invariant for `Problem.invariants`: the output is never below `low` (0 for losses,
    entropies and divergences, 1 for perplexities)."""
    def invariant(case: Case, value: Any) -> str | None:
        v = as_array(value).astype(np.float64)
        if v.size and np.nanmin(v) < low:
            bound = "negative" if low == 0 else f"below {_fmt_number(low)}"
            return f"{what[:1].upper()}{what[1:]} is never {bound}, but yours is " \
                   f"{_fmt_number(np.nanmin(v))}."
        return None
    return invariant


def non_negative(what: str = "the loss") -> Callable:
    """An invariant for `Problem.invariants`: the output is never below 0."""
    return at_least(0.0, what)


def _invariant(problem: Problem, t: _Trial, trials: list[_Trial]) -> str:
    """" The probabilities sum to one, but yours sum to 1.37." when the learner's output breaks a
    property every right answer has, else "". Probabilities are recognised without declaring
    them: every expected output of the check is a distribution along some axis."""
    if t.outcome.raised or t.case.raises is not None or t.outcome.value is None:
        return ""
    checks = list(problem.invariants)
    if all(_distribution_axis(u.expected) is not None for u in trials if u.case.raises is None):
        checks.append(lambda case, value: _probabilities(t.expected, value))
    for check in checks:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                said = check(t.case, t.outcome.value)
        except Exception:
            said = None
        if said:
            return " " + said
    return ""


def _distribution_axis(expected: Any) -> int | None:
    """The axis along which `expected` is a probability distribution (entries in [0, 1], each
    slice summing to one, or to zero where everything is masked), else None."""
    try:
        e = as_array(expected)
    except Exception:
        return None
    if e.dtype.kind != "f" or e.ndim == 0 or e.size < 2 or not np.all(np.isfinite(e)) or \
            e.min() < 0 or e.max() > 1:
        return None
    for axis in reversed(range(e.ndim)):
        sums = e.sum(axis=axis, dtype=np.float64)
        ones = np.abs(sums - 1) < 1e-6
        if e.shape[axis] >= 2 and ones.any() and np.all(ones | (np.abs(sums) < 1e-12)):
            return axis
    return None


def _probabilities(expected: Any, value: Any) -> str | None:
    """Negative entries, or a slice of the learner's output that does not sum to one where the
    answer's does."""
    axis = _distribution_axis(expected)
    v = as_array(value).astype(np.float64)
    if axis is None or v.shape != np.shape(expected):
        return None
    if np.nanmin(v) < 0:
        return f"Probabilities are never negative, but yours include {_fmt_number(np.nanmin(v))}."
    ones = np.abs(as_array(expected).sum(axis=axis, dtype=np.float64) - 1) < 1e-6
    got = v.sum(axis=axis)
    off = ones & np.isfinite(got) & (np.abs(got - 1) > 1e-3)  # NaN is told already
    if not off.any():
        return None
    first = tuple(int(i) for i in np.argwhere(off)[0]) if got.ndim else ()
    s = _fmt_number(got[first])
    if v.ndim == 1:
        return f"The probabilities sum to one, but yours sum to {s}."
    if v.ndim == 2 and axis == 1:
        return f"Each row sums to one, but row {first[0]} of yours sums to {s}."
    return f"Each slice along axis {axis} sums to one, but one of yours sums to {s}."


# ---------------------------------------------------------------------------------------------
# Messages: short enough to read at a glance


MESSAGE_LIMIT = 600
"""Characters of message text, at most (the next step is added by the Result)."""


def _fit(build: Callable[[int], str]) -> str:
    """The message `build(width)` makes with the widest call that keeps it within the limit
    (width 0: arrays in calls by their shape; -1: one entry either side of a difference)."""
    for width in (400, 200, 100, 0, -1):
        text = build(width)
        if len(text) <= MESSAGE_LIMIT:
            return text
    return text[:MESSAGE_LIMIT - 1] + "…"


def _fit_call(problem: Problem, case: Case, width: int) -> str:
    """fmt_call within `width` characters where it can: arrays too long to show become their
    shape and dtype ("z=an array of shape (50, 100), float32")."""
    full = fmt_call(problem, case)
    if len(full) <= width:
        return full
    params = _param_names(problem.signature)

    def short(x: Any) -> str:
        text = fmt_value(x)
        if len(text) <= 40 or not (isinstance(x, (np.ndarray, list)) or _is_torch(x)) or \
                (np.size(x) <= 6 and len(text) <= 90):
            return text if len(text) <= 90 else text[:89] + "…"
        shape = tuple(np.shape(as_array(x))) if not isinstance(x, list) else (len(x),)
        dtype = dtype_name(x)
        kind = "a tensor" if _is_torch(x) else ("a list" if isinstance(x, list) else "an array")
        return f"{kind} of shape {shape}" + (f", {dtype}" if dtype and dtype != "float64"
                                             else "")
    parts = [f"{params[i]}={short(a)}" if i < len(params) else short(a)
             for i, a in enumerate(case.args)]
    parts += [f"{k}={short(v)}" for k, v in case.kwargs.items()]
    return f"{problem.name}({', '.join(parts)})"


def _fit_value(x: Any, width: int) -> str:
    text = fmt_value(x)
    if len(text) <= width:
        return text
    try:
        a = as_array(x)
    except NotAnArray:
        return text[:width - 1] + "…"
    return f"an array of shape {a.shape}"


def _versus(problem: Problem, t: _Trial, width: int) -> str:
    """"the answer is X but it returned Y", with arrays too long to read shown as their shape,
    the first differing index and a few entries around it."""
    o = t.outcome
    if o.mutated:
        return f"the answer is {_fit_value(_safe_array(t.expected), width)} but it tried to " \
               "write into the input"
    if o.raised:
        got = f"it raised {fmt_error(o.error)}" + (f" at {o.where}" if o.where else "")
        return f"the answer is {_fit_value(_safe_array(t.expected), width)} but {got}"
    e, g = _safe_array(t.expected), _safe_array(o.value)
    expected, got = fmt_value(e), fmt_value(g)
    if np.size(e) <= 36 and np.size(g) <= 36 and len(expected) + len(got) <= max(width, 120):
        return f"the answer is {expected} but it returned {got}"
    if isinstance(e, np.ndarray) and isinstance(g, np.ndarray) and e.shape == g.shape and \
            e.ndim >= 1 and e.dtype.kind in "biuf" and g.dtype.kind in "biuf":
        ef, gf = e.astype(np.float64), g.astype(np.float64)
        tol = tolerance_for(problem, t.case, o.value, t.expected)
        with np.errstate(all="ignore"):
            same = np.isclose(gf, ef, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
        if not same.all():
            index = tuple(int(i) for i in np.argwhere(~same)[0])
            span = 5 if width >= 200 else 3 if width >= 0 else 1
            lo = max(0, min(index[-1] - span // 2, e.shape[-1] - span))
            row, window = index[:-1], slice(lo, lo + span)
            where = index[0] if len(index) == 1 else index
            start = lo if len(index) == 1 else (*row, lo)
            ew, gw = _fmt_windows(e[row][window], g[row][window])
            return (f"the answer (shape {e.shape}) first differs at index {where}: from index "
                    f"{start} on it reads {ew} but yours reads {gw}")
    return f"the answer is {_fit_value(e, 100)} but it returned {_fit_value(g, 100)}"


def _fmt_windows(e: np.ndarray, g: np.ndarray) -> tuple[str, str]:
    """Two short arrays with just enough digits to tell them apart, like `_fmt_pair`."""
    for digits in (4, 6, 8, 12, 17):
        with np.printoptions(**{**_PRINT, "precision": digits}, suppress=_plain_decimals(e)):
            texts = [re.sub(r" +([,\]])", r"\1", " ".join(
                np.array2string(x, separator=", ").split())) for x in (e, g)]
        if texts[0] != texts[1]:
            break
    return texts[0], texts[1]


def _passed(problem: Problem, trials: list[_Trial], seed: int) -> Result:
    notes = list(dict.fromkeys(t.case.note for t in trials if t.case.note))
    including = f", including {_join(notes)}" if notes else ""
    return _result(problem, "passed", seed,
                   f"{problem.name} is right on all {len(trials)} inputs{including}.")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _diagnosed(problem: Problem, d: _Diagnosis, trials: list[_Trial], seed: int) -> Result:
    m = misconceptions.get(d.ids[0])
    second = misconceptions.get(d.ids[1]) if len(d.ids) > 1 else None

    def build(width: int) -> str:
        t = d.shown
        if t.case.raises is not None:
            what = _should_raise(problem, t, width) + "."
        else:
            what = f"On {_fit_call(problem, t.case, width)}{_note(t.case)} " \
                   f"{_versus(problem, t, width)}."
        text = f"{m.explanation} {what}{_invariant(problem, t, trials)}"
        if second is not None:
            where = f" on {_fit_call(problem, d.also.case, width // 2)}" \
                if d.also is not None and d.also is not t else ""
            text += f" It also shows a second mistake{where}: {second.name} ({second.id})."
        return text

    return Result(problem.id, "failed", _fit(build), misconception=m.id,
                  misconceptions=d.ids, title=m.name if second is None else
                  f"{m.name}; {second.name}", link=m.link, seed=seed)


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
