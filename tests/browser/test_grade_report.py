"""The grader's report.html and a feedback page in a real browser: the class at a glance shows
its figures, the learners who need help first, the notebooks that could not be run; a hostile
learner name or message shows as text and runs nothing; the page loads nothing from outside.

The pages are written by the grader's own writer from records like a run's (no notebook is run
here: tests/test_grade.py grades a real class).
"""

from __future__ import annotations

import shutil

import pytest

from tutor import registry
from tutor.grade import cli

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--no-sandbox"]
HOSTILE = "<img src=x onerror=window.pwned=1>"


def record(learner: str, statuses: dict, failure: str = "") -> dict:
    rows = []
    for p in registry.problems():
        if p.chapter != "02_softmax":
            continue
        status, misconception = statuses.get(p.id, ("passed", ""))
        message = "The notebook could not be run: it did not finish within the 60 s time " \
            "limit in cell 3." if failure else f"{HOSTILE} message for {p.id}"
        rows.append({"learner": learner, "notebook": "02_softmax", "problem": p.id,
                     "status": status, "misconception": misconception,
                     "points": p.points if status == "passed" else 0, "max_points": p.points,
                     "message": message, "title": "", "link": "", "hint": p.hints[0],
                     "lesson": "notebooks/02_softmax.ipynb", "seed": 1})
    return {"learner": learner, "notebook": "02_softmax", "file": "02_softmax.ipynb",
            "key": learner, "hash": "0" * 64, "rows": rows, "notes": [],
            "log": {"learner": learner, "notebook": "02_softmax", "file": "02_softmax.ipynb",
                    "hash": "0" * 64, "seconds": 1.0, "worker_exit": ["exit 0"],
                    "limits_hit": [], "isolation": [], "notes": []}}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("grades")
    records = [record("ada", {}),
               record("ben", {"softmax": ("failed", "wrong_axis")}),
               record(HOSTILE, {"softmax": ("failed", "wrong_axis"),
                                "two_class_softmax": ("error", "")}),
               record("cy", {p.id: ("timeout", "") for p in registry.problems()},
                      failure="time limit")]
    cli.write_outputs(out, records)
    return out


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                             args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.requests = requests
        yield page
        browser.close()


def test_the_report_shows_the_class_at_a_glance(pages, page):
    page.goto((pages / "report.html").as_uri())
    assert page.title() == "Class report"
    images = page.locator("img")
    assert images.count() == 2  # pass rate, misconceptions
    for i in range(2):
        width = images.nth(i).evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 300
    rates = page.locator("table.rates")
    assert "softmax" in rates.inner_text() and "wrong_axis (2)" in rates.inner_text()
    helped = page.locator("table.help tr").nth(1).inner_text()
    assert helped.startswith("cy")  # nothing right and every check out of time: first
    assert "did not finish within the 60 s time limit" in page.locator("table.failed").inner_text()


def test_a_hostile_name_and_message_show_as_text_and_run_nothing(pages, page):
    for name in ("report.html", "feedback/img_src_x_onerror_window.pwned_1.html"):
        page.goto((pages / name).as_uri())
        assert HOSTILE in page.locator("body").inner_text()
        assert page.evaluate("window.pwned") is None
        assert page.locator("img[src=x]").count() == 0


def test_the_pages_load_nothing_from_outside(pages, page):
    page.requests.clear()
    page.goto((pages / "report.html").as_uri())
    page.goto((pages / "feedback" / "ada.html").as_uri())
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests
