"""Lesson 03, numerical stability: naive against max-shifted softmax as the logits grow, in
float16, float32 and float64, with NaN and inf flagged; and log-sum-exp between its bounds
max ≤ LSE ≤ max + log n."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as w
import numpy as np

from tutor.chapters.ch03_stability import logsumexp as _logsumexp
from tutor.chapters.ch03_stability import stable_softmax as _stable_softmax
from tutor.widgets import Explorer, LivePlot, int_slider, slider

DTYPES = ("float16", "float32", "float64")
_NAIVE, _STABLE, _BAD = "#ef6c00", "#1565c0", "#c62828"
_REACH = 1e4
"""The magnitude slider and the right-hand axis go up to ±1e4, the problems' largest logits."""


def _naive_softmax(z):
    e = np.exp(z)
    return e / e.sum()


def _fmt(v) -> str:
    v = float(v)
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "inf" if v > 0 else "−inf"
    return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.3g}"


def _fmt_logit(v) -> str:
    return f"{float(v):.6g}".replace("-", "−")


def _fails(p, right) -> bool:
    """True when `p` is NaN or inf anywhere, or off `right` by more than 0.01 (the naive
    formula gives all zeros once Σ e^z overflows while each e^z is still finite, and coarse
    subnormal numbers when every e^z nearly underflows)."""
    p, right = np.asarray(p, dtype=float), np.asarray(right, dtype=float)
    return bool(not np.all(np.isfinite(p)) or np.max(np.abs(p - right)) > 1e-2)


def _flag(values, fmt=_fmt) -> str:
    """The values as text, with NaN and inf in red."""
    parts = []
    for v in np.ravel(values):
        text = fmt(v) if np.isfinite(v) else _fmt(v)
        parts.append(text if np.isfinite(v) else f"<b style='color:{_BAD}'>{text}</b>")
    return "(" + ", ".join(parts) + ")"


