"""Lesson 01, logits: a logit slider on the sigmoid curve with its odds, and evidence added on the
log-odds scale."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tutor.chapters.ch01_logits import logit as _logit
from tutor.chapters.ch01_logits import sigmoid as _sigmoid
from tutor.widgets import Explorer, LivePlot, slider

Z_RANGE = 8.0


def _odds_text(odds: float) -> str:
    """"3.00 : 1" for odds above one, "1 : 4.00" below: how people say odds."""
    if not np.isfinite(odds) or odds > 1e6:
        return "more than a million to 1"
    if odds < 1e-6:
        return "1 to more than a million"
    return f"{odds:.3g} : 1" if odds >= 1 else f"1 : {1 / odds:.3g}"


class SigmoidExplorer(Explorer):
    """Logit z → probability σ(z) on the curve, the two class probabilities, and the odds e^z.

    `sigmoid` is the function drawn (default: the course's reference), so a lesson can pass its
    own.
    """

    def __init__(self, sigmoid: Callable | None = None, z: float = 1.0):
        self.sigmoid = sigmoid or _sigmoid
        self.controls = {"z": slider("logit z", z, -Z_RANGE, Z_RANGE, 0.1)}
        self.plot = LivePlot(1, 2, figsize=(8.0, 3.0),
                             gridspec_kw={"width_ratios": [2.3, 1.0]})
        curve_ax, bar_ax = self.plot.axes
        grid = np.linspace(-Z_RANGE, Z_RANGE, 321)
        curve_ax.plot(grid, np.asarray(self.sigmoid(grid), dtype=float), color="#1565c0", lw=2,
                      label="σ(z)")
        curve_ax.axhline(0.5, color="#bbb", lw=0.8)
        curve_ax.axvline(0.0, color="#bbb", lw=0.8)
        (self.guide,) = curve_ax.plot([], [], color="#c62828", lw=1, ls="--")
        (self.marker,) = curve_ax.plot([], [], "o", color="#c62828", ms=9)
        self.label = curve_ax.text(0, 0, "", color="#c62828", fontsize=10)
        curve_ax.set_xlim(-Z_RANGE, Z_RANGE)
        curve_ax.set_ylim(-0.03, 1.03)
        curve_ax.set_xlabel("logit z (log-odds)")
        curve_ax.set_ylabel("p = σ(z)")
        self.bars = bar_ax.bar(["positive\np", "negative\n1 − p"], [0.5, 0.5],
                               color=["#c62828", "#9e9e9e"])
        self.bar_labels = [bar_ax.text(i, 0, "", ha="center", va="bottom") for i in range(2)]
        bar_ax.set_ylim(0, 1.15)
        self.odds_title = bar_ax.set_title("odds 2.72 : 1")
        self.plot.fig.tight_layout()
        self.plot.animate(self.guide, self.marker, self.label, *self.bars, *self.bar_labels,
                          self.odds_title)
        self._wire()

    def update(self) -> None:
        z = self.controls["z"].value
        p = float(np.asarray(self.sigmoid(np.array([z], dtype=float)), dtype=float)[0])
        self.marker.set_data([z], [p])
        self.guide.set_data([z, z, -Z_RANGE], [0.0, p, p])
        self.label.set_text(f"  σ({z:.1f}) = {p:.3f}")
        self.label.set_position((z if z < 2 else z - 5.5, min(p + 0.06, 0.97)))
        for bar, text, height in zip(self.bars, self.bar_labels, (p, 1 - p), strict=True):
            bar.set_height(height)
            text.set_text(f"{height:.3f}")
            text.set_y(height + 0.02)
        odds = float(np.exp(z))
        self.odds_title.set_text(f"odds {_odds_text(odds)}")
        self.readout.value = (
            f"z = <b>{z:.2f}</b> &nbsp; p = σ(z) = <b>{p:.4f}</b> &nbsp; 1 − p = {1 - p:.4f}"
            f" &nbsp; odds p/(1 − p) = e<sup>z</sup> = <b>{odds:.4g}</b> ({_odds_text(odds)})")
        self.plot.refresh()


class EvidenceExplorer(Explorer):
    """A prior probability and evidence δ added to its log-odds: the same δ moves p a lot near
    1/2 and little near 0 or 1, because it multiplies the odds, not the probability."""

    def __init__(self, prior: float = 0.2, delta: float = float(np.log(4.0))):
        self.controls = {"prior": slider("prior p", prior, 0.01, 0.99, 0.01),
                         "delta": slider("evidence δ (log-odds)", delta, -4.0, 4.0, 0.05)}
        self.plot = LivePlot(figsize=(6.8, 3.0))
        ax = self.plot.ax
        grid = np.linspace(-Z_RANGE, Z_RANGE, 321)
        ax.plot(grid, _sigmoid(grid), color="#9e9e9e", lw=1.5)
        (self.step,) = ax.plot([], [], color="#2e7d32", lw=3, solid_capstyle="butt")
        (self.before,) = ax.plot([], [], "o", color="#616161", ms=8, label="before")
        (self.after,) = ax.plot([], [], "o", color="#2e7d32", ms=9, label="after")
        (self.rise,) = ax.plot([], [], color="#2e7d32", lw=1, ls=":")
        ax.set_xlim(-Z_RANGE, Z_RANGE)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("log-odds")
        ax.set_ylabel("probability")
        ax.legend(loc="upper left", frameon=False)
        self.title = ax.set_title("p: 0.200 → 0.500")
        self.plot.fig.tight_layout()
        self.plot.animate(self.step, self.rise, self.before, self.after, self.title)
        self._wire()

    def update(self) -> None:
        p = self.controls["prior"].value
        delta = self.controls["delta"].value
        z = float(_logit(p))
        q = float(_sigmoid(z + delta))
        self.before.set_data([z], [p])
        self.after.set_data([z + delta], [q])
        self.step.set_data([z, z + delta], [p, p])
        self.rise.set_data([z + delta, z + delta], [p, q])
        self.title.set_text(f"p: {p:.3f} → {q:.3f}   (odds × {np.exp(delta):.3g})")
        self.readout.value = (
            f"log-odds {z:.3f} + δ {delta:+.2f} = {z + delta:.3f} &nbsp; | &nbsp; "
            f"odds {p / (1 - p):.4g} × {np.exp(delta):.4g} = {q / (1 - q):.4g} &nbsp; | &nbsp; "
            f"p {p:.4f} → <b>{q:.4f}</b> (change {q - p:+.4f})")
        self.plot.refresh()


def examples() -> list[Explorer]:
    return [SigmoidExplorer(), EvidenceExplorer()]
