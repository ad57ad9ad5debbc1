"""The sandboxed worker: `python -m tutor.grade.worker FD`, started by the grading process.

It imports numpy, torch, scipy, IPython and `tutor` once, then waits on its control socket. For
each notebook the grader sends a socket of its own; the worker forks a fresh child for it, and
only that child ever runs learner code:

    child: new session → no network, private /tmp, hidden folders, own uid → resource limits →
           run the cells with IPython's shell (magics work; tutor.check does nothing) →
           answer the grader's calls: call the learner's function, send back plain data.

The child never decides anything: the grader compares and diagnoses. Nothing is pickled.
"""

from __future__ import annotations

import os

# No thread pools before the fork: torch's and OpenMP's do not survive it.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["MPLBACKEND"] = "Agg"

import inspect  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

from tutor.grade import limits, wire  # noqa: E402

CONTROL_MAX = 1 << 16
_shell = None


def preload() -> None:
    """Everything a notebook would spend seconds importing, imported once before any fork."""
    global _shell
    import numpy  # noqa: F401

    try:
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
    except (ImportError, RuntimeError):
        pass
    for name in ("scipy.optimize", "scipy.special", "matplotlib.pyplot"):
        try:
            __import__(name)
        except ImportError:
            pass
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    import tutor
    import tutor.checking  # noqa: F401

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.xmode = "Plain"
    _shell = InteractiveShell.instance(config=config)
    _quiet_tutor(tutor)


def _quiet_tutor(tutor) -> None:
    """The notebook's own `tutor.check` lines do nothing here: the grader checks, once."""
    def nothing(*args, **kwargs):
        return None

    for name in ("check", "hint", "solution", "progress", "quiz"):
        setattr(tutor, name, nothing)


# ---------------------------------------------------------------------------------------------
# The zygote: one process, forks a child per notebook


def main(argv: list[str]) -> int:
    limits.die_with_parent()
    control = socket.socket(fileno=int(argv[0]))
    try:  # orphaned grandchildren come back to us, to be reaped and killed
        limits._libc().prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass
    preload()
    control.send(json.dumps({"ready": os.getpid(), "root": os.geteuid() == 0}).encode())
    jobs: dict[int, int | None] = {}
    counter = 0
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, CONTROL_MAX, 1)
        except OSError:
            data, fds = b"", []
        if not data:
            break
        request = json.loads(data)
        if request.get("op") == "start" and fds:
            counter += 1
            uid = limits.UID_BASE + (os.getpid() % 30000) * 16 + counter % 16 \
                if os.geteuid() == 0 else None
            pid = os.fork()
            if pid == 0:
                control.close()
                _child(socket.socket(fileno=fds[0]), request, uid)  # never returns
            os.close(fds[0])
            jobs[pid] = uid
            control.send(json.dumps({"pid": pid, "uid": uid}).encode())
        elif request.get("op") == "end":
            pid = int(request["pid"])
            status = _end(pid, jobs.pop(pid, None), float(request.get("wait") or 0))
            control.send(json.dumps({"exit": status}).encode())
        else:
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"error": "unknown request"}).encode())
    for pid, uid in jobs.items():
        _end(pid, uid)
    return 0


def _end(pid: int, uid: int | None, wait: float = 0.0) -> str:
    """Kill the child's whole process group (and everything of its uid), reap, and say how it
    ended. `wait`: seconds it may take to leave by itself first."""
    import time

    status = None
    give_up = time.monotonic() + wait
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return "gone"
        if done:
            break
        status = None
        if time.monotonic() >= give_up:
            break
        time.sleep(0.005)
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass
    if uid is not None:
        limits.kill_uid(uid)
    if status is None:
        _, status = os.waitpid(pid, 0)
        killed = True
    else:
        killed = False
    while True:  # orphans re-parented to us
        try:
            other, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if other == 0:
            break
    return describe(status, killed)


def describe(status: int, killed: bool = False) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if killed and sig == signal.SIGKILL:
            return "stopped by the grader"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"killed by {name}"
    code = os.WEXITSTATUS(status)
    return "exit 0" if code == 0 else f"exit code {code}"


# ---------------------------------------------------------------------------------------------
# The child: one notebook, walled in


