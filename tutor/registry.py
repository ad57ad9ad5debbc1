"""The registry: every problem and quiz, declared one module per chapter in `tutor/chapters/`
(`chNN_topic.py`).

Chapter modules are found by name and imported on first use, so `import tutor` stays light.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from tutor import chapters
from tutor.problem import Problem, Quiz


@cache
def _load() -> dict[str, Problem | Quiz]:
    items: dict[str, Problem | Quiz] = {}
    for info in sorted(pkgutil.iter_modules(chapters.__path__), key=lambda m: m.name):
        if not info.name.startswith("ch"):
            continue
        module = importlib.import_module(f"{chapters.__name__}.{info.name}")
        for item in [*getattr(module, "PROBLEMS", ()), *getattr(module, "QUIZZES", ())]:
            if item.id in items:
                raise ValueError(f"{item.id!r} is declared twice (again in {info.name})")
            items[item.id] = item
    return items


def all_items() -> dict[str, Problem | Quiz]:
    """Every problem and quiz by id, in chapter order."""
    return _load()


def problems() -> list[Problem]:
    return [p for p in _load().values() if isinstance(p, Problem)]


def quizzes() -> list[Quiz]:
    return [q for q in _load().values() if isinstance(q, Quiz)]


def get(id: str) -> Problem | Quiz:
    """The problem or quiz `id`; a KeyError suggests the closest known ids."""
    items = _load()
    if id in items:
        return items[id]
    import difflib

    close = difflib.get_close_matches(str(id), items, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise KeyError(f"There is no problem or quiz called {id!r}.{hint} tutor.problems() lists them.")
