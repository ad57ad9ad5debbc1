"""Lesson 04, log-softmax: a gap slider for the logits (0, −gap) showing how far log(softmax) and
log-softmax land from the true log-probability of the smaller logit, in float32 and float64."""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np

from tutor.chapters.ch04_log_softmax import log_softmax as _log_softmax
from tutor.widgets import Explorer, LivePlot, slider

GAP = 800.0
FLOOR = 1e-17
"""Errors of exactly 0 are drawn here, at the bottom of the log axis."""
CEILING = 1e4
"""An infinite error (the returned value is −inf) is drawn here, at the top, on a row labelled
"∞ (−inf returned)"."""
DTYPES = (np.float32, np.float64)
# One colour per dtype; log(softmax) solid, log-softmax dashed.
COLOURS = {"float32": "#ef6c00", "float64": "#6a1b9a"}


def log_of_softmax(z, axis=-1):
    """log(softmax(z)) with a max-shifted softmax, in the input's own dtype: the way that fails."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return np.log(e / np.sum(e, axis=axis, keepdims=True))


def exact_log_prob(gap):
    """The true log-probability of the second logit of (0, −gap): −gap − log(1 + e^(−gap))."""
    gap = np.asarray(gap, dtype=np.float64)
    return -gap - np.log1p(np.exp(-gap))


def _error(computed, exact):
    """Distance from the true value, as drawn: an infinite error (a returned −inf) at the ceiling,
    0 at the floor."""
    computed = np.asarray(computed, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        err = np.abs(computed - exact)
    return np.where(np.isfinite(computed), np.clip(err, FLOOR, CEILING), CEILING)


def _fmt(value: float) -> str:
    if np.isneginf(value):
        return '<b style="color:#c62828">−inf</b>'
    if np.isnan(value):
        return '<b style="color:#c62828">NaN</b>'
    return f"{value:.6f}".replace("-", "−")


class LogSoftmaxGapExplorer(Explorer):
    """Logits (0, −gap): the log-probability of the second one, −gap − log(1 + e^(−gap)),
    computed as log(softmax(z)) and as log_softmax(z), each in float32 and float64.

    The plot shows each method's error against the gap (log scale; the infinite error of a returned −inf drawn on the top row),
    with dots at the slider's gap; the readout gives the four values. log(softmax) loses digits
    once e^(−gap) leaves the normal floats (87.3 in float32, 708.4 in float64) and is −inf past
    104.0 and 745.1; log-softmax stays on the floor. `log_softmax` is the function used for the
    log-softmax curves, called on float32 and float64 arrays of shape (n, 2) (default: the
    course's reference), so a lesson can pass its own.
    """

    def __init__(self, log_softmax: Callable | None = None, gap: float = 200.0):
        self.log_softmax = log_softmax or _log_softmax
        self.controls = {"gap": slider("gap between the logits", gap, 0.0, GAP, 0.5,
                                       readout_format=".1f")}
        self.plot = LivePlot(figsize=(8.0, 3.6))
        ax = self.plot.ax
        gaps = np.linspace(0.0, GAP, 1601)
        exact = exact_log_prob(gaps)
        self.markers = {}
        for dtype in DTYPES:
            name = np.dtype(dtype).name
            z = np.stack([np.zeros_like(gaps), -gaps], axis=-1).astype(dtype)
            with np.errstate(all="ignore"):
                naive = log_of_softmax(z)[:, 1]
                stable = np.asarray(self.log_softmax(z), dtype=np.float64)[:, 1]
            ax.plot(gaps, _error(naive, exact), color=COLOURS[name], lw=2,
                    label=f"log(softmax(z)), {name}")
            ax.plot(gaps, _error(stable, exact), color=COLOURS[name], lw=1.5, ls="--",
                    label=f"log_softmax(z), {name}")
            for method in ("naive", "stable"):
                (self.markers[name, method],) = ax.plot(
                    [], [], "o" if method == "naive" else "s", color=COLOURS[name], ms=8,
                    mfc="white" if method == "stable" else COLOURS[name])
        for x, text in ((104.0, "float32: −inf"), (745.1, "float64: −inf")):
            ax.axvline(x, color="#9e9e9e", lw=0.8, ls=":")
            ax.text(x - 8, 3e-3, text, rotation=90, fontsize=8, color="#616161",
                    ha="right", va="bottom")
        self.cursor = ax.axvline(gap, color="#c62828", lw=1)
        self.title = ax.set_title("gap 000.0: log(softmax) is −inf in float32 and float64")
        ax.set_yscale("log")
        ax.set_xlim(0, GAP)
        ax.set_ylim(FLOOR / 3, CEILING * 5)
        ax.set_yticks([FLOOR, 1e-12, 1e-8, 1e-4, 1.0, CEILING],
                      ["0", "1e−12", "1e−8", "1e−4", "1", "∞ (−inf returned)"])
        ax.set_xlabel("gap: the logits are (0, −gap)")
        ax.set_ylabel("error of log p₂")
        ax.legend(loc="center", bbox_to_anchor=(0.55, 0.45), fontsize=8, frameon=False)
        self.plot.fig.tight_layout()
        self.plot.animate(self.cursor, self.title, *self.markers.values())
        self._wire()

    def values(self) -> dict[tuple[str, str], float]:
        """(dtype name, "naive" or "stable") → the computed log p₂ at the slider's gap."""
        gap = self.controls["gap"].value
        out = {}
        for dtype in DTYPES:
            z = np.array([0.0, -gap], dtype=dtype)
            with np.errstate(all="ignore"):
                out[np.dtype(dtype).name, "naive"] = float(log_of_softmax(z)[1])
                out[np.dtype(dtype).name, "stable"] = float(
                    np.asarray(self.log_softmax(z[None, :]), dtype=np.float64)[0, 1])
        return out

    def update(self) -> None:
        gap = self.controls["gap"].value
        exact = float(exact_log_prob(gap))
        values = self.values()
        for key, value in values.items():
            self.markers[key].set_data([gap], [float(_error(value, exact))])
        self.cursor.set_xdata([gap, gap])
        failed = [f"{name}" for (name, method), v in values.items()
                  if method == "naive" and not np.isfinite(v)]
        self.title.set_text(f"gap {gap:.1f}: log(softmax) is −inf in {' and '.join(failed)}"
                            if failed else f"gap {gap:.1f}: every method is finite")
        self.title.set_color("#c62828" if failed else "black")
        rows = "".join(
            f"<tr><td>{name}</td><td>{_fmt(values[name, 'naive'])}</td>"
            f"<td>{_fmt(values[name, 'stable'])}</td></tr>"
            for name in ("float32", "float64"))
        self.readout.value = (
            f"z = (0, −{gap:g}); true log p₂ = {html.escape(_fmt(exact))}"
            "<table><tr><th></th><th>log(softmax(z))[1]</th><th>log_softmax(z)[1]</th></tr>"
            f"{rows}</table>")
        self.plot.refresh()


def examples() -> list[Explorer]:
    return [LogSoftmaxGapExplorer()]
