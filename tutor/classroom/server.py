"""The workshop server: learners' checks in, the live dashboard out (Tornado, which comes with
Jupyter, and SQLite: nothing to install).

    POST /api/join      {"code", "name", "token"?}        -> {"name", "token"}       (class code)
    POST /api/results   {"results": [event, ...]}         -> {"accepted", "duplicates"}
                        Authorization: Bearer <learner token>
    GET  /api/state?after=VERSION                          -> the room (waits for news up to 20 s)
    GET  /api/export.csv                                   -> every result as CSV
                        Authorization: Bearer <instructor token> (or ?token=)
    GET  /dashboard     the page (no data in it: it asks /api/state with the token in its #hash)
    GET  /mistake/ID    a misconception's explanation, for the histogram's links

An event is exactly {"id", "problem", "status", "misconception", "time", "attempt"}: anything
else is refused, so nothing but these can ever be stored. Every refusal is a 4xx with a JSON
{"error": "..."} that says what to fix, and changes nothing.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import html
import io
import json
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta

import tornado.web
from tornado.locks import Condition

from tutor.classroom.room import Room
from tutor.classroom.store import NameTaken, Store

MAX_BODY = 64 * 1024        # one request
MAX_EVENTS = 100            # results in one request
MAX_NAME = 40
LONG_POLL = 20.0            # seconds a dashboard request waits for news
ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
PROBLEM = re.compile(r"[a-z0-9_]{1,64}")
FIELDS = {"id", "problem", "status", "misconception", "time", "attempt"}
PAST, FUTURE = 30 * 86400.0, 86400.0  # a check's time: up to 30 days old; a day of clock skew


@dataclass
class Bucket:
    """A token bucket: `rate` per second, at most `burst` at once."""

    rate: float
    burst: float
    level: float = -1.0
    at: float = field(default_factory=time.monotonic)

    def take(self, n: float = 1.0) -> float:
        """0 when `n` may pass now, else the seconds to wait."""
        now = time.monotonic()
        if self.level < 0:
            self.level = self.burst
        self.level = min(self.burst, self.level + (now - self.at) * self.rate)
        self.at = now
        if n <= self.level:
            self.level -= n
            return 0.0
        return (n - self.level) / self.rate


@dataclass
class Limits:
    """Per-learner and per-address limits; generous for a class, tight for a script."""

    requests: tuple[float, float] = (5.0, 30.0)     # results requests: per second, burst
    events: tuple[float, float] = (10.0, 500.0)     # results: per second, burst
    joins: tuple[float, float] = (1.0, 300.0)       # new learners per address
    refusals: tuple[float, float] = (0.5, 20.0)     # wrong codes and taken names per address


class Classroom:
    """The server's state: the store, the live room, the limits and who waits for news."""

    def __init__(self, store: Store, limits: Limits | None = None):
        from tutor import misconceptions, registry
        from tutor.result import STATUSES

        self.store = store
        self.limits = limits or Limits()
        self.items = registry.all_items()
        self.catalogue = misconceptions.CATALOGUE
        self.statuses = set(STATUSES)
        self.code = store.code()
        self.token = store.instructor_token()
        self.room = Room(list(self.items), {m.id: m.name for m in self.catalogue.values()})
        self.names = store.names()
        for name in self.names.values():
            self.room.add_learner(name)
        for row in store.results():
            self.room.add(*row)
        self.news = Condition()
        self.buckets: dict[tuple, Bucket] = {}
        self._cached: tuple[int, bytes] | None = None

    def bucket(self, kind: str, who) -> Bucket:
        key = (kind, who)
        if key not in self.buckets:
            self.buckets[key] = Bucket(*getattr(self.limits, kind))
        return self.buckets[key]

    def state_json(self) -> bytes:
        """The room as JSON, computed once per version however many dashboards ask."""
        if self._cached is None or self._cached[0] != self.room.version:
            state = self.room.state(time.time())
            self._cached = (self.room.version, json.dumps(state).encode())
        return self._cached[1]

    def valid_event(self, e) -> str | None:
        """What is wrong with one event, or None."""
        if not isinstance(e, dict):
            return "each result must be an object"
        if set(e) != FIELDS:
            extra, missing = set(e) - FIELDS, FIELDS - set(e)
            return ("results carry exactly " + ", ".join(sorted(FIELDS))
                    + (f"; not {', '.join(sorted(map(str, extra)))[:200]}" if extra else "")
                    + (f"; missing {', '.join(sorted(missing))}" if missing else ""))
        if not isinstance(e["id"], str) or not ID.fullmatch(e["id"]):
            return "id must be 8 to 64 letters, digits, - or _"
        if not isinstance(e["problem"], str) or not PROBLEM.fullmatch(e["problem"]) \
                or e["problem"] not in self.items:
            return f"unknown problem {str(e['problem'])[:64]!r}"
        if e["status"] not in self.statuses:
            return f"status must be one of {', '.join(sorted(self.statuses))}"
        m = e["misconception"]
        if m is not None and (not isinstance(m, str) or m not in self.catalogue):
            return f"unknown misconception {str(m)[:64]!r}"
        t = e["time"]
        now = time.time()
        if isinstance(t, bool) or not isinstance(t, int | float) or not now - PAST <= t <= now + FUTURE:
            return "time must be the check's Unix time (within 30 days)"
        a = e["attempt"]
        if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a <= 1_000_000:
            return "attempt must be a whole number from 0"
        return None


