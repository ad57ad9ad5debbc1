"""What the chapter checker tests share: learners' answers checked over several seeds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import tutor
from tutor import checking, registry

SEEDS = range(4)
SWEEP = range(100, 130)
"""The seeds every chapter's sweep runs over: the same verdict on each."""


def passes(problem_id, fn, seeds=SEEDS):
    """Assert that `fn` passes the check of `problem_id` on every seed."""
    for seed in seeds:
        result = tutor.check(problem_id, fn, seed=seed)
        assert result.passed, f"seed {seed}: {result.message}"


def torch_in(x):
    import torch

    return torch.as_tensor(np.asarray(x))


def assert_named_nine_in_ten(wrong, seeds=SEEDS, label=""):
    """Every (problem_id, answer, misconception) in `wrong` fails on every seed, and at least
    nine checks in ten name the intended misconception."""
    named, misnamed = 0, []
    for problem_id, answer, expected in wrong:
        for seed in seeds:
            result = tutor.check(problem_id, answer, seed=seed)
            assert not result.passed, f"{answer.__name__} passed {problem_id} (seed {seed})"
            if result.misconception == expected:
                named += 1
            else:
                misnamed.append((answer.__name__, seed, result.misconception, result.message))
    rate = named / (len(wrong) * len(seeds))
    assert rate >= 0.9, f"{label}{rate:.0%} named right; misses: {misnamed}"


def assert_named(problem_id, answer, expected):
    """One wrong answer, seed 0: it fails and is named `expected`."""
    result = tutor.check(problem_id, answer, seed=0)
    assert result.status == "failed"
    assert result.misconception == expected, result.message


def over_right(right):
    """Parametrise a test over (problem_id, answer) pairs, each named after its answer."""
    return pytest.mark.parametrize(
        ("problem_id", "answer"), right,
        ids=[f"{p}-{getattr(f, '__name__', 'fn')}" for p, f in right])


def over_wrong(wrong):
    """Parametrise a test over (problem_id, answer, misconception), named after the answer."""
    return pytest.mark.parametrize(("problem_id", "answer", "expected"), wrong,
                                   ids=[a.__name__ for _, a, _ in wrong])


class _Raised:
    def __init__(self, error):
        self.error = error


def remembering(problem):
    """`problem` whose calls are remembered per function and input: twins are pure functions of
    their inputs, so across the many checks of one seed each runs once per input instead of
    once per check. The verdicts are those of the plain problem; only the time differs."""
    memory, call = {}, problem.call

    def key_of(x):
        if isinstance(x, np.ndarray):
            return (x.dtype.str, x.shape, x.tobytes())
        return repr(x)

    def remembered(fn, case):
        key = (fn, tuple(map(key_of, case.args)),
               tuple((k, key_of(v)) for k, v in case.kwargs.items()))
        if key not in memory:
            try:
                memory[key] = call(fn, case) if call else fn(*case.args, **case.kwargs)
            except Exception as e:  # noqa: BLE001 - replayed as it was raised
                memory[key] = _Raised(e)
        if isinstance(memory[key], _Raised):
            raise memory[key].error
        return memory[key]

    return dataclasses.replace(problem, call=remembered)


def sweep(problem_id, answers, seeds, first=True):
    """Every (answer, expected) fails on every seed, named `expected` unless that is None: as
    the mistake (`first`), or as one of the two a message names (an answer that shows two)."""
    problem = registry.get(problem_id)
    for seed in seeds:
        remembered = remembering(problem)
        for answer, expected in answers:
            result = checking.run(remembered, answer, seed=seed)
            assert not result.passed, f"{answer.__name__} passed {problem_id} (seed {seed})"
            named = result.misconceptions[:1] if first else result.misconceptions
            assert expected is None or expected in named, \
                f"{answer.__name__}, seed {seed}: {result.misconceptions}: {result.message}"


def twins_of(problem_id):
    """(answer, misconception) for every twin of `problem_id`, as `sweep` takes them."""
    return [(t.fn, t.misconception) for t in registry.get(problem_id).twins]


def passes_every_seed(problem, answer, seeds=SWEEP):
    """`answer` passes the full check on the first seed, and the drawn inputs of the others
    (the probes, fixed, were judged on the first: their verdict on a deterministic answer is the
    same at every seed)."""
    for seed in seeds:
        checked = problem if seed == seeds[0] else dataclasses.replace(problem, probes=tuple)
        result = checking.run(checked, answer, seed=seed)
        assert result.passed, f"{getattr(answer, '__name__', answer)}, seed {seed}: " \
            f"{result.message}"


def fails_every_seed(problem, answer, expected, seeds=SWEEP):
    """The seeds on which `answer` passes, or is not named `expected` first (when `expected` is
    a catalogue id), as (seed, name given, message)."""
    misses = []
    for seed in seeds:
        result = checking.run(problem, answer, seed=seed)
        if result.passed or expected is not None and result.misconception != expected:
            misses.append((seed, result.misconception, result.message))
    return misses


def every_twin_named(problem_id, seeds=SWEEP):
    """Every twin of `problem_id` fails on every seed, named with its own misconception first."""
    problem = registry.get(problem_id)
    misses = {twin.fn.__name__: m for twin in problem.twins
              if (m := fails_every_seed(problem, twin.fn, twin.misconception, seeds))}
    assert not misses, misses


def every_right_answer_passes(problem_id, right, seeds=SWEEP):
    """The reference and every answer of `right` ((problem_id, answer) pairs) for this problem
    pass on every seed."""
    problem = registry.get(problem_id)
    for answer in [problem.reference, *(f for p, f in right if p == problem_id)]:
        passes_every_seed(problem, answer, seeds)


def every_wrong_answer_named(problem_id, table, seeds=SWEEP):
    """Every (problem_id, answer, misconception) of `table` for this problem fails on every
    seed, named with its misconception first when that is a catalogue id (None: only fails)."""
    problem = registry.get(problem_id)
    misses = {answer.__name__: m for p, answer, expected in table if p == problem_id
              if (m := fails_every_seed(problem, answer, expected, seeds))}
    assert not misses, misses
