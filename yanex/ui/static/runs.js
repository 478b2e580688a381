// The runs page: the experiments table for the query in the URL (the CLI's filter options),
// one page of 100 at a time; sorting, paging and filtering only change the URL, so a view can be
// bookmarked and the back button works.
import { ago, api, cliLine, el, errorBox, fmtAt, fmtDuration, fmtTime, statusBadge } from "./common.js";

const form = document.getElementById("filters");
// Inputs holding a comma-separated list: each item is one repeated query parameter (--tag a --tag b).
const LISTS = ["tag", "status", "param", "metric"];
const TEXTS = ["where", "name", "script", "started-after", "started-before"];
// The compare page compares at most this many runs (yanex/ui/compare.py MAX_RUNS).
const MAX_COMPARE = 100;
// Rows ticked for comparison, kept across pages and filters until the page is left.
const picked = new Set();
const BASE = [
  { label: "id", sort: "id" },
  { label: "name", sort: "name" },
  { label: "status", sort: "status" },
  { label: "tags", sort: null },
  { label: "started", sort: "started" },
  { label: "duration", sort: "duration", num: true },
];

function query() {
  return new URLSearchParams(location.search);
}

function fillForm(params) {
  for (const name of TEXTS) form.elements[name].value = params.get(name) || "";
  for (const name of LISTS) form.elements[name].value = params.getAll(name).join(", ");
  form.elements.archive.value = params.has("archived") ? "archived" : params.has("all") ? "all" : "";
}

function fromForm() {
  const params = new URLSearchParams();
  for (const name of TEXTS) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  for (const name of LISTS) {
    for (const item of form.elements[name].value.split(",")) if (item.trim()) params.append(name, item.trim());
  }
  if (form.elements.archive.value) params.set(form.elements.archive.value, "");
  const current = query();
  for (const keep of ["sort", "desc"]) if (current.has(keep)) params.set(keep, current.get(keep));
  return params;
}

function go(params) {
  const search = params.toString().replace(/=(?=&|$)/g, "");
  history.pushState(null, "", search ? `/?${search}` : "/");
  load();
}

function sortBy(name) {
  const params = query();
  if (params.get("sort") === name) {
    if (params.has("desc")) params.delete("desc");
    else params.set("desc", "");
  } else {
    params.set("sort", name);
    params.delete("desc");
  }
  params.delete("page");
  go(params);
}

function toPage(page) {
  const params = query();
  if (page > 1) params.set("page", String(page));
  else params.delete("page");
  go(params);
}

function pager(data) {
  const node = el("span", {},
    el("button", { type: "button", disabled: data.page <= 1, onclick: () => toPage(data.page - 1) }, "‹ Prev"),
    el("span", { class: "muted" }, ` page ${data.page.toLocaleString()} of ${data.pages.toLocaleString()} `),
    el("button", { type: "button", disabled: data.page >= data.pages, onclick: () => toPage(data.page + 1) }, "Next ›"),
  );
  return node;
}

function header(data) {
  const params = query();
  const sort = params.get("sort");
  const columns = [...BASE, ...data.columns.map((name) => ({ label: name, sort: name, num: true }))];
  const all = el("input", {
    type: "checkbox",
    title: "Tick every run on this page",
    "aria-label": "select all on this page",
    checked: data.rows.length > 0 && data.rows.every((r) => picked.has(r.id)),
    onchange: (e) => {
      for (const r of data.rows) e.target.checked ? picked.add(r.id) : picked.delete(r.id);
      for (const box of document.querySelectorAll("table.runs tbody input.pick")) box.checked = e.target.checked;
      compareBar(data);
    },
  });
  return el("tr", {}, el("th", { class: "pick nosort" }, all), columns.map((column) => {
    const active = column.sort && (sort === column.sort || (column.sort === "started" && sort === "started_at"));
    const arrow = active ? (params.has("desc") ? " ▼" : " ▲") : "";
    return el("th", {
      class: [column.num ? "num" : "", column.sort ? "" : "nosort"].join(" ").trim() || null,
      title: column.sort ? `Sort by ${column.sort} (--sort ${column.sort})` : null,
      onclick: column.sort ? () => sortBy(column.sort) : null,
    }, column.label, el("span", { class: "arrow" }, arrow));
  }));
}

function compareLink(ids) {
  const params = new URLSearchParams();
  for (const id of ids) params.append("id", id);
  return `/compare?${params}`;
}

