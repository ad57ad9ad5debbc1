"""The explorers of lessons 08 and 09: the generation explorer (temperature, top-k, top-p, a
prompt and "sample again" change the bars and the text) and the tile explorer (the running max,
sum and accumulator of FlashAttention's loop, with and without the rescaling)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from tutor import lm
from tutor.widgets.at_scale import CURRENT, SEEN, UNSEEN, TileExplorer, exact_output, online_steps
from tutor.widgets.language_model import DROPPED, KEPT, SHOWN, GenerationExplorer


def heights(bars):
    return np.array([bar.get_height() for bar in bars])


def colours(bars):
    return [bar.get_facecolor() for bar in bars]


def text_of(e):
    return e.readout.value.split("<pre", 1)[1]


@pytest.fixture(scope="module")
def model():
    text, _ = lm.training_text()
    return lm.CountModel(text[:20_000])


# --- lesson 08: generation ---------------------------------------------------------------------

def test_bars_are_the_softmax_at_temperature_of_the_most_likely_characters(model):
    e = GenerationExplorer(model, prompt="The ", T=1.0, n=30)
    z = model.next_logits(list(model.vocab.encode("The ")))
    p = lm.softmax(z)
    order = np.argsort(-z, kind="stable")[:SHOWN]
    assert np.allclose(heights(e.prob_bars), p[order])
    assert np.allclose(heights(e.final_bars), p[order])          # nothing filtered at k = V
    labels = [t.get_text() for t in e.plot.axes[0].get_xticklabels()]
    assert labels == [lm.show(model.vocab.chars[i]) for i in order]


def test_temperature_sharpens_the_bars_and_changes_the_text(model):
    e = GenerationExplorer(model, T=1.0, n=40)
    text, top = text_of(e), heights(e.prob_bars)[0]
    e.controls["T"].value = 0.2
    assert heights(e.prob_bars)[0] > top
    assert text_of(e) != text


def test_top_k_keeps_k_characters_and_renormalises(model):
    e = GenerationExplorer(model, prompt="The ", n=40)
    e.controls["top-k"].value = 3
    n = e.state()["n_kept"]
    assert 3 <= n <= SHOWN                                 # ties at the boundary stay
    kept = [c == to_rgba(KEPT) for c in colours(e.prob_bars)]
    assert kept[:n] == [True] * n and not any(kept[n:])
    assert all(c == to_rgba(DROPPED) for c in colours(e.prob_bars)[n:])
    assert np.isclose(heights(e.final_bars)[:n].sum(), 1.0)
    assert f"kept <b>{n}</b> of" in e.readout.value


def test_top_p_shrinks_the_kept_set_as_p_falls(model):
    e = GenerationExplorer(model, n=20)
    sizes = []
    for p in (1.0, 0.9, 0.6, 0.3, 0.05):
        e.controls["top-p"].value = p
        sizes.append(e.state()["n_kept"])
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1 and sizes[0] == len(model.vocab)


def test_sample_again_draws_another_text_with_the_same_settings(model):
    e = GenerationExplorer(model, n=60)
    before, renders = text_of(e), e.plot.renders
    e.again.click()
    assert text_of(e) != before and e.seed == 1 and e.plot.renders == renders + 1
    assert "seed 1" in e.readout.value


def test_a_new_prompt_relabels_the_bars_and_starts_the_text(model):
    e = GenerationExplorer(model, prompt="The ", n=20)
    e.prompt.value = "softmax("
    assert "<b>softmax(</b>" in e.readout.value
    z = model.next_logits(list(model.vocab.encode("softmax(")))
    first = lm.show(model.vocab.chars[int(np.argmax(z))])
    assert e.plot.axes[0].get_xticklabels()[0].get_text() == first


def test_the_text_is_what_generate_gives_for_the_same_seed(model):
    e = GenerationExplorer(model, prompt="A ", n=50, T=0.7, k=10, p=0.9, seed=4)
    expected = lm.generate(model.next_logits, model.vocab, "A ", 50, T=0.7, k=10, p=0.9, seed=4)
    assert e.state()["text"] == expected


def test_the_explorer_samples_with_the_filters_it_is_given(model):
    calls = []

    def top_k(z, k):
        calls.append(k)
        return lm.top_k_filter(z, k)

    e = GenerationExplorer(model, n=5, k=4, filters=lm.Filters(top_k=top_k))
    assert calls and set(calls) == {4} and e.state()["n_kept"] == 4


def test_the_explorer_works_on_a_trained_run():
    run = lm.train(s=lm.Settings(context=8, width=8, steps=3, batch=4),
                   text="the softmax of the logits " * 20)
    e = GenerationExplorer(run, prompt="the ", n=10)
    assert len(e.state()["text"]) == 10


# --- lesson 09: tiles --------------------------------------------------------------------------

def test_the_running_statistics_end_at_the_exact_output():
    s, v = np.array([0.0, 3.0, 1.0, 5.0, 2.0]), np.array([1.0, -1.0, 0.5, 0.2, 0.0])
    run = online_steps(s, v, block=2)
    assert len(run["m"]) == 4 and run["m"][0] == -np.inf
    assert np.allclose(run["m"][1:], [3.0, 5.0, 5.0])
    assert np.isclose(run["l"][-1], np.exp(s - 5).sum())
    assert np.isclose(run["output"][-1], exact_output(s, v))


def test_without_rescaling_the_output_misses():
    s, v = np.array([0.0, 3.0, 1.0, 5.0, 2.0]), np.array([1.0, -1.0, 0.5, 0.2, 0.0])
    wrong = online_steps(s, v, block=2, rescale=False)
    assert not np.isclose(wrong["output"][-1], exact_output(s, v))
    assert wrong["l"][-1] > np.exp(s - 5).sum()


def test_the_tile_slider_colours_the_tiles_and_moves_the_max_line():
    e = TileExplorer(block=4, step=0)
    assert all(c == to_rgba(UNSEEN) for c in colours(e.bars))
    assert "no tile visited yet" in e.readout.value
    e.controls["step"].value = 3
    cs = colours(e.bars)
    assert all(c == to_rgba(SEEN) for c in cs[:8])
    assert all(c == to_rgba(CURRENT) for c in cs[8:12])
    assert all(c == to_rgba(UNSEEN) for c in cs[12:])
    assert np.isclose(e.max_line.get_ydata()[0], e.s[:12].max())
    assert e.cursor.get_xdata()[0] == 3
    shown = np.asarray(e.m_curve.get_ydata(), dtype=float)
    assert np.isfinite(shown[1:4]).all() and np.isnan(shown[4:]).all()


def test_the_last_tile_lands_on_the_exact_output_and_says_so():
    e = TileExplorer(block=4)
    e.controls["step"].value = e.n_tiles
    assert np.isclose(e.state()["output"], e.exact)
    assert "equal to the exact output" in e.readout.value
    e.controls["rescale"].value = False
    assert "off by" in e.readout.value


def test_a_tile_that_raises_the_max_shows_its_rescaling_factor():
    s = np.array([1.0, 0.0, 0.5, 0.2, 4.0, 3.0, 1.0, 0.0])
    e = TileExplorer(s, np.linspace(-1, 1, 8), block=4, step=2)
    assert f"multiplied by {np.exp(1.0 - 4.0):.4f}" in e.readout.value
