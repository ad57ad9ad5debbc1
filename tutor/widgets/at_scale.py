"""Lesson 09, softmax at scale: one query's row of attention scores, visited tile by tile as
FlashAttention does, with the running max, the running sum and the rescaled accumulator drawn
after every tile.

The numbers come from `online_steps` below, written for this module: the explorer never
depends on a learner's answers.
"""

from __future__ import annotations

import numpy as np

from tutor.widgets import Explorer, LivePlot, int_slider

SEEN = "#1565c0"
CURRENT = "#ef6c00"
UNSEEN = "#bdbdbd"
MAX = "#c62828"
SUM = "#6a1b9a"
OUTPUT = "#2e7d32"


def online_steps(s, v, block: int, rescale: bool = True) -> dict:
    """The running statistics of one row of scores `s` (n,) against values `v` (n,), after each
    tile of `block` scores: max m, sum l = Σ e^(s − m), accumulator acc = Σ e^(s − m)·v and the
    output acc / l. With `rescale` False, l and acc are never multiplied by e^(m_old − m_new)
    (the classic mistake). Arrays of length n_tiles + 1, starting from the empty state."""
    s, v = np.asarray(s, dtype=float), np.asarray(v, dtype=float)
    m, l, acc = -np.inf, 0.0, 0.0
    out = dict(m=[m], l=[l], acc=[acc], output=[np.nan], scale=[1.0])
    for start in range(0, len(s), block):
        tile, vt = s[start:start + block], v[start:start + block]
        m_new = max(m, float(tile.max()))
        scale = float(np.exp(m - m_new)) if m > -np.inf else 0.0
        if not rescale:
            scale = 1.0
        p = np.exp(tile - m_new)
        l = l * scale + float(p.sum())
        acc = acc * scale + float(p @ vt)
        m = m_new
        for key, value in (("m", m), ("l", l), ("acc", acc), ("output", acc / l),
                           ("scale", scale)):
            out[key].append(value)
    return {k: np.array(x) for k, x in out.items()}


def exact_output(s, v) -> float:
    """softmax(s) · v in one go, for comparison."""
    s = np.asarray(s, dtype=float)
    p = np.exp(s - s.max())
    return float(p @ np.asarray(v, dtype=float) / p.sum())


