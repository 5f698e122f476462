// The rundb web view's script (served as /static/view.js; the CSP allows no inline script).
// Every text from the index goes into the page as text (textContent, a text node or an
// attribute value), never as HTML. Charts are Apache ECharts (static/vendor), drawn on canvas
// with plain-text tooltips (renderMode "richText"), so no run text reaches its HTML either.
"use strict";
const $ = (id) => document.getElementById(id);
const POLL_MS = 3000;
const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83",
                 "#e16f24", "#6e7781", "#a475f9", "#4ac26b"];

function el(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, v);
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

function statusClass(status) {
  return "st-" + String(status || "").toLowerCase().replace(/[^a-z0-9-]/g, "");
}

async function getJSON(url) {
  const response = await fetch(url);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== "" && v !== null && v !== undefined && v !== false) q.set(k, v === true ? "1" : v);
  }
  return q.toString();
}

// --- curves (shared by both pages) ------------------------------------------------------

const charts = new Map(); // key -> echarts instance

function smooth(values, weight) {
  // TensorBoard's debiased exponential moving average.
  if (!weight) return values;
  let last = 0, n = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    n += 1;
    return last / (1 - Math.pow(weight, n));
  });
}

function curveOptions() {
  return {x: $("xaxis").value, logy: $("logy").checked, smooth: Number($("smooth").value)};
}

// series: [{run, key, points}], names: {run id: legend name}
function drawCurves(container, keys, series, names) {
  const opts = curveOptions();
  const wanted = new Set(keys);
  for (const [key, chart] of charts) {
    if (!wanted.has(key)) { chart.dispose(); charts.delete(key); }
  }
  for (const box of [...container.children]) if (!wanted.has(box.dataset.key)) box.remove();
  const runs = Object.keys(names);
  for (const key of keys) {
    let box = [...container.children].find((b) => b.dataset.key === key);
    if (!box) {
      box = el("div", {"class": "chart", "data-key": key}, el("h4", {}, key), el("div", {"class": "plot"}));
      container.append(box);
    }
    let chart = charts.get(key);
    if (!chart) {
      chart = echarts.init(box.querySelector(".plot"), null, {renderer: "canvas"});
      charts.set(key, chart);
    }
    const lines = series.filter((s) => s.key === key).map((s) => {
      const ys = smooth(s.points.map((p) => p[1]), opts.smooth);
      const data = s.points.map((p, i) => [opts.x === "time" ? p[2] * 1000 : p[0], ys[i]])
        .filter((d) => d[1] !== null && (!opts.logy || d[1] > 0));
      return {name: names[s.run], type: "line", data, showSymbol: data.length < 2,
              symbolSize: 5, lineStyle: {width: 1.6},
              color: PALETTE[runs.indexOf(s.run) % PALETTE.length]};
    });
    chart.setOption({
      animation: false,
      grid: {left: 56, right: 16, top: 28, bottom: 46},
      legend: {type: "scroll", bottom: 0, textStyle: {fontSize: 11}},
      tooltip: {trigger: "axis", renderMode: "richText", confine: true},
      xAxis: {type: opts.x === "time" ? "time" : "value", name: opts.x, nameLocation: "end",
              scale: true, nameTextStyle: {fontSize: 10}},
      yAxis: {type: opts.logy ? "log" : "value", scale: !opts.logy},
      series: lines,
    }, {notMerge: true});
  }
}

function resizeCharts() {
  for (const chart of charts.values()) chart.resize();
  for (const id of ["parallel", "scatter"]) {
    const node = $(id);
    const chart = node && echarts.getInstanceByDom(node);
    if (chart) chart.resize();
  }
}

function wireCurveControls(redraw) {
  for (const id of ["xaxis", "logy"]) $(id).addEventListener("change", redraw);
  $("smooth").addEventListener("input", () => {
    $("smooth-value").textContent = $("smooth").value;
    redraw();
  });
  window.addEventListener("resize", resizeCharts);
}

// --- the runs page ------------------------------------------------------------------------

const state = {
  table: null,            // the last /api/table answer
  sort: "", order: "",    // column spec and asc|desc
  offset: 0,
  selected: new Map(),    // run id -> {name, status}
  keys: new Set(),        // scalars chosen for the curves
  series: [],             // the last /api/series answer's series
};

function filterParams() {
  return {
    filter: $("filter").value.trim(), columns: $("columns").value.trim(),
    strict: $("strict").checked, status: $("status").value, op: $("op").value.trim(),
    tag: $("tag").value.trim(), marked: $("marked").value, batch: $("batch").value,
  };
}

