"""The grading side of one notebook: start a walled-in child, run the cells, then check every
problem of the chapter with `tutor.checking.run`, handing it a proxy that forwards each call to
the child and rebuilds what comes back.

    record = grade_notebook(job)      # a plain dict: rows, and the log line

Comparison and diagnosis happen here, in the grading process, on inputs made here: patching
tutor, numpy or builtins in the notebook changes nothing that decides a grade.
"""

from __future__ import annotations

import atexit
import hashlib
import inspect
import json
import linecache
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tutor.grade import limits as limits_mod
from tutor.grade import wire

GRACE = 3.0
"""Seconds a single call may run past the problem's own time limit before the child is killed."""


class Died(Exception):
    """The child ended (or sent something unreadable) while the grader waited for it."""


class Hung(Exception):
    """The child did not answer in time."""


# ---------------------------------------------------------------------------------------------
# The pre-started worker (one per grading process)


class Zygote:
    """`python -m tutor.grade.worker`: imports everything once, forks a child per notebook."""

    def __init__(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TUTOR_STRICT",))}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MPLBACKEND="Agg")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tutor.grade.worker", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        self.pid: int | None = None
        self.root = False

    def ready(self) -> None:
        """Wait until the worker has imported everything (it starts importing at once, so the
        grading process can do its own imports meanwhile)."""
        if self.pid is not None:
            return
        self.control.settimeout(300)
        hello = json.loads(self.control.recv(1 << 16) or b"{}")
        if "ready" not in hello:
            raise RuntimeError("the grading worker did not start")
        self.control.settimeout(None)
        self.pid = hello["ready"]
        self.root = hello.get("root", False)

    def start(self, job_socket: socket.socket, spec: dict) -> int:
        with self.lock:
            self.ready()
            socket.send_fds(self.control, [json.dumps(dict(spec, op="start")).encode()],
                            [job_socket.fileno()])
            reply = json.loads(self.control.recv(1 << 16))
            return reply["pid"], reply.get("uid")

    def end(self, pid: int, wait: float = 0.0) -> str:
        with self.lock:
            self.control.send(json.dumps({"op": "end", "pid": pid, "wait": wait}).encode())
            return json.loads(self.control.recv(1 << 16)).get("exit", "?")

    def close(self) -> None:
        try:
            self.control.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote() -> Zygote:
    """This process's pre-started worker (started on first use)."""
    global _zygote
    with _zygote_lock:
        if _zygote is None or _zygote.process.poll() is not None:
            _zygote = Zygote()
            atexit.register(close_zygote)
        return _zygote


def close_zygote() -> None:
    global _zygote
    with _zygote_lock:
        if _zygote is not None:
            _zygote.close()
            _zygote = None


# ---------------------------------------------------------------------------------------------
# One run of a notebook in a child


@dataclass
class Run:
    """What happened when the cells ran."""

    finished: bool = False
    cell: int | None = None
    """The cell running when the run stopped (crash or time limit)."""
    reason: str = ""
    errors: list = field(default_factory=list)
    exit: str = ""
    isolation: list = field(default_factory=list)
    seconds: float = 0.0


class Session:
    """A child running one notebook; restarted (cells run again, minus `skip`) when a call
    kills or hangs it."""

    def __init__(self, cells: list[str], limits: limits_mod.Limits, hide: list[str]):
        self.cells, self.limits, self.hide = cells, limits, hide
        self.skip: set[int] = set()
        self.sock: socket.socket | None = None
        self.pid: int | None = None
        self.exits: list[str] = []
        self.workers: list[dict] = []
        """The processes that ran the notebook: the pre-started worker, the child, its user."""
        self.starts = 0

    def start(self) -> Run:
        """Fork a child and run the cells; a cell that crashes the child or passes the time
        limit is skipped on a second start."""
        run = Run()
        for _ in range(3):
            run = self._start_once()
            if run.finished or run.cell is None:
                return run
            self.skip.add(run.cell)
        return run

    def _start_once(self) -> Run:
        self.stop()
        self.starts += 1
        z = zygote()
        with z.lock:
            z.ready()  # its start-up is not the notebook's time
        began = time.monotonic()
        ours, theirs = socket.socketpair()
        self.pid, uid = z.start(theirs, {"limits": self.limits.as_dict(), "hide": self.hide})
        self.workers.append({"zygote": z.pid, "pid": self.pid, "uid": uid})
        theirs.close()
        self.sock = ours
        run = Run()
        deadline = began + self.limits.timeout
        try:
            header = self._receive(deadline)[0]
            run.isolation = list(header.get("isolation", []))[:10]
            wire.send(ours, {"cells": self.cells, "skip": sorted(self.skip)})
            # The cells are announced in order, and "ran" only after the last: a message
            # that breaks the order was forged or garbled by the cell that was running.
            order = [i for i in range(len(self.cells)) if i not in self.skip]
            while True:
                header = self._receive(deadline)[0]
                if "cell" in header:
                    nxt = order.index(run.cell) + 1 if run.cell in order else 0
                    if nxt >= len(order) or header["cell"] != order[nxt]:
                        raise Died("sent a message out of order (forged or garbled)")
                    run.cell = order[nxt]
                elif "ran" in header:
                    if order and run.cell != order[-1]:
                        raise Died("sent a message out of order (forged or garbled)")
                    run.finished = True
                    run.cell = None
                    run.errors = [e for e in header.get("errors", []) if isinstance(e, dict)][:50]
                    break
                else:
                    raise Died("an unexpected message")
        except Hung:
            run.reason = f"did not finish within the {self.limits.timeout:g} s time limit"
            run.exit = self.stop()
        except Died as e:
            run.exit = self.stop()
            run.reason = f"stopped: the Python process ended ({run.exit})" \
                if str(e) == "ended" else f"stopped: {e} ({run.exit})"
        run.seconds = time.monotonic() - began
        return run

    def _receive(self, deadline: float) -> tuple[dict, list[bytes]]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Hung
        self.sock.settimeout(left)
        try:
            return wire.receive(self.sock)
        except TimeoutError:
            raise Hung from None
        except (EOFError, ConnectionError):
            raise Died("ended") from None
        except (wire.WireError, ValueError, OSError) as e:
            raise Died(f"it sent something the grader cannot read ({e})") from None

    def request(self, header: dict, blobs: list[bytes], deadline: float):
        """Send one request to a running child and wait for its reply."""
        if self.sock is None:
            run = self.start()
            if not run.finished:
                raise Died(run.reason or "the notebook did not run")
        try:
            wire.send(self.sock, header, blobs)
        except OSError:
            raise Died("ended") from None
        return self._receive(deadline)

    def stop(self, polite: bool = False) -> str:
        """End the child and everything it started; how it ended. `polite`: ask it to leave
        first, and give it a moment to."""
        if self.sock is not None:
            if polite:
                try:
                    wire.send(self.sock, {"op": "bye"})
                except OSError:
                    polite = False
            self.sock.close()
            self.sock = None
        if self.pid is None:
            return ""
        how = zygote().end(self.pid, wait=0.5 if polite else 0.0)
        self.pid = None
        self.exits.append(how)
        return how


# ---------------------------------------------------------------------------------------------
# The proxy the checking engine calls


def _stub(*args, **kwargs):
    """Stands for a learner's function that is still a stub."""
    ...


def _generator(*args, **kwargs):
    yield


async def _coroutine(*args, **kwargs):
    return None


_TimeUp = None


def _time_up() -> type[BaseException]:
    from tutor import checking

    return getattr(checking, "TimeUp", TimeoutError)


class Proxy:
    """Called by the engine like the learner's function; each call runs in the child."""

    def __init__(self, session: Session, problem, params: list | None):
        self.session, self.problem = session, problem
        self.__name__ = self.__qualname__ = problem.name
        self.started: float | None = None
        self.broken: BaseException | None = None
        self.calls = 0
        self.key: str | None = None
        self.queues: dict = {}
        self.repeats: dict = {}
        self.no_ahead = False
        self.same: tuple | None = None
        if params is not None:
            try:
                self.__signature__ = inspect.Signature([
                    inspect.Parameter(str(name), int(kind),
                                      default=None if has_default else inspect.Parameter.empty)
                    for name, kind, has_default in params])
            except (TypeError, ValueError):
                pass

    def __call__(self, *args, **kwargs):
        if self.broken is not None:
            raise self.broken
        now = time.monotonic()
        if self.started is None:
            self.started = now
        deadline = self.started + self.problem.time_limit + GRACE
        self.calls += 1
        values = [*args, *kwargs.values()]
        ahead = self._queued(values)
        if ahead is not None:
            reply, blobs = ahead
        else:
            encoder = wire.Encoder(strict=True)
            header = {"op": "call", "name": self.problem.name,
                      "args": encoder.encode(list(args)), "kwargs": encoder.encode(dict(kwargs))}
            reply, blobs = self._ahead(header, encoder.blobs, values, deadline)
            self.same = _identity(values)
        decoded = _Reply(reply, blobs)
        decoded.sync(values)
        if "raised" in reply:
            raise_learner_error(reply["raised"])
        value = decoded.value("value")
        if reply.get("torch_calls"):
            _replay_torch_calls(reply["torch_calls"])
        if reply.get("grads") is not None or _is_tensor_with_grad(value):
            value = _with_gradients(value, values, decoded)
        return value

    def _queued(self, values: list):
        """The reply drawn ahead for this very call, without encoding it: the same argument
        objects as the last call (read-only arrays, numbers) and the Generator where the reply
        drawn ahead expects it."""
        import numpy as np

        if self.same is None or _identity(values) != self.same:
            return None
        rng = next((v for v in values if isinstance(v, np.random.Generator)), None)
        queue = self.queues.get(id(rng))
        if rng is None or not queue or queue[0][0] != rng.bit_generator.state:
            return None
        return queue.pop(0)[1:]

    def _ahead(self, header: dict, blobs: list[bytes], values: list, deadline: float):
        """The reply to this call: from the batch made ahead when the engine repeats a call
        with the same arguments and a Generator where the last call left it (a sampler drawn
        thousands of times), else from the child."""
        import numpy as np

        rngs = [v for v in values if isinstance(v, np.random.Generator)]
        plain = all(isinstance(v, (np.ndarray, np.random.Generator, int, float, bool, str,
                                   type(None), np.generic)) for v in values)
        key = None
        if len(rngs) == 1 and plain:
            shown = [None if isinstance(a, dict) and a.get("$") == "rng" else a
                     for a in [*header["args"]["items"], *header["kwargs"]["items"]]]
            key = hashlib.sha1(repr(shown).encode() + b"".join(blobs)).hexdigest()
        state = rngs[0].bit_generator.state if key else None
        if key != self.key:
            self.key, self.queues, self.repeats, self.no_ahead = key, {}, {}, False
        who = id(rngs[0]) if key else None
        queue = self.queues.get(who)
        if queue and queue[0][0] == state:
            return queue.pop(0)[1:]
        repeat = 1
        if key and not self.no_ahead:
            repeat = min(self.repeats.get(who, 0) * 2 or 1, 512)
            self.repeats[who] = repeat
        if repeat > 1:
            header = dict(header, repeat=repeat)
        try:
            reply, blobs = self.session.request(header, blobs, deadline)
        except Hung:
            self.session.stop()
            self.broken = _time_up()()
            raise self.broken from None
        except Died as e:
            how = self.session.stop() or ""
            self.broken = RuntimeError(crash_text(str(e), how))
            raise self.broken from None
        batch = reply.get("batch")
        if repeat == 1 or not isinstance(batch, list) or not batch:
            if not ({"value", "raised"} & reply.keys()):
                self.session.stop()
                self.broken = RuntimeError(crash_text("answered out of order (a message "
                                                      "forged or garbled)", ""))
                raise self.broken
            if key and _rng_after(reply, values) == state:
                self.no_ahead = True  # the Generator did not move: nothing to draw ahead
            return reply, blobs
        queue = self.queues[who] = []
        before = state
        for item in batch:
            if not isinstance(item, dict):
                break
            queue.append((before, item, blobs))
            before = _rng_after(item, values)
        return queue.pop(0)[1:]


def _identity(values: list) -> tuple | None:
    """The arguments' identities, when none of them can have changed since (read-only arrays,
    numbers, Generators); else None."""
    import numpy as np

    for v in values:
        if isinstance(v, np.ndarray):
            if v.flags.writeable:
                return None
        elif not isinstance(v, (np.random.Generator, int, float, bool, str, type(None),
                                np.generic)):
            return None
    return tuple(map(id, values))


def _rng_after(reply: dict, values: list) -> Any:
    """The Generator's state after the call, as the reply gives it."""
    after = (reply.get("rngs") or {}).get(_rng_position(values), {})
    return after.get("state") if isinstance(after, dict) else None


def _rng_position(values: list) -> str:
    import numpy as np

    return next(str(i) for i, v in enumerate(values) if isinstance(v, np.random.Generator))


def crash_text(why: str, how: str) -> str:
    if why == "ended":
        return f"the Python process running your notebook crashed during this call ({how})"
    return f"the Python process running your notebook {why}"


class _Reply:
    def __init__(self, header: dict, blobs: list[bytes]):
        self.header, self.blobs = header, blobs

    def value(self, key: str) -> Any:
        try:
            return wire.decode(self.header.get(key), self.blobs)
        except wire.WireError as e:
            raise RuntimeError(f"your function returned something that cannot be read: {e}") \
                from None

    def sync(self, values: list) -> None:
        """Write back into the engine's arguments what the learner's call changed in place,
        and move each Generator on as the learner's draws moved it."""
        import numpy as np

        for key, encoded in (self.header.get("mutated") or {}).items():
            i = int(key) if str(key).isdigit() else -1
            if not 0 <= i < len(values):
                continue
            try:
                new = wire.decode(encoded, self.blobs)
                _write_into(values[i], new)
            except Exception:
                continue
        for key, encoded in (self.header.get("rngs") or {}).items():
            i = int(key) if str(key).isdigit() else -1
            if 0 <= i < len(values) and isinstance(values[i], np.random.Generator):
                try:
                    values[i].bit_generator.state = encoded["state"]
                except (TypeError, ValueError, KeyError):
                    pass


def _write_into(target: Any, new: Any) -> None:
    import numpy as np

    if isinstance(target, np.ndarray):
        new = np.asarray(new)
        writeable = target.flags.writeable
        if new.shape != target.shape:
            new = np.zeros_like(target) + np.nan  # a different shape: changed all the same
        try:
            target.flags.writeable = True
        except ValueError:
            return
        target[...] = new.astype(target.dtype, copy=False)
        target.flags.writeable = writeable
    elif isinstance(target, list):
        target[:] = new if isinstance(new, list) else [new]
    elif type(target).__module__.startswith("torch"):
        import torch

        with torch.no_grad():
            if tuple(target.shape) == tuple(new.shape):
                target.copy_(new)
            else:
                target.fill_(float("nan"))


def raise_learner_error(info: Any):
    """Raise a builtin exception with the learner's message, from a frame that reads like the
    learner's line (so the engine's message can say `line 4 of your cell: ...`)."""
    import builtins

    if not isinstance(info, dict):
        raise RuntimeError("your function raised an exception")
    name = str(info.get("type", "RuntimeError"))
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)) or \
            cls in (KeyboardInterrupt, GeneratorExit) or issubclass(cls, Warning):
        cls = RuntimeError
    message = str(info.get("message", ""))[:2000]
    try:
        error = cls(message) if message else cls()
    except Exception:
        error = RuntimeError(message)
    lineno, line = info.get("lineno"), info.get("line")
    if not isinstance(lineno, int) or not 0 < lineno < 100_000 or not isinstance(line, str):
        raise error
    if info.get("cell"):
        filename = f"<ipython-input-{hashlib.sha1(line.encode()).hexdigest()[:8]}>"
    else:
        filename = f"<{str(info.get('file', 'file'))[:80]}>"
    lines = ["\n"] * (lineno - 1) + [line + "\n"]
    linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    code = compile("\n" * (lineno - 1) + "raise __error__", filename, "exec")
    exec(code, {"__error__": error})