def clean_name(name) -> str | None:
    """A learner's name as stored: trimmed, 1 to 40 characters, no control characters."""
    if not isinstance(name, str):
        return None
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME:
        return None
    if any(unicodedata.category(c).startswith("C") for c in name):
        return None
    return name


class Base(tornado.web.RequestHandler):
    classroom: Classroom

    def initialize(self, classroom: Classroom):
        self.classroom = classroom

    def set_default_headers(self):
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Frame-Options", "DENY")

    def check_xsrf_cookie(self):  # token-authenticated JSON API: no cookies are used
        pass

    def fail(self, status: int, message: str, retry_after: float | None = None):
        self.set_status(status)
        if retry_after is not None:
            self.set_header("Retry-After", str(max(1, round(retry_after + 0.5))))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message}))
        raise tornado.web.Finish()

    def write_error(self, status_code, **kwargs):
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": self._reason}))

    def json_body(self, limit: int = MAX_BODY) -> dict:
        body = self.request.body
        if len(body) > limit:
            self.fail(413, f"request too large ({len(body)} bytes; at most {limit})")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested thousands deep
            self.fail(400, "the body must be JSON")
        if not isinstance(data, dict):
            self.fail(400, "the body must be a JSON object")
        return data

    def bearer(self) -> str:
        header = self.request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[7:].strip()
        return self.get_query_argument("token", "")

    def instructor(self) -> None:
        if not hmac.compare_digest(self.bearer().encode(), self.classroom.token.encode()):
            self.fail(401, "the instructor's token is needed (printed when the server started)")


class Join(Base):
    def post(self):
        c = self.classroom
        ip = self.request.remote_ip
        refusals = c.bucket("refusals", ip)
        if refusals.take(0.0) or refusals.level < 1:  # guessing codes or names: slowed down
            self.fail(429, "too many refused joins from this address; wait and try again",
                      refusals.take(1.0))
        data = self.json_body(4096)
        code = data.get("code")
        if not isinstance(code, str) or not hmac.compare_digest(
                code.strip().upper().encode(), c.code.encode()):
            refusals.take(1.0)
            self.fail(403, "wrong class code: ask the instructor for it")
        name = clean_name(data.get("name"))
        if name is None:
            self.fail(400, f"name must be 1 to {MAX_NAME} characters, with no control characters")
        token = data.get("token")
        new = name not in c.names.values()
        if new and c.bucket("joins", ip).take():
            self.fail(429, "too many new learners from this address; wait and try again", 5.0)
        try:
            _, token = c.store.join(name, token if isinstance(token, str) else None)
        except NameTaken:
            refusals.take(1.0)
            self.fail(409, f"someone has already joined as {name!r}: choose another name "
                           "(add an initial)")
        if new:
            c.names = c.store.names()
            c.room.add_learner(name)
            c.room.version += 1
            c.news.notify_all()
        self.finish({"name": name, "token": token})


class Results(Base):
    def post(self):
        c = self.classroom
        learner = c.store.learner(self.bearer())
        if learner is None:
            self.fail(401, "unknown learner token: join the class again with tutor.join")
        wait = c.bucket("requests", learner).take()
        if wait:
            self.fail(429, "too many requests; slow down", wait)
        data = self.json_body()
        events = data.get("results")
        if set(data) != {"results"} or not isinstance(events, list) or not events:
            self.fail(400, 'the body must be {"results": [...]} with at least one result')
        if len(events) > MAX_EVENTS:
            self.fail(413, f"at most {MAX_EVENTS} results in one request")
        errors = {}
        for i, e in enumerate(events):
            problem = c.valid_event(e)
            if problem:
                errors[str(i)] = problem
        if errors:
            self.set_status(422)
            self.finish({"error": "some results are not valid; nothing was stored",
                         "invalid": errors})
            return
        wait = c.bucket("events", learner).take(len(events))
        if wait:
            self.fail(429, "too many results; slow down", wait)
        new, duplicates = c.store.add(learner, events)
        name = c.names.get(learner) or c.store.names()[learner]
        for e in new:
            c.room.add(name, e["problem"], e["status"], e["misconception"], e["time"],
                       e["attempt"])
        if new:
            c.news.notify_all()
        self.finish({"accepted": len(new), "duplicates": duplicates})


