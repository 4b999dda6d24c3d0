// The live stream viewer: filters, a badge per type, pause and resume,
// connection state, reconnect / replay counters, the raw envelope on click,
// and a small form to publish a test event.

import { api } from "./api.js";
import { clock, errorText, field, fill, h, pretty, preview, toast, typeBadge } from "./dom.js";
import { liveStream } from "./stream.js";

/** Rows kept in the list. */
const ROWS = 200;

const STATE_TEXT = {
  idle: "Not connected",
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  closed: "Closed",
};

export class LiveView {
  constructor() {
    this.paused = false;
    this.held = 0;
    this.selected = null;
    this.el = h("div", { class: "view live" });
    this.build();
    this.listening = new AbortController();
    const signal = this.listening.signal;
    liveStream.addEventListener("event", (e) => this.onEvent(e.detail), { signal });
    liveStream.addEventListener("state", () => this.renderState(), { signal });
    liveStream.addEventListener("counters", () => this.renderCounters(), { signal });
    liveStream.addEventListener("notice", (e) => this.onNotice(e.detail), { signal });
    liveStream.addEventListener("reset", () => this.reset(), { signal });
  }

  /** At sign-out: stop listening to the stream. */
  stop() {
    this.listening.abort();
  }

  build() {
    this.types = h("input", { type: "text", name: "types", placeholder: "order.*, payment.succeeded", autocomplete: "off", spellcheck: "false" });
    this.subjects = h("input", { type: "text", name: "subjects", placeholder: "order/IE-4486, user/*", autocomplete: "off", spellcheck: "false" });
    const filters = h("form", { class: "filters", "aria-label": "Stream filters", onsubmit: (e) => {
      e.preventDefault();
      liveStream.start({ types: this.types.value, subjects: this.subjects.value });
    } },
    field("Types", this.types, "Exact types, prefix.* or *; empty: every type."),
    field("Subjects", this.subjects, "Exact subjects or a trailing *."),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Apply filters" })));

    this.stateEl = h("span", { class: "state", id: "live-state", dataset: { state: "idle" } },
      h("span", { class: "dot", "aria-hidden": "true" }), h("span", { class: "state-text", text: STATE_TEXT.idle }));
    this.reasonEl = h("span", { class: "muted small", id: "live-reason" });
    this.pauseBtn = h("button", { type: "button", id: "pause", "aria-pressed": "false", text: "Pause", onclick: () => this.togglePause() });
    const clear = h("button", { type: "button", class: "ghost", text: "Clear", onclick: () => this.clear() });

    const counter = (label, id, hint) => h("div", { class: "counter", title: hint },
      h("span", { class: "counter-value", id, text: "0" }), h("span", { class: "counter-label", text: label }));
    this.countersEl = h("div", { class: "counters", "aria-live": "polite", "aria-label": "Stream counters" },
      counter("received", "count-received", "Events received since the filters were applied"),
      counter("reconnects", "count-reconnects", "Connections re-established after a drop"),
      counter("replayed", "count-replayed", "Events read back from the log on a resumed connection (published while the console was disconnected)"),
      counter("gaps", "count-gaps", "Resumes that could not be exact (beacon.gap)"));
    this.positionEl = h("p", { class: "muted small position", id: "live-position" });
    this.noticesEl = h("ul", { class: "notices", "aria-live": "polite" });

    this.list = h("ol", { class: "events", id: "events", "aria-label": "Events, newest first" });
    this.empty = h("p", { class: "muted empty", text: "Waiting for events… publish one below or from your backend." });
    this.detail = h("pre", { class: "code", id: "event-detail", tabindex: "0", "aria-label": "Raw envelope" });
    this.detailTitle = h("h2", { text: "Envelope" });
    this.detailBox = h("aside", { class: "detail card", "aria-label": "Selected event" },
      this.detailTitle,
      h("p", { class: "muted small", text: "Select an event to see the envelope exactly as it was delivered." }),
      this.detail);

    fill(this.el,
      h("div", { class: "view-head" },
        h("h1", { text: "Live stream" }),
        h("div", { class: "status-line" }, this.stateEl, this.reasonEl)),
      filters,
      h("div", { class: "toolbar" }, this.countersEl, h("div", { class: "actions" }, this.pauseBtn, clear)),
      this.positionEl,
      this.noticesEl,
      h("div", { class: "split" },
        h("section", { class: "card list-card", "aria-label": "Events" }, this.empty, this.list),
        this.detailBox),
      this.publishForm());
  }

  publishForm() {
    const type = h("input", { type: "text", name: "type", value: "order.created", required: true, spellcheck: "false" });
    const subject = h("input", { type: "text", name: "subject", value: "order/IE-4486", spellcheck: "false" });
    const data = h("textarea", { name: "data", rows: "6", spellcheck: "false" });
    data.value = pretty({
      orderId: "IE-4486", title: "Leather sandals", total: 85000, currency: "KES", buyerId: "u-42",
      items: [{ sku: "SND-41", quantity: 1, unitPrice: 85000 }], createdAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    });
    const result = h("pre", { class: "code small", hidden: true, "aria-live": "polite" });
    const form = h("form", { class: "publish", onsubmit: async (e) => {
      e.preventDefault();
      let parsed;
      try {
        parsed = JSON.parse(data.value);
      } catch (error) {
        result.hidden = false;
        result.textContent = `data is not JSON: ${error.message}`;
        return;
      }
      const event = { type: type.value.trim(), data: parsed };
      if (subject.value.trim()) event.subject = subject.value.trim();
      try {
        const answer = await api("/v1/events", { method: "POST", json: event });
        result.textContent = pretty(answer);
        toast("Published");
      } catch (error) {
        result.textContent = errorText(error);
      }
      result.hidden = false;
    } },
    h("div", { class: "row" }, field("Type", type), field("Subject", subject)),
    field("Data (JSON)", data),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Publish" })),
    result);
    return h("details", { class: "card publish-card" }, h("summary", { text: "Publish a test event" }), form);
  }

  show() {
    this.renderState();
    this.renderCounters();
    if (liveStream.state === "idle") {
      liveStream.start({ types: this.types.value, subjects: this.subjects.value });
    }
  }

  reset() {
    this.clear();
    fill(this.noticesEl);
    this.renderCounters();
  }

  clear() {
    fill(this.list);
    this.held = 0;
    this.empty.hidden = false;
    this.updatePauseLabel();
  }

  togglePause() {
    this.paused = !this.paused;
    this.pauseBtn.setAttribute("aria-pressed", String(this.paused));
    this.el.classList.toggle("paused", this.paused);
    if (!this.paused && this.held > 0) {
      // Show what arrived meanwhile, newest first.
      const missed = liveStream.events.slice(-Math.min(this.held, ROWS));
      this.held = 0;
      for (const item of missed) this.addRow(item);
    }
    this.updatePauseLabel();
  }

  updatePauseLabel() {
    this.pauseBtn.textContent = this.paused ? (this.held ? `Resume (${this.held} new)` : "Resume") : "Pause";
  }

  onEvent(item) {
    if (this.paused) {
      this.held += 1;
      this.updatePauseLabel();
      return;
    }
    this.addRow(item);
  }

  addRow(item) {
    const envelope = item.envelope;
    const row = h("li", {},
      h("button", { type: "button", class: "event", dataset: { seq: String(item.seq), type: item.type }, onclick: () => this.select(item, row) },
        h("time", { class: "time", datetime: envelope.time ?? "", text: clock(Date.parse(envelope.time ?? "") || item.receivedAt) }),
        typeBadge(item.type),
        h("span", { class: "subject", text: envelope.subject ?? "" }),
        item.replayed ? h("span", { class: "tag", text: "replayed" }) : null,
        h("code", { class: "data", text: preview(envelope.data, 400) })));
    this.list.prepend(row);
    this.empty.hidden = true;
    while (this.list.children.length > ROWS) this.list.lastElementChild.remove();
  }

  select(item, row) {
    for (const el of this.list.querySelectorAll("[aria-current]")) el.removeAttribute("aria-current");
    row.firstElementChild.setAttribute("aria-current", "true");
    this.detailTitle.textContent = `Envelope · ${item.type}`;
    this.detail.textContent = `id: ${item.id}\nevent: ${item.type}\n\n${pretty(item.envelope)}`;
    if (window.matchMedia("(max-width: 900px)").matches) this.detailBox.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  renderState() {
    this.stateEl.dataset.state = liveStream.state;
    this.stateEl.querySelector(".state-text").textContent = STATE_TEXT[liveStream.state] ?? liveStream.state;
    this.reasonEl.textContent = liveStream.state === "open" ? "" : liveStream.reason;
  }

  renderCounters() {
    const c = liveStream.counters;
    for (const [id, value] of [["count-received", c.received], ["count-reconnects", c.reconnects], ["count-replayed", c.replayed], ["count-gaps", c.gaps]]) {
      const el = this.el.querySelector(`#${id}`);
      if (el) el.textContent = String(value);
    }
    const conn = liveStream.connection;
    const parts = [];
    if (conn) {
      parts.push(`resume: ${conn.resume}`);
      if (conn.sentLastEventId) parts.push(`Last-Event-ID sent: ${conn.sentLastEventId}`);
    }
    if (liveStream.lastEventId) parts.push(`last id: ${liveStream.lastEventId}`);
    this.positionEl.textContent = parts.join(" · ");
  }

  onNotice(notice) {
    this.noticesEl.prepend(h("li", { class: `notice ${notice.kind}` },
      h("time", { text: clock(notice.at) }), " ", notice.message));
    while (this.noticesEl.children.length > 3) this.noticesEl.lastElementChild.remove();
  }
}
