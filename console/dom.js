// Small DOM helpers: elements from plain data (never from HTML strings, so
// nothing an event carries can become markup), type colours, formatting.

/**
 * Creates an element. `attrs` keys: `class`, `text`, `on<event>` handlers,
 * `dataset`, boolean properties (`hidden`, `disabled`, ...), other attributes.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A stable hue (0-359) for a string: the same event type, the same colour. */
export function hue(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // Spread hues by the golden angle so similar names still differ.
  return Math.round(((hash >>> 0) * 137.508) % 360);
}

/** A coloured badge for an event type. */
export function typeBadge(type) {
  const badge = h("span", { class: "badge", text: type, title: type });
  badge.style.setProperty("--hue", String(hue(type)));
  return badge;
}

/** A CSS colour for a type, for charts. */
export function typeColour(type, dark = false) {
  return dark ? `hsl(${hue(type)} 65% 62%)` : `hsl(${hue(type)} 62% 45%)`;
}

export function prefersDark() {
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
}

const integer = new Intl.NumberFormat("en");
const decimal = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });

export function formatCount(n) {
  return Number.isFinite(n) ? integer.format(Math.round(n)) : "–";
}

export function formatRate(n) {
  return Number.isFinite(n) ? decimal.format(n) : "–";
}

/** Microseconds → "850 µs" / "12.3 ms" / "1.2 s". */
export function formatMicros(us) {
  if (!Number.isFinite(us)) return "–";
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1e6) return `${decimal.format(us / 1000)} ms`;
  return `${decimal.format(us / 1e6)} s`;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${decimal.format(n / 1024)} KiB`;
  return `${decimal.format(n / 1024 / 1024)} MiB`;
}

export function formatDuration(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** "12:04:05.123" in local time. */
export function clock(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function dateTime(ms) {
  return new Date(ms).toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** Pretty JSON for a `<pre>`. */
export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** One line of JSON, cut to `max` characters. */
export function preview(value, max = 140) {
  const text = JSON.stringify(value) ?? "";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

let toastTimer = 0;
/** A short message at the bottom of the screen (announced to screen readers). */
export function toast(message, kind = "info") {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = message;
  el.dataset.kind = kind;
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("show"), kind === "error" ? 6000 : 3000);
}

/** An error from the API (or anything thrown) as one line for people. */
export function errorText(error) {
  if (error?.code) {
    const details = (error.details ?? []).map((d) => `${d.path || "/"}: ${d.message}`);
    return [`${error.code}: ${error.message}`, ...details].join("\n");
  }
  return String(error?.message ?? error);
}

/** A labelled form field. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" },
    h("label", { for: id, text: label }),
    control,
    hint ? h("small", { class: "hint", text: hint }) : null);
}

/** A card with a heading. */
export function card(title, ...children) {
  return h("section", { class: "card", "aria-label": title },
    h("h2", { text: title }),
    ...children);
}

/** A small "name: value" statistic; returns `[element, setValue]`. */
export function stat(label, id) {
  const value = h("span", { class: "stat-value", id, text: "–" });
  const el = h("div", { class: "stat" }, h("span", { class: "stat-label", text: label }), value);
  return [el, (text) => { value.textContent = text; }];
}
