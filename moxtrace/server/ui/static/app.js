// The viewer's entry point: login, the top bar, the live tail and the hash router.
//
//   #/login                              ask for an API key
//   #/traces?since=1h&status=error&...   the trace list (filters in the URL)
//   #/trace/<trace id>?span=<span id>    one trace: waterfall and span details
//   #/prompt/<prompt id>?commit_id=...   one prompt version, from the registry

import { api, apiKey, ApiError, LiveTail, logout, saveLogin, tenant, UNAUTHORIZED } from "./api.js";
import { clear, h, parseHash } from "./dom.js";
import { renderList } from "./list.js";
import { renderPrompt } from "./prompt.js";
import { renderTrace } from "./trace.js";

const main = document.getElementById("main");
const topbar = document.getElementById("topbar");
const live = new LiveTail();
let dispose = null;
let wanted = null;

live.addEventListener("state", (event) => {
  const badge = document.getElementById("live");
  badge.dataset.state = event.detail;
  badge.textContent = event.detail === "live" ? "live" : event.detail;
});

document.getElementById("logout").addEventListener("click", () => {
  logout();
  live.stop();
  location.hash = "#/login";
});

window.addEventListener(UNAUTHORIZED, () => {
  logout();
  live.stop();
  if (!location.hash.startsWith("#/login")) {
    wanted = location.hash;
    location.hash = "#/login";
  }
});

function renderLogin(root) {
  topbar.hidden = true;
  const input = h("input", {
    type: "password",
    id: "api-key",
    name: "api-key",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "moxn_<tenant>.<secret>",
    required: true,
  });
  const message = h("p", { class: "error", id: "login-error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "login", id: "login-form" },
    h("h1", null, h("img", { src: "favicon.svg", alt: "", width: 28, height: 28 }), " moxtrace"),
    h("p", { class: "muted" }, "Sign in with an API key of this server to browse its traces."),
    h("label", { for: "api-key" }, "API key"),
    input,
    button,
    message,
    h("p", { class: "muted small" }, "The key stays in this browser tab (session storage) and is sent as x-api-key."),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    message.textContent = "";
    button.disabled = true;
    try {
      const who = await api("debug/whoami", { key });
      saveLogin(key, who.tenant_id || "");
      const next = wanted && !wanted.startsWith("#/login") ? wanted : "#/traces";
      wanted = null;
      location.hash = next;
    } catch (error) {
      message.textContent =
        error instanceof ApiError && error.status === 401 ? "This key is not valid on this server." : error.message;
    } finally {
      button.disabled = false;
    }
  });
  root.append(h("div", { class: "login-page" }, form));
  input.focus();
  return () => {};
}

function route() {
  if (dispose) dispose();
  dispose = null;
  clear(main);
  const { path, params } = parseHash(location.hash);
  if (!apiKey()) {
    if (path !== "/login") wanted = location.hash;
    dispose = renderLogin(main);
    return;
  }
  if (path === "/login") {
    location.hash = "#/traces";
    return;
  }
  topbar.hidden = false;
  document.getElementById("tenant").textContent = tenant() ? `tenant ${tenant()}` : "";
  live.start();
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "trace" && parts[1]) dispose = renderTrace(main, parts[1], params, live);
  else if (parts[0] === "prompt" && parts[1]) dispose = renderPrompt(main, parts[1], params);
  else dispose = renderList(main, params, live);
}

window.addEventListener("hashchange", route);
route();