// "Compare N" for the ticked rows; else "Compare all N" for the filter itself (same query).
function compareBar(data) {
  const node = document.getElementById("compare");
  if (picked.size) {
    const over = picked.size > MAX_COMPARE;
    node.replaceChildren(
      el("a", { class: over ? "button disabled" : "button primary", id: "compare-picked", href: over ? null : compareLink(picked) }, `Compare ${picked.size}`),
      el("button", { type: "button", onclick: () => { picked.clear(); load(); } }, "Clear selection"),
      over ? el("span", { class: "stale" }, `at most ${MAX_COMPARE} runs: untick some`) : null,
    );
    return;
  }
  const filter = query();
  for (const own of ["page", "param", "metric"]) filter.delete(own);
  node.replaceChildren(data.total > 1 && data.total <= MAX_COMPARE
    ? el("a", { class: "button", id: "compare-all", href: `/compare?${filter}`, title: "Compare every run these filters select" }, `Compare all ${data.total}`)
    : data.total > MAX_COMPARE ? el("span", { class: "muted" }, `tick runs to compare (at most ${MAX_COMPARE})`) : "");
}

function row(run, columns, data) {
  const status = [statusBadge(run.status)];
  if (run.stale) status.push(el("span", { class: "stale", title: "running, but no metric logged for a while" }, `stale: no point for ${ago(run.quiet_seconds)}`));
  const box = el("input", {
    type: "checkbox",
    class: "pick",
    "aria-label": `select ${run.name || run.short}`,
    checked: picked.has(run.id),
    onchange: (e) => {
      e.target.checked ? picked.add(run.id) : picked.delete(run.id);
      compareBar(data);
    },
  });
  return el("tr", { dataset: { id: run.id } },
    el("td", { class: "pick" }, box),
    el("td", { class: "id", title: run.id }, run.short),
    el("td", { class: "name" }, el("a", { href: `/experiment/${run.id}` }, run.name || run.short)),
    el("td", {}, status),
    el("td", {}, run.tags.map((tag) => el("span", { class: "tag" }, tag))),
    el("td", { class: "mono" }, fmtTime(run.started)),
    el("td", { class: "num" }, fmtDuration(run.duration)),
    columns.map((name) => el("td", { class: "num" }, fmtAt(run.values, name))),
  );
}

async function load() {
  const params = query();
  fillForm(params);
  const messages = document.getElementById("messages");
  const table = document.getElementById("table");
  let data;
  try {
    data = await api(`/api/runs?${params}`, { floats: true });
  } catch (error) {
    messages.replaceChildren(errorBox(error));
    table.replaceChildren();
    for (const id of ["count", "pager", "pager-bottom", "cli", "compare"]) document.getElementById(id).replaceChildren();
    document.body.dataset.loaded = "error";
    return;
  }
  messages.replaceChildren(...data.notes.map((note) => el("div", { class: "note" }, note)));
  if (params.get("batch")) {
    messages.append(el("div", { class: "muted batch-link" }, "Batch ",
      el("a", { href: `/batch/${encodeURIComponent(params.get("batch"))}` }, params.get("batch")),
      ": its points, progress, best and heatmap on the batch page."));
  }
  document.getElementById("cli").replaceChildren(cliLine("CLI", data.command));
  const first = (data.page - 1) * data.page_size + 1;
  const last = first + data.rows.length - 1;
  document.getElementById("count").textContent = data.total === 0
    ? "0 experiments"
    : `${first.toLocaleString()}–${last.toLocaleString()} of ${data.total.toLocaleString()} experiments`;
  document.getElementById("pager").replaceChildren(pager(data));
  compareBar(data);
  document.getElementById("pager-bottom").replaceChildren(data.rows.length > 20 ? pager(data) : "");
  if (data.rows.length === 0) {
    const filtered = [...params.keys()].some((key) => key !== "page" && key !== "sort" && key !== "desc");
    table.replaceChildren(el("div", { class: "empty" }, filtered
      ? "No experiment matches these filters."
      : data.total ? "This page is past the last one." : "No experiments yet: run one with `yanex run script.py`."));
    document.body.dataset.loaded = "runs";
    return;
  }
  table.replaceChildren(el("table", { class: "runs" },
    el("thead", {}, header(data)),
    el("tbody", {}, data.rows.map((run) => row(run, data.columns, data))),
  ));
  document.body.dataset.loaded = "runs";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  go(fromForm());
});
document.getElementById("clear").addEventListener("click", () => go(new URLSearchParams()));
window.addEventListener("popstate", load);
load();
