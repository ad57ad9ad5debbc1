"""Lessons 08 and 09 in a real browser, beyond what every lesson gets: in lesson 08 each slider
changes both the next-character bars and the generated text, "sample again" draws a new text,
and a typed prompt starts it; in lesson 09 the tile slider redraws the plot.

Same JupyterLab server and Chromium as test_lessons_in_browser.py (its fixtures are reused).
"""

from __future__ import annotations

import pytest
import test_lessons_in_browser as shared
from test_lessons_in_browser import SECONDS, SHOTS, _assert_no_errors, _wait_until_settled

# The shared fixtures, found by pytest under these names.
lab, browser, page = shared.lab, shared.browser, shared.page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

PLOT_AND_TEXT = """(el) => {
    const img = el.querySelector('.tutor-plot');
    const pre = el.querySelector('.tutor-readout pre');
    return [img ? img.getAttribute('src') : '', pre ? pre.innerText : ''];
}"""


def _open_and_run(page, lab, notebook: str) -> None:
    page.goto(f"{lab.url}/lab/tree/{notebook}?token={lab.token}&reset")
    page.wait_for_function(
        "() => { const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " const k = nb && nb.sessionContext && nb.sessionContext.session"
        " && nb.sessionContext.session.kernel; return k && k.status === 'idle'; }",
        timeout=90 * SECONDS, polling=200)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    state = _wait_until_settled(page, f"{notebook}, run all", timeout=240)
    _assert_no_errors(state, f"{notebook}, run all")


def _changed(page, explorer, before, which: tuple[int, ...], what: str) -> list:
    """Wait until every entry of PLOT_AND_TEXT listed in `which` differs from `before`."""
    try:
        page.wait_for_function(
            f"([el, before, which]) => {{ const now = ({PLOT_AND_TEXT})(el);"
            " return which.every(i => now[i] !== before[i]); }",
            arg=[explorer.element_handle(), before, list(which)], timeout=20 * SECONDS,
            polling=100)
    except Exception as e:
        names = " and ".join(("the bars", "the text")[i] for i in which)
        raise AssertionError(f"{what}: {names} did not change ({e})") from e
    _assert_no_errors(_wait_until_settled(page, what), what)
    return explorer.evaluate(PLOT_AND_TEXT)


def _shot(page, name: str, e: Exception) -> AssertionError:
    shot = SHOTS / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    return AssertionError(f"{e}\nscreenshot: {shot}")


def test_lesson_08_sliders_button_and_prompt_change_the_bars_and_the_text(lab, page):
    try:
        _open_and_run(page, lab, "08_tiny_language_model.ipynb")
        explorer = page.locator(".tutor-explorer", has=page.locator(".widget-text input"))
        assert explorer.count() == 1, "lesson 08 shows one explorer with a prompt box"
        state = explorer.evaluate(PLOT_AND_TEXT)
        assert state[1].startswith("The softmax "), state[1]
        for i, handle in enumerate(explorer.locator(".widget-slider .noUi-handle").all()):
            now, high = (float(handle.get_attribute(a) or 0) for a in ("aria-valuenow",
                                                                       "aria-valuemax"))
            handle.scroll_into_view_if_needed()
            handle.focus()
            page.keyboard.press("End" if now < high else "Home")
            state = _changed(page, explorer, state, (0, 1), f"lesson 08, slider {i + 1}")
            if i > 0:
                # a filter back to off, so that the next control still has a choice to change
                page.keyboard.press("Home" if now < high else "End")
                state = _changed(page, explorer, state, (0, 1), f"lesson 08, slider {i + 1} "
                                 "back to off")
        explorer.get_by_role("button", name="sample again").click()
        state = _changed(page, explorer, state, (1,), "lesson 08, sample again")
        box = explorer.locator(".widget-text input")
        box.fill("Softmax is")
        box.press("Enter")
        state = _changed(page, explorer, state, (0, 1), "lesson 08, a new prompt")
        assert state[1].startswith("Softmax is"), state[1]
    except Exception as e:
        raise _shot(page, "08_tiny_language_model-controls", e) from e


def test_lesson_09_tile_slider_redraws_the_plot(lab, page):
    try:
        _open_and_run(page, lab, "09_softmax_at_scale.ipynb")
        explorer = page.locator(".tutor-explorer").first
        handle = explorer.locator(".widget-slider .noUi-handle").first
        before = explorer.evaluate(PLOT_AND_TEXT)
        handle.scroll_into_view_if_needed()
        handle.focus()
        page.keyboard.press("End")
        _changed(page, explorer, before, (0,), "lesson 09, tile slider")
        readout = explorer.locator(".tutor-readout").inner_text()
        assert "after tile 6 of 6" in readout and "equal to the exact output" in readout
    except Exception as e:
        raise _shot(page, "09_softmax_at_scale-tiles", e) from e
