"""Chapter 08 from the learner's side: torch answers in several styles pass with the right
values and gradients, wrong ones are named, and the tiny language model of the lesson trains
below the uniform baseline, repeatably, with whatever functions it is given."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from learners import (
    SWEEP,
    assert_named,
    assert_named_nine_in_ten,
    over_right,
    over_wrong,
    passes,
    sweep,
    twins_of,
)

import tutor
from tutor import lm
from tutor.chapters import ch08_tiny_language_model as ch08

# ---------------------------------------------------------------------------------------------
# Right answers, in several styles


def log_softmax_not_detached(z):
    m = z.max(dim=-1, keepdim=True).values
    return z - m - torch.log(torch.sum(torch.exp(z - m), dim=-1, keepdim=True))


def log_softmax_via_log1p(z):
    """Pulling the largest term out: log Σ e^(z − m) = log(1 + Σ_{others} e^(z − m))."""
    m = z.amax(dim=-1, keepdim=True)
    e = torch.exp(z - m)
    return z - m - torch.log1p(e.sum(dim=-1, keepdim=True) - 1)


def causal_softmax_where(scores):
    T = scores.shape[-1]
    i = torch.arange(T)
    keep = i[None, :] <= i[:, None]
    s = torch.where(keep, scores, torch.tensor(float("-inf"), dtype=scores.dtype))
    e = torch.exp(s - s.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


def causal_softmax_multiplied(scores):
    """exp of the shifted scores times the mask: fine, since the max is over kept entries."""
    T = scores.shape[-1]
    keep = torch.tril(torch.ones(T, T, dtype=scores.dtype))
    s = scores.masked_fill(keep == 0, float("-inf"))
    e = torch.exp(s - s.amax(-1, keepdim=True)) * keep
    return e / e.sum(-1, keepdim=True)


def attention_einsum(q, k, v):
    scores = torch.einsum("...id,...jd->...ij", q, k) / q.shape[-1] ** 0.5
    return torch.einsum("...ij,...jd->...id", ch08.torch_causal_softmax(scores), v)


def attention_matmul_mT(q, k, v):
    return causal_softmax_where(q @ k.mT / math.sqrt(q.shape[-1])) @ v


RIGHT = [
    ("torch_log_softmax", ch08.torch_log_softmax),
    ("torch_log_softmax", log_softmax_not_detached),
    ("torch_log_softmax", log_softmax_via_log1p),
    ("torch_log_softmax", lm.log_softmax),
    ("torch_causal_softmax", ch08.torch_causal_softmax),
    ("torch_causal_softmax", causal_softmax_where),
    ("torch_causal_softmax", causal_softmax_multiplied),
    ("torch_causal_softmax", lm.causal_softmax),
    ("torch_causal_attention", ch08.torch_causal_attention),
    ("torch_causal_attention", attention_einsum),
    ("torch_causal_attention", attention_matmul_mT),
    ("torch_causal_attention", lm.causal_attention),
]


@over_right(RIGHT)
def test_right_answers_in_any_style_pass(problem_id, answer):
    passes(problem_id, answer, seeds=range(2))


# ---------------------------------------------------------------------------------------------
# Wrong answers, written as learners write them


def log_of_softmax(z):
    return torch.log(torch.softmax(z, dim=-1))


def log_of_my_softmax(z):
    e = torch.exp(z - z.max(dim=-1, keepdim=True).values)
    return torch.log(e / e.sum(dim=-1, keepdim=True))


def no_shift(z):
    return z - torch.log(torch.exp(z).sum(-1, keepdim=True))


def builtin(z):
    return torch.nn.functional.log_softmax(z, dim=-1)


def masked_after(scores):
    T = scores.shape[-1]
    e = torch.exp(scores - scores.amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True) * torch.tril(torch.ones(T, T))


def triu_mask(scores):
    T = scores.shape[-1]
    s = scores.masked_fill(torch.tril(torch.ones(T, T, dtype=torch.bool), -1), float("-inf"))
    e = torch.exp(s - s.amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True)


def zero_fill(scores):
    T = scores.shape[-1]
    s = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), 0.0)
    e = torch.exp(s - s.amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True)


def attention_unscaled(q, k, v):
    return causal_softmax_where(q @ k.transpose(-2, -1)) @ v


def attention_without_mask(q, k, v):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    e = torch.exp(s - s.amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True) @ v


def attention_sdpa(q, k, v):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)


WRONG = [
    ("torch_log_softmax", log_of_softmax, "log_of_softmax"),
    ("torch_log_softmax", log_of_my_softmax, "log_of_softmax"),
    ("torch_log_softmax", no_shift, "no_max_shift"),
    ("torch_log_softmax", builtin, "forbidden_torch_function"),
    ("torch_causal_softmax", masked_after, "mask_after_softmax"),
    ("torch_causal_softmax", triu_mask, "causal_wrong_triangle"),
    ("torch_causal_softmax", zero_fill, "mask_fill_zero"),
    ("torch_causal_attention", attention_unscaled, "missing_sqrt_d"),
    ("torch_causal_attention", attention_without_mask, "no_causal_mask"),
    ("torch_causal_attention", attention_sdpa, "forbidden_torch_function"),
]


def test_wrong_answers_are_named_nine_times_in_ten():
    assert_named_nine_in_ten(WRONG, seeds=range(2))


@over_wrong(WRONG)
def test_each_wrong_answer_fails_with_its_name(problem_id, answer, expected):
    assert_named(problem_id, answer, expected)


def test_a_numpy_answer_is_told_to_stay_in_torch():
    result = tutor.check("torch_log_softmax", lambda z: z.detach().numpy() - 1, seed=0)
    assert result.status == "error" and "not a torch tensor" in result.message


def test_a_detached_answer_is_told_why_autograd_cannot_follow():
    result = tutor.check("torch_log_softmax", lambda z: ch08.torch_log_softmax(z).detach(),
                         seed=0)
    assert "autograd cannot differentiate" in result.message


def test_a_wrong_gradient_with_right_values_is_reported_as_such():
    class Straight(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            return ch08.torch_log_softmax(z.detach())

        @staticmethod
        def backward(ctx, g):
            return g                                  # the gradient of z itself: wrong

    result = tutor.check("torch_log_softmax", Straight.apply, seed=0)
    assert not result.passed
    assert "has the right values, but the gradient with respect to z" in result.message


# ---------------------------------------------------------------------------------------------
# The model and its text

TINY = lm.Settings(context=12, width=16, steps=25, batch=8)


@pytest.fixture(scope="module")
def text():
    return lm.training_text()


def test_the_text_is_the_course_prose_and_needs_no_download(text):
    body, source = text
    assert "lessons 01–07" in source
    assert len(body) > 20_000 and "softmax" in body


def test_without_the_lessons_the_text_comes_from_the_standard_library(tmp_path):
    body, source = lm.training_text(tmp_path)
    assert source == "docstrings of the standard library" and len(body) > 5_000


def test_the_vocabulary_round_trips_and_maps_unknown_characters_to_a_space():
    vocab = lm.Vocabulary.of("hello world")
    assert vocab.decode(vocab.encode("hello")) == "hello"
    assert vocab.decode(vocab.encode("hex")) == "he "


def test_ci_chooses_a_smaller_run(monkeypatch):
    monkeypatch.setenv("CI", "true")
    small = lm.settings()
    monkeypatch.delenv("CI")
    full = lm.settings()
    assert small.steps < full.steps and small.width <= full.width


def test_a_seeded_run_gives_the_same_losses_and_text(text):
    body, source = text
    first = lm.train(s=TINY, text=body[:5000], source=source)
    again = lm.train(s=TINY, text=body[:5000], source=source)
    assert first.losses == again.losses
    sample = lm.generate(first.next_logits, first.vocab, "The ", 40, T=0.8, seed=3)
    assert sample == lm.generate(again.next_logits, again.vocab, "The ", 40, T=0.8, seed=3)
    assert len(sample) == 40


def test_training_starts_near_ln_v_and_goes_below_it(text):
    body, source = text
    run = lm.train(s=lm.Settings(context=16, width=24, steps=120, batch=16), text=body[:20000])
    assert abs(run.losses[0] - run.baseline) < 0.5
    assert run.validation < run.baseline - 1.0
    assert np.mean(run.losses[-10:]) < run.baseline - 1.0


def test_the_model_trains_with_the_functions_it_is_given(text):
    calls = {"log_softmax": 0, "attention": 0}

    def counted_log_softmax(z):
        calls["log_softmax"] += 1
        return ch08.torch_log_softmax(z)

    def counted_attention(q, k, v):
        calls["attention"] += 1
        return ch08.torch_causal_attention(q, k, v)

    lm.train(counted_log_softmax, counted_attention, s=TINY, text=text[0][:3000])
    assert calls["log_softmax"] >= TINY.steps and calls["attention"] >= TINY.steps


def test_a_naive_log_softmax_turns_huge_logits_into_nan():
    z = torch.tensor([[100.0, 0.0, -5.0]]) * 10
    naive = torch.log(torch.exp(z) / torch.exp(z).sum(-1, keepdim=True))
    assert torch.isnan(naive).any()
    assert torch.isfinite(lm.log_softmax(z)).all()


def test_yours_or_reference_falls_back_until_the_check_passes(capsys):
    def stub(z):
        ...

    assert lm.yours_or_reference("torch_log_softmax", stub) is ch08.torch_log_softmax
    assert "reference (not written yet)" in capsys.readouterr().out
    assert lm.yours_or_reference("torch_log_softmax", log_softmax_via_log1p) is \
        log_softmax_via_log1p
    assert "yours" in capsys.readouterr().out
    assert lm.yours_or_reference("torch_log_softmax", no_shift) is ch08.torch_log_softmax
    assert "does not pass its check yet" in capsys.readouterr().out


def test_filters_keep_what_chapter_06_keeps():
    z = np.log([0.5, 0.25, 0.125, 0.125])
    assert np.isfinite(lm.top_k_filter(z, 2)).sum() == 2
    assert np.isfinite(lm.top_k_filter(z, 3)).sum() == 4          # the tie at the boundary
    assert np.isfinite(lm.top_p_filter(z, 0.5)).sum() == 1
    assert np.isfinite(lm.top_p_filter(z, 0.6)).sum() == 2         # the crossing entry kept
    before, kept, q = lm.next_distribution(z, 1.0, 4, 0.7)
    assert kept.tolist() == [True, True, False, False]
    assert np.allclose(q, [2 / 3, 1 / 3, 0, 0])


def test_greedy_generation_repeats_the_argmax():
    model = lm.CountModel("abababababab")
    assert lm.generate(model.next_logits, model.vocab, "a", 6, T=0) == "bababa"


# ---------------------------------------------------------------------------------------------
# Mistakes a blind test of learners' answers left unnamed (or passing on some seeds): each fails
# on every seed, named first with its misconception, and so does every twin.


def log_softmax_in_float32(z):
    x = z.float()
    m = x.amax(-1, keepdim=True)
    return (x - m - torch.log(torch.exp(x - m).sum(-1, keepdim=True))).double()


def log_softmax_clamped(z):
    x = z.clamp(-80, 80)
    return x - torch.log(torch.exp(x).sum(-1, keepdim=True))


def log_softmax_sum_without_keepdim(z):
    m = z.amax(-1, keepdim=True)
    return z - m - torch.log(torch.exp(z - m).sum(-1))


def causal_softmax_without_mask(scores):
    e = torch.exp(scores - scores.amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True)


def causal_softmax_masked_no_shift(scores):
    T = scores.shape[-1]
    e = torch.exp(scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")))
    return e / e.sum(-1, keepdim=True)


def causal_softmax_strictly_below(scores):
    """tril(−1), the first row's NaN patched to zeros."""
    T = scores.shape[-1]
    s = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(-1), float("-inf"))
    m = s.amax(-1, keepdim=True)
    e = torch.exp(s - torch.where(torch.isfinite(m), m, torch.zeros_like(m)))
    return e / e.sum(-1, keepdim=True).clamp_min(1e-300)


def causal_softmax_in_float32(scores):
    s = scores.float()
    T = s.shape[-1]
    s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    e = torch.exp(s - s.amax(-1, keepdim=True))
    return (e / e.sum(-1, keepdim=True)).to(scores.dtype)


BLIND_WRONG = [
    ("torch_log_softmax", log_softmax_in_float32, "lower_precision"),
    ("torch_log_softmax", log_softmax_clamped, "clips_logits"),
    ("torch_log_softmax", log_softmax_sum_without_keepdim, "missing_keepdims"),
    ("torch_causal_softmax", causal_softmax_without_mask, "no_causal_mask"),
    ("torch_causal_softmax", causal_softmax_masked_no_shift, "no_max_shift"),
    ("torch_causal_softmax", causal_softmax_strictly_below, "causal_no_diagonal"),
    ("torch_causal_softmax", causal_softmax_in_float32, "lower_precision"),
]


@pytest.mark.parametrize("problem_id", ["torch_log_softmax", "torch_causal_softmax"])
def test_wrong_answers_and_twins_fail_and_are_named_on_every_seed(problem_id):
    answers = [(a, e) for p, a, e in BLIND_WRONG if p == problem_id] + twins_of(problem_id)
    sweep(problem_id, answers, SWEEP)
