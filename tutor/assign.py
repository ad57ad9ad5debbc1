"""solutions/ → exercises/: model answers become `...` stubs.

In a solutions notebook, the lines between `# BEGIN SOLUTION` and `# END SOLUTION` are the model
answer; they become a single `...` at the marker's indentation. A line ending in `# SOLUTION`
(`answer = "b"  # SOLUTION`) keeps its left-hand side: `answer = ...`. Outputs and execution counts
are dropped. `--check` regenerates in memory and fails on any difference.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
_LINE = re.compile(r"^(?P<lhs>\s*[^=#]+?=)\s*.*#\s*SOLUTION\s*$")
_NEAR = re.compile(r"#+\s*(BEGIN|END)[\s_-]*SOLUTIONS?\b", re.IGNORECASE)


class MarkerError(ValueError):
    """A solution marker is unbalanced or misplaced."""


class NotebookError(ValueError):
    """A file in solutions/ is not a notebook that can be read."""


def strip_solutions(source: str, where: str = "") -> str:
    """The cell source with every model answer replaced by `...`."""
    out: list[str] = []
    inside = None
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside is not None:
                raise MarkerError(f"{where} line {number}: {BEGIN} inside another solution")
            inside = line[: len(line) - len(line.lstrip())]
            out.append(inside + "...")
        elif stripped == END:
            if inside is None:
                raise MarkerError(f"{where} line {number}: {END} without {BEGIN}")
            inside = None
        elif _NEAR.match(stripped):
            raise MarkerError(f"{where} line {number}: `{stripped}` is not a marker; write "
                              f"exactly `{BEGIN}` or `{END}` on a line of its own, or the model "
                              "answer stays in the exercise")
        elif inside is None:
            match = _LINE.match(line)
            if match:
                out.append(f"{match['lhs']} ...")
            elif re.search(r"#\s*SOLUTION\s*$", line):
                raise MarkerError(f"{where} line {number}: `# SOLUTION` needs `name = value`")
            else:
                out.append(line)
    if inside is not None:
        raise MarkerError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(out)


def exercise_from(solution: nbformat.NotebookNode, name: str = "") -> nbformat.NotebookNode:
    """A new notebook: the solution notebook with answers stubbed and outputs removed."""
    nb = nbformat.from_dict(solution)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"{name} cell {i}")
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nb.metadata["tutor"] = {"generated_from": f"solutions/{name}"}
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def plan(root: Path) -> dict[Path, str]:
    """Every exercise file and the text it must have."""
    wanted = {}
    for source in sorted((root / "solutions").glob("*.ipynb")):
        try:
            nb = nbformat.read(source, as_version=4)
        except Exception as e:  # not JSON, not UTF-8, not a notebook, a folder...
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise NotebookError(f"{source.relative_to(root)} is not a readable notebook "
                                f"({reason[:200]}); fix or remove it.") from None
        wanted[root / "exercises" / source.name] = render(exercise_from(nb, source.name))
    return wanted


def differences(root: Path) -> list[str]:
    """What `exercises/` lacks or has beyond what `solutions/` generates."""
    wanted = plan(root)
    problems = []
    for file, text in wanted.items():
        if not file.exists():
            problems.append(f"{file.relative_to(root)} is missing")
        elif file.read_text(encoding="utf-8", errors="replace") != text:
            problems.append(f"{file.relative_to(root)} differs from what solutions/ generates")
    for file in sorted((root / "exercises").glob("*.ipynb")):
        if file not in wanted:
            problems.append(f"{file.relative_to(root)} has no source in solutions/")
    return problems


def write(root: Path) -> list[Path]:
    """Write every exercise notebook; returns the files that changed."""
    (root / "exercises").mkdir(exist_ok=True)
    changed = []
    for file, text in plan(root).items():
        if not file.exists() or file.read_text(encoding="utf-8", errors="replace") != text:
            file.write_text(text, encoding="utf-8")
            changed.append(file)
    return changed
