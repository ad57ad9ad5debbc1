"""Every notebook in the course is stored clean: valid nbformat 4, the python3 kernel, and no
outputs, execution counts or widget state (results come from running it, never from the file)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.relative_to(ROOT).as_posix() for folder in ("notebooks", "exercises",
                                                                 "solutions")
                   for p in (ROOT / folder).glob("*.ipynb"))


@pytest.fixture(params=NOTEBOOKS or [pytest.param(None, marks=pytest.mark.skip(
    reason="no notebooks in notebooks/, exercises/ or solutions/ yet"))])
def notebook(request):
    return request.param, nbformat.read(ROOT / request.param, as_version=nbformat.NO_CONVERT)


def test_notebook_is_valid_nbformat_4(notebook):
    name, nb = notebook
    assert nb.nbformat == 4, f"{name} is nbformat {nb.nbformat}"
    nbformat.validate(nb)


def test_notebook_runs_on_the_python3_kernel(notebook):
    name, nb = notebook
    kernelspec = nb.metadata.get("kernelspec", {})
    assert kernelspec.get("name") == "python3", f"{name}: kernelspec {kernelspec}"
    assert kernelspec.get("language") == "python", f"{name}: kernelspec {kernelspec}"


def test_notebook_has_no_outputs_or_execution_counts(notebook):
    name, nb = notebook
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{name}: cells {dirty} keep outputs or execution counts; clear them"


def test_notebook_stores_no_widget_state(notebook):
    name, nb = notebook
    assert "widgets" not in nb.metadata, f"{name} stores widget state in its metadata"
