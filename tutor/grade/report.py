"""report.html: the class at a glance. Pass rate per problem, the misconceptions named per
problem (matplotlib figures embedded as PNG), the learners who need help first, and the
notebooks that could not be run, with their reason. Every text is escaped; the page loads
nothing from outside (a content security policy forbids it)."""

from __future__ import annotations

import base64
import html
import io
from collections import Counter

from tutor.grade.feedback import _document


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode()


def _figures(rows: list[dict], problems: list[str]) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    rates = []
    for p in problems:
        mine = [r for r in rows if r["problem"] == p]
        rates.append(100 * sum(r["status"] == "passed" for r in mine) / max(len(mine), 1))
    fig = Figure(figsize=(8, 0.28 * len(problems) + 1.2))
    ax = fig.add_subplot()
    ax.barh(range(len(problems)), rates, color="#2e7d32")
    ax.set_yticks(range(len(problems)), problems, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("learners who passed (%)")
    fig.tight_layout()
    pass_png = _png(fig)

    named = Counter((r["problem"], r["misconception"]) for r in rows if r["misconception"])
    if not named:
        return pass_png, ""
    labels = [f"{p}: {m}" for (p, m), _ in sorted(named.items(),
                                                  key=lambda kv: (problems.index(kv[0][0])
                                                                  if kv[0][0] in problems
                                                                  else 999, -kv[1], kv[0][1]))]
    counts = [named[tuple(label.split(": ", 1))] for label in labels]
    fig = Figure(figsize=(8, 0.28 * len(labels) + 1.2))
    ax = fig.add_subplot()
    ax.barh(range(len(labels)), counts, color="#c62828")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("learners whose answer showed this misconception")
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return pass_png, _png(fig)


def render(rows: list[dict], records: list[dict], problem_order: list[str]) -> str:
    e = html.escape
    problems = [p for p in problem_order if any(r["problem"] == p for r in rows)]
    learners = sorted({r["learner"] for r in rows})
    pass_png, mis_png = _figures(rows, problems)
    parts = ["<h1>Class report</h1>",
             f"<p>{len(learners)} learners, {len(records)} notebooks graded, "
             f"{len(problems)} problems.</p>",
             "<h2>Pass rate per problem</h2>",
             f"<img alt='pass rate per problem' src='data:image/png;base64,{pass_png}'>"]
    table = ["<table class='rates'><tr><th>problem</th><th>passed</th><th>failed</th>"
             "<th>error</th><th>timeout</th><th>not attempted</th><th>most common "
             "misconception</th></tr>"]
    for p in problems:
        mine = [r for r in rows if r["problem"] == p]
        count = Counter(r["status"] for r in mine)
        common = Counter(r["misconception"] for r in mine if r["misconception"]).most_common(1)
        table.append(f"<tr><td><code>{e(p)}</code></td>" + "".join(
            f"<td>{count.get(s, 0)}</td>" for s in ("passed", "failed", "error", "timeout",
                                                    "not_attempted"))
            + f"<td>{e(common[0][0]) + f' ({common[0][1]})' if common else ''}</td></tr>")
    parts.append("".join(table) + "</table>")
    parts.append("<h2>Misconceptions named, per problem</h2>")
    parts.append(f"<img alt='misconceptions per problem' src='data:image/png;base64,{mis_png}'>"
                 if mis_png else "<p>No misconception was named.</p>")

    parts.append("<h2>Who needs help first</h2>")
    scored = []
    for learner in learners:
        mine = [r for r in rows if r["learner"] == learner]
        got, out = sum(int(r["points"]) for r in mine), sum(int(r["max_points"]) for r in mine)
        mistakes = Counter(r["misconception"] for r in mine if r["misconception"])
        broken = sum(r["status"] in ("error", "timeout") for r in mine)
        scored.append((got / out if out else 1.0, -broken, learner, got, out,
                       ", ".join(m for m, _ in mistakes.most_common(3))))
    scored.sort()
    help_rows = ["<table class='help'><tr><th>learner</th><th>points</th><th>errors and "
                 "time limits</th><th>misconceptions</th></tr>"]
    for _, broken, learner, got, out, mistakes in scored[:15]:
        help_rows.append(f"<tr><td>{e(learner)}</td><td>{got} / {out}</td><td>{-broken}</td>"
                         f"<td>{e(mistakes)}</td></tr>")
    parts.append("".join(help_rows) + "</table>")

    parts.append("<h2>Notebooks that could not be run</h2>")
    failed = []
    for rec in sorted(records, key=lambda r: (r["learner"], r["notebook"])):
        log = rec["log"]
        reason = log.get("failure") or ""
        if not reason and rec["rows"] and all(r["status"] in ("error", "timeout") and
                                              r["message"].startswith("The notebook could not")
                                              for r in rec["rows"]):
            reason = rec["rows"][0]["message"]
        if reason:
            failed.append(f"<tr><td>{e(rec['learner'])}</td><td>{e(rec['file'])}</td>"
                          f"<td>{e(reason)}</td></tr>")
    parts.append("<table class='failed'><tr><th>learner</th><th>file</th><th>reason</th></tr>"
                 + "".join(failed) + "</table>" if failed else "<p>None: every notebook ran.</p>")
    isolation = sorted({n for rec in records for n in rec["log"].get("isolation", [])})
    if isolation:
        parts.append("<h2>Sandbox</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in isolation)
                     + "</ul>")
    return _document("Class report", "\n".join(parts))
