"""A class to grade, built from the course's own practice notebooks at test time.

    build(root)              # honest, mistaken and hostile learners under root/
    build_plain(root, 30)    # 30 learners × every practice notebook (the benchmark's class)

Honest learners hand in `solutions/`; a mistaken learner hands in a solution with one function
swapped for a known-wrong variant; each hostile learner tries one trick from the grader's
threat list. `EXPECT` says, per learner, what the gradebook must show.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SOLUTIONS = ROOT / "solutions"


def notebook(chapter: str) -> dict:
    return json.loads((SOLUTIONS / f"{chapter}.ipynb").read_text())


def code(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
            "execution_count": None}


def with_function(nb: dict, name: str, source: str) -> dict:
    """The notebook with the cell defining `name` replaced by `source`."""
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and f"def {name}(" in text:
            cell["source"] = source
            return nb
    raise KeyError(name)


def with_cells(nb: dict, *sources: str, at: int = 1) -> dict:
    nb = json.loads(json.dumps(nb))
    nb["cells"][at:at] = [code(s) for s in sources]
    return nb


def write(path: Path, nb: dict | str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, dict):
        nb = json.dumps(nb, indent=1)
    path.write_bytes(nb.encode() if isinstance(nb, str) else nb)


# Wrong answers, each a mistake the checks name (the grader must name it exactly as an
# in-process check with the same seed does).
GLOBAL_SUM = '''def softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum()
'''
LOG_OF_SOFTMAX = '''def log_softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return np.log(e / e.sum(axis=axis, keepdims=True))
'''
TEMPERATURE_TIMES = '''def softmax_temperature(z, T):
    if T <= 0:
        raise ValueError("T must be positive")
    x = np.asarray(z, dtype=float) * T
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''
FORBIDDEN_TORCH = '''import torch


def torch_cross_entropy(logits, targets):
    return torch.nn.functional.cross_entropy(logits, targets)
'''
HANG_SWALLOWING = '''def two_class_softmax(a, b):
    while True:
        try:
            try:
                while True:
                    pass
            except BaseException:
                pass
        except BaseException:
            pass
'''
CRASH = '''def softmax(z, axis=-1):
    import ctypes
    ctypes.string_at(0)
'''
ODD = '''def softmax(z, axis=-1):
    return object()
'''
EQUAL_TO_ALL = '''class Anything:
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__
    def __array__(self, dtype=None, copy=None):
        raise TypeError("no")


def softmax(z, axis=-1):
    return Anything()
'''
HOSTILE_MESSAGE = '''def softmax(z, axis=-1):
    raise ValueError("<script>window.pwned=1</script> =HYPERLINK(\\"http://x\\")")
'''


MISTAKES = {"02_softmax": {"softmax": GLOBAL_SUM},
            "04_log_softmax": {"log_softmax": LOG_OF_SOFTMAX},
            "05_cross_entropy": {"torch_cross_entropy": FORBIDDEN_TORCH}}
"""The mistaken learner's wrong functions: chapter → function → source."""


