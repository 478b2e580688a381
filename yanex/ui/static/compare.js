// The compare page: the runs the URL selects (the runs page's filters, or ?id=... for the rows
// ticked there) as overlaid curves of one metric, or mean ± std bands per group of a param (the
// bands are computed on the server, per bucket of steps), a table of the params that differ and
// the metrics (`yanex compare`), parallel coordinates and a scatter of params against a metric
// aggregate (plain SVG). While a run is running, the page asks every 2 s for the points every
// selected run logged after its cursor, in one request.
import { api, cliLine, el, ema, errorBox, fmt, fmtAt, fmtTime, g6, statusBadge, yAxis } from "./common.js";

const ACTIVE = new Set(["created", "queued", "running"]);
const POLL_MS = 2000;
// The page's own view settings in the URL; everything else is the selection.
const VIEW = ["key", "group", "agg", "sx", "y"];
const AGGREGATES = ["last", "min", "max", "mean", "first", "best"];
const PALETTE = [
  "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#e377c2", "#8c564b", "#bcbd22", "#7f7f7f",
  "#3b5bdb", "#c2255c", "#2b8a3e", "#5f3dc4", "#e8590c", "#0b7285", "#a61e4d", "#5c940d", "#862e9c", "#495057",
];
const SVG = "http://www.w3.org/2000/svg";

const url = new URLSearchParams(location.search);
const view = {
  key: url.get("key") || "",
  group: url.get("group") || "",
  agg: url.get("agg") || "last",
  sx: url.get("sx") || "",
  y: ["linear", "log"].includes(url.get("y")) ? url.get("y") : "auto",
  smooth: 0,
  x: "step",
};
let data = null; // the compare answer
let cursor = 0;
let curves = null; // {runs: [{id, steps, values, times, ...}]} unzoomed, live points appended
let zoom = null; // {from, to} steps
let plot = null;
let axis = { log: false, note: "" }; // the y axis of the chart drawn (yAxis)
let polling = false;
let version = null; // the store's version at the last live answer: unchanged, the server says so at once
let statuses = {}; // each run's status at the last live answer that read them

function selection() {
  const params = new URLSearchParams(location.search);
  for (const name of VIEW) params.delete(name);
  return params;
}

function apiPath(path, extra) {
  const params = selection();
  for (const [name, value] of Object.entries(extra)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(name, v));
    else params.set(name, String(value));
  }
  return `${path}?${params}`;
}

function saveView() {
  const params = selection();
  if (view.key) params.set("key", view.key);
  if (view.group) params.set("group", view.group);
  if (view.agg !== "last") params.set("agg", view.agg);
  if (view.sx) params.set("sx", view.sx);
  if (view.y !== "auto") params.set("y", view.y);
  history.replaceState(null, "", `/compare?${params}`);
}