class State(Base):
    async def get(self):
        self.instructor()
        c = self.classroom
        try:
            after = int(self.get_query_argument("after", "-1"))
        except ValueError:
            self.fail(400, "after must be a whole number (the last version seen)")
        if after >= c.room.version:
            await c.news.wait(timeout=timedelta(seconds=LONG_POLL))
        if self.request.connection.stream.closed():
            return
        self.set_header("Content-Type", "application/json")
        self.finish(c.state_json())


def _csv_cell(value) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class Export(Base):
    def get(self):
        self.instructor()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["learner", "problem", "status", "misconception", "time", "attempt"])
        for name, problem, status, misconception, t, attempt in self.classroom.store.results():
            when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z"
            writer.writerow([_csv_cell(name), problem, status, misconception or "", when, attempt])
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", "attachment; filename=classroom.csv")
        self.finish(out.getvalue())


class Page(Base):
    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Content-Security-Policy",
                        "default-src 'none'; script-src 'unsafe-inline'; style-src "
                        "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                        "base-uri 'none'; form-action 'none'")
        self.set_header("Content-Type", "text/html; charset=utf-8")


class Dashboard(Page):
    def get(self):
        from tutor.classroom.dashboard import PAGE

        self.finish(PAGE)


class Mistake(Page):
    def get(self, id: str):
        m = self.classroom.catalogue.get(id)
        if m is None:
            self.set_status(404)
            self.finish("<!doctype html><title>Unknown mistake</title><p>No such mistake.</p>")
            return
        e = html.escape
        self.finish(
            f"<!doctype html><meta charset='utf-8'><title>{e(m.name)}</title>"
            "<body style='font:24px/1.5 system-ui,sans-serif;max-width:48em;margin:2em auto;"
            f"padding:0 1em'><h1>{e(m.name)}</h1><p><code>{e(m.id)}</code></p>"
            f"<p>{e(m.explanation)}</p><p>Taught in lesson <b>{e(m.lesson)}</b>, section "
            f"<i>{e(m.section)}</i>.</p></body>")


class Home(Page):
    def get(self):
        self.finish("<!doctype html><meta charset='utf-8'><title>tutor classroom</title>"
                    "<body style='font:24px/1.5 system-ui,sans-serif;margin:2em'>"
                    "<p>This is a workshop server for the course <i>softmax, from logits to "
                    "attention</i>. Learners join from a notebook with <code>tutor.join(...)"
                    "</code>; the instructor opens the dashboard link printed at start.</p>")


def make_app(classroom: Classroom) -> tornado.web.Application:
    args = {"classroom": classroom}
    return tornado.web.Application([
        (r"/", Home, args),
        (r"/dashboard", Dashboard, args),
        (r"/mistake/([a-z0-9_]{1,64})", Mistake, args),
        (r"/api/join", Join, args),
        (r"/api/results", Results, args),
        (r"/api/state", State, args),
        (r"/api/export.csv", Export, args),
    ], compress_response=True)


class Running:
    """A server on a thread of its own, for tests and benchmarks: `.url`, then `.stop()`."""

    def __init__(self, classroom: Classroom, host: str = "127.0.0.1", port: int = 0):
        import threading

        self.classroom, self._ready = classroom, threading.Event()
        self.thread = threading.Thread(target=self._main, args=(host, port), daemon=True)
        self.thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the classroom server did not start")
        self.url = f"http://{host}:{self.port}"

    def _main(self, host: str, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

        def ready(port: int) -> None:
            self.port = port
            self._ready.set()

        self.task = self.loop.create_task(serve(self.classroom, host, port, ready))
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(10)


async def serve(classroom: Classroom, host: str, port: int, ready=None) -> None:
    """Serve until cancelled. `ready(port)` is called once the socket listens."""
    app = make_app(classroom)
    server = app.listen(port, host, max_body_size=1024 * 1024, xheaders=False)
    if ready:
        sockets = list(server._sockets.values())
        ready(sockets[0].getsockname()[1] if sockets else port)
    try:
        await asyncio.Event().wait()
    finally:
        server.stop()
