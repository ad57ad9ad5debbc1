"""Lesson 06, temperature: a toy vocabulary under temperature, top-k and top-p (kept set,
renormalised bars, entropy), and a temperature slider on the reliability diagram of an
overconfident classifier (ECE and NLL).

The filters, the entropy and the calibration numbers are computed by the small functions below,
written for this module: the explorers never depend on a learner's answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as w
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

from tutor.widgets import Explorer, LivePlot, int_slider, slider

# "the cat sat on the …": ten next tokens and their logits.
TOKENS = ("mat", "sofa", "floor", "bed", "rug", "chair", "roof", "table", "moon", "piano")
LOGITS = (3.0, 2.2, 1.9, 1.5, 1.1, 0.6, 0.2, -0.4, -1.3, -2.0)

KEPT = "#1565c0"
DROPPED = "#bdbdbd"
SAMPLED = "#2e7d32"
BOUNDARY = "#c62828"
ACCURACY = "#1565c0"
GAP = "#ef5350"
UNDER = "#ff8f00"
"""The gap of an underconfident bin lies inside its accuracy bar: hatched, so the bar shows."""
DRAWS = 20
"""Tokens drawn per press of the sampling explorer's button."""


# --- the formulas the explorers draw ------------------------------------------------------------

def softmax_t(z, T: float) -> np.ndarray:
    """softmax(z / T) along the last axis, max-shifted; −inf logits get probability 0."""
    if not T > 0:
        raise ValueError(f"the temperature must be positive, got T = {T}")
    u = np.asarray(z, dtype=float) / T
    e = np.exp(u - u.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def top_k_keep(z, k: int) -> np.ndarray:
    """True for every logit ≥ the k-th largest of z (ties at the boundary kept)."""
    z = np.asarray(z, dtype=float)
    return z >= np.sort(z)[-k]


def top_p_keep(p, top_p: float) -> tuple[np.ndarray, int]:
    """The nucleus of probabilities `p` (1-D): a token is kept while the mass of the more
    probable tokens before it is still < top_p, so the token that crosses top_p is kept, and so
    is the most probable one. Returns the mask and the index of the last token kept."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")
    before = np.cumsum(p[order]) - p[order]
    keep_sorted = (before < top_p) & (p[order] > 0)
    keep_sorted[0] = True
    keep = np.empty_like(keep_sorted)
    keep[order] = keep_sorted
    return keep, int(order[np.flatnonzero(keep_sorted)[-1]])


def entropy_of(p, axis: int = -1) -> np.ndarray:
    """H = −Σ p·ln p in nats, with 0·ln 0 counted as 0."""
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return 0.0 - terms.sum(axis=axis)  # 0.0 - 0.0 is +0.0, so no "-0.000" in readouts


def bin_index(confidence, n_bins: int) -> np.ndarray:
    """Equal-width bins (lo, hi] over [0, 1]: ceil(c·B) − 1, with c = 0 in the first bin."""
    b = np.ceil(np.asarray(confidence) * n_bins).astype(int) - 1
    return np.clip(b, 0, n_bins - 1)


def reliability(probs, labels, n_bins: int = 10):
    """Per bin: (count, accuracy, mean confidence), and the ECE Σ (n_b/N)·|acc_b − conf_b|.
    Empty bins have count 0 and accuracy and confidence NaN."""
    probs = np.asarray(probs, dtype=float)
    confidence = probs.max(axis=-1)
    correct = probs.argmax(axis=-1) == np.asarray(labels)
    b = bin_index(confidence, n_bins)
    count = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(b, weights=correct, minlength=n_bins) / count
        mean_conf = np.bincount(b, weights=confidence, minlength=n_bins) / count
    gaps = np.where(count > 0, np.abs(accuracy - mean_conf), 0.0)
    ece = float(np.sum(count / len(confidence) * gaps))
    return count, accuracy, mean_conf, ece


def mean_nll(logits, labels, T: float) -> float:
    """−mean log softmax(logits / T)[label], through log-softmax."""
    u = np.asarray(logits, dtype=float) / T
    m = u.max(axis=-1, keepdims=True)
    log_p = u - m - np.log(np.exp(u - m).sum(axis=-1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(u)), np.asarray(labels)]))


def best_temperature(logits, labels, low: float = 0.05, high: float = 50.0) -> float:
    """The T minimising `mean_nll`, by golden-section search on log T (NLL is unimodal in T)."""
    a, b = np.log(low), np.log(high)
    g = (np.sqrt(5.0) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = mean_nll(logits, labels, np.exp(c)), mean_nll(logits, labels, np.exp(d))
    while b - a > 1e-6:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = mean_nll(logits, labels, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = mean_nll(logits, labels, np.exp(d))
    return float(np.exp((a + b) / 2))


def overconfident_classifier(n: int = 4000, K: int = 10, T_true: float = 2.5,
                             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits (n, K) and labels (n,) of a synthetic classifier that is overconfident by exactly
    T_true: labels are drawn from softmax(z), and the model reports T_true·z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, size=(n, K))
    z[np.arange(n), rng.integers(K, size=n)] += 3.5       # one favoured class per example
    p = softmax_t(z, 1.0)
    labels = np.minimum((np.cumsum(p, axis=-1) < rng.random((n, 1))).sum(axis=-1), K - 1)
    return T_true * z, labels


def _percent(p: float) -> str:
    return f"{100 * p:.1f}%" if p >= 0.001 else ("0" if p == 0 else f"{100 * p:.2g}%")


# --- 1. temperature, top-k, top-p on a toy vocabulary -------------------------------------------

class SamplingExplorer(Explorer):
    """Temperature, then top-k, then top-p, on a toy vocabulary (tokens shown from the most to
    the least probable).

    Left: softmax(z / T), the kept tokens in blue and the dropped ones in grey; the step line
    is the cumulative probability that top-p reads (after temperature and top-k), the dashed line
    is p, and the red outline marks the token that crosses p (the last one kept). Right: the
    distribution actually sampled from, renormalised over the kept tokens. The readout gives the
    kept set and the entropy before and after filtering. k = V and p = 1 switch the filters off.
    The "draw 20 tokens" button samples from the right-hand distribution: the drawn tokens are
    listed, and the share of the draws that each token got is marked on its bar (moving a
    control clears them, since the distribution changes).

    `softmax_temperature(z, T)` computes the left bars (default: this module's `softmax_t`), so a
    lesson can pass its own.
    """

    def __init__(self, softmax_temperature: Callable | None = None,
                 logits: Sequence[float] = LOGITS, tokens: Sequence[str] = TOKENS,
                 T: float = 1.0, k: int | None = None, p: float = 1.0):
        self.softmax_temperature = softmax_temperature or softmax_t
        order = np.argsort(-np.asarray(logits, dtype=float), kind="stable")
        self.z = np.asarray(logits, dtype=float)[order]
        self.tokens = [tokens[i] for i in order]
        V = len(self.z)
        self.controls = {
            "T": slider("temperature T", T, 0.05, 3.0, 0.05),
            "top-k": int_slider("top-k (k = V: off)", V if k is None else k, 1, V),
            "top-p": slider("top-p (p = 1: off)", p, 0.05, 1.0, 0.01),
        }
        self.plot = LivePlot(1, 2, figsize=(9.6, 3.4))
        left, right = self.plot.axes
        x = np.arange(V)
        self.prob_bars = left.bar(x, np.zeros(V), color=KEPT, edgecolor="none", lw=2.0)
        (self.cumulative,) = left.plot(x, np.zeros(V), "o-", color="#6a1b9a", lw=1.2, ms=3,
                                       label="cumulative, as top-p reads it")
        self.p_line = left.axhline(p, color="#6a1b9a", lw=1, ls="--")
        left.set_xticks(x, self.tokens, rotation=45, ha="right", fontsize=9)
        left.set_ylim(0, 1.05)
        left.legend(loc="center right", fontsize=8, frameon=False)
        left.set_title("softmax(z / T): kept in blue, dropped in grey", fontsize=10)
        self.final_bars = right.bar(x, np.zeros(V), color=SAMPLED)
        right.set_xticks(x, self.tokens, rotation=45, ha="right", fontsize=9)
        right.set_ylim(0, 1.12)
        right.set_title("renormalised over the kept tokens: sampled from", fontsize=10)
        (self.draw_marks,) = right.plot(x, np.zeros(V), "D", color="#212121", ms=6,
                                        label=f"share of {DRAWS} draws", visible=False)
        right.legend(loc="upper right", fontsize=8, frameon=False)
        self.plot.fig.tight_layout()
        # Titles stay fixed (text is the slowest thing to draw); the numbers go in the readout.
        self.plot.animate(*self.prob_bars, self.cumulative, self.p_line, *self.final_bars,
                          self.draw_marks)
        self.rng = np.random.default_rng(0)
        self.drawn: np.ndarray | None = None
        self.draw_button = w.Button(description=f"draw {DRAWS} tokens", icon="random")
        self.draw_button.on_click(lambda _: self.draw())
        self._wire(extra=[self.draw_button])

    def draw(self, n: int = DRAWS) -> np.ndarray:
        """Sample `n` tokens (indices in the plotted order) from the distribution on the right,
        show them, and return them."""
        self.drawn = self.rng.choice(len(self.z), size=n, p=self.state()["final"])
        self.update()
        return self.drawn

    def _changed(self, change) -> None:
        self.drawn = None                  # the old draws came from another distribution
        self.update()

    def state(self) -> dict:
        """Everything drawn, for the current controls: the probabilities after temperature,
        the top-k and top-p masks, the kept set, the renormalised distribution, the cumulative
        probabilities top-p reads, the top-p boundary token and both entropies."""
        T, k, top_p = (self.controls[n].value for n in ("T", "top-k", "top-p"))
        probs = np.asarray(self.softmax_temperature(self.z, T), dtype=float)
        keep_k = top_k_keep(self.z, k)                          # the order, so T plays no part
        after_k = np.where(keep_k, probs, 0.0) / probs[keep_k].sum()
        if top_p < 1.0:
            keep_p, boundary = top_p_keep(after_k, top_p)
        else:
            keep_p, boundary = keep_k.copy(), None
        kept = keep_k & keep_p
        final = np.where(kept, probs, 0.0) / probs[kept].sum()
        return dict(T=T, k=k, top_p=top_p, probs=probs, keep_k=keep_k, keep_p=keep_p,
                    kept=kept, final=final, cumulative=np.cumsum(after_k), boundary=boundary,
                    mass=float(probs[kept].sum()), entropy=float(entropy_of(probs)),
                    entropy_kept=float(entropy_of(final)))

    def update(self) -> None:
        s = self.state()
        for i, bar in enumerate(self.prob_bars):
            bar.set_height(s["probs"][i])
            bar.set_facecolor(KEPT if s["kept"][i] else DROPPED)
            bar.set_edgecolor(BOUNDARY if i == s["boundary"] else "none")
        for bar, h in zip(self.final_bars, s["final"], strict=True):
            bar.set_height(h)
        self.cumulative.set_ydata(s["cumulative"])
        self.cumulative.set_visible(s["top_p"] < 1.0)
        self.p_line.set_ydata([s["top_p"], s["top_p"]])
        self.p_line.set_visible(s["top_p"] < 1.0)
        draws = ""
        if self.drawn is not None:
            counts = np.bincount(self.drawn, minlength=len(self.z))
            self.draw_marks.set_ydata(counts / len(self.drawn))
            tally = ", ".join(f"{t} {c}" for t, c in zip(self.tokens, counts, strict=True) if c)
            draws = (f"<br>{len(self.drawn)} draws: {' '.join(self.tokens[i] for i in self.drawn)}"
                     f" &nbsp;|&nbsp; counts: {tally} (diamonds: count / {len(self.drawn)}, "
                     "against the bars' probabilities)")
        self.draw_marks.set_visible(self.drawn is not None)
        n = int(s["kept"].sum())
        names = ", ".join(f"{t} {_percent(q)}" for t, keep, q
                          in zip(self.tokens, s["kept"], s["final"], strict=True) if keep)
        if s["boundary"] is None:
            nucleus = "top-p off"
        else:
            b = s["boundary"]                  # tokens are in decreasing order of probability
            mass_before = float(s["cumulative"][b - 1]) if b else 0.0
            nucleus = (f"top-p stops at <b>{self.tokens[b]}</b>: the tokens before it hold "
                       f"{mass_before:.3f} &lt; {s['top_p']:.2f}, with it "
                       f"{float(s['cumulative'][b]):.3f}")
        self.readout.value = (
            f"T = {s['T']:.2f}, top-k = {s['k']}, top-p = {s['top_p']:.2f} → kept "
            f"<b>{n}</b> of {len(self.z)}: {names} &nbsp;|&nbsp; {nucleus}<br>"
            f"kept mass before renormalising {s['mass']:.3f} &nbsp;|&nbsp; entropy of "
            f"softmax(z / T) <b>{s['entropy']:.3f}</b> nats (e<sup>H</sup> = "
            f"{np.exp(s['entropy']):.2f} tokens) → after filtering "
            f"<b>{s['entropy_kept']:.3f}</b> nats (e<sup>H</sup> = "
            f"{np.exp(s['entropy_kept']):.2f}){draws}")
        self.plot.refresh()


# --- 2. temperature scaling on a reliability diagram --------------------------------------------

def _paint_gap(bar, overconfident: bool) -> None:
    """Red and filled above the accuracy bar; orange hatching inside it, so the blue shows
    through instead of turning purple."""
    if overconfident:
        bar.set_facecolor((*to_rgb(GAP), 0.6))
        bar.set_edgecolor("none")
        bar.set_hatch(None)
    else:
        bar.set_facecolor("none")
        bar.set_edgecolor(UNDER)
        bar.set_hatch("////")


class CalibrationExplorer(Explorer):
    """A temperature slider on the predictions softmax(logits / T) of a classifier.

    Left: the reliability diagram: for each confidence bin (lo, hi], a bar of the accuracy of
    the predictions in it, the gap to their mean confidence (red above the bar where the bin is
    overconfident, orange hatching inside it where it is underconfident), and the diagonal of perfect
    calibration. Right: the NLL and the ECE against T, with the slider's T marked and the T of
    lowest NLL (what temperature scaling fits). Accuracy does not move: T never changes the
    argmax. Default data: `overconfident_classifier()`, overconfident by 2.5.
    """

    def __init__(self, logits=None, labels=None, T: float = 1.0, n_bins: int = 10):
        if logits is None:
            logits, labels = overconfident_classifier()
        self.logits = np.asarray(logits, dtype=float)
        self.labels = np.asarray(labels)
        self.n_bins = n_bins
        self.accuracy = float(np.mean(self.logits.argmax(axis=-1) == self.labels))
        self.T_best = best_temperature(self.logits, self.labels)
        self.controls = {"T": slider("temperature T", T, 0.25, 5.0, 0.05)}
        self.plot = LivePlot(1, 2, figsize=(9.6, 3.6), gridspec_kw={"width_ratios": [1.0, 1.2]})
        diagram, curves = self.plot.axes

        width = 1.0 / n_bins
        centres = (np.arange(n_bins) + 0.5) * width
        self.accuracy_bars = diagram.bar(centres, np.zeros(n_bins), width * 0.95,
                                         color=ACCURACY, label="accuracy")
        self.gap_bars = diagram.bar(centres, np.zeros(n_bins), width * 0.95)
        over = Patch(facecolor=GAP, alpha=0.6, label="gap: confidence above accuracy")
        under = Patch(facecolor="none", edgecolor=UNDER, hatch="////",
                      label="gap: confidence below accuracy")
        diagram.plot([0, 1], [0, 1], color="#424242", ls="--", lw=1, label="calibrated")
        diagram.set_xlim(0, 1)
        diagram.set_ylim(0, 1)
        diagram.set_xlabel("confidence (max probability), bins (lo, hi]")
        diagram.set_ylabel("accuracy in the bin")
        handles, _ = diagram.get_legend_handles_labels()
        diagram.legend(handles=[*handles, over, under], loc="upper left", fontsize=8,
                       frameon=False)
        diagram.set_title("accuracy per confidence bin", fontsize=10)

        grid = np.geomspace(0.25, 5.0, 60)
        nll = [mean_nll(self.logits, self.labels, t) for t in grid]
        ece = [reliability(softmax_t(self.logits, t), self.labels, n_bins)[3] for t in grid]
        curves.plot(grid, nll, color="#6a1b9a", lw=2, label="NLL")
        curves.set_xscale("log")
        curves.set_xticks([0.25, 0.5, 1, 2, 5], ["0.25", "0.5", "1", "2", "5"])
        curves.set_xticks([], minor=True)
        curves.set_xlabel("temperature T")
        curves.set_ylabel("mean NLL (nats)", color="#6a1b9a")
        ece_axis = curves.twinx()
        ece_axis.plot(grid, ece, color=GAP, lw=2, label="ECE")
        ece_axis.set_ylabel("ECE", color=GAP)
        ece_axis.set_ylim(0, max(ece) * 1.1)
        curves.axvline(self.T_best, color="#2e7d32", lw=1, ls=":")
        curves.text(self.T_best, max(nll), f" NLL lowest\n at T = {self.T_best:.2f}",
                    color="#2e7d32", fontsize=8, va="top")
        self.cursor = curves.axvline(T, color="#424242", lw=1.2)
        (self.nll_marker,) = curves.plot([], [], "o", color="#6a1b9a", ms=7)
        (self.ece_marker,) = ece_axis.plot([], [], "s", color=GAP, ms=7)
        curves.set_title("NLL (purple) and ECE (red) against T", fontsize=10)
        self.plot.fig.tight_layout()
        self.plot.animate(*self.accuracy_bars, *self.gap_bars, self.cursor, self.nll_marker,
                          self.ece_marker)
        self._wire()

    def measures(self, T: float | None = None) -> dict:
        """At temperature T (default: the slider's): per-bin counts, accuracies and mean
        confidences, ECE, NLL, accuracy and mean confidence."""
        T = self.controls["T"].value if T is None else T
        probs = softmax_t(self.logits, T)
        count, accuracy, confidence, ece = reliability(probs, self.labels, self.n_bins)
        return dict(T=T, count=count, bin_accuracy=accuracy, bin_confidence=confidence,
                    ece=ece, nll=mean_nll(self.logits, self.labels, T),
                    accuracy=float(np.mean(probs.argmax(axis=-1) == self.labels)),
                    confidence=float(probs.max(axis=-1).mean()))

    def update(self) -> None:
        m = self.measures()
        filled = m["count"] > 0
        acc = np.where(filled, m["bin_accuracy"], 0.0)
        conf = np.where(filled, m["bin_confidence"], 0.0)
        for bar, gap_bar, a, c in zip(self.accuracy_bars, self.gap_bars, acc, conf, strict=True):
            bar.set_height(a)
            gap_bar.set_y(min(a, c))
            gap_bar.set_height(abs(c - a))
            _paint_gap(gap_bar, overconfident=c >= a)
        self.cursor.set_xdata([m["T"], m["T"]])
        self.nll_marker.set_data([m["T"]], [m["nll"]])
        self.ece_marker.set_data([m["T"]], [m["ece"]])
        verdict = ("overconfident" if m["confidence"] > m["accuracy"] + 0.01 else
                   "underconfident" if m["confidence"] < m["accuracy"] - 0.01 else "calibrated")
        self.readout.value = (
            f"T = <b>{m['T']:.2f}</b>: ECE = <b>{m['ece']:.3f}</b> ({self.n_bins} bins), "
            f"NLL = <b>{m['nll']:.3f}</b> nats &nbsp;|&nbsp; accuracy {100 * m['accuracy']:.1f}% "
            f"(the same at every T), mean confidence {100 * m['confidence']:.1f}%: "
            f"{verdict} &nbsp;|&nbsp; NLL is lowest at T = {self.T_best:.2f}")
        self.plot.refresh()


def examples() -> list[Explorer]:
    return [SamplingExplorer(), CalibrationExplorer()]
