// The experiment page: what `yanex show` says, one chart per metric, live while it runs.
// Curves come reduced by the server to about two points per pixel (the lowest and highest value
// of each bucket of steps); dragging over a chart asks for that step range, at full resolution
// once it holds few enough points. While the experiment runs, the page asks every 2 s for the
// points logged after its cursor (the largest metrics.id it has seen), never a history again.
import { ago, api, cliLine, el, ema, errorBox, fmt, fmtAt, fmtDuration, fmtSize, fmtTime, g6, statusBadge, yAxis } from "./common.js";

const ref = decodeURIComponent(location.pathname.replace(/^\/experiment\//, ""));
const ACTIVE = new Set(["created", "queued", "running"]);
const STALE_SECONDS = 30;
const POLL_MS = 2000;
const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#1b7c83", "#bf3989", "#6e7781"];
const options = { y: "auto", smooth: 0, x: "step" };
const charts = new Map();
let detail = null;
let cursor = 0;
let version = null; // the store's version at the last live answer: unchanged, the server says so at once
let status = null; // the experiment's status at the last live answer that read it

function base(id) {
  return `/api/experiment/${encodeURIComponent(id)}`;
}

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

class Chart {
  constructor(key, summary, index) {
    this.key = key;
    this.color = PALETTE[index % PALETTE.length];
    this.full = null; // the unzoomed curve, which live points are appended to
    this.zoom = null; // {from, to} steps while zoomed
    this.view = null; // the curve drawn
    this.plot = null;
    this.axis = { log: false, note: "" }; // the y axis drawn (yAxis)
    this.summary = el("span", { class: "summary" });
    this.note = el("span", { class: "reduced" });
    this.range = el("span");
    this.area = el("div", { class: "plot" });
    this.node = el("div", { class: "metric-chart", dataset: { key } },
      el("div", { class: "head" }, el("span", { class: "key" }, key), this.summary),
      this.area,
      el("div", { class: "foot" }, this.note, this.range),
    );
    this.setSummary(summary);
  }

  setSummary(s) {
    if (!s) return;
    this.summary.textContent = `last ${fmt(s.last)}  min ${fmt(s.min)}  max ${fmt(s.max)}  ${s.count.toLocaleString()} pts`;
  }

  width() {
    return Math.max(200, Math.floor(this.area.clientWidth || 520));
  }

  async load(zoom) {
    const params = new URLSearchParams({ key: this.key, width: String(this.width()), until: String(cursor) });
    if (options.x === "time") params.set("times", "1"); // read only for a time axis: a lookup per point
    if (zoom) {
      params.set("from", String(zoom.from));
      params.set("to", String(zoom.to));
    }
    const curve = await api(`${base(detail.id)}/series?${params}`);
    this.zoom = zoom;
    if (!zoom) this.full = curve;
    this.view = curve;
    this.draw();
  }

  append(points) {
    if (!this.full) return;
    this.full.steps.push(...points.steps);
    this.full.values.push(...points.values);
    if (this.full.times && points.times) this.full.times.push(...points.times);
    else this.full.times = null;
    this.full.count += points.count;
    this.full.reduced = this.full.reduced || points.reduced;
    this.full.highest = this.full.steps[this.full.steps.length - 1];
    if (!this.zoom) {
      this.view = this.full;
      this.redraw();
    }
  }

  data() {
    const c = this.view;
    let order = c.steps.map((_, i) => i);
    const time = options.x === "time" && c.times;
    const xs = time ? c.times : c.steps;
    if (time) order.sort((a, b) => xs[a] - xs[b]);
    const x = order.map((i) => xs[i]);
    const raw = order.map((i) => {
      const v = c.values[i];
      return v === null || (this.axis.log && v <= 0) ? null : v;
    });
    return options.smooth > 0 ? [x, raw, ema(raw, options.smooth)] : [x, raw];
  }

  footer() {
    const c = this.view;
    const shown = c.steps.length.toLocaleString();
    this.note.textContent = [
      c.reduced ? `reduced: ${shown} of ${c.count.toLocaleString()} points (min/max per bucket); drag to zoom in` : "",
      this.axis.note,
    ].filter(Boolean).join(" · ");
    this.range.replaceChildren(this.zoom
      ? el("span", {}, `steps ${this.zoom.from}–${this.zoom.to} `, el("a", { href: "#", onclick: (e) => { e.preventDefault(); this.load(null); } }, "reset"))
      : c.count ? `steps ${c.lowest}–${c.highest}` : "no finite value to draw");
    this.node.dataset.points = String(c.steps.length);
    this.node.dataset.reduced = String(c.reduced);
    this.node.dataset.lastStep = c.steps.length ? String(c.steps[c.steps.length - 1]) : "";
  }

  redraw() {
    // A live chart whose values come to span decades turns logarithmic: drawn anew.
    if (!this.plot || yAxis(options.y, this.view.values, this.key).log !== this.axis.log) return this.draw();
    this.plot.setData(this.data());
    this.footer();
  }

  draw() {
    if (this.plot) this.plot.destroy();
    this.axis = yAxis(options.y, this.view.values, this.key);
    const time = options.x === "time";
    const series = [
      { label: time ? "time" : "step", value: (u, v) => (v === null ? "" : time ? fmtTime(new Date(v * 1000).toISOString()) : String(v)) },
      { label: this.key, stroke: options.smooth > 0 ? alpha(this.color, 0.28) : this.color, width: 1.25, value: (u, v) => fmt(v), points: { show: false } },
    ];
    if (options.smooth > 0) series.push({ label: "smoothed", stroke: this.color, width: 1.75, value: (u, v) => fmt(v), points: { show: false } });
    const chart = this;
    this.plot = new uPlot({
      width: this.width(),
      height: 210,
      scales: { x: { time }, y: this.axis.log ? { distr: 3 } : {} },
      series,
      axes: [{}, { size: 64, values: (u, splits) => splits.map((v) => (v === null ? "" : g6(v))) }],
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { live: true },
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 4) return;
          const lo = u.posToVal(u.select.left, "x");
          const hi = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          chart.zoomTo(lo, hi);
        }],
      },
    }, this.data(), this.area);
    this.plot.over.addEventListener("dblclick", () => this.zoom && this.load(null));
    this.node.dataset.series = String(this.plot.series.length - 1);
    this.node.dataset.log = String(this.axis.log);
    this.footer();
  }

  zoomTo(lo, hi) {
    const c = this.view;
    let from;
    let to;
    if (options.x === "time") {
      const inside = c.steps.filter((_, i) => c.times[i] >= lo && c.times[i] <= hi);
      if (!inside.length) return;
      from = Math.min(...inside);
      to = Math.max(...inside);
    } else {
      from = Math.ceil(lo);
      to = Math.floor(hi);
    }
    if (to < from) return;
    this.load({ from, to }).catch(showError);
  }
}

