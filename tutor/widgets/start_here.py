"""Lesson 00, start here: a slider that proves widgets work, and a scratch progress folder for
the guided demo of `tutor.check`."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

import numpy as np

from tutor.widgets import Explorer, LivePlot, slider


class WidgetCheck(Explorer):
    """One slider and a wave: if dragging the slider redraws the wave, widgets work here.

    >>> WidgetCheck(frequency=2.0)   # in a notebook cell
    """

    def __init__(self, frequency: float = 1.0):
        self.controls = {"frequency": slider("frequency", frequency, 0.5, 4.0, 0.25)}
        self.plot = LivePlot(figsize=(6.4, 2.4))
        ax = self.plot.ax
        self.x = np.linspace(0.0, 2 * np.pi, 400)
        (self.wave,) = ax.plot(self.x, np.sin(frequency * self.x), color="#1565c0", lw=2)
        ax.set_xlim(0, 2 * np.pi)
        ax.set_ylim(-1.15, 1.15)
        ax.set_xlabel("x")
        self.title = ax.set_title("y = sin(x)")
        self.plot.fig.tight_layout()
        self.plot.animate(self.wave, self.title)
        self._wire()

    def update(self) -> None:
        f = self.controls["frequency"].value
        self.wave.set_ydata(np.sin(f * self.x))
        self.title.set_text(f"y = sin({f:.2f} · x)")
        self.readout.value = (f"frequency = <b>{f:.2f}</b>: the wave has {f:.2f} full cycles. "
                              "If it changed as you dragged, widgets work.")
        self.plot.refresh()


@contextlib.contextmanager
def scratch_progress() -> Iterator[str]:
    """Within the block, checks are recorded in a throwaway folder, not in your progress.

    The start-here demo checks a softmax it wrote itself; that must not count as yours.
    """
    previous = os.environ.get("TUTOR_HOME")
    folder = tempfile.mkdtemp(prefix="tutor-demo-")
    os.environ["TUTOR_HOME"] = folder
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("TUTOR_HOME", None)
        else:
            os.environ["TUTOR_HOME"] = previous
        shutil.rmtree(folder, ignore_errors=True)


def examples() -> list[Explorer]:
    return [WidgetCheck()]
