"""Input makers the chapter modules share: random shapes, logits, probability vectors."""

from __future__ import annotations

import numpy as np


def shape(rng: np.random.Generator, ndim: int | None = None, low: int = 2, high: int = 6,
          distinct: bool = True) -> tuple[int, ...]:
    """A random shape; with `distinct`, no two axes have the same length, so a reduction over
    the wrong axis cannot give the right shape by luck."""
    ndim = int(rng.integers(1, 4)) if ndim is None else ndim
    sizes = rng.permutation(np.arange(low, high + ndim))[:ndim] if distinct else \
        rng.integers(low, high + 1, ndim)
    return tuple(int(s) for s in sizes)


def logits(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 5.0,
           dtype=np.float64) -> np.ndarray:
    """Normal logits with standard deviation `scale`."""
    return (rng.normal(0.0, scale, shape)).astype(dtype)


def axis(rng: np.random.Generator, ndim: int) -> int:
    """A valid axis, negative half of the time."""
    a = int(rng.integers(0, ndim))
    return a - ndim if rng.random() < 0.5 else a


def probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Rows on the simplex along the last axis, none exactly 0."""
    p = rng.gamma(1.0, 1.0, shape) + 1e-3
    return p / p.sum(axis=-1, keepdims=True)