function showError(error) {
  document.getElementById("messages").replaceChildren(errorBox(error));
}

function kv(rows) {
  const kept = rows.filter(([, value]) => value !== null && value !== undefined && value !== "" && !(Array.isArray(value) && !value.length));
  return el("table", { class: "kv" }, el("tbody", {}, kept.map(([label, value, cls]) =>
    el("tr", {}, el("td", {}, label), el("td", { class: cls || null }, value)))));
}

function flatten(config, prefix = "") {
  const rows = [];
  for (const [key, value] of Object.entries(config || {})) {
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) rows.push(...flatten(value, `${prefix}${key}.`));
    else rows.push([`${prefix}${key}`, fmtAt(config, key), typeof value === "number" ? "num" : "mono"]);
  }
  return rows;
}

function link(relative, label) {
  return el("a", { href: `/experiment/${relative.id}`, title: relative.id }, label || relative.short);
}

function stale(d) {
  if (d.status !== "running") return null;
  const since = d.last_point || d.started || d.created;
  const quiet = (Date.now() - new Date(since).getTime()) / 1000;
  return quiet > STALE_SECONDS ? el("span", { class: "stale", title: "running, but no metric logged for a while" }, `stale: no point for ${ago(quiet)}`) : null;
}

function renderHead(d) {
  document.title = `${d.name || d.short} · yanex`;
  document.getElementById("crumb").textContent = d.name || d.short;
  const metric = d.metrics.length ? d.metrics[0].key : null;
  const env = d.environment || {};
  const params = flatten(d.params);
  const chips = params.length && params.length <= 16
    ? el("div", { class: "chips" }, params.map(([key, value]) => el("span", { class: "chip" }, el("span", { class: "muted" }, `${key}=`), value)))
    : null;
  document.getElementById("head").replaceChildren(...[
    el("h1", {}, d.name || d.short, statusBadge(d.status), stale(d), d.tags.map((tag) => el("span", { class: "tag" }, tag))),
    el("div", { class: "muted mono" }, d.id, d.archived ? "  (archived)" : ""),
    d.description ? el("p", {}, d.description) : null,
    chips,
    el("div", { class: "clis" }, cliLine("CLI", d.commands.show), metric ? cliLine("Points", `${d.commands.metrics} --key ${metric}`) : null),
    d.error ? el("div", { class: "error" }, d.error) : null,
  ].filter(Boolean));
  document.getElementById("overview").replaceChildren(
    el("div", {}, el("h2", {}, "Params"), params.length ? kv(params) : el("div", { class: "muted" }, "No params.")),
    el("div", {}, el("h2", {}, "Run"), kv([
      ["created", fmtTime(d.created), "mono"],
      ["started", fmtTime(d.started), "mono"],
      ["ended", fmtTime(d.ended), "mono"],
      ["duration", fmtDuration(d.duration), "num"],
      ["script", d.script, "mono"],
      ["args", d.args.join(" "), "mono"],
      ["working dir", d.working_dir, "mono"],
      ["exit code", d.exit_code === null ? "" : String(d.exit_code), "num"],
      ["host", env.hostname],
      ["python", env.python_version],
    ])),
  );
}

