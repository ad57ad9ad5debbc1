"""Everything the learner reads, and its one renderer: a coloured box in a notebook, plain text in
a console.

A check's outcome is a `Result`; a hint, a model answer or a pointer ("there is no problem called
...") is a `Note`. Both render through `_box` (HTML) and `_lines` (text), so a message looks the
same wherever it comes from, and its text ends with the next step to take.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

STATUSES = ("passed", "failed", "not_attempted", "error", "timeout")

_LOOK = {
    # kind: (label, border colour, background)
    "passed": ("Passed", "#2e7d32", "#e8f5e9"),
    "failed": ("Not yet", "#c62828", "#ffebee"),
    "not_attempted": ("Not attempted", "#616161", "#f5f5f5"),
    "error": ("Your code raised an error", "#c62828", "#ffebee"),
    "timeout": ("Time limit", "#ef6c00", "#fff3e0"),
    "note": ("", "#1565c0", "#e3f2fd"),
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
    """The id of the named mistake (the most telling one when several are named)."""
    title: str = ""
    """A heading for the box; the misconception's name when there is one."""
    link: str | None = None
    """Lesson section that explains the idea."""
    seed: int | None = None
    """The seed the random inputs were drawn from, to reproduce a failure."""
    misconceptions: tuple[str, ...] = ()
    """Every named mistake, the most telling first; `misconception` is its first entry."""
    next_step: str | None = None
    """The last line of a failure's text; None: `tutor.hint(problem)`, "": the message already
    says what to do next."""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if self.misconception and not self.misconceptions:
            object.__setattr__(self, "misconceptions", (self.misconception,))

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __bool__(self) -> bool:
        return self.passed

    @property
    def label(self) -> str:
        return _LOOK[self.status][0]

    @property
    def next(self) -> str:
        """The next step, as the last line of the text ("" for a pass)."""
        if self.passed or self.status == "not_attempted":
            return ""
        if self.next_step is not None:
            return self.next_step
        return f"Stuck? tutor.hint({self.problem!r})"

    def _parts(self) -> tuple[str, str, str]:
        head = f"{self.label}: `{self.problem}`" + (f": {self.title}" if self.title else "")
        read = f"Read: {self.link}" if self.link else ""
        return head, read, self.next

    def __str__(self) -> str:
        head, read, step = self._parts()
        return _lines(head.replace("`", ""), self.message, read, step)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        icon = "✔" if self.passed else ("…" if self.status == "not_attempted" else "✘")
        head, _, step = self._parts()
        read = f"Read more: <a href='{html.escape(self.link)}'>the lesson</a>" if self.link \
            else ""
        return _box(self.status, f"{icon} {_inline(head)}", _paragraphs(self.message), read,
                    _inline(step))


class Note:
    """A hint, a model answer, or a pointer such as "there is no problem called 'sofmax'":
    Markdown-like text (`code`, **bold**, *italic*, ```python blocks```) shown in the same box as a
    result, and as plain text in a console."""

    def __init__(self, markdown: str):
        self.markdown = markdown

    def __str__(self) -> str:
        text = re.sub(r"```\w*\n?", "", self.markdown)
        return re.sub(r"\*\*(.+?)\*\*", r"\1", text).rstrip()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return _box("note", "", _paragraphs(self.markdown), "", "")


def _lines(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def _box(kind: str, title: str, body: str, read: str, step: str) -> str:
    _, border, background = _LOOK[kind]
    parts = [f"<div style='font-weight:bold'>{title}</div>" if title else "", body,
             f"<div>{read}</div>" if read else "",
             f"<div style='color:#555'>{step}</div>" if step else ""]
    return (f"<div class='tutor-result tutor-{kind}' style='border-left:6px solid {border};"
            f"background:{background};padding:8px 12px;margin:4px 0;color:#222'>"
            f"{''.join(parts)}</div>")


def _paragraphs(text: str) -> str:
    """Escaped text with code blocks as <pre> and the inline marks of `_inline`."""
    out = []
    for i, chunk in enumerate(re.split(r"```\w*\n?", text)):
        if i % 2:
            out.append(f"<pre style='margin:4px 0'>{html.escape(chunk.rstrip())}</pre>")
        else:
            out += [f"<div style='white-space:pre-wrap;margin:2px 0'>{_inline(p.strip())}</div>"
                    for p in chunk.split("\n\n") if p.strip()]
    return "".join(out)


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*(\S.*?\S|\S)\*\*", r"<b>\1</b>", text)
    return re.sub(r"(?<![\w*])\*(\S[^*]*?\S|\S)\*(?![\w*])", r"<i>\1</i>", text)