function quote(text) {
  return /^[A-Za-z0-9_.,:=/+@%-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

function command(...words) {
  return ["yanex", ...words.flat().filter((w) => w !== "").map((w) => (w.startsWith("\u0000") ? w.slice(1) : quote(w)))].join(" ");
}

// The selection's CLI arguments, already quoted by the server.
function sel() {
  return data.selection ? `\u0000${data.selection}` : "";
}

let ranks = []; // each row's place when the rows are ordered by their differing params

// Up to 10 runs: distinct colours. More: a hue ramp over the runs ordered by their params, so
// that runs differing only by seed get neighbouring hues and a sweep reads as a gradient.
function colour(index) {
  const n = data ? data.rows.length : 0;
  if (n <= 10) return PALETTE[index % PALETTE.length];
  const t = (ranks[index] ?? index) / (n - 1);
  return hsl(t * 285, 68, 42);
}

function hsl(h, s, l) {
  const a = (s / 100) * Math.min(l / 100, 1 - l / 100);
  const f = (n) => {
    const k = (n + h / 30) % 12;
    const c = l / 100 - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(255 * c).toString(16).padStart(2, "0");
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

function rankRows() {
  const key = (row) => data.differing.map((p) => row.params[p]);
  const cmp = (a, b) => {
    for (let k = 0; k < a.length; k++) {
      const x = a[k];
      const y = b[k];
      if (x === y) continue;
      if (numeric(x) && numeric(y)) return x - y;
      return fmt(x) < fmt(y) ? -1 : 1;
    }
    return 0;
  };
  const order = data.rows.map((row, i) => i).sort((i, j) => cmp(key(data.rows[i]), key(data.rows[j])) || i - j);
  ranks = new Array(order.length);
  order.forEach((i, place) => (ranks[i] = place));
}

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

function showError(error) {
  document.getElementById("messages").replaceChildren(errorBox(error));
}

function metricRef() {
  return view.agg === "last" ? view.key : `${view.key}.${view.agg}`;
}

function numeric(value) {
  return typeof value === "number" && Number.isFinite(value);
}

// ---- Curves

function chartWidth() {
  return Math.max(400, Math.floor(document.getElementById("chart").clientWidth || 1200));
}

function runData(run) {
  // x: the step, or seconds since the run's first point (runs started at different times overlay).
  const t0 = run.times && run.times.length ? Math.min(...run.times) : 0;
  const xs = view.x === "time" && run.times ? run.times.map((t) => t - t0) : run.steps;
  const order = xs.map((_, i) => i);
  if (view.x === "time") order.sort((a, b) => xs[a] - xs[b]);
  const raw = order.map((i) => {
    const v = run.values[i];
    return v === null || (axis.log && v <= 0) ? null : v;
  });
  return [order.map((i) => xs[i]), view.smooth > 0 ? ema(raw, view.smooth) : raw];
}

function valueAxis() {
  return { size: 64, values: (u, splits) => splits.map((v) => (v === null ? "" : g6(v))) };
}

function xLabel() {
  return view.x === "time" ? "seconds since the run's first point" : "step";
}

function newPlot(series, aligned, bands) {
  const node = document.getElementById("chart");
  node.dataset.log = String(axis.log);
  if (plot) plot.destroy();
  plot = new uPlot({
    width: chartWidth(),
    height: 380,
    scales: { x: { time: false }, y: axis.log ? { distr: 3 } : {} },
    series: [{ label: xLabel(), value: (u, v) => (v === null ? "" : g6(v)) }, ...series],
    bands,
    axes: [{ label: xLabel(), labelSize: 20 }, valueAxis()],
    cursor: { drag: { x: true, y: false, setScale: false }, focus: { prox: 16 } },
    focus: { alpha: 0.25 },
    legend: { live: true },
    hooks: {
      setSelect: [(u) => {
        if (u.select.width < 4) return;
        const lo = u.posToVal(u.select.left, "x");
        const hi = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        zoomTo(lo, hi);
      }],
    },
  }, aligned, node);
  plot.over.addEventListener("dblclick", () => {
    if (zoom) {
      zoom = null;
      loadChart().catch(showError);
    }
  });
}

function drawRuns(shown = curves) {
  const runs = shown.runs;
  const rows = new Map(data.rows.map((row, i) => [row.id, { row, i }]));
  const drawn = runs.filter((run) => run.steps.length);
  axis = yAxis(view.y, drawn.flatMap((run) => run.values), view.key);
  const aligned = drawn.length ? uPlot.join(drawn.map(runData)) : [[]];
  const series = drawn.map((run) => {
    const { row, i } = rows.get(run.id);
    return { label: row.label, stroke: colour(i), width: 1.5, spanGaps: true, points: { show: false }, value: (u, v) => fmt(v) };
  });
  newPlot(series, aligned, []);
  const node = document.getElementById("chart");
  node.dataset.series = String(series.length);
  node.dataset.bands = "0";
  node.dataset.points = String(drawn.reduce((n, run) => n + run.steps.length, 0)); // what a live test waits on
  const reduced = runs.filter((r) => r.reduced).length;
  const missing = runs.length - drawn.length;
  document.getElementById("chart-foot").textContent = [
    zoom ? `steps ${zoom.from}–${zoom.to} (double-click to reset)` : "",
    reduced ? `${reduced} of ${runs.length} curves reduced to min/max per bucket; drag to zoom in for full resolution` : "",
    missing ? `${missing} run${missing === 1 ? "" : "s"} without a finite ${view.key}` : "",
    view.smooth > 0 ? `smoothed (EMA ${view.smooth.toFixed(2)})` : "",
    axis.note,
  ].filter(Boolean).join(" · ");
}

function drawBands(found) {
  const series = [];
  const bands = [];
  const columns = [found.steps];
  axis = yAxis(view.y, found.groups.flatMap((group) => group.means), view.key);
  found.groups.forEach((group, g) => {
    // Groups come ordered by value: up to 10 get distinct colours, more a hue ramp.
    const c = found.groups.length <= 10 ? PALETTE[g] : hsl((g / (found.groups.length - 1)) * 285, 68, 42);
    const keep = (v) => (v === null || (axis.log && v <= 0) ? null : v);
    const means = group.means.map(keep);
    const smoothed = view.smooth > 0 ? ema(means, view.smooth) : means;
    const hi = group.means.map((m, i) => (m === null ? null : keep(m + group.stds[i])));
    const lo = group.means.map((m, i) => (m === null ? null : keep(m - group.stds[i])));
    const at = columns.length;
    columns.push(smoothed, hi, lo);
    series.push(
      { label: group.label, stroke: c, width: 2, spanGaps: true, points: { show: false }, value: (u, v) => fmt(v) },
      { label: "+std", stroke: alpha(c, 0.35), width: 0.5, spanGaps: true, points: { show: false }, value: (u, v) => fmt(v), class: "edge" },
      { label: "-std", stroke: alpha(c, 0.35), width: 0.5, spanGaps: true, points: { show: false }, value: (u, v) => fmt(v), class: "edge" },
    );
    bands.push({ series: [at + 1, at + 2], fill: alpha(c, 0.14) });
  });
  newPlot(series, columns, bands);
  // The band edges stay out of the legend: each group is one entry, its mean.
  plot.root.querySelectorAll(".u-legend .u-series").forEach((row, i) => {
    if (i > 0 && (i - 1) % 3 !== 0) row.style.display = "none";
  });
  const node = document.getElementById("chart");
  node.dataset.series = String(found.groups.length);
  node.dataset.bands = String(bands.length);
  document.getElementById("chart-foot").textContent = [
    zoom ? `steps ${zoom.from}–${zoom.to} (double-click to reset)` : "",
    `mean ± sample std over each group's runs${found.width > 1 ? `, per bucket of ${g6(found.width)} steps (each run's mean in the bucket)` : ", at each step"}`,
    view.smooth > 0 ? `means smoothed (EMA ${view.smooth.toFixed(2)})` : "",
    scopeNote(found.scope),
    axis.note,
  ].filter(Boolean).join(" · ");
}

// What the groups count, as `yanex compare --group-by` notes it: the runs left out are named, so a
// band of running or superseded runs never looks empty without a reason.
function scopeNote(scope) {
  if (!scope) return "";
  const only = [scope.completed_only ? "completed" : "", scope.latest_only ? "latest attempts" : ""].filter(Boolean);
  if (!only.length) return "";
  const out = scope.left_out ? `${scope.left_out} of ${scope.selected} runs left out` : `all ${scope.selected} runs`;
  return `${only.join(", ")} only: ${out}`;
}

// Curves and bands are asked for in parts of about RUNS_PER_PART runs (or their groups), as many
// at a time as the server has cores (data.cores; its curve readers read parts side by side). The
// chart is drawn once all are in; when the rest takes longer than PARTIAL_MS after the first (the
// server reads them afresh), it is drawn with the first part meanwhile, so that curves show early.
const RUNS_PER_PART = 4;
const MAX_PARTS = 16;
const PARTIAL_MS = 100;
let loads = 0; // the latest loadChart: parts of an earlier one are dropped

async function inParts(path, extra, draw) {
  const load = ++loads;
  const parts = Math.min(MAX_PARTS, Math.max(1, Math.ceil(data.rows.length / RUNS_PER_PART)));
  const answers = new Array(parts);
  let next = 0;
  let partial = null;
  const worker = async () => {
    while (next < parts && load === loads) {
      const part = next++;
      answers[part] = await api(apiPath(path, { ...extra, part, parts }));
      if (partial === null && next < parts) {
        partial = setTimeout(() => load === loads && draw([answers[part]], false), PARTIAL_MS);
      }
    }
  };
  document.getElementById("chart").dataset.loading = "1";
  try {
    await Promise.all(Array.from({ length: Math.min(parts, data.cores || 2) }, worker));
  } finally {
    clearTimeout(partial);
  }
  if (load !== loads) return;
  draw(answers, true);
  document.getElementById("chart").dataset.loading = "0";
}

// The parts' bands on one step axis: the buckets are the whole selection's, each part lists the
// ones its groups have a point in.
function mergeBands(answers) {
  const steps = [...new Set(answers.flatMap((a) => a.steps))].sort((a, b) => a - b);
  const at = new Map(steps.map((step, i) => [step, i]));
  const groups = answers.flatMap((a) =>
    a.groups.map((group) => {
      const means = new Array(steps.length).fill(null);
      const stds = new Array(steps.length).fill(null);
      a.steps.forEach((step, i) => {
        means[at.get(step)] = group.means[i];
        stds[at.get(step)] = group.stds[i];
      });
      return { ...group, means, stds };
    }),
  );
  return { ...answers[0], steps, groups };
}

async function loadChart() {
  const range = zoom ? { from: zoom.from, to: zoom.to } : {};
  const width = chartWidth();
  if (view.group) {
    await inParts("/api/compare/bands", { key: view.key, group: view.group, width, until: cursor, ...range }, (answers) => drawBands(mergeBands(answers)));
  } else {
    // Times only for a time axis: each costs the server a lookup per point.
    const times = view.x === "time" ? 1 : null;
    await inParts("/api/compare/curves", { key: view.key, width, until: cursor, times, ...range }, (answers, all) => {
      const found = { ...answers[0], runs: answers.flatMap((a) => a.runs) };
      if (all) curves = found; // what live points are added to: whole, or the earlier curves until then
      drawRuns(found);
    });
  }
  curvesCli();
}

function zoomTo(lo, hi) {
  if (view.x === "time") return; // zoom by step only: times differ from run to run
  const from = Math.ceil(lo);
  const to = Math.floor(hi);
  if (to < from) return;
  zoom = { from, to };
  loadChart().catch(showError);
}

function curvesCli() {
  const group = view.group ? ["--group-by", view.group] : [];
  const lines = [cliLine("Plot", command("plot", view.key, sel(), group))];
  if (view.group) lines.push(cliLine("Groups", command("compare", sel(), group, "-m", metricRef())));
  document.getElementById("curves-cli").replaceChildren(...lines);
  document.getElementById("curves-title").textContent = view.group
    ? `${view.key}: mean ± std by ${view.group}`
    : `${view.key} of ${data.rows.length} run${data.rows.length === 1 ? "" : "s"}`;
}

// ---- Live

async function poll() {
  try {
    // Many new points come reduced to the chart's width (min/max per bucket), like its curves.
    const times = view.x === "time" ? 1 : null;
    const fresh = await api(apiPath("/api/compare/points", { key: view.key, after: cursor, width: chartWidth(), version, times }));
    const arrived = Object.keys(fresh.points).length > 0;
    cursor = fresh.cursor;
    version = fresh.version;
    if (fresh.statuses) statuses = fresh.statuses; // absent: nothing was written since
    if (arrived && !view.group && curves && !zoom) {
      const byId = new Map(curves.runs.map((run) => [run.id, run]));
      for (const [id, points] of Object.entries(fresh.points)) {
        const run = byId.get(id);
        if (!run) continue;
        run.steps.push(...points.steps);
        run.values.push(...points.values);
        if (run.times && points.times) run.times.push(...points.times);
        else run.times = null;
        run.count += points.count;
        run.reduced = run.reduced || points.reduced;
      }
      drawRuns();
    } else if (arrived && view.group && !zoom) {
      await loadChart(); // the bands are reduced on the server: one small answer
    }
    const active = Object.values(statuses).filter((s) => ACTIVE.has(s)).length;
    document.getElementById("live").replaceChildren(active
      ? el("span", { class: "live" }, `live · ${active} running · updated ${fmtTime(new Date().toISOString()).slice(11)}`)
      : "");
    document.getElementById("chart").dataset.cursor = String(cursor);
    if (active) {
      setTimeout(poll, POLL_MS);
      return;
    }
    polling = false;
    await loadCompare(); // the runs ended: their aggregates are final
  } catch (error) {
    showError(error);
    setTimeout(poll, POLL_MS * 3);
  }
}

// ---- The table

function runCell(row, i) {
  return el("td", { class: "name" },
    el("span", { class: "swatch", style: `background:${colour(i)}` }),
    el("a", { href: `/experiment/${row.id}`, title: row.id }, row.name || row.short));
}

function renderTable() {
  const best = Object.fromEntries(Object.entries(data.best).map(([name, rows]) => [name, new Set(rows)]));
  const columns = [...data.params.map((p) => ({ label: p, param: p })), ...data.metrics.map((m) => ({ label: m, metric: m }))];
  document.getElementById("table").replaceChildren(el("table", { class: "runs compare" },
    el("thead", {}, el("tr", {},
      el("th", { class: "nosort" }, "id"), el("th", { class: "nosort" }, "run"), el("th", { class: "nosort" }, "status"),
      columns.map((c) => el("th", { class: `nosort num ${c.metric ? "metric" : "param"}` }, c.label)))),
    el("tbody", {}, data.rows.map((row, i) => el("tr", { dataset: { id: row.id } },
      el("td", { class: "id" }, row.short),
      runCell(row, i),
      el("td", {}, statusBadge(row.status)),
      columns.map((c) => c.param
        ? el("td", { class: "num" }, fmtAt(row.params, c.param))
        : el("td", { class: best[c.metric].has(i) ? "num best" : "num" }, fmtAt(row.metrics, c.metric))),
    ))),
  ));
  document.getElementById("table-cli").replaceChildren(cliLine("CLI", data.command));
}

// ---- Parallel coordinates and scatter (SVG)

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== null && value !== undefined) node.setAttribute(name, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// An axis for a param's or metric's values: numbers on a linear scale, or a log one when they
// are positive and span two decades (a learning rate); anything else as evenly spaced categories.
function scaleOf(values, preferLog = null) {
  const present = values.filter((v) => v !== undefined && v !== null);
  if (present.length && present.every(numeric)) {
    let lo = Math.min(...present);
    let hi = Math.max(...present);
    const log = preferLog ?? (lo > 0 && hi / lo >= 100);
    const f = log && lo > 0 ? Math.log10 : (v) => v;
    const a = f(lo);
    const b = f(hi);
    const pos = (v) => (numeric(v) ? (b === a ? 0.5 : (f(v) - a) / (b - a)) : null);
    const ticks = [lo, hi];
    if (hi !== lo) ticks.splice(1, 0, log ? 10 ** ((a + b) / 2) : (lo + hi) / 2);
    return { pos, ticks: ticks.map((t) => [pos(t), g6(Number(t.toPrecision(3)))]), log };
  }
  const texts = [...new Set(present.map(fmt))].sort();
  const pos = (v) => (v === undefined || v === null ? null : texts.length === 1 ? 0.5 : texts.indexOf(fmt(v)) / (texts.length - 1));
  return { pos, ticks: texts.map((t) => [pos(t), t]), log: false };
}

// Viridis, five stops: a metric's value as a colour (dark: low).
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const c = VIRIDIS[i].map((v, k) => Math.round(v + f * (VIRIDIS[i + 1][k] - v)));
  return `rgb(${c.join(",")})`;
}

function tooltip(row, extra) {
  return [row.label, ...extra].join("\n");
}

function renderParallel() {
  const ref = metricRef();
  const axes = data.differing.filter((p) => data.rows.some((r) => r.params[p] !== undefined));
  const rows = data.rows.filter((r) => numeric(r.metrics[ref]));
  const section = document.getElementById("parallel");
  document.getElementById("parallel-cli").replaceChildren(cliLine("CLI", command("compare", sel(), "-m", ref, "-f", "csv")));
  if (!axes.length || !rows.length) {
    section.replaceChildren(el("div", { class: "empty" }, !axes.length ? "No param differs between these runs." : `No run has a number for ${ref}.`));
    section.dataset.lines = "0";
    return;
  }
  const width = section.clientWidth || 600;
  const height = 300;
  const top = 34;
  const bottom = 26;
  const names = [...axes, ref];
  const step = (width - 90) / Math.max(1, names.length - 1);
  const xOf = (k) => 50 + k * step;
  const yOf = (p) => top + (1 - p) * (height - top - bottom);
  const scales = names.map((name, k) => scaleOf(rows.map((r) => (k === axes.length ? r.metrics[ref] : r.params[name]))));
  const metric = scales[axes.length];
  const goal = data.goals[ref] || null;
  const lines = rows.map((row) => {
    const pts = names.map((name, k) => {
      const p = scales[k].pos(k === axes.length ? row.metrics[ref] : row.params[name]);
      return p === null ? null : `${xOf(k).toFixed(1)},${yOf(p).toFixed(1)}`;
    }).filter(Boolean);
    const t = metric.pos(row.metrics[ref]);
    return svg("polyline", { points: pts.join(" "), fill: "none", stroke: viridis(t), "stroke-width": 1.6, "stroke-opacity": 0.85, class: "pc-line" },
      svg("title", {}, tooltip(row, [`${ref} = ${fmtAt(row.metrics, ref)}`])));
  });
  const axisNodes = names.map((name, k) => svg("g", { class: k === axes.length ? "pc-axis metric" : "pc-axis" },
    svg("line", { x1: xOf(k), x2: xOf(k), y1: top, y2: height - bottom, stroke: "#57606a" }),
    svg("text", { x: xOf(k), y: top - 14, "text-anchor": "middle", class: "pc-name" }, name + (scales[k].log ? " (log)" : "")),
    scales[k].ticks.map(([p, label]) => svg("text", { x: xOf(k) + 5, y: yOf(p) + 4, class: "pc-tick" }, label)),
  ));
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "pc" }, lines, axisNodes);
  const legend = el("div", { class: "muted small" }, `Each line is a run; colour: ${ref} (dark low, yellow high${goal ? `; goal: ${goal}` : ""}). Hover a line for its run.`);
  section.replaceChildren(chart, legend);
  section.dataset.lines = String(lines.length);
}

function renderScatter() {
  const ref = metricRef();
  const select = document.getElementById("scatter-x");
  const params = data.differing.filter((p) => data.rows.some((r) => r.params[p] !== undefined));
  if (!params.includes(view.sx)) view.sx = params[0] || "";
  select.replaceChildren(...params.map((p) => el("option", { value: p, selected: p === view.sx }, p)));
  const section = document.getElementById("scatter");
  const rows = data.rows.map((r, i) => ({ r, i })).filter(({ r }) => numeric(r.metrics[ref]) && r.params[view.sx] !== undefined);
  document.getElementById("scatter-cli").replaceChildren(cliLine("CLI", command("compare", sel(), "-p", view.sx, "-m", ref, "-f", "csv")));
  if (!view.sx || !rows.length) {
    section.replaceChildren(el("div", { class: "empty" }, !view.sx ? "No param differs between these runs." : `No run has a number for ${ref}.`));
    section.dataset.points = "0";
    return;
  }
  const logBox = document.getElementById("scatter-log");
  const xs = scaleOf(rows.map(({ r }) => r.params[view.sx]), logBox.dataset.touched ? logBox.checked : null);
  logBox.checked = xs.log;
  const ys = scaleOf(rows.map(({ r }) => r.metrics[ref]), false);
  const width = section.clientWidth || 600;
  const height = 300;
  const left = 70;
  const right = 20;
  const top = 16;
  const bottom = 40;
  const X = (p) => left + p * (width - left - right);
  const Y = (p) => top + (1 - p) * (height - top - bottom);
  const best = new Set(data.best[ref] || []);
  const dots = rows.map(({ r, i }) => svg("circle", {
    cx: X(xs.pos(r.params[view.sx])).toFixed(1), cy: Y(ys.pos(r.metrics[ref])).toFixed(1), r: best.has(i) ? 6 : 4.5,
    fill: colour(i), "fill-opacity": 0.8, stroke: best.has(i) ? "#1a7f37" : "#fff", "stroke-width": best.has(i) ? 2 : 1, class: "sc-dot",
  }, svg("title", {}, tooltip(r, [`${view.sx} = ${fmtAt(r.params, view.sx)}`, `${ref} = ${fmtAt(r.metrics, ref)}`]))));
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "sc" },
    svg("line", { x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, stroke: "#57606a" }),
    svg("line", { x1: left, x2: left, y1: top, y2: height - bottom, stroke: "#57606a" }),
    xs.ticks.map(([p, label]) => svg("text", { x: X(p), y: height - bottom + 16, "text-anchor": "middle", class: "pc-tick" }, label)),
    ys.ticks.map(([p, label]) => svg("text", { x: left - 6, y: Y(p) + 4, "text-anchor": "end", class: "pc-tick" }, label)),
    svg("text", { x: (left + width - right) / 2, y: height - 6, "text-anchor": "middle", class: "pc-name" }, view.sx + (xs.log ? " (log)" : "")),
    svg("text", { x: 14, y: (top + height - bottom) / 2, "text-anchor": "middle", transform: `rotate(-90 14 ${(top + height - bottom) / 2})`, class: "pc-name" }, ref),
    dots);
  section.replaceChildren(chart);
  section.dataset.points = String(dots.length);
}

