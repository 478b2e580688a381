// The batch page: a batch's points (a sweep's whole plan, missing points too), their status and
// progress, the best so far for a metric aggregate (by the metric's goal), and a heatmap of that
// aggregate over two swept params whose cells link to their experiments. The choices live in the
// URL (?metric=loss.min&x=lr&y=seed); while points are still open the page asks again every 5 s.
// A searched sweep (--search) shows instead of the heatmap its sampler and objective, its best point
// and the objective over trials (the answer of `yanex sweep show`).
import { api, cliLine, el, errorBox, fmt, fmtAt, statusBadge } from "./common.js";

const ref = decodeURIComponent(location.pathname.replace(/^\/batch\//, ""));
const OPEN = new Set(["created", "queued", "running"]);
const POLL_MS = 5000;
const AGGREGATES = ["best", "last", "min", "max", "mean", "first", "count", "step_of_best"];
const ORDER = ["completed", "running", "queued", "created", "pruned", "failed", "cancelled", "missing"];
const MAX_ROWS = 2000;
const SVG = "http://www.w3.org/2000/svg";
let timer = null;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== null && value !== undefined) node.setAttribute(name, value);
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  return node;
}

function query() {
  return new URLSearchParams(location.search);
}

function setQuery(name, value) {
  const params = query();
  if (value) params.set(name, value);
  else params.delete(name);
  history.replaceState(null, "", `${location.pathname}?${params}`);
  load();
}

function key(value) {
  return JSON.stringify(value === undefined ? null : value);
}

// An axis's distinct values in order: numbers ascending, then anything else by its text.
function levels(points, axis) {
  const seen = new Map();
  for (const p of points) seen.set(key(p.params[axis]), p.params[axis]);
  return [...seen.values()].sort((a, b) => {
    const na = typeof a === "number", nb = typeof b === "number";
    if (na && nb) return a - b;
    if (na !== nb) return na ? -1 : 1;
    return fmt(a).localeCompare(fmt(b));
  });
}

// Viridis, sampled: 0 is worst (purple), 1 best (yellow).
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
function colour(t) {
  const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const mix = (a, b, f) => Math.round(a + (b - a) * f);
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]].map((h) => [1, 3, 5].map((o) => parseInt(h.slice(o, o + 2), 16)));
  return `rgb(${mix(a[0], b[0], x - i)},${mix(a[1], b[1], x - i)},${mix(a[2], b[2], x - i)})`;
}

