// The plugin manager (tenant key with the `plugins` scope): every plugin
// with its versions, active version, quarantine and counters; upload a
// component, activate a version (or roll back), read its log, dry-run a
// hook on a sample event, delete it.

import { api } from "./api.js";
import {
  card, dateTime, errorText, field, fill, formatBytes, formatCount, formatMicros, h, pretty, toast,
} from "./dom.js";

const SAMPLE_EVENT = {
  type: "payment.succeeded",
  subject: "order/IE-4486",
  data: { orderId: "IE-4486", amount: 85000, currency: "KES", providerRef: "ch_3PqX9" },
};

const NAME_PATTERN = "[a-z0-9][a-z0-9\\-]{0,62}";

function path(name, rest = "") {
  return `/v1/plugins/${encodeURIComponent(name)}${rest}`;
}

export class PluginView {
  constructor() {
    this.el = h("div", { class: "view plugins" });
    this.listEl = h("div", { class: "plugin-list", id: "plugin-list", "aria-live": "polite" });
    this.error = h("p", { class: "notice error", role: "alert", hidden: true });
    fill(this.el,
      h("div", { class: "view-head" },
        h("h1", { text: "Plugins" }),
        h("p", { class: "muted", text: "WebAssembly components that shape your events: upload, activate or roll back, test, read their logs." })),
      this.error,
      this.uploadForm(),
      this.listEl);
  }

  uploadForm() {
    const name = h("input", { type: "text", name: "name", required: true, pattern: NAME_PATTERN, placeholder: "display-amount", autocomplete: "off", spellcheck: "false" });
    const file = h("input", { type: "file", name: "wasm", accept: ".wasm,application/wasm", required: true, id: "plugin-file" });
    const activate = h("input", { type: "checkbox", name: "activate", id: "plugin-activate" });
    const result = h("pre", { class: "code small", hidden: true, "aria-live": "polite" });
    file.addEventListener("change", () => {
      const picked = file.files?.[0];
      if (picked && !name.value) name.value = picked.name.replace(/\.wasm$/, "").toLowerCase().replace(/[^a-z0-9-]/g, "-");
    });
    const form = h("form", { class: "upload", onsubmit: async (e) => {
      e.preventDefault();
      const picked = file.files?.[0];
      if (!picked) return;
      const submit = form.querySelector("button");
      submit.disabled = true;
      try {
        const bytes = await picked.arrayBuffer();
        const uploaded = await api(path(name.value.trim(), "/versions"), { method: "POST", body: bytes, contentType: "application/wasm" });
        result.textContent = `${uploaded.name} v${uploaded.version} · ${uploaded.hooks.join(", ")} · ${formatBytes(uploaded.size)} · ${uploaded.digest}`;
        result.hidden = false;
        if (activate.checked) {
          await api(path(uploaded.name), { method: "PUT", json: { version: uploaded.version } });
        }
        toast(`${uploaded.name} v${uploaded.version} uploaded${activate.checked ? " and activated" : ""}`);
        await this.show();
      } catch (error) {
        result.textContent = errorText(error);
        result.hidden = false;
      } finally {
        submit.disabled = false;
      }
    } },
    h("div", { class: "row" },
      field("Name", name, "a-z 0-9 -, up to 63 characters"),
      field("Component (.wasm)", file)),
    h("div", { class: "row" },
      h("label", { class: "check" }, activate, " Activate the uploaded version"),
      h("div", { class: "actions end" }, h("button", { type: "submit", text: "Upload" }))),
    result);
    return h("details", { class: "card upload-card" }, h("summary", { text: "Upload a version" }), form);
  }

  async show() {
    let plugins;
    try {
      plugins = (await api("/v1/plugins")).plugins ?? [];
      this.error.hidden = true;
    } catch (error) {
      this.error.textContent = errorText(error);
      this.error.hidden = false;
      return;
    }
    fill(this.listEl, plugins.length
      ? plugins.map((p) => this.pluginCard(p))
      : h("p", { class: "muted card", text: "No plugin yet: upload a component above." }));
  }

  async refresh(name, cardEl) {
    try {
      const plugin = await api(path(name));
      cardEl.replaceWith(this.pluginCard(plugin));
    } catch (error) {
      if (error.status === 404) cardEl.remove();
      else toast(errorText(error), "error");
    }
  }