def _child(sock: socket.socket, request: dict, uid: int | None) -> None:
    try:
        os.setsid()
        keep = sock.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, 1 << 16)
        work, notes = limits.isolate([str(p) for p in request.get("hide", [])], uid)
        os.chdir(work)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        out = os.open(os.path.join(work, "output.txt"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(devnull)
        home = os.path.join(work, "home")
        os.makedirs(os.path.join(home, ".tutor"), exist_ok=True)
        keep_env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
        os.environ.clear()
        os.environ.update(keep_env, HOME=home, TUTOR_HOME=os.path.join(home, ".tutor"),
                          TMPDIR=work, MPLBACKEND="Agg", OMP_NUM_THREADS="1",
                          MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", TUTOR_GRADING="1",
                          PYTHONDONTWRITEBYTECODE="1")
        limits.die_with_parent()  # again: a change of user clears it
        spec = limits.Limits(**request.get("limits", {}))
        limits.apply(spec, limits.address_space())
        _serve(sock, notes)
    except BaseException:
        try:
            traceback.print_exc()
        finally:
            os._exit(70)
    os._exit(0)


def _serve(sock: socket.socket, notes: list[str]) -> None:
    wire.send(sock, {"isolation": notes})
    header, _ = wire.receive(sock)
    cells = header.get("cells")
    skip = set(header.get("skip", []))
    if not isinstance(cells, list) or not all(isinstance(c, str) for c in cells):
        raise wire.WireError("no cells")
    shell = _shell
    errors = []
    me = os.getpid()
    for i, source in enumerate(cells):
        if i in skip:
            continue
        wire.send(sock, {"cell": i})
        try:
            result = shell.run_cell(source, store_history=False, silent=False)
        except BaseException as e:  # the shell itself failed: note it and go on
            _only(me)
            errors.append({"cell": i, "error": _error_name(e)})
            continue
        _only(me)
        error = result.error_in_exec or result.error_before_exec
        if error is not None:
            errors.append({"cell": i, "error": _error_name(error)})
    wire.send(sock, {"ran": len(cells), "errors": errors[:50]})
    while True:
        try:
            header, blobs = wire.receive(sock)
        except EOFError:
            return
        op = header.get("op")
        if op == "inspect":
            wire.send(sock, {"functions": {n: _inspect(shell.user_ns, n)
                                           for n in header.get("names", [])[:100]}})
        elif op == "call":
            reply, out = _call(shell.user_ns, header, blobs)
            _only(me)
            wire.send(sock, reply, out)
        else:
            return


def _only(me: int) -> None:
    """A copy the learner's code forked (`os.fork()` in a cell) must not go on to talk to the
    grader: only the child itself does."""
    if os.getpid() != me:
        os._exit(0)


def _error_name(e: BaseException) -> str:
    try:
        text = str(e)[:300]
    except Exception:
        text = ""
    name = type(e).__name__
    return f"{name}: {text}" if text else name


_RENAMED = "(my_?)?{name}(_?v?\\d+)?"


def _inspect(ns: dict, name: str) -> dict:
    """What the notebook holds under `name`, and functions named nearly like it."""
    import difflib

    import tutor.checking

    others = [k for k, v in list(ns.items()) if isinstance(k, str) and callable(v)
              and not k.startswith("_") and not isinstance(v, type) and k != name]
    renamed = re.compile(_RENAMED.format(name=re.escape(name)), re.IGNORECASE)
    similar = [k for k in others if renamed.fullmatch(k)][:2] or \
        difflib.get_close_matches(name, others, n=2, cutoff=0.85)
    info: dict = {"similar": similar[:2]}
    if name not in ns:
        return dict(info, state="missing")
    fn = ns[name]
    if not callable(fn):
        return dict(info, state="not_callable", type=type(fn).__name__[:60])
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        return dict(info, state="generator")
    if inspect.iscoroutinefunction(fn):
        return dict(info, state="async")
    try:
        if tutor.checking.is_stub(fn):
            return dict(info, state="stub")
    except Exception:
        pass
    params = None
    try:
        params = [[p.name, int(p.kind), p.default is not inspect.Parameter.empty]
                  for p in inspect.signature(fn).parameters.values()]
    except (TypeError, ValueError):
        pass
    return dict(info, state="ok", params=params)


def _snapshot(x):
    import numpy as np

    if isinstance(x, np.ndarray):
        return x.copy()
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        return x.detach().clone()
    if isinstance(x, list):
        import copy

        return copy.deepcopy(x)
    return None


def _same(a, b) -> bool:
    import numpy as np

    try:
        if type(a).__module__.startswith("torch"):
            import torch

            return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(
                a.detach(), b) or torch.equal(a.detach().isnan(), b.isnan()) and
                torch.equal(a.detach().nan_to_num(), b.nan_to_num()))
        if isinstance(a, np.ndarray):
            return a.shape == b.shape and a.dtype == b.dtype and bool(
                np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        return bool(a == b)
    except Exception:
        return False


def _call(ns: dict, header: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
    """Call the learner's function on the decoded arguments; the reply is plain data.

    With `repeat` > 1 (a sampler called again and again on the same arguments and the same
    Generator), the call is made up to that many times in a row, each continuing the
    Generator where the last one left it, and the replies come back as one batch."""
    name = header.get("name")
    fn = ns.get(name) if isinstance(name, str) else None
    args = wire.decode(header.get("args"), blobs)
    kwargs = wire.decode(header.get("kwargs"), blobs)
    if not isinstance(args, list) or not isinstance(kwargs, dict) or not callable(fn):
        return {"raised": {"type": "TypeError", "message": f"{name} is not a function"}}, []
    repeat = header.get("repeat", 1)
    repeat = repeat if type(repeat) is int and 1 <= repeat <= 1024 else 1
    encoder = wire.Encoder(strict=False)
    if repeat == 1:
        return _call_once(fn, args, kwargs, encoder), encoder.blobs
    batch = []
    for _ in range(repeat):
        reply = _call_once(fn, args, kwargs, encoder)
        batch.append(reply)
        if "raised" in reply or "mutated" in reply or encoder.size > wire.MAX_BLOBS // 4:
            break
    return {"batch": batch}, encoder.blobs


def _call_once(fn, args: list, kwargs: dict, encoder) -> dict:
    values = [*args, *kwargs.values()]
    before = [_snapshot(v) for v in values]
    torch_inputs = [v for v in values if type(v).__module__.startswith("torch")
                    and getattr(v, "requires_grad", False)]
    seen: set = set()
    import numpy as np

    try:
        if torch_inputs:
            with _recording(seen):
                value = fn(*args, **kwargs)
        else:
            value = fn(*args, **kwargs)
    except BaseException as e:
        reply = {"raised": _raised(e)}
        value = None
    else:
        reply = {}
    if "raised" not in reply:
        try:
            reply["value"] = encoder.encode(value)
        except wire.WireError as e:
            reply = {"raised": {"type": "MemoryError", "message": str(e)}}
    if torch_inputs and "raised" not in reply:
        reply["grads"] = _gradients(value, torch_inputs, encoder)
    if seen:
        reply["torch_calls"] = sorted(seen)[:200]
    mutated = {}
    for i, (v, b) in enumerate(zip(values, before, strict=True)):
        if b is not None and not _same(v, b):
            mutated[str(i)] = encoder.encode(v)
    if mutated:
        reply["mutated"] = mutated
    rngs = {str(i): encoder.encode(v) for i, v in enumerate(values)
            if isinstance(v, np.random.Generator)}
    if rngs:
        reply["rngs"] = rngs
    return reply


def _gradients(value, inputs: list, encoder) -> list | None:
    """d value / d input for each input that requires a gradient, when the value is one number
    that autograd can differentiate; None where no gradient reaches an input."""
    import torch

    if not isinstance(value, torch.Tensor) or not value.requires_grad or value.numel() != 1:
        return None
    try:
        value.reshape(()).backward()
    except Exception:
        return None
    return [None if t.grad is None else encoder.encode(t.grad) for t in inputs]


def _recording(seen: set):
    """Note the name of every torch function the learner's code calls (the grader replays the
    names, so that its checks that forbid some of them still see them)."""
    from torch.overrides import TorchFunctionMode

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if isinstance(name, str) and len(seen) < 200:
                seen.add(name[:100])
            return func(*args, **(kwargs or {}))

    return Record()


def _raised(e: BaseException) -> dict:
    """The exception as plain data: a builtin type it is an instance of, its message, and the
    learner's line where it was raised."""
    import builtins

    kind = "RuntimeError"
    for cls in type(e).__mro__:
        if getattr(builtins, cls.__name__, None) is cls and issubclass(cls, BaseException):
            kind = cls.__name__
            break
    try:
        message = str(e)[:2000]
    except Exception:
        message = ""
    info = {"type": kind, "message": message, "learner_type": type(e).__name__[:60]}
    try:
        frames = traceback.extract_tb(e.__traceback__)
        own = [f for f in frames if _learner_file(f.filename)]
        if own:
            f = own[-1]
            info.update(lineno=f.lineno, line=(f.line or "")[:300],
                        cell=f.filename.startswith("<") or "ipykernel" in f.filename,
                        file=os.path.basename(f.filename)[:80])
    except Exception:
        pass
    return info


def _learner_file(filename: str) -> bool:
    if filename.startswith("<"):
        return not filename.startswith("<frozen")
    path = os.path.abspath(filename)
    library = (os.path.dirname(os.path.abspath(os.__file__)),
               os.path.dirname(os.path.dirname(os.path.abspath(wire.__file__))))
    return not (path.startswith(library) or "site-packages" in path or "dist-packages" in path
                or filename.endswith((".pyx", ".pxd")))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
