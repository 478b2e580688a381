// Shared by the pages: fetching the API, formatting as the CLI does, building DOM safely
// (text is always set as textContent, never parsed as HTML).

// Whole numbers the answer wrote as floats (a param 1.0): JSON.parse gives 1, as for the integer 1,
// so a parse with `floats` notes them (object -> keys) from the reviver's source text, and fmtAt
// shows 1.0, as the CLI does. A browser without that source text (before 2025 outside Chromium)
// shows 1. Opt-in: the long series answers need not pay for the reviver.
const FLOATS = new WeakMap();

function noteFloats(key, value, context) {
  if (typeof value === "number" && Number.isInteger(value) && context && /[.eE]/.test(context.source)) {
    if (!FLOATS.has(this)) FLOATS.set(this, new Set());
    FLOATS.get(this).add(key);
  }
  return value;
}

export async function api(path, { floats = false } = {}) {
  const response = await fetch(path, { credentials: "same-origin" });
  const type = response.headers.get("Content-Type") || "";
  const text = await response.text();
  const body = type.startsWith("application/json") ? JSON.parse(text, floats ? noteFloats : undefined) : { line: text };
  if (!response.ok) {
    const error = new Error(body.line || body.error || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// Numbers to 6 significant digits, as the CLI's tables (yanex.display.format_float): integers as
// they are, a float always reads as one ("1.0", "100000.0", "1e-05").
export function g6(x, float = !Number.isInteger(x)) {
  if (typeof x !== "number") return String(x);
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  if (!float && Math.abs(x) < 1e15) return String(x);
  const text = x === 0 ? "0" : sixDigits(x);
  return float && /^-?\d+$/.test(text) ? `${text}.0` : text;
}

function sixDigits(x) {
  const exponent = Math.floor(Math.log10(Math.abs(Number(x.toPrecision(6)))));
  if (exponent < -4 || exponent >= 6) {
    const [mantissa, power] = x.toExponential(5).split("e");
    const trimmed = mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa;
    const sign = power[0] === "-" ? "-" : "+";
    const digits = power.replace(/^[+-]/, "").padStart(2, "0");
    return `${trimmed}e${sign}${digits}`;
  }
  return String(Number(x.toPrecision(6)));
}

export function fmt(value, float) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return g6(value, float);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

// holder[key] as fmt shows it, a whole float (noted by api's `floats`) with its ".0".
export function fmtAt(holder, key) {
  const value = holder[key];
  return fmt(value, typeof value === "number" && (!Number.isInteger(value) || Boolean(FLOATS.get(holder)?.has(String(key)))));
}

const pad = (n) => String(n).padStart(2, "0");

// Local wall-clock time to the second, as the CLI prints it.
export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `${seconds.toFixed(2)}s`;
  let minutes = Math.floor(Math.round(seconds) / 60);
  const secs = Math.round(seconds) % 60;
  if (minutes < 60) return `${minutes}m ${pad(secs)}s`;
  const hours = Math.floor(minutes / 60);
  minutes %= 60;
  return `${hours}h ${pad(minutes)}m`;
}

export function ago(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

// Bytes in the powers of 1024 the units name, as yanex.display.format_size: "512 B", "4.2 KiB",
// "256 KiB".
export function fmtSize(size) {
  if (size < 1024) return `${size} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

export function statusBadge(status) {
  return el("span", { class: `status ${status}` }, status);
}

// The CLI command giving the same answer, with a button that copies it.
export function cliLine(label, command) {
  const code = el("code", {}, command);
  const button = el("button", {
    type: "button",
    title: "Copy to the clipboard",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(command);
        button.textContent = "Copied";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(code);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        button.textContent = "Selected";
      }
      setTimeout(() => (button.textContent = "Copy"), 1500);
    },
  }, "Copy");
  return el("div", { class: "cli" }, el("span", { class: "label" }, label), code, button);
}

export function errorBox(error) {
  return el("div", { class: "error", role: "alert" }, error.message || String(error));
}

// Debiased exponential moving average (TensorBoard's smoothing): weight w on the past.
// The y axis as `yanex plot` chooses it: "log" or "linear" when asked for, else ("auto") log when
// every value is positive and they span more than DECADES powers of ten (a loss from 10 to 0.001),
// with the note the page shows under the chart.
export const DECADES = 2;

export function yAxis(asked, values, name) {
  if (asked !== "auto") return { log: asked === "log", note: "" };
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    if (v <= 0) return { log: false, note: "" };
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = lo <= hi ? Math.log10(hi / lo) : 0;
  return span > DECADES
    ? { log: true, note: `log y: ${name} spans ${span.toFixed(1)} decades` }
    : { log: false, note: "" };
}

export function ema(values, w) {
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    last = last * w + (1 - w) * v;
    n += 1;
    out[i] = last / (1 - w ** n);
  }
  return out;
}
