// The rundb web view's script (served as /static/view.js; the CSP allows no inline script).
// Every text from the index goes into the page as text (textContent / a text node), never as HTML.
"use strict";
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...kids) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
                                      : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const kid of kids) node.append(kid instanceof Node ? kid : String(kid));
  return node;
}

function fmt(v, kind) {
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") {
    if (kind === "scalar" || !Number.isInteger(v)) return Number(v.toPrecision(6)).toString();
    return String(v);
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

async function getJSON(url) {
  const response = await fetch(url);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  return q.toString();
}

let selected = null;
const LIMIT = new URLSearchParams(location.search).get("limit") || "";

function renderRuns(data) {
  const body = $("runs").tBodies[0];
  body.replaceChildren();
  data.runs.forEach((run, i) => {
    const tr = el("tr", {"data-id": run.id, "class": "run " + run.status},
      el("td", {}, i + 1), el("td", {}, run.short_id), el("td", {}, run.operation),
      el("td", {}, run.started), el("td", {}, run.status), el("td", {}, run.label));
    body.append(tr);
  });
  if (!data.runs.length) body.append(el("tr", {"class": "empty"}, el("td", {colspan: 6}, "No runs")));
  $("count").textContent = data.total > data.runs.length
    ? data.runs.length + " of " + data.total : String(data.runs.length);
  markSelected();
}

function markSelected() {
  for (const tr of $("runs").tBodies[0].rows)
    tr.classList.toggle("selected", tr.dataset.id === selected);
}

async function loadRuns() {
  const filter = $("filter").value.trim();
  const search = query({filter, limit: LIMIT});
  history.replaceState(null, "", search ? "?" + search : location.pathname);
  try {
    renderRuns(await getJSON("/api/runs?" + search));
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = e.message;
    return;
  }
  loadCompare();
}

async function loadCompare() {
  const params = {filter: $("filter").value.trim(), columns: $("columns").value.trim(),
                  limit: LIMIT};
  let data;
  try {
    data = await getJSON("/api/compare?" + query(params));
    $("compare-error").textContent = "";
  } catch (e) {
    $("compare-error").textContent = e.message;
    return;
  }
  const table = $("compare");
  const numeric = data.headers.map((_, i) =>
    data.rows.some((r) => typeof r[i] === "number") && data.kinds[i] !== "core");
  const head = el("tr", {}, ...data.headers.map((h) => el("th", {}, h)));
  const rows = data.rows.map((row, r) => {
    const tr = el("tr", {"class": "run", "data-id": data.run_ids[r] || ""},
      ...row.map((v, i) => el("td", numeric[i] ? {"class": "num"} : {}, fmt(v, data.kinds[i]))));
    return tr;
  });
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  if (!rows.length) table.tBodies[0].append(el("tr", {"class": "empty"},
    el("td", {colspan: data.headers.length}, "No runs")));
}

async function showRun(id) {
  selected = id;
  markSelected();
  let info, scalars;
  try {
    [info, scalars] = await Promise.all([
      getJSON("/api/runs/" + encodeURIComponent(id)),
      getJSON("/api/runs/" + encodeURIComponent(id) + "/scalars?max_points=400")]);
  } catch (e) {
    $("error").textContent = e.message;
    return;
  }
  const run = info.run;
  $("detail").hidden = false;
  $("detail-title").textContent = run.short_id + "  " + run.operation +
    (run.label ? "  " + run.label : "") + "  (" + run.status + ")";
  const flags = Object.keys(run.flags).sort().map((k) =>
    el("tr", {}, el("td", {}, k), el("td", {}, fmt(run.flags[k]))));
  $("flags").replaceChildren(...(flags.length ? flags : [el("tr", {"class": "empty"}, el("td", {}, "none"))]));
  const head = el("tr", {}, ...["scalar", "last", "step", "min", "max", "count"].map((h) => el("th", {}, h)));
  const rows = info.scalars.map((s) => el("tr", {},
    el("td", {}, s.key), el("td", {"class": "num"}, fmt(s.last_val, "scalar")),
    el("td", {"class": "num"}, fmt(s.last_step)), el("td", {"class": "num"}, fmt(s.min_val, "scalar")),
    el("td", {"class": "num"}, fmt(s.max_val, "scalar")), el("td", {"class": "num"}, fmt(s.count))));
  $("summary").replaceChildren(head, ...rows);
  $("charts").replaceChildren(...scalars.series.map(chart));
  if (!scalars.series.length) $("charts").append(el("span", {"class": "hint"}, "No scalars"));
}

function chart(series) {
  const W = 340, H = 170, L = 52, R = 10, T = 8, B = 22;
  const pts = series.points.filter((p) => p[1] !== null);
  const svg = el("svg:svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`});
  const box = el("div", {"class": "chart"}, el("h4", {}, series.key), svg);
  if (!pts.length) { svg.append(el("svg:text", {x: L, y: H / 2}, "no values")); return box; }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; }
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  svg.append(
    el("svg:line", {"class": "axis", x1: L, y1: H - B, x2: W - R, y2: H - B}),
    el("svg:line", {"class": "axis", x1: L, y1: T, x2: L, y2: H - B}),
    el("svg:text", {x: L - 4, y: T + 8, "text-anchor": "end"}, fmt(y1, "scalar")),
    el("svg:text", {x: L - 4, y: H - B, "text-anchor": "end"}, fmt(y0, "scalar")),
    el("svg:text", {x: L, y: H - 6}, fmt(x0)),
    el("svg:text", {x: W - R, y: H - 6, "text-anchor": "end"}, fmt(x1)));
  const line = pts.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" ");
  if (pts.length === 1) svg.append(el("svg:circle", {"class": "dot", cx: sx(pts[0][0]), cy: sy(pts[0][1]), r: 3}));
  else svg.append(el("svg:polyline", {"class": "curve", points: line}));
  const dot = el("svg:circle", {"class": "dot", r: 3, visibility: "hidden"});
  const readout = el("svg:text", {"class": "readout", x: W - R, y: T + 8, "text-anchor": "end"});
  svg.append(dot, readout);
  svg.addEventListener("mousemove", (ev) => {
    const rect = svg.getBoundingClientRect();
    const x = x0 + (ev.clientX - rect.left - L) / (W - L - R) * (x1 - x0);
    let best = pts[0];
    for (const p of pts) if (Math.abs(p[0] - x) < Math.abs(best[0] - x)) best = p;
    dot.setAttribute("cx", sx(best[0])); dot.setAttribute("cy", sy(best[1]));
    dot.setAttribute("visibility", "visible");
    readout.textContent = "step " + best[0] + ": " + fmt(best[1], "scalar");
  });
  svg.addEventListener("mouseleave", () => { dot.setAttribute("visibility", "hidden"); readout.textContent = ""; });
  return box;
}

$("filter-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadRuns(); });
$("columns-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadCompare(); });
for (const id of ["runs", "compare"]) {
  $(id).addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr.run");
    if (tr && tr.dataset.id) showRun(tr.dataset.id);
  });
}
if (!$("error").textContent) loadCompare();