class StabilityExplorer(Explorer):
    """Logits ±M + (0, 1, −1) in a chosen dtype: the naive softmax e^z / Σ e^z next to the
    max-shifted one, as bars (NaN and inf written in red where a bar cannot be drawn), and on
    the right the probability of the largest logit against the signed magnitude, with the
    stretches where the naive formula fails (NaN, or off by more than 0.01) shaded.

    M = 1000 is the lesson's (1000, 1001, 999). `softmax` and `naive` are called on a 1-D
    array in the chosen dtype (defaults: the course's stable softmax and e^z / Σ e^z), so a
    lesson can pass its own.
    """

    def __init__(self, softmax: Callable | None = None, naive: Callable | None = None,
                 offsets: Sequence[float] = (0.0, 1.0, -1.0), magnitude: float = 1000.0,
                 dtype: str = "float32"):
        self.softmax = softmax or _stable_softmax
        self.naive = naive or _naive_softmax
        self.offsets = np.asarray(offsets, dtype=float)
        self.top = int(np.argmax(self.offsets))
        k = len(self.offsets)
        self.controls = {
            "magnitude": w.FloatLogSlider(value=magnitude, base=10, min=0, max=np.log10(_REACH),
                                          step=0.01, description="magnitude M",
                                          continuous_update=True, readout_format=".4g",
                                          style={"description_width": "initial"},
                                          layout=w.Layout(width="420px")),
            "sign": w.ToggleButtons(options=[("+M", 1.0), ("−M", -1.0)], value=1.0,
                                    description="logits", style={"button_width": "60px"}),
            "dtype": w.Dropdown(options=list(DTYPES), value=dtype, description="dtype"),
        }
        self.plot = LivePlot(1, 2, figsize=(9.0, 3.2))
        bar_ax, curve_ax = self.plot.axes
        x = np.arange(k)
        self.naive_bars = bar_ax.bar(x - 0.2, np.zeros(k), 0.4, color=_NAIVE,
                                     label="naive e^z / Σ e^z")
        self.stable_bars = bar_ax.bar(x + 0.2, np.zeros(k), 0.4, color=_STABLE,
                                      label="max-shifted")
        self.naive_labels = [bar_ax.text(i - 0.2, 0.02, "", ha="center", va="bottom",
                                         fontsize=8, color=_BAD, fontweight="bold",
                                         rotation=90) for i in x]
        self.stable_labels = [bar_ax.text(i + 0.2, 0.02, "", ha="center", va="bottom",
                                          fontsize=8, color=_BAD, fontweight="bold",
                                          rotation=90) for i in x]
        bar_ax.set_xticks(x, [f"z{i}" for i in x])
        bar_ax.set_ylim(0, 1.25)
        bar_ax.legend(loc="upper left", frameon=False, fontsize=8)
        self.bar_title = bar_ax.set_title("naive and max-shifted agree", fontsize=10)

        self.grid = np.concatenate([-np.geomspace(_REACH, 1, 240), np.geomspace(1, _REACH, 240)])
        curve_ax.set_xscale("symlog", linthresh=1.0)
        curve_ax.set_xlim(-_REACH, _REACH)
        curve_ax.set_ylim(-0.05, 1.1)
        curve_ax.set_xlabel("signed magnitude ±M")
        curve_ax.set_ylabel(f"p(z{self.top})")
        self.spans = [curve_ax.axvspan(-_REACH, -_REACH, color=_BAD, alpha=0.15, lw=0,
                                       label="naive fails" if i == 0 else None)
                      for i in range(2)]
        (self.stable_curve,) = curve_ax.plot(self.grid, np.zeros_like(self.grid), color=_STABLE,
                                             lw=2, label="max-shifted")
        (self.naive_curve,) = curve_ax.plot(self.grid, np.zeros_like(self.grid), color=_NAIVE,
                                            lw=1.5, ls="--", label="naive (gaps are NaN)")
        self.marker = curve_ax.axvline(magnitude, color="#424242", lw=1)
        curve_ax.legend(loc="lower center", frameon=False, fontsize=8)
        curve_ax.set_title(f"p(z{self.top}) as the logits grow", fontsize=10)
        self.plot.fig.tight_layout()
        # Only what moves is redrawn: bars, their NaN/inf labels and the verdict above them,
        # the curves and shading (which change with the dtype) and the marker.
        self.plot.animate(*self.naive_bars, *self.stable_bars, *self.naive_labels,
                          *self.stable_labels, self.bar_title, *self.spans,
                          self.stable_curve, self.naive_curve, self.marker)
        self._curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._shown_dtype = None
        self.works: tuple[float, float] | None = None
        """The stretch of ±M where the naive formula still works, for the shown dtype."""
        self._wire()

    def logits(self) -> np.ndarray:
        """The logits ±M + offsets, in the chosen dtype."""
        c = self.controls["sign"].value * self.controls["magnitude"].value
        return (c + self.offsets).astype(self.controls["dtype"].value)

    def _curve(self, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """p(top) over the magnitude grid for both formulas, and where the naive one fails;
        computed once per dtype."""
        if dtype not in self._curves:
            naive, stable, fails = [], [], []
            with np.errstate(all="ignore"):
                for c in self.grid:
                    z = (c + self.offsets).astype(dtype)
                    p, q = np.asarray(self.naive(z)), np.asarray(self.softmax(z))
                    naive.append(float(p[self.top]))
                    stable.append(float(q[self.top]))
                    fails.append(_fails(p, q))
            self._curves[dtype] = (np.array(naive), np.array(stable), np.array(fails))
        return self._curves[dtype]

    def _show_curves(self, dtype: str) -> None:
        naive, stable, fails = self._curve(dtype)
        self.naive_curve.set_ydata(naive)
        self.stable_curve.set_ydata(stable)
        sides = (self.grid[(self.grid < 0) & fails], self.grid[(self.grid > 0) & fails])
        for span, side in zip(self.spans, sides, strict=True):
            start, end = (float(side.min()), float(side.max())) if side.size else (0.0, 0.0)
            span.set_x(start)
            span.set_width(end - start)
        self.works = self._working_range(dtype, fails)
        self._shown_dtype = dtype

    def _working_range(self, dtype: str, fails: np.ndarray) -> tuple[float, float] | None:
        """Where the naive formula stops working on either side: the grid points where it
        flips, refined by bisection."""
        works = np.flatnonzero(~fails)
        if not works.size:
            return None

        def edge(good: float, bad: float) -> float:
            for _ in range(40):
                middle = (good + bad) / 2
                z = (middle + self.offsets).astype(dtype)
                with np.errstate(all="ignore"):
                    broken = _fails(self.naive(z), self.softmax(z))
                good, bad = (good, middle) if broken else (middle, bad)
            return good

        first, last = works[0], works[-1]
        low = self.grid[0] if first == 0 else edge(self.grid[first], self.grid[first - 1])
        high = self.grid[-1] if last == len(self.grid) - 1 else \
            edge(self.grid[last], self.grid[last + 1])
        return float(low), float(high)

    def update(self) -> None:
        dtype = self.controls["dtype"].value
        if dtype != self._shown_dtype:
            self._show_curves(dtype)
        z = self.logits()
        with np.errstate(all="ignore"):
            e = np.exp(z)
            total = np.sum(e)
            p_naive = np.asarray(self.naive(z))
            p_stable = np.asarray(self.softmax(z))
        for bars, labels, p in ((self.naive_bars, self.naive_labels, p_naive),
                                (self.stable_bars, self.stable_labels, p_stable)):
            for bar, label, v in zip(bars, labels, p, strict=True):
                ok = bool(np.isfinite(v))
                bar.set_height(float(v) if ok else 0.0)
                # Values are in the readout; the plot only writes what a bar cannot show.
                label.set_text("" if ok else _fmt(v))
        nan = int(np.sum(~np.isfinite(p_naive)))
        bad = _fails(p_naive, p_stable)
        if nan:
            verdict = f"naive: NaN in {nan} of {len(p_naive)}"
        elif bad:
            verdict = ("naive: sums to 0 (Σ e^z = inf)" if np.isinf(total) else
                       "naive: off by more than 0.01")
        else:
            verdict = "naive and max-shifted agree"
        self.bar_title.set_text(verdict)
        self.bar_title.set_color(_BAD if bad else "#212121")
        c = self.controls["sign"].value * self.controls["magnitude"].value
        self.marker.set_xdata([c, c])

        exact = c + self.offsets
        z64 = z.astype(float)
        rounded = ""
        if np.max(np.abs((z64 - z64.max()) - (exact - exact.max()))) > 1e-3:
            rounded = (f"<br><i>{dtype} stores these logits as ("
                       + ", ".join(_fmt_logit(v) for v in z)
                       + "): the shift cannot bring back gaps that the dtype rounded away.</i>")
        works = ""
        if self.works:
            low, high = (_fmt_logit(f"{v:.3g}") for v in self.works)
            works = (f"<br>In {dtype} the naive formula works only for ±M between {low} and "
                     f"{high} (the unshaded stretch on the right).")
        m = z.max()
        shown = ", ".join(_fmt_logit(v) for v in z)
        self.readout.value = (
            f"z = ({shown}) in {dtype} &nbsp; e^z = {_flag(e, _fmt_logit)}, "
            f"Σ e^z = {_flag([total], _fmt_logit)[1:-1]}"
            f"<br>naive e^z / Σ e^z = {_flag(p_naive)} {'✗' if bad else '✓'}"
            f"<br>max-shifted e^(z − m) / Σ e^(z − m), m = {_fmt_logit(m)}: e^(z − m) = "
            f"{_flag(np.exp(z64 - z64.max()))} → {_flag(p_stable)} "
            f"{'✗' if not np.all(np.isfinite(p_stable)) else '✓'}{rounded}{works}")
        self.plot.refresh()


_GAPS = np.array([0.0, 0.3, 0.7, 1.0, 1.2, 1.6, 2.0, 2.3, 2.6, 2.8, 3.0, 3.3])
"""How far below the largest logit each of the others sits, before the spread scales them."""


class SmoothMaxExplorer(Explorer):
    """n logits z_i = c + 2 − s·g_i as bars, with three levels across them: the max, the
    log-sum-exp, and max + log n. Spread s = 0 makes all logits equal and LSE meets the upper
    bound; a wide spread leaves the max alone and LSE meets it. Moving c moves LSE by exactly c
    (equivariance), while the softmax, read off as p(max) = e^(max − LSE), stays put.

    `logsumexp` is called on the 1-D array of logits (default: the course's reference).
    """

    def __init__(self, logsumexp: Callable | None = None, n: int = 5, spread: float = 1.0):
        self.logsumexp = logsumexp or _logsumexp
        self.controls = {
            "spread": slider("spread s", spread, 0.0, 2.0, 0.05),
            "n": int_slider("n logits", n, 1, len(_GAPS)),
            "add c": slider("add c to all", 0.0, -2.0, 2.0, 0.1),
        }
        self.plot = LivePlot(figsize=(6.4, 3.2))
        ax = self.plot.ax
        x = np.arange(len(_GAPS))
        self.bars = ax.bar(x, np.zeros(len(x)), 0.6, color="#bdbdbd")
        self.max_line = ax.axhline(0, color="#212121", lw=1.5, label="max")
        self.lse_line = ax.axhline(0, color=_STABLE, lw=2.5, label="LSE = log Σ e^z")
        self.upper_line = ax.axhline(0, color=_BAD, lw=1.5, ls="--", label="max + log n")
        ax.set_xlim(-0.6, len(_GAPS) - 0.4)
        ax.set_ylim(-7.5, 7.5)
        ax.axhline(0, color="#9e9e9e", lw=0.6)
        ax.set_xticks(x, [str(i) for i in x])
        ax.set_xlabel("logit index")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
        self.title = ax.set_title("max 0.00 ≤ LSE 0.00 ≤ max + log n 0.00", fontsize=10)
        self.plot.fig.tight_layout()
        self.plot.animate(*self.bars, self.max_line, self.lse_line, self.upper_line, self.title)
        self._wire()

    def logits(self) -> np.ndarray:
        n = self.controls["n"].value
        return self.controls["add c"].value + 2.0 - self.controls["spread"].value * _GAPS[:n]

    def update(self) -> None:
        z = self.logits()
        n = len(z)
        m = float(z.max())
        lse = float(self.logsumexp(z))
        upper = m + float(np.log(n))
        for i, bar in enumerate(self.bars):
            bar.set_visible(i < n)
            bar.set_height(z[i] if i < n else 0.0)
        for line, level in ((self.max_line, m), (self.lse_line, lse), (self.upper_line, upper)):
            line.set_ydata([level, level])
        p_max = float(np.exp(m - lse))
        self.title.set_text(f"max {m:.2f} ≤ LSE {lse:.2f} ≤ max + log n {upper:.2f}")
        c = self.controls["add c"].value
        self.readout.value = (
            f"n = {n}, max = <b>{m:.3f}</b> ≤ LSE = <b>{lse:.3f}</b> ≤ max + log n = "
            f"<b>{upper:.3f}</b> &nbsp; | &nbsp; LSE − max = {lse - m:.3f} = −log p(max), "
            f"p(max) = e^(max − LSE) = <b>{p_max:.3f}</b>, between 1/n = {1 / n:.3f} and 1"
            f"<br>LSE(z) − c = {lse - c:.3f} whatever c is (here c = {c:+.1f}): LSE moves "
            "with the logits, softmax does not.")
        self.plot.refresh()


def examples() -> list[Explorer]:
    return [StabilityExplorer(), SmoothMaxExplorer()]
