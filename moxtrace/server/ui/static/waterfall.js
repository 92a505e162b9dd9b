// The waterfall: one row per span in tree order, a bar per span on a shared time axis.
//
// Only the rows in view (plus a margin) are in the DOM: a 10,000-span trace costs what
// 40 rows cost. Rows have a fixed height, so the visible slice is computed from the
// scroll offset; the scroll area's full height comes from a spacer.

import { clear, fmtCost, fmtDuration, h, isoMs, serviceColor, spanCost } from "./dom.js";

const ROW = 26;
const MARGIN = 12;

/** Microsecond-accurate start/end in ms since the epoch. */
function spanTimes(span) {
  const start = isoMs(span.start_time);
  const end = isoMs(span.end_time);
  return [start ?? end, end ?? start];
}

export class Waterfall {
  /**
   * spans: the trace's spans in tree order (each with depth and children);
   * onSelect(span) when a row is clicked or chosen with the keyboard.
   */
  constructor(spans, { onSelect, selected, collapsed } = {}) {
    this.onSelect = onSelect || (() => {});
    this.collapsed = collapsed || new Set();
    this.selectedId = selected || null;
    this.byId = new Map();
    let first = Infinity;
    let last = -Infinity;
    for (const span of spans) {
      const [start, end] = spanTimes(span);
      span._start = start;
      span._end = end;
      if (start !== null && start < first) first = start;
      if (end !== null && end > last) last = end;
      this.byId.set(span.span_id, span);
    }
    this.spans = spans;
    this.t0 = Number.isFinite(first) ? first : 0;
    this.total = Math.max((Number.isFinite(last) ? last : this.t0) - this.t0, 0.001);
    this.frame = 0;

    this.spacer = h("div", { class: "wf-spacer" });
    this.rowsNode = h("div", { class: "wf-rows", role: "tree" });
    this.body = h(
      "div",
      { class: "wf-body", tabindex: "0", "aria-label": "Spans", onscroll: () => this.schedule(), onkeydown: (e) => this.key(e) },
      this.spacer,
      this.rowsNode,
    );
    this.node = h("div", { class: "waterfall", id: "waterfall" }, this.axis(), this.body);
    this.computeVisible();
  }

  axis() {
    const ticks = [];
    for (let i = 0; i <= 4; i += 1) {
      ticks.push(h("span", { class: "tick", style: { left: `${i * 25}%` } }, fmtDuration((this.total * i) / 4)));
    }
    return h(
      "div",
      { class: "wf-axis" },
      h("div", { class: "wf-name-head" }, `${this.spans.length} spans`),
      h("div", { class: "wf-time-head" }, ticks),
    );
  }

