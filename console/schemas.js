// The schema browser (admin): every event type with its compatibility
// mode, versions (default, deprecated), each version's JSON Schema, and a
// diff between any two versions.

import { api } from "./api.js";
import { card, dateTime, errorText, field, fill, h, pretty, preview, toast, typeBadge } from "./dom.js";
import { diff } from "./diff.js";

const MODES = ["BACKWARD", "FORWARD", "FULL", "BACKWARD_TRANSITIVE", "FORWARD_TRANSITIVE", "FULL_TRANSITIVE", "NONE"];

export class SchemaView {
  constructor() {
    this.summaries = [];
    this.current = null;
    this.el = h("div", { class: "view schemas" });
    this.search = h("input", { type: "search", placeholder: "Filter types", "aria-label": "Filter types", oninput: () => this.renderList() });
    this.list = h("ul", { class: "type-list", id: "schema-list", "aria-label": "Event types" });
    this.detail = h("div", { class: "type-detail", id: "schema-detail" },
      h("p", { class: "muted", text: "Select a type to see its versions." }));
    this.error = h("p", { class: "notice error", role: "alert", hidden: true });
    fill(this.el,
      h("div", { class: "view-head" },
        h("h1", { text: "Schemas" }),
        h("p", { class: "muted", text: "Event contracts: each type's versions, its compatibility mode, and what changed between versions." })),
      this.error,
      h("div", { class: "master-detail" },
        h("section", { class: "card types-card", "aria-label": "Types" },
          this.search,
          h("p", { class: "muted small", id: "schema-count" }),
          this.list),
        this.detail));
  }

  async show(type) {
    try {
      const answer = await api("/v1/schemas");
      this.summaries = answer.schemas ?? [];
      this.error.hidden = true;
    } catch (error) {
      this.error.textContent = errorText(error);
      this.error.hidden = false;
    }
    this.renderList();
    const wanted = type ?? this.current?.type;
    if (wanted) await this.open(wanted);
  }

  renderList() {
    const term = this.search.value.trim().toLowerCase();
    const shown = this.summaries.filter((s) => s.type.toLowerCase().includes(term));
    this.el.querySelector("#schema-count").textContent = `${shown.length} of ${this.summaries.length} types`;
    fill(this.list, shown.map((s) => h("li", {},
      h("a", {
        href: `#/schemas/${encodeURIComponent(s.type)}`,
        class: "type-link",
        "aria-current": this.current?.type === s.type ? "page" : null,
        dataset: { type: s.type },
      },
      typeBadge(s.type),
      h("span", { class: "muted small", text: s.latest ? `v${s.latest}` : "no version" })))));
  }

  async open(type) {
    let info;
    try {
      info = await api(`/v1/schemas/${encodeURIComponent(type)}`);
    } catch (error) {
      fill(this.detail, h("p", { class: "notice error", text: errorText(error) }));
      return;
    }
    this.current = info;
    this.renderList();
    this.renderDetail(info);
  }

  renderDetail(info) {
    const versions = info.versions ?? [];
    const summary = this.summaries.find((s) => s.type === info.type);
    const mode = h("select", { id: "schema-mode" }, MODES.map((m) => h("option", { value: m, text: m, selected: m === info.mode })));
    const saveMode = h("button", { type: "button", text: "Set mode", onclick: async () => {
      try {
        await api(`/v1/schemas/${encodeURIComponent(info.type)}/compatibility`, { method: "PUT", json: { mode: mode.value } });
        toast(`${info.type}: mode ${mode.value}`);
        await this.show(info.type);
      } catch (error) {
        toast(errorText(error), "error");
      }
    } });

    const rows = versions.map((c) => h("tr", {},
      h("td", { text: `v${c.version}` }),
      h("td", { text: dateTime(c.created_at * 1000) }),
      h("td", {},
        c.deprecated ? h("span", { class: "tag warn", text: "deprecated" }) : null,
        summary?.default_version === c.version ? h("span", { class: "tag ok", text: "default" }) : null)));

    const pick = (id, label, selected) => field(label, h("select", { id },
      versions.map((c) => h("option", { value: String(c.version), text: `v${c.version}`, selected: c.version === selected }))));
    const latest = versions.at(-1)?.version;
    const previous = versions.at(-2)?.version ?? latest;
    const viewPick = pick("schema-version", "Version", latest);
    const schemaPre = h("pre", { class: "code", id: "schema-json", tabindex: "0" });
    const showSchema = () => {
      const n = Number(viewPick.querySelector("select").value);
      schemaPre.textContent = pretty(versions.find((c) => c.version === n)?.schema ?? null);
    };
    viewPick.querySelector("select").addEventListener("change", showSchema);

    const fromPick = pick("diff-from", "From", previous);
    const toPick = pick("diff-to", "To", latest);
    const diffOut = h("div", { id: "schema-diff", "aria-live": "polite" });
    const showDiff = () => {
      const a = Number(fromPick.querySelector("select").value);
      const b = Number(toPick.querySelector("select").value);
      fill(diffOut, this.renderDiff(versions.find((c) => c.version === a), versions.find((c) => c.version === b)));
    };
    fromPick.querySelector("select").addEventListener("change", showDiff);
    toPick.querySelector("select").addEventListener("change", showDiff);

    fill(this.detail,
      card(info.type,
        h("div", { class: "row" },
          field("Compatibility mode", mode),
          h("div", { class: "actions end" }, saveMode)),
        h("p", { class: "hint", text: "How a new version must relate to the existing ones (checked when it is registered)." }),
        h("div", { class: "table-wrap" },
          h("table", { class: "table" },
            h("caption", { class: "sr-only", text: "Versions" }),
            h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Version" }), h("th", { scope: "col", text: "Registered" }), h("th", { scope: "col", text: "Status" }))),
            h("tbody", {}, rows)))),
      card("Diff between versions",
        versions.length < 2
          ? h("p", { class: "muted", text: "Only one version so far: nothing to compare." })
          : null,
        h("div", { class: "row" }, fromPick, toPick),
        diffOut),
      card("Schema",
        h("div", { class: "row" }, viewPick),
        schemaPre));
    showSchema();
    showDiff();
  }

  renderDiff(a, b) {
    if (!a || !b) return null;
    if (a.version === b.version) return h("p", { class: "muted", text: "Pick two different versions." });
    const changes = diff(a.schema, b.schema);
    if (changes.length === 0) return h("p", { class: "muted", text: `v${a.version} and v${b.version} are identical.` });
    const sign = { added: "+", removed: "−", changed: "~" };
    const value = (v) => h("code", { text: preview(v, 160) });
    return h("ul", { class: "diff", "aria-label": `Changes from v${a.version} to v${b.version}` },
      changes.map((c) => h("li", { class: `op-${c.op}` },
        h("span", { class: "sign", "aria-hidden": "true", text: sign[c.op] }),
        h("span", { class: "sr-only", text: `${c.op} ` }),
        h("code", { class: "path", text: c.path || "/" }),
        c.op === "changed" ? [" ", value(c.from), " → ", value(c.to)]
          : c.item ? [" item ", value(c.op === "added" ? c.to : c.from)]
            : [" ", value(c.op === "added" ? c.to : c.from)])));
  }
}
