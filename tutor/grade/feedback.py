"""One feedback file per learner, Markdown and HTML: per problem the result, the message, the
next hint and the lesson section to reread, then the total."""

from __future__ import annotations

import html
import re

from tutor.result import _LOOK

_ICON = {"passed": "✔", "failed": "✘", "error": "✘", "timeout": "⏱", "not_attempted": "…"}


def file_stem(learner: str, taken: set[str]) -> str:
    """A file name for the learner's feedback: letters, digits, `-`, `_` and `.` only,
    unique among `taken`."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", learner).strip("._") or "learner"
    stem = stem[:80]
    candidate, n = stem, 2
    while candidate.lower() in taken:
        candidate, n = f"{stem}_{n}", n + 1
    taken.add(candidate.lower())
    return candidate


def _md(text: str) -> str:
    """Learner-controlled text made inert in Markdown: no HTML, no links, no emphasis."""
    text = html.escape(str(text), quote=False)
    return re.sub(r"([\\`*_\[\]#|!])", r"\\\1", text)


def markdown(learner: str, rows: list[dict], notes: list[str]) -> str:
    got = sum(int(r["points"]) for r in rows)
    out = sum(int(r["max_points"]) for r in rows)
    lines = [f"# Feedback for {_md(learner)}", "", f"**Total: {got} / {out} points**", ""]
    for note in notes:
        lines.append(f"> {_md(note)}")
    if notes:
        lines.append("")
    notebook = None
    for r in rows:
        if r["notebook"] != notebook:
            notebook = r["notebook"]
            mine = [x for x in rows if x["notebook"] == notebook]
            lines += [f"## {_md(notebook)}: {sum(int(x['points']) for x in mine)} / "
                      f"{sum(int(x['max_points']) for x in mine)}", ""]
        label = _LOOK.get(r["status"], (r["status"],))[0]
        head = f"### {_ICON.get(r['status'], '')} `{r['problem']}`: {label}"
        if r.get("title"):
            head += f" ({_md(r['title'])})"
        lines += [head + f", {r['points']} / {r['max_points']}", "", _md(r["message"]), ""]
        if r["status"] != "passed":
            if r.get("hint"):
                lines += [f"*Next hint:* {_md(r['hint'])}", ""]
            lines += [f"*Reread:* {_md(r.get('link') or r['lesson'])}", ""]
    return "\n".join(lines).rstrip() + "\n"


def page(learner: str, rows: list[dict], notes: list[str]) -> str:
    got = sum(int(r["points"]) for r in rows)
    out = sum(int(r["max_points"]) for r in rows)
    e = html.escape
    parts = [f"<h1>Feedback for {e(learner)}</h1>",
             f"<p class='total'><strong>Total: {got} / {out} points</strong></p>"]
    parts += [f"<p class='note'>{e(n)}</p>" for n in notes]
    notebook = None
    for r in rows:
        if r["notebook"] != notebook:
            notebook = r["notebook"]
            mine = [x for x in rows if x["notebook"] == notebook]
            parts.append(f"<h2>{e(notebook)}: {sum(int(x['points']) for x in mine)} / "
                         f"{sum(int(x['max_points']) for x in mine)}</h2>")
        label, border, background = _LOOK.get(r["status"], (r["status"], "#616161", "#f5f5f5"))
        title = f" — {e(r['title'])}" if r.get("title") else ""
        body = [f"<div class='head'><strong>{_ICON.get(r['status'], '')} {e(label)}: "
                f"<code>{e(r['problem'])}</code>{title}</strong> ({r['points']} / "
                f"{r['max_points']})</div>",
                f"<div class='message'>{e(r['message'])}</div>"]
        if r["status"] != "passed":
            if r.get("hint"):
                body.append(f"<div class='hint'><em>Next hint:</em> {e(r['hint'])}</div>")
            body.append(f"<div class='lesson'><em>Reread:</em> "
                        f"{e(r.get('link') or r['lesson'])}</div>")
        parts.append(f"<div class='problem {e(r['status'])}' style='border-left:6px solid "
                     f"{border};background:{background}'>{''.join(body)}</div>")
    return _document(f"Feedback for {learner}", "\n".join(parts))


STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#222}.problem{padding:.5rem .8rem;margin:.5rem 0}.message{white-space:pre-wrap}
code{background:#eee;padding:0 .2rem}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}.note{color:#8a4b00}"""


def _document(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>\n{body}\n</body></html>\n")
