"""The room at a glance: what the dashboard shows, kept up to date result by result.

    room = Room(problem_order=["sigmoid", "softmax"])
    room.add("Ada", "softmax", "failed", "no_max_shift", time=1000.0)
    room.state()["problems"][0]   # {"id": "softmax", "passed": 0, "trying": 1, ...}

A learner is *passed* on a problem from their first passing check on; *trying* when they have
checked it but not passed; *not started* otherwise. A mistake is counted *now* for the learners
whose latest check of the problem named it, and *ever* for all who were told it once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

STUCK_SHOWN = 10
TIMELINE_BUCKET = 60.0  # seconds per bar of the passes timeline


@dataclass
class Work:
    """One learner on one problem."""

    first: float
    last: float = 0.0
    attempts: int = 0
    passed: float | None = None
    last_status: str = ""
    last_misconception: str | None = None
    misconceptions: set = field(default_factory=set)


class Room:
    def __init__(self, problem_order: list[str] | None = None, names: dict[str, str] | None = None):
        self.order = {p: i for i, p in enumerate(problem_order or [])}
        self.names = names or {}  # misconception id -> its name, for the histogram's labels
        self.learners: dict[str, dict[str, Work]] = {}
        self.latest: dict[str, tuple[float, str]] = {}  # learner -> (time, problem) of last check
        self.passes: list[float] = []
        self.version = 0

    def add_learner(self, name: str) -> None:
        self.learners.setdefault(name, {})

    def add(self, name: str, problem: str, status: str, misconception: str | None,
            time: float, attempt: int = 0) -> None:
        """Count one result (results may arrive out of order; the latest by time wins)."""
        self.version += 1
        work = self.learners.setdefault(name, {}).get(problem)
        if work is None:
            work = self.learners[name][problem] = Work(first=time)
        work.first = min(work.first, time)
        if status != "not_attempted":
            work.attempts += 1
        if misconception:
            work.misconceptions.add(misconception)
        if time >= work.last:
            work.last, work.last_status, work.last_misconception = time, status, misconception
        if status == "passed" and (work.passed is None or time < work.passed):
            if work.passed is not None:
                self.passes.remove(work.passed)
            work.passed = time
            self.passes.append(time)
        if name not in self.latest or time >= self.latest[name][0]:
            self.latest[name] = (time, problem)

    def _rank(self, problem: str) -> tuple:
        return (self.order.get(problem, len(self.order)), problem)

    def state(self, now: float) -> dict:
        """Everything the dashboard draws, as plain JSON-able data."""
        problems: dict[str, dict] = {}
        mistakes: dict[str, Counter] = {}
        ever: dict[str, Counter] = {}
        stuck, roster = [], []
        for name, works in self.learners.items():
            passed = 0
            for problem, w in works.items():
                row = problems.setdefault(problem, {"id": problem, "passed": 0, "trying": 0,
                                                    "checks": 0})
                row["checks"] += w.attempts
                if w.passed is not None:
                    row["passed"] += 1
                    passed += 1
                elif w.last_status != "not_attempted" or w.attempts:
                    row["trying"] += 1
                if w.passed is None and w.last_misconception:
                    mistakes.setdefault(problem, Counter())[w.last_misconception] += 1
                for m in w.misconceptions:
                    ever.setdefault(problem, Counter())[m] += 1
            current = self.latest.get(name)
            w = works.get(current[1]) if current else None
            if w is not None and w.passed is None and w.attempts:
                m = w.last_misconception
                stuck.append({"name": name, "problem": current[1], "since": w.first,
                              "attempts": w.attempts, "misconception": m,
                              "mistake": self.names.get(m, m) if m else None})
            roster.append({"name": name, "passed": passed, "last": current[0] if current else None,
                           "current": current[1] if current else None})
        total = len(self.learners)
        rows = sorted(problems.values(), key=lambda r: self._rank(r["id"]))
        for row in rows:
            row["not_started"] = total - row["passed"] - row["trying"]
            row["mistakes"] = [
                {"id": m, "name": self.names.get(m, m), "now": mistakes.get(row["id"], {}).get(m, 0),
                 "ever": n}
                for m, n in ever.get(row["id"], Counter()).items()]
            row["mistakes"].sort(key=lambda m: (-m["now"], -m["ever"], m["id"]))
        stuck.sort(key=lambda s: s["since"])
        roster.sort(key=lambda r: (-r["passed"], r["name"].casefold()))
        top = max(((m["now"], m["ever"], m["id"], m["name"], row["id"]) for row in rows
                   for m in row["mistakes"]), default=None)
        return {
            "version": self.version,
            "now": now,
            "learners": total,
            "problems": rows,
            "stuck": stuck[:STUCK_SHOWN],
            "roster": roster,
            "top_mistake": None if top is None else {"id": top[2], "name": top[3],
                                                     "problem": top[4], "now": top[0],
                                                     "ever": top[1]},
            "timeline": self._timeline(),
        }

    def _timeline(self) -> list[dict]:
        """Passes per minute, from the first pass to the last (empty minutes included)."""
        if not self.passes:
            return []
        buckets = Counter(int(t // TIMELINE_BUCKET) for t in self.passes)
        first, last = min(buckets), max(buckets)
        first = max(first, last - 119)  # two hours at most
        return [{"t": b * TIMELINE_BUCKET, "passes": buckets.get(b, 0)}
                for b in range(first, last + 1)]
