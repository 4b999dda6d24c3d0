// A small structural diff of two JSON values, for comparing contract
// versions. Each change names a JSON pointer: `added`, `removed` or
// `changed` (with both values). Arrays of plain values (`required`, `enum`,
// `type`) compare as sets, since their order means nothing in a schema;
// other arrays compare item by item.

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isPlain(v) {
  return v === null || ["string", "number", "boolean"].includes(typeof v);
}

function escape(key) {
  return String(key).replaceAll("~", "~0").replaceAll("/", "~1");
}

export function equal(a, b) {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => equal(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && equal(a[k], b[k]));
  }
  return false;
}

/** The changes from `before` to `after`, in document order. */
export function diff(before, after, path = "") {
  if (equal(before, after)) return [];
  if (isObject(before) && isObject(after)) {
    const out = [];
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    for (const key of keys) {
      const at = `${path}/${escape(key)}`;
      if (!Object.hasOwn(after, key)) out.push({ op: "removed", path: at, from: before[key] });
      else if (!Object.hasOwn(before, key)) out.push({ op: "added", path: at, to: after[key] });
      else out.push(...diff(before[key], after[key], at));
    }
    return out;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    if (before.every(isPlain) && after.every(isPlain)) {
      const out = [];
      for (const v of before) if (!after.some((w) => equal(v, w))) out.push({ op: "removed", path, from: v, item: true });
      for (const v of after) if (!before.some((w) => equal(v, w))) out.push({ op: "added", path, to: v, item: true });
      // Same members in another order: nothing that matters changed.
      return out;
    }
    const out = [];
    const common = Math.min(before.length, after.length);
    for (let i = 0; i < common; i++) out.push(...diff(before[i], after[i], `${path}/${i}`));
    for (let i = common; i < before.length; i++) out.push({ op: "removed", path: `${path}/${i}`, from: before[i] });
    for (let i = common; i < after.length; i++) out.push({ op: "added", path: `${path}/${i}`, to: after[i] });
    return out;
  }
  return [{ op: "changed", path, from: before, to: after }];
}