// ---- The page

function renderControls() {
  const keySelect = document.getElementById("key");
  if (!data.keys.includes(view.key)) view.key = data.keys.includes("loss") ? "loss" : data.keys[0] || "";
  keySelect.replaceChildren(...data.keys.map((k) => el("option", { value: k, selected: k === view.key }, k)));
  const group = document.getElementById("group");
  const options = [["", "(each run)"], ...data.differing.map((p) => [p, p])];
  if (data.differing.includes("seed") && data.differing.length > 1) options.push(["!seed", "every param but seed"]);
  if (view.group && !options.some(([v]) => v === view.group)) options.push([view.group, view.group]);
  group.replaceChildren(...options.map(([value, label]) => el("option", { value, selected: value === view.group }, label)));
  document.getElementById("yscale").value = view.y;
  document.getElementById("agg").replaceChildren(...AGGREGATES.map((a) => el("option", { value: a, selected: a === view.agg }, a === "last" ? "last value" : a)));
  document.getElementById("xaxis").disabled = Boolean(view.group);
  if (view.group) view.x = "step";
}

function renderHead() {
  const back = new URLSearchParams(selection());
  back.delete("id");
  document.getElementById("back").href = `/?${back}`;
  const ids = selection().getAll("id").length;
  document.title = `Compare ${data.rows.length} runs · yanex`;
  document.getElementById("head").replaceChildren(
    el("h1", {}, `Compare ${data.rows.length} run${data.rows.length === 1 ? "" : "s"}`,
      el("span", { class: "muted small" }, ids ? "ticked on the runs page" : data.selection ? "matching the filters" : "all runs")),
    ...data.notes.map((note) => el("div", { class: "note" }, note)),
  );
}