function lineage(d) {
  const l = d.lineage;
  const relatives = (list) => list.length ? el("span", {}, list.map((r, i) => [i ? ", " : "", link(r), ` ${r.name || ""} `, statusBadge(r.status)])) : null;
  const batch = l.batch ? el("span", {},
    el("a", { href: `/batch/${encodeURIComponent(l.batch.short)}` }, l.batch.short),
    ` (${l.batch.total} experiment${l.batch.total === 1 ? "" : "s"}${l.batch.executor ? `, on ${l.batch.executor}` : ""})`) : null;
  const attempt = l.attempt ? el("span", {}, `${l.rerun ? "re-run of " : "attempt " + l.attempt + " of "}`, link(l.rerun ? l.parent : l.root)) : null;
  const rows = [
    ["batch", batch],
    ["lineage", attempt],
    ["re-run as", l.rerun_as.length ? el("span", {}, l.rerun_as.map((r, i) => [i ? ", " : "", link(r)])) : null],
    ["depends on", relatives(l.parents)],
    ["needed by", relatives(l.children)],
  ];
  return rows.some(([, v]) => v) ? kv(rows) : el("div", { class: "muted" }, "An original: no batch, retries, re-runs or dependencies.");
}

function outputPanel(d, stream) {
  const text = d.output[stream];
  const size = d.output[`${stream}_size`];
  if (size === null) return el("div", { class: "muted" }, `No ${stream} captured.`);
  return el("div", {},
    el("div", { class: "muted" }, `${stream}: last ${d.output.tail_lines} lines · `,
      el("a", { href: `${base(d.id)}/output/${stream}`, target: "_blank", rel: "noopener" }, `full file (${fmtSize(size)})`)),
    text ? el("pre", { class: `output-${stream}` }, text) : el("div", { class: "muted" }, "(empty)"),
  );
}

