"""Lesson 05, cross-entropy: a true-class margin slider moves a marker along the loss curve and
sets the gradient bars p − y; a checkbox shows what passing probabilities as logits (a double
softmax) does to both."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as w
import numpy as np

from tutor.chapters.ch02_softmax import softmax as _softmax
from tutor.chapters.ch05_cross_entropy import cross_entropy as _cross_entropy
from tutor.chapters.ch05_cross_entropy import softmax_jacobian as _softmax_jacobian
from tutor.widgets import Explorer, LivePlot, slider

MARGIN = 8.0
"""The slider and the curve run over margins from −MARGIN to MARGIN."""
_LOSS = "#1565c0"
_DOUBLE = "#ef6c00"
_TARGET = "#c62828"
_OTHER = "#90caf9"


class MarginExplorer(Explorer):
    """The true class (class 0) has logit max(others) + margin; the other logits are fixed.

    Left: the loss −log p_0 against the margin, with a marker at the slider's margin and the
    line ln K (the loss of a uniform guess). Right: the gradient of the loss with respect to
    each logit, p − y: negative for the true class (raise its logit), positive for the others
    (lower theirs), all shrinking as the margin grows. With "probabilities passed as logits"
    ticked, the loss is computed on softmax(z) instead of z (a double softmax): its curve stays
    near ln K and its gradient nearly vanishes.

    `cross_entropy(logits, targets)` is the loss drawn (default: the course's reference), so a
    lesson can pass its own.
    """

    def __init__(self, cross_entropy: Callable | None = None,
                 others: Sequence[float] = (1.0, 0.0, -1.0), margin: float = 1.0,
                 labels: Sequence[str] | None = None):
        self.cross_entropy = cross_entropy or _cross_entropy
        self.others = np.asarray(others, dtype=float)
        self.K = len(self.others) + 1
        self.labels = list(labels) if labels is not None else \
            ["true", *(f"class {i}" for i in range(1, self.K))]
        self.controls = {
            "margin": slider("true-class margin z_y − max others", margin, -MARGIN, MARGIN, 0.1),
            "double softmax": w.Checkbox(value=False, description="probabilities passed as "
                                         "logits (double softmax)", indent=False),
        }
        self.plot = LivePlot(1, 2, figsize=(8.6, 3.2), gridspec_kw={"width_ratios": [1.6, 1.0]})
        loss_ax, grad_ax = self.plot.axes

        grid = np.linspace(-MARGIN, MARGIN, 161)
        self.curve_margins = grid
        losses = np.array([self.loss(m) for m in grid])
        doubled = np.array([self.loss(m, double=True) for m in grid])
        (self.curve,) = loss_ax.plot(grid, losses, color=_LOSS, lw=2, label="cross-entropy")
        (self.double_curve,) = loss_ax.plot(grid, doubled, color=_DOUBLE, lw=2, ls="--",
                                            label="on softmax(z): double softmax")
        loss_ax.axhline(np.log(self.K), color="#9e9e9e", lw=0.8, ls=":")
        loss_ax.text(MARGIN - 0.2, np.log(self.K) + 0.12, f"ln K = {np.log(self.K):.3f}",
                     color="#616161", fontsize=8, ha="right", va="bottom")
        (self.marker,) = loss_ax.plot([], [], "o", color=_TARGET, ms=9)
        (self.double_marker,) = loss_ax.plot([], [], "o", color=_DOUBLE, ms=8)
        self.loss_label = loss_ax.text(0, 0, "", color=_TARGET, fontsize=9)
        loss_ax.set_xlim(-MARGIN, MARGIN)
        loss_ax.set_ylim(0, 1.05 * float(losses.max()))
        loss_ax.set_xlabel("margin of the true class's logit")
        loss_ax.set_ylabel("loss −log p_y")
        loss_ax.legend(loc="upper right", frameon=False, fontsize=8)

        x = np.arange(self.K)
        self.bars = grad_ax.bar(x, np.zeros(self.K), color=[_TARGET] + [_OTHER] * (self.K - 1))
        grad_ax.axhline(0.0, color="#616161", lw=0.8)
        grad_ax.grid(axis="y", color="#eeeeee", lw=0.8)
        grad_ax.set_axisbelow(True)
        grad_ax.set_xticks(x, self.labels)
        grad_ax.set_ylim(-1.15, 1.15)
        self.grad_title = grad_ax.set_title("gradient p − y")
        self.plot.fig.tight_layout()
        self.plot.animate(self.double_curve, self.marker, self.double_marker, self.loss_label,
                          *self.bars, self.grad_title)
        self._wire()

    def logits(self, margin: float | None = None) -> np.ndarray:
        """The K logits at `margin` (default: the slider's): the true class first."""
        margin = self.controls["margin"].value if margin is None else margin
        return np.concatenate([[self.others.max() + margin], self.others])

    def loss(self, margin: float, double: bool = False) -> float:
        """The cross-entropy of one example at `margin`; with `double`, of softmax(z)."""
        z = self.logits(margin)
        if double:
            z = _softmax(z)
        return float(self.cross_entropy(z[None, :], np.array([0])))

    def gradient(self, double: bool = False) -> np.ndarray:
        """∂loss/∂z at the slider's margin: p − y, or through the extra softmax
        J(z)ᵀ(softmax(p) − y) for the double softmax."""
        z = self.logits()
        y = np.eye(self.K)[0]
        p = _softmax(z)
        if not double:
            return p - y
        return _softmax_jacobian(z).T @ (_softmax(p) - y)

    def update(self) -> None:
        margin = self.controls["margin"].value
        double = self.controls["double softmax"].value
        loss = self.loss(margin)
        self.marker.set_data([margin], [loss])
        self.loss_label.set_text(f" loss {loss:.3f}")
        top = self.plot.axes[0].get_ylim()[1]
        self.loss_label.set_position((margin if margin < MARGIN - 3 else margin - 3.2,
                                      min(loss + 0.08 * top, 0.92 * top)))
        doubled = self.loss(margin, double=True)
        self.double_curve.set_visible(double)
        self.double_marker.set_visible(double)
        self.double_marker.set_data([margin], [doubled])

        g = self.gradient(double)
        # The bars carry no number labels: text is most of a redraw's cost, and the readout
        # prints every entry.
        for i, (bar, height) in enumerate(zip(self.bars, g, strict=True)):
            bar.set_height(height)
            bar.set_color(_TARGET if i == 0 else (_DOUBLE if double else _OTHER))
        self.grad_title.set_text("gradient through a double softmax" if double
                                 else "gradient p − y")

        p = _softmax(self.logits())
        shown = ", ".join(f"{v:+.3f}" for v in g)
        text = (f"margin <b>{margin:.2f}</b> → p<sub>y</sub> = <b>{p[0]:.4f}</b>, loss "
                f"−ln p<sub>y</sub> = <b>{loss:.4f}</b>")
        if double:
            text += (f" &nbsp;|&nbsp; double softmax: loss <b>{doubled:.4f}</b>, gradient "
                     f"({shown}), largest |entry| {np.abs(g).max():.3f}")
        else:
            text += f" &nbsp;|&nbsp; gradient p − y = ({shown})"
        self.readout.value = text
        self.plot.refresh()


def examples() -> list[Explorer]:
    return [MarginExplorer()]
