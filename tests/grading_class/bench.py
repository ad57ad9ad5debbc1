"""The grading benchmark of `make bench`: a class of LEARNERS × the seven practice notebooks
(01-07), executed plainly with nbclient (a fresh kernel per notebook, two at a time) and graded
by `python -m tutor grade -j 2`, measured in one run. Budget: grading at most 0.35× nbclient.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grading_class import build_plain

GRADING_BUDGET = 0.35
CHAPTERS = ["01_logits", "02_softmax", "03_stability", "04_log_softmax", "05_cross_entropy",
            "06_temperature", "07_attention_masking"]


def _nbclient(path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute(
        stderr=subprocess.DEVNULL)  # the kernels' start-up warnings, 210 of them


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            # PSS: a page a forked child shares with its worker counts once, split between them
            total += getattr(p.memory_full_info(), "pss", None) or p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _grade(folder: Path, out: Path) -> tuple[float, int]:
    """Seconds and peak memory (the whole process tree's proportional set size) of one run."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tutor", "grade", str(folder), "--out",
                                str(out), "-j", "2", "--quiet"], stdout=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"tutor grade exited {process.returncode}")
    return seconds, peak


def bench_grading(learners: int = 30) -> None:
    print(f"\ngrading a class of {learners} learners × {len(CHAPTERS)} practice notebooks, "
          "2 processes")
    with tempfile.TemporaryDirectory(prefix="tutor-grade-bench-") as tmp:
        folder = Path(tmp) / "class"
        build_plain(folder, learners, CHAPTERS)
        notebooks = sorted(folder.rglob("*.ipynb"))
        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:  # each kernel is its own process
            list(pool.map(_nbclient, notebooks))
        plain = time.perf_counter() - start
        graded, peak = _grade(folder, Path(tmp) / "out")
        again, _ = _grade(folder, Path(tmp) / "out")
    print(f"{'what':<46}{'s':>10}{'':>12}{'budget':>10}{'ratio':>8}")
    print(f"{'nbclient, a fresh kernel per notebook':<46}{plain:>10.1f}")
    flag = " !" if graded / plain > GRADING_BUDGET else ""
    print(f"{'tutor grade -j 2':<46}{graded:>10.1f}{graded / plain:>11.2f}x"
          f"{GRADING_BUDGET:>9.2f}x{graded / plain / GRADING_BUDGET:>7.2f}{flag}")
    print(f"{'tutor grade again (nothing changed)':<46}{again:>10.1f}")
    print(f"  peak memory of the grading run (all its processes, PSS): {peak / 2**20:.0f} MB "
          f"({len(notebooks)} notebooks)")


if __name__ == "__main__":
    bench_grading(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