async function loadTable(live) {
  const params = filterParams();
  const q = query({...params, sort: state.sort, order: state.order, offset: state.offset || ""});
  if (!live) history.replaceState(null, "", q ? "?" + q : location.pathname);
  let data;
  try {
    data = await getJSON("/api/table?" + q);
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = e.message;
    return;
  }
  state.table = data;
  renderTable(data);
  await refreshSelectionInfo(data);
  drawSweep();
}

function rowName(data, r) {
  const h = data.headers;
  const label = h.indexOf("label") >= 0 ? data.rows[r][h.indexOf("label")] : "";
  return label ? String(label) : String(data.run_ids[r] || "");
}

function renderTable(data) {
  const table = $("runs");
  table.classList.toggle("grouped", data.grouped);
  const head = el("tr", {});
  if (!data.grouped) {
    const all = el("input", {type: "checkbox", id: "select-page", "aria-label": "select this page"});
    all.checked = data.ids.length > 0 && data.ids.every((id) => state.selected.has(id));
    head.append(el("th", {"class": "sel"}, all));
  }
  data.headers.forEach((h, i) => {
    const th = el("th", {"data-col": i, "class": data.kinds[i], title: "sort by " + (data.specs[i] || h)}, h);
    if (!data.grouped && state.sort && data.specs[i] === state.sort) {
      th.classList.add("sorted", state.order === "desc" ? "desc" : "asc");
    }
    head.append(th);
  });
  const rows = data.rows.map((row, r) => {
    const statusAt = data.headers.indexOf("status");
    const status = statusAt >= 0 ? row[statusAt] : "";
    const id = data.ids[r] || "";
    const tr = el("tr", {"class": "run " + statusClass(status), "data-id": id || undefined});
    if (!data.grouped) {
      const box = el("input", {type: "checkbox", "aria-label": "select"});
      box.checked = state.selected.has(id);
      tr.classList.toggle("selected", box.checked);
      tr.append(el("td", {"class": "sel"}, box));
    }
    row.forEach((v, i) => {
      const header = data.headers[i], core = data.kinds[i] === "core";
      const text = fmt(v, data.kinds[i]);
      const td = el("td", {}, text);
      if (typeof v === "number") td.classList.add("num");
      if (core && header === "label") { td.classList.add("label"); td.title = text; }
      if (core && header === "operation") { td.classList.add("op"); td.title = text; }
      if (core && header === "status") td.classList.add("status", statusClass(v));
      if (core && header === "run" && id) {
        td.replaceChildren(el("a", {href: "/run/" + encodeURIComponent(id)}, text));
        const op = data.headers.indexOf("operation");
        if (op >= 0 && String(row[op] || "").includes("+")) {  // a batch: its trials as a sweep
          td.append(" ", el("a", {"class": "trials", href: "/?" + query({batch: id}), title: "this batch's trials"}, "trials"));
        }
      }
      tr.append(td);
    });
    return tr;
  });
  if (!rows.length) rows.push(el("tr", {"class": "empty"}, el("td", {colspan: data.headers.length + 1}, "No runs")));
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  const first = data.grouped ? 1 : data.offset + 1, last = data.offset + data.rows.length;
  $("count").textContent = data.grouped ? data.rows.length + " groups"
    : data.total > data.rows.length ? `${data.rows.length ? first : 0}–${last} of ${data.total}` : String(data.total);
  $("prev").disabled = data.grouped || data.offset <= 0;
  $("next").disabled = data.grouped || last >= data.total;
}

async function refreshSelectionInfo(data) {
  // Keep names and statuses of selected runs shown on this page current.
  data.ids.forEach((id, r) => {
    if (state.selected.has(id)) {
      const statusAt = data.headers.indexOf("status");
      state.selected.set(id, {name: rowName(data, r), status: statusAt >= 0 ? data.rows[r][statusAt] : ""});
    }
  });
  showSelection();
}

function showSelection() {
  const n = state.selected.size;
  $("selection").textContent = n ? `${n} selected` : "click rows' boxes to compare runs";
  $("clear").disabled = !n;
}

function toggleRun(id, on, name, status) {
  if (!id) return;
  if (on === undefined) on = !state.selected.has(id);
  if (on) state.selected.set(id, {name: name || id.slice(0, 8), status: status || ""});
  else state.selected.delete(id);
  for (const tr of $("runs").tBodies[0].rows) {
    if (tr.dataset.id === id) {
      tr.classList.toggle("selected", on);
      const box = tr.querySelector("input[type=checkbox]");
      if (box) box.checked = on;
    }
  }
  showSelection();
  loadCurves();
  drawSweep();
}

