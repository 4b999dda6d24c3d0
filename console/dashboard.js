// The live dashboard: events per second by type (from the live stream),
// the node's connections and events (admin: `GET /v1/stats`; a tenant key
// reads the same counters from `/metrics`), publish outcomes and plugin
// latency (`/metrics`), and the tenant's plugin counters (`GET /v1/stats`).
// Polled every two seconds while signed in; charts keep one minute.

import { api, metricsText, session } from "./api.js";
import { StackedBars, Sparkline } from "./charts.js";
import {
  card, errorText, fill, formatCount, formatDuration, formatMicros, formatRate, h, prefersDark,
  stat, typeBadge, typeColour,
} from "./dom.js";
import { bucketDelta, buckets, byLabel, parseMetrics, quantile, sum } from "./prometheus.js";
import { liveStream } from "./stream.js";

const POLL_MS = 2000;
/** One minute of one-second slots (events per second). */
const SLOTS = 60;
/** One minute of polls. */
const POINTS = 60_000 / POLL_MS;
const PLUGIN_SECONDS = "beacon_plugin_call_duration_seconds";

/** A card across the whole grid. */
function wide(el) {
  el.classList.add("wide");
  return el;
}

function accent(name, fallback) {
  return () => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export class Dashboard {
  constructor() {
    this.timer = 0;
    this.tick = 0;
    this.previous = null;
    this.slots = [];
    this.el = h("div", { class: "view dashboard" });
    this.build();
    this.onEvent = (e) => this.countEvent(e);
  }

  build() {
    const tenant = session.kind === "tenant";
    const grid = h("div", { class: "grid" });
    this.error = h("p", { class: "notice error", role: "alert", hidden: true });
    fill(this.el,
      h("div", { class: "view-head" },
        h("h1", { text: "Dashboard" }),
        h("p", { class: "muted", text: tenant
          ? "Live: your stream's events, this node's publish outcomes and your plugins' latency. Updated every 2 s."
          : "Live: this node's connections, events, publish outcomes and every tenant's plugin latency. Updated every 2 s." })),
      this.error,
      grid);

    if (tenant) {
      this.typeBars = new StackedBars({ label: "Events per second by type", colour: (t) => typeColour(t, prefersDark()) });
      const [received, setReceived] = stat("Events received", "dash-received");
      const [rate, setRate] = stat("Events/s (5 s)", "dash-rate");
      this.setReceived = setReceived;
      this.setRate = setRate;
      this.legend = h("ul", { class: "legend", "aria-label": "Events per second by type" });
      grid.append(card("Events per second by type",
        h("div", { class: "stats" }, received, rate),
        this.typeBars.canvas,
        this.legend));
    }

    const [connections, setConnections] = stat("Open connections", "dash-connections");
    const [published, setPublished] = stat("Events published", "dash-published");
    const [delivered, setDelivered] = stat("Events delivered", "dash-delivered");
    this.setNode = { connections: setConnections, published: setPublished, delivered: setDelivered };
    this.connSpark = new Sparkline({ capacity: POINTS, label: "Open connections", colour: accent("--chart-1", "#2f6fd0") });
    this.pubSpark = new Sparkline({ capacity: POINTS, label: "Events published per second", colour: accent("--chart-2", "#1f9d6b"), unit: "/s" });
    this.delSpark = new Sparkline({ capacity: POINTS, label: "Events delivered per second", colour: accent("--chart-3", "#8a53c9"), unit: "/s" });
    this.nodeFacts = h("p", { class: "muted small" });
    grid.append(card("Node",
      h("div", { class: "stats" }, connections, published, delivered),
      h("div", { class: "spark-row" },
        h("figure", {}, h("figcaption", { text: "Open connections" }), this.connSpark.canvas),
        h("figure", {}, h("figcaption", { text: "Published /s" }), this.pubSpark.canvas),
        h("figure", {}, h("figcaption", { text: "Delivered /s" }), this.delSpark.canvas)),
      this.nodeFacts));

    const [accepted, setAccepted] = stat("Accepted", "dash-publish-accepted");
    const [errors, setErrors] = stat("Errors", "dash-publish-errors");
    this.setPublish = { accepted: setAccepted, errors: setErrors };
    this.errSpark = new Sparkline({ capacity: POINTS, label: "Publish errors per second", colour: accent("--danger", "#c2410c"), unit: "/s" });
    this.outcomes = h("ul", { class: "outcomes", "aria-label": "Publish requests by outcome" });
    grid.append(card("Publish requests",
      h("div", { class: "stats" }, accepted, errors),
      h("figure", {}, h("figcaption", { text: "Errors /s (requests not accepted)" }), this.errSpark.canvas),
      this.outcomes));

    this.latSpark = new Sparkline({ capacity: POINTS, label: "Plugin call p99 latency, ms", colour: accent("--chart-4", "#d97706"), unit: " ms" });
    this.latency = h("tbody");
    grid.append(card("Plugin latency",
      h("figure", {}, h("figcaption", { text: "p99 of calls in each interval (ms)" }), this.latSpark.canvas),
      h("div", { class: "table-wrap" },
        h("table", { class: "table" },
          h("caption", { class: "sr-only", text: "Plugin call latency since the node started" }),
          h("thead", {}, h("tr", {},
            h("th", { scope: "col", text: "Plugin" }),
            h("th", { scope: "col", class: "num", text: "Calls" }),
            h("th", { scope: "col", class: "num", text: "p50" }),
            h("th", { scope: "col", class: "num", text: "p99" }))),
          this.latency))));

    if (tenant) {
      this.counters = h("tbody");
      grid.append(wide(card("Plugin counters (this node)",
        h("div", { class: "table-wrap" },
          h("table", { class: "table" },
            h("caption", { class: "sr-only", text: "Your plugins' counters on this node" }),
            h("thead", {}, h("tr", {},
              ...["Plugin", "Calls", "Modifies", "Drops", "Rejects", "Failures", "Dead letters", "p99"]
                .map((t, i) => h("th", { scope: "col", class: i ? "num" : "", text: t })))),
            this.counters)))));
    }
  }

  start() {
    liveStream.addEventListener("event", this.onEvent);
    this.poll();
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.secondTimer = setInterval(() => this.everySecond(), 1000);
  }

  stop() {
    liveStream.removeEventListener("event", this.onEvent);
    clearInterval(this.timer);
    clearInterval(this.secondTimer);
  }

  show() {
    this.drawAll();
  }

  currentSlot() {
    const second = Math.floor(Date.now() / 1000);
    let last = this.slots.at(-1);
    while (!last || last.second < second) {
      const next = { second: last ? last.second + 1 : second, counts: new Map() };
      if (last && second - last.second > SLOTS) next.second = second - SLOTS + 1;
      this.slots.push(next);
      last = next;
    }
    if (this.slots.length > SLOTS) this.slots.splice(0, this.slots.length - SLOTS);
    return last;
  }

  countEvent(event) {
    const item = event?.detail;
    const slot = this.currentSlot();
    const type = item?.type ?? "?";
    slot.counts.set(type, (slot.counts.get(type) ?? 0) + 1);
  }

  everySecond() {
    if (!this.typeBars) return;
    this.currentSlot();
    this.setReceived(formatCount(liveStream.counters.received));
    // Rate over the last five whole seconds.
    const recent = this.slots.slice(-6, -1);
    const perType = new Map();
    for (const slot of recent) {
      for (const [type, n] of slot.counts) perType.set(type, (perType.get(type) ?? 0) + n);
    }
    const seconds = Math.max(1, recent.length);
    let total = 0;
    for (const n of perType.values()) total += n;
    this.setRate(formatRate(total / seconds));
    if (!this.el.isConnected) return;
    this.typeBars.draw(this.slots.map((s) => s.counts));
    const seen = new Set();
    for (const slot of this.slots) for (const type of slot.counts.keys()) seen.add(type);
    const items = [...seen].sort().map((type) => h("li", {},
      typeBadge(type),
      h("span", { class: "num", text: `${formatRate((perType.get(type) ?? 0) / seconds)}/s` })));
    fill(this.legend, items.length ? items : h("li", { class: "muted", text: "No events in the last minute." }));
  }

  async poll() {
    this.tick += 1;
    const now = Date.now();
    try {
      const [text, stats] = await Promise.all([
        metricsText(),
        session.kind === "admin" || session.tenant ? api("/v1/stats") : Promise.resolve(null),
      ]);
      const samples = parseMetrics(text);
      const current = { at: now, samples, stats };
      this.update(current, this.previous);
      this.previous = current;
      this.error.hidden = true;
    } catch (error) {
      this.error.textContent = `Cannot refresh: ${errorText(error)}`;
      this.error.hidden = false;
    }
    this.drawAll();
  }

  update(now, before) {
    const seconds = before ? (now.at - before.at) / 1000 : 0;
    const rate = (a, b) => (before && seconds > 0 ? Math.max(0, (a - b) / seconds) : NaN);

    // Node.
    const node = (snapshot) => (session.kind === "admin" && snapshot.stats
      ? {
        connections: snapshot.stats.connections_open,
        published: snapshot.stats.events_published,
        delivered: snapshot.stats.events_delivered,
      }
      : {
        connections: sum(snapshot.samples, "beacon_sse_connections_open"),
        published: sum(snapshot.samples, "beacon_events_published_total"),
        delivered: sum(snapshot.samples, "beacon_events_delivered_total"),
      });
    const n = node(now);
    const p = before ? node(before) : null;
    this.setNode.connections(formatCount(n.connections));
    this.setNode.published(formatCount(n.published));
    this.setNode.delivered(formatCount(n.delivered));
    this.connSpark.push(n.connections);
    this.pubSpark.push(p ? Math.round(rate(n.published, p.published) * 10) / 10 : NaN);
    this.delSpark.push(p ? Math.round(rate(n.delivered, p.delivered) * 10) / 10 : NaN);
    if (session.kind === "admin" && now.stats) {
      const s = now.stats;
      this.nodeFacts.textContent = `Log: ${s.log} · ${s.ready ? "ready" : "NOT READY"} · up ${formatDuration(s.uptime_s)} · ${s.active_tenants} tenant${s.active_tenants === 1 ? "" : "s"} with a live tail`;
    } else {
      this.nodeFacts.textContent = "Counters of the node that answers, for every tenant.";
    }

    // Publish outcomes.
    const outcomes = byLabel(now.samples, "beacon_publish_requests_total", "outcome");
    const accepted = outcomes.get("accepted") ?? 0;
    let errors = 0;
    for (const [outcome, count] of outcomes) if (outcome !== "accepted") errors += count;
    let errorsBefore = 0;
    if (before) {
      for (const [outcome, count] of byLabel(before.samples, "beacon_publish_requests_total", "outcome")) {
        if (outcome !== "accepted") errorsBefore += count;
      }
    }
    this.setPublish.accepted(formatCount(accepted));
    this.setPublish.errors(formatCount(errors));
    this.errSpark.push(before ? Math.round(rate(errors, errorsBefore) * 10) / 10 : NaN);
    fill(this.outcomes, [...outcomes.entries()].sort((a, b) => b[1] - a[1]).map(([outcome, count]) =>
      h("li", { class: outcome === "accepted" ? "ok" : "bad" },
        h("span", { text: outcome }), h("span", { class: "num", text: formatCount(count) }))));
    if (outcomes.size === 0) fill(this.outcomes, h("li", { class: "muted", text: "No publish requests yet." }));

    // Plugin latency from the histogram.
    const mine = session.kind === "tenant" ? { tenant: session.tenant ?? "\u0000" } : {};
    const plugins = new Map();
    for (const s of now.samples) {
      if (s.name !== `${PLUGIN_SECONDS}_count` || !Object.entries(mine).every(([k, v]) => s.labels[k] === v)) continue;
      const key = session.kind === "admin" ? `${s.labels.tenant}/${s.labels.plugin}` : s.labels.plugin;
      plugins.set(key, { tenant: s.labels.tenant, plugin: s.labels.plugin, calls: s.value });
    }
    const all = buckets(now.samples, PLUGIN_SECONDS, mine);
    const interval = bucketDelta(all, before ? buckets(before.samples, PLUGIN_SECONDS, mine) : all);
    const p99 = quantile(0.99, interval);
    this.latSpark.push(Number.isFinite(p99) ? Math.round(p99 * 1e5) / 100 : (before ? 0 : NaN));
    const rows = [...plugins.entries()].sort().map(([key, info]) => {
      const filter = { tenant: info.tenant, plugin: info.plugin };
      const cumulative = buckets(now.samples, PLUGIN_SECONDS, filter);
      return h("tr", {},
        h("td", { text: key }),
        h("td", { class: "num", text: formatCount(info.calls) }),
        h("td", { class: "num", text: formatMicros(quantile(0.5, cumulative) * 1e6) }),
        h("td", { class: "num", text: formatMicros(quantile(0.99, cumulative) * 1e6) }));
    });
    fill(this.latency, rows.length ? rows : h("tr", {}, h("td", {
      colspan: 4, class: "muted",
      text: session.kind === "tenant" && !session.tenant
        ? "Needs a key with the read scope."
        : "No plugin calls on this node yet.",
    })));

    // The tenant's plugin counters.
    if (this.counters) {
      const list = now.stats?.plugins ?? [];
      fill(this.counters, list.length
        ? list.map((pl) => h("tr", {},
          h("td", { text: pl.name }),
          ...[pl.calls, pl.modifies, pl.drops, pl.rejects, pl.failures, pl.dead_letters]
            .map((v) => h("td", { class: "num", text: formatCount(v) })),
          h("td", { class: "num", text: formatMicros(pl.latency_us?.p99) })))
        : h("tr", {}, h("td", { colspan: 8, class: "muted", text: session.tenant ? "No plugin has run on this node yet." : "Needs a key with the read scope." })));
    }
  }

  drawAll() {
    if (!this.el.isConnected) return;
    for (const chart of [this.connSpark, this.pubSpark, this.delSpark, this.errSpark, this.latSpark]) chart.draw();
    if (this.typeBars) this.typeBars.draw(this.slots.map((s) => s.counts));
  }
}
