"""`python -m tutor grade SUBMISSIONS --out DIR`: grade a class folder.

    load → plan (one job per notebook; unreadable files become rows at once) → skip what the
    cache already holds → grade (here, in N processes, or on a Dask cluster) → write the
    gradebook, grades, feedback, report and log → print the summary.

The run exits 0 whatever the submissions do; only a missing folder or bad options stop it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from tutor.grade import feedback, gradebook, report, submissions
from tutor.grade.limits import Limits

STATE = ".grade"
"""Inside --out: the cache of graded notebooks and the records a --merge reads."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", nargs="?", type=Path,
                        help="folder with one folder or zip per learner")
    parser.add_argument("--out", type=Path, required=True, help="where the results go")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                        help="notebooks graded at once (default: one per CPU)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds a notebook's cells may run (default 60)")
    parser.add_argument("--memory", type=int, default=2048,
                        help="MB of memory a notebook may use (default 2048)")
    parser.add_argument("--force", action="store_true",
                        help="grade again notebooks already graded with these options")
    parser.add_argument("--shard", default=None, metavar="i/n",
                        help="grade only the learners of shard i of n (1 ≤ i ≤ n)")
    parser.add_argument("--merge", nargs="+", type=Path, default=None, metavar="DIR",
                        help="join the --out folders of shards into --out")
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="send the notebooks to this Dask scheduler")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    out: Path = args.out
    if args.merge:
        records = []
        for folder in args.merge:
            path = folder / STATE / "records.jsonl"
            if not path.is_file():
                print(f"{folder} holds no grading results ({path} is missing)", file=sys.stderr)
                return 2
            records += [json.loads(line) for line in path.read_text().splitlines() if line]
        write_outputs(out, records)
        print(gradebook.summary(gradebook.complete(records, problems_by_chapter())))
        return 0
    if args.submissions is None or not args.submissions.is_dir():
        print(f"{args.submissions}: no such folder of submissions", file=sys.stderr)
        return 2
    shard = None
    if args.shard:
        try:
            i, n = (int(x) for x in args.shard.split("/"))
            assert 1 <= i <= n
            shard = (i, n)
        except (ValueError, AssertionError):
            print("--shard takes i/n with 1 ≤ i ≤ n, e.g. --shard 2/4", file=sys.stderr)
            return 2
    limits = Limits(timeout=args.timeout, memory=args.memory,
                    cpu=max(300.0, 5 * args.timeout))
    records = grade(args.submissions, out, limits, jobs=max(1, args.jobs), force=args.force,
                    shard=shard, dask=args.dask, progress=not args.quiet)
    write_outputs(out, records)
    print(gradebook.summary(gradebook.complete(records, problems_by_chapter())))
    return 0


def problems_by_chapter() -> dict[str, list]:
    from tutor import registry

    chapters: dict[str, list] = {}
    for p in registry.problems():
        chapters.setdefault(p.chapter, []).append(p)
    return chapters


def fingerprint() -> str:
    """The tutor version that grades (a new release grades every notebook again; between
    releases, --force does)."""
    from importlib import metadata

    try:
        return metadata.version("tutor")
    except metadata.PackageNotFoundError:
        return "unknown"


def hidden_folders(submissions: Path, out: Path) -> list[str]:
    """What a worker must not see: the class, the results, the course's answers and tests."""
    course = Path(__file__).resolve().parent.parent.parent
    folders = [submissions, out, course / "tutor" / "chapters", course / "solutions",
               course / "tests"]
    return sorted({str(f.resolve()) for f in folders if f.exists()})


# ---------------------------------------------------------------------------------------------
# Planning and grading


def plan(root: Path, out: Path, limits: Limits, shard: tuple[int, int] | None):
    """(jobs to grade, records already decided), for the learners of this shard."""
    chapters = problems_by_chapter()
    version = fingerprint()
    options = json.dumps(limits.as_dict(), sort_keys=True)
    hide = hidden_folders(root, out)
    jobs, records = [], []
    seen_names: set[str] = set()
    for learner in submissions.discover(root):
        name = learner.name
        while name in seen_names:
            name += "_"
        seen_names.add(name)
        if shard and submissions.shard_of(name, shard[1]) != shard[0]:
            continue
        notes = list(learner.notes)
        claimed: set[str] = set()
        made = 0
        for nb in sorted(learner.notebooks, key=lambda n: n.file):
            cells, why = (None, nb.problem) if nb.data is None else \
                submissions.code_cells(nb.data)
            chapter = submissions.chapter_of(nb.file, cells, chapters)
            digest = submissions.content_hash(nb.data or b"")
            if chapter in claimed:
                notes.append(f"{nb.file} was not graded: another notebook of the submission is "
                             f"already graded as {chapter}")
                continue
            if cells is None or chapter is None:
                reason = f"{nb.file} {why}" if cells is None else \
                    f"{nb.file} holds none of the course's practice problems"
                if chapter is None:
                    notes.append(reason)
                    continue
                claimed.add(chapter)
                made += 1
                records.append(unreadable(name, nb.file, chapter, digest, reason, chapters))
                continue
            claimed.add(chapter)
            made += 1
            key = hashlib.sha256("\0".join([digest, version, options, name, nb.file,
                                            chapter]).encode()).hexdigest()
            jobs.append({"learner": name, "notebook": chapter, "file": nb.file, "key": key,
                         "hash": digest, "cells": cells, "limits": limits.as_dict(),
                         "problems": [p.id for p in chapters[chapter]], "hide": hide,
                         "notes": []})
        if notes or not made:
            records.append(learner_note(name, notes or ["no practice notebook was found"]))
    return jobs, records