function legendNames() {
  // Each run by its label; a label shared by several runs gets the short id added.
  const names = {}, seen = {};
  for (const info of state.selected.values()) seen[info.name] = (seen[info.name] || 0) + 1;
  for (const [id, info] of state.selected) {
    names[id] = seen[info.name] > 1 ? `${info.name} (${id.slice(0, 8)})` : info.name;
  }
  return names;
}

async function loadCurves() {
  const ids = [...state.selected.keys()];
  if (!ids.length) {
    state.series = [];
    $("keys").replaceChildren();
    drawCurves($("charts"), [], [], {});
    $("curves-hint").textContent = "select runs to overlay their curves";
    return;
  }
  let data;
  try {
    data = await getJSON("/api/series?" + query({run: ids, max_points: 1000}));
  } catch (e) {
    $("curves-hint").textContent = e.message;
    return;
  }
  state.series = data.series;
  const available = [...new Set(data.series.map((s) => s.key))].sort();
  if (![...state.keys].some((k) => available.includes(k))) {
    state.keys = new Set(available.includes("loss") ? ["loss"] : available.slice(0, 1));
  }
  $("keys").replaceChildren(...available.map((key) => {
    const box = el("input", {type: "checkbox", "data-key": key});
    box.checked = state.keys.has(key);
    return el("label", {"class": "check key"}, box, " " + key);
  }));
  $("curves-hint").textContent = `${ids.length} run${ids.length > 1 ? "s" : ""}; tick scalars to add charts`;
  redrawCurves();
}

function redrawCurves() {
  const keys = [...state.keys].filter((k) => state.series.some((s) => s.key === k)).sort();
  drawCurves($("charts"), keys, state.series, legendNames());
}

// --- a sweep at a glance: parallel coordinates and a scatter -----------------------------

function sweepRows() {
  const data = state.table;
  if (!data || data.grouped) return null;
  let picks = data.ids.map((id, r) => r);
  const chosen = picks.filter((r) => state.selected.has(data.ids[r]));
  const ofSelection = chosen.length >= 2;
  if (ofSelection) picks = chosen;
  return {data, picks, ofSelection};
}

function fillSelect(select, options, keep) {
  const current = select.value || keep;
  select.replaceChildren(...options.map((o) => el("option", {value: o}, o)));
  if (options.includes(current)) select.value = current;
}