function numeric(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function head(data) {
  document.getElementById("crumb").textContent = `Batch ${data.short}`;
  document.title = `Batch ${data.short} · yanex`;
  const what = data.search ? `a ${data.search.sampler} search of ${data.size.toLocaleString()} trials` : data.sweep ? `a sweep of ${data.size.toLocaleString()} points` : `${data.size.toLocaleString()} experiments`;
  const axes = data.axes.length ? ` over ${data.axes.join(", ")}` : "";
  const where = data.executor ? `, on ${data.executor}` : "";
  return el("div", {},
    el("h1", {}, "Batch ", el("span", { class: "mono" }, data.short)),
    el("div", { class: "muted" }, `${what}${axes}${where}`));
}

function progress(data) {
  const total = Object.values(data.progress).reduce((a, b) => a + b, 0);
  const parts = ORDER.filter((s) => data.progress[s]);
  const bar = el("div", { class: "progress", title: parts.map((s) => `${data.progress[s]} ${s}`).join(", ") },
    parts.map((s) => el("span", { class: `seg ${s}`, style: `width:${(100 * data.progress[s]) / total}%` })));
  const done = data.progress.completed || 0;
  const words = parts.filter((s) => s !== "completed").map((s) => `${data.progress[s]} ${s}`);
  return el("div", { class: "progress-wrap" }, bar,
    el("div", { class: "progress-text", id: "progress-text" }, `${done} of ${total} points completed`, words.length ? ` · ${words.join(" · ")}` : ""));
}

function options(select, values, chosen) {
  select.replaceChildren(...values.map((v) => el("option", { value: v, selected: v === chosen }, v === "" ? "—" : v)));
}

function controls(data) {
  const [metricKey, agg] = data.metric ? splitMetric(data.metric) : ["", "best"];
  options(document.getElementById("metric-key"), data.metrics, metricKey);
  options(document.getElementById("metric-agg"), AGGREGATES, agg);
  const params = query();
  for (const id of ["x", "y"]) document.getElementById(id).parentElement.style.display = data.search ? "none" : "";  // no heatmap
  const x = params.get("x") || data.axes[0] || "";
  const y = params.get("y") || data.axes.find((a) => a !== x) || "";
  options(document.getElementById("x"), data.axes, x);
  options(document.getElementById("y"), ["", ...data.axes], y);
  return { x, y };
}

function splitMetric(label) {
  const dot = label.lastIndexOf(".");
  if (dot > 0 && AGGREGATES.includes(label.slice(dot + 1))) return [label.slice(0, dot), label.slice(dot + 1)];
  return [label, "last"];
}

function paramText(params) {
  return Object.keys(params).map((k) => `${k}=${fmtAt(params, k)}`).join(", ");
}

function best(data) {
  if (data.search && data.metric === data.search.objective) return "";  // the search panel says it
  if (!data.metric) return el("div", { class: "muted" }, "No experiment of this batch logged a metric yet.");
  if (!data.best) return el("div", { class: "note" }, `No point has a value of ${data.metric} yet.`);
  const b = data.best;
  return el("div", { class: "best", id: "best-line" },
    el("span", { class: "label" }, `Best ${data.metric} so far (${data.goal === "min" ? "lowest" : "highest"} wins)`),
    el("span", { class: "value mono" }, fmt(b.value)),
    el("a", { href: `/experiment/${b.id}` }, b.name || b.short),
    el("span", { class: "muted mono" }, paramText(b.params)));
}

// The search's objective over its trials: each trial's value a dot (linked to its experiment), the
// best so far a step line; on a log scale when the values are positive and span two decades.
function searchChart(search) {
  const trials = search.trials;
  const values = trials.map((t) => numeric(t.objective)).filter((v) => v !== null);
  if (!values.length) return el("div", { class: "empty" }, `No trial has a value of ${search.objective} yet.`);
  const lo = Math.min(...values), hi = Math.max(...values);
  const log = lo > 0 && hi / lo >= 100;
  const f = log ? Math.log10 : (v) => v;
  const pad = (f(hi) - f(lo)) * 0.06 || 1;
  const [y0, y1] = [f(lo) - pad, f(hi) + pad];
  const left = 70, right = 16, top = 12, bottom = 40, height = 280;
  const width = Math.max(600, document.getElementById("search").clientWidth || 1180);
  const n = Math.max(search.budget, trials.length, 2);
  const X = (i) => left + ((i - 1) / (n - 1)) * (width - left - right);
  const Y = (v) => top + (1 - (f(v) - y0) / (y1 - y0)) * (height - top - bottom);
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "objective-chart", role: "img", "data-series": 2 });
  const ticks = log
    ? Array.from({ length: Math.floor(y1) - Math.ceil(y0) + 1 }, (_, k) => 10 ** (Math.ceil(y0) + k))
    : Array.from({ length: 5 }, (_, k) => lo + ((hi - lo) * k) / 4);
  for (const t of ticks) {
    root.append(svg("line", { x1: left, x2: width - right, y1: Y(t), y2: Y(t), class: "grid" }));
    root.append(svg("text", { x: left - 8, y: Y(t), class: "tick", "text-anchor": "end", "dominant-baseline": "middle" }, fmt(t)));
  }
  const step = Math.max(1, Math.ceil(n / 16));
  for (let i = 1; i <= n; i += step) root.append(svg("text", { x: X(i), y: height - bottom + 16, class: "tick", "text-anchor": "middle" }, String(i)));
  root.append(svg("text", { x: left + (width - left - right) / 2, y: height - 4, class: "axis-label", "text-anchor": "middle" }, "trial"));
  const points = trials.filter((t) => numeric(t.best_so_far) !== null);
  let d = "";
  points.forEach((t, k) => {
    d += k === 0 ? `M${X(t.trial)},${Y(t.best_so_far)}` : `H${X(t.trial)}V${Y(t.best_so_far)}`;
  });
  if (points.length) d += `H${X(trials[trials.length - 1].trial)}`;
  root.append(svg("path", { d, class: "series best-line", "data-series": "best so far" }));
  const dots = svg("g", { class: "series dots", "data-series": search.objective });
  const bestId = search.best ? search.best.id : null;
  for (const t of trials) {
    const v = numeric(t.objective);
    const tip = svg("title", {}, [`trial ${t.trial}: ${t.name || t.short} (${t.status})`, `${search.objective}: ${v === null ? "—" : fmt(v)}`,
      paramText(t.params)].join("\n"));
    const mark = v === null
      ? svg("path", { d: `M${X(t.trial) - 4},${height - bottom - 10}l8,0`, class: `dot none ${t.status}` })
      : svg("circle", { cx: X(t.trial), cy: Y(v), r: t.id === bestId ? 6 : 4, class: `dot ${t.id === bestId ? "best" : ""}` });
    dots.append(svg("a", { href: `/experiment/${t.id}`, class: "trial-dot", "data-status": t.status }, mark, tip));
  }
  root.append(dots);
  const noValue = trials.length - values.length;
  const legend = el("div", { class: "legend muted" },
    el("span", { class: "key-dot" }), el("span", {}, `a trial's ${search.objective}`),
    el("span", { class: "key-line" }), el("span", {}, "best so far"),
    noValue ? el("span", {}, ` · ${noValue} trial${noValue > 1 ? "s" : ""} with no value (pruned or failed) marked at the bottom`) : "",
    log ? el("span", {}, " · log scale") : "");
  return el("div", {}, root, legend);
}

