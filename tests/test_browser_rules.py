"""The rules in conftest.py for browser tests without a browser: skipped with the reason for a
learner, a failure under CI. And no test session writes progress to ~/.tutor."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

BROWSER_TEST = '''
import os
import pytest

@pytest.mark.browser
def test_needs_a_browser():
    pass

def test_progress_goes_to_a_temporary_folder():
    assert os.environ["TUTOR_HOME"] != os.path.expanduser("~/.tutor")
    assert os.path.isdir(os.environ["TUTOR_HOME"])
'''


def _run_without_chromium(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_rules.py").write_text(BROWSER_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    browser: needs chromium\n")
    empty = tmp_path / "bin"
    empty.mkdir()
    environment = {k: v for k, v in os.environ.items() if k not in {"CI", "TUTOR_HOME"}}
    environment.update(PATH=str(empty), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-rsE", "-p", "no:cacheprovider",
                           str(tmp_path)], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_without_chromium_browser_tests_are_skipped_with_how_to_get_it(tmp_path):
    done = _run_without_chromium(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 1 skipped" in done.stdout
    assert "apt-get install chromium" in done.stdout


def test_without_chromium_under_ci_browser_tests_fail(tmp_path):
    done = _run_without_chromium(tmp_path, CI="true")
    assert done.returncode == 1, done.stdout
    assert "1 passed, 1 error" in done.stdout
    assert "CI=true and no `chromium` on PATH" in done.stdout