  computeVisible() {
    const visible = [];
    let hideBelow = Infinity;
    for (const span of this.spans) {
      if (span.depth > hideBelow) continue;
      hideBelow = Infinity;
      visible.push(span);
      if (this.collapsed.has(span.span_id) && span.children?.length) hideBelow = span.depth;
    }
    this.visible = visible;
    this.spacer.style.height = `${visible.length * ROW}px`;
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Draw the rows in view. */
  render() {
    const height = this.body.clientHeight || 600;
    const top = this.body.scrollTop;
    const from = Math.max(0, Math.floor(top / ROW) - MARGIN);
    const to = Math.min(this.visible.length, Math.ceil((top + height) / ROW) + MARGIN);
    const rows = [];
    for (let i = from; i < to; i += 1) rows.push(this.row(this.visible[i], i));
    this.rowsNode.style.transform = `translateY(${from * ROW}px)`;
    clear(this.rowsNode).append(...rows);
  }

  row(span, index) {
    const left = span._start === null ? 0 : ((span._start - this.t0) / this.total) * 100;
    const width = Math.max(((span._end - span._start) / this.total) * 100 || 0, 0.15);
    const error = span.status?.code === "ERROR";
    const color = serviceColor(span.service_name);
    const calls = span.llm_calls || [];
    const hasChildren = span.children && span.children.length > 0;
    const collapsed = this.collapsed.has(span.span_id);
    const chips = [];
    if (calls.length) {
      const call = calls[0];
      const tokensIn = calls.reduce((sum, c) => sum + (c.usage?.input_tokens || 0), 0);
      const tokensOut = calls.reduce((sum, c) => sum + (c.usage?.output_tokens || 0), 0);
      const model = call.response_model || call.request_model || "llm";
      if (!(span.name || "").includes(model)) chips.push(h("span", { class: "chip model" }, model));
      chips.push(h("span", { class: "chip tokens" }, `${tokensIn}→${tokensOut}`));
      const cost = spanCost(span);
      if (cost !== null) chips.push(h("span", { class: "chip cost" }, fmtCost(cost)));
    }
    if (error) chips.push(h("span", { class: "chip error" }, "error"));
    const name = h(
      "div",
      { class: "wf-name", style: { paddingLeft: `${6 + span.depth * 14}px` } },
      hasChildren
        ? h(
            "button",
            {
              type: "button",
              class: "toggle",
              "aria-label": collapsed ? "Expand" : "Collapse",
              onclick: (event) => {
                event.stopPropagation();
                this.toggle(span.span_id);
              },
            },
            collapsed ? "▸" : "▾",
          )
        : h("span", { class: "toggle-pad" }),
      h("span", { class: "swatch", style: { background: color }, title: span.service_name || "" }),
      h("span", { class: "span-name", title: span.name || "" }, span.name || "?"),
      chips.length ? h("span", { class: "chips" }, chips) : null,
    );
    const bar = h(
      "div",
      { class: "wf-bar-cell" },
      h("div", {
        class: `wf-bar${error ? " error" : ""}`,
        style: { left: `${Math.min(left, 99.85)}%`, width: `${Math.min(width, 100 - Math.min(left, 99.85))}%`, background: error ? "" : color },
      }),
      h("span", { class: "wf-dur", style: left > 70 ? { right: `${100 - left + 0.5}%` } : { left: `${left + width + 0.5}%` } }, fmtDuration(span.duration_ms)),
    );
    return h(
      "div",
      {
        class: `wf-row${span.span_id === this.selectedId ? " selected" : ""}${error ? " error" : ""}`,
        role: "treeitem",
        "aria-level": span.depth + 1,
        "aria-selected": span.span_id === this.selectedId ? "true" : "false",
        dataset: {
          spanId: span.span_id,
          parentSpanId: span.parent_span_id || "",
          depth: String(span.depth),
          service: span.service_name || "",
          index: String(index),
        },
        onclick: () => this.select(span.span_id),
      },
      name,
      bar,
    );
  }

  toggle(spanId) {
    if (this.collapsed.has(spanId)) this.collapsed.delete(spanId);
    else this.collapsed.add(spanId);
    this.computeVisible();
    this.render();
  }

  select(spanId, { scroll = false } = {}) {
    this.selectedId = spanId;
    if (scroll) {
      const index = this.visible.findIndex((span) => span.span_id === spanId);
      if (index >= 0) {
        const top = index * ROW;
        if (top < this.body.scrollTop || top + ROW > this.body.scrollTop + this.body.clientHeight) {
          this.body.scrollTop = Math.max(0, top - this.body.clientHeight / 2);
        }
      }
    }
    this.render();
    const span = this.byId.get(spanId);
    if (span) this.onSelect(span);
  }

  key(event) {
    const index = this.visible.findIndex((span) => span.span_id === this.selectedId);
    let next = null;
    if (event.key === "ArrowDown") next = this.visible[Math.min(index + 1, this.visible.length - 1)];
    else if (event.key === "ArrowUp") next = this.visible[Math.max(index - 1, 0)];
    else if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && this.selectedId) {
      const span = this.byId.get(this.selectedId);
      const open = !this.collapsed.has(this.selectedId);
      if (span?.children?.length && open === (event.key === "ArrowLeft")) this.toggle(this.selectedId);
      event.preventDefault();
      return;
    }
    if (next) {
      event.preventDefault();
      this.select(next.span_id, { scroll: true });
    }
  }
}
