"""solutions/ → exercises/: model answers become `...`, nothing of them survives, and the
committed exercises are exactly what the generator writes."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tutor import __main__ as tutor_cli
from tutor import assign, registry

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
PROBLEM_IDS = {p.id for p in registry.problems()}
MARKER = re.compile(r"BEGIN SOLUTION|END SOLUTION|#\s*SOLUTION\s*$", re.MULTILINE)


def _or_skip(files, what):
    return [f.name for f in files] or [pytest.param(None, marks=pytest.mark.skip(
        reason=f"no notebooks in {what}/ yet"))]


def _notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Practice")]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def _tutor(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m tutor ARGS` in a fresh interpreter, as a maintainer runs it."""
    return subprocess.run([sys.executable, "-m", "tutor", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def _tutor_here(*args: str, cwd: Path, capsys, monkeypatch) -> tuple[int, str, str]:
    """The same command run in this process (quicker): exit code, stdout, stderr."""
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = tutor_cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


SOLVED = '''def softmax(z, axis=-1):
    """Softmax along axis."""
    # BEGIN SOLUTION
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
    # END SOLUTION'''


def test_begin_end_block_becomes_ellipsis_at_the_markers_indentation():
    assert assign.strip_solutions(SOLVED) == (
        'def softmax(z, axis=-1):\n    """Softmax along axis."""\n    ...')


def test_nested_block_keeps_its_deeper_indentation_and_the_lines_around_it():
    source = ("def f(x):\n    if x:\n        # BEGIN SOLUTION\n        return 1\n"
              "        # END SOLUTION\n    return 0")
    assert assign.strip_solutions(source) == "def f(x):\n    if x:\n        ...\n    return 0"


def test_solution_line_suffix_keeps_the_name_and_drops_the_value():
    source = 'answer = "b"  # SOLUTION\n    T_best = fit(z) # SOLUTION\nkept = 1'
    assert assign.strip_solutions(source) == "answer = ...\n    T_best = ...\nkept = 1"


def test_solution_suffix_without_an_assignment_is_a_marker_error():
    with pytest.raises(assign.MarkerError, match="needs `name = value`"):
        assign.strip_solutions("print(42)  # SOLUTION")


@pytest.mark.parametrize(("source", "complaint"), [
    ("def f():\n    # BEGIN SOLUTION\n    return 1", "never closed"),
    ("def f():\n    return 1\n    # END SOLUTION", "without # BEGIN SOLUTION"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "inside another solution"),
], ids=["begin-without-end", "end-without-begin", "nested-begin"])
def test_unbalanced_markers_raise_marker_error_naming_the_notebook_and_cell(source, complaint):
    nb = _notebook("import numpy as np", source)
    with pytest.raises(assign.MarkerError, match=complaint) as error:
        assign.exercise_from(nb, "07_attention.ipynb")
    assert "07_attention.ipynb cell 2" in str(error.value)


def test_outputs_execution_counts_and_widget_state_are_dropped():
    nb = _notebook(SOLVED, 'tutor.check("softmax")')
    for cell in nb.cells[1:]:
        cell.execution_count = 3
        cell.outputs = [nbformat.v4.new_output("stream", text="ok\n")]
        cell.metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    exercise = assign.exercise_from(nb, "02_softmax.ipynb")
    for cell in exercise.cells[1:]:
        assert cell.outputs == [] and cell.execution_count is None
        assert "execution" not in cell.metadata
    assert "widgets" not in exercise.metadata
    assert exercise.cells[2].source == 'tutor.check("softmax")'
    assert nb.cells[1].outputs, "the solution notebook itself is left as it was"


def test_exercise_notes_where_it_was_generated_from():
    exercise = assign.exercise_from(_notebook(SOLVED), "02_softmax.ipynb")
    assert exercise.metadata["tutor"] == {"generated_from": "solutions/02_softmax.ipynb"}


def test_assign_check_passes_on_the_course():
    if not SOLUTIONS:
        pytest.skip("no notebooks in solutions/ yet")
    done = _tutor("assign", "--check", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "in step" in done.stdout


@pytest.fixture
def course(tmp_path, capsys, monkeypatch):
    """A small course folder: one solution notebook and its generated exercise."""
    (tmp_path / "solutions").mkdir()
    nbformat.write(_notebook("import numpy as np", SOLVED, 'tutor.check("softmax")'),
                   tmp_path / "solutions" / "02_softmax.ipynb")
    code, out, err = _tutor_here("assign", cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err
    assert "wrote exercises/02_softmax.ipynb" in out
    return tmp_path


def test_assign_check_fails_naming_a_hand_edited_exercise(course, capsys, monkeypatch):
    exercise = course / "exercises" / "02_softmax.ipynb"
    assert _tutor_here("assign", "--check", cwd=course, capsys=capsys,
                       monkeypatch=monkeypatch)[0] == 0
    exercise.write_text(exercise.read_text().replace("...", "return None"))
    code, _, err = _tutor_here("assign", "--check", cwd=course, capsys=capsys,
                               monkeypatch=monkeypatch)
    assert code == 1
    assert "exercises/02_softmax.ipynb differs from what solutions/ generates" in err


def test_assign_check_fails_naming_a_missing_or_orphaned_exercise(course, capsys, monkeypatch):
    (course / "exercises" / "02_softmax.ipynb").rename(course / "exercises" / "03_old.ipynb")
    code, _, err = _tutor_here("assign", "--check", cwd=course, capsys=capsys,
                               monkeypatch=monkeypatch)
    assert code == 1
    assert "exercises/02_softmax.ipynb is missing" in err
    assert "exercises/03_old.ipynb has no source in solutions/" in err


def test_assign_check_fails_on_a_tampered_copy_of_the_course(tmp_path):
    """The real command, on a copy of the course with one exercise edited by hand."""
    if not SOLUTIONS:
        pytest.skip("no notebooks in solutions/ yet")
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    victim = tmp_path / "exercises" / SOLUTIONS[0].name
    nb = nbformat.read(victim, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("answer = 42"))
    nbformat.write(nb, victim)
    done = _tutor("assign", "--check", cwd=tmp_path)
    assert done.returncode == 1
    assert f"exercises/{victim.name} differs" in done.stderr


@pytest.mark.parametrize("name", _or_skip(EXERCISES, "exercises"))
def test_no_solution_marker_survives_in_an_exercise(name):
    nb = nbformat.read(ROOT / "exercises" / name, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not MARKER.search(cell.source), f"{name} cell {i} keeps a solution marker"


def _functions(source: str) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef)}


def _body_without_docstring(fn: ast.FunctionDef) -> list[ast.stmt]:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body


@pytest.mark.parametrize("name", _or_skip(SOLUTIONS, "solutions"))
def test_every_solution_function_becomes_a_stub_with_the_same_signature(name):
    solution = nbformat.read(ROOT / "solutions" / name, as_version=4)
    exercise = nbformat.read(ROOT / "exercises" / name, as_version=4)
    solved = [c for c in solution.cells if c.cell_type == "code"]
    stubs = [c for c in exercise.cells if c.cell_type == "code"]
    assert len(solved) == len(stubs), f"{name}: exercise has other cells than its solution"
    answered = 0
    for i, (cell, stub) in enumerate(zip(solved, stubs, strict=True)):
        if "# BEGIN SOLUTION" not in cell.source:
            continue
        theirs, ours = _functions(cell.source), _functions(stub.source)
        for fn_name, fn in theirs.items():
            if fn_name not in PROBLEM_IDS:
                continue
            answered += 1
            assert fn_name in ours, f"{name} code cell {i}: {fn_name} is missing in the exercise"
            assert ast.dump(ours[fn_name].args) == ast.dump(fn.args), f"{fn_name}: signature"
            body = _body_without_docstring(ours[fn_name])
            assert len(body) == 1 and ast.unparse(body[0]) == "...", (
                f"{name}: the body of {fn_name} is not just `...`:\n{ast.unparse(ours[fn_name])}")
    assert answered, f"{name} answers no problem between solution markers"


@pytest.mark.parametrize("content", [b"{not json", b"[]", b"\xff\xfe", b'{"cells": 3}'])
@pytest.mark.parametrize("check", [False, True])
def test_a_solutions_file_that_is_not_a_notebook_is_named_without_a_traceback(
        course, capsys, monkeypatch, content, check):
    (course / "solutions" / "03_broken.ipynb").write_bytes(content)
    code, _, err = _tutor_here("assign", *(["--check"] if check else []), cwd=course,
                               capsys=capsys, monkeypatch=monkeypatch)
    assert code == 2
    assert err.startswith("solutions/03_broken.ipynb is not a readable notebook (")
    assert "Traceback" not in err


def test_an_exercise_that_is_not_text_is_reported_and_rewritten(course, capsys, monkeypatch):
    exercise = course / "exercises" / "02_softmax.ipynb"
    exercise.write_bytes(b"\xff\xfe garbage")
    code, _, err = _tutor_here("assign", "--check", cwd=course, capsys=capsys,
                               monkeypatch=monkeypatch)
    assert code == 1 and "exercises/02_softmax.ipynb differs" in err
    assert _tutor_here("assign", cwd=course, capsys=capsys, monkeypatch=monkeypatch)[0] == 0
    assert _tutor_here("assign", "--check", cwd=course, capsys=capsys,
                       monkeypatch=monkeypatch)[0] == 0


def test_output_cut_short_by_a_closed_pipe_is_not_a_traceback(tmp_path):
    done = subprocess.run(f"{sys.executable} -m tutor list | head -1", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


@pytest.mark.parametrize("begin, end", [("# begin solution", "# end solution"),
                                        ("#BEGIN SOLUTION", "#END SOLUTION"),
                                        ("# BEGIN_SOLUTION", "# END_SOLUTION")])
def test_a_misspelt_marker_pair_is_an_error_not_a_leaked_answer(begin, end):
    nb = _notebook(f"def f():\n    {begin}\n    return 42\n    {end}")
    with pytest.raises(assign.MarkerError, match="is not a marker") as error:
        assign.exercise_from(nb, "02_softmax.ipynb")
    assert "02_softmax.ipynb cell 1 line 2" in str(error.value)


# --- each fact about a problem written once: the Problem declares, the notebook agrees ------------

def _statement_cells() -> dict[str, tuple[str, str]]:
    """problem name → (solutions notebook, its heading-and-statement cell)."""
    cells = {}
    for source in SOLUTIONS:
        for cell in nbformat.read(source, as_version=4).cells:
            match = assign._HEADING.match(cell.source) if cell.cell_type == "markdown" else None
            if match:
                cells[match["name"]] = (source.name, cell.source)
    return cells


def test_every_problem_heading_is_written_from_its_problem():
    cells = _statement_cells()
    for problem in registry.problems():
        notebook, text = cells[problem.name]
        assert notebook[:2] == problem.chapter[:2], (problem.id, notebook)
        number = int(assign._HEADING.match(text)["number"])
        assert text.split("\n", 1)[0] == assign.heading(problem, number), (
            f"{notebook}: run `python -m tutor assign` to write {problem.id}'s heading")


def test_assign_rewrites_a_heading_that_disagrees_with_its_problem(course, capsys, monkeypatch):
    solution = course / "solutions" / "02_softmax.ipynb"
    nb = nbformat.read(solution, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(
        "## 1. `softmax(z, axis=-1)` (easy, 5 points)\n\nSoftmax along `axis`."))
    nbformat.write(nb, solution)
    code, _, err = _tutor_here("assign", "--check", cwd=course, capsys=capsys,
                               monkeypatch=monkeypatch)
    assert code == 1 and "the heading of softmax differs from its Problem" in err
    _tutor_here("assign", cwd=course, capsys=capsys, monkeypatch=monkeypatch)
    for folder in ("solutions", "exercises"):
        cell = nbformat.read(course / folder / "02_softmax.ipynb", as_version=4).cells[1]
        assert cell.source == ("## 1. `softmax(z, axis=-1)` (medium, 2 points)\n\n"
                               "Softmax along `axis`.")


def _facts(text: str) -> set[str]:
    """The contract's hard facts in a statement: numbers and exception names, with the
    notebook's LaTeX powers (10^{-3}) read as 1e-3."""
    text = re.sub(r"10\^\{?(-?\d+)\}?", r"1e\1", text.replace("−", "-"))
    numbers = re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?", text)
    return set(numbers) | set(re.findall(r"\b[A-Z][a-z]+Error\b", text))


def test_every_fact_of_a_problem_statement_is_in_its_notebook():
    """The notebook's statement says more (formulas, advice), but every number and exception
    of the Problem's one-paragraph statement is in it too, so the two cannot drift apart."""
    cells = _statement_cells()
    lacking = [f"{cells[p.name][0]}, {p.id}: {sorted(missing)}" for p in registry.problems()
               if (missing := _facts(p.statement) - _facts(cells[p.name][1]))]
    assert not lacking, "notebook statements lack facts of their Problem: " + "; ".join(lacking)
