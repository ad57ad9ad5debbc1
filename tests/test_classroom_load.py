"""Workshop mode under load and through a crash, on loopback (127.0.0.1 only).

The server runs as `python -m tutor classroom` in its own process; the simulated learners are
real `tutor.classroom.client.Client`s (the outbox, the thread, the resending) in this process,
each fed by `submit`, which is exactly what `tutor.check` calls.

- Load: 200 learners each send one result per second. `make test` runs it for 20 s
  (CLASSROOM_LOAD_SECONDS overrides); `make bench` runs the full 60 s through `run_load`, and
  prints results per second and the dashboard's update delay. Nothing may be lost or stored
  twice, and the dashboard, polling as the page does, sees each result within 1 s at the 99th
  percentile (that bound is only warned about when the machine's load average is over twice
  its cores: then the delays measure the other work, not the server).
- Crash: the server is killed (SIGKILL) mid-run and started again on the same database; every
  result sent before, during and after the outage is stored exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pytest
import requests

from tutor.classroom.client import Client

CODE = "LOAD23"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m tutor classroom` on 127.0.0.1, in its own process."""

    def __init__(self, db: Path, port: int | None = None):
        self.db, self.port = db, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tutor", "classroom", "--port", str(self.port), "--db",
             str(self.db), "--code", CODE], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        for line in self.process.stdout:
            if "#token=" in line:
                self.token = line.split("#token=")[1].strip()
            if "Stop with Ctrl-C" in line:
                break
        else:
            raise RuntimeError("the classroom server did not start")
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def send_delays(self) -> list[float]:
        """Seconds from each check to the server storing its result, sorted."""
        with sqlite3.connect(self.db) as db:
            return sorted(r[0] for r in db.execute("SELECT received - time FROM results"))

    def stored(self) -> list[tuple]:
        """(learner, problem, attempt) of every stored result, read from the database itself."""
        with sqlite3.connect(self.db) as db:
            return db.execute("SELECT l.name, r.problem, r.attempt FROM results r JOIN learners l "
                              "ON l.id = r.learner").fetchall()


def learners(server: Server, home: Path, n: int) -> list[Client]:
    clients = [Client(server.url, CODE, f"learner {i:03d}", home) for i in range(n)]
    deadline = time.monotonic() + 60
    while any(c.status != "joined" for c in clients):
        if time.monotonic() > deadline:
            raise AssertionError("not every simulated learner could join")
        time.sleep(0.05)
    return clients