function renderBody(d) {
  const git = d.git;
  const patchArea = el("div");
  const showPatch = git.patch_size ? el("button", {
    type: "button",
    onclick: async () => {
      try {
        const response = await fetch(`${base(d.id)}/patch`, { credentials: "same-origin" });
        patchArea.replaceChildren(el("pre", { class: "patch" }, await response.text()));
      } catch (error) {
        patchArea.replaceChildren(errorBox(error));
      }
    },
  }, `Show patch (${fmtSize(git.patch_size)})`) : null;
  document.getElementById("body").replaceChildren(
    el("div", { class: "grid2" },
      el("div", {}, el("h2", {}, "Git"), git.commit ? kv([
        ["commit", git.commit, "mono"],
        ["branch", git.branch, "mono"],
        ["message", git.message],
        ["dirty", git.dirty === null ? "" : git.dirty ? "yes" : "no"],
        ["left out", git.omitted.join("; ")],
      ]) : el("div", { class: "muted" }, "Not run from a git checkout."), showPatch, patchArea),
      el("div", {}, el("h2", {}, "Lineage"), lineage(d)),
    ),
    el("h2", {}, `Artifacts (yanex artifacts ${d.short})`),
    d.artifacts.length ? el("table", { class: "runs artifacts" },
      el("thead", {}, el("tr", {}, ["name", "size", "type", "sha256"].map((h) => el("th", { class: h === "size" ? "num nosort" : "nosort" }, h)))),
      el("tbody", {}, d.artifacts.map((a) => el("tr", {},
        el("td", {}, el("a", { href: `${base(d.id)}/artifact/${a.name.split("/").map(encodeURIComponent).join("/")}`, download: a.name.split("/").pop() }, a.name)),
        el("td", { class: "num" }, fmtSize(a.size)),
        el("td", { class: "muted" }, a.media_type || ""),
        el("td", { class: "id" }, a.sha256.slice(0, 12)),
      )))) : el("div", { class: "muted" }, "No artifacts saved."),
    el("h2", {}, "Output"),
    outputPanel(d, "stdout"),
    outputPanel(d, "stderr"),
  );
}

async function addChart(key, summary, curve) {
  const chart = new Chart(key, summary, charts.size);
  charts.set(key, chart);
  document.getElementById("charts").append(chart.node);
  document.getElementById("charts-section").hidden = false;
  if (curve) {
    chart.full = chart.view = curve;
    chart.draw();
  } else {
    await chart.load(null);
  }
}

function redrawAll() {
  for (const chart of charts.values()) if (chart.view) chart.draw();
}

async function poll() {
  try {
    // Many new points come reduced to the charts' width (min/max per bucket), like the curves.
    const width = Math.max(...[...charts.values()].map((chart) => chart.width()), 520);
    const params = new URLSearchParams({ after: String(cursor), width: String(width) });
    if (version) params.set("version", version);
    if (options.x === "time") params.set("times", "1");
    const fresh = await api(`${base(detail.id)}/points?${params}`);
    cursor = fresh.cursor;
    version = fresh.version;
    if (fresh.status) status = fresh.status; // absent: nothing was written since
    for (const [key, points] of Object.entries(fresh.points)) {
      const chart = charts.get(key);
      if (chart) chart.append(points);
      else await addChart(key, null, { key, ...points, lowest: points.steps[0], highest: points.steps[points.steps.length - 1] });
    }
    document.getElementById("live").replaceChildren(el("span", { class: "live" }, `live · ${status} · updated ${fmtTime(new Date().toISOString()).slice(11)}`));
    if (ACTIVE.has(status)) {
      setTimeout(poll, POLL_MS);
      return;
    }
    document.getElementById("live").replaceChildren();
    detail = await api(base(detail.id), { floats: true });
    renderHead(detail);
    renderBody(detail);
    for (const m of detail.metrics) charts.get(m.key)?.setSummary(m);
    cursor = detail.cursor;
    // Read once more, whole: a live tail is reduced bucket by bucket as it came.
    await Promise.all([...charts.values()].map((chart) => chart.load(chart.zoom)));
  } catch (error) {
    showError(error);
    setTimeout(poll, POLL_MS * 3);
  }
}

async function main() {
  try {
    detail = await api(base(ref), { floats: true });
  } catch (error) {
    showError(error);
    document.body.dataset.loaded = "error";
    return;
  }
  cursor = detail.cursor;
  status = detail.status;
  renderHead(detail);
  renderBody(detail);
  document.getElementById("charts-section").hidden = !detail.metrics.length;
  await Promise.all(detail.metrics.map((m) => addChart(m.key, m, null))).catch(showError);
  document.body.dataset.loaded = "experiment";
  if (ACTIVE.has(detail.status)) setTimeout(poll, POLL_MS);
}

document.getElementById("yscale").addEventListener("change", (e) => { options.y = e.target.value; redrawAll(); });
document.getElementById("xaxis").addEventListener("change", (e) => {
  options.x = e.target.value;
  // Curves come without times unless asked for: a time axis reloads them (unzoomed) with theirs.
  for (const chart of charts.values()) if (chart.view) chart.load(null).catch(showError);
});
document.getElementById("smooth").addEventListener("input", (e) => {
  options.smooth = Number(e.target.value);
  document.getElementById("smooth-value").textContent = options.smooth.toFixed(2);
  redrawAll();
});
main();
