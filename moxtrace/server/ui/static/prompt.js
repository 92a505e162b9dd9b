// One prompt version from the registry (GET /prompts/{id}?commit_id=… | branch_name=…).

import { api } from "./api.js";
import { clear, h, json, shortId } from "./dom.js";

function block(b) {
  switch (b.block_type) {
    case "text":
      return h("span", { class: "block text" }, b.text);
    case "variable":
      return h("span", { class: "block variable", title: b.description || b.variable_type || "" }, `{{${b.name}}}`);
    case "tool_call":
      return h("pre", { class: "block other" }, `tool call ${b.tool_name}(${json(b.input)})`);
    case "tool_result":
      return h("pre", { class: "block other" }, `tool result ${json(b.content)}`);
    case "thinking":
    case "reasoning":
      return h("span", { class: "block thinking" }, b.text);
    default:
      return h("pre", { class: "block other" }, json(b));
  }
}

function schemaText(schema) {
  try {
    return json(JSON.parse(schema.exportedJSON));
  } catch {
    return json(schema);
  }
}

export function renderPrompt(root, promptId, params) {
  const controller = new AbortController();
  const commit = params.get("commit_id");
  const branch = params.get("branch_name");
  const query = commit ? [["commit_id", commit]] : [["branch_name", branch || "main"]];
  const status = h("p", { class: "muted pad" }, "Loading prompt…");
  root.append(status);
  api(`prompts/${promptId}`, { params: query, signal: controller.signal })
    .then((prompt) => {
      const version = prompt.commit_id ? `commit ${prompt.commit_id}` : `branch ${prompt.branch_name}`;
      const config = prompt.completion_config;
      clear(root).append(
        h(
          "section",
          { class: "prompt-view", id: "prompt-view" },
          h(
            "p",
            { class: "crumbs" },
            h("a", { href: "#/traces" }, "← Traces"),
            " · ",
            h("button", { type: "button", class: "link", onclick: () => history.back() }, "back to the trace"),
          ),
          h("h2", null, prompt.name, h("span", { class: "version-tag" }, version)),
          prompt.description ? h("p", null, prompt.description) : null,
          h("p", { class: "muted small mono" }, `prompt ${prompt.id} · task ${prompt.task_id}`),
          config
            ? h("dl", { class: "facts inline" }, [
                h("dt", null, "Provider"), h("dd", null, config.provider),
                h("dt", null, "Model"), h("dd", null, config.model),
                h("dt", null, "Max tokens"), h("dd", null, String(config.max_tokens)),
              ])
            : null,
          h("h3", null, "Messages"),
          prompt.messages.map((message) =>
            h(
              "div",
              { class: `message role-${message.role}`, dataset: { messageId: message.id } },
              h("div", { class: "role" }, message.role, h("span", { class: "muted small" }, ` ${message.name} · ${shortId(message.id)}`)),
              message.blocks.map((row) => h("div", { class: "block-row" }, row.map(block))),
            ),
          ),
          prompt.tools?.length ? [h("h3", null, "Tools"), h("pre", null, json(prompt.tools))] : null,
          prompt.input_schema ? [h("h3", null, `Input schema ${prompt.input_schema.name || ""}`), h("pre", null, schemaText(prompt.input_schema))] : null,
        ),
      );
    })
    .catch((error) => {
      if (error.name === "AbortError") return;
      clear(status).append(h("span", { class: "error" }, `Could not load the prompt: ${error.message}`));
    });
  return () => controller.abort();
}
