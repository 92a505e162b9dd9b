// Building DOM without innerHTML (data is always text), and formatting numbers and times.

/** h("div", {class: "x", onclick: fn, title: "t"}, child, "text", [more]) */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [name, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "style") Object.assign(node.style, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (value === true) node.setAttribute(name, "");
      else node.setAttribute(name, value);
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const today = new Date();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (date.toDateString() === today.toDateString()) return time;
  return `${date.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

export function fmtTokens(input, output) {
  if (!input && !output) return "—";
  return `${(input || 0).toLocaleString()} → ${(output || 0).toLocaleString()}`;
}

export function fmtCost(cost) {
  if (cost === null || cost === undefined) return "—";
  if (cost === 0) return "$0";
  if (cost < 0.001) return `$${cost.toFixed(5)}`;
  return `$${cost.toFixed(4)}`;
}

export function shortId(id, length = 8) {
  return id ? String(id).slice(0, length) : "";
}

/** Span attributes that hold an LLM call's cost in US dollars (the first one present). */
export const COST_ATTRIBUTES = [
  "moxn.llm.cost.usd", // the cost collector plugin (collector_plugins/cost.py)
  "gen_ai.usage.cost",
];

export function spanCost(span) {
  const attributes = span.attributes || {};
  for (const name of COST_ATTRIBUTES) {
    const value = attributes[name];
    if (typeof value === "number") return value;
  }
  return null;
}

export function traceCost(spans) {
  let total = null;
  for (const span of spans) {
    const cost = spanCost(span);
    if (cost !== null) total = (total || 0) + cost;
  }
  return total;
}

const PALETTE = ["#4f7cff", "#1fa37a", "#d9822b", "#8e5bd9", "#d1497b", "#2a9bb8", "#7a8b2a", "#b8652a"];
const assigned = new Map();

/** A colour per service name: distinct for the first eight services seen, then reused. */
export function serviceColor(name) {
  const key = name || "";
  if (!assigned.has(key)) assigned.set(key, PALETTE[assigned.size % PALETTE.length]);
  return assigned.get(key);
}

/** An ISO 8601 time (microseconds, as the server writes them) in ms since the epoch,
 * keeping the microseconds Date.parse drops. */
export function isoMs(iso) {
  if (!iso) return null;
  const micros = /\.\d{3}(\d{1,3})/.exec(iso);
  return Date.parse(iso) + (micros ? Number(micros[1].padEnd(3, "0")) / 1000 : 0);
}

/** Parse "#/path?query" into {path, params}. */
export function parseHash(hash) {
  const raw = (hash || "").replace(/^#/, "") || "/traces";
  const [path, query] = raw.split("?");
  return { path, params: new URLSearchParams(query || "") };
}

export function json(value) {
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}