def example_row(n: int = 24, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Scores that trend upwards, so later tiles keep raising the max, and values in [−1, 1]."""
    rng = np.random.default_rng(seed)
    s = rng.normal(0.0, 1.0, n) + np.linspace(0.0, 4.0, n)
    v = np.round(rng.uniform(-1.0, 1.0, n), 2)
    return s, v


class TileExplorer(Explorer):
    """A tile-step slider over one row of scores.

    Top: the scores, tiles already visited in blue, the current one in orange, the rest grey,
    with the running max m as a red line. Bottom: after each tile, the running max, the running
    sum l (relative to the current max) and the output so far acc / l, against the exact
    softmax(s)·v (dashed). The checkbox switches off the rescaling e^(m_old − m_new), to show
    the mistake: the sum and the output drift off.
    """

    def __init__(self, scores=None, values=None, block: int = 4, step: int = 1):
        import ipywidgets as w

        if scores is None:
            scores, values = example_row()
        self.s, self.v = np.asarray(scores, dtype=float), np.asarray(values, dtype=float)
        self.block = block
        self.n_tiles = -(-len(self.s) // block)
        self.exact = exact_output(self.s, self.v)
        self.controls = {
            "step": int_slider("tiles visited", step, 0, self.n_tiles),
            "rescale": w.Checkbox(value=True, description="rescale by e^(m_old − m_new) when "
                                  "the max grows", indent=False),
        }
        self.plot = LivePlot(2, 1, figsize=(8.8, 4.8), dpi=72,
                             gridspec_kw={"height_ratios": [1, 1.1]})
        top, bottom = self.plot.axes
        x = np.arange(len(self.s))
        self.bars = top.bar(x, self.s - self.s.min() + 0.5, bottom=self.s.min() - 0.5,
                            color=UNSEEN)
        for edge in range(block, len(self.s), block):
            top.axvline(edge - 0.5, color="#9e9e9e", lw=0.8, ls=":")
        (self.max_line,) = top.plot([-0.5, len(self.s) - 0.5], [np.nan, np.nan], color=MAX,
                                    lw=1.5, label="running max m")
        top.set_xlim(-0.5, len(self.s) - 0.5)
        top.set_ylim(self.s.min() - 0.6, self.s.max() + 0.6)
        top.set_xlabel(f"key j (tiles of {block})")
        top.set_ylabel("score s_j")
        top.legend(loc="upper left", fontsize=8, frameon=False)
        steps = np.arange(self.n_tiles + 1)
        right = online_steps(self.s, self.v, block)
        self.sum_axis = bottom.twinx()
        (self.m_curve,) = bottom.plot(steps, right["m"], "o-", color=MAX, ms=3, lw=1.2,
                                      label="running max m")
        (self.out_curve,) = bottom.plot(steps, right["output"], "s-", color=OUTPUT, ms=3,
                                        lw=1.2, label="output acc / l")
        bottom.axhline(self.exact, color=OUTPUT, lw=1, ls="--", label="exact softmax(s)·v")
        (self.l_curve,) = self.sum_axis.plot(steps, right["l"], "^-", color=SUM, ms=3, lw=1.2,
                                             label="running sum l")
        self.cursor = bottom.axvline(step, color="#424242", lw=1)
        bottom.set_xlim(-0.3, self.n_tiles + 0.3)
        low = min(-1.1, float(np.nanmin(right["output"])) - 0.2)
        bottom.set_ylim(low, float(self.s.max()) + 0.8)
        self.sum_axis.set_ylim(0, max(float(online_steps(self.s, self.v, block,
                                                         rescale=False)["l"].max()),
                                      float(right["l"].max())) * 1.1)
        self.sum_axis.set_ylabel("running sum l", color=SUM)
        bottom.set_xlabel("tiles visited")
        bottom.set_ylabel("max, output")
        bottom.legend(loc="upper left", fontsize=8, frameon=False, ncol=3)
        self.plot.fig.tight_layout()
        self.plot.animate(*self.bars, self.max_line, self.m_curve, self.out_curve, self.l_curve,
                          self.cursor)
        self._wire()

    def state(self) -> dict:
        """The running statistics for the current controls, up to the slider's tile."""
        step, rescale = self.controls["step"].value, self.controls["rescale"].value
        run = online_steps(self.s, self.v, self.block, rescale=rescale)
        return dict(step=step, rescale=rescale, run=run, m=float(run["m"][step]),
                    l=float(run["l"][step]), acc=float(run["acc"][step]),
                    output=float(run["output"][step]), scale=float(run["scale"][step]))

    def update(self) -> None:
        st = self.state()
        step, run = st["step"], st["run"]
        for j, bar in enumerate(self.bars):
            tile = j // self.block
            bar.set_color(SEEN if tile < step - 1 else CURRENT if tile == step - 1 else UNSEEN)
        self.max_line.set_ydata([st["m"], st["m"]] if step else [np.nan, np.nan])
        shown = np.arange(len(run["m"])) <= step
        self.m_curve.set_ydata(np.where(shown, run["m"], np.nan))
        self.out_curve.set_ydata(np.where(shown, run["output"], np.nan))
        self.l_curve.set_ydata(np.where(shown, run["l"], np.nan))
        self.cursor.set_xdata([step, step])
        if step == 0:
            text = "no tile visited yet: m = −∞, l = 0, acc = 0"
        else:
            grew = st["scale"] < 1.0
            text = (f"after tile {step} of {self.n_tiles}: m = <b>{st['m']:.3f}</b>, "
                    f"l = <b>{st['l']:.4f}</b>, acc = {st['acc']:.4f}, output acc / l = "
                    f"<b>{st['output']:.4f}</b> (exact {self.exact:.4f})<br>this tile "
                    + (f"raised the max: l and acc were multiplied by {st['scale']:.4f}"
                       if grew else "did not raise the max: nothing to rescale"
                       if st["rescale"] else "was added without rescaling"))
            if step == self.n_tiles:
                error = abs(st["output"] - self.exact)
                text += (" &nbsp;|&nbsp; <b>equal to the exact output</b>" if error < 1e-9
                         else f" &nbsp;|&nbsp; <b>off by {error:.4f}</b>")
        self.readout.value = text
        self.plot.refresh()


def examples() -> list[Explorer]:
    return [TileExplorer()]