function drawSweep() {
  const found = sweepRows();
  const parallel = $("parallel"), scatter = $("scatter");
  if (!found) return;
  const {data, picks, ofSelection} = found;
  // highlight selected runs among the page's; when drawing the selection itself, don't
  const marked = (r) => !ofSelection && state.selected.has(data.ids[r]);
  const allFlagCols = data.kinds.map((k, i) => k === "flag" ? i : -1).filter((i) => i >= 0);
  const varying = allFlagCols.filter((i) => new Set(picks.map((r) => fmt(data.rows[r][i]))).size > 1);
  const flagCols = varying.length ? varying : allFlagCols;
  const scalarCols = data.kinds.map((k, i) => k === "scalar" ? i : -1).filter((i) => i >= 0);
  fillSelect($("objective"), scalarCols.map((i) => data.headers[i]),
             data.headers.includes("loss") ? "loss" : "");
  fillSelect($("scatter-flag"), flagCols.map((i) => data.headers[i]), "");
  const objective = data.headers.indexOf($("objective").value);
  const flag = data.headers.indexOf($("scatter-flag").value);
  const pchart = echarts.getInstanceByDom(parallel) || initClickable(parallel);
  const schart = echarts.getInstanceByDom(scatter) || initClickable(scatter);
  if (objective < 0 || !flagCols.length) {
    pchart.clear(); schart.clear();
    return;
  }
  const dims = [...flagCols, objective];
  const axes = dims.map((col, d) => {
    const values = picks.map((r) => data.rows[r][col]);
    const numeric = values.every((v) => v === null || typeof v === "number");
    const axis = {dim: d, name: data.headers[col], nameTextStyle: {fontSize: 11}};
    const xs = values.filter(Number.isFinite);
    const wide = xs.length > 1 && Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) >= 100;
    if (numeric) return {...axis, type: wide ? "log" : "value", scale: true};
    return {...axis, type: "category", data: [...new Set(values.map((v) => fmt(v)))].sort()};
  });
  const value = (v, axis) => axis.type === "category" ? fmt(v) : v;
  const names = picks.map((r) => rowName(data, r));
  pchart.setOption({
    animation: false,
    parallelAxis: axes,
    parallel: {left: 40, right: 70, top: 30, bottom: 30},
    tooltip: {renderMode: "richText"},
    series: [{type: "parallel", lineStyle: {width: 2, opacity: 0.75}, emphasis: {lineStyle: {width: 4}},
              data: picks.map((r, i) => ({name: names[i], runId: data.ids[r],
                value: dims.map((col, d) => value(data.rows[r][col], axes[d])),
                lineStyle: marked(r) ? {color: "#0969da", width: 4, opacity: 1} : undefined}))}],
    visualMap: {show: false, dimension: dims.length - 1, type: "continuous",
                min: Math.min(...picks.map((r) => data.rows[r][objective]).filter(Number.isFinite)),
                max: Math.max(...picks.map((r) => data.rows[r][objective]).filter(Number.isFinite)),
                inRange: {color: ["#1a7f37", "#bf8700", "#cf222e"]}},
  }, {notMerge: true});
  if (flag < 0) { schart.clear(); return; }
  const xValues = picks.map((r) => data.rows[r][flag]);
  const xNumeric = xValues.every((v) => v === null || typeof v === "number");
  const xs = xValues.filter(Number.isFinite);
  const xLog = xNumeric && xs.length > 1 && Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) >= 100;
  schart.setOption({
    animation: false,
    grid: {left: 56, right: 16, top: 24, bottom: 40},
    tooltip: {renderMode: "richText", formatter: (p) => `${p.name}\n${data.headers[flag]}: ${fmt(p.value[0])}\n${data.headers[objective]}: ${fmt(p.value[1], "scalar")}`},
    xAxis: xNumeric ? {type: xLog ? "log" : "value", scale: true, name: data.headers[flag], nameLocation: "middle", nameGap: 24}
                    : {type: "category", data: [...new Set(xValues.map((v) => fmt(v)))].sort(), name: data.headers[flag], nameLocation: "middle", nameGap: 24},
    yAxis: {type: "value", scale: true, name: data.headers[objective]},
    series: [{type: "scatter", symbolSize: 10,
              data: picks.filter((r) => data.rows[r][objective] !== null).map((r) => ({
                name: rowName(data, r), runId: data.ids[r],
                value: [xNumeric ? data.rows[r][flag] : fmt(data.rows[r][flag]), data.rows[r][objective]],
                itemStyle: {color: marked(r) ? "#cf222e" : "#0969da",
                            borderColor: marked(r) ? "#1d232a" : undefined}}))}],
  }, {notMerge: true});
}

function initClickable(node) {
  const chart = echarts.init(node, null, {renderer: "canvas"});
  chart.on("click", (p) => {
    const id = p.data && p.data.runId;
    if (id) toggleRun(id, undefined, p.data.name, "");
  });
  return chart;
}

// --- live refresh -------------------------------------------------------------------------

function anyRunning() {
  const data = state.table;
  if (data) {
    const at = data.headers.indexOf("status");
    if (at >= 0 && data.rows.some((row) => row[at] === "running" || row[at] === "pending")) return true;
  }
  return [...state.selected.values()].some((info) => info.status === "running");
}

