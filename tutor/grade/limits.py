"""What a worker may use, and the walls around it: resource limits, a private /tmp, hidden
folders, no network, its own user id. Applied in the forked child before any learner code runs.

Every wall is tried and what could not be raised is said, so the log tells the instructor how
safe a run was on their machine (`isolation` in grading.jsonl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
from dataclasses import dataclass

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND = 1, 2, 4, 32, 4096
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG = 1
# Per-job user ids, far from any real account: one per concurrent job, so a job's processes can
# all be found and killed by id, and one job cannot signal or read another's.
UID_BASE = 420_000


@dataclass(frozen=True)
class Limits:
    """The limits of one notebook's worker. Times in seconds, sizes in MB."""

    timeout: float = 60.0
    """Wall clock for running the notebook's cells."""
    memory: int = 2048
    """Address space the learner's code may add to what the worker had already mapped."""
    cpu: float = 300.0
    """CPU seconds over the worker's whole life (cells and every call)."""
    processes: int = 32
    file_size: int = 64
    open_files: int = 256

    def as_dict(self) -> dict:
        return {"timeout": self.timeout, "memory": self.memory, "cpu": self.cpu,
                "processes": self.processes, "file_size": self.file_size}


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies (Linux)."""
    try:
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _unshare(flags: int) -> bool:
    libc = _libc()
    return libc.unshare(ctypes.c_int(flags)) == 0


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> bool:
    libc = _libc()
    return libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                      ctypes.c_ulong(flags), data.encode() if data else None) == 0


def isolate(hide: list[str], uid: int | None) -> tuple[str, list[str]]:
    """Wall this process in: a new network namespace (no network), a new mount namespace with a
    private /tmp and the folders in `hide` covered by empty read-only ones, then its own uid.

    Returns the work folder to use and the notes of what could not be done."""
    notes: list[str] = []
    root = os.geteuid() == 0
    namespaced = False
    if root:
        namespaced = _unshare(CLONE_NEWNS | CLONE_NEWNET)
    in_user_namespace = False
    if not namespaced:
        real_uid, real_gid = os.getuid(), os.getgid()
        if _unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET):
            namespaced = in_user_namespace = True
            try:
                with open("/proc/self/setgroups", "w") as f:
                    f.write("deny")
                with open("/proc/self/uid_map", "w") as f:
                    f.write(f"0 {real_uid} 1")
                with open("/proc/self/gid_map", "w") as f:
                    f.write(f"0 {real_gid} 1")
            except OSError:
                pass
    if not namespaced:
        notes.append("network not removed and folders not hidden: this machine allows no new "
                     "namespaces (run the grader as root, or enable unprivileged user "
                     "namespaces)")
    work = None
    if namespaced:
        _mount("none", "/", None, MS_REC | MS_PRIVATE)
        kept = _open_code_folders()
        if _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777"):
            work = "/tmp/work"
            for place in ("/var/tmp", "/dev/shm"):
                if os.path.isdir(place):
                    _mount("tmpfs", place, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777")
            _restore_code_folders(kept, notes)
        else:
            notes.append("no private /tmp")
        for fd in kept.values():
            os.close(fd)
        if work is not None and root and uid is not None and not in_user_namespace:
            _expose_python(notes)
        for folder in hide:
            if os.path.isdir(folder) and not _mount("tmpfs", folder, "tmpfs",
                                                    MS_RDONLY | MS_NOSUID | MS_NODEV,
                                                    "size=4k,mode=0555"):
                notes.append(f"could not hide {folder}")
    if work is None:
        import tempfile

        work = tempfile.mkdtemp(prefix="tutor-work-")
    else:
        os.makedirs(work, exist_ok=True)
    if root and uid is not None and not in_user_namespace:
        try:
            os.chown(work, uid, uid)
            os.chmod(work, 0o700)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        except OSError as e:
            if os.geteuid() == 0:  # still root: refuse to run learner code as root
                raise RuntimeError(f"could not drop to the notebook's own user ({e})") from e
    elif uid is not None:
        notes.append("the worker runs as the grader's own user (not root): its leftover "
                     "processes are found by process group only")
    return work, notes


_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")


def _under_scratch(path: str) -> bool:
    return any(path == place or path.startswith(place + os.sep) for place in _SCRATCH)


def _open_code_folders() -> dict[str, int]:
    """The folders of code the worker may still import from (the `tutor` package, sys.path
    entries, Python itself) that lie under a scratch folder about to be replaced by an empty
    private one, e.g. a course cloned into /tmp: each opened, so that it can be mounted back
    read-only. Only code folders return, never the rest of /tmp (other learners' work)."""
    import sys

    import tutor

    candidates = {os.path.realpath(p) for p in [*tutor.__path__, *sys.path, sys.prefix,
                                               sys.base_prefix, sys.exec_prefix] if p}
    wanted = sorted(p for p in candidates if _under_scratch(p) and os.path.isdir(p))
    # A folder inside another one that comes back anyway needs no mount of its own.
    wanted = [p for p in wanted if not any(p.startswith(q + os.sep) for q in wanted if q != p)]
    opened = {}
    for path in wanted:
        try:
            opened[path] = os.open(path, os.O_PATH | os.O_DIRECTORY)
        except OSError:
            pass
    return opened


def _restore_code_folders(kept: dict[str, int], notes: list[str]) -> None:
    for path, fd in kept.items():
        try:
            os.makedirs(path, mode=0o755, exist_ok=True)
        except OSError:
            notes.append(f"code under {path} is not visible to the worker")
            continue
        if _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC):
            _mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
        else:
            notes.append(f"code under {path} is not visible to the worker")


