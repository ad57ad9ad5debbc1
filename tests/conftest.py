"""Shared test set-up: a throwaway progress folder and the rules for real-browser tests.

TUTOR_HOME points at a temporary folder for the whole session, set in the environment so that
kernels started by the tests (JupyterLab, nbclient) inherit it: no test writes to ~/.tutor. Each
test then gets a fresh one of its own, so no test sees the progress another one recorded.

Under xdist (`--dist loadgroup`), the checker test files, long but made of independent tests,
are spread test by test over the workers; every other file stays on one worker, so that a
module-scoped fixture (a JupyterLab server, a graded class, a trained model) is built once.

Tests marked `browser` need Debian's `chromium` on PATH. Without it they are skipped with a
reason, except under CI (CI=true), where a missing browser is a failure: CI must test what a
learner's browser shows.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_HOME = tempfile.mkdtemp(prefix="tutor-home-")
os.environ["TUTOR_HOME"] = _HOME

NO_CHROMIUM = ("no `chromium` on PATH: install Debian's package (`sudo apt-get install chromium`) "
               "to run the real-browser tests; `make test` does it when run as root")


def chromium() -> str | None:
    """The browser the real-browser tests drive, or None."""
    return shutil.which("chromium")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def _fresh_progress_folder(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path_factory.mktemp("tutor-home")))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.get_closest_marker("browser") is None or chromium():
        return
    if in_ci():
        pytest.fail(f"CI=true and {NO_CHROMIUM}", pytrace=False)
    pytest.skip(NO_CHROMIUM)


SPREAD = {"test_ch01_ch02.py", "test_ch03.py", "test_ch04.py", "test_ch05.py", "test_ch06.py",
          "test_ch07.py", "test_ch09.py", "test_practice_beyond.py", "test_registry.py",
          "test_checking.py", "test_messages.py", "test_catalogue.py", "test_properties.py",
          "test_clip_loss.py"}
"""Test files with no costly module-scoped fixture, whose tests may run on any worker."""


def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.has_plugin("xdist"):
        return
    for item in items:
        if item.path.name not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(str(item.path)))


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("TUTOR_HOME") == _HOME:
        shutil.rmtree(_HOME, ignore_errors=True)
