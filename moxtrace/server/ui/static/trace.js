// One trace: its summary, the waterfall of its spans, and the selected span's details.
//
// Performance marks (read by bench/viewer_paint.py): "moxtrace:trace-loaded" when the
// JSON has arrived, "moxtrace:waterfall-rendered" when the rows are in the DOM,
// "moxtrace:waterfall-painted" after the next frame; <html data-waterfall="painted">.

import { api } from "./api.js";
import { renderDetail } from "./detail.js";
import { clear, fmtCost, fmtDuration, fmtTime, fmtTokens, h, serviceColor, traceCost } from "./dom.js";
import { Waterfall } from "./waterfall.js";

function firstInteresting(trace) {
  return trace.spans.find((s) => s.llm_calls?.length) || trace.spans[0];
}

function summary(trace) {
  const services = [...new Set(trace.spans.map((s) => s.service_name).filter(Boolean))];
  const usage = trace.usage || {};
  const facts = [
    ["Started", fmtTime(trace.start_time)],
    ["Duration", fmtDuration(trace.duration_ms)],
    ["Spans", String(trace.span_count)],
    ["LLM calls", String(trace.llm_call_count)],
    ["Tokens", fmtTokens(usage.input_tokens, usage.output_tokens)],
    ["Cost", fmtCost(traceCost(trace.spans))],
    ["Errors", String(trace.error_count)],
  ];
  return h(
    "header",
    { class: "trace-head" },
    h("p", { class: "crumbs" }, h("a", { href: "#/traces" }, "← Traces")),
    h(
      "h2",
      null,
      trace.root_name || "(no root span)",
      trace.error_count ? h("span", { class: "badge error" }, `✗ ${trace.error_count}`) : h("span", { class: "badge ok" }, "OK"),
    ),
    h("p", { class: "muted mono small", id: "trace-id" }, `trace ${trace.trace_id}`),
    trace.shown_all ? null : h("p", { class: "error small" }, `Showing the first ${trace.spans.length} of ${trace.span_count} spans.`),
    h("dl", { class: "facts inline" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
    h(
      "p",
      { class: "services" },
      services.map((name) => h("span", { class: "service" }, h("span", { class: "swatch", style: { background: serviceColor(name) } }), name)),
    ),
  );
}

/** Spans the viewer loads at most (a bigger trace shows its first MAX_SPANS, in tree order). */
const MAX_SPANS = 100000;

/** GET /traces/{id}, following its pages of spans (next_offset) up to MAX_SPANS. */
async function fetchWhole(traceId, signal) {
  const trace = await api(`traces/${traceId}`, { signal });
  let next = trace.next_offset;
  while (next !== null && next !== undefined && trace.spans.length < MAX_SPANS) {
    const page = await api(`traces/${traceId}`, { params: [["offset", next]], signal });
    trace.spans.push(...page.spans);
    next = page.next_offset;
  }
  trace.shown_all = next === null || next === undefined;
  return trace;
}

export function renderTrace(root, traceId, params, live) {
  const controller = new AbortController();
  const state = { selected: params.get("span"), collapsed: new Set(), waterfall: null, trace: null, scroll: 0 };
  let timer = null;
  let firstPaint = true;
  const detail = h("aside", { class: "detail", id: "detail", "aria-live": "polite" });
  const status = h("p", { class: "muted pad" }, "Loading trace…");
  root.append(status);

  function select(span) {
    state.selected = span.span_id;
    const hash = `#/trace/${traceId}?span=${span.span_id}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
    clear(detail).append(renderDetail(span, state.trace));
  }

  async function load() {
    let trace;
    try {
      trace = await fetchWhole(traceId, controller.signal);
    } catch (error) {
      if (error.name === "AbortError") return;
      clear(status).append(h("span", { class: "error" }, error.status === 404 ? `No trace ${traceId} for this key.` : `Could not load the trace: ${error.message}`));
      return;
    }
    if (firstPaint) performance.mark("moxtrace:trace-loaded");
    state.trace = trace;
    if (state.waterfall) state.scroll = state.waterfall.body.scrollTop;
    const chosen = trace.spans.find((s) => s.span_id === state.selected) || firstInteresting(trace);
    const waterfall = new Waterfall(trace.spans, {
      onSelect: select,
      selected: chosen?.span_id,
      collapsed: state.collapsed,
    });
    state.waterfall = waterfall;
    clear(root).append(
      h("section", { class: "trace-view", dataset: { traceId } }, summary(trace), h("div", { class: "trace-body" }, waterfall.node, detail)),
    );
    waterfall.body.scrollTop = state.scroll;
    waterfall.render();
    if (chosen) {
      state.selected = chosen.span_id;
      clear(detail).append(renderDetail(chosen, trace));
    }
    if (firstPaint) {
      firstPaint = false;
      performance.mark("moxtrace:waterfall-rendered");
      requestAnimationFrame(() =>
        setTimeout(() => {
          performance.mark("moxtrace:waterfall-painted");
          document.documentElement.dataset.waterfall = "painted";
        }, 0),
      );
    }
  }

  function onSpans(event) {
    if (event.detail?.trace_id !== traceId) return;
    clearTimeout(timer);
    timer = setTimeout(load, 300);
  }

  live.addEventListener("spans", onSpans);
  load();
  return () => {
    controller.abort();
    clearTimeout(timer);
    live.removeEventListener("spans", onSpans);
    delete document.documentElement.dataset.waterfall;
  };
}
