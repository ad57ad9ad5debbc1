"""`clip_loss`, CLIP's symmetric contrastive loss with its temperature τ (lesson 06b): the
reference passes and every twin is named on 30 seeds, right answers written in other styles
(loops, scipy, torch) pass, and wrong answers that no twin copies fail."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from learners import torch_in
from scipy import special

from tutor import checking, registry
from tutor.chapters.ch06_temperature import CLIP_IMAGES, CLIP_TEXTS, clip_loss

PROBLEM = registry.get("clip_loss")
SEEDS = range(30)


def _without_probes(problem):
    """The fixed probes are judged once; the other seeds only bring new drawn inputs."""
    return dataclasses.replace(problem, probes=tuple)


def passes_every_seed(answer):
    for seed in SEEDS:
        checked = PROBLEM if seed == SEEDS[0] else _without_probes(PROBLEM)
        result = checking.run(checked, answer, seed=seed)
        assert result.passed, f"{answer.__name__}, seed {seed}: {result.message}"


def test_reference_passes_on_30_seeds():
    passes_every_seed(PROBLEM.reference)


@pytest.mark.parametrize("index", range(len(PROBLEM.twins)),
                         ids=[t.fn.__name__ for t in PROBLEM.twins])
def test_every_twin_is_named_on_30_seeds(index):
    twin = PROBLEM.twins[index]
    for seed in SEEDS:
        result = checking.run(PROBLEM, twin.fn, seed=seed)
        assert result.status == "failed", (seed, result.message)
        assert result.misconception == twin.misconception, (seed, result.message)


def test_the_lesson_numbers():
    """Three pairs: 0.8579 at τ = 1, 0.0272 at CLIP's starting τ = 0.07; torch agrees."""
    import torch
    import torch.nn.functional as F

    assert math.isclose(clip_loss(CLIP_IMAGES, CLIP_TEXTS, 1.0), 0.8579, abs_tol=5e-5)
    assert math.isclose(clip_loss(CLIP_IMAGES, CLIP_TEXTS, 0.07), 0.0272, abs_tol=5e-5)
    i = F.normalize(torch.tensor(CLIP_IMAGES), dim=1)
    t = F.normalize(torch.tensor(CLIP_TEXTS), dim=1)
    logits = i @ t.T / 0.07
    target = torch.arange(3)
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    assert math.isclose(loss.item(), clip_loss(CLIP_IMAGES, CLIP_TEXTS, 0.07), rel_tol=1e-12)


def test_invalid_temperatures_raise():
    for tau in (0.0, -0.07):
        with pytest.raises(ValueError):
            clip_loss(CLIP_IMAGES, CLIP_TEXTS, tau)


# ---------------------------------------------------------------------------------------------
# Right answers, in other styles


def clip_loops(image_emb, text_emb, tau):
    if tau <= 0:
        raise ValueError("tau must be positive")
    image = [[v / math.sqrt(sum(u * u for u in row)) for v in row] for row in image_emb.tolist()]
    text = [[v / math.sqrt(sum(u * u for u in row)) for v in row] for row in text_emb.tolist()]
    N = len(image)
    S = [[sum(a * b for a, b in zip(image[i], text[j], strict=True)) / tau for j in range(N)]
         for i in range(N)]

    def ce(rows):
        total = 0.0
        for i, row in enumerate(rows):
            top = max(row)
            total += top + math.log(sum(math.exp(v - top) for v in row)) - row[i]
        return total / N

    columns = [list(c) for c in zip(*S, strict=True)]
    return (ce(S) + ce(columns)) / 2


def clip_scipy(image_emb, text_emb, tau):
    if not tau > 0:
        raise ValueError(f"bad tau {tau}")
    i = image_emb / np.linalg.norm(image_emb, axis=1, keepdims=True)
    t = text_emb / np.linalg.norm(text_emb, axis=1, keepdims=True)
    L = np.einsum("nd,md->nm", i, t) / tau
    rows = special.logsumexp(L, axis=1) - np.diag(L)
    columns = special.logsumexp(L, axis=0) - np.diag(L)
    return np.mean(rows + columns) / 2


