"""Lesson 08, a tiny language model: temperature, top-k and top-p sliders, a prompt box and a
"sample again" button on a trained character model; the next-character bars and the generated
text change in place.

The explorer takes anything with `vocab` (a `tutor.lm.Vocabulary`) and `next_logits(ids)` (the
logits of the next character): the lesson's trained `tutor.lm.Run`, or a `tutor.lm.CountModel`
in tests. The filters are `tutor.lm.Filters`: the course's, or the learner's from chapter 06.
"""

from __future__ import annotations

import html

import ipywidgets as w
import numpy as np

from tutor import lm
from tutor.widgets import Explorer, LivePlot, int_slider, slider

KEPT = "#1565c0"
DROPPED = "#bdbdbd"
SAMPLED = "#2e7d32"
SHOWN = 16
"""Bars drawn: the most likely next characters."""


class GenerationExplorer(Explorer):
    """Temperature, then top-k, then top-p, on the model's next-character distribution after
    the prompt (left: softmax(z / T) of the most likely characters, kept ones in blue; right:
    the distribution sampled from, renormalised over the kept set), and `n` characters
    generated with those settings. "Sample again" draws another text with the same settings;
    the seed is shown so a text can be reproduced with `tutor.lm.generate`."""

    def __init__(self, model, prompt: str = "The softmax ", filters: lm.Filters | None = None,
                 n: int = 100, T: float = 0.8, k: int | None = None, p: float = 1.0,
                 seed: int = 0):
        self.model, self.vocab, self.n = model, model.vocab, n
        self.filters = filters or lm.Filters()
        self.seed = seed
        V = len(self.vocab)
        self.controls = {
            "T": slider("temperature T", T, 0.1, 2.0, 0.05),
            "top-k": int_slider("top-k (k = V: off)", V if k is None else k, 1, V),
            "top-p": slider("top-p (p = 1: off)", p, 0.05, 1.0, 0.01),
        }
        self.prompt = w.Text(value=prompt, description="prompt", continuous_update=False,
                             layout=w.Layout(width="420px"))
        self.again = w.Button(description="sample again", icon="refresh")
        self.prompt.observe(self._prompt_changed, names="value")
        self.again.on_click(self._sample_again)
        self.shown = min(SHOWN, V)
        self.plot = LivePlot(1, 2, figsize=(9.6, 3.0))
        left, right = self.plot.axes
        x = np.arange(self.shown)
        self.prob_bars = left.bar(x, np.zeros(self.shown), color=KEPT)
        self.final_bars = right.bar(x, np.zeros(self.shown), color=SAMPLED)
        for ax, title in ((left, "softmax(z / T): kept in blue, dropped in grey"),
                          (right, "renormalised over the kept set: sampled from")):
            ax.set_ylim(0, 1.05)
            ax.set_title(title, fontsize=10)
        self.plot.fig.tight_layout()
        self.plot.animate(*self.prob_bars, *self.final_bars)
        self._labelled = None
        self._wire(extra=[w.HBox([self.prompt, self.again])])

    def _prompt_changed(self, change) -> None:
        self.update()

    def _sample_again(self, button=None) -> None:
        self.seed += 1
        self.update()

    def state(self) -> dict:
        """The next-character distribution after the prompt under the current controls (the
        `SHOWN` most likely characters, in order), and the generated text."""
        T, k, p = (self.controls[n].value for n in ("T", "top-k", "top-p"))
        z = self.model.next_logits(list(self.vocab.encode(self.prompt.value)))
        before, kept, final = lm.next_distribution(z, T, k, p, self.filters)
        order = np.argsort(-z, kind="stable")[:self.shown]
        text = lm.generate(self.model.next_logits, self.vocab, self.prompt.value, self.n, T=T,
                           k=k, p=p, seed=self.seed, filters=self.filters)
        return dict(T=T, k=k, p=p, order=order, probs=before[order], kept=kept[order],
                    final=final[order], n_kept=int(kept.sum()), text=text,
                    chars=[self.vocab.chars[i] for i in order],
                    entropy=0.0 - float((final[final > 0] * np.log(final[final > 0])).sum()))

    def update(self) -> None:
        s = self.state()
        if self._labelled != s["chars"]:          # a new prompt: new characters on the axis
            for ax in self.plot.axes:
                ax.set_xticks(np.arange(self.shown), [lm.show(c) for c in s["chars"]], fontsize=9)
            self._labelled = s["chars"]
            self.plot.invalidate()
        for bar, h, keep in zip(self.prob_bars, s["probs"], s["kept"], strict=True):
            bar.set_height(h)
            bar.set_color(KEPT if keep else DROPPED)
        for bar, h in zip(self.final_bars, s["final"], strict=True):
            bar.set_height(h)
        prompt = html.escape(self.prompt.value)
        self.readout.value = (
            f"T = {s['T']:.2f}, top-k = {s['k']}, top-p = {s['p']:.2f} → kept "
            f"<b>{s['n_kept']}</b> of {len(self.vocab)} characters, entropy of what is sampled "
            f"<b>{s['entropy']:.2f}</b> nats &nbsp;|&nbsp; seed {self.seed}"
            f"<pre style='white-space: pre-wrap; margin: 4px 0'><b>{prompt}</b>"
            f"{html.escape(s['text'])}</pre>")
        self.plot.refresh()


def examples() -> list[Explorer]:
    text, _ = lm.training_text()
    return [GenerationExplorer(lm.CountModel(text[:30_000]), n=60)]
