"""Every lesson in a real browser: JupyterLab runs it top to bottom, then every explorer's
controls are moved and its plot or readout must change, with no error anywhere.

One JupyterLab server for the module, serving a temporary copy of notebooks/ (autosave can
never write outputs into the course), driven by Playwright in Debian's chromium (never a
browser that Playwright downloads). On failure a screenshot is saved and its path is in the
message. TUTOR_BROWSER_LESSONS=DIR points the test at another folder of lesson notebooks.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
LESSONS = Path(os.environ.get("TUTOR_BROWSER_LESSONS") or ROOT / "notebooks")
NOTEBOOKS = sorted(p.name for p in LESSONS.glob("[0-9][0-9]*_*.ipynb"))  # 06b_ too
SHOTS = Path(tempfile.mkdtemp(prefix="tutor-browser-shots-"))

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--no-sandbox"]
# Written into the server's own user-settings folder: no news or update toasts over the page,
# and every cell attached to the page so widgets far below still render.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
SECONDS = 1000  # Playwright counts in milliseconds

NOTEBOOK_STATE = """() => {
    const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    if (!nb || !nb.sessionContext || !nb.content) return null;
    const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
    const errors = [];
    let pending = 0, code = 0;
    nb.content.widgets.forEach((cell, i) => {
        if (cell.model.type !== 'code') return;
        code += 1;
        const empty = cell.model.sharedModel.getSource().trim() === '';
        if (!empty && cell.model.executionCount === null) pending += 1;
        for (const out of cell.model.outputs.toJSON()) {
            if (out.output_type === 'error') errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
        }
    });
    for (const el of nb.node.querySelectorAll('.jp-OutputArea-output')) {
        const text = el.innerText || '';
        if (/Error displaying widget|Error rendering/.test(text)) {
            errors.push('output: ' + text.slice(0, 300));
        }
    }
    let loading = 0;
    for (const el of nb.node.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.widget-view+json"]')) {
        if (!el.querySelector('.jupyter-widgets')) loading += 1;
    }
    return {status: kernel ? kernel.status : null, pending, code, errors, loading};
}"""

EXPLORER_STATE = """(el) => {
    const img = el.querySelector('.tutor-plot');
    const readout = el.querySelector('.tutor-readout');
    return (img ? img.getAttribute('src') : '') + '\\n' + (readout ? readout.innerText : '');
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 serving a copy of the lessons."""

    def __init__(self, base: Path):
        self.root = base / "lessons"
        shutil.copytree(LESSONS, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        settings = base / "user-settings"
        for name, values in SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values))
        for folder in ("workspaces", "runtime", "config", "data"):
            (base / folder).mkdir()
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = base / "jupyterlab.log"
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(base / "runtime"),
                   JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_DATA_DIR=str(base / "data"),
                   PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                   "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
                   "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                   f"--ServerApp.root_dir={self.root}",
                   f"--LabApp.workspaces_dir={base / 'workspaces'}",
                   f"--LabApp.user_settings_dir={settings}",
                   "--LabApp.expose_app_in_browser=True"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            cwd=base)
        self._wait_until_up()

    def _wait_until_up(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/api/status", params={"token": self.token},
                                timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"JupyterLab did not start; its log:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def shut_down_kernels(self) -> None:
        api = f"{self.url}/api/sessions"
        for session in requests.get(api, params={"token": self.token}, timeout=10).json():
            requests.delete(f"{api}/{session['id']}", params={"token": self.token}, timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = Lab(tmp_path_factory.mktemp("jupyterlab"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()
    lab.shut_down_kernels()


def _wait_until_settled(page, what: str, timeout: float = 120) -> dict:
    """Wait until the kernel is idle, no cell is pending and every widget has rendered (or an
    error shows), and return the notebook's state."""
    deadline = time.monotonic() + timeout
    quiet_since, state = None, None
    while time.monotonic() < deadline:
        state = page.evaluate(NOTEBOOK_STATE)
        settled = state and state["status"] == "idle" and (
            state["errors"] or (state["pending"] == 0 and state["loading"] == 0))
        if settled:
            # idle for a moment: widget messages that follow an execution have arrived
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 0.5:
                return state
        else:
            quiet_since = None
        time.sleep(0.1)
    raise AssertionError(f"{what}: not settled after {timeout:.0f} s; last state {state}")


def _assert_no_errors(state: dict, what: str) -> None:
    assert not state["errors"], f"{what}: error output: " + " | ".join(state["errors"])


def _wait_for_change(page, explorer, before: str, what: str) -> None:
    try:
        page.wait_for_function(
            f"([el, before]) => ({EXPLORER_STATE})(el) !== before",
            arg=[explorer.element_handle(), before],
            timeout=15 * SECONDS, polling=100)
    except Exception as e:
        raise AssertionError(f"{what}: neither the plot nor the readout changed ({e})") from e


def _exercise_explorer(page, explorer, label: str) -> int:
    """Move every control of one explorer; return how many controls were moved."""
    moved = 0
    for i, handle in enumerate(explorer.locator(".widget-slider .noUi-handle").all()):
        what = f"{label}, slider {i + 1}"
        if handle.evaluate("h => !!h.closest('[disabled]')"):
            continue
        before = explorer.evaluate(EXPLORER_STATE)
        now, high = (float(handle.get_attribute(a) or 0) for a in ("aria-valuenow",
                                                                   "aria-valuemax"))
        handle.scroll_into_view_if_needed()
        handle.focus()
        # one keyboard step, then a jump to the far end: both go through the kernel callback
        page.keyboard.press("ArrowRight" if now < high else "ArrowLeft")
        page.keyboard.press("End" if now < high else "Home")
        _wait_for_change(page, explorer, before, what)
        _assert_no_errors(_wait_until_settled(page, what), what)
        moved += 1
    for i, select in enumerate(explorer.locator(".widget-dropdown select").all()):
        what = f"{label}, dropdown {i + 1}"
        options = select.evaluate("s => [...s.options].map(o => o.value)")
        current = select.evaluate("s => s.value")
        others = [o for o in options if o != current]
        if not others:
            continue
        before = explorer.evaluate(EXPLORER_STATE)
        select.select_option(others[0])
        _wait_for_change(page, explorer, before, what)
        _assert_no_errors(_wait_until_settled(page, what), what)
        moved += 1
    for i, box in enumerate(explorer.locator(".widget-checkbox input[type=checkbox]").all()):
        what = f"{label}, checkbox {i + 1}"
        before = explorer.evaluate(EXPLORER_STATE)
        box.click()
        _wait_for_change(page, explorer, before, what)
        _assert_no_errors(_wait_until_settled(page, what), what)
        moved += 1
    for i, button in enumerate(explorer.locator("button.widget-button").all()):
        what = f"{label}, button {i + 1}"     # "draw 20 tokens", "sample again", ...
        before = explorer.evaluate(EXPLORER_STATE)
        button.scroll_into_view_if_needed()
        button.click()
        _wait_for_change(page, explorer, before, what)
        _assert_no_errors(_wait_until_settled(page, what), what)
        moved += 1
    for i, group in enumerate(explorer.locator(".widget-toggle-buttons").all()):
        what = f"{label}, toggle buttons {i + 1}"
        choices = group.locator("button:not(.mod-active)")
        if choices.count() == 0:
            continue
        before = explorer.evaluate(EXPLORER_STATE)
        choices.first.click()
        _wait_for_change(page, explorer, before, what)
        _assert_no_errors(_wait_until_settled(page, what), what)
        moved += 1
    return moved


@pytest.mark.parametrize("notebook", NOTEBOOKS or [pytest.param(
    None, marks=pytest.mark.skip(reason=f"no lesson notebooks (NN_name.ipynb) in {LESSONS} yet"))])
def test_lesson_runs_and_every_explorer_responds(notebook, lab, page):
    try:
        page.goto(f"{lab.url}/lab/tree/{notebook}?token={lab.token}&reset")
        page.wait_for_function(
            "() => { const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " const k = nb && nb.sessionContext && nb.sessionContext.session"
            " && nb.sessionContext.session.kernel; return k && k.status === 'idle'; }",
            timeout=90 * SECONDS, polling=200)
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        state = _wait_until_settled(page, f"{notebook}, run all")
        _assert_no_errors(state, f"{notebook}, run all")
        assert state["pending"] == 0, f"{notebook}: {state['pending']} cells did not run"
        explorers = page.locator(".tutor-explorer").all()
        assert explorers, f"{notebook}: no explorer (.tutor-explorer) on the page; every lesson " \
                          "shows at least one live widget from tutor.widgets"
        moved = [_exercise_explorer(page, explorer, f"{notebook}, explorer {n} of "
                                    f"{len(explorers)}") for n, explorer in enumerate(explorers, 1)]
        print(f"{notebook}: {len(explorers)} explorers, controls moved in each: {moved}")
    except Exception as e:
        shot = SHOTS / f"{notebook}.png"
        page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"{e}\nscreenshot: {shot}\nserver log: {lab.log}") from e