def clip_torch(image_emb, text_emb, tau):
    import torch
    import torch.nn.functional as F

    if tau <= 0:
        raise ValueError("tau must be positive")
    i = F.normalize(torch_in(image_emb), dim=-1)
    t = F.normalize(torch_in(text_emb), dim=-1)
    logits = i @ t.T / tau
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def clip_open_clip_style(image_emb, text_emb, tau):
    """As open_clip writes it: a logit scale 1/τ, logits per image and per text."""
    import torch
    import torch.nn.functional as F

    if not tau > 0:
        raise ValueError("the temperature must be positive")
    logit_scale = torch.tensor(math.log(1 / tau), dtype=torch.float64).exp()
    image = torch_in(image_emb) / torch_in(image_emb).norm(dim=1, keepdim=True)
    text = torch_in(text_emb) / torch_in(text_emb).norm(dim=1, keepdim=True)
    logits_per_image = logit_scale * image @ text.T
    logits_per_text = logits_per_image.T
    labels = torch.arange(image.shape[0])
    return (F.cross_entropy(logits_per_image, labels)
            + F.cross_entropy(logits_per_text, labels)) / 2


@pytest.mark.parametrize("answer", [clip_loops, clip_scipy, clip_torch, clip_open_clip_style],
                         ids=lambda f: f.__name__)
def test_right_answers_in_other_styles_pass(answer):
    passes_every_seed(answer)


# ---------------------------------------------------------------------------------------------
# Wrong answers no twin copies: each fails on every seed


def w_directions_summed(image_emb, text_emb, tau):
    """The two directions added, not averaged."""
    return 2 * clip_loss(image_emb, text_emb, tau)


def w_normalised_by_max(image_emb, text_emb, tau):
    """Each row divided by its largest entry, not its length."""
    if tau <= 0:
        raise ValueError("tau must be positive")
    i = image_emb / np.abs(image_emb).max(axis=1, keepdims=True)
    t = text_emb / np.abs(text_emb).max(axis=1, keepdims=True)
    L = i @ t.T / tau
    return np.mean(special.logsumexp(L, axis=1) + special.logsumexp(L, axis=0)
                   - 2 * np.diag(L)) / 2


def w_one_softmax_over_the_batch(image_emb, text_emb, tau):
    """One softmax over all N² pairs, then the diagonal."""
    if tau <= 0:
        raise ValueError("tau must be positive")
    i = image_emb / np.linalg.norm(image_emb, axis=1, keepdims=True)
    t = text_emb / np.linalg.norm(text_emb, axis=1, keepdims=True)
    L = i @ t.T / tau
    return float(np.mean(special.logsumexp(L) - np.diag(L)))


def w_targets_reversed(image_emb, text_emb, tau):
    """Targets N − 1, …, 0: pair i matched with text N − 1 − i."""
    if tau <= 0:
        raise ValueError("tau must be positive")
    i = image_emb / np.linalg.norm(image_emb, axis=1, keepdims=True)
    t = text_emb / np.linalg.norm(text_emb, axis=1, keepdims=True)
    L = i @ t.T / tau
    y = np.arange(len(L))[::-1]
    rows = special.logsumexp(L, axis=1) - L[np.arange(len(L)), y]
    columns = special.logsumexp(L, axis=0) - L[y, np.arange(len(L))]
    return np.mean(rows + columns) / 2


def w_distance_not_similarity(image_emb, text_emb, tau):
    """Squared distances between unit vectors as logits: the nearest pair gets the lowest."""
    if tau <= 0:
        raise ValueError("tau must be positive")
    i = image_emb / np.linalg.norm(image_emb, axis=1, keepdims=True)
    t = text_emb / np.linalg.norm(text_emb, axis=1, keepdims=True)
    L = ((i[:, None, :] - t[None, :, :]) ** 2).sum(-1) / tau
    return np.mean(special.logsumexp(L, axis=1) + special.logsumexp(L, axis=0)
                   - 2 * np.diag(L)) / 2


@pytest.mark.parametrize("answer", [w_directions_summed, w_normalised_by_max,
                                    w_one_softmax_over_the_batch, w_targets_reversed,
                                    w_distance_not_similarity], ids=lambda f: f.__name__)
def test_wrong_answers_fail_on_every_seed(answer):
    for seed in SEEDS:
        result = checking.run(PROBLEM, answer, seed=seed)
        assert result.status == "failed", (seed, result.message)
