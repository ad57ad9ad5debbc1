"""The progress table: every problem and quiz by chapter, passed / tried / untouched."""

from __future__ import annotations

import html
from dataclasses import dataclass

_MARK = {"passed": "✔ passed", "tried": "✘ tried", "untouched": "· untouched"}


@dataclass(frozen=True)
class Row:
    chapter: str
    id: str
    kind: str
    difficulty: str
    points: int
    state: str
    attempts: int


@dataclass(frozen=True)
class ProgressTable:
    rows: tuple[Row, ...]

    @classmethod
    def build(cls) -> ProgressTable:
        from tutor import progress_store as store
        from tutor import registry

        stored = store.load()["problems"]
        rows = []
        for item in registry.all_items().values():
            entry = stored.get(item.id, {})
            rows.append(Row(item.chapter, item.id, item.kind, item.difficulty, item.points,
                            store.state(entry), entry.get("attempts", 0)))
        rows.sort(key=lambda r: (r.chapter, r.kind != "problem"))
        return cls(tuple(rows))

    @property
    def score(self) -> tuple[int, int]:
        return (sum(r.points for r in self.rows if r.state == "passed"),
                sum(r.points for r in self.rows))

    def __str__(self) -> str:
        got, total = self.score
        lines = [f"Progress: {got} of {total} points"]
        chapter = None
        for r in self.rows:
            if r.chapter != chapter:
                chapter = r.chapter
                lines.append(f"\n{chapter}")
            lines.append(f"  {r.id:<32} {r.difficulty:<7} {_MARK[r.state]}"
                         + (f" ({r.attempts} attempt{'s' * (r.attempts != 1)})"
                            if r.attempts else ""))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        got, total = self.score
        colour = {"passed": "#2e7d32", "tried": "#c62828", "untouched": "#757575"}
        body = "".join(
            f"<tr><td>{html.escape(r.chapter)}</td><td><code>{html.escape(r.id)}</code></td>"
            f"<td>{r.difficulty}</td><td>{r.points}</td><td style='color:{colour[r.state]}'>"
            f"{_MARK[r.state]}</td><td>{r.attempts or ''}</td></tr>" for r in self.rows)
        return (f"<div><b>Progress: {got} of {total} points</b><table><thead><tr><th>chapter</th>"
                "<th>problem</th><th>level</th><th>points</th><th>state</th><th>attempts</th>"
                f"</tr></thead><tbody>{body}</tbody></table></div>")
