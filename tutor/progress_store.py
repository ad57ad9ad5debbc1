"""The progress file: what a learner has tried, passed and seen, kept on their own machine.

`$TUTOR_HOME/progress.json` (default `~/.tutor`). Every update takes a file lock, reads, changes
and writes a temporary file that replaces the old one, so two kernels at once lose nothing and a
crash mid-write leaves the previous file whole. A file that cannot be read is moved aside with a
warning and a fresh one is started: the course never stops because of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

VERSION = 1


def home() -> Path:
    return Path(os.environ.get("TUTOR_HOME") or "~/.tutor").expanduser()


def path() -> Path:
    return home() / "progress.json"


def _empty() -> dict:
    return {"version": VERSION, "problems": {}}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _valid(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("problems"), dict) and all(
        isinstance(v, dict) for v in data["problems"].values())


# The fields of an entry and what each must be; anything else in an entry is kept as it is.
_FIELDS = {
    "attempts": lambda v: type(v) is int and v >= 0,
    "hints_seen": lambda v: type(v) is int and v >= 0,
    "first_pass": lambda v: isinstance(v, str),
    "last_time": lambda v: isinstance(v, str),
    "last_status": lambda v: isinstance(v, str),
    "misconceptions": lambda v: isinstance(v, list) and all(isinstance(m, str) for m in v),
    "solution_seen": lambda v: isinstance(v, bool),
}


def _repaired(data: dict) -> bool:
    """Drop entry fields of the wrong type (a hand edit, another version); True if any was."""
    dropped = False
    for entry in data["problems"].values():
        for key, ok in _FIELDS.items():
            if key in entry and not ok(entry[key]):
                del entry[key]
                dropped = True
    return dropped


def _read(file: Path) -> dict:
    """The stored progress; a missing file is empty, a corrupt one is moved aside (a copy of
    one with a few unreadable fields is kept aside, and the rest is used)."""
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return _empty()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if _valid(data) and not _repaired(data):
        return data
    aside = _aside(file)
    if _valid(data):
        try:
            aside.write_bytes(raw)
            kept = f"a copy of the original is kept as {aside.name}"
        except OSError as e:
            kept = f"the original could not be copied ({e})"
        warnings.warn(f"tutor: some entries of the progress file {file} had values of the wrong "
                      f"type and were dropped, the rest is kept; {kept}.", stacklevel=3)
        return data
    try:
        os.replace(file, aside)
        kept = f"it was moved to {aside.name}"
    except OSError as e:
        kept = f"it could not be moved aside ({e})"
    warnings.warn(f"tutor: the progress file {file} could not be read; {kept} and a fresh one "
                  "started.", stacklevel=3)
    return _empty()


def _aside(file: Path) -> Path:
    """A new name next to `file` for a copy that could not be read."""
    stem = f"{file.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
    aside, n = file.with_name(stem), 1
    while aside.exists():
        n += 1
        aside = file.with_name(f"{stem}-{n}")
    return aside


def _write(file: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".progress-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked() -> Iterator[Path]:
    from filelock import FileLock

    file = path()
    file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(file) + ".lock", timeout=30):
        yield file


def load() -> dict:
    """A snapshot of all progress: {"version": 1, "problems": {id: entry}}."""
    try:
        with _locked() as file:
            return _read(file)
    except OSError as e:
        _warn_unsaved(e)
    try:  # a read-only home still shows the progress it holds
        return _read(path())
    except OSError:
        return _empty()


def update(id: str, change: Callable[[dict], None]) -> None:
    """Apply `change` to the entry of problem `id`, atomically. Never raises: a read-only home
    only warns, and the learner's work goes on."""
    try:
        with _locked() as file:
            data = _read(file)
            entry = data["problems"].setdefault(id, {})
            change(entry)
            _write(file, data)
    except OSError as e:
        _warn_unsaved(e)


_warned = False


def _warn_unsaved(e: OSError) -> None:
    global _warned
    if not _warned:
        _warned = True
        where = home()
        why = "it is a file, not a folder" if where.is_file() else str(e)
        warnings.warn(f"tutor: progress cannot be saved under {where} ({why}); set TUTOR_HOME to "
                      "a writable folder to keep it.", stacklevel=3)


def record_check(id: str, status: str, misconception: str | None = None) -> None:
    """Count an attempt and remember its outcome."""
    def change(entry: dict) -> None:
        if status != "not_attempted":
            entry["attempts"] = entry.get("attempts", 0) + 1
        entry["last_status"] = status
        entry["last_time"] = _now()
        if status == "passed" and not entry.get("first_pass"):
            entry["first_pass"] = entry["last_time"]
        if misconception:
            seen = entry.setdefault("misconceptions", [])
            if misconception not in seen:
                seen.append(misconception)
    update(id, change)


def record_hint(id: str, level: int) -> None:
    def change(entry: dict) -> None:
        entry["hints_seen"] = max(entry.get("hints_seen", 0), level)
    update(id, change)


def record_solution(id: str) -> None:
    def change(entry: dict) -> None:
        entry["solution_seen"] = True
    update(id, change)


def state(entry: dict) -> str:
    """"passed", "tried" or "untouched" for a progress entry."""
    if entry.get("first_pass"):
        return "passed"
    if entry.get("attempts"):
        return "tried"
    return "untouched"
