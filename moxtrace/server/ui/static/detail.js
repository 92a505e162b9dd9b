// The details of one span: identity, prompt version, metadata, LLM calls, events,
// attributes, resource and links.

import { renderCall } from "./conversation.js";
import { fmtDuration, h, isoMs, json, serviceColor, shortId, spanCost } from "./dom.js";

function table(entries, id) {
  if (!entries.length) return h("p", { class: "muted small" }, "none");
  return h(
    "table",
    { class: "kv", id },
    h(
      "tbody",
      null,
      entries.map(([key, value]) =>
        h("tr", null, h("th", null, key), h("td", null, typeof value === "object" && value !== null ? h("pre", null, json(value)) : String(value))),
      ),
    ),
  );
}

function sorted(object) {
  return Object.entries(object || {}).sort(([a], [b]) => a.localeCompare(b));
}

/** A link to the prompt version a span came from (the registry's GET /prompts/{id}). */
export function promptHref(span) {
  const params = new URLSearchParams();
  if (span.commit_id) params.set("commit_id", span.commit_id);
  else if (span.branch_name) params.set("branch_name", span.branch_name);
  else return null;
  return `#/prompt/${span.prompt_id}?${params}`;
}

function promptSection(span) {
  if (!span.prompt_id) return null;
  const href = promptHref(span);
  const version = span.commit_id ? `commit ${shortId(span.commit_id, 12)}` : span.branch_name ? `branch ${span.branch_name}` : "no version";
  return h(
    "section",
    { class: "prompt-ref" },
    h("h4", null, "Prompt"),
    h(
      "p",
      null,
      href
        ? h("a", { href, class: "prompt-link", id: "prompt-link" }, span.prompt_name || span.prompt_id)
        : h("strong", null, span.prompt_name || span.prompt_id),
      h("span", { class: "muted" }, ` · ${version}`),
      span.branch_name && span.commit_id ? h("span", { class: "muted" }, ` · branch ${span.branch_name}`) : null,
    ),
    table(
      [
        ["prompt id", span.prompt_id],
        ["task id", span.task_id || "—"],
        ["commit", span.commit_id || "—"],
        ["branch", span.branch_name || span.branch_id || "—"],
        ["session", span.session_id || "—"],
      ],
      null,
    ),
  );
}

function eventList(events) {
  return events.map((event) =>
    h(
      "div",
      { class: `event${event.name === "exception" ? " error" : ""}` },
      h("div", { class: "event-head" }, h("strong", null, event.name || event.event_type), h("span", { class: "muted small" }, ` ${event.timestamp || ""}`)),
      event.attributes ? table(sorted(event.attributes)) : null,
      event.content !== undefined && event.content !== null ? h("pre", null, json(event.content)) : null,
    ),
  );
}

/** The panel for `span` of `trace`. */
export function renderDetail(span, trace) {
  const error = span.status?.code === "ERROR";
  const offset = span.start_time ? isoMs(span.start_time) - isoMs(trace.start_time) : null;
  const cost = spanCost(span);
  const calls = span.llm_calls || [];
  return h(
    "div",
    { class: "detail-inner", dataset: { spanId: span.span_id } },
    h(
      "header",
      { class: "detail-head" },
      h("h3", { id: "detail-title" }, span.name || "?"),
      h(
        "p",
        null,
        h("span", { class: `badge ${error ? "error" : span.status?.code === "OK" ? "ok" : "unset"}` }, span.status?.code || "UNSET"),
        " ",
        h("span", { class: "swatch", style: { background: serviceColor(span.service_name) } }),
        ` ${span.service_name || "unknown service"} · ${span.kind || "internal"} · ${fmtDuration(span.duration_ms)}`,
        offset !== null ? ` · starts at +${fmtDuration(offset)}` : "",
      ),
      error && span.status.message ? h("p", { class: "error-message" }, span.status.message) : null,
      h("p", { class: "muted small mono" }, `span ${span.span_id}${span.parent_span_id ? ` · parent ${span.parent_span_id}` : " · root"}`),
    ),
    promptSection(span),
    Object.keys(span.metadata || {}).length ? h("section", null, h("h4", null, "Metadata"), table(sorted(span.metadata), "metadata")) : null,
    calls.map((call, index) => renderCall(call, span, index === 0 ? cost : null)),
    span.log_events?.length ? h("section", null, h("h4", null, "Events logged"), eventList(span.log_events)) : null,
    span.events?.length ? h("section", null, h("h4", null, "Span events"), eventList(span.events)) : null,
    h("section", null, h("h4", null, "Attributes"), table(sorted(span.attributes), "attributes")),
    h("details", { class: "resource" }, h("summary", null, "Resource"), table(sorted(span.resource))),
    span.links?.length ? h("section", null, h("h4", null, "Links"), table(span.links.map((l) => [`${shortId(l.trace_id, 12)}/${l.span_id}`, l.attributes || {}]))) : null,
  );
}
