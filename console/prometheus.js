// The Prometheus text format (version 0.0.4), as `GET /metrics` answers it:
// samples with labels, sums, and quantiles estimated from histogram buckets.

/** Parses the exposition text into `[{name, labels, value}]` (comments skipped). */
export function parseMetrics(text) {
  const samples = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const brace = line.indexOf("{");
    const space = line.indexOf(" ");
    let name;
    const labels = {};
    let rest;
    if (brace !== -1 && (space === -1 || brace < space)) {
      name = line.slice(0, brace);
      let i = brace + 1;
      while (i < line.length && line[i] !== "}") {
        const eq = line.indexOf("=", i);
        if (eq === -1) break;
        const label = line.slice(i, eq).trim();
        let j = eq + 2; // past `="`
        let value = "";
        while (j < line.length && line[j] !== '"') {
          if (line[j] === "\\" && j + 1 < line.length) {
            const next = line[j + 1];
            value += next === "n" ? "\n" : next;
            j += 2;
          } else {
            value += line[j];
            j += 1;
          }
        }
        labels[label] = value;
        i = j + 1;
        if (line[i] === ",") i += 1;
      }
      rest = line.slice(i + 1);
    } else {
      name = line.slice(0, space);
      rest = line.slice(space);
    }
    const valueText = rest.trim().split(/\s+/)[0];
    const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
    samples.push({ name, labels, value });
  }
  return samples;
}

function matches(labels, filter) {
  return Object.entries(filter).every(([k, v]) => (typeof v === "function" ? v(labels[k]) : labels[k] === v));
}

/** The sum of every sample of `name` whose labels match `filter`. */
export function sum(samples, name, filter = {}) {
  let total = 0;
  for (const s of samples) {
    if (s.name === name && matches(s.labels, filter) && Number.isFinite(s.value)) total += s.value;
  }
  return total;
}

/** Values of `name` grouped by one label: `Map(labelValue → sum)`. */
export function byLabel(samples, name, label, filter = {}) {
  const out = new Map();
  for (const s of samples) {
    if (s.name !== name || !matches(s.labels, filter) || !Number.isFinite(s.value)) continue;
    const key = s.labels[label] ?? "";
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/**
 * A histogram's cumulative buckets, `[{le, count}]` sorted by `le`, summed
 * over the series whose labels match `filter`.
 */
export function buckets(samples, name, filter = {}) {
  const counts = new Map();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !matches(s.labels, filter)) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    counts.set(le, (counts.get(le) ?? 0) + s.value);
  }
  return [...counts.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/** Subtracts an earlier scrape's buckets: the calls in between. */
export function bucketDelta(now, before) {
  const earlier = new Map((before ?? []).map((b) => [b.le, b.count]));
  return now.map((b) => ({ le: b.le, count: Math.max(0, b.count - (earlier.get(b.le) ?? 0)) }));
}

/**
 * The q-quantile (0..1) of a histogram, interpolated linearly within its
 * bucket as Prometheus' `histogram_quantile` does; NaN without samples.
 */
export function quantile(q, cumulative) {
  if (cumulative.length === 0) return NaN;
  const total = cumulative.at(-1).count;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const { le, count } of cumulative) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      const inBucket = count - lowerCount;
      const fraction = inBucket > 0 ? (rank - lowerCount) / inBucket : 0;
      return lowerBound + (le - lowerBound) * fraction;
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}