  pluginCard(plugin) {
    const active = plugin.activation?.version ?? null;
    const el = h("article", { class: "card plugin", dataset: { plugin: plugin.name }, "aria-label": `Plugin ${plugin.name}` });
    const status = [];
    status.push(active ? h("span", { class: "tag ok", text: `active v${active}` }) : h("span", { class: "tag", text: "inactive" }));
    if (plugin.quarantine) status.push(h("span", { class: "tag bad", text: "quarantined" }));

    // Settings used by the Activate buttons: the current activation's, or the defaults.
    const act = plugin.activation;
    const types = h("input", { type: "text", value: act ? act.types.join(", ") : "", placeholder: "from the component", spellcheck: "false" });
    const order = h("input", { type: "number", value: String(act?.order ?? 0), step: "1" });
    const onError = h("select", {},
      h("option", { value: "fail_open", text: "fail open (event goes on)", selected: act?.on_error !== "fail_closed" }),
      h("option", { value: "fail_closed", text: "fail closed (dead letter)", selected: act?.on_error === "fail_closed" }));
    const activate = async (version) => {
      const body = { version, order: Number(order.value) || 0, on_error: onError.value };
      const list = types.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (list.length) body.types = list;
      if (act?.limits && Object.keys(act.limits).length) body.limits = act.limits;
      try {
        await api(path(plugin.name), { method: "PUT", json: body });
        toast(`${plugin.name}: v${version} ${active && version < active ? "rolled back to" : "activated"}`);
        await this.refresh(plugin.name, el);
      } catch (error) {
        toast(errorText(error), "error");
      }
    };

    const versions = h("table", { class: "table" },
      h("caption", { class: "sr-only", text: `Versions of ${plugin.name}` }),
      h("thead", {}, h("tr", {}, ["Version", "Hooks", "Component", "Size", "Uploaded", ""].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, plugin.versions.map((v) => {
        const hooks = ["publish", "convert", "deliver"].filter((k) => v.hooks?.[k]);
        let action;
        if (v.version === active) action = h("span", { class: "tag ok", text: "active" });
        else {
          const label = active && v.version < active ? "Roll back" : "Activate";
          action = h("button", { type: "button", class: "small", text: label, "aria-label": `${label} ${plugin.name} v${v.version}`, onclick: () => activate(v.version) });
        }
        return h("tr", {},
          h("td", { text: `v${v.version}` }),
          h("td", { text: hooks.join(", ") }),
          h("td", {}, h("span", { text: `${v.info?.name ?? ""} ${v.info?.version ?? ""}` }), h("br"), h("code", { class: "muted small", title: v.digest, text: v.digest.slice(0, 19) })),
          h("td", { text: formatBytes(v.size) }),
          h("td", { text: dateTime(v.created_ms) }),
          h("td", {}, action));
      })));

    const s = plugin.stats ?? {};
    const stats = h("dl", { class: "facts" },
      ...[["calls", formatCount(s.calls)], ["failures", formatCount(s.failures)], ["modifies", formatCount(s.modifies)],
        ["drops", formatCount(s.drops)], ["rejects", formatCount(s.rejects)], ["dead letters", formatCount(s.dead_letters)],
        ["p50", formatMicros(s.latency_us?.p50)], ["p99", formatMicros(s.latency_us?.p99)]]
        .map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", { text: v }))));

    const quarantine = plugin.quarantine
      ? h("p", { class: "notice warn", text: `Quarantined since ${dateTime(plugin.quarantine.since_ms)} after ${plugin.quarantine.failures} failures: ${plugin.quarantine.reason}. Activating a version lifts it.` })
      : null;

    const panel = h("div", { class: "panel" });
    const logsBtn = h("button", { type: "button", class: "ghost", text: "Logs", onclick: () => this.showLogs(plugin, panel) });
    const testBtn = h("button", { type: "button", class: "ghost", text: "Test", onclick: () => fill(panel, this.testRunner(plugin)) });
    const deleteBtn = h("button", { type: "button", class: "danger ghost", text: "Delete", onclick: async () => {
      if (deleteBtn.dataset.armed !== "yes") {
        deleteBtn.dataset.armed = "yes";
        deleteBtn.textContent = "Confirm delete";
        setTimeout(() => { deleteBtn.dataset.armed = ""; deleteBtn.textContent = "Delete"; }, 4000);
        return;
      }
      try {
        await api(path(plugin.name), { method: "DELETE" });
        toast(`${plugin.name} deleted`);
        el.remove();
      } catch (error) {
        toast(errorText(error), "error");
      }
    } });

    fill(el,
      h("header", { class: "plugin-head" },
        h("h2", { text: plugin.name }), ...status,
        h("div", { class: "actions end" }, testBtn, logsBtn, deleteBtn)),
      quarantine,
      act ? h("p", { class: "muted small", text: `Runs on ${act.types.length ? act.types.join(", ") : "every type"} · order ${act.order} · ${act.on_error.replace("_", " ")} · since ${dateTime(act.activated_ms)}` }) : null,
      stats,
      h("div", { class: "table-wrap" }, versions),
      h("details", { class: "settings" },
        h("summary", { text: "Activation settings" }),
        h("div", { class: "row" }, field("Types", types, "Comma-separated patterns; empty: what the component names"), field("Order", order), field("On error", onError))),
      panel);
    return el;
  }

  async showLogs(plugin, panel) {
    try {
      const { lines } = await api(path(plugin.name, "/logs?limit=100"));
      fill(panel, h("section", { class: "logs", "aria-label": `Log of ${plugin.name}` },
        h("h3", { text: "Log (this node, newest last)" }),
        lines.length
          ? h("ol", { class: "log-lines" }, lines.map((l) => h("li", { class: `level-${l.level}` },
            h("time", { text: dateTime(l.time_ms) }), " ",
            h("span", { class: "tag", text: `${l.source} ${l.level}` }), " ",
            h("span", { text: l.message }))))
          : h("p", { class: "muted", text: "Nothing logged yet." })));
    } catch (error) {
      fill(panel, h("p", { class: "notice error", text: errorText(error) }));
    }
  }

  testRunner(plugin) {
    const versionSel = h("select", {}, plugin.versions.map((v) => h("option", {
      value: String(v.version), text: `v${v.version}`,
      selected: v.version === (plugin.activation?.version ?? plugin.versions.at(-1)?.version),
    })));
    const hookSel = h("select", {});
    const toVersion = h("input", { type: "number", min: "1", value: "1" });
    const toField = field("Convert to version", toVersion);
    const body = h("textarea", { rows: "9", spellcheck: "false" });
    const result = h("pre", { class: "code", "aria-live": "polite", hidden: true });
    const sync = () => {
      const v = plugin.versions.find((x) => String(x.version) === versionSel.value);
      const hooks = ["publish", "convert", "deliver"].filter((k) => v?.hooks?.[k]);
      fill(hookSel, hooks.map((k) => h("option", { value: k, text: k })));
      updateBody();
    };
    const updateBody = () => {
      toField.hidden = hookSel.value !== "convert";
      const sample = hookSel.value === "deliver"
        ? { event: SAMPLE_EVENT, subscribers: [{ user_id: "42", claims: { vip: true } }, { user_id: "7", claims: {} }] }
        : SAMPLE_EVENT;
      body.value = pretty(sample);
    };
    versionSel.addEventListener("change", sync);
    hookSel.addEventListener("change", updateBody);
    const form = h("form", { class: "test", "aria-label": `Test ${plugin.name}`, onsubmit: async (e) => {
      e.preventDefault();
      let parsed;
      try {
        parsed = JSON.parse(body.value);
      } catch (error) {
        result.textContent = `not JSON: ${error.message}`;
        result.hidden = false;
        return;
      }
      const query = new URLSearchParams({ version: versionSel.value, hook: hookSel.value });
      if (hookSel.value === "convert") query.set("to_version", toVersion.value);
      try {
        const answer = await api(path(plugin.name, `/test?${query}`), { method: "POST", json: parsed });
        const lines = [`outcome: ${answer.outcome}  (v${answer.version} ${answer.hook}, ${formatMicros(answer.duration_us)})`];
        if (answer.reason) lines.push(`reason: ${answer.reason}`);
        if (answer.failure) lines.push(`failure: ${answer.failure}`);
        if (answer.deliver) lines.push(`deliver: ${JSON.stringify(answer.deliver)}`);
        if (answer.output) lines.push(`output:\n${pretty(answer.output)}`);
        if (answer.logs?.length) lines.push(`logs:\n${answer.logs.map((l) => `  [${l.source} ${l.level}] ${l.message}`).join("\n")}`);
        result.textContent = lines.join("\n");
        result.dataset.outcome = answer.outcome;
      } catch (error) {
        result.textContent = errorText(error);
        result.dataset.outcome = "error";
      }
      result.hidden = false;
    } },
    h("div", { class: "row" }, field("Version", versionSel), field("Hook", hookSel), toField),
    field("Sample event", body),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Run test" })),
    result);
    sync();
    return card(`Test run of ${plugin.name} (nothing is stored)`, form);
  }
}