function startRunsPage() {
  $("filter-form").addEventListener("submit", (ev) => { ev.preventDefault(); state.offset = 0; loadTable(); });
  for (const id of ["status", "marked", "strict"]) $(id).addEventListener("change", () => { state.offset = 0; loadTable(); });
  const q = new URLSearchParams(location.search);
  state.sort = q.get("sort") || ""; state.order = q.get("order") || "";
  state.offset = Number(q.get("offset") || 0);
  $("runs").addEventListener("click", (ev) => {
    const th = ev.target.closest("th[data-col]");
    if (th && state.table && !state.table.grouped) {
      const spec = state.table.specs[Number(th.dataset.col)];
      if (state.sort === spec) state.order = state.order === "desc" ? "asc" : "desc";
      else { state.sort = spec; state.order = state.table.kinds[Number(th.dataset.col)] === "scalar" ? "asc" : "desc"; }
      state.offset = 0;
      loadTable();
      return;
    }
    if (ev.target.id === "select-page") {
      const on = ev.target.checked;
      const data = state.table;
      data.ids.forEach((id, r) => {
        if (!id) return;
        if (on) state.selected.set(id, {name: rowName(data, r), status: data.rows[r][data.headers.indexOf("status")]});
        else state.selected.delete(id);
      });
      renderTable(data); showSelection(); loadCurves(); drawSweep();
      return;
    }
    const tr = ev.target.closest("tr.run");
    if (!tr || !tr.dataset.id || ev.target.closest("a")) return;
    const r = state.table ? state.table.ids.indexOf(tr.dataset.id) : -1;
    const status = r >= 0 ? state.table.rows[r][state.table.headers.indexOf("status")] : "";
    const on = ev.target.matches("input[type=checkbox]") ? ev.target.checked : undefined;
    toggleRun(tr.dataset.id, on, r >= 0 ? rowName(state.table, r) : "", status);
  });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.table.limit); loadTable(); });
  $("next").addEventListener("click", () => { state.offset += state.table.limit; loadTable(); });
  $("clear").addEventListener("click", () => {
    state.selected.clear();
    renderTable(state.table); showSelection(); loadCurves(); drawSweep();
  });
  $("keys").addEventListener("change", (ev) => {
    const key = ev.target.dataset.key;
    if (!key) return;
    if (ev.target.checked) state.keys.add(key); else state.keys.delete(key);
    redrawCurves();
  });
  for (const id of ["objective", "scatter-flag"]) $(id).addEventListener("change", drawSweep);
  wireCurveControls(redrawCurves);
  loadTable();
  let tick = 0;
  setInterval(async () => {
    tick += 1;
    if (document.hidden) return;
    const live = anyRunning();
    $("live").textContent = live ? "live" : "";
    // every few seconds while runs run; now and then otherwise, so new runs show up
    if (!live && tick % 5) return;
    await loadTable(true);
    if (live && state.selected.size) await loadCurves();
  }, POLL_MS);
}

// --- one run's page -----------------------------------------------------------------------

async function startRunPage() {
  const id = $("run").dataset.id;
  const url = "/api/runs/" + encodeURIComponent(id);
  let series = [], status = "";
  const redraw = () => {
    const keys = [...new Set(series.map((s) => s.key))].sort();
    drawCurves($("charts"), keys, series, {[id]: $("run-label").textContent || id.slice(0, 8)});
  };
  async function refresh() {
    let info, scalars, output, files;
    try {
      [info, scalars, output, files] = await Promise.all([
        getJSON(url), getJSON(url + "/scalars?max_points=2000"), getJSON(url + "/output?lines=200"),
        getJSON(url + "/files")]);
    } catch (e) {
      $("output-note").textContent = e.message;
      return false;
    }
    const run = info.run;
    status = run.status;
    $("run-status").textContent = run.status;
    $("run-status").className = "status " + statusClass(run.status);
    const attrs = Object.entries(run).filter(([k, v]) =>
      !["flags", "id", "short_id", "label", "status"].includes(k) && v !== null && v !== "" &&
      !(Array.isArray(v) && !v.length));
    $("attrs").replaceChildren(...attrs.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {"class": "wrap"}, fmt(v)))));
    const head = el("tr", {}, ...["scalar", "last", "step", "min", "max", "count"].map((h) => el("th", {}, h)));
    $("summary").replaceChildren(head, ...info.scalars.map((s) => el("tr", {},
      el("td", {}, s.key), el("td", {"class": "num"}, fmt(s.last_val, "scalar")),
      el("td", {"class": "num"}, fmt(s.last_step)), el("td", {"class": "num"}, fmt(s.min_val, "scalar")),
      el("td", {"class": "num"}, fmt(s.max_val, "scalar")), el("td", {"class": "num"}, fmt(s.count)))));
    series = scalars.series.map((s) => ({...s, run: id}));
    redraw();
    const out = $("output");
    const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.textContent = output.text;
    if (atEnd) out.scrollTop = out.scrollHeight;
    $("output-note").textContent = output.note || (run.status === "running" ? "live, last 200 lines" : "last 200 lines");
    $("files-note").textContent = files.note || `${files.files.length} file${files.files.length === 1 ? "" : "s"}`;
    $("files").replaceChildren(...files.files.map((f) => el("tr", {},
      el("td", {}, f.path + (f.is_dir ? "/" : "")), el("td", {"class": "num"}, f.is_dir ? "" : fmt(f.size)))));
    return true;
  }
  wireCurveControls(redraw);
  await refresh();
  setInterval(async () => {
    if (document.hidden || (status !== "running" && status !== "pending")) { $("live").textContent = ""; return; }
    $("live").textContent = "live";
    await refresh();
  }, POLL_MS);
}

if (document.body.dataset.page === "run") startRunPage();
else startRunsPage();
