"""Every explorer of every lesson: each control, moved across its range, redraws the plot in
place (same figure, same artists) and changes what is shown."""

from __future__ import annotations

import pytest

from tutor.widgets import Explorer, all_examples, sweep

EXAMPLES = all_examples()


def test_there_are_explorers():
    assert EXAMPLES, "tutor.widgets has no lesson explorers"


@pytest.mark.parametrize(("name", "explorer"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_every_control_redraws_in_place(name, explorer):
    assert isinstance(explorer, Explorer)
    assert explorer.plot.image.value, f"{name} shows nothing before any control moves"
    figure, axes = explorer.plot.fig, list(explorer.plot.fig.axes)
    artists = [len(ax.get_children()) for ax in axes]
    for label, control in explorer.controls.items():
        for value in sweep(control):
            before = (explorer.plot.image.value, explorer.readout.value)
            renders = explorer.plot.renders
            control.value = value
            assert explorer.plot.renders == renders + 1, f"{name}: {label}={value} did not redraw"
            after = (explorer.plot.image.value, explorer.readout.value)
            assert after != before, f"{name}: {label}={value!r} changed nothing on screen"
    assert explorer.plot.fig is figure, f"{name} built a new figure"
    assert list(figure.axes) == axes, f"{name} added or removed axes"
    grown = [len(ax.get_children()) - n for ax, n in zip(axes, artists, strict=True)]
    assert all(g <= 0 for g in grown), f"{name} adds artists on every update: {grown}"
