"""Lesson 06b, CLIP's learned temperature: a τ slider on the similarity softmax of a small batch
of image–text pairs (heatmap of image → text probabilities) and on the contrastive loss.

(The lesson's other explorer, temperature scaling on a reliability diagram, is
`tutor.widgets.temperature.CalibrationExplorer`.) The loss is computed by the small functions
below, written for this module: the explorer never depends on a learner's answer.
"""

from __future__ import annotations

import numpy as np

from tutor.widgets import Explorer, LivePlot, slider

# Three pairs: row i of each is pair i (the lesson's batch).
IMAGES = ((2.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0))
TEXTS = ((1.0, 0.2, 0.4), (0.2, 0.8, 1.0), (0.9, 1.2, 0.3))
TAU_RANGE = (0.01, 1.0)
"""CLIP clamps τ at 0.01 (a logit scale of at most 100); at 1, cosines are the logits."""


def cosine_similarities(image_emb, text_emb) -> np.ndarray:
    """S[i, j] = cos(image i, text j): both sets of rows scaled to length 1, then dot products."""
    i = np.asarray(image_emb, dtype=float)
    t = np.asarray(text_emb, dtype=float)
    i = i / np.linalg.norm(i, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    return i @ t.T


def row_log_softmax(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def contrastive_losses(S, tau: float) -> tuple[float, float, float]:
    """(image → text, text → image, their mean) for cosine similarities S at temperature τ:
    cross-entropies of the rows of S / τ and of its columns, each against targets 0..N − 1."""
    logits = np.asarray(S, dtype=float) / tau
    image_to_text = float(-np.mean(np.diagonal(row_log_softmax(logits))))
    text_to_image = float(-np.mean(np.diagonal(row_log_softmax(logits.T))))
    return image_to_text, text_to_image, (image_to_text + text_to_image) / 2


class ContrastiveExplorer(Explorer):
    """A τ slider on a batch of N image–text pairs.

    Left: the N×N image → text probabilities softmax(S / τ) along each row, one cell per
    (image i, text j), the right pairs on the diagonal and labelled with their value. Right:
    the contrastive loss (mean of both directions) against τ, with the slider's τ marked.
    The readout gives both directions, their mean, the logit scale 1/τ and the whole matrix
    as a table (text in the figure is what a redraw costs most).
    """

    def __init__(self, image_emb=IMAGES, text_emb=TEXTS, tau: float = 0.07):
        self.S = cosine_similarities(image_emb, text_emb)
        N = len(self.S)
        self.controls = {"tau": slider("temperature τ", tau, *TAU_RANGE, 0.01)}
        self.plot = LivePlot(1, 2, figsize=(9.6, 3.6), gridspec_kw={"width_ratios": [1.0, 1.3]})
        heat, curve = self.plot.axes

        self.heatmap = heat.imshow(np.zeros((N, N)), cmap="Blues", vmin=0.0, vmax=1.0)
        heat.set_xticks(range(N), [f"text {j}" for j in range(N)])
        heat.set_yticks(range(N), [f"image {i}" for i in range(N)])
        heat.set_xlabel("candidate text j")
        heat.set_ylabel("image i")
        heat.set_title("image → text: softmax(S / τ) of each row", fontsize=10)
        self.cells = [heat.text(i, i, "", ha="center", va="center", fontsize=9)
                      for i in range(N)]
        self.plot.fig.colorbar(self.heatmap, ax=heat, fraction=0.046, pad=0.04)

        taus = np.geomspace(*TAU_RANGE, 80)
        losses = np.array([contrastive_losses(self.S, t) for t in taus])
        curve.plot(taus, losses[:, 2], color="#6a1b9a", lw=2, label="loss (mean of both)")
        curve.plot(taus, losses[:, 0], color="#1565c0", lw=1, ls="--", label="image → text")
        curve.plot(taus, losses[:, 1], color="#ef6c00", lw=1, ls=":", label="text → image")
        curve.axhline(np.log(N), color="grey", lw=1, ls="-.", label=f"ln N = {np.log(N):.2f}")
        curve.set_xscale("log")
        curve.set_xlabel("temperature τ (log scale)")
        curve.set_ylabel("contrastive loss (nats)")
        curve.legend(frameon=False, fontsize=8)
        curve.set_title("lower τ: sharper comparisons, lower loss", fontsize=10)
        self.cursor = curve.axvline(tau, color="#424242", lw=1.2)
        (self.marker,) = curve.plot([], [], "o", color="#6a1b9a", ms=7)
        self.plot.fig.tight_layout()
        self.plot.animate(self.heatmap, *self.cells, self.cursor, self.marker)
        self._wire()

    def probabilities(self, tau: float | None = None) -> np.ndarray:
        """The image → text probabilities at τ (default: the slider's)."""
        tau = self.controls["tau"].value if tau is None else tau
        return np.exp(row_log_softmax(self.S / tau))

    def update(self) -> None:
        tau = self.controls["tau"].value
        P = self.probabilities(tau)
        self.heatmap.set_data(P)
        for i, cell in enumerate(self.cells):
            cell.set_text(f"{P[i, i]:.2f}")
            cell.set_color("white" if P[i, i] > 0.6 else "black")
        i2t, t2i, loss = contrastive_losses(self.S, tau)
        self.cursor.set_xdata([tau, tau])
        self.marker.set_data([tau], [loss])
        self.readout.value = (
            f"τ = <b>{tau:.2f}</b> (logit scale 1/τ = {1 / tau:.1f}): loss image → text "
            f"{i2t:.4f}, text → image {t2i:.4f}, mean <b>{loss:.4f}</b> nats &nbsp;|&nbsp; "
            f"right pairs (diagonal): {', '.join(f'{p:.3f}' for p in np.diagonal(P))}"
            + _table(P))
        self.plot.refresh()


def _table(P) -> str:
    """The probabilities as an HTML table, image i in row i, the right pair in bold."""
    head = "".join(f"<th>text {j}</th>" for j in range(len(P)))
    rows = "".join(
        f"<tr><th>image {i}</th>" + "".join(
            f"<td>{'<b>' if i == j else ''}{p:.3f}{'</b>' if i == j else ''}</td>"
            for j, p in enumerate(row)) + "</tr>"
        for i, row in enumerate(P))
    return f"<table><tr><th></th>{head}</tr>{rows}</table>"


def examples() -> list[Explorer]:
    return [ContrastiveExplorer()]
