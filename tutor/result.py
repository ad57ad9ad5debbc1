"""The outcome of a check, rendered as a coloured box in a notebook and as plain text elsewhere."""

from __future__ import annotations

import html
from dataclasses import dataclass

STATUSES = ("passed", "failed", "not_attempted", "error", "timeout")

_LOOK = {
    # status: (label, border colour, background)
    "passed": ("Passed", "#2e7d32", "#e8f5e9"),
    "failed": ("Not yet", "#c62828", "#ffebee"),
    "not_attempted": ("Not attempted", "#616161", "#f5f5f5"),
    "error": ("Your code raised an error", "#c62828", "#ffebee"),
    "timeout": ("Time limit", "#ef6c00", "#fff3e0"),
}


@dataclass(frozen=True)
class Result:
    """What `tutor.check` returns. Truthy exactly when the check passed."""

    problem: str
    """The problem or quiz id."""
    status: str
    """One of "passed", "failed", "not_attempted", "error", "timeout"."""
    message: str
    """What was wrong, on which input, expected vs got, and what to try."""
    misconception: str | None = None
    """The id of the named mistake, when a buggy twin matched."""
    title: str = ""
    """A heading for the box; the misconception's name when there is one."""
    link: str | None = None
    """Lesson section that explains the idea."""
    seed: int | None = None
    """The seed the random inputs were drawn from, to reproduce a failure."""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __bool__(self) -> bool:
        return self.passed

    @property
    def label(self) -> str:
        return _LOOK[self.status][0]

    def __str__(self) -> str:
        head = f"{self.label}: {self.problem}"
        if self.title:
            head += f": {self.title}"
        lines = [head, self.message]
        if self.link:
            lines.append(f"See {self.link}")
        if not self.passed and self.status != "not_attempted":
            lines.append(f"Stuck? tutor.hint({self.problem!r})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        label, border, background = _LOOK[self.status]
        icon = "✔" if self.passed else ("…" if self.status == "not_attempted" else "✘")
        title = f"{icon} {label}: <code>{html.escape(self.problem)}</code>"
        if self.title:
            title += f" — {html.escape(self.title)}"
        parts = [f"<div style='font-weight:bold'>{title}</div>",
                 f"<div style='white-space:pre-wrap'>{html.escape(self.message)}</div>"]
        if self.link:
            parts.append(f"<div>Read more: <a href='{html.escape(self.link)}'>the lesson</a></div>")
        if not self.passed and self.status != "not_attempted":
            parts.append(f"<div style='color:#555'>Stuck? Run <code>tutor.hint("
                         f"{html.escape(repr(self.problem))})</code></div>")
        return (f"<div class='tutor-result tutor-{self.status}' style='border-left:6px solid "
                f"{border};background:{background};padding:8px 12px;margin:4px 0;"
                f"color:#222'>{''.join(parts)}</div>")
