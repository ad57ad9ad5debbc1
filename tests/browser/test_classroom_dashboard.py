"""The workshop dashboard in a real browser: it updates itself, without reloading, while simulated
learners send results; it names the most common mistake with a link to its explanation; a
hostile name shows as text; without the token it shows nothing of the class.

The server runs in this process on 127.0.0.1; Playwright drives Debian's chromium (never a
browser that Playwright downloads), as in test_lessons_in_browser.py.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
import warnings

import pytest
import requests

from tutor.classroom.server import Classroom, Running
from tutor.classroom.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--no-sandbox"]
HOSTILE = "<img src=x onerror=window.pwned=1>"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Running(Classroom(Store(tmp_path_factory.mktemp("class") / "class.sqlite3")))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    # bypass_csp lets Playwright evaluate its waits; it also means an injected script would run
    context = browser.new_context(viewport={"width": 1600, "height": 900}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, errors


class Learner:
    def __init__(self, server, name: str):
        self.server, self.n = server, 0
        r = requests.post(server.url + "/api/join", timeout=5,
                          json={"code": server.classroom.code, "name": name})
        assert r.status_code == 200, r.text
        self.token = r.json()["token"]
        self.name = name

    def check(self, problem: str, status: str, misconception: str | None = None) -> None:
        self.n += 1
        event = {"id": f"{self.name[:3].encode().hex()}-{time.time_ns()}", "problem": problem,
                 "status": status, "misconception": misconception, "time": time.time(),
                 "attempt": self.n}
        r = requests.post(self.server.url + "/api/results", json={"results": [event]},
                          headers={"Authorization": f"Bearer {self.token}"}, timeout=5)
        assert r.status_code == 200, r.text


def cell(page, problem: str, which: str) -> str:
    return page.locator(f'tr[data-problem="{problem}"] td.{which}').inner_text(timeout=5000)


def test_the_dashboard_updates_live_as_learners_check(server, page):
    page.goto(f"{server.url}/dashboard#token={server.classroom.token}")
    page.wait_for_function("document.body.dataset.version !== undefined")
    page.evaluate("window.notReloaded = true")
    ada, bo, eve = (Learner(server, n) for n in ("Ada", "Bo", HOSTILE))

    ada.check("stable_softmax", "failed", "no_max_shift")
    bo.check("stable_softmax", "failed", "no_max_shift")
    eve.check("stable_softmax", "failed", "wrong_axis")
    page.wait_for_function("document.querySelectorAll('[data-mistake]').length === 2")
    assert cell(page, "stable_softmax", "try-n") == "3"
    top = page.locator("#top")
    assert "No max shift" in top.inner_text() or "max" in top.inner_text().lower()
    assert "(2 learners)" in top.inner_text()
    link = page.locator('[data-mistake="no_max_shift"] a')
    assert link.get_attribute("href") == "/mistake/no_max_shift"
    assert requests.get(server.url + link.get_attribute("href"), timeout=5).status_code == 200

    ada.check("stable_softmax", "passed")
    page.wait_for_function("""() => {
        const td = document.querySelector('tr[data-problem="stable_softmax"] td.pass-n');
        return td && td.textContent === '1'; }""")
    assert cell(page, "stable_softmax", "try-n") == "2"
    stuck = page.locator("#stuck").inner_text()
    assert "Bo" in stuck and HOSTILE in stuck and "Ada" not in stuck

    roster = page.locator(f'[data-learner="{HOSTILE}"]')
    assert HOSTILE in roster.inner_text()
    assert page.evaluate("window.pwned") is None
    assert page.locator("#roster img").count() == 0

    bo.check("logsumexp", "error")
    page.wait_for_selector('tr[data-problem="logsumexp"]')
    page.locator('tr[data-problem="logsumexp"]').click()
    assert page.locator("#chosen").inner_text() == "logsumexp"
    assert page.evaluate("window.notReloaded") is True


def test_each_check_shows_on_the_dashboard_within_a_second(server, page):
    """p99 (here: the worst of 30) from a learner's result to the page showing it."""
    page.goto(f"{server.url}/dashboard#token={server.classroom.token}")
    page.wait_for_function("document.body.dataset.version !== undefined")
    learner = Learner(server, "Timer")
    delays = []
    for i in range(30):
        before = int(page.evaluate("document.body.dataset.version"))
        start = time.perf_counter()
        learner.check("sigmoid", "failed" if i % 2 else "error")
        page.wait_for_function(f"Number(document.body.dataset.version) > {before}",
                               timeout=10_000, polling=10)
        delays.append(time.perf_counter() - start)
        time.sleep(0.05 * (i % 7))
    print(f"dashboard update: median {statistics.median(delays) * 1000:.0f} ms, "
          f"worst {max(delays) * 1000:.0f} ms")
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if max(delays) >= 1.0 and load > 2 * cores:  # other work holds the CPUs, as in the load test
        warnings.warn(f"machine overloaded (load {load:.1f} on {cores} cores): the dashboard "
                      f"took {max(delays):.2f} s, over 1 s", stacklevel=1)
    else:
        assert max(delays) < 1.0, delays


def test_without_the_token_the_page_shows_nothing_of_the_class(server, page):
    Learner(server, "Secretive").check("sigmoid", "failed")
    page.goto(f"{server.url}/dashboard")
    page.wait_for_selector("#need-token:not([hidden])")
    assert "Secretive" not in page.content()
    page.goto(f"{server.url}/dashboard#token=wrong")
    page.wait_for_function("document.getElementById('live').textContent === 'wrong token'")
    assert "Secretive" not in page.content()
