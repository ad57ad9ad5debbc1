"""`make bench`: the course's timings against its budgets. Prints a table; never fails a build.

    python tests/bench.py            # everything
    python tests/bench.py --quick    # fewer repeats

Budgets (the course contract): `import tutor` under 0.3 s over a bare interpreter, with no
torch and no matplotlib; `tutor.check` with a correct answer under 50 ms median over all
problems and under 1 s for each (statistical problems excepted); a slider callback under 30 ms
median. The last column is the measured value over its budget: above 1.00 is over budget.
Workshop mode (tests/test_classroom_load.py): a check's time not joined, joined and with the
server unreachable; the server's results per second; 200 learners for 60 s, nothing lost, the
dashboard's p99 update under 1 s.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ["TUTOR_HOME"] = tempfile.mkdtemp(prefix="tutor-bench-")  # never the learner's own

IMPORT_BUDGET = 0.300
CHECK_MEDIAN_BUDGET = 0.050
CHECK_MAX_BUDGET = 1.0
CALLBACK_BUDGET = 0.030
# Checked with a chi-square test over many draws: allowed to be slow.
STATISTICAL = {"sample_next_token"}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def row(*cells, widths=(46, 10, 10, 10, 8)) -> str:
    return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                     for i, (c, w) in enumerate(zip(cells, widths, strict=False)))


def ratio(value: float, budget: float) -> str:
    flag = " !" if value > budget else ""
    return f"{value / budget:.2f}{flag}"


def _wall(code: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return time.perf_counter() - start, out


def bench_import(repeats: int) -> None:
    print("\n`import tutor`, over a bare interpreter (median of subprocess runs)")
    bare = statistics.median(_wall("pass")[0] for _ in range(repeats))
    runs = [_wall("import sys, tutor; print('torch' in sys.modules, "
                  "'matplotlib' in sys.modules)") for _ in range(repeats)]
    extra = statistics.median(t for t, _ in runs) - bare
    heavy = {name for _, out in runs for name, loaded in zip(("torch", "matplotlib"),
                                                             out.split(), strict=True)
             if loaded == "True"}
    print(row("what", "ms", "", "budget", "ratio"))
    print(row("import tutor", ms(extra), "", ms(IMPORT_BUDGET), ratio(extra, IMPORT_BUDGET)))
    print("  imports torch or matplotlib: "
          + (f"YES ({', '.join(sorted(heavy))}): over budget" if heavy else "no (ok)"))


def bench_checks(repeats: int) -> None:
    import tutor
    from tutor import registry

    print(f"\n`tutor.check` with the reference answer (1 warm-up, then {repeats} runs; "
          "* = statistical)")
    print(row("problem", "first ms", "median ms", "max ms", "max/1 s"))
    medians = []
    for problem in registry.problems():
        start = time.perf_counter()
        result = tutor.check(problem.id, problem.reference)
        first = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            tutor.check(problem.id, problem.reference)
            times.append(time.perf_counter() - start)
        statistical = problem.id in STATISTICAL or getattr(problem, "statistical", False)
        median, worst = statistics.median(times), max(first, *times)
        if not statistical:
            medians.append(median)
        label = problem.id + (" *" if statistical else "") + ("" if result.passed
                                                              else " (FAILED its own check)")
        print(row(label, ms(first), ms(median), ms(worst),
                  "-" if statistical else ratio(worst, CHECK_MAX_BUDGET)))
    if medians:
        overall = statistics.median(medians)
        print(row(f"median over {len(medians)} problems", "", ms(overall), "",
                  ratio(overall, CHECK_MEDIAN_BUDGET)) + "   (budget 50 ms)")


def _values(control, n: int) -> list:
    """About n values for a control, across its range, no two neighbours equal."""
    import numpy as np

    if hasattr(control, "options") and control.options:
        labels = list(getattr(control, "_options_values", None) or control.options)
        values = [labels[i % len(labels)] for i in range(n)]
    elif isinstance(control.value, bool):
        values = [bool(i % 2 == 0) != control.value for i in range(n)]
    elif hasattr(control, "min") and hasattr(control, "max"):
        sweep = np.linspace(control.min, control.max, n)
        if hasattr(control, "base"):  # FloatLogSlider: min and max are exponents
            sweep = control.base ** sweep
        values = [type(control.value)(v) for v in np.concatenate([sweep[1::2], sweep[::2][::-1]])]
    else:
        return []
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def bench_callbacks(steps: int) -> None:
    import tutor.widgets as widgets

    print(f"\nslider callbacks: `update()` per control, about {steps} values across its range")
    print(row("explorer.control", "calls", "median ms", "max ms", "ratio"))
    medians = []
    for info in pkgutil.iter_modules(widgets.__path__):
        module = importlib.import_module(f"tutor.widgets.{info.name}")
        if not hasattr(module, "examples"):
            continue
        for explorer in module.examples():
            times: list[float] = []
            original = explorer.update

            def timed(original=original, times=times):
                start = time.perf_counter()
                original()
                times.append(time.perf_counter() - start)

            explorer.update = timed
            for name, control in explorer.controls.items():
                times.clear()
                initial = control.value
                for value in _values(control, steps):
                    control.value = value
                control.value = initial
                label = f"{info.name}.{type(explorer).__name__}.{name}"
                if not times:
                    print(row(label, 0, "-", "-", "-") + "   (moving it ran no callback)")
                    continue
                median = statistics.median(times)
                medians.append(median)
                print(row(label, len(times), ms(median), ms(max(times)),
                          ratio(median, CALLBACK_BUDGET)))
    if medians:
        overall = statistics.median(medians)
        print(row(f"median over {len(medians)} controls", "", ms(overall), "",
                  ratio(overall, CALLBACK_BUDGET)) + "   (budget 30 ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    print("Budgets: import 300 ms; check median 50 ms, each under 1 s; callback median 30 ms.")
    print("Ratio = measured / budget; ` !` marks over budget.")
    bench_import(3 if args.quick else 7)
    bench_checks(3 if args.quick else 7)
    bench_callbacks(8 if args.quick else 20)
    from test_classroom_load import bench_classroom  # tests/ is this script's folder

    bench_classroom(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