def _is_tensor_with_grad(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and getattr(value, "requires_grad", False)


def _replay_torch_calls(names: Any) -> None:
    """Tell the engine's active torch function modes which torch functions the learner's code
    called in the child, as if they had been called here (their results are not used)."""
    try:
        from torch.overrides import _get_current_function_mode_stack
    except ImportError:
        return
    for mode in _get_current_function_mode_stack():
        for name in names[:200]:
            if not isinstance(name, str):
                continue

            def nothing(*args, **kwargs):
                return None

            nothing.__name__ = name[:100]
            try:
                type(mode).__torch_function__(mode, nothing, (), (), {})
            except Exception:
                pass


def _with_gradients(value: Any, values: list, reply: _Reply) -> Any:
    """A tensor equal to the learner's, whose backward gives the inputs the gradients that
    autograd gave them in the child."""
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    inputs = [v for v in values if isinstance(v, torch.Tensor) and v.requires_grad]
    encoded = reply.header.get("grads")
    grads = []
    for i, t in enumerate(inputs):
        g = None
        if isinstance(encoded, list) and i < len(encoded) and encoded[i] is not None:
            try:
                g = wire.decode(encoded[i], reply.blobs)
                if not isinstance(g, torch.Tensor) or tuple(g.shape) != tuple(t.shape):
                    g = None
            except wire.WireError:
                g = None
        grads.append(g)
    if not inputs:
        return value.detach().requires_grad_(value.is_floating_point())
    return _Replay.apply(value.detach(), grads, *inputs)


def _replay_class():
    import torch

    class Replay(torch.autograd.Function):
        @staticmethod
        def forward(ctx, value, grads, *inputs):
            ctx.grads = grads
            return value.clone()

        @staticmethod
        def backward(ctx, grad_output):
            out = [None if g is None else (grad_output * g.to(grad_output.dtype)).to(g.dtype)
                   for g in ctx.grads]
            return (None, None, *out)

    return Replay


class _LazyReplay:
    cls = None

    def apply(self, *args):
        if self.cls is None:
            self.cls = _replay_class()
        return self.cls.apply(*args)


_Replay = _LazyReplay()


# ---------------------------------------------------------------------------------------------
# One notebook


def seed_for(learner: str, notebook: str, problem: str) -> int:
    """The same inputs for the same learner, notebook and problem, on every run and shard."""
    digest = hashlib.sha256(f"{learner}\0{notebook}\0{problem}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def grade_notebook(job: dict) -> dict:
    """Run one notebook and check each problem of its chapter. `job` is plain data (made by
    `tutor.grade.cli.plan`); the record returned is plain data too. Never raises: a failure of
    the grader itself becomes error rows that say so."""
    try:
        return _grade_notebook(job)
    except Exception as e:
        from tutor import registry

        reason = (f"The grader failed on this notebook ({type(e).__name__}: {str(e)[:200]}); "
                  "tell your instructor, who can grade it again.")
        problems = [registry.get(pid) for pid in job["problems"]]
        return {"learner": job["learner"], "notebook": job["notebook"], "file": job["file"],
                "key": job["key"], "hash": job["hash"],
                "rows": [_row(job, p, "error", reason) for p in problems],
                "log": {"learner": job["learner"], "notebook": job["notebook"],
                        "file": job["file"], "hash": job["hash"], "seconds": 0.0,
                        "failure": reason, "worker_exit": [], "limits_hit": [],
                        "grader_error": True}}


def _grade_notebook(job: dict) -> dict:
    from tutor import checking, registry

    began = time.monotonic()
    problems = [registry.get(pid) for pid in job["problems"]]
    session = Session(job["cells"], limits_mod.Limits(**job["limits"]), job.get("hide", []))
    rows, notes = [], []
    try:
        run = session.start()
        if not run.finished:
            reason = _run_failure(run)
            for p in problems:
                rows.append(_row(job, p, "timeout" if "time limit" in run.reason else "error",
                                 reason))
        else:
            if session.skip:
                notes.append("skipped code cell " + ", ".join(str(c + 1) for c in sorted(
                    session.skip)) + ": it stopped the notebook's process or ran over the "
                    "time limit, so the cells after it were run without it")
            for e in run.errors[:5]:
                notes.append(f"code cell {e.get('cell', 0) + 1} raised {e.get('error')}")
            found = None
            try:
                reply, _ = session.request({"op": "inspect", "names": [p.name for p in problems]},
                                           [], time.monotonic() + 30)
                found = reply.get("functions")
            except (Hung, Died):
                session.stop()
            if not isinstance(found, dict):
                reason = ("The notebook could not be graded: after its cells ran, its process "
                          "did not answer the grader as expected (a cell forged or garbled the "
                          "grader's messages, or stopped the process).")
                rows = [_row(job, p, "error", reason) for p in problems]
                problems = []
            for p in problems:
                info = found.get(p.name) if isinstance(found.get(p.name), dict) else {}
                rows.append(_check(checking, job, p, session, info))
    finally:
        session.stop(polite=True)
    return {
        "learner": job["learner"], "notebook": job["notebook"], "file": job["file"],
        "key": job["key"], "hash": job["hash"], "rows": rows,
        "log": {"learner": job["learner"], "notebook": job["notebook"], "file": job["file"],
                "hash": job["hash"], "seconds": round(time.monotonic() - began, 3),
                "cells_seconds": round(run.seconds, 3), "starts": session.starts,
                "cells": len(job["cells"]), "cell_errors": run.errors[:10],
                "skipped_cells": sorted(session.skip), "limits_hit": _limits_hit(run, rows),
                "worker_exit": session.exits, "workers": session.workers,
                "isolation": run.isolation, "notes": notes},
    }


def _run_failure(run: Run) -> str:
    where = f" in cell {run.cell + 1}" if run.cell is not None else ""
    return f"The notebook could not be run: it {run.reason}{where}, so its functions could " \
        "not be checked. Run it from the top (Kernel → Restart and run all) to see why."


def _limits_hit(run: Run, rows: list[dict]) -> list[str]:
    hit = []
    if "time limit" in run.reason:
        hit.append("notebook time limit")
    if any(r["status"] == "timeout" for r in rows):
        hit.append("check time limit")
    if any("MemoryError" in (e.get("error") or "") for e in run.errors):
        hit.append("memory")
    return hit


def _check(checking, job: dict, problem, session: Session, info: dict) -> dict:
    seed = seed_for(job["learner"], job["notebook"], problem.id)
    state = info.get("state", "missing")
    if state == "missing":
        fn = None
    elif state == "not_callable":
        fn = wire.opaque(info.get("type", "object"))
    elif state == "generator":
        fn = _generator
    elif state == "async":
        fn = _coroutine
    elif state == "stub":
        fn = _stub
    else:
        fn = Proxy(session, problem, info.get("params"))
    try:
        result = checking.run(problem, fn, seed=seed)
    except Exception as e:  # never lose a row to the engine
        return _row(job, problem, "error", f"The check itself failed ({type(e).__name__}: "
                    f"{str(e)[:200]}); tell your instructor.", seed=seed)
    message = result.message
    similar = [s for s in info.get("similar", []) if isinstance(s, str)][:2]
    if fn is None and similar:
        message = (f"No function named {problem.name} was found, but there is "
                   f"{' and '.join(similar)}: rename it `{problem.name}`.")
    return _row(job, problem, result.status, message, misconception=result.misconception,
                title=result.title, link=result.link, seed=seed)


def _row(job: dict, problem, status: str, message: str, misconception: str | None = None,
         title: str = "", link: str | None = None, seed: int | None = None) -> dict:
    passed = status == "passed"
    return {"learner": job["learner"], "notebook": job["notebook"], "problem": problem.id,
            "status": status, "misconception": misconception or "",
            "points": problem.points if passed else 0, "max_points": problem.points,
            "message": message, "title": title or "", "link": link or "",
            "hint": "" if passed or not problem.hints else problem.hints[0],
            "lesson": f"notebooks/{problem.chapter}.ipynb", "seed": seed}