def drive(clients: list[Client], seconds: float, per_second: float, during=None) -> int:
    """Each client submits `per_second` results a second for `seconds`, spread evenly over
    the clients; `during(elapsed)` is called between sends. Returns how many were submitted."""
    n, sent = len(clients), 0
    step = 1.0 / (per_second * n)
    start = time.monotonic()
    total = int(seconds * per_second * n)
    statuses = ["failed", "failed", "passed", "error"]
    for k in range(total):
        due = start + k * step
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        c = clients[k % n]
        status = statuses[(k // n) % len(statuses)]
        c.submit("softmax" if k % 3 else "stable_softmax", status,
                 "no_max_shift" if status == "failed" and k % 3 == 0 else None)
        sent += 1
        if during:
            during(time.monotonic() - start)
    return sent


def wait_until_sent(clients: list[Client], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while any(c.queue.qsize() or c.pending() for c in clients):
        if time.monotonic() > deadline:
            left = sum(len(c.pending()) for c in clients)
            raise AssertionError(f"{left} results still unsent after {seconds} s")
        for c in clients:
            c.wake.set()
        time.sleep(0.2)


POLLER = """
import json, sys, time, urllib.request
url, token = sys.argv[1], sys.argv[2]
version = -1
while True:
    request = urllib.request.Request(f"{url}/api/state?after={version}",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            body = r.read()
    except OSError:
        time.sleep(0.2)
        continue
    now = time.time()
    state = json.loads(body)
    version = state["version"]
    last = {r["name"]: r["last"] for r in state["roster"] if r["last"]}
    print(json.dumps([now, last]), flush=True)
    time.sleep(0.15)
"""


class Dashboard:
    """Polls /api/state as the page does (long poll, then 150 ms), in a process of its own as a
    browser would be, and notes when each learner's latest check time first shows."""

    def __init__(self, server: Server):
        self.process = subprocess.Popen([sys.executable, "-c", POLLER, server.url, server.token],
                                        stdout=subprocess.PIPE, text=True)
        self.seen: list[tuple[float, dict]] = []  # (when received, {name: last check time})
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            now, last = json.loads(line)
            self.seen.append((now, last))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.reader.join(5)


def delays(dashboard: Dashboard, check_times: dict[str, list[float]]) -> list[float]:
    """For every check, seconds from the check until the dashboard first showed it."""
    out = []
    for name, times in check_times.items():
        i = 0
        for when, last in dashboard.seen:
            shown = last.get(name)
            while i < len(times) and shown is not None and shown >= times[i] - 1e-6:
                out.append(when - times[i])
                i += 1
    return out


def run_load(seconds: float, n: int = 200, home: Path | None = None) -> dict:
    """The load run, for the test and for `make bench`: numbers in a dict."""
    home = home or Path(tempfile.mkdtemp(prefix="tutor-load-"))
    server = Server(home / "class.sqlite3")
    clients: list[Client] = []
    try:
        clients = learners(server, home / "learners", n)
        check_times: dict[str, list[float]] = {c.name: [] for c in clients}
        originals = {}
        for c in clients:  # note the time each check hands its result over
            originals[c] = c.submit

            def submit(*args, c=c):
                check_times[c.name].append(originals[c](*args))
            c.submit = submit
        dashboard = Dashboard(server)
        start = time.monotonic()
        sent = drive(clients, seconds, 1.0)
        wait_until_sent(clients)
        elapsed = time.monotonic() - start
        time.sleep(0.6)
        dashboard.stop()
        stored = server.stored()
        late = sorted(delays(dashboard, check_times))
        sending = server.send_delays()
        return {"learners": n, "seconds": seconds, "sent": sent, "stored": len(stored),
                "distinct": len(set(stored)), "per_second": len(stored) / elapsed,
                "p50": statistics.median(late) if late else float("nan"),
                "p99": late[int(0.99 * (len(late) - 1))] if late else float("nan"),
                "measured": len(late),
                "p99_stored": sending[int(0.99 * (len(sending) - 1))] if sending else float("nan")}
    finally:
        for c in clients:
            c.stop(0.5)
        server.stop()


@pytest.mark.timeout(180)
def test_200_learners_sending_every_second_lose_nothing_and_show_within_a_second(tmp_path):
    """200 learners × 1 result/s for CLASSROOM_LOAD_SECONDS (20 s here; `make bench` runs 60 s)."""
    seconds = float(os.environ.get("CLASSROOM_LOAD_SECONDS", "20"))
    numbers = run_load(seconds, 200, tmp_path)
    print(numbers)
    assert numbers["sent"] == 200 * int(seconds)
    assert numbers["stored"] == numbers["distinct"] == numbers["sent"], numbers
    assert numbers["measured"] == numbers["sent"], numbers
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if numbers["p99"] >= 1.0 and load > 2 * cores:  # other work holds the CPUs: the delays
        warnings.warn(f"machine overloaded (load {load:.1f} on {cores} cores): dashboard p99 "
                      f"{numbers['p99']:.2f} s, over 1 s; nothing was lost", stacklevel=1)
    else:
        assert numbers["p99"] < 1.0, numbers


@pytest.mark.timeout(120)
def test_killing_the_server_mid_run_loses_no_result_and_stores_none_twice(tmp_path):
    server = Server(tmp_path / "class.sqlite3")
    clients: list[Client] = []
    try:
        clients = learners(server, tmp_path / "learners", 20)
        events = {"killed": False, "restarted": False}

        def outage(elapsed: float) -> None:
            if elapsed > 1.5 and not events["killed"]:
                server.kill()
                events["killed"] = True
            elif elapsed > 3.5 and not events["restarted"]:
                server.start()
                events["restarted"] = True

        sent = drive(clients, 6.0, 5.0, outage)
        assert events == {"killed": True, "restarted": True}
        wait_until_sent(clients)
        # A result a sending thread has taken from its queue but not yet written to the outbox is
        # in neither: give it the moment it needs to land before counting.
        deadline = time.monotonic() + 10
        while len(server.stored()) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        stored = server.stored()
        assert len(stored) == len(set(stored)) == sent == 600
        for c in clients:  # each learner's attempts at each problem: 1, 2, ... each once
            for problem in ("softmax", "stable_softmax"):
                attempts = sorted(a for name, p, a in stored if (name, p) == (c.name, problem))
                assert attempts == list(range(1, len(attempts) + 1))
            assert sum(name == c.name for name, _, _ in stored) == 30
    finally:
        for c in clients:
            c.stop(0.5)
        server.stop()


# -- `make bench` ----------------------------------------------------------------------------------

SERVER_WITHOUT_LIMITS = """
import asyncio, sys
from tutor.classroom.server import Classroom, Limits, serve
from tutor.classroom.store import Store
unlimited = (1e9, 1e9)
room = Classroom(Store(sys.argv[1]), Limits(unlimited, unlimited, unlimited, unlimited))
def ready(port):
    print(port, room.code, flush=True)
asyncio.run(serve(room, "127.0.0.1", 0, ready))
"""


def _check_seconds(problem, answer, repeats: int) -> tuple[float, float]:
    """(median, 95th percentile) seconds of `tutor.check(problem, answer)`, checks 0.1 s apart
    (a learner's are far further apart: the sending thread has had its turn in between)."""
    import tutor

    times = []
    for _ in range(repeats):
        time.sleep(0.1)
        start = time.perf_counter()
        tutor.check(problem.id, answer)
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def _record_seconds(repeats: int) -> float:
    """Median seconds of the one call a check makes to share its result."""
    from tutor import classroom
    from tutor.result import Result

    result = Result("softmax", "failed", "x", misconception="no_max_shift")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        classroom.record(result)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_check_latency(repeats: int) -> list[tuple]:
    """Rows (mode, check median ms, check p95 ms, share call µs): not joined, joined to a live
    server in another process, joined to an address where nothing listens."""
    import tutor
    from tutor import registry

    problem = registry.get("causal_mask")
    rows = []
    home = Path(tempfile.mkdtemp(prefix="tutor-bench-class-"))
    server = Server(home / "class.sqlite3")
    try:
        _check_seconds(problem, problem.reference, 5)
        for mode, url in [("not joined", None), ("joined, server up", server.url),
                          ("joined, server unreachable", f"http://127.0.0.1:{free_port()}")]:
            if url:
                tutor.join(url, code=CODE, name=f"bench {len(rows)}", wait=1.0)
            median, p95 = _check_seconds(problem, problem.reference, repeats)
            rows.append((mode, median * 1e3, p95 * 1e3, _record_seconds(2000) * 1e6))
            tutor.leave()
    finally:
        server.stop()
    return rows


def bench_throughput(seconds: float, batch: int, senders: int = 4) -> float:
    """Results per second the server stores, limits lifted, from `senders` threads each
    posting `batch` results a request over a kept-alive connection (one learner each)."""
    import http.client
    import json
    import uuid

    home = Path(tempfile.mkdtemp(prefix="tutor-bench-class-"))
    process = subprocess.Popen([sys.executable, "-c", SERVER_WITHOUT_LIMITS,
                                str(home / "class.sqlite3")], stdout=subprocess.PIPE, text=True)
    try:
        port, code = process.stdout.readline().split()
        tokens = [requests.post(f"http://127.0.0.1:{port}/api/join", timeout=5, json={
            "code": code, "name": f"sender {i}"}).json()["token"] for i in range(senders)]
        stored = [0] * senders
        stop = time.monotonic() + seconds

        def send(i: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
            headers = {"Authorization": f"Bearer {tokens[i]}",
                       "Content-Type": "application/json"}
            while time.monotonic() < stop:
                events = [{"id": uuid.uuid4().hex, "problem": "softmax", "status": "failed",
                           "misconception": "no_max_shift", "time": time.time(), "attempt": 1}
                          for _ in range(batch)]
                connection.request("POST", "/api/results", json.dumps({"results": events}),
                                   headers)
                response = connection.getresponse()
                stored[i] += json.loads(response.read())["accepted"]

        start = time.monotonic()
        threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(stored) / (time.monotonic() - start)
    finally:
        process.terminate()
        process.wait(10)


def bench_classroom(quick: bool) -> None:
    """The workshop mode's numbers, printed by tests/bench.py."""
    load, cores = os.getloadavg()[0], os.cpu_count()
    print(f"\nworkshop mode (load average {load:.1f} on {cores} cores as it starts: over "
          f"{cores} means other work shares the CPUs and stretches every delay below)")
    print("`tutor.check('causal_mask')` with the reference answer, and the share call in it")
    print(f"  {'mode':<30}{'check median ms':>17}{'check p95 ms':>14}{'share call µs':>15}")
    for mode, median, p95, share in bench_check_latency(20 if quick else 60):
        print(f"  {mode:<30}{median:>17.2f}{p95:>14.2f}{share:>15.1f}")
    print("\nworkshop server, limits lifted, 4 senders on loopback (sustained results/s)")
    for batch in (1, 100):
        rate = bench_throughput(2.0 if quick else 5.0, batch)
        print(f"  {batch:>3} result{'s' if batch > 1 else ''} a request{rate:>12,.0f} results/s")
    seconds = 10 if quick else 60
    print(f"\nworkshop load: 200 learners × 1 result/s for {seconds} s (real clients, "
          "server in its own process)")
    n = run_load(seconds)
    print(f"  sent {n['sent']}, stored {n['stored']} ({n['distinct']} distinct), lost "
          f"{n['sent'] - n['distinct']}; {n['per_second']:.0f} results/s; dashboard shows a "
          f"check after {n['p50'] * 1e3:.0f} ms median, {n['p99'] * 1e3:.0f} ms p99 "
          f"(budget 1 s); stored {n['p99_stored'] * 1e3:.0f} ms after the check, p99")
