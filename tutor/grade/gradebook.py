"""From graded notebooks (records) to the files an instructor keeps: gradebook.csv (one row per
learner, notebook and problem), grades.csv (one row per learner, for a learning-management
system), grading.jsonl (one line per notebook) and the summary table.

Everything is a pure function of the records, sorted, with no dates: a merged set of shards
writes the same files as a single run.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

COLUMNS = ("learner", "notebook", "problem", "status", "misconception", "points", "max_points")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def complete(records: list[dict], problems_of: dict[str, list]) -> list[dict]:
    """All rows, sorted, plus `not_attempted` rows for each chapter of the class a learner sent
    no notebook for (so every learner has the same columns)."""
    rows = [r for rec in records for r in rec["rows"]]
    chapters = sorted({r["notebook"] for r in rows if r["notebook"] in problems_of})
    learners = sorted({rec["learner"] for rec in records})
    have = {(r["learner"], r["notebook"]) for r in rows}
    for learner in learners:
        for chapter in chapters:
            if (learner, chapter) in have:
                continue
            for p in problems_of[chapter]:
                rows.append({"learner": learner, "notebook": chapter, "problem": p.id,
                             "status": "not_attempted", "misconception": "", "points": 0,
                             "max_points": p.points,
                             "message": f"No notebook for {chapter} was found in your "
                                        "submission.",
                             "title": "", "link": "", "hint": p.hints[0] if p.hints else "",
                             "lesson": f"notebooks/{chapter}.ipynb", "seed": None})
    order = {p.id: i for ps in problems_of.values() for i, p in enumerate(ps)}
    return sorted(rows, key=lambda r: (r["learner"], r["notebook"], order.get(r["problem"], 999),
                                       r["problem"]))


def gradebook_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([safe_cell(r[c]) for c in COLUMNS])
    return out.getvalue()


def totals(rows: list[dict]) -> tuple[list[str], dict[str, dict[str, int]], dict[str, int]]:
    """(notebooks, learner → notebook → points, notebook → max points)."""
    notebooks = sorted({r["notebook"] for r in rows})
    points: dict[str, dict[str, int]] = {}
    best: dict[tuple[str, str], int] = {}
    for r in rows:
        points.setdefault(r["learner"], {}).setdefault(r["notebook"], 0)
        points[r["learner"]][r["notebook"]] += int(r["points"])
        best[(r["learner"], r["notebook"])] = best.get((r["learner"], r["notebook"]), 0) + \
            int(r["max_points"])
    maximum = {n: max((v for (_, nb), v in best.items() if nb == n), default=0)
               for n in notebooks}
    return notebooks, points, maximum


def grades_csv(rows: list[dict]) -> str:
    notebooks, points, maximum = totals(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["learner", *notebooks, "total", "max_points"])
    total_max = sum(maximum.values())
    for learner in sorted(points):
        mine = [points[learner].get(n, 0) for n in notebooks]
        writer.writerow([safe_cell(learner), *mine, sum(mine), total_max])
    return out.getvalue()


def log_lines(records: list[dict]) -> str:
    logs = sorted((rec["log"] for rec in records),
                  key=lambda log: (log["learner"], log["notebook"], log.get("file", "")))
    return "".join(json.dumps(log, sort_keys=True) + "\n" for log in logs)


def summary(rows: list[dict]) -> str:
    """The table printed at the end of a run: per notebook, learners, passes and the mean."""
    notebooks, points, maximum = totals(rows)
    lines = [f"{'notebook':<24}{'learners':>9}{'mean':>8}{'max':>6}{'full marks':>12}"]
    for n in notebooks:
        got = [p[n] for p in points.values() if n in p]
        mean = sum(got) / len(got) if got else 0.0
        full = sum(g == maximum[n] for g in got)
        lines.append(f"{n:<24}{len(got):>9}{mean:>8.2f}{maximum[n]:>6}{full:>12}")
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    lines.append("rows: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    return "\n".join(lines)


def write_text(path: Path, text: str) -> None:
    """Write only when the content changes (a second run leaves the files as they were)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
