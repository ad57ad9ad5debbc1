"""`python -m tutor <command>` (also installed as `tutor`).

    tutor list              every problem and quiz, by chapter
    tutor progress          your progress table
    tutor assign [--check]  write exercises/ from solutions/ (or verify they are in step)
    tutor classroom         the workshop server and its live dashboard
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _root() -> Path:
    """The course folder: the one holding solutions/, searched upwards from here."""
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "solutions").is_dir():
            return folder
    raise SystemExit("No solutions/ folder here or above; run this inside the course folder.")


def cmd_list(args) -> int:
    from tutor import registry

    chapter = None
    for item in registry.all_items().values():
        if item.chapter != chapter:
            chapter = item.chapter
            print(f"\n{chapter}")
        what = item.signature if item.kind == "problem" else "quiz"
        print(f"  {item.id:<32} {item.difficulty:<7} {item.points} pt  {what}")
    return 0


def cmd_progress(args) -> int:
    import tutor

    print(tutor.progress())
    return 0


def cmd_assign(args) -> int:
    from tutor import assign

    root = _root()
    try:
        if args.check:
            problems = assign.differences(root)
            for line in problems:
                print(line, file=sys.stderr)
            if problems:
                print("Run `python -m tutor assign` to regenerate exercises/.", file=sys.stderr)
                return 1
            print("exercises/ is in step with solutions/.")
            return 0
        for file in assign.write(root):
            print(f"wrote {file.relative_to(root)}")
    except assign.MarkerError as e:
        print(f"solution markers: {e}", file=sys.stderr)
        return 2
    except assign.NotebookError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


def cmd_grade(args) -> int:
    from tutor.grade import cli

    return cli.main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tutor", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every problem and quiz").set_defaults(run=cmd_list)
    sub.add_parser("progress", help="your progress table").set_defaults(run=cmd_progress)
    assign = sub.add_parser("assign", help="write exercises/ from solutions/")
    assign.add_argument("--check", action="store_true", help="fail if exercises/ is stale")
    assign.set_defaults(run=cmd_assign)
    grade = sub.add_parser("grade", help="grade a class folder of submitted notebooks")
    from tutor.grade.cli import add_arguments

    add_arguments(grade)
    grade.set_defaults(run=cmd_grade)
    classroom = sub.add_parser("classroom", help="the workshop server and its live dashboard")
    from tutor.classroom import cli as classroom_cli

    classroom_cli.add_arguments(classroom)
    classroom.set_defaults(run=classroom_cli.run)
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `tutor list | head`: the reader has stopped listening
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