function search(data) {
  const section = document.getElementById("search-section");
  const s = data.search;
  section.hidden = !s;
  document.getElementById("heatmap-section").hidden = !!s;
  if (!s) return;
  const direction = s.direction === "min" ? "lowest wins" : "highest wins";
  document.getElementById("search-title").textContent = `${s.objective} over trials`;
  const pruned = data.progress.pruned || 0;
  const about = el("div", { class: "muted", id: "search-about" },
    `${s.sampler} search`, s.seed !== null && s.seed !== undefined ? ` (seed ${s.seed})` : "",
    ` · objective ${s.objective} (${s.direction}: ${direction}) · ${s.trials.length} of ${s.budget} trials evaluated`,
    pruned ? ` · ${pruned} pruned` : "");
  const b = s.best;
  const best = b
    ? el("div", { class: "best", id: "search-best" },
      el("span", { class: "label" }, `Best ${s.objective} so far`),
      el("span", { class: "value mono" }, fmt(b.objective)),
      el("a", { href: `/experiment/${b.id}` }, b.name || b.short),
      el("span", { class: "muted" }, `trial ${b.trial}`),
      el("span", { class: "muted mono" }, paramText(b.params)))
    : el("div", { class: "note" }, `No trial has a value of ${s.objective} yet.`);
  document.getElementById("search").replaceChildren(about, best, searchChart(s), el("div", { class: "clis" }, cliLine("same answer", s.command)));
}

