"""The learner's side of a workshop: results go to the instructor's server in the background.

`submit` is all a check pays for: it puts a small dict on a bounded queue (microseconds). A
daemon thread writes each result to the outbox, a folder under TUTOR_HOME with one small file
per result (written to a temporary name, then renamed), and sends the outbox in batches. A file
is deleted only once the server has stored its result; every result carries an id, so sending it
again after a timeout or from a second kernel stores it once. When the server is down, slow or
gone, results wait on disk and go when it answers again, even after a restart of the kernel.

Only the standard library is used, and `http.client` is imported by the thread, not by `import
tutor`.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import queue
import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

BATCH = 100           # results per request (the server's limit)
QUEUE = 10_000        # results waiting for the thread; beyond that, written to disk at once
TIMEOUT = 5.0         # seconds for one request
IDLE = 30.0           # seconds between looks at the outbox when there is nothing new
BACKOFF = (0.25, 1.0)  # seconds between tries after a failure: a restarted server hears soon


class Client:
    """One learner in one class: `submit(result)` from the check, the rest in a thread."""

    def __init__(self, url: str, code: str, name: str, home: Path,
                 attempts: dict[str, int] | None = None):
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not a server address like http://10.0.0.5:8765")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.code, self.name = code, name
        key = hashlib.sha256(f"{self.url}\0{name}".encode()).hexdigest()[:16]
        self.folder = Path(home) / "classroom" / key
        self.outbox = self.folder / "outbox"
        self.outbox.mkdir(parents=True, exist_ok=True)
        (self.folder / "rejected").mkdir(exist_ok=True)
        saved = _read_json(self.folder / "learner.json")
        self.token = saved.get("token") if saved.get("url") == self.url and \
            saved.get("name") == name else None
        # Attempt numbers go on from the learner's progress file, which counts them already.
        self.attempts: dict[str, int] = dict(attempts or {})
        self.queue: queue.Queue = queue.Queue(QUEUE)
        self.wake = threading.Event()
        self.stopping = False
        self.status = "joining"     # joining, joined, refused, unreachable
        self.message = ""
        self.answered = threading.Event()  # the first join attempt has an outcome
        self.sent = 0
        self._write_lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="tutor-classroom", daemon=True)
        self.thread.start()
        atexit.register(self._flush)

    # -- in the learner's thread: as cheap as possible -----------------------------------------

    def submit(self, problem: str, status: str, misconception: str | None) -> float:
        """Queue one result for sending; returns its time."""
        event = {"id": uuid.uuid4().hex, "problem": problem, "status": status,
                 "misconception": misconception, "time": time.time()}
        try:
            self.queue.put_nowait(event)
        except queue.Full:  # the thread is stuck on the disk: write it here, never drop it
            self._store(event)
        self.wake.set()
        return event["time"]

    def stop(self, wait: float = 2.0) -> None:
        """Stop sending; results not sent yet stay in the outbox for the next join."""
        self.stopping = True
        self.wake.set()
        self.thread.join(wait)
        self._flush()
        with contextlib.suppress(ValueError):
            atexit.unregister(self._flush)

    # -- the outbox -----------------------------------------------------------------------------

    def _store(self, event: dict) -> None:
        with self._write_lock:
            n = self.attempts.get(event["problem"], 0) + (event["status"] != "not_attempted")
            self.attempts[event["problem"]] = n
            event["attempt"] = n
            name = f"{time.time_ns():020d}-{event['id']}.json"
            _write_atomic(self.outbox / name, json.dumps(event))

    def _flush(self) -> None:
        """Move every queued result to disk (at exit, and on stop)."""
        while True:
            try:
                self._store(self.queue.get_nowait())
            except queue.Empty:
                return
            except OSError:
                return

    def pending(self) -> list[Path]:
        return sorted(p for p in self.outbox.iterdir() if p.suffix == ".json")

    # -- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        import http.client  # noqa: F401  (loaded here, off the learner's import)

        delay = 0.0
        while not self.stopping:
            self._flush()
            try:
                delay = self._step(delay)
            except Exception as e:  # never let the thread die: try again later
                self.message = f"{type(e).__name__}: {e}"
                delay = _next(delay)
            if self.stopping:
                break
            self.wake.wait(delay if delay else (IDLE if self.status != "refused" else None))
            self.wake.clear()
        self._flush()

    def _step(self, delay: float) -> float:
        """Join if needed, then send the outbox. Returns how long to wait (0: until woken)."""
        if self.status == "refused":
            return 0.0
        if self.token is None or self.status == "joining":
            answer = self._post("/api/join", {"code": self.code, "name": self.name,
                                              "token": self.token})
            if answer is None:
                self._unreachable()
                return _next(delay)
            status, body = answer
            if status == 200:
                self.token = body["token"]
                self.status, self.message = "joined", ""
                _write_atomic(self.folder / "learner.json", json.dumps(
                    {"url": self.url, "name": self.name, "token": self.token}))
                self.answered.set()
            elif status == 429 or status >= 500:
                self.message = body.get("error", f"HTTP {status}")
                self.answered.set()
                return _next(delay)
            else:
                self.status, self.message = "refused", body.get("error", f"HTTP {status}")
                self.answered.set()
                return 0.0
        files = self.pending()
        while files and not self.stopping:
            batch, events = [], []
            for path in files[:BATCH]:
                event = _read_json(path)
                if set(event) >= {"id", "problem", "status", "misconception", "time", "attempt"}:
                    batch.append(path)
                    events.append({k: event[k] for k in ("id", "problem", "status",
                                                         "misconception", "time", "attempt")})
                else:  # unreadable (a crash mid-write cannot cause it, a hand edit can)
                    _move(path, self.folder / "rejected")
            files = files[BATCH:]
            if not events:
                continue
            answer = self._post("/api/results", {"results": events}, self.token)
            if answer is None:
                self._unreachable()
                return _next(delay)
            status, body = answer
            if status == 200:
                for path in batch:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                self.sent += len(batch)
                self.status, self.message = "joined", ""
            elif status == 422:  # set aside what the server refuses; send the rest
                for i in body.get("invalid", {}):
                    if i.isdigit() and int(i) < len(batch):
                        _move(batch[int(i)], self.folder / "rejected")
                files = self.pending()
            elif status == 401:  # the server forgot us (a new class database): join again
                self.token, self.status = None, "joining"
                return 0.5
            elif status == 429:
                return float(self.retry_after or 1.0)
            else:
                self.message = body.get("error", f"HTTP {status}")
                return _next(delay)
        return 0.0

    def _unreachable(self) -> None:
        if self.status != "joined":
            self.status = "unreachable"
        self.message = f"the server at {self.url} does not answer; results wait on this machine"
        self.answered.set()

    retry_after: float | None = None

    def _post(self, path: str, data: dict, token: str | None = None) -> tuple[int, dict] | None:
        """(status, JSON body) or None when the server cannot be reached."""
        import http.client

        parts = urlsplit(self.url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else \
            http.client.HTTPConnection
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection = getattr(self, "_connection", None)
        for fresh in (False, True):
            if connection is None or fresh:
                if connection is not None:
                    connection.close()
                connection = cls(parts.hostname, parts.port, timeout=TIMEOUT)
                self._connection = connection
                try:
                    connection.connect()
                    # headers and body go out as two writes: without this, Nagle's algorithm
                    # can hold the body back until the server's delayed ACK (tens of ms)
                    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    connection.close()
                    self._connection = None
                    return None
            try:
                connection.request("POST", path, json.dumps(data), headers)
                response = connection.getresponse()
                raw = response.read()
                self.retry_after = _float(response.getheader("Retry-After"))
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {}
                return response.status, body if isinstance(body, dict) else {}
            except (OSError, http.client.HTTPException):
                connection.close()
                if fresh:
                    self._connection = None
                    return None
        return None


def _next(delay: float) -> float:
    return min(BACKOFF[1], max(BACKOFF[0], delay * 2))


def _float(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _move(path: Path, folder: Path) -> None:
    with contextlib.suppress(OSError):
        os.replace(path, folder / path.name)