def _world_reachable(path: str) -> bool:
    import stat

    parts = os.path.realpath(path).split(os.sep)
    for i in range(1, len(parts) + 1):
        folder = os.sep.join(parts[:i]) or os.sep
        try:
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _expose_python(notes: list[str]) -> None:
    """Python's own files under a folder only root may enter (/root/.pyenv): bind them read-only
    into the private /tmp and point sys.path and loaded packages there, so the worker can still
    import lazily once it is no longer root."""
    import sys

    prefixes = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix,
                                                     sys.exec_prefix)}, key=len, reverse=True)
    for i, prefix in enumerate(prefixes):
        if _world_reachable(prefix):
            continue
        target = f"/tmp/.python{i}"
        os.makedirs(target, mode=0o755)
        if not _mount(prefix, target, None, MS_BIND | MS_REC):
            notes.append(f"Python under {prefix} is not readable by the worker's user")
            continue
        _mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)

        def moved(path: str, prefix: str = prefix, target: str = target) -> str:
            real = os.path.realpath(path) if os.path.exists(path) else path
            return target + real[len(prefix):] if real.startswith(prefix + os.sep) or \
                real == prefix else path

        sys.path[:] = [moved(p) for p in sys.path]
        for module in list(sys.modules.values()):
            paths = getattr(module, "__path__", None)
            if isinstance(paths, list):
                paths[:] = [moved(p) for p in paths]
        sys.path_importer_cache.clear()


def apply(limits: Limits, base_address_space: int) -> None:
    """Resource limits for this process and all it starts."""
    mb = 1 << 20

    def cap(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    cap(resource.RLIMIT_AS, base_address_space + limits.memory * mb)
    cap(resource.RLIMIT_CPU, int(limits.cpu))
    cap(resource.RLIMIT_NPROC, limits.processes)
    cap(resource.RLIMIT_FSIZE, limits.file_size * mb)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    cap(resource.RLIMIT_CORE, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file too large fails to write, nothing more


def address_space() -> int:
    """This process's mapped address space in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def kill_uid(uid: int) -> None:
    """Kill every process of `uid` (from a short-lived child that becomes that uid): catches
    what left the process group with setsid. Only as root."""
    if os.geteuid() != 0:
        return
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