async function loadCompare() {
  data = await api(apiPath("/api/compare", {}), { floats: true });
  if (view.agg !== "last") {
    const refs = data.keys.map((k) => `${k}.${view.agg}`);
    data = await api(apiPath("/api/compare", { metric: refs }), { floats: true });
  }
  cursor = data.cursor;
  rankRows();
  renderHead();
  renderControls();
  document.getElementById("table-section").hidden = false;
  renderTable();
  const hasMetrics = data.keys.length > 0;
  for (const id of ["curves-section", "parallel-section", "scatter-section"]) document.getElementById(id).hidden = !hasMetrics;
  if (!hasMetrics) return;
  renderParallel();
  renderScatter();
  await loadChart();
  if (!polling && data.rows.some((r) => ACTIVE.has(r.status))) {
    polling = true;
    setTimeout(poll, POLL_MS);
  }
}

async function main() {
  try {
    await loadCompare();
  } catch (error) {
    showError(error);
    document.body.dataset.loaded = "error";
    return;
  }
  document.body.dataset.loaded = "compare";
}

function rerender(fn) {
  saveView();
  fn().catch(showError);
}

document.getElementById("key").addEventListener("change", (e) => {
  view.key = e.target.value;
  zoom = null;
  rerender(async () => {
    renderParallel();
    renderScatter();
    await loadChart();
  });
});
document.getElementById("group").addEventListener("change", (e) => {
  view.group = e.target.value;
  zoom = null;
  renderControls();
  rerender(loadChart);
});
document.getElementById("agg").addEventListener("change", (e) => {
  view.agg = e.target.value;
  rerender(loadCompare);
});
document.getElementById("scatter-x").addEventListener("change", (e) => {
  view.sx = e.target.value;
  saveView();
  renderScatter();
});
document.getElementById("scatter-log").addEventListener("change", (e) => {
  e.target.dataset.touched = "1";
  renderScatter();
});
document.getElementById("yscale").addEventListener("change", (e) => {
  view.y = e.target.value;
  saveView();
  if (view.group) rerender(loadChart);
  else if (curves) drawRuns();
});
document.getElementById("xaxis").addEventListener("change", (e) => {
  view.x = e.target.value;
  zoom = null;
  rerender(loadChart);
});
document.getElementById("smooth").addEventListener("input", (e) => {
  view.smooth = Number(e.target.value);
  document.getElementById("smooth-value").textContent = view.smooth.toFixed(2);
  if (view.group) rerender(loadChart);
  else if (curves) drawRuns();
});
main();
