"""The workshop's results, kept in one SQLite file (WAL mode), so a restart loses nothing.

A row holds only what a learner agreed to share: their name, the problem, the status, the mistake
named, the time of the check and its attempt number. A result is keyed by (learner, event id):
sending it twice stores it once, which is what lets a client resend after any failure.

    store = Store("classroom.sqlite3")
    learner, token = store.join("Ada")          # a new learner gets a token to send with
    store.add(learner, [{"id": "…", "problem": "softmax", "status": "passed", ...}])
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS learners (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT,                  -- sha256 of the learner's token; NULL for a gradebook's rows
    joined REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    learner INTEGER NOT NULL REFERENCES learners(id),
    event TEXT NOT NULL,              -- the client's idempotency key
    problem TEXT NOT NULL,
    status TEXT NOT NULL,
    misconception TEXT,
    time REAL NOT NULL,               -- when the check ran, on the learner's clock
    attempt INTEGER NOT NULL,
    received REAL NOT NULL,
    PRIMARY KEY (learner, event)
);
"""

# Class codes are read aloud and typed: no 0/O or 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class NameTaken(Exception):
    """Another learner already joined with this name (and this one cannot prove to be them)."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_code(length: int = 6) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


class Store:
    """The results of one class. Safe to use from several threads (one lock, one connection)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a killed server loses no committed result (only a power cut can).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        with self._lock:
            self._by_token = {row[1]: row[0] for row in self._db.execute(
                "SELECT id, token_hash FROM learners WHERE token_hash IS NOT NULL")}
        try:
            os.chmod(self.path, 0o600)  # it holds the instructor's token
        except OSError:
            pass

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the class's secrets, created once and kept across restarts ---------------------------

    def _meta(self, key: str, make) -> str:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if row:
                return row[0]
            value = make()
            self._db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
            return value

    def code(self, wanted: str | None = None) -> str:
        """The class code learners type to join (the first one given, or a new random one)."""
        if wanted:
            with self._lock:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('code', ?)",
                                 (wanted.upper(),))
        return self._meta("code", new_code)

    def instructor_token(self) -> str:
        """The token the dashboard and exports need."""
        return self._meta("instructor_token", lambda: secrets.token_urlsafe(24))

    # -- learners ------------------------------------------------------------------------------

    def join(self, name: str, token: str | None = None) -> tuple[int, str]:
        """(learner id, token) for `name`: a new learner gets a new token; a learner who joined
        before gets theirs back by showing it. Anyone else asking for a taken name: NameTaken."""
        with self._lock:
            row = self._db.execute("SELECT id, token_hash FROM learners WHERE name = ?",
                                   (name,)).fetchone()
            if row is None:
                token = secrets.token_urlsafe(24)
                cursor = self._db.execute(
                    "INSERT INTO learners (name, token_hash, joined) VALUES (?, ?, ?)",
                    (name, _hash(token), time.time()))
                self._by_token[_hash(token)] = cursor.lastrowid
                return cursor.lastrowid, token
            id, stored = row
            if stored is None:  # a name from a loaded gradebook: the live learner takes it over
                token = secrets.token_urlsafe(24)
                self._db.execute("UPDATE learners SET token_hash = ? WHERE id = ?",
                                 (_hash(token), id))
                self._by_token[_hash(token)] = id
                return id, token
            if token and hmac.compare_digest(_hash(token), stored):
                return id, token
            raise NameTaken(name)

    def learner(self, token: str) -> int | None:
        """The learner id a token belongs to, or None."""
        return self._by_token.get(_hash(token)) if token else None

    def names(self) -> dict[int, str]:
        with self._lock:
            return dict(self._db.execute("SELECT id, name FROM learners"))

    # -- results ----------------------------------------------------------------------------

    def add(self, learner: int, events: Iterable[dict]) -> tuple[list[dict], int]:
        """Store validated events in one transaction: (the new ones, how many were duplicates)."""
        now = time.time()
        new, duplicates = [], 0
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for e in events:
                    cursor = self._db.execute(
                        "INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (learner, e["id"], e["problem"], e["status"], e["misconception"],
                         e["time"], e["attempt"], now))
                    if cursor.rowcount:
                        new.append(e)
                    else:
                        duplicates += 1
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return new, duplicates

    def results(self) -> list[tuple]:
        """Every result as (learner name, problem, status, misconception, time, attempt), in the
        order they arrived."""
        with self._lock:
            return self._db.execute(
                "SELECT l.name, r.problem, r.status, r.misconception, r.time, r.attempt "
                "FROM results r JOIN learners l ON l.id = r.learner "
                "ORDER BY r.received, r.rowid").fetchall()

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    # -- a grader's gradebook -------------------------------------------------------------------

    def load_gradebook(self, path: str | os.PathLike, known: Iterable[str] = (),
                       statuses: Iterable[str] = ()) -> int:
        """Load a grader's gradebook.csv (learner, notebook, problem, status, misconception,
        points, max_points) as one result per row; loading it again adds nothing. Rows of an
        unknown problem are skipped; a status the checker does not use is stored as "error"."""
        known, statuses = set(known), set(statuses)
        when = os.path.getmtime(path)
        rows: dict[str, list[dict]] = {}
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                name = (row.get("learner") or "").strip()[:40]
                problem = (row.get("problem") or "").strip()
                if not name or (known and problem not in known):
                    continue
                status = (row.get("status") or "").strip()
                status = status if not statuses or status in statuses else "error"
                key = hashlib.sha256(f"{row.get('notebook')}\0{problem}".encode()).hexdigest()
                rows.setdefault(name, []).append({
                    "id": "gradebook-" + key[:24], "problem": problem, "status": status,
                    "misconception": (row.get("misconception") or "").strip() or None,
                    "time": when, "attempt": 1})
        added = 0
        for name, events in rows.items():
            with self._lock:
                self._db.execute("INSERT OR IGNORE INTO learners (name, token_hash, joined) "
                                 "VALUES (?, NULL, ?)", (name, when))
                id = self._db.execute("SELECT id FROM learners WHERE name = ?",
                                      (name,)).fetchone()[0]
            added += len(self.add(id, events)[0])
        return added
