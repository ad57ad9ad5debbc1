"""Lesson 02, softmax: logit sliders with "add c to all" and "multiply all by" → probability bars;
and softmax next to one sigmoid per class for multi-label outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tutor.chapters.ch01_logits import sigmoid as _sigmoid
from tutor.chapters.ch02_softmax import softmax as _softmax
from tutor.widgets import Explorer, LivePlot, slider

LOGIT, SHIFT, SCALE = 5.0, 5.0, 3.0
"""Slider ranges; the logit axis is fixed at ±(SCALE·LOGIT + SHIFT) so it never re-ticks."""
_BAR = "#90caf9"
_TOP = "#1565c0"


def _labels(labels: Sequence[str] | None, k: int) -> list[str]:
    return list(labels) if labels is not None else [f"class {i}" for i in range(k)]


def _percent(p: float) -> str:
    return f"{100 * p:.1f}%" if p >= 0.001 else f"{100 * p:.2g}%"


class SoftmaxExplorer(Explorer):
    """One slider per logit, plus "add c to all" and "multiply all by s": the logits
    s·z + c as bars on the left, their softmax as bars on the right.

    Moving c shifts every logit bar and leaves the probabilities where they are; moving s
    stretches the gaps and makes the probabilities peakier. `softmax` is the function used on a
    1-D array (default: the course's reference), so a lesson can pass its own.
    """

    def __init__(self, softmax: Callable | None = None,
                 logits: Sequence[float] = (2.0, 1.0, 0.0),
                 labels: Sequence[str] | None = None):
        self.softmax = softmax or _softmax
        self.labels = _labels(labels, len(logits))
        self.controls = {name: slider(f"logit {name}", float(z), -LOGIT, LOGIT, 0.1)
                         for name, z in zip(self.labels, logits, strict=True)}
        self.controls["add c"] = slider("add c to all", 0.0, -SHIFT, SHIFT, 0.25)
        self.controls["multiply s"] = slider("multiply all by s", 1.0, 0.0, SCALE, 0.05)
        self.plot = LivePlot(1, 2, figsize=(8.0, 3.0))
        logit_ax, prob_ax = self.plot.axes
        k = len(self.labels)
        self.logit_bars = logit_ax.bar(self.labels, np.zeros(k), color="#bdbdbd")
        self.logit_labels = [logit_ax.text(i, 0, "", ha="center", fontsize=9)
                             for i in range(k)]
        logit_ax.axhline(0.0, color="#616161", lw=0.8)
        reach = SCALE * LOGIT + SHIFT
        logit_ax.set_ylim(-1.1 * reach, 1.1 * reach)
        logit_ax.set_yticks([-reach, -reach / 2, 0, reach / 2, reach])
        logit_ax.set_title("logits s·z + c")
        self.prob_bars = prob_ax.bar(self.labels, np.zeros(k), color=_BAR)
        self.prob_labels = [prob_ax.text(i, 0, "", ha="center", va="bottom", fontsize=9)
                            for i in range(k)]
        prob_ax.set_ylim(0, 1.12)
        prob_ax.set_title("probabilities softmax(s·z + c)")
        self.plot.fig.tight_layout()
        self.plot.animate(*self.logit_bars, *self.logit_labels, *self.prob_bars, *self.prob_labels)
        self._wire()

    def logits(self) -> np.ndarray:
        """The logits as shown: s·z + c."""
        z = np.array([self.controls[name].value for name in self.labels])
        return self.controls["multiply s"].value * z + self.controls["add c"].value

    def update(self) -> None:
        z = self.logits()
        p = np.asarray(self.softmax(z), dtype=float)
        top = int(np.argmax(p))
        for i, (bar, text, height) in enumerate(zip(self.logit_bars, self.logit_labels, z,
                                                    strict=True)):
            bar.set_height(height)
            bar.set_color(_TOP if i == top else "#bdbdbd")
            text.set_text(f"{height:.2f}")
            text.set_y(height + 0.8 if height >= 0 else height - 0.8)
            text.set_verticalalignment("bottom" if height >= 0 else "top")
        bars = zip(self.prob_bars, self.prob_labels, p, strict=True)
        for i, (bar, text, height) in enumerate(bars):
            bar.set_height(height)
            bar.set_color(_TOP if i == top else _BAR)
            text.set_text(_percent(height))
            text.set_y(height + 0.02)
        shown = ", ".join(f"{v:.2f}" for v in z)
        probs = ", ".join(f"{self.labels[i]} {_percent(v)}" for i, v in enumerate(p))
        c, s = self.controls["add c"].value, self.controls["multiply s"].value
        self.readout.value = (f"logits {s:.2f}·z {c:+.2f} = ({shown}) → {probs} &nbsp; | &nbsp; "
                              f"sum = <b>{p.sum():.6f}</b> &nbsp; argmax = "
                              f"<b>{self.labels[top]}</b>")
        self.plot.refresh()


class MultiLabelExplorer(Explorer):
    """One logit per label → softmax next to an independent sigmoid per label. Softmax makes
    the labels compete for one unit of probability; sigmoids answer each yes/no on its own."""

    def __init__(self, logits: Sequence[float] = (3.0, 3.0, -2.0),
                 labels: Sequence[str] | None = ("cat", "dog", "bird")):
        self.labels = _labels(labels, len(logits))
        self.controls = {name: slider(f"logit {name}", float(z), -6.0, 6.0, 0.1)
                         for name, z in zip(self.labels, logits, strict=True)}
        self.plot = LivePlot(figsize=(6.4, 3.0))
        ax = self.plot.ax
        x = np.arange(len(self.labels))
        self.softmax_bars = ax.bar(x - 0.2, np.zeros(len(x)), 0.4, color=_TOP, label="softmax")
        self.sigmoid_bars = ax.bar(x + 0.2, np.zeros(len(x)), 0.4, color="#ef6c00",
                                   label="sigmoid per label")
        ax.axhline(0.5, color="#9e9e9e", lw=0.8, ls="--")
        ax.set_xticks(x, self.labels)
        ax.set_ylim(0, 1.12)
        ax.legend(loc="upper right", frameon=False, fontsize=9)
        self.title = ax.set_title("softmax sums to 1.00")
        self.plot.fig.tight_layout()
        self.plot.animate(*self.softmax_bars, *self.sigmoid_bars, self.title)
        self._wire()

    def update(self) -> None:
        z = np.array([self.controls[name].value for name in self.labels])
        p_soft, p_sig = _softmax(z), _sigmoid(z)
        for bar, h in zip(self.softmax_bars, p_soft, strict=True):
            bar.set_height(h)
        for bar, h in zip(self.sigmoid_bars, p_sig, strict=True):
            bar.set_height(h)
        self.title.set_text(f"softmax sums to {p_soft.sum():.2f}, "
                            f"sigmoids to {p_sig.sum():.2f}")
        present = [n for n, q in zip(self.labels, p_sig, strict=True) if q > 0.5] or ["none"]
        winner = self.labels[int(np.argmax(p_soft))]
        self.readout.value = (
            "softmax: "
            + ", ".join(f"{n} {q:.3f}" for n, q in zip(self.labels, p_soft, strict=True))
            + f" (picks one: <b>{winner}</b>) &nbsp; | &nbsp; sigmoids: "
            + ", ".join(f"{n} {q:.3f}" for n, q in zip(self.labels, p_sig, strict=True))
            + f" (above 0.5: <b>{', '.join(present)}</b>)")
        self.plot.refresh()


def examples() -> list[Explorer]:
    return [SoftmaxExplorer(), MultiLabelExplorer()]
