// The JSON API of moxtrace serve, with the API key of this browser tab.
//
// The key lives in sessionStorage (this tab only, gone when it closes) and is sent as
// x-api-key on every call. The live tail (GET /traces/stream) is read with fetch() and a
// stream reader rather than EventSource, which cannot send headers: the key never
// travels in a URL.

const KEY = "moxtrace.apiKey";
const TENANT = "moxtrace.tenant";

/** The server's root URL (the viewer is served at <root>/ui/). */
export const BASE = new URL("../", document.baseURI);

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function tenant() {
  return sessionStorage.getItem(TENANT) || "";
}

export function saveLogin(key, tenantName) {
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(TENANT, tenantName);
}

export function logout() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(TENANT);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Fired on window when the server refuses the key (401). */
export const UNAUTHORIZED = "moxtrace:unauthorized";

function url(path, params) {
  const target = new URL(path.replace(/^\//, ""), BASE);
  for (const [name, value] of params || []) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.append(name, value);
  }
  return target;
}

/** GET path (params: [[name, value], ...]); the envelope's data, or an ApiError. */
export async function api(path, { params, signal, key } = {}) {
  const useKey = key || apiKey();
  let response;
  try {
    response = await fetch(url(path, params), {
      headers: { "x-api-key": useKey || "", accept: "application/json" },
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network", `cannot reach the server (${error.message})`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok || !body || body.success === false) {
    const error = (body && body.error) || {};
    if (response.status === 401 && !key) window.dispatchEvent(new Event(UNAUTHORIZED));
    throw new ApiError(response.status, error.code || "http_error", error.message || `HTTP ${response.status}`);
  }
  return body.data;
}

/** Run fn over items, at most `limit` at a time. */
export async function eachLimited(items, limit, fn) {
  const queue = [...items];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    while (queue.length) await fn(queue.shift());
  });
  await Promise.all(workers);
}

function parseBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { event, data: data.join("\n") } : null;
}

/**
 * The live tail, shared by every view: dispatches "spans" (detail: {trace_id, spans}),
 * "dropped" and "state" (detail: "live" | "connecting" | "offline") events.
 * Reconnects with backoff until stop().
 */
export class LiveTail extends EventTarget {
  constructor() {
    super();
    this.state = "offline";
    this._controller = null;
    this._stopped = true;
  }

  start() {
    if (!this._stopped) return;
    this._stopped = false;
    this._loop();
  }

  stop() {
    this._stopped = true;
    if (this._controller) this._controller.abort();
    this._setState("offline");
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  async _loop() {
    let backoff = 1000;
    while (!this._stopped) {
      this._setState("connecting");
      this._controller = new AbortController();
      try {
        const response = await fetch(url("traces/stream"), {
          headers: { "x-api-key": apiKey() || "", accept: "text/event-stream" },
          signal: this._controller.signal,
        });
        if (response.status === 401) {
          window.dispatchEvent(new Event(UNAUTHORIZED));
          this.stop();
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
            const message = parseBlock(block);
            if (!message) continue;
            if (message.event === "ready") {
              backoff = 1000;
              this._setState("live");
            } else {
              let detail = null;
              try {
                detail = JSON.parse(message.data);
              } catch {
                continue;
              }
              this.dispatchEvent(new CustomEvent(message.event, { detail }));
            }
          }
        }
      } catch (error) {
        if (this._stopped) return;
      }
      if (this._stopped) return;
      this._setState("connecting");
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, 30000);
    }
  }
}
