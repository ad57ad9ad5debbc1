"""`python -m tutor grade` on a class of honest, mistaken and hostile learners (built from the
course's own practice notebooks by tests/grading_class): the gradebook row by row, the feedback
where it is the contract, nothing outside the results changed, no process left behind, and a
second run that does nothing.

The class is graded once, as an instructor would: `python -m tutor grade` in a subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from grading_class import MISTAKES, build, notebook

from tutor import checking, registry
from tutor.grade.session import seed_for

pytestmark = pytest.mark.timeout(600)



def grade(submissions: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    return subprocess.run([sys.executable, "-m", "tutor", "grade", str(submissions), "--out",
                           str(out), "--timeout", "5", "--memory", "512", *extra],
                          capture_output=True, text=True, timeout=540, env=env)


def leftovers(out: Path) -> list[str]:
    """Processes of this grading run still alive: its pre-started workers, the children that
    ran notebooks, and anything running as a notebook's own user (the learners' sleeps)."""
    logs = [json.loads(line) for line in (out / "grading.jsonl").open()]
    workers = [w for entry in logs for w in entry.get("workers", [])]
    pids = {w["zygote"] for w in workers} | {w["pid"] for w in workers}
    uids = {w["uid"] for w in workers if w["uid"] is not None}
    assert workers and (uids or os.geteuid() != 0)
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if uid in uids or (int(pid) in pids and "tutor" in cmd):
            found.append(f"{pid} {uid} {cmd}")
    return found


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("grading")
    submissions, others, out = base / "class", base / "others", base / "out"
    kinds = build(submissions, others, out)
    others_before = tree(others)
    run = grade(submissions, out, "-j", "2")
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    records = [json.loads(line) for line in (out / ".grade" / "records.jsonl").open()]
    messages = {(r["learner"], r["problem"]): r["message"] for rec in records
                for r in rec["rows"]}
    return {"run": run, "out": out, "kinds": kinds, "rows": rows, "others": others,
            "messages": messages,
            "others_before": others_before, "submissions": submissions,
            "leftovers": leftovers(out)}


def rows_of(graded, learner: str, notebook: str = "02_softmax") -> dict[str, dict]:
    return {r["problem"]: r for r in graded["rows"]
            if r["learner"] == learner and r["notebook"] == notebook}


def statuses(graded, learner: str, notebook: str = "02_softmax") -> dict[str, str]:
    return {p: r["status"] for p, r in rows_of(graded, learner, notebook).items()}


def feedback(graded, stem: str) -> str:
    return (graded["out"] / "feedback" / f"{stem}.md").read_text()


def log(graded, learner: str, notebook: str = "02_softmax") -> dict:
    lines = [json.loads(line) for line in (graded["out"] / "grading.jsonl").open()]
    return next(x for x in lines if x["learner"] == learner and x["notebook"] == notebook)


def test_the_run_exits_0_and_prints_a_summary(graded):
    run = graded["run"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "notebook" in run.stdout and "02_softmax" in run.stdout and "rows:" in run.stdout
    assert "graded " in run.stderr  # the progress line


def test_every_learner_has_a_row_per_problem_of_every_chapter_of_the_class(graded):
    pairs: dict[str, set] = {}
    for r in graded["rows"]:
        pairs.setdefault(r["learner"], set()).add((r["notebook"], r["problem"]))
    assert len({frozenset(p) for p in pairs.values()}) == 1
    assert {"honest_ann", "mistaken_bo", "h_zip", "h_not_a_zip", "h_symlink"} <= set(pairs)
    assert {n for n, _ in pairs["honest_ann"]} == {"02_softmax", "03_stability", "04_log_softmax",
                                                   "05_cross_entropy", "06_temperature"}


def test_the_honest_learner_gets_full_marks(graded):
    """Including a notebook whose file name does not say its chapter (found by its problems),
    torch autograd (05), dtype tokens (03) and a seeded Generator (06)."""
    for chapter in ("02_softmax", "03_stability", "05_cross_entropy", "06_temperature"):
        source = json.dumps(notebook(chapter))
        mine = {p: r for p, r in rows_of(graded, "honest_ann", chapter).items()
                if f"def {p}(" in source}  # a problem whose cell is being written is left out
        assert mine and all(r["status"] == "passed" for r in mine.values()), (chapter, mine)
        assert all(r["points"] == r["max_points"] for r in mine.values())
    grades = list(csv.DictReader((graded["out"] / "grades.csv").open()))
    ann = next(g for g in grades if g["learner"] == "honest_ann")
    assert int(ann["02_softmax"]) == sum(int(r["points"]) for r in
                                         rows_of(graded, "honest_ann").values()) > 0


def test_a_mistaken_learner_is_graded_exactly_as_an_in_process_check_with_the_same_seed(graded):
    for chapter, wrong in MISTAKES.items():
        mine = rows_of(graded, "mistaken_bo", chapter)
        for name, source in wrong.items():
            space = {"np": np}
            import torch

            space["torch"] = torch
            exec(source, space)
            problem = registry.get(name)
            expected = checking.run(problem, space[name],
                                    seed=seed_for("mistaken_bo", chapter, name))
            row = mine[name]
            assert (row["status"], row["misconception"]) == \
                (expected.status, expected.misconception or ""), (name, row)
            assert graded["messages"][("mistaken_bo", name)] == expected.message


def test_the_mistakes_have_their_names(graded):
    assert rows_of(graded, "mistaken_bo")["softmax"]["misconception"] == "wrong_axis"
    assert rows_of(graded, "mistaken_bo", "04_log_softmax")["log_softmax"]["misconception"] \
        == "log_of_softmax"
    torch_row = rows_of(graded, "mistaken_bo", "05_cross_entropy")["torch_cross_entropy"]
    assert torch_row["status"] == "failed"
    assert "computed with torch's cross_entropy" in \
        graded["messages"][("mistaken_bo", "torch_cross_entropy")]


@pytest.mark.parametrize("learner, reason", [
    ("h_invalid_json", "is not valid JSON"),
    ("h_not_a_notebook", "is JSON but not a Jupyter notebook"),
    ("h_empty", "is an empty file"),
])
def test_a_file_that_is_not_a_notebook_gets_error_rows_saying_why(graded, learner, reason):
    assert set(statuses(graded, learner).values()) == {"error"}
    text = feedback(graded, learner)
    assert reason in text and "submit it again" in text


@pytest.mark.parametrize("learner", [
    "h_magics", "h_loop", "h_loop_try", "h_sys_exit", "h_os_exit", "h_segfault",
    "h_memory_bomb", "h_fork_bomb", "h_left_running", "h_vandal", "h_forger",
    "'=HYPERLINK(\"x\")", "<script>alert(1)<",
])
def test_tricks_around_right_answers_change_nothing(graded, learner):
    """The cells that loop, exit, crash or forge are skipped; the functions are graded."""
    assert set(statuses(graded, learner).values()) == {"passed"}


@pytest.mark.parametrize("learner, exit_or_limit", [
    ("h_os_exit", "exit code 3"),
    ("h_segfault", "killed by SIGSEGV"),
    ("h_loop", "stopped by the grader"),
    ("h_loop_try", "stopped by the grader"),
])
def test_the_log_says_how_the_worker_ended(graded, learner, exit_or_limit):
    entry = log(graded, learner)
    assert exit_or_limit in entry["worker_exit"]
    assert entry["skipped_cells"] == [0]  # the first code cell: the trick
    assert "skipped code cell 1" in feedback(graded, learner)


def test_the_log_names_the_memory_limit(graded):
    assert "memory" in log(graded, "h_memory_bomb")["limits_hit"]


@pytest.mark.parametrize("learner, problem, status, words", [
    ("h_hang", "two_class_softmax", "timeout", "did not finish within the 10 s time limit"),
    ("h_crash_in_call", "softmax", "error", "crashed during this call (killed by SIGSEGV)"),
    ("h_odd_object", "softmax", "failed", "returned an object object, not an array"),
    ("h_equal_to_all", "softmax", "failed", "returned an Anything object, not an array"),
    ("h_renamed", "softmax", "not_attempted", "but there is my_softmax: rename it `softmax`"),
    ("h_missing", "softmax", "not_attempted", "No function named softmax was found"),
    ("h_syntax_error", "softmax", "not_attempted", "No function named softmax was found"),
    ("h_patcher", "softmax", "failed", "runs over a different axis"),
    ("h_copier", "softmax", "failed", ""),
    ("h_message", "softmax", "error", "ValueError"),
])
def test_a_broken_or_hostile_function_gets_a_row_a_learner_understands(graded, learner, problem,
                                                                       status, words):
    mine = statuses(graded, learner)
    assert mine.pop(problem) == status
    assert set(mine.values()) == {"passed"}, mine
    assert words in graded["messages"][(learner, problem)]


def test_a_syntax_error_is_named_in_the_feedback(graded):
    assert "raised SyntaxError" in feedback(graded, "h_syntax_error")


def test_zips_are_read_safely(graded):
    assert set(statuses(graded, "h_zip").values()) == {"passed"}  # work/02_softmax.ipynb
    assert set(statuses(graded, "h_zip", "03_stability").values()) == {"error"}
    text = feedback(graded, "h_zip")
    assert "unpacks to more than 16 MB" in text
    assert "points outside it: ignored" in text and "symbolic link: ignored" in text
    assert "is not a readable zip" in feedback(graded, "h_not_a_zip")
    assert "symbolic link" in feedback(graded, "h_symlink")
    assert not (graded["submissions"].parent / "escaped.ipynb").exists()


def test_nothing_outside_the_results_is_changed_or_read(graded):
    assert tree(graded["others"]) == graded["others_before"]
    assert not Path("/tmp/tutor-grade-vandal").exists()
    text = (graded["out"] / "gradebook.csv").read_text()
    assert text.startswith("learner,notebook,problem") and "vandalised" not in text
    for path in graded["out"].rglob("*"):
        if path.is_file() and path.suffix != ".json":
            assert b"vandalised" not in path.read_bytes(), path


def test_no_process_of_the_run_survives_it(graded):
    assert graded["leftovers"] == []


def test_csv_cells_that_would_be_formulas_are_text(graded):
    gradebook = (graded["out"] / "gradebook.csv").read_text()
    grades = (graded["out"] / "grades.csv").read_text()
    for text in (gradebook, grades):
        assert "'=HYPERLINK" in text
        assert not any(line.startswith(("=", '"=')) for line in text.splitlines())


def test_html_shows_hostile_text_as_text(graded):
    out = graded["out"]
    pages = [out / "report.html", *out.glob("feedback/*.html")]
    for page in pages:
        text = page.read_text()
        assert "<script" not in text, page
    message = next(out.glob("feedback/h_message.html")).read_text()
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in message
    assert "&lt;script&gt;alert(1)&lt;" in (out / "feedback" / "script_alert_1.html").read_text()


def test_grading_jsonl_has_a_line_per_notebook(graded):
    lines = [json.loads(line) for line in (graded["out"] / "grading.jsonl").open()]
    ann = [x for x in lines if x["learner"] == "honest_ann"]
    assert {x["notebook"] for x in ann} == {"02_softmax", "03_stability", "05_cross_entropy",
                                            "06_temperature"}
    for entry in ann:
        assert len(entry["hash"]) == 64 and entry["seconds"] > 0
        assert entry["worker_exit"] == ["exit 0"] and entry["limits_hit"] == []
        if os.geteuid() == 0:
            assert entry["isolation"] == []  # as root every wall goes up


def test_a_second_run_grades_nothing_and_changes_no_file(graded):
    out = graded["out"]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    run = grade(graded["submissions"], out, "-j", "1")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "graded 0 notebooks" in run.stderr
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert after == before
