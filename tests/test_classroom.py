"""Workshop mode: the store, the room's counts, the server's protocol (including fuzzed and hostile
requests) and the learner's background client. Every server here listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tutor
from tutor import classroom
from tutor.classroom.client import Client
from tutor.classroom.dashboard import PAGE
from tutor.classroom.room import Room
from tutor.classroom.server import Classroom, Limits, Running
from tutor.classroom.store import NameTaken, Store

FIELDS = {"id", "problem", "status", "misconception", "time", "attempt"}


def event(n: int = 0, **change) -> dict:
    e = {"id": f"event-{n:08d}", "problem": "softmax", "status": "failed",
         "misconception": "no_max_shift", "time": time.time(), "attempt": n}
    e.update(change)
    return e


def wait_for(condition, seconds: float = 10.0, what: str = "the condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"waited {seconds} s for {what}")


@pytest.fixture
def server(tmp_path):
    running = Running(Classroom(Store(tmp_path / "class.sqlite3")))
    yield running
    running.stop()


def join(server, name="Ada", code=None, token=None):
    return requests.post(server.url + "/api/join", timeout=5, json={
        "code": code or server.classroom.code, "name": name, "token": token})


def send(server, token, events):
    return requests.post(server.url + "/api/results", json={"results": events}, timeout=5,
                         headers={"Authorization": f"Bearer {token}"})


def state(server, after=-1):
    r = requests.get(server.url + f"/api/state?after={after}", timeout=30,
                     headers={"Authorization": f"Bearer {server.classroom.token}"})
    assert r.status_code == 200
    return r.json()


# -- the store -----------------------------------------------------------------------------------


def test_a_result_sent_twice_is_stored_once(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    learner, _ = store.join("Ada")
    assert store.add(learner, [event(1), event(2)])[1] == 0
    new, duplicates = store.add(learner, [event(2), event(3)])
    assert [e["id"] for e in new] == ["event-00000003"] and duplicates == 1
    assert store.count() == 3


def test_a_taken_name_needs_its_own_token(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    learner, token = store.join("Ada")
    assert store.join("Ada", token) == (learner, token)
    with pytest.raises(NameTaken):
        store.join("Ada")
    with pytest.raises(NameTaken):
        store.join("Ada", "someone else's guess")
    assert store.learner(token) == learner and store.learner("nope") is None


def test_results_code_and_tokens_survive_reopening_the_file(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    learner, token = store.join("Ada")
    store.add(learner, [event(1)])
    code, secret = store.code(), store.instructor_token()
    store.close()
    again = Store(tmp_path / "s.sqlite3")
    assert again.count() == 1 and again.learner(token) == learner
    assert (again.code(), again.instructor_token()) == (code, secret)
    assert again._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_gradebook_loads_once_and_odd_statuses_become_errors(tmp_path):
    book = tmp_path / "gradebook.csv"
    book.write_text("learner,notebook,problem,status,misconception,points,max_points\n"
                    "Ada,03_stability.ipynb,stable_softmax,passed,,2,2\n"
                    "Bo,03_stability.ipynb,stable_softmax,failed,no_max_shift,0,2\n"
                    "Bo,03_stability.ipynb,logsumexp,crashed,,0,2\n"
                    "Bo,03_stability.ipynb,not_a_problem,passed,,1,1\n")
    store = Store(tmp_path / "s.sqlite3")
    from tutor import registry
    from tutor.result import STATUSES

    assert store.load_gradebook(book, registry.all_items(), STATUSES) == 3
    assert store.load_gradebook(book, registry.all_items(), STATUSES) == 0
    rows = {(r[0], r[1]): r[2:4] for r in store.results()}
    assert rows == {("Ada", "stable_softmax"): ("passed", None),
                    ("Bo", "stable_softmax"): ("failed", "no_max_shift"),
                    ("Bo", "logsumexp"): ("error", None)}
    room = Classroom(store).room.state(time.time())
    assert [(p["id"], p["passed"], p["trying"]) for p in room["problems"]] == [
        ("stable_softmax", 1, 1), ("logsumexp", 0, 1)]


# -- the room ------------------------------------------------------------------------------------


def test_room_counts_passed_trying_and_not_started():
    room = Room(["sigmoid", "softmax"])
    for name in ("Ada", "Bo", "Cy"):
        room.add_learner(name)
    room.add("Ada", "softmax", "failed", "no_max_shift", 10)
    room.add("Ada", "softmax", "passed", None, 20)
    room.add("Bo", "softmax", "failed", "wrong_axis", 15)
    room.add("Cy", "sigmoid", "passed", None, 5)
    s = room.state(100)
    assert [(p["id"], p["passed"], p["trying"], p["not_started"]) for p in s["problems"]] == [
        ("sigmoid", 1, 0, 2), ("softmax", 1, 1, 1)]
    assert s["learners"] == 3


def test_a_mistake_counts_now_only_for_learners_still_making_it():
    room = Room(["softmax"], {"no_max_shift": "No max shift"})
    room.add("Ada", "softmax", "failed", "no_max_shift", 10)
    room.add("Ada", "softmax", "passed", None, 20)
    room.add("Bo", "softmax", "failed", "no_max_shift", 15)
    room.add("Cy", "softmax", "failed", "wrong_axis", 16)
    room.add("Dee", "softmax", "failed", "wrong_axis", 17)
    room.add("Dee", "softmax", "failed", "no_max_shift", 18)
    mistakes = room.state(100)["problems"][0]["mistakes"]
    assert [(m["id"], m["now"], m["ever"]) for m in mistakes] == [
        ("no_max_shift", 2, 3), ("wrong_axis", 1, 2)]
    assert mistakes[0]["name"] == "No max shift"
    top = room.state(100)["top_mistake"]
    assert (top["id"], top["problem"], top["now"]) == ("no_max_shift", "softmax", 2)


def test_stuck_learners_are_listed_longest_first_and_passing_unsticks():
    room = Room()
    room.add("Ada", "softmax", "failed", None, 30)
    room.add("Bo", "softmax", "failed", "no_max_shift", 10)
    room.add("Bo", "softmax", "error", None, 40)
    room.add("Cy", "softmax", "failed", None, 5)
    room.add("Cy", "softmax", "passed", None, 50)
    stuck = room.state(100)["stuck"]
    assert [(s["name"], s["since"], s["attempts"]) for s in stuck] == [("Bo", 10, 2),
                                                                        ("Ada", 30, 1)]


def test_results_arriving_out_of_order_keep_the_latest_status_and_first_pass():
    room = Room()
    room.add("Ada", "softmax", "passed", None, 20)
    room.add("Ada", "softmax", "failed", "no_max_shift", 10)  # sent late from the outbox
    s = room.state(100)
    assert s["problems"][0]["passed"] == 1 and s["stuck"] == []
    assert s["timeline"] == [{"t": 0.0, "passes": 1}]


# -- the protocol --------------------------------------------------------------------------------


def test_joining_needs_the_class_code_and_a_name_of_one_learner(server):
    assert join(server, code="WRONG1").status_code == 403
    assert join(server, name="").status_code == 400
    assert join(server, name="a\x00b").status_code == 400
    assert join(server, name="x" * 41).status_code == 400
    first = join(server, name="Ada", code=server.classroom.code.lower())
    assert first.status_code == 200
    token = first.json()["token"]
    taken = join(server, name="Ada")
    assert taken.status_code == 409 and "choose another name" in taken.json()["error"]
    again = join(server, name=" Ada ", token=token)
    assert again.status_code == 200 and again.json()["token"] == token


def test_results_need_a_learner_token_and_a_learner_cannot_send_as_another(server):
    ada, bo = join(server, "Ada").json()["token"], join(server, "Bo").json()["token"]
    assert send(server, "", [event(1)]).status_code == 401
    assert send(server, "forged", [event(1)]).status_code == 401
    assert send(server, bo, [event(1)]).json() == {"accepted": 1, "duplicates": 0}
    assert send(server, ada, [event(1)]).json() == {"accepted": 1, "duplicates": 0}
    assert send(server, ada, [event(1)]).json() == {"accepted": 0, "duplicates": 1}
    names = sorted(r[0] for r in server.classroom.store.results())
    assert names == ["Ada", "Bo"]


@pytest.mark.parametrize("bad, why", [
    ({"code": "print('hi')"}, "results carry exactly"),
    ({"problem": "no_such_problem"}, "unknown problem"),
    ({"problem": "<script>"}, "unknown problem"),
    ({"status": "PASSED"}, "status must be"),
    ({"misconception": "made_up"}, "unknown misconception"),
    ({"time": "now"}, "time must be"),
    ({"time": 1.0}, "time must be"),
    ({"attempt": -1}, "attempt must be"),
    ({"attempt": True}, "attempt must be"),
    ({"id": "short"}, "id must be"),
])
def test_a_result_with_anything_wrong_or_extra_is_refused_and_nothing_stored(server, bad, why):
    token = join(server).json()["token"]
    r = send(server, token, [event(1, problem="sigmoid", misconception=None), event(2, **bad)])
    assert r.status_code == 422
    assert why in r.json()["invalid"]["1"] and "0" not in r.json()["invalid"]
    assert server.classroom.store.count() == 0 and server.classroom.room.version == 1


def test_garbage_and_oversized_requests_get_a_clear_4xx(server):
    token = join(server).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = server.url + "/api/results"
    for body, status in [(b"not json", 400), (b"[1, 2]", 400), (b'{"results": []}', 400),
                         (b'{"results": [], "name": "x"}', 400), (b"\xff\xfe", 400),
                         (b'{"results": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", 400),
                         (json.dumps({"results": [event(i) for i in range(101)]}).encode(), 413),
                         (b'{"results": ["' + b"x" * 70_000 + b'"]}', 413)]:
        r = requests.post(url, data=body, headers=headers, timeout=5)
        assert r.status_code == status, body[:40]
        assert r.json()["error"]
    assert requests.get(url, timeout=5).status_code == 405
    assert server.classroom.store.count() == 0


def test_a_learner_sending_too_fast_is_told_to_wait_and_loses_nothing(tmp_path):
    running = Running(Classroom(Store(tmp_path / "s.sqlite3"),
                                Limits(requests=(1.0, 3.0))))
    try:
        token = join(running).json()["token"]
        codes = [send(running, token, [event(i)]).status_code for i in range(5)]
        assert codes[:3] == [200] * 3 and 429 in codes[3:]
        limited = send(running, token, [event(9)])
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert running.classroom.store.count() == codes.count(200)
    finally:
        running.stop()


def test_the_dashboard_data_and_export_need_the_instructors_token(server):
    token = join(server, "Eve <img src=x onerror=alert(1)>").json()["token"]
    send(server, token, [event(1)])
    for path in ("/api/state", "/api/export.csv", "/api/state?token=wrong",
                 "/api/export.csv?token=" + token):
        r = requests.get(server.url + path, timeout=5)
        assert r.status_code == 401 and "onerror" not in r.text and "softmax" not in r.text
    page = requests.get(server.url + "/dashboard", timeout=5)
    assert page.status_code == 200 and "onerror" not in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert state(server)["roster"][0]["name"] == "Eve <img src=x onerror=alert(1)>"
    csv = requests.get(server.url + "/api/export.csv?token=" + server.classroom.token, timeout=5)
    assert csv.status_code == 200 and csv.text.splitlines()[1].startswith("Eve <img")


def test_the_dashboard_sets_learner_text_as_text_never_as_html():
    assert "innerHTML" not in PAGE and "insertAdjacentHTML" not in PAGE
    assert "document.write" not in PAGE


def test_an_exported_name_that_looks_like_a_formula_stays_text(server):
    token = join(server, "=HYPERLINK(\"http://x\")").json()["token"]
    send(server, token, [event(1)])
    csv = requests.get(server.url + "/api/export.csv", timeout=5,
                       headers={"Authorization": f"Bearer {server.classroom.token}"}).text
    import csv as csv_module

    assert list(csv_module.reader(csv.splitlines()))[1][0] == "'=HYPERLINK(\"http://x\")"


def test_a_mistakes_page_explains_it_and_unknown_ids_are_404(server):
    page = requests.get(server.url + "/mistake/no_max_shift", timeout=5)
    assert page.status_code == 200 and "no_max_shift" in page.text
    assert requests.get(server.url + "/mistake/nope", timeout=5).status_code == 404


def test_the_dashboard_hears_of_a_result_at_once(server):
    token = join(server).json()["token"]
    version = state(server)["version"]
    start = time.monotonic()
    import threading

    threading.Timer(0.3, lambda: send(server, token, [event(1)])).start()
    news = state(server, after=version)
    assert news["version"] > version and 0.25 < time.monotonic() - start < 5
    assert news["problems"][0]["trying"] == 1


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4)
                 | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                 max_leaves=12).map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(sorted(FIELDS) + ["code", "name"]),
                    st.none() | st.integers() | st.text(max_size=12) | st.floats(),
                    max_size=7).map(lambda e: json.dumps({"results": [e]}).encode())),
    path=st.sampled_from(["/api/results", "/api/join"]))
def test_fuzzed_requests_get_a_4xx_and_change_nothing(fuzz_server, body, path):
    server, token = fuzz_server
    before = server.classroom.store.count(), len(server.classroom.store.names())
    r = requests.post(server.url + path, data=body, timeout=5,
                      headers={"Authorization": f"Bearer {token}"})
    assert 400 <= r.status_code < 500, (r.status_code, body[:80])
    assert isinstance(r.json()["error"], str)
    assert (server.classroom.store.count(), len(server.classroom.store.names())) == before


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("fuzz") / "s.sqlite3")
    running = Running(Classroom(store, Limits(requests=(1e6, 1e6), refusals=(1e6, 1e6))))
    _, token = store.join("Fuzz")
    yield running, token
    running.stop()


# -- the learner's client ------------------------------------------------------------------------


def test_import_tutor_loads_no_server_and_no_http():
    out = subprocess.run([sys.executable, "-c", "import sys, tutor; print(sorted(m for m in "
                          "('tornado', 'http.client', 'sqlite3', 'tutor.classroom.client') "
                          "if m in sys.modules))"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def naive_softmax(z, axis=-1):
    e = np.exp(np.asarray(z, dtype=float))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.fixture
def left():
    yield
    tutor.leave()


def test_a_check_shares_only_name_problem_status_mistake_time_and_attempt(server, left):
    joined = tutor.join(server.url, code=server.classroom.code, name="Ada")
    assert joined and "never your code" in repr(joined)
    assert not tutor.check("stable_softmax", naive_softmax)
    assert tutor.check("stable_softmax", softmax)
    wait_for(lambda: server.classroom.store.count() == 2, what="two results")
    rows = server.classroom.store.results()
    assert [r[:4] for r in rows] == [("Ada", "stable_softmax", "failed", "no_max_shift"),
                                     ("Ada", "stable_softmax", "passed", None)]
    assert [r[5] for r in rows] == [1, 2]
    raw = server.classroom.store._db.execute("SELECT * FROM results").fetchall()
    assert all(len(r) == 8 for r in raw)  # learner, event, the five fields, received
    assert "np.exp" not in json.dumps(state(server))


def test_a_quiz_answered_in_its_widget_is_shared_too(server, left):
    tutor.join(server.url, code=server.classroom.code, name="Ada")
    widget = tutor.quiz("q02_shift")
    wrong = next(i for i, c in enumerate(widget.quiz.choices) if not c.correct)
    widget.submit("abcdefgh"[wrong])  # as if picked and Check pressed
    wait_for(lambda: server.classroom.store.count() == 1, what="the quiz's result")
    assert server.classroom.store.results()[0][:3] == ("Ada", "q02_shift", "failed")


def test_a_wrong_code_or_taken_name_is_said_plainly(server, left):
    refused = tutor.join(server.url, code="WRONG9", name="Ada")
    assert not refused and "wrong class code" in repr(refused)
    join(server, "Bo")
    taken = tutor.join(server.url, code=server.classroom.code, name="Bo")
    assert not taken and "choose another name" in repr(taken)
    assert classroom._client is None


def test_results_wait_on_disk_while_the_server_is_down_and_go_once_when_back(tmp_path, left):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    joined = tutor.join(f"http://127.0.0.1:{port}", code="ABC234", name="Ada", wait=1)
    assert joined and "has not answered yet" in repr(joined)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        result = tutor.check("sigmoid", lambda x: 1 / (1 + np.exp(-np.asarray(x, float))))
        times.append(time.perf_counter() - start)
        assert result.status in ("passed", "failed")
    client = classroom._client
    wait_for(lambda: len(client.pending()) == 5, what="five results in the outbox")
    tutor.leave()  # and the kernel restarts: the outbox is still on disk
    store = Store(tmp_path / "s.sqlite3")
    store.code("ABC234")
    running = Running(Classroom(store), port=port)
    try:
        assert tutor.join(running.url, code="ABC234", name="Ada")
        wait_for(lambda: store.count() == 5, what="the five waiting results")
        time.sleep(0.3)
        assert store.count() == 5 and not classroom._client.pending()
        assert [r[5] for r in store.results()] == [1, 2, 3, 4, 5]
    finally:
        tutor.leave()
        running.stop()


def test_a_result_resent_by_a_second_kernel_is_counted_once(server, tmp_path):
    a = Client(server.url, server.classroom.code, "Ada", tmp_path)
    wait_for(lambda: a.status == "joined", what="joining")
    a.stop()
    for n in range(3):
        a._store(event(n, attempt=None) | {"id": f"outbox-{n:06d}"})
    files = a.pending()
    copies = [f.read_bytes() for f in files]
    b = Client(server.url, server.classroom.code, "Ada", tmp_path)  # same learner, same home
    wait_for(lambda: not b.pending(), what="the outbox to empty")
    for f, data in zip(files, copies, strict=True):  # as if the answer to a send was lost
        f.write_bytes(data)
    b.wake.set()
    wait_for(lambda: not b.pending(), what="the resent outbox to empty")
    b.stop()
    assert server.classroom.store.count() == 3


def test_a_refused_result_is_set_aside_and_the_others_still_go(server, tmp_path):
    c = Client(server.url, server.classroom.code, "Ada", tmp_path)
    wait_for(lambda: c.status == "joined", what="joining")
    c.stop()
    c._store(event(1, id="good-000001"))
    c._store(event(2, id="bad-0000002", problem="from_a_newer_course"))
    c._store(event(3, id="good-000003"))
    c = Client(server.url, server.classroom.code, "Ada", tmp_path)
    wait_for(lambda: not c.pending(), what="the outbox to empty")
    c.stop()
    assert server.classroom.store.count() == 2
    assert [p.name.split("-", 1)[1] for p in (c.folder / "rejected").iterdir()] == [
        "bad-0000002.json"]


def test_leave_stops_sharing(server, left):
    tutor.join(server.url, code=server.classroom.code, name="Ada")
    tutor.check("softmax", softmax)
    wait_for(lambda: server.classroom.store.count() == 1, what="one result")
    tutor.leave()
    tutor.check("softmax", softmax)
    time.sleep(0.3)
    assert server.classroom.store.count() == 1 and classroom._client is None


def test_the_environment_variable_joins_at_the_first_check(server, monkeypatch, left):
    monkeypatch.setattr(classroom, "_left", False)
    monkeypatch.setenv("TUTOR_CLASSROOM", f"{server.url}/?code={server.classroom.code}&name=Cy")
    tutor.check("softmax", softmax)
    wait_for(lambda: server.classroom.store.count() == 1, what="one result")
    assert server.classroom.store.results()[0][0] == "Cy"


def test_sharing_never_breaks_a_check(monkeypatch, left):
    class Broken:
        def submit(self, *args):
            raise OSError("disk full")

        def stop(self):
            pass

    monkeypatch.setattr(classroom, "_client", Broken())
    assert tutor.check("softmax", softmax).passed


def test_a_check_waits_no_longer_for_sharing(server, left):
    """All a check adds is `classroom.record`: a dict on a queue, with the server up or gone."""
    from tutor.result import Result

    result = Result("softmax", "failed", "x", misconception="no_max_shift")

    def median_record_seconds() -> float:
        times = []
        for _ in range(200):
            start = time.perf_counter()
            classroom.record(result)
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    tutor.join(server.url, code=server.classroom.code, name="Ada")
    up = median_record_seconds()
    tutor.join("http://127.0.0.1:9", code="ABC234", name="Ada", wait=0.2)  # nothing listens
    unreachable = median_record_seconds()
    assert up < 0.001 and unreachable < 0.001, (up, unreachable)
    assert tutor.check("softmax", softmax).passed


def test_the_cli_prints_the_join_line_and_the_dashboard_link(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "tutor", "classroom", "--port", str(port),
                                "--db", str(tmp_path / "c.sqlite3"), "--code", "K7M2QX"],
                               stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Stop with Ctrl-C" in line:
                break
        text = "".join(lines)
        assert f'tutor.join("http://127.0.0.1:{port}", code="K7M2QX"' in text
        link = next(w for w in text.split() if "/dashboard#token=" in w)
        token = link.split("#token=")[1]
        r = requests.get(f"http://127.0.0.1:{port}/api/state", timeout=5,
                         headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["learners"] == 0
    finally:
        process.terminate()
        process.wait(10)
    assert Path(tmp_path / "c.sqlite3").exists()


def test_a_graded_class_shows_from_its_gradebook(tmp_path):
    import socket

    book = tmp_path / "gradebook.csv"
    book.write_text("learner,notebook,problem,status,misconception,points,max_points\n"
                    "Ada,05_cross_entropy,cross_entropy,passed,,2,2\n"
                    "Bo,05_cross_entropy,cross_entropy,failed,softmax_before_ce,0,2\n"
                    "Cy,05_cross_entropy,cross_entropy,failed,softmax_before_ce,0,2\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "tutor", "classroom", "--port", str(port),
                                "--gradebook", str(book)], stdout=subprocess.PIPE, text=True)
    try:
        text = ""
        for line in process.stdout:
            text += line
            if "Stop with Ctrl-C" in line:
                break
        assert "Loaded 3 new rows" in text
        token = text.split("#token=")[1].split()[0]
        room = requests.get(f"http://127.0.0.1:{port}/api/state", timeout=5,
                            headers={"Authorization": f"Bearer {token}"}).json()
    finally:
        process.terminate()
        process.wait(10)
    [problem] = room["problems"]
    assert (problem["id"], problem["passed"], problem["trying"]) == ("cross_entropy", 1, 2)
    assert room["top_mistake"]["id"] == "softmax_before_ce" and room["top_mistake"]["now"] == 2