def unreadable(learner: str, file: str, chapter: str, digest: str, reason: str,
               chapters: dict) -> dict:
    message = f"Your notebook {reason}, so it could not be graded. Open it in Jupyter, fix " \
        "it, save it and submit it again."
    rows = [{"learner": learner, "notebook": chapter, "problem": p.id, "status": "error",
             "misconception": "", "points": 0, "max_points": p.points, "message": message,
             "title": "", "link": "", "hint": "", "lesson": f"notebooks/{chapter}.ipynb",
             "seed": None} for p in chapters[chapter]]
    return {"learner": learner, "notebook": chapter, "file": file, "key": "", "hash": digest,
            "rows": rows, "notes": [],
            "log": {"learner": learner, "notebook": chapter, "file": file, "hash": digest,
                    "seconds": 0.0, "failure": reason, "worker_exit": [], "limits_hit": []}}


def learner_note(learner: str, notes: list[str]) -> dict:
    return {"learner": learner, "notebook": "", "file": "", "key": "", "hash": "", "rows": [],
            "notes": notes,
            "log": {"learner": learner, "notebook": "", "file": "", "hash": "", "seconds": 0.0,
                    "failure": "; ".join(notes), "worker_exit": [], "limits_hit": []}}


def grade(root: Path, out: Path, limits: Limits, jobs: int = 1, force: bool = False,
          shard: tuple[int, int] | None = None, dask: str | None = None,
          progress: bool = True) -> list[dict]:
    """Grade the class (or one shard of it) and return every record, cached ones included."""
    out.mkdir(parents=True, exist_ok=True)
    cache = out / STATE / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    todo, records = plan(root, out, limits, shard)
    pending = []
    for job in todo:
        path = cache / f"{job['key']}.json"
        if path.is_file() and not force:
            try:
                records.append(json.loads(path.read_text()))
                continue
            except ValueError:
                pass
        pending.append(job)
    began = time.monotonic()
    bar = _bar(len(pending), progress)
    for record in _run(pending, jobs, dask):
        record["log"]["cached"] = False
        if not record["log"].get("grader_error"):  # the grader's own failure: try again next run
            (cache / f"{record['key']}.json").write_text(json.dumps(record, sort_keys=True))
        records.append(record)
        bar.update(1)
    bar.close()
    if progress:
        print(f"graded {len(pending)} notebooks in {time.monotonic() - began:.1f} s "
              f"({len(todo) - len(pending)} unchanged, taken from {cache})", file=sys.stderr)
    return records


def _bar(total: int, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="notebook", disable=not show or total == 0,
                file=sys.stderr, dynamic_ncols=True)


def _run(pending: list[dict], jobs: int, dask: str | None):
    """Records as they finish: on a Dask cluster, in `jobs` processes, or here."""
    if not pending:
        return
    if dask:
        from distributed import Client, as_completed

        from tutor.grade import session

        with Client(dask, timeout=60) as client:
            futures = client.map(session.grade_notebook, pending, pure=False)
            for future in as_completed(futures):
                yield future.result()
        return
    if jobs == 1 or len(pending) == 1:
        from tutor.grade import session

        for job in pending:
            yield session.grade_notebook(job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # Spawned, not forked: the grading processes start clean, then each starts its own worker.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=context,
                             initializer=_warm) as pool:
        futures = [pool.submit(_grade_in_pool, job) for job in pending]
        for future in as_completed(futures):
            yield future.result()


def _warm() -> None:
    """A grading process: the worker started first (it imports while we do), one thread for
    torch, the registry loaded."""
    from tutor.grade import session

    session.zygote()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    from tutor import registry

    registry.problems()


def _grade_in_pool(job: dict) -> dict:
    from tutor.grade import session

    return session.grade_notebook(job)


# ---------------------------------------------------------------------------------------------
# Writing


def write_outputs(out: Path, records: list[dict]) -> None:
    chapters = problems_by_chapter()
    records = sorted(records, key=lambda r: (r["learner"], r["notebook"], r["file"]))
    rows = gradebook.complete(records, chapters)
    gradebook.write_text(out / "gradebook.csv", gradebook.gradebook_csv(rows))
    gradebook.write_text(out / "grades.csv", gradebook.grades_csv(rows))
    gradebook.write_text(out / "grading.jsonl", gradebook.log_lines(records))
    taken: set[str] = set()
    for learner in sorted({r["learner"] for r in records}):
        mine = [r for r in rows if r["learner"] == learner]
        notes = [n for rec in records if rec["learner"] == learner for n in rec.get("notes", [])]
        notes += [f"{rec['file']}: {log_note}" for rec in records if rec["learner"] == learner
                  for log_note in rec["log"].get("notes", [])]
        stem = feedback.file_stem(learner, taken)
        gradebook.write_text(out / "feedback" / f"{stem}.md",
                             feedback.markdown(learner, mine, notes))
        gradebook.write_text(out / "feedback" / f"{stem}.html",
                             feedback.page(learner, mine, notes))
    order = [p.id for ps in chapters.values() for p in ps]
    gradebook.write_text(out / "report.html", report.render(rows, records, order))
    gradebook.write_text(out / STATE / "records.jsonl",
                         "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
