// An LLM call as a conversation: system instructions, the input messages, the answer,
// with tool calls, tool results and thinking shown for what they are.

import { fmtCost, fmtDuration, h, json } from "./dom.js";

function textPart(text) {
  return h("div", { class: "part text" }, text);
}

function part(p) {
  if (typeof p === "string") return textPart(p);
  switch (p && p.type) {
    case "text":
      return textPart(p.content ?? "");
    case "tool_call":
      return h(
        "div",
        { class: "part tool-call" },
        h("div", { class: "part-head" }, h("span", { class: "tag" }, "tool call"), h("code", null, p.name || "?"), p.id ? h("span", { class: "muted small" }, ` ${p.id}`) : null),
        h("pre", null, json(p.arguments ?? {})),
      );
    case "tool_call_response":
      return h(
        "div",
        { class: "part tool-result" },
        h("div", { class: "part-head" }, h("span", { class: "tag" }, "tool result"), p.id ? h("span", { class: "muted small" }, ` ${p.id}`) : null),
        h("pre", null, typeof p.response === "string" ? p.response : json(p.response)),
      );
    case "reasoning":
      return h(
        "details",
        { class: "part thinking", open: true },
        h("summary", null, "thinking"),
        h("div", { class: "text" }, p.content ?? ""),
      );
    case "uri":
      return h("div", { class: "part media" }, `[${p.modality || "media"}] ${p.uri}`);
    case "blob":
      return h("div", { class: "part media" }, `[${p.modality || "media"} ${p.mime_type || ""}${p.size ? `, ${p.size} bytes` : ""}]`);
    default:
      return h("pre", { class: "part other" }, json(p));
  }
}

function bubble(role, parts, extra) {
  const list = Array.isArray(parts) ? parts : [parts];
  return h(
    "div",
    { class: `message role-${role}`, dataset: { role } },
    h("div", { class: "role" }, role, extra ? h("span", { class: "muted small" }, ` ${extra}`) : null),
    list.map(part),
  );
}

function usageText(usage) {
  const bits = [`${usage.input_tokens ?? "?"} in`, `${usage.output_tokens ?? "?"} out`];
  if (usage.reasoning_tokens) bits.push(`${usage.reasoning_tokens} reasoning`);
  if (usage.cache_read_input_tokens) bits.push(`${usage.cache_read_input_tokens} cached`);
  return bits.join(" · ");
}

/** One LLM call of `span` (a span of GET /traces/{id}); cost is the span's, if known. */
export function renderCall(call, span, cost) {
  const usage = call.usage || {};
  const model = call.response_model || call.request_model || "?";
  const facts = [
    ["Provider", call.provider || "—"],
    ["Model", call.request_model && call.response_model && call.request_model !== call.response_model ? `${call.request_model} → ${call.response_model}` : model],
    ["Tokens", usageText(usage)],
    ["Cost", fmtCost(cost)],
    ["Latency", fmtDuration(span.duration_ms)],
    ["Finish", (call.finish_reasons || []).join(", ") || "—"],
  ];
  if (call.tool_call_count) facts.push(["Tool calls", String(call.tool_call_count)]);
  if (call.response_id) facts.push(["Response id", call.response_id]);
  const content = call.content;
  const body = [];
  if (!content) {
    body.push(h("p", { class: "muted" }, call.content_pending ? "Content is still being uploaded." : "Content was not recorded for this call."));
  } else {
    const system = content.system_instructions;
    if (system && (!Array.isArray(system) || system.length)) body.push(bubble("system", system));
    for (const message of Array.isArray(content.input_messages) ? content.input_messages : []) {
      body.push(bubble(message.role || "user", message.parts || []));
    }
    if (typeof content.input_messages === "string") body.push(bubble("input", content.input_messages));
    for (const message of Array.isArray(content.output_messages) ? content.output_messages : []) {
      const node = bubble(message.role || "assistant", message.parts || [], message.finish_reason ? `(${message.finish_reason})` : "");
      node.classList.add("output");
      body.push(node);
    }
    if (typeof content.output_messages === "string") body.push(bubble("output", content.output_messages));
    const tools = content.tool_definitions;
    if (Array.isArray(tools) && tools.length) {
      body.push(h("details", { class: "tools" }, h("summary", null, `Tools offered (${tools.length})`), h("pre", null, json(tools))));
    }
  }
  return h(
    "section",
    { class: "llm-call", dataset: { model } },
    h("h4", null, `LLM call · ${model}`),
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
    h("div", { class: "conversation" }, body),
  );
}
