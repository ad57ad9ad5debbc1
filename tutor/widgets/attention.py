"""Lesson 07, attention masking: why scores are divided by √d (a d slider with the scaling on or
off → one query's weights and the weight entropy), and what causal and padding masks do to the
attention weights (length, padding and causal controls → mask and weight heatmaps)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap

from tutor.chapters.ch02_softmax import softmax as _softmax
from tutor.chapters.ch07_attention_masking import masked_softmax as _masked_softmax
from tutor.widgets import Explorer, LivePlot, int_slider

D_MAX = 512
"""Largest dimension on the d slider."""
N_MAX = 10
"""Largest sequence length of the mask explorer; the heatmaps are always N_MAX × N_MAX."""
_BAR, _TOP = "#90caf9", "#1565c0"
_RAW, _SCALED = "#ef6c00", "#1565c0"


def _checkbox(description: str, value: bool) -> w.Checkbox:
    return w.Checkbox(value=value, description=description, indent=False,
                      layout=w.Layout(width="420px"))


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Entropy in nats along `axis`, with 0·log 0 counted as 0."""
    p = np.asarray(p, dtype=float)
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=axis)


def _gradient_size(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """‖diag(p) − ppᵀ‖ (Frobenius) along `axis`: how strongly the weights still respond to the
    scores. Σp² − 2Σp³ + (Σp²)² is its square, so no K×K matrix is built."""
    p = np.asarray(p, dtype=float)
    s2, s3 = (p**2).sum(axis=axis), (p**3).sum(axis=axis)
    return np.sqrt(np.maximum(s2 - 2 * s3 + s2**2, 0.0))


class ScalingExplorer(Explorer):
    """The d slider and a "divide by √d" switch. Left: one query's attention weights over
    `keys` random keys. Right: the mean entropy of such weights against d, with the scores
    raw and divided by √d, and a marker at the current setting.

    q and k have independent unit-normal entries, so the raw score q·k has variance d: without
    the scaling, the softmax saturates towards one key as d grows; with it, the spread of the
    scores, and so the entropy, stays put. The dotted curves give the size of the softmax's
    gradient, ‖diag(p) − ppᵀ‖: a saturated softmax passes almost no gradient back to the scores,
    which is what stalls training without the scaling. `softmax` is the function applied to one row of
    scores (default: the course's reference), so a lesson can pass its own.
    """

    def __init__(self, softmax: Callable | None = None, d: int = 64, keys: int = 8,
                 scaled: bool = False, seed: int = 0):
        self.softmax = softmax or _softmax
        rng = np.random.default_rng(seed)
        self.keys = keys
        # Scores for every d at once: the first d entries of q·k are a cumulative sum.
        q = rng.normal(size=(1 + 200, D_MAX))
        k = rng.normal(size=(1 + 200, keys, D_MAX))
        self.raw_scores = np.cumsum(q[:, None, :] * k, axis=-1)      # (queries, keys, D_MAX)
        self.d_grid = np.arange(1, D_MAX + 1)
        sample = self.raw_scores[1:]
        raw = _entropy(_softmax(sample, axis=1), axis=1).mean(axis=0)
        scaled_scores = sample / np.sqrt(self.d_grid)
        self.score_std = {False: sample.std(axis=(0, 1)), True: scaled_scores.std(axis=(0, 1))}
        self.mean_entropy = {False: raw,
                             True: _entropy(_softmax(scaled_scores, axis=1), axis=1).mean(axis=0)}
        self.mean_gradient = {
            False: _gradient_size(_softmax(sample, axis=1), axis=1).mean(axis=0),
            True: _gradient_size(_softmax(scaled_scores, axis=1), axis=1).mean(axis=0)}
        self.controls = {
            "d": int_slider("dimension d", d, 1, D_MAX),
            "scaled": _checkbox("divide the scores by √d", scaled),
        }
        self.plot = LivePlot(1, 2, figsize=(7.6, 2.8),
                             gridspec_kw={"width_ratios": [1.0, 1.25]})
        bar_ax, curve_ax = self.plot.axes
        labels = [f"k{j}" for j in range(keys)]
        self.bars = bar_ax.bar(labels, np.zeros(keys), color=_BAR)
        bar_ax.set_ylim(0, 1.05)
        bar_ax.set_ylabel("weight")
        bar_ax.axhline(1 / keys, color="#9e9e9e", lw=0.8, ls="--")
        bar_ax.set_title("one query's weights over its keys", fontsize=10)
        curve_ax.plot(self.d_grid, self.mean_entropy[False], color=_RAW, lw=2, label="q·k")
        curve_ax.plot(self.d_grid, self.mean_entropy[True], color=_SCALED, lw=2,
                      label="q·k / √d")
        curve_ax.axhline(np.log(keys), color="#9e9e9e", lw=0.8, ls="--")
        curve_ax.text(1.2, np.log(keys) * 0.97, f"uniform: ln {keys}", va="top", fontsize=8,
                      color="#757575")
        curve_ax.set_xscale("log")
        curve_ax.set_xlim(1, D_MAX)
        curve_ax.set_ylim(0, np.log(keys) * 1.08)
        curve_ax.set_xlabel("d")
        curve_ax.set_ylabel("mean entropy (nats)")
        grad_ax = curve_ax.twinx()
        grad_ax.plot(self.d_grid, self.mean_gradient[False], color=_RAW, lw=1.5, ls=":",
                     label="gradient size, q·k")
        grad_ax.plot(self.d_grid, self.mean_gradient[True], color=_SCALED, lw=1.5, ls=":",
                     label="gradient size, q·k / √d")
        grad_ax.set_ylim(0, max(self.mean_gradient[False].max(),
                                self.mean_gradient[True].max()) * 1.15)
        grad_ax.set_ylabel("mean ‖diag(p) − ppᵀ‖ (dotted)", fontsize=8)
        curve_ax.legend(loc="lower left", frameon=False, fontsize=8)
        (self.marker,) = curve_ax.plot([], [], "o", color="#c62828", ms=8)
        (self.gradient_marker,) = grad_ax.plot([], [], "s", color="#c62828", ms=6, mfc="white")
        self.plot.fig.tight_layout()
        # Numbers go to the HTML readout: re-rendering text in the figure costs more than the bars.
        self.plot.animate(*self.bars, self.marker, self.gradient_marker)
        self._wire()

    def weights(self) -> np.ndarray:
        """The shown query's weights at the current d and scaling."""
        d, scaled = self.controls["d"].value, self.controls["scaled"].value
        scores = self.raw_scores[0, :, d - 1] / (np.sqrt(d) if scaled else 1.0)
        return np.asarray(self.softmax(scores), dtype=float)

    def update(self) -> None:
        d, scaled = self.controls["d"].value, self.controls["scaled"].value
        p = self.weights()
        top = int(np.argmax(p))
        for j, (bar, height) in enumerate(zip(self.bars, p, strict=True)):
            bar.set_height(height)
            bar.set_color(_TOP if j == top else _BAR)
        h = float(_entropy(p))
        mean_h = float(self.mean_entropy[scaled][d - 1])
        self.marker.set_data([d], [mean_h])
        g = float(_gradient_size(p))
        mean_g = float(self.mean_gradient[scaled][d - 1])
        self.gradient_marker.set_data([d], [mean_g])
        std = float(self.score_std[scaled][d - 1])
        how = "q·k / √d" if scaled else "q·k"
        self.readout.value = (
            f"scores {how} at d = <b>{d}</b> have standard deviation <b>{std:.2f}</b> "
            f"(√d = {np.sqrt(d):.2f}) &nbsp;→&nbsp; this query's largest weight "
            f"<b>{p[top]:.2f}</b>, entropy <b>{h:.2f}</b> nats (mean over queries "
            f"{mean_h:.2f}; uniform is ln {self.keys} = {np.log(self.keys):.2f}); softmax "
            f"gradient size ‖diag(p) − ppᵀ‖ <b>{g:.3f}</b> (mean over queries {mean_g:.3f})")
        self.plot.refresh()


class MaskExplorer(Explorer):
    """Sequence length n, padded positions at the end and a causal switch → the keep-mask and
    the attention weights of one sequence as n × n heatmaps (rows are queries, columns keys).

    The mask is causal (j ≤ i, when switched on) AND key padding (j < n − padding). Padded
    queries are not masked: they still attend to the real keys, and their outputs are ignored
    later. With every position padded, each row has nothing to attend to and gets zeros.
    `masked_softmax` computes the weights (default: the course's reference).
    """

    def __init__(self, masked_softmax: Callable | None = None, n: int = 6, padding: int = 2,
                 causal: bool = True, seed: int = 1):
        self.masked_softmax = masked_softmax or _masked_softmax
        rng = np.random.default_rng(seed)
        d = 16
        q, k = rng.normal(size=(N_MAX, d)), rng.normal(size=(N_MAX, d))
        self.scores = 1.5 * q @ k.T / np.sqrt(d)
        self.controls = {
            "n": int_slider("sequence length n", n, 1, N_MAX),
            "padding": int_slider("padded positions", padding, 0, n),
            "causal": _checkbox("causal mask (j ≤ i)", causal),
        }
        self._syncing = False
        self.plot = LivePlot(1, 2, figsize=(7.2, 3.1))
        blank = np.full((N_MAX, N_MAX), np.nan)
        # 0 = hidden, 1 = may attend; white ("bad", NaN) outside the sequence.
        hidden_kept = ListedColormap(["#ffcdd2", "#2e7d32"]).with_extremes(bad="white")
        weights = colormaps["Blues"].with_extremes(bad="white")
        self.images = []
        for ax, cmap in zip(self.plot.axes, (hidden_kept, weights), strict=True):
            self.images.append(ax.imshow(blank, cmap=cmap, vmin=0, vmax=1,
                                         interpolation="nearest"))
            ax.set_xticks(range(N_MAX))
            ax.set_yticks(range(N_MAX))
            ax.tick_params(labelsize=7)
            ax.set_xlabel("key j")
            ax.set_ylabel("query i")
        self.mask_image, self.weight_image = self.images
        self.boundaries = [ax.axvline(N_MAX - 0.5, color="#c62828", lw=1.2, ls="--")
                           for ax in self.plot.axes]
        self.plot.axes[0].set_title("keep-mask (green: may attend)", fontsize=10)
        self.plot.axes[1].set_title("attention weights", fontsize=10)
        self.plot.fig.colorbar(self.weight_image, ax=self.plot.axes[1], fraction=0.046,
                               pad=0.04)
        self.plot.fig.tight_layout()
        self.plot.animate(*self.images, *self.boundaries)
        self._wire()

    def _changed(self, change) -> None:
        if self._syncing:
            return
        if change["owner"] is self.controls["n"]:
            # The padding cannot exceed the length; clamping it must not redraw twice.
            self._syncing = True
            try:
                self.controls["padding"].max = change["new"]
            finally:
                self._syncing = False
        self.update()

    def mask(self) -> np.ndarray:
        """The n × n keep-mask as shown."""
        n, pad = self.controls["n"].value, self.controls["padding"].value
        j = np.arange(n)
        keep = np.broadcast_to(j[None, :] < n - pad, (n, n))
        if self.controls["causal"].value:
            keep = keep & (j[None, :] <= j[:, None])
        return keep

    def update(self) -> None:
        n, pad = self.controls["n"].value, self.controls["padding"].value
        length = n - pad
        keep = self.mask()
        weights = np.asarray(self.masked_softmax(self.scores[:n, :n], keep), dtype=float)
        shown_mask = np.full((N_MAX, N_MAX), np.nan)
        shown_mask[:n, :n] = keep
        shown_weights = np.full((N_MAX, N_MAX), np.nan)
        shown_weights[:n, :n] = weights
        self.mask_image.set_data(shown_mask)
        self.weight_image.set_data(shown_weights)
        for line in self.boundaries:
            line.set_xdata([length - 0.5, length - 0.5])
        causal = self.controls["causal"].value
        empty = int((~keep.any(axis=1)).sum())
        sums = " ".join(f"{s:.2f}" for s in weights.sum(axis=1))
        padded = (f"queries {length}…{n - 1} are padding: they still attend to the real keys, "
                  "and their outputs are ignored later" if 0 < pad and length > 0 else
                  "every position is padding: every row is empty and gets zeros, not NaN"
                  if length == 0 else "no padding")
        rule = ("j ≤ i and " if causal else "") + f"j < {length}"
        self.readout.value = (f"n = <b>{n}</b>, length <b>{length}</b> + {pad} padded; keep "
                              f"<b>{rule}</b> &nbsp;|&nbsp; row sums: {sums} ({empty} empty "
                              f"row{'s' * (empty != 1)}) &nbsp;|&nbsp; {padded}")
        self.plot.refresh()


def examples() -> list[Explorer]:
    return [ScalingExplorer(), MaskExplorer()]
