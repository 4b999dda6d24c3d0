// Small live charts on <canvas>: a sparkline and stacked bars. Each chart
// also keeps a text summary in its aria-label for screen readers.

import { h } from "./dom.js";

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

/** Sizes the canvas to its box at the device's pixel ratio. */
function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, canvas.clientWidth);
  const height = Math.max(1, canvas.clientHeight);
  const w = Math.round(width * ratio);
  const hgt = Math.round(height * ratio);
  if (canvas.width !== w || canvas.height !== hgt) {
    canvas.width = w;
    canvas.height = hgt;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

function baseline(ctx, width, height, max, unit) {
  ctx.strokeStyle = cssVar("--grid", "#ddd");
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, height - 0.5);
  ctx.lineTo(width, height - 0.5);
  ctx.stroke();
  ctx.fillStyle = cssVar("--muted", "#666");
  ctx.font = "10px system-ui, sans-serif";
  ctx.textBaseline = "top";
  ctx.fillText(`${max}${unit}`, 2, 1);
}

/** A line chart of the last `capacity` values. */
export class Sparkline {
  constructor({ label, colour, capacity = 60, unit = "" }) {
    this.label = label;
    this.colour = colour;
    this.capacity = capacity;
    this.unit = unit;
    this.values = [];
    this.canvas = h("canvas", { class: "chart spark", role: "img", "aria-label": label });
  }

  push(value) {
    this.values.push(value);
    if (this.values.length > this.capacity) this.values.shift();
  }

  draw() {
    if (!this.canvas.isConnected) return;
    const { ctx, width, height } = prepare(this.canvas);
    const finite = this.values.filter(Number.isFinite);
    const max = niceMax(Math.max(0, ...finite));
    baseline(ctx, width, height, max, this.unit);
    if (finite.length === 0) return;
    const step = width / Math.max(1, this.capacity - 1);
    const x0 = width - (this.values.length - 1) * step;
    const y = (v) => height - 2 - (v / max) * (height - 14);
    const colour = typeof this.colour === "function" ? this.colour() : this.colour;
    ctx.beginPath();
    let started = false;
    this.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const px = x0 + i * step;
      if (started) ctx.lineTo(px, y(v));
      else ctx.moveTo(px, y(v));
      started = true;
    });
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.75;
    ctx.lineJoin = "round";
    ctx.stroke();
    ctx.lineTo(width, height);
    ctx.lineTo(x0, height);
    ctx.closePath();
    ctx.globalAlpha = 0.14;
    ctx.fillStyle = colour;
    ctx.fill();
    ctx.globalAlpha = 1;
    const last = this.values.at(-1);
    this.canvas.setAttribute("aria-label", `${this.label}: latest ${Number.isFinite(last) ? last : "none"}${this.unit}, peak ${Math.max(...finite)}${this.unit}`);
  }
}

/**
 * Stacked bars: one bar per time slot, one segment per series (colour by
 * key). `slots` is an array of `Map(key → value)`, oldest first.
 */
export class StackedBars {
  constructor({ label, colour, capacity = 60, unit = "" }) {
    this.label = label;
    this.colour = colour;
    this.capacity = capacity;
    this.unit = unit;
    this.canvas = h("canvas", { class: "chart bars", role: "img", "aria-label": label });
  }

  draw(slots) {
    if (!this.canvas.isConnected) return;
    const { ctx, width, height } = prepare(this.canvas);
    const totals = slots.map((slot) => [...slot.values()].reduce((a, b) => a + b, 0));
    const max = niceMax(Math.max(0, ...totals));
    baseline(ctx, width, height, max, this.unit);
    const slotWidth = width / this.capacity;
    const gap = slotWidth > 4 ? 1 : 0;
    const offset = this.capacity - slots.length;
    slots.forEach((slot, i) => {
      let top = height - 1;
      const keys = [...slot.keys()].sort();
      for (const key of keys) {
        const value = slot.get(key);
        if (!(value > 0)) continue;
        const barHeight = (value / max) * (height - 14);
        ctx.fillStyle = this.colour(key);
        ctx.fillRect((offset + i) * slotWidth + gap / 2, top - barHeight, slotWidth - gap, barHeight);
        top -= barHeight;
      }
    });
    const latest = totals.at(-1) ?? 0;
    this.canvas.setAttribute("aria-label", `${this.label}: latest ${latest}${this.unit}, peak ${Math.max(0, ...totals)}${this.unit}`);
  }
}