def _hostile(root: Path, others: Path, out: Path) -> dict[str, str]:
    """One learner per trick; returns learner → what the trick is."""
    ch02 = notebook("02_softmax")
    tricks = {}

    def add(name: str, what: str, nb) -> None:
        write(root / name / "02_softmax.ipynb", nb)
        tricks[name] = what

    add("h_invalid_json", "invalid JSON", '{"cells": [')
    add("h_not_a_notebook", "JSON that is not a notebook", '{"hello": "world"}')
    add("h_empty", "an empty file", "")
    add("h_syntax_error", "a syntax error in one cell",
        with_function(ch02, "softmax", "def softmax(z, axis=-1):\n    return (\n"))
    add("h_magics", "magics and shell escapes", with_cells(
        ch02, "%time x = 1", "%%capture\nprint('hidden')", "!echo hello", "%matplotlib inline"))
    add("h_loop", "an infinite loop in a cell", with_cells(ch02, "while True:\n    pass"))
    add("h_loop_try", "an infinite loop inside try/except at two levels", with_cells(
        ch02, "while True:\n    try:\n        try:\n            while True:\n                pass"
              "\n        except BaseException:\n            pass\n    except BaseException:\n"
              "        pass"))
    add("h_sys_exit", "sys.exit in a cell", with_cells(ch02, "import sys\nsys.exit(3)"))
    add("h_os_exit", "os._exit in a cell", with_cells(ch02, "import os\nos._exit(3)"))
    add("h_segfault", "a segfault in a cell", with_cells(ch02, "import ctypes\nctypes.string_at(0)"))
    add("h_memory_bomb", "a memory bomb", with_cells(
        ch02, "x = []\nwhile True:\n    x.append(bytearray(10 ** 8))"))
    add("h_fork_bomb", "a fork bomb", with_cells(
        ch02, "import os\nfor _ in range(10000):\n    try:\n        os.fork()\n"
              "    except OSError:\n        break"))
    add("h_left_running", "processes left running, ignoring SIGTERM", with_cells(
        ch02, "import subprocess, signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "subprocess.Popen(['sleep', '313'], start_new_session=True)\n"
              "subprocess.Popen(['sleep', '314'])"))
    add("h_hang", "a function that hangs, swallowing every interrupt",
        with_function(ch02, "two_class_softmax", HANG_SWALLOWING))
    add("h_crash_in_call", "a function that segfaults when called",
        with_function(ch02, "softmax", CRASH))
    add("h_odd_object", "a function that returns an odd object", with_function(ch02, "softmax", ODD))
    add("h_equal_to_all", "an object claiming equality with everything",
        with_function(ch02, "softmax", EQUAL_TO_ALL))
    add("h_renamed", "a renamed function", with_function(
        ch02, "softmax", "def my_softmax(z, axis=-1):\n    e = np.exp(z - np.max(z, axis=axis, "
                         "keepdims=True))\n    return e / e.sum(axis=axis, keepdims=True)\n"))
    add("h_missing", "a missing function", with_function(ch02, "softmax", "pass"))
    add("h_patcher", "patching tutor, numpy and builtins", with_cells(
        with_function(ch02, "softmax", GLOBAL_SUM),
        "import builtins, tutor, tutor.checking\nimport numpy as np\n"
        "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"
        "tutor.checking.run = lambda *a, **k: None\nbuiltins.isinstance = lambda *a: True",
        at=len(ch02["cells"])))
    add("h_copier", "looking for the answers: other learners, the solutions, tutor's chapters",
        with_function(ch02, "softmax", f'''import glob, json
softmax = None
for path in glob.glob({str(others)!r} + "/**/*.ipynb", recursive=True) + \\
        glob.glob({str(SOLUTIONS)!r} + "/*.ipynb"):
    try:
        cells = json.load(open(path))["cells"]
        exec("".join(next(c for c in cells if "def softmax(" in "".join(c["source"]))["source"]))
        break
    except Exception:
        pass
try:
    from tutor.chapters.ch02_softmax import softmax
except Exception:
    pass
if softmax is None:
    def softmax(z, axis=-1):
        return z
'''))
    add("h_vandal", "writing outside its folder: the results, other learners, /tmp",
        with_cells(ch02, f'''import glob, os
for path in glob.glob({str(others)!r} + "/**/*", recursive=True) + \\
        glob.glob({str(out)!r} + "/**/*", recursive=True):
    try:
        open(path, "w").write("vandalised")
    except Exception:
        pass
for path in [{str(out / "gradebook.csv")!r}, "/tmp/tutor-grade-vandal", os.path.expanduser("~/x")]:
    try:
        open(path, "w").write("vandalised")
    except Exception:
        pass
'''))
    add("h_forger", "forging the worker's messages and writing to every file descriptor",
        with_cells(ch02, '''import json, os, struct
head = json.dumps({"ran": 99, "errors": [], "blobs": []}).encode()
forged = struct.pack("!II", 4 + len(head), len(head)) + head
for fd in range(3, 64):
    try:
        os.write(fd, forged + b"garbage" * 10)
    except OSError:
        pass
print("PASSED softmax 100%")
'''))
    add("h_message", "an error message that would inject HTML and a formula",
        with_function(ch02, "softmax", HOSTILE_MESSAGE))
    add("=HYPERLINK(\"x\")", "a folder name that would inject into CSV", ch02)
    add("<script>alert(1)<", "a folder name that would inject into HTML", ch02)
    # zips
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("../escaped.ipynb", json.dumps(ch02))
        z.writestr("/abs/escaped.ipynb", json.dumps(ch02))
        link = zipfile.ZipInfo("linked.ipynb")
        link.external_attr = (0o120777 << 16)
        z.writestr(link, "/etc/passwd")
        z.writestr("bomb/03_stability.ipynb", b" " * (40 << 20))
        z.writestr("work/02_softmax.ipynb", json.dumps(ch02))
    write(root / "h_zip.zip", buffer.getvalue())
    tricks["h_zip"] = "a zip with ../ paths, a symlink and a compression bomb"
    write(root / "h_not_a_zip.zip", b"PK\x03\x04 not really")
    tricks["h_not_a_zip"] = "a zip that is not one"
    os.symlink(others, root / "h_symlink")
    tricks["h_symlink"] = "a learner folder that is a symbolic link"
    return tricks


def build(root: Path, others: Path, out: Path) -> dict[str, str]:
    """The test class: honest and mistaken learners, and every hostile trick.

    `others` is another learner's folder outside the class (a target for copying and
    vandalism), `out` the results folder the grader will write."""
    write(others / "victim" / "02_softmax.ipynb", notebook("02_softmax"))
    kinds = {}
    write(root / "honest_ann" / "02_softmax.ipynb", notebook("02_softmax"))
    write(root / "honest_ann" / "sub" / "renamed_stability.ipynb", notebook("03_stability"))
    write(root / "honest_ann" / "05_cross_entropy.ipynb", notebook("05_cross_entropy"))
    write(root / "honest_ann" / "06_temperature.ipynb", notebook("06_temperature"))
    kinds["honest_ann"] = "honest"
    for chapter, wrong in MISTAKES.items():
        nb = notebook(chapter)
        for name, source in wrong.items():
            nb = with_function(nb, name, source)
        write(root / "mistaken_bo" / f"{chapter}.ipynb", nb)
    kinds["mistaken_bo"] = "mistaken"
    kinds.update({name: "hostile: " + what for name, what in _hostile(root, others, out).items()})
    return kinds


def build_plain(root: Path, learners: int, chapters: list[str] | None = None) -> None:
    """`learners` learners, each handing in every practice notebook: most the solutions, every
    third one with a mistake in softmax."""
    chapters = chapters or sorted(p.stem for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    for i in range(learners):
        for chapter in chapters:
            nb = notebook(chapter)
            if chapter == "02_softmax" and i % 3 == 2:
                nb = with_function(nb, "softmax", GLOBAL_SUM)
            if chapter == "06_temperature" and i % 3 == 1:
                nb = with_function(nb, "softmax_temperature", TEMPERATURE_TIMES)
            write(root / f"learner{i:02d}" / f"{chapter}.ipynb", nb)
