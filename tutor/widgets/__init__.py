"""Plot-in-place helpers the lessons share.

A lesson's explorer is a handful of ipywidgets controls wired to one `LivePlot`: a matplotlib
figure built once and shown as an `ipywidgets.Image`. Moving a control changes the existing
artists (`set_height`, `set_ydata`, `set_data`, `set_text`) and re-encodes the PNG; the figure is
never rebuilt, so a callback takes a few tens of milliseconds. Each lesson's explorers live in
their own module here (`tutor.widgets.softmax`, ...), are plain objects, and are unit-tested by
setting `.value` on their controls and reading the artists back.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable

import ipywidgets as w
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


class LivePlot:
    """A matplotlib figure shown as a PNG image widget and redrawn in place by `refresh()`."""

    def __init__(self, nrows: int = 1, ncols: int = 1, figsize=(6.4, 3.2), dpi: int = 80,
                 **subplots):
        self.fig = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.fig)
        axes = self.fig.subplots(nrows, ncols, squeeze=False, **subplots)
        self.axes = [ax for row in axes for ax in row]
        self.ax = self.axes[0]
        self.image = w.Image(format="png", layout=w.Layout(width=f"{figsize[0] * dpi}px"))
        self.image.add_class("tutor-plot")
        self.renders = 0
        """How many times the figure was drawn: tests see that a callback redrew."""
        self.last_render_seconds = 0.0
        self._animated: list = []
        self._background = None

    def animate(self, *artists) -> None:
        """Mark the artists that callbacks change. `refresh` then draws the rest of the figure
        (ticks, labels, static curves: most of the cost is text) once, and afterwards only these
        artists over that cached picture. Call `invalidate()` after changing anything unmarked,
        such as axis limits."""
        for artist in artists:
            artist.set_animated(True)
            self._animated.append(artist)
        self._background = None

    def invalidate(self) -> None:
        """Redraw the whole figure at the next `refresh`."""
        self._background = None

    def refresh(self) -> None:
        """Encode the figure as it stands into the image widget."""
        start = time.perf_counter()
        buffer = io.BytesIO()
        if self._animated:
            canvas = self.fig.canvas
            if self._background is None:
                canvas.draw()
                self._background = canvas.copy_from_bbox(self.fig.bbox)
            else:
                canvas.restore_region(self._background)
            for artist in self._animated:
                self.fig.draw_artist(artist)
            from PIL import Image

            Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw",
                             "RGBA", 0, 1).save(buffer, format="png", compress_level=1)
        else:
            self.fig.savefig(buffer, format="png")
        self.image.value = buffer.getvalue()
        self.renders += 1
        self.last_render_seconds = time.perf_counter() - start


def slider(description: str, value: float, low: float, high: float, step: float = 0.1,
           **kwargs) -> w.FloatSlider:
    """A float slider with the course's look: wide label, live updates, readout to 2 places."""
    options = dict(description=description, value=value, min=low, max=high, step=step,
                   continuous_update=True, readout_format=".2f",
                   style={"description_width": "initial"}, layout=w.Layout(width="420px"))
    options.update(kwargs)
    return w.FloatSlider(**options)


def int_slider(description: str, value: int, low: int, high: int, **kwargs) -> w.IntSlider:
    options = dict(description=description, value=value, min=low, max=high, step=1,
                   continuous_update=True, style={"description_width": "initial"},
                   layout=w.Layout(width="420px"))
    options.update(kwargs)
    return w.IntSlider(**options)


class Explorer:
    """Controls wired to a `LivePlot` and an HTML readout; shows itself as one box.

    Subclasses build `self.controls` (name → widget) and `self.plot`, then call `self._wire()`;
    `update()` reads the controls, changes the artists, sets `self.readout.value` and calls
    `self.plot.refresh()`.
    """

    controls: dict[str, w.Widget]
    plot: LivePlot

    def _wire(self, extra: Iterable[w.Widget] = ()) -> None:
        self.readout = getattr(self, "readout", None) or w.HTML()
        self.readout.add_class("tutor-readout")
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.ui = w.VBox([*self.controls.values(), *extra, self.plot.image, self.readout])
        self.ui.add_class("tutor-explorer")
        self.update()

    def _changed(self, change) -> None:
        self.update()

    def update(self) -> None:  # pragma: no cover - every explorer defines it
        raise NotImplementedError

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.ui)


def sweep(control: w.Widget, n: int = 5) -> list:
    """Values that move `control` across its whole range (for tests and benchmarks)."""
    if isinstance(control, (w.FloatSlider, w.IntSlider, w.FloatLogSlider)):
        if isinstance(control, w.FloatLogSlider):
            low, high = control.base ** control.min, control.base ** control.max
            values = [low * (high / low) ** (i / (n - 1)) for i in range(n)]
        else:
            values = [control.min + (control.max - control.min) * i / (n - 1) for i in range(n)]
        if isinstance(control, w.IntSlider):
            values = sorted({int(round(v)) for v in values})
        return [v for v in values if v != control.value] + [control.value]
    if isinstance(control, (w.Dropdown, w.RadioButtons, w.ToggleButtons, w.Select)):
        options = [o[1] if isinstance(o, tuple) else o for o in control.options]
        return [v for v in options if v != control.value] + [control.value]
    if isinstance(control, (w.Checkbox, w.ToggleButton)):
        return [not control.value, control.value]
    raise TypeError(f"no sweep for a {type(control).__name__}")


def all_examples() -> list[tuple[str, Explorer]]:
    """("module.Class", explorer) for every explorer of every lesson module here."""
    import importlib
    import pkgutil

    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for explorer in getattr(module, "examples", list)():
            found.append((f"{info.name}.{type(explorer).__name__}", explorer))
    return found
