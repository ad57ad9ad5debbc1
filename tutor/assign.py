"""solutions/ → exercises/: model answers become `...` stubs.

In a solutions notebook, the lines between `# BEGIN SOLUTION` and `# END SOLUTION` are the model
answer; they become a single `...` at the marker's indentation. A line ending in `# SOLUTION`
(`answer = "b"  # SOLUTION`) keeps its left-hand side: `answer = ...`. Outputs and execution counts
are dropped. `--check` regenerates in memory and fails on any difference.

A problem's heading (`## 2. `softmax(z, axis=-1)` (medium, 2 points)`) is written from its
`Problem`, in the exercise and in the solutions notebook alike: the signature, difficulty and
points are declared once, in the chapter module.
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


_HEADING = re.compile(r"^## (?P<number>\d+)\. `(?P<name>[A-Za-z_]\w*)\(")


def heading(problem, number: int) -> str:
    """The practice notebook's heading of `problem`: "## 2. `softmax(z, axis=-1)` (medium, 2
    points)"."""
    points = f"{problem.points} point" + ("s" if problem.points != 1 else "")
    return f"## {number}. `{problem.signature}` ({problem.difficulty}, {points})"


def headed(nb: nbformat.NotebookNode) -> list[str]:
    """Rewrite, in place, the first line of every problem's heading cell from its `Problem`;
    the names of the problems whose heading changed."""
    from tutor import registry

    problems = {p.name: p for p in registry.problems()}
    changed = []
    for cell in nb.cells:
        match = _HEADING.match(cell.source) if cell.cell_type == "markdown" else None
        if match is None or match["name"] not in problems:
            continue
        first, _, rest = cell.source.partition("\n")
        wanted = heading(problems[match["name"]], int(match["number"]))
        if first != wanted:
            cell.source = wanted + ("\n" + rest if rest or cell.source.endswith("\n") else "")
            changed.append(match["name"])
    return changed


def exercise_from(solution: nbformat.NotebookNode, name: str = "") -> nbformat.NotebookNode:
    """A new notebook: the solution notebook with answers stubbed, outputs removed and each
    problem's heading written from its `Problem`."""
    nb = nbformat.from_dict(solution)
    headed(nb)
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


def stale_headings(root: Path) -> dict[Path, list[str]]:
    """Solutions notebooks whose problem headings disagree with their `Problem`s."""
    stale = {}
    for source in sorted((root / "solutions").glob("*.ipynb")):
        try:
            changed = headed(nbformat.read(source, as_version=4))
        except Exception:  # unreadable: `plan` says so
            continue
        if changed:
            stale[source] = changed
    return stale


def differences(root: Path) -> list[str]:
    """What `exercises/` lacks or has beyond what `solutions/` generates, and headings in
    `solutions/` that their problems' declarations no longer match."""
    wanted = plan(root)
    problems = [f"{file.relative_to(root)}: the heading of {', '.join(names)} differs from its "
                "Problem" for file, names in stale_headings(root).items()]
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
    """Write every exercise notebook, and the headings of the solutions notebooks that have
    fallen behind their problems; returns the files that changed."""
    (root / "exercises").mkdir(exist_ok=True)
    changed = []
    for source in stale_headings(root):  # only the heading lines change
        nb = nbformat.read(source, as_version=4)
        headed(nb)
        source.write_text(render(nb), encoding="utf-8")
        changed.append(source)
    for file, text in plan(root).items():
        if not file.exists() or file.read_text(encoding="utf-8", errors="replace") != text:
            file.write_text(text, encoding="utf-8")
            changed.append(file)
    return changed
