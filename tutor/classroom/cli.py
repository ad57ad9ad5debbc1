"""`python -m tutor classroom`: start the workshop server and say how to join and watch it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, this machine only; "
                             "0.0.0.0 opens it to the room)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument("--db", type=Path, default=None,
                        help="the class's SQLite file (default TUTOR_HOME/classroom.sqlite3); "
                             "restarting with the same file keeps the results, code and tokens")
    parser.add_argument("--code", default=None, help="choose the class code (default: random, "
                                                     "kept in the database)")
    parser.add_argument("--gradebook", type=Path, default=None,
                        help="show a graded class: load a grader's gradebook.csv (into its own "
                             "database unless --db is given)")


def _address(host: str) -> str:
    """The address learners should type: this machine's address in the room for 0.0.0.0."""
    import socket

    if host not in ("0.0.0.0", "::", ""):
        return host
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing route
            return s.getsockname()[0]
    except OSError:
        return socket.gethostname()


def run(args) -> int:
    import asyncio
    import hashlib

    from tutor import progress_store
    from tutor.classroom.server import Classroom, serve
    from tutor.classroom.store import Store

    db = args.db
    if db is None:
        if args.gradebook is not None:
            key = hashlib.sha256(str(args.gradebook.resolve()).encode()).hexdigest()[:12]
            db = progress_store.home() / f"gradebook-{key}.sqlite3"
        else:
            db = progress_store.home() / "classroom.sqlite3"
    store = Store(db)
    if args.code:
        store.code(args.code)
    if args.gradebook is not None:
        from tutor import registry
        from tutor.result import STATUSES

        try:
            added = store.load_gradebook(args.gradebook, registry.all_items(), STATUSES)
        except (OSError, UnicodeDecodeError) as e:
            print(f"Could not read {args.gradebook}: {e}", file=sys.stderr)
            return 2
        print(f"Loaded {added} new rows from {args.gradebook}.")
    classroom = Classroom(store)

    def ready(port: int) -> None:
        here = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{port}"
        room = f"http://{_address(args.host)}:{port}"
        print(f"Workshop server for class {classroom.code}, results kept in {db}")
        print("\nLearners, in any notebook:\n")
        print(f'    import tutor; tutor.join("{room}", code="{classroom.code}", name="your name")')
        print(f'\n  or once, before starting Jupyter: export TUTOR_CLASSROOM="{room}/?code='
              f'{classroom.code}&name=your%20name"')
        print("\nDashboard (the link holds the instructor's token: do not share it):\n")
        print(f"    {here}/dashboard#token={classroom.token}")
        print(f"\nExport: curl -H 'Authorization: Bearer {classroom.token}' "
              f"{here}/api/export.csv")
        if args.host == "127.0.0.1":
            print("\nOnly this machine can connect; --host 0.0.0.0 opens it to the room.")
        print("Stop with Ctrl-C; starting again with the same database loses nothing.",
              flush=True)

    try:
        asyncio.run(serve(classroom, args.host, args.port, ready))
    except KeyboardInterrupt:
        pass
    except OSError as e:
        print(f"Cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


if __name__ == "__main__":  # `python -m tutor.classroom.cli` is the same as `tutor classroom`
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(run(parser.parse_args()))
