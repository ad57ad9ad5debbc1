"""The instructor's dashboard: one static page that asks /api/state for the room and redraws it.

The page itself holds no data, so it is served to anyone; the data needs the instructor's token,
which the page reads from its own address (`/dashboard#token=…`: a #fragment never reaches a
server or a log). It waits on the server for news (a long poll that answers as soon as a result
arrives), redraws, and asks again 150 ms later: a check shows within a second,
without reloading. Every learner-given text is set as text (`textContent`), never as HTML.
Large type and strong colours, for a projector.
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Workshop dashboard</title>
<link rel="icon" href="data:,">
<style>
  :root { --pass: #1b7f3a; --try: #e07b00; --none: #c9ced6; --ink: #111; --mute: #555;
          --mistake: #b3261e; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 22px/1.35 system-ui, "DejaVu Sans", sans-serif; color: var(--ink);
         background: #fff; }
  header { display: flex; gap: 1.5em; align-items: baseline; padding: .5em 1em;
           background: #0d2b45; color: #fff; flex-wrap: wrap; }
  header h1 { font-size: 1.3em; margin: 0; }
  header .live { margin-left: auto; font-size: .8em; }
  header .live.down { color: #ffb4a9; font-weight: bold; }
  #top { margin: .6em 1em 0; padding: .5em .8em; border-left: 10px solid var(--mistake);
         background: #fdecea; font-size: 1.15em; }
  #top:empty { display: none; }
  main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1em;
         padding: 1em; }
  section h2 { font-size: 1em; margin: 0 0 .4em; color: var(--mute); text-transform: uppercase;
               letter-spacing: .05em; }
  section h2 code { text-transform: none; letter-spacing: 0; color: var(--ink); }
  table { width: 100%; border-collapse: collapse; }
  td, th { padding: .15em .3em; text-align: left; vertical-align: middle; }
  tr.problem { cursor: pointer; }
  tr.problem:hover td, tr.problem.chosen td { background: #eef3fb; }
  td.id { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em;
          white-space: nowrap; }
  .bar { display: flex; height: 1.1em; min-width: 8em; border-radius: 3px; overflow: hidden; }
  .bar span { display: block; height: 100%; }
  .pass { background: var(--pass); } .try { background: var(--try); }
  .none { background: var(--none); }
  td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  .legend span { display: inline-block; width: .8em; height: .8em; margin: 0 .2em 0 .8em; }
  .hist .row { display: grid; grid-template-columns: minmax(0, 1fr) 8em; gap: .5em;
               margin: .25em 0; align-items: center; }
  .hist a { color: var(--ink); }
  .hist .b { height: 1em; background: var(--mistake); border-radius: 3px; }
  .muted { color: var(--mute); }
  #timeline svg { width: 100%; height: 5em; display: block; }
  .roster { columns: 3; font-size: .85em; }
  .empty { color: var(--mute); font-style: italic; }
  #need-token { padding: 2em; font-size: 1.2em; }
</style></head>
<body>
<header><h1>Workshop</h1><span id="counts"></span>
  <span class="live" id="live">connecting…</span></header>
<div id="need-token" hidden>This dashboard needs the instructor's token: open the link that
  <code>python -m tutor classroom</code> printed (it ends in <code>#token=…</code>).</div>
<div id="top"></div>
<main>
  <section><h2>Problems <span class="legend muted"><span class="pass"></span>passed
    <span class="try"></span>trying <span class="none"></span>not started</span></h2>
    <table><tbody id="problems"></tbody></table></section>
  <section>
    <h2>Mistakes on <code id="chosen">…</code></h2>
    <div class="hist" id="mistakes"></div>
    <h2 style="margin-top:1em">Stuck longest</h2>
    <table><tbody id="stuck"></tbody></table>
    <h2 style="margin-top:1em">Passes per minute</h2>
    <div id="timeline"></div>
  </section>
</main>
<section style="padding:0 1em 1em"><h2>Everyone</h2><div class="roster" id="roster"></div>
</section>
<script>
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
let version = -1, chosen = null, pinned = false, state = null, skew = 0;
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function ago(t) {
  const s = Math.max(0, Math.round(Date.now() / 1000 + skew - t));
  return s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min " + (s % 60) + " s"
    : Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
}
function choose(id) { chosen = id; pinned = true; if (state) render(state); }
function render(s) {
  state = s;
  document.body.dataset.version = s.version;
  $("counts").textContent = s.learners + " learners · " +
    s.problems.reduce((n, p) => n + p.checks, 0) + " checks";
  const top = $("top"); top.replaceChildren();
  if (s.top_mistake && s.top_mistake.now > 0) {
    top.append("Most common mistake now: ");
    const a = el("a", s.top_mistake.name);
    a.href = "/mistake/" + encodeURIComponent(s.top_mistake.id); a.target = "_blank";
    top.append(a, " on ", el("code", s.top_mistake.problem),
               " (" + s.top_mistake.now + " learner" + (s.top_mistake.now === 1 ? "" : "s") + ")");
  }
  if (!pinned || !s.problems.some((p) => p.id === chosen)) {
    const busiest = s.problems.slice().sort((a, b) => b.trying - a.trying)[0];
    chosen = busiest ? busiest.id : null;
  }
  const rows = $("problems"); rows.replaceChildren();
  if (!s.problems.length) {
    const td = el("td", "No checks yet: results appear here as learners run tutor.check.",
                  "empty");
    rows.append(el("tr")); rows.lastChild.append(td);
  }
  for (const p of s.problems) {
    const tr = el("tr", null, "problem" + (p.id === chosen ? " chosen" : ""));
    tr.dataset.problem = p.id;
    tr.onclick = () => choose(p.id);
    const total = Math.max(1, p.passed + p.trying + p.not_started);
    const bar = el("div", null, "bar");
    for (const [n, cls] of [[p.passed, "pass"], [p.trying, "try"], [p.not_started, "none"]]) {
      const span = el("span", null, cls); span.style.width = (100 * n / total) + "%";
      bar.append(span);
    }
    const barCell = el("td"); barCell.style.width = "45%"; barCell.append(bar);
    tr.append(el("td", p.id, "id"), barCell, el("td", p.passed, "n pass-n"),
              el("td", p.trying, "n try-n"), el("td", p.not_started, "n muted"));
    tr.title = p.passed + " passed, " + p.trying + " trying, " + p.not_started +
      " not started, " + p.checks + " checks";
    rows.append(tr);
  }
  $("chosen").textContent = chosen || "…";
  const hist = $("mistakes"); hist.replaceChildren();
  const problem = s.problems.find((p) => p.id === chosen);
  const mistakes = problem ? problem.mistakes : [];
  if (!mistakes.length) hist.append(el("div", "No mistake named yet.", "empty"));
  const most = Math.max(1, ...mistakes.map((m) => m.ever));
  for (const m of mistakes) {
    const row = el("div", null, "row"); row.dataset.mistake = m.id;
    const a = el("a", m.name); a.href = "/mistake/" + encodeURIComponent(m.id);
    a.target = "_blank";
    const label = el("div"); label.append(a, el("span", " " + m.now + " now · " + m.ever +
                                                 " ever", "muted"));
    const b = el("div", null, "b"); b.style.width = (100 * m.ever / most) + "%";
    b.style.opacity = m.now ? 1 : 0.35;
    row.append(label, b); hist.append(row);
  }
  const stuck = $("stuck"); stuck.replaceChildren();
  if (!s.stuck.length) {
    stuck.append(el("tr")); stuck.lastChild.append(el("td", "Nobody is stuck.", "empty"));
  }
  for (const x of s.stuck) {
    const tr = el("tr");
    tr.append(el("td", x.name), el("td", x.problem, "id"), el("td", ago(x.since), "n since"),
              el("td", x.attempts + "×", "n"), el("td", x.mistake || "", "muted"));
    tr.lastChild.style.fontSize = ".8em"; tr.children[2].dataset.since = x.since;
    stuck.append(tr);
  }
  drawTimeline(s.timeline);
  const roster = $("roster"); roster.replaceChildren();
  for (const r of s.roster) {
    const d = el("div"); d.dataset.learner = r.name;
    d.append(el("b", r.name), el("span", " " + r.passed + " passed" +
                                          (r.current ? " · " + r.current : ""), "muted"));
    roster.append(d);
  }
}
function drawTimeline(points) {
  const box = $("timeline"); box.replaceChildren();
  if (!points.length) { box.append(el("div", "No passes yet.", "empty")); return; }
  const ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
  const w = 600, h = 100, most = Math.max(1, ...points.map((p) => p.passes));
  svg.setAttribute("viewBox", "0 0 " + w + " " + h); svg.setAttribute("preserveAspectRatio",
                                                                      "none");
  const step = w / points.length;
  points.forEach((p, i) => {
    const r = document.createElementNS(ns, "rect"), bh = h * p.passes / most;
    r.setAttribute("x", i * step + 1); r.setAttribute("width", Math.max(1, step - 2));
    r.setAttribute("y", h - bh); r.setAttribute("height", bh);
    r.setAttribute("fill", "#1b7f3a");
    const t = document.createElementNS(ns, "title");
    t.textContent = new Date(p.t * 1000).toLocaleTimeString() + ": " + p.passes + " passes";
    r.append(t); svg.append(r);
  });
  const when = (t) => new Date(t * 1000).toLocaleTimeString([], {hour: "2-digit",
                                                                  minute: "2-digit"});
  const axis = el("div", null, "muted");
  axis.style.cssText = "display:flex;justify-content:space-between;font-size:.8em";
  axis.append(el("span", when(points[0].t)),
              el("span", "most in a minute: " + most),
              el("span", when(points[points.length - 1].t)));
  box.append(svg, axis);
}
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
function live(text, down) { const l = $("live"); l.textContent = text;
                            l.classList.toggle("down", !!down); }
async function poll() {
  if (!token) { $("need-token").hidden = false; live("no token", true); return; }
  for (;;) {
    try {
      const r = await fetch("/api/state?after=" + version,
                            {headers: {Authorization: "Bearer " + token}, cache: "no-store"});
      if (r.status === 401) { live("wrong token", true); $("need-token").hidden = false;
                              await sleep(5000); continue; }
      if (!r.ok) throw new Error("HTTP " + r.status);
      const s = await r.json();
      skew = s.now - Date.now() / 1000;
      if (s.version !== version) { version = s.version; render(s); }
      live("live · " + new Date().toLocaleTimeString());
      await sleep(150);
    } catch (e) {
      live("server not answering, retrying…", true);
      await sleep(1000);
    }
  }
}
window.addEventListener("hashchange", () => location.reload());  // a new token pasted in
setInterval(() => { for (const td of document.querySelectorAll("td.since"))
                      td.textContent = ago(Number(td.dataset.since)); }, 1000);
poll();
</script></body></html>
"""
