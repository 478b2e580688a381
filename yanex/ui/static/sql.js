// The SQL console: one read-only statement run by the server exactly as `yanex sql` runs it (the
// same guard and time limit), its first rows as a table; the statement lives in the URL (?q=...).
import { api, cliLine, el, errorBox, fmt } from "./common.js";

const form = document.getElementById("sql-form");
const area = document.getElementById("statement");
const timeout = document.getElementById("timeout");

async function schema() {
  const data = await api("/api/schema");
  document.getElementById("schema").replaceChildren(
    el("h2", {}, "Tables"),
    el("div", { class: "muted" }, "Every column is described in ", el("code", {}, data.docs), " of the yanex documentation."),
    ...data.objects.map((o) => el("details", { class: "table-cols", open: o.name === "experiment_summary" },
      el("summary", {}, el("code", {}, o.name), o.kind === "view" ? el("span", { class: "muted" }, " view") : ""),
      el("div", { class: "cols mono" }, o.columns.join(", ")))));
}

async function run() {
  const params = new URLSearchParams(location.search);
  const q = params.get("q") || "";
  area.value = q;
  timeout.value = params.get("timeout") || "";
  const result = document.getElementById("result");
  const messages = document.getElementById("messages");
  const count = document.getElementById("count");
  if (!q.trim()) {
    for (const node of [result, messages, count, document.getElementById("cli")]) node.replaceChildren();
    document.body.dataset.loaded = "sql";
    return;
  }
  count.textContent = "Running…";
  let data;
  try {
    data = await api(`/api/sql?${params}`);
  } catch (error) {
    messages.replaceChildren(errorBox(error));
    result.replaceChildren();
    count.textContent = "";
    document.body.dataset.loaded = "error";
    return;
  }
  messages.replaceChildren(data.more ? el("div", { class: "note" }, `Showing the first ${data.max_rows.toLocaleString()} rows: add a LIMIT, or run it with yanex sql for all of them.`) : "");
  document.getElementById("cli").replaceChildren(cliLine("CLI", data.command));
  count.textContent = `${data.rows.length.toLocaleString()}${data.more ? "+" : ""} row${data.rows.length === 1 ? "" : "s"}`;
  result.replaceChildren(el("table", { class: "runs" },
    el("thead", {}, el("tr", {}, data.columns.map((c) => el("th", { class: "nosort" }, c)))),
    el("tbody", {}, data.rows.map((row) => el("tr", {}, row.map((v) => el("td", { class: typeof v === "number" ? "num" : null }, v === null ? el("span", { class: "muted" }, "NULL") : fmt(v))))))));
  document.body.dataset.loaded = "sql";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const params = new URLSearchParams();
  params.set("q", area.value);
  if (timeout.value.trim()) params.set("timeout", timeout.value.trim());
  history.pushState(null, "", `/sql?${params}`);
  run();
});
area.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
});
window.addEventListener("popstate", run);
schema().catch((error) => document.getElementById("schema").replaceChildren(errorBox(error)));
run();