function heatmap(data, x, y) {
  const box = document.getElementById("heatmap");
  document.getElementById("heatmap-title").textContent = data.metric ? `${data.metric} over ${x}${y ? ` × ${y}` : ""}` : "Heatmap";
  if (!x) {
    box.replaceChildren(el("div", { class: "empty" }, "The points differ in no param: there is nothing to lay out."));
    return;
  }
  const xs = levels(data.points, x);
  const ys = y ? levels(data.points, y) : [null];
  const labels = new Map(); // an axis value as the params show it (a whole float keeps its ".0")
  for (const p of data.points) for (const a of [x, y].filter(Boolean)) labels.set(`${a}|${key(p.params[a])}`, fmtAt(p.params, a));
  const shown = (axis, v) => labels.get(`${axis}|${key(v)}`);
  const cells = new Map();
  for (const p of data.points) {
    const k = `${key(p.params[x])}|${y ? key(p.params[y]) : "null"}`;
    if (!cells.has(k)) cells.set(k, []);
    cells.get(k).push(p);
  }
  const values = data.points.map((p) => numeric(p.value)).filter((v) => v !== null);
  const lo = Math.min(...values), hi = Math.max(...values);
  const score = (v) => (hi === lo ? 1 : data.goal === "min" ? (hi - v) / (hi - lo) : (v - lo) / (hi - lo));
  const left = 90, top = 10, bottom = 44, right = 10;
  const width = Math.min(1180, Math.max(360, left + right + xs.length * 84));
  const cw = (width - left - right) / xs.length;
  const ch = Math.max(22, Math.min(46, 380 / ys.length));
  const height = top + ys.length * ch + bottom;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "heatmap", role: "img" });
  ys.forEach((yv, j) => {
    root.append(svg("text", { x: left - 8, y: top + j * ch + ch / 2, class: "tick", "text-anchor": "end", "dominant-baseline": "middle" }, y ? shown(y, yv) : ""));
    xs.forEach((xv, i) => {
      const group = cells.get(`${key(xv)}|${key(yv)}`) || [];
      const nums = group.map((p) => numeric(p.value)).filter((v) => v !== null);
      const mean = nums.length ? nums.reduce((a, b) => a + b, 0) / nums.length : null;
      const ran = group.filter((p) => p.id);
      const statuses = [...new Set(group.map((p) => p.status))];
      const state = !group.length ? "absent" : mean !== null ? "value" : ran.length ? "novalue" : "missing";
      const rect = svg("rect", {
        x: left + i * cw + 1, y: top + j * ch + 1, width: cw - 2, height: ch - 2, rx: 3,
        fill: state === "value" ? colour(score(mean)) : state === "absent" ? "#ffffff" : "url(#hatch)",
        class: `cell ${state}`, stroke: state === "value" ? "none" : "#d0d7de",
      });
      const label = state === "value" ? fmt(mean) : state === "missing" ? "missing" : state === "novalue" ? statuses.join("/") : "";
      const dark = state === "value" && score(mean) < 0.55;
      const text = svg("text", { x: left + i * cw + cw / 2, y: top + j * ch + ch / 2, class: `cell-text${dark ? " on-dark" : ""}`, "text-anchor": "middle", "dominant-baseline": "middle" }, cw > 46 ? label : "");
      const title = svg("title", {}, [`${x}=${shown(x, xv)}`, y ? `${y}=${shown(y, yv)}` : null, `${data.metric}: ${mean === null ? "—" : fmt(mean)}`,
        group.length > 1 ? `mean of ${nums.length} of ${group.length} points` : null, `status: ${statuses.join(", ")}`].filter(Boolean).join("\n"));
      const target = ran.length ? ran.reduce((a, b) => (numeric(b.value) !== null && (numeric(a.value) === null || score(b.value) > score(a.value)) ? b : a)) : null;
      const cell = target
        ? svg("a", { href: `/experiment/${target.id}`, class: "cell-link", "data-status": statuses.join(" "), "data-points": group.length }, rect, text, title)
        : svg("g", { class: "cell-link", "data-status": statuses.join(" "), "data-points": group.length }, rect, text, title);
      if (group.length) root.append(cell);
    });
  });
  xs.forEach((xv, i) => root.append(svg("text", { x: left + i * cw + cw / 2, y: top + ys.length * ch + 16, class: "tick", "text-anchor": "middle" }, shown(x, xv))));
  root.append(svg("text", { x: left + (width - left - right) / 2, y: height - 6, class: "axis-label", "text-anchor": "middle" }, x));
  if (y) root.append(svg("text", { x: 12, y: top + (ys.length * ch) / 2, class: "axis-label", "text-anchor": "middle", transform: `rotate(-90 12 ${top + (ys.length * ch) / 2})` }, y));
  root.prepend(svg("defs", {}, svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    svg("rect", { width: 6, height: 6, fill: "#f6f8fa" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#d0d7de", "stroke-width": 2 }))));
  const legend = values.length ? el("div", { class: "legend muted" },
    el("span", {}, `worst ${fmt(data.goal === "min" ? hi : lo)}`),
    el("span", { class: "ramp" }),
    el("span", {}, `best ${fmt(data.goal === "min" ? lo : hi)}`),
    el("span", {}, " · hatched: not run yet, or no value · click a cell for its experiment")) : null;
  const several = data.points.length > xs.length * ys.length;
  box.replaceChildren(root, legend, several ? el("div", { class: "muted" }, `Several points share a cell (other params vary): each cell shows their mean.`) : "");
}

function table(data) {
  const shown = data.points.slice(0, MAX_ROWS);
  const bestId = data.best ? data.best.id : null;
  const reasons = shown.some((p) => p.reason);
  const runs = !data.search;  // a search runs each point once
  const rows = shown.map((p) => el("tr", { class: p.id && p.id === bestId ? "best-row" : null, dataset: { status: p.status } },
    el("td", { class: "num" }, String(p.index + 1)),
    el("td", { class: "name" }, p.id ? el("a", { href: `/experiment/${p.id}` }, p.name || p.short) : el("span", { class: "muted" }, "not run")),
    el("td", { title: p.reason || null }, p.status === "missing" ? el("span", { class: "status missing" }, "missing") : statusBadge(p.status)),
    data.axes.map((a) => el("td", { class: "num" }, fmtAt(p.params, a))),
    el("td", { class: "num" }, fmtAt(p, "value")),
    runs ? el("td", { class: "num muted" }, p.runs > 1 ? String(p.runs) : "") : "",
    reasons ? el("td", { class: "reason muted" }, p.reason || "") : ""));
  const headRow = el("tr", {}, el("th", { class: "num nosort" }, "#"), el("th", { class: "nosort" }, "name"), el("th", { class: "nosort" }, "status"),
    data.axes.map((a) => el("th", { class: "num nosort" }, a)), el("th", { class: "num nosort" }, data.metric || "value"),
    runs ? el("th", { class: "num nosort", title: "experiments that ran this point (re-runs, resumptions)" }, "runs") : "",
    reasons ? el("th", { class: "nosort" }, "why it stopped") : "");
  const note = data.points.length > shown.length ? el("div", { class: "note" }, `The table shows the first ${shown.length.toLocaleString()} points.`) : "";
  return [note, el("table", { class: "runs points" }, el("thead", {}, headRow), el("tbody", {}, rows))];
}

async function load() {
  clearTimeout(timer);
  const params = query();
  const wanted = new URLSearchParams();
  if (params.get("metric")) wanted.set("metric", params.get("metric"));
  let data;
  try {
    data = await api(`/api/batch/${encodeURIComponent(ref)}?${wanted}`, { floats: true });
  } catch (error) {
    document.getElementById("messages").replaceChildren(errorBox(error));
    document.body.dataset.loaded = "error";
    return;
  }
  document.getElementById("messages").replaceChildren(...data.notes.map((n) => el("div", { class: "note" }, n)));
  document.getElementById("head").replaceChildren(head(data));
  document.getElementById("progress").replaceChildren(progress(data));
  const { x, y } = controls(data);
  document.getElementById("clis").replaceChildren(
    cliLine("points", data.commands.list),
    cliLine("compare", data.commands.compare),
    data.commands.resume ? cliLine("missing", data.commands.resume) : "");
  document.getElementById("best").replaceChildren(best(data));
  search(data);
  if (!data.search) heatmap(data, x, y);
  document.getElementById("points").replaceChildren(...table(data));
  const open = data.points.some((p) => OPEN.has(p.status));
  document.getElementById("live").replaceChildren(open ? el("span", { class: "live" }, "live") : "");
  if (open) timer = setTimeout(load, POLL_MS);
  document.body.dataset.loaded = "batch";
}

const metricChanged = () => setQuery("metric", `${document.getElementById("metric-key").value}.${document.getElementById("metric-agg").value}`);
document.getElementById("metric-key").addEventListener("change", metricChanged);
document.getElementById("metric-agg").addEventListener("change", metricChanged);
document.getElementById("x").addEventListener("change", (e) => setQuery("x", e.target.value));
document.getElementById("y").addEventListener("change", (e) => setQuery("y", e.target.value));
document.getElementById("controls").addEventListener("submit", (e) => e.preventDefault());
load();
