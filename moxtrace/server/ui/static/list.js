// The trace list: newest first, filters in the URL, rows enriched with prompts and cost,
// and new traces arriving live from the tail.

import { api, eachLimited } from "./api.js";
import { clear, fmtCost, fmtDuration, fmtTime, fmtTokens, h, shortId, traceCost } from "./dom.js";

const PAGE = 50;
const ENRICH_SPANS = 2000;
const RANGES = [
  ["", "Any time"],
  ["15m", "Last 15 minutes"],
  ["1h", "Last hour"],
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
];
const RANGE_MS = { "15m": 15 * 60e3, "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };

/** Prompts seen in traces so far: id -> name (feeds the prompt filter). */
const knownPrompts = new Map();

/** What a trace's spans say about it: its prompts (with version) and cost. */
export function describeTrace(trace) {
  const prompts = new Map();
  for (const span of trace.spans || []) {
    if (span.prompt_id && !prompts.has(span.prompt_id)) {
      prompts.set(span.prompt_id, {
        id: span.prompt_id,
        name: span.prompt_name || shortId(span.prompt_id),
        commit_id: span.commit_id,
        branch_name: span.branch_name,
      });
    }
  }
  const root = (trace.spans || []).find((span) => span.span_id === trace.root_span_id) || (trace.spans || [])[0];
  return {
    prompts: [...prompts.values()],
    cost: traceCost(trace.spans || []),
    partial: Boolean(trace.truncated),
    metadata: root?.metadata || {},
  };
}

function readFilters(params) {
  const metadata = params.getAll("meta").filter((pair) => pair.includes("="));
  return {
    since: params.get("since") || "",
    status: params.get("status") || "",
    prompt_id: params.get("prompt_id") || "",
    metadata,
  };
}

function filterHash(filters) {
  const params = new URLSearchParams();
  if (filters.since) params.set("since", filters.since);
  if (filters.status) params.set("status", filters.status);
  if (filters.prompt_id) params.set("prompt_id", filters.prompt_id);
  for (const pair of filters.metadata) params.append("meta", pair);
  const query = params.toString();
  return `#/traces${query ? `?${query}` : ""}`;
}

function apiParams(filters, cursor) {
  const params = [["limit", PAGE]];
  if (filters.since) params.push(["since", new Date(Date.now() - RANGE_MS[filters.since]).toISOString()]);
  if (filters.status) params.push(["status", filters.status]);
  if (filters.prompt_id) params.push(["prompt_id", filters.prompt_id]);
  for (const pair of filters.metadata) {
    const at = pair.indexOf("=");
    params.push([`metadata.${pair.slice(0, at)}`, pair.slice(at + 1)]);
  }
  if (cursor) params.push(["cursor", cursor]);
  return params;
}

function select(id, label, options, value, onchange) {
  const node = h(
    "select",
    { id, "aria-label": label, onchange },
    options.map(([optionValue, text]) => h("option", { value: optionValue, selected: optionValue === value }, text)),
  );
  return h("label", { class: "filter" }, h("span", null, label), node);
}

/** A trace with its first spans: enough for a row (a huge trace's rest is left to its page). */
async function firstSpans(traceId, signal) {
  try {
    return await api(`traces/${traceId}`, { params: [["limit", ENRICH_SPANS]], signal });
  } catch (error) {
    if (error.status !== 400) throw error; // a server whose pages are smaller than that
    return api(`traces/${traceId}`, { signal });
  }
}

export function renderList(root, params, live) {
  const controller = new AbortController();
  const filters = readFilters(params);
  const rows = new Map(); // trace id -> {summary, node, details}
  let cursor = null;
  let reloadTimer = null;
  const refreshTimers = new Map();
  const pending = new Set();
  let draining = false;

  const go = (changes) => {
    location.hash = filterHash({ ...filters, ...changes });
  };

  // -- filters -------------------------------------------------------------------------
  const promptOptions = [["", "Any prompt"], ...[...knownPrompts].map(([id, name]) => [id, name])];
  if (filters.prompt_id && !knownPrompts.has(filters.prompt_id)) {
    promptOptions.push([filters.prompt_id, `prompt ${shortId(filters.prompt_id)}`]);
  }
  const metaInput = h("input", {
    id: "filter-meta",
    type: "search",
    placeholder: "metadata: key=value …",
    value: filters.metadata.join(" "),
    "aria-label": "Metadata filter",
  });
  const metaForm = h(
    "form",
    {
      class: "filter meta",
      onsubmit: (event) => {
        event.preventDefault();
        go({ metadata: metaInput.value.split(/\s+/).filter((pair) => pair.includes("=")) });
      },
    },
    metaInput,
  );
  const filterBar = h(
    "div",
    { class: "filters" },
    select("filter-since", "Time", RANGES, filters.since, (e) => go({ since: e.target.value })),
    select(
      "filter-status",
      "Status",
      [["", "Any status"], ["ok", "OK"], ["error", "Error"]],
      filters.status,
      (e) => go({ status: e.target.value }),
    ),
    select("filter-prompt", "Prompt", promptOptions, filters.prompt_id, (e) => go({ prompt_id: e.target.value })),
    metaForm,
    filters.since || filters.status || filters.prompt_id || filters.metadata.length
      ? h("a", { href: "#/traces", class: "clear-filters" }, "Clear filters")
      : null,
  );

  const tbody = h("tbody", { id: "trace-rows" });
  const table = h(
    "table",
    { class: "traces" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ["Time", "Trace", "Duration", "Status", "Prompt · version", "Spans", "LLM calls", "Tokens", "Cost"].map((t) =>
          h("th", null, t),
        ),
      ),
    ),
    tbody,
  );
  const status = h("p", { class: "muted pad", id: "list-status" }, "Loading traces…");
  const more = h("button", { type: "button", class: "more", hidden: true, onclick: () => load(false) }, "Load more");
  root.append(h("section", { class: "list-view" }, h("h2", null, "Traces"), filterBar, table, status, more));

  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) enrich(entry.target.dataset.traceId);
    }
  });

  // -- rows ------------------------------------------------------------------------------
  function promptCell(row) {
    const cell = h("td", { class: "prompt" });
    if (!row.details) {
      cell.append(h("span", { class: "muted" }, "…"));
      return cell;
    }
    const prompts = row.details.prompts;
    if (!prompts.length) {
      cell.append(h("span", { class: "muted" }, "—"));
      return cell;
    }
    prompts.forEach((prompt, index) => {
      if (index) cell.append(h("br"));
      const version = prompt.commit_id ? `@${shortId(prompt.commit_id, 7)}` : prompt.branch_name ? `@${prompt.branch_name}` : "";
      cell.append(h("span", { class: "prompt-name" }, prompt.name), h("span", { class: "version" }, ` ${version}`));
    });
    return cell;
  }

  function metadataChips(metadata) {
    const entries = Object.entries(metadata).slice(0, 6);
    if (!entries.length) return null;
    return h(
      "div",
      { class: "meta-chips" },
      entries.map(([key, value]) => {
        const pair = `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`;
        return h(
          "a",
          {
            class: "meta-chip",
            href: filterHash({ ...filters, metadata: [...filters.metadata.filter((p) => p !== pair), pair] }),
            title: `Only traces with ${pair}`,
          },
          pair,
        );
      }),
    );
  }

  function rowNode(row, fresh) {
    const s = row.summary;
    const errors = s.error_count || 0;
    const link = `#/trace/${s.trace_id}`;
    const node = h(
      "tr",
      {
        class: `trace-row${fresh ? " fresh" : ""}${errors ? " has-error" : ""}`,
        dataset: { traceId: s.trace_id },
        onclick: (event) => {
          if (event.target.closest("a")) return;
          location.hash = link;
        },
      },
      h("td", { class: "time", title: s.start_time }, fmtTime(s.start_time)),
      h(
        "td",
        { class: "root" },
        h("a", { href: link, class: "root-name" }, s.root_name || "(no root span)"),
        h("div", { class: "sub" }, [s.service_name, shortId(s.trace_id, 12)].filter(Boolean).join(" · ")),
        row.details ? metadataChips(row.details.metadata) : null,
      ),
      h("td", { class: "num" }, fmtDuration(s.duration_ms)),
      h(
        "td",
        null,
        errors
          ? h("span", { class: "badge error" }, `✗ ${errors} error${errors === 1 ? "" : "s"}`)
          : h("span", { class: "badge ok" }, "OK"),
      ),
      promptCell(row),
      h("td", { class: "num" }, String(s.span_count)),
      h("td", { class: "num" }, String(s.llm_call_count)),
      h("td", { class: "num" }, fmtTokens(s.usage?.input_tokens, s.usage?.output_tokens)),
      h(
        "td",
        { class: "num cost", title: row.details?.partial ? "from the first spans of a large trace" : null },
        row.details ? `${row.details.partial && row.details.cost !== null ? "≥ " : ""}${fmtCost(row.details.cost)}` : "…",
      ),
    );
    return node;
  }

  function place(row, fresh) {
    const node = rowNode(row, fresh);
    if (row.node) {
      observer.unobserve(row.node);
      row.node.replaceWith(node);
    }
    row.node = node;
    observer.observe(node);
    return node;
  }

  function sortRows() {
    const ordered = [...rows.values()].sort((a, b) =>
      a.summary.start_time === b.summary.start_time
        ? b.summary.trace_id.localeCompare(a.summary.trace_id)
        : b.summary.start_time.localeCompare(a.summary.start_time),
    );
    for (const row of ordered) tbody.append(row.node);
  }

  function showStatus() {
    if (rows.size) {
      status.hidden = true;
      return;
    }
    status.hidden = false;
    clear(status).append(
      filters.since || filters.status || filters.prompt_id || filters.metadata.length
        ? "No traces match these filters."
        : "No traces yet. Run `moxtrace demo`, or point an exporter at this server.",
    );
  }

  // -- loading ---------------------------------------------------------------------------
  async function load(first) {
    try {
      const page = await api("traces", { params: apiParams(filters, first ? null : cursor), signal: controller.signal });
      if (!first || !loadedOnce) cursor = page.next_cursor;
      let added = false;
      for (const summary of page.traces) {
        const existing = rows.get(summary.trace_id);
        if (existing) {
          if (existing.summary.span_count !== summary.span_count) existing.details = null;
          existing.summary = summary;
          place(existing, false);
        } else {
          const row = { summary, node: null, details: null };
          rows.set(summary.trace_id, row);
          place(row, first && loadedOnce);
          added = true;
        }
      }
      if (added || first) sortRows();
      if (!first || !loadedOnce) more.hidden = !cursor;
      loadedOnce = true;
      showStatus();
      root.dataset.loaded = "true";
    } catch (error) {
      if (error.name === "AbortError") return;
      status.hidden = false;
      clear(status).append(h("span", { class: "error" }, `Could not list traces: ${error.message}`));
    }
  }
  let loadedOnce = false;

  function enrich(traceId) {
    const row = rows.get(traceId);
    if (!row || row.details || pending.has(traceId)) return;
    pending.add(traceId);
    if (!draining) drain();
  }

  async function drain() {
    draining = true;
    while (pending.size && !controller.signal.aborted) {
      const batch = [...pending].slice(0, 8);
      await eachLimited(batch, 4, async (traceId) => {
        try {
          const trace = await firstSpans(traceId, controller.signal);
          const row = rows.get(traceId);
          if (!row) return;
          row.details = describeTrace(trace);
          for (const prompt of row.details.prompts) {
            if (!knownPrompts.has(prompt.id)) {
              knownPrompts.set(prompt.id, prompt.name);
              addPromptOption(prompt.id, prompt.name);
            }
          }
          row.summary = { ...row.summary, ...summaryOf(trace) };
          place(row, false);
        } catch (error) {
          if (error.name === "AbortError") return;
        } finally {
          pending.delete(traceId);
        }
      });
    }
    draining = false;
  }

  function addPromptOption(id, name) {
    const node = document.getElementById("filter-prompt");
    if (!node) return;
    const existing = [...node.options].find((option) => option.value === id);
    if (existing) existing.textContent = name;
    else node.append(h("option", { value: id }, name));
  }

  // -- live ------------------------------------------------------------------------------
  function onSpans(event) {
    const traceId = event.detail && event.detail.trace_id;
    if (!traceId) return;
    if (rows.has(traceId)) {
      clearTimeout(refreshTimers.get(traceId));
      refreshTimers.set(
        traceId,
        setTimeout(() => {
          refreshTimers.delete(traceId);
          const row = rows.get(traceId);
          if (!row) return;
          row.details = null;
          enrich(traceId);
        }, 300),
      );
    } else {
      scheduleReload();
    }
  }

  function scheduleReload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => load(true), 250);
  }

  live.addEventListener("spans", onSpans);
  live.addEventListener("dropped", scheduleReload);
  load(true);

  return () => {
    controller.abort();
    observer.disconnect();
    clearTimeout(reloadTimer);
    for (const timer of refreshTimers.values()) clearTimeout(timer);
    live.removeEventListener("spans", onSpans);
    live.removeEventListener("dropped", scheduleReload);
  };
}

function summaryOf(trace) {
  return {
    start_time: trace.start_time,
    end_time: trace.end_time,
    duration_ms: trace.duration_ms,
    root_name: trace.root_name,
    service_name: trace.service_name,
    span_count: trace.span_count,
    error_count: trace.error_count,
    llm_call_count: trace.llm_call_count,
    usage: trace.usage,
  };
}
