// Dead letters (tenant key with the `read` scope): events a `fail_closed`
// plugin failed on, oldest first, a page at a time (`next` cursor).

import { api } from "./api.js";
import { errorText, fill, h, pretty, typeBadge } from "./dom.js";

const PAGE = 50;

export class DeadLetterView {
  constructor() {
    this.next = null;
    this.lastId = null;
    this.el = h("div", { class: "view dead-letters" });
    this.body = h("tbody", { id: "dead-letter-rows" });
    this.count = h("p", { class: "muted small", "aria-live": "polite" });
    this.more = h("button", { type: "button", text: "Load more", hidden: true, onclick: () => this.load(this.next) });
    this.newer = h("button", { type: "button", class: "ghost", text: "Check for newer", hidden: true, onclick: () => this.load(this.lastId) });
    this.error = h("p", { class: "notice error", role: "alert", hidden: true });
    this.detail = h("pre", { class: "code", id: "dead-letter-detail", tabindex: "0", hidden: true, "aria-label": "Dead letter" });
    fill(this.el,
      h("div", { class: "view-head" },
        h("h1", { text: "Dead letters" }),
        h("p", { class: "muted", text: "Events accepted for publishing that a fail-closed plugin failed on (or that reached it while quarantined). Oldest first." })),
      this.error,
      h("section", { class: "card", "aria-label": "Dead letters" },
        h("div", { class: "actions" },
          h("button", { type: "button", class: "ghost", text: "Reload", onclick: () => this.show() }),
          this.newer),
        this.count,
        h("div", { class: "table-wrap" },
          h("table", { class: "table" },
            h("caption", { class: "sr-only", text: "Dead letters, oldest first" }),
            h("thead", {}, h("tr", {}, ["Time", "Type", "Plugin", "Code", "Reason"].map((t) => h("th", { scope: "col", text: t })))),
            this.body)),
        h("div", { class: "actions" }, this.more)),
      this.detail);
  }

  async show() {
    fill(this.body);
    this.total = 0;
    this.next = null;
    this.lastId = null;
    this.detail.hidden = true;
    await this.load(null);
  }

  async load(after) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (after) query.set("after", after);
    let page;
    try {
      page = await api(`/v1/dead-letters?${query}`);
      this.error.hidden = true;
    } catch (error) {
      this.error.textContent = errorText(error);
      this.error.hidden = false;
      return;
    }
    for (const letter of page.dead_letters ?? []) {
      const row = h("tr", { class: "clickable", tabindex: "0", dataset: { id: letter.id } },
        h("td", { text: new Date(letter.time).toLocaleString() }),
        h("td", {}, typeBadge(letter.event?.type ?? "?")),
        h("td", { text: `${letter.plugin} v${letter.version}` }),
        h("td", {}, h("span", { class: "tag bad", text: letter.code })),
        h("td", { class: "reason", text: letter.reason }));
      const open = () => {
        this.detail.textContent = pretty(letter);
        this.detail.hidden = false;
        this.detail.scrollIntoView({ behavior: "smooth", block: "nearest" });
      };
      row.addEventListener("click", open);
      row.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } });
      this.body.append(row);
      this.total += 1;
      this.lastId = letter.id;
    }
    this.next = page.next ?? null;
    this.more.hidden = !this.next;
    this.newer.hidden = Boolean(this.next) || !this.lastId;
    this.count.textContent = this.total
      ? `${this.total} shown${this.next ? "; more below" : ""}`
      : "No dead letters.";
  }
}
