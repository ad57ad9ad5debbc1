"""The class folder: one folder or zip per learner, holding practice notebooks.

Nothing here runs learner code. Zips are read in memory, member by member, with a size cap
(no `../` paths, no symlinks, no compression bombs written anywhere); folders are walked
without following symlinks. Each notebook becomes a `Job` (cells to run, the chapter's
problems), or, when it cannot be read, a record of rows saying why.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_NOTEBOOK = 16 << 20
MAX_FILES = 200


@dataclass
class Notebook:
    learner: str
    file: str
    """Path inside the learner's folder or zip."""
    data: bytes | None
    problem: str = ""
    """Why the file could not be read ("" when it could)."""


@dataclass
class Learner:
    name: str
    notebooks: list[Notebook] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def discover(root: Path) -> list[Learner]:
    """Every learner in the class folder, sorted by name."""
    learners = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            learners.append(Learner(entry.name, notes=["a symbolic link, not a folder: "
                                                        "not followed"]))
        elif entry.is_dir():
            learners.append(_from_folder(entry))
        elif entry.suffix.lower() == ".zip":
            learners.append(_from_zip(entry))
        elif entry.suffix.lower() == ".ipynb":
            learner = Learner(entry.stem)
            learner.notebooks.append(_read_file(entry.stem, entry, entry.name))
            learners.append(learner)
    return learners


def _read_file(learner: str, path: Path, name: str) -> Notebook:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_NOTEBOOK + 1)
    except OSError as e:
        return Notebook(learner, name, None, f"could not be read ({e.strerror})")
    if len(data) > MAX_NOTEBOOK:
        return Notebook(learner, name, None, f"is larger than {MAX_NOTEBOOK >> 20} MB")
    return Notebook(learner, name, data)


def _from_folder(folder: Path) -> Learner:
    learner = Learner(folder.name)
    stack = [folder]
    while stack and len(learner.notebooks) < MAX_FILES:
        current = stack.pop()
        for entry in sorted(current.iterdir(), key=lambda p: p.name):
            if entry.is_symlink():
                if entry.suffix == ".ipynb":
                    learner.notes.append(f"{entry.relative_to(folder)} is a symbolic link: "
                                         "not followed")
                continue
            if entry.is_dir() and not entry.name.startswith("."):
                stack.append(entry)
            elif entry.suffix.lower() == ".ipynb" and entry.is_file():
                name = entry.relative_to(folder).as_posix()
                learner.notebooks.append(_read_file(folder.name, entry, name))
    return learner


def _from_zip(path: Path) -> Learner:
    learner = Learner(path.stem)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        learner.notes.append(f"{path.name} is not a readable zip ({e})")
        return learner
    with archive:
        for info in archive.infolist()[:10_000]:
            name = info.filename
            if not name.lower().endswith(".ipynb") or info.is_dir():
                continue
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or ".." in parts or ":" in name:
                learner.notes.append(f"{name!r} in the zip points outside it: ignored")
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                learner.notes.append(f"{name} in the zip is a symbolic link: ignored")
                continue
            if "__MACOSX" in parts or parts[-1].startswith("._"):
                continue
            if len(learner.notebooks) >= MAX_FILES:
                break
            try:
                with archive.open(info) as member:
                    data = member.read(MAX_NOTEBOOK + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as e:
                learner.notebooks.append(Notebook(learner.name, name, None,
                                                  f"could not be unpacked ({e})"))
                continue
            if len(data) > MAX_NOTEBOOK:
                learner.notebooks.append(Notebook(learner.name, name, None,
                                                  f"unpacks to more than {MAX_NOTEBOOK >> 20} MB"))
                continue
            learner.notebooks.append(Notebook(learner.name, name, data))
    return learner


# ---------------------------------------------------------------------------------------------
# Reading a notebook and finding its chapter


def code_cells(data: bytes) -> tuple[list[str] | None, str]:
    """The code cells' sources, or None and why the file is not a notebook."""
    if not data.strip():
        return None, "is an empty file"
    try:
        nb = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        return None, f"is not valid JSON ({str(e)[:80]}): Jupyter cannot open it"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, "is JSON but not a Jupyter notebook: it has no list of cells"
    cells = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if isinstance(source, str):
            cells.append(source)
    return cells, ""


_DEF = re.compile(r"^\s*def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)
_CHECK = re.compile(r"tutor\.check\(\s*[\"']([A-Za-z_]\w*)[\"']")


def chapter_of(file: str, cells: list[str] | None, chapters: dict[str, list]) -> str | None:
    """The chapter whose problems the notebook holds (its functions and checks), else the one
    its file name starts with."""
    stem = PurePosixPath(file).name
    by_name = next((c for c in chapters if stem.startswith(c[:3]) and c[:2].isdigit()), None)
    if cells:
        text = "\n".join(cells)
        named = set(_DEF.findall(text)) | set(_CHECK.findall(text))
        scores = {c: sum(p.name in named or p.id in named for p in problems)
                  for c, problems in chapters.items()}
        best = max(scores.values(), default=0)
        if best > 0:
            top = [c for c, s in scores.items() if s == best]
            return by_name if by_name in top else top[0]
    return by_name


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shard_of(learner: str, n: int) -> int:
    """The shard (1..n) a learner belongs to: by a hash of the name, so it never depends on
    who else is in the class."""
    return int.from_bytes(hashlib.sha256(learner.encode()).digest()[:8], "big") % n + 1
