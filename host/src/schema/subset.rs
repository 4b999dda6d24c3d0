//! Schema inclusion: "is every document valid under schema A also valid
//! under schema B?", decided structurally, keyword by keyword.
//!
//! The walk is **conservative**: when it cannot prove inclusion (a keyword
//! it does not reason about changed, a regular expression changed, a
//! `$ref` it cannot resolve) it reports a reason rather than guess. It
//! never runs a regular expression or validates documents.
//!
//! One deliberate relaxation, see `docs/contracts.md`: a property that one
//! schema declares *optional* and the other does not mention, on an object
//! left open (`additionalProperties` absent or `true`), is not a conflict.
//! Strictly, the open object allows that property with any value; Beacon
//! treats undeclared properties of an open object as unspecified — not
//! part of the contract — so adding an optional property is compatible.
//!
//! # Bounds
//!
//! The walk follows local `$ref`s (`#/...`) only, stops a `$ref` cycle on
//! the first repeat of a (position in A, position in B) pair, nests at most
//! [`MAX_SCHEMA_DEPTH`](super::MAX_SCHEMA_DEPTH) × 2 levels and visits at
//! most [`MAX_STEPS`] schema pairs; past a bound it reports a reason.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::MAX_SCHEMA_DEPTH;
use beacon_protocol::envelope::FieldError;

/// Most schema pairs one check visits (trial walks of `anyOf` branches
/// included), so a hostile schema cannot make a check expensive.
pub const MAX_STEPS: usize = 20_000;

/// Keywords handled below by dedicated rules.
const UNDERSTOOD: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "properties",
    "required",
    "additionalProperties",
    "minProperties",
    "maxProperties",
    "allOf",
    "anyOf",
    "oneOf",
];

/// Assertions and applicators Beacon does not reason about: a schema that
/// adds or changes one cannot be proven compatible. Keywords in none of these
/// lists are unknown to draft 2020-12, hence annotations, and are ignored.
const OPAQUE: &[&str] = &[
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "patternProperties",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
    "$dynamicRef",
    "$recursiveRef",
];

/// The JSON types, with `integer` apart from `number`.
const TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "integer", "string",
];

/// Which side of the comparison is the schema being added, for pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// One inclusion check between two schema documents.
pub struct Inclusion<'a> {
    a_root: &'a Value,
    b_root: &'a Value,
    /// How the messages name A and B ("version 1", "the new schema").
    a_name: &'a str,
    b_name: &'a str,
    /// Whose pointers the reasons carry.
    pointers: Side,
    /// Projection mode: properties B does not declare are dropped from A's
    /// documents before B sees them, so they never conflict.
    projection: bool,
    in_progress: HashSet<(String, String)>,
    steps: usize,
    reasons: Vec<FieldError>,
}

impl<'a> Inclusion<'a> {
    pub fn new(a_root: &'a Value, b_root: &'a Value, a_name: &'a str, b_name: &'a str) -> Self {
        Inclusion {
            a_root,
            b_root,
            a_name,
            b_name,
            pointers: Side::B,
            projection: false,
            in_progress: HashSet::new(),
            steps: 0,
            reasons: Vec::new(),
        }
    }

    /// Reasons carry pointers into A (default: B).
    pub fn pointers_into(mut self, side: Side) -> Self {
        self.pointers = side;
        self
    }

    /// Treats B's view of A's documents as a projection (see [`super::project`]).
    pub fn projection(mut self) -> Self {
        self.projection = true;
        self
    }

    /// Runs the check; returns every reason A ⊄ B (empty: A ⊆ B).
    pub fn run(mut self) -> Vec<FieldError> {
        let (a, b) = (self.a_root, self.b_root);
        self.sub(a, b, "", "", 0);
        self.reasons
    }

    fn reason(&mut self, pa: &str, pb: &str, suffix: &str, message: String) {
        let base = match self.pointers {
            Side::A => pa,
            Side::B => pb,
        };
        let path = format!("{base}{suffix}");
        if !self
            .reasons
            .iter()
            .any(|r| r.path == path && r.message == message)
        {
            self.reasons.push(FieldError::new(path, message));
        }
    }

    /// Runs a sub-check without keeping its reasons; true if it found none.
    fn holds(&mut self, a: &Value, b: &Value, pa: &str, pb: &str, depth: usize) -> bool {
        let kept = std::mem::take(&mut self.reasons);
        self.sub(a, b, pa, pb, depth);
        let found = std::mem::replace(&mut self.reasons, kept);
        found.is_empty()
    }

    fn sub(&mut self, a: &Value, b: &Value, pa: &str, pb: &str, depth: usize) {
        self.steps += 1;
        if self.steps > MAX_STEPS || depth > 2 * MAX_SCHEMA_DEPTH {
            let message = "schema too large or too deeply nested to compare".to_owned();
            self.reason(pa, pb, "", message);
            return;
        }
        // Boolean schemas: `true` accepts everything, `false` nothing.
        if a == &Value::Bool(false) || accepts_all(b) {
            return;
        }
        if b == &Value::Bool(false) {
            let message = format!(
                "{} accepts no document here, {} does",
                self.b_name, self.a_name
            );
            self.reason(pa, pb, "", message);
            return;
        }
        let empty = Map::new();
        let am = a.as_object().unwrap_or(&empty);
        let Some(bm) = b.as_object() else { return };

        // `$ref` (local only; registration rejects others). A document
        // valid under A is valid under A's target, so A's target ⊆ B is
        // enough; B is its target and its other keywords, both needed.
        if let Some(r) = am.get("$ref").and_then(Value::as_str) {
            return self.follow(Side::A, r, a, b, pa, pb, depth);
        }
        if let Some(r) = bm.get("$ref").and_then(Value::as_str) {
            return self.follow(Side::B, r, a, b, pa, pb, depth);
        }

        let ka = kinds(am);
        self.types(am, bm, ka, pa, pb);
        self.enums(am, bm, pa, pb);
        if ka.has("number") || ka.has("integer") {
            self.numbers(am, bm, pa, pb);
        }
        if ka.has("string") {
            self.strings(am, bm, pa, pb);
        }
        if ka.has("array") {
            self.arrays(am, bm, pa, pb, depth);
        }
        if ka.has("object") {
            self.objects(am, bm, pa, pb, depth);
        }
        self.all_of(a, am, bm, pa, pb, depth);
        self.any_of(a, am, bm, "anyOf", pa, pb, depth);
        self.any_of(a, am, bm, "oneOf", pa, pb, depth);
        self.opaque(am, bm, pa, pb, depth);
    }

    #[allow(clippy::too_many_arguments)]
    fn follow(
        &mut self,
        side: Side,
        reference: &str,
        a: &Value,
        b: &Value,
        pa: &str,
        pb: &str,
        depth: usize,
    ) {
        let root = match side {
            Side::A => self.a_root,
            Side::B => self.b_root,
        };
        let Some((target_ptr, target)) = resolve(root, reference) else {
            let message = format!(
                "cannot resolve $ref {reference:?}; only local references (#/...) are compared"
            );
            return self.reason(pa, pb, "/$ref", message);
        };
        let (na, nb) = match side {
            Side::A => (target_ptr.clone(), pb.to_owned()),
            Side::B => (pa.to_owned(), target_ptr.clone()),
        };
        let key = (na.clone(), nb.clone());
        if !self.in_progress.insert(key.clone()) {
            // A cycle: inclusion is assumed along it and decided elsewhere.
            return;
        }
        match side {
            Side::A => self.sub(target, b, &na, &nb, depth + 1),
            Side::B => {
                self.sub(a, target, &na, &nb, depth + 1);
                let mut rest = b.as_object().cloned().unwrap_or_default();
                rest.remove("$ref");
                if rest.keys().any(|k| asserts(k)) {
                    self.sub(a, &Value::Object(rest), pa, pb, depth + 1);
                }
            }
        }
        self.in_progress.remove(&key);
    }

    fn types(
        &mut self,
        am: &Map<String, Value>,
        bm: &Map<String, Value>,
        ka: Kinds,
        pa: &str,
        pb: &str,
    ) {
        let Some(tb) = declared_types(bm) else { return };
        let accepted = |t: &str| tb.has(t) || (t == "integer" && tb.has("number"));
        if declared_types(am).is_none() && !am.contains_key("enum") && !am.contains_key("const") {
            let message = format!(
                "{} restricts the type to {}; {} allows any type",
                self.b_name,
                tb.list(),
                self.a_name
            );
            return self.reason(pa, pb, "/type", message);
        }
        for t in TYPES {
            if ka.has(t) && !accepted(t) {
                let message = format!(
                    "type {t:?} is allowed by {} but not by {} (which allows {})",
                    self.a_name,
                    self.b_name,
                    tb.list()
                );
                self.reason(pa, pb, "/type", message);
            }
        }
    }

    fn enums(&mut self, am: &Map<String, Value>, bm: &Map<String, Value>, pa: &str, pb: &str) {
        let Some(vb) = values(bm) else { return };
        let Some(va) = values(am) else {
            let message = format!(
                "{} restricts the value to {}; {} does not",
                self.b_name,
                short(&Value::Array(vb.to_vec())),
                self.a_name
            );
            return self.reason(pa, pb, "/enum", message);
        };
        for v in va {
            if !vb.contains(v) {
                let message = format!(
                    "value {} is allowed by {} but not by {}",
                    short(v),
                    self.a_name,
                    self.b_name
                );
                self.reason(pa, pb, "/enum", message);
            }
        }
    }

    fn numbers(&mut self, am: &Map<String, Value>, bm: &Map<String, Value>, pa: &str, pb: &str) {
        let (la, lb) = (
            bound(am, "minimum", "exclusiveMinimum", true),
            bound(bm, "minimum", "exclusiveMinimum", true),
        );
        if let Some(b) = lb
            && !la.is_some_and(|a| b.0 < a.0 || (b.0 == a.0 && (!b.1 || a.1)))
        {
            let message = format!("{} raises the lower bound to {}", self.b_name, b.0);
            self.reason(pa, pb, "/minimum", message);
        }
        let (ua, ub) = (
            bound(am, "maximum", "exclusiveMaximum", false),
            bound(bm, "maximum", "exclusiveMaximum", false),
        );
        if let Some(b) = ub
            && !ua.is_some_and(|a| b.0 > a.0 || (b.0 == a.0 && (!b.1 || a.1)))
        {
            let message = format!("{} lowers the upper bound to {}", self.b_name, b.0);
            self.reason(pa, pb, "/maximum", message);
        }
        if let Some(mb) = bm.get("multipleOf").and_then(Value::as_f64) {
            let ok = am
                .get("multipleOf")
                .and_then(Value::as_f64)
                .is_some_and(|ma| mb > 0.0 && ((ma / mb) - (ma / mb).round()).abs() < 1e-9);
            if !ok {
                let message = format!(
                    "{} requires a multiple of {mb}; {} does not",
                    self.b_name, self.a_name
                );
                self.reason(pa, pb, "/multipleOf", message);
            }
        }
    }

    fn strings(&mut self, am: &Map<String, Value>, bm: &Map<String, Value>, pa: &str, pb: &str) {
        self.counts(am, bm, "minLength", "maxLength", "length", pa, pb);
        for keyword in ["pattern", "format"] {
            if let Some(want) = bm.get(keyword)
                && am.get(keyword) != Some(want)
            {
                let message = format!(
                    "{} requires {keyword} {}; {} does not (Beacon compares {keyword}s for equality)",
                    self.b_name,
                    short(want),
                    self.a_name
                );
                self.reason(pa, pb, &format!("/{keyword}"), message);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn counts(
        &mut self,
        am: &Map<String, Value>,
        bm: &Map<String, Value>,
        min: &str,
        max: &str,
        what: &str,
        pa: &str,
        pb: &str,
    ) {
        if let Some(b) = bm.get(min).and_then(Value::as_u64)
            && b > am.get(min).and_then(Value::as_u64).unwrap_or(0)
        {
            let message = format!("{} raises the minimum {what} to {b}", self.b_name);
            self.reason(pa, pb, &format!("/{min}"), message);
        }
        if let Some(b) = bm.get(max).and_then(Value::as_u64)
            && am.get(max).and_then(Value::as_u64).is_none_or(|a| b < a)
        {
            let message = format!("{} lowers the maximum {what} to {b}", self.b_name);
            self.reason(pa, pb, &format!("/{max}"), message);
        }
    }

    fn arrays(
        &mut self,
        am: &Map<String, Value>,
        bm: &Map<String, Value>,
        pa: &str,
        pb: &str,
        depth: usize,
    ) {
        self.counts(am, bm, "minItems", "maxItems", "number of items", pa, pb);
        if bm.get("uniqueItems") == Some(&Value::Bool(true))
            && am.get("uniqueItems") != Some(&Value::Bool(true))
        {
            let message = format!(
                "{} requires unique items; {} does not",
                self.b_name, self.a_name
            );
            self.reason(pa, pb, "/uniqueItems", message);
        }
        let empty = Vec::new();
        let prefix_a = am
            .get("prefixItems")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let prefix_b = bm
            .get("prefixItems")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let all = Value::Bool(true);
        let items_a = am.get("items").unwrap_or(&all);
        let items_b = bm.get("items").unwrap_or(&all);
        let at = |prefix: &[Value], i: usize, base: &str, has_items: bool| -> String {
            if i < prefix.len() {
                format!("{base}/prefixItems/{i}")
            } else if has_items {
                format!("{base}/items")
            } else {
                base.to_owned()
            }
        };
        for i in 0..prefix_a.len().max(prefix_b.len()) {
            let sa = prefix_a.get(i).unwrap_or(items_a);
            let sb = prefix_b.get(i).unwrap_or(items_b);
            let (na, nb) = (
                at(prefix_a, i, pa, am.contains_key("items")),
                at(prefix_b, i, pb, bm.contains_key("items")),
            );
            self.sub(sa, sb, &na, &nb, depth + 1);
        }
        if bm.contains_key("items") {
            let (na, nb) = (format!("{pa}/items"), format!("{pb}/items"));
            self.sub(items_a, items_b, &na, &nb, depth + 1);
        }
    }

    fn objects(
        &mut self,
        am: &Map<String, Value>,
        bm: &Map<String, Value>,
        pa: &str,
        pb: &str,
        depth: usize,
    ) {
        self.counts(
            am,
            bm,
            "minProperties",
            "maxProperties",
            "number of properties",
            pa,
            pb,
        );
        let empty = Map::new();
        let props_a = am
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let props_b = bm
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required_a = required(am);
        let required_b = required(bm);
        let extra_a = am.get("additionalProperties");
        let extra_b = bm.get("additionalProperties");

        for name in &required_b {
            if !required_a.contains(name) && props_a.get(*name) != Some(&Value::Bool(false)) {
                let message = format!(
                    "property {name:?} is required by {} but not by {}, whose documents may lack it",
                    self.b_name, self.a_name
                );
                self.reason(pa, pb, &format!("/properties/{}", escape(name)), message);
            }
        }
        for (name, sb) in props_b {
            let (na, nb) = (
                format!("{pa}/properties/{}", escape(name)),
                format!("{pb}/properties/{}", escape(name)),
            );
            match (props_a.get(name), extra_a) {
                (Some(sa), _) => self.sub(sa, sb, &na, &nb, depth + 1),
                (None, Some(Value::Bool(false))) => {}
                (None, Some(sa)) if sa != &Value::Bool(true) => {
                    let na = format!("{pa}/additionalProperties");
                    self.sub(sa, sb, &na, &nb, depth + 1);
                }
                // Open A, property only declared by B: the relaxation.
                (None, _) => {}
            }
        }
        if self.projection {
            // Everything B does not declare is dropped from A's documents.
            return;
        }
        for (name, sa) in props_a {
            if props_b.contains_key(name) || sa == &Value::Bool(false) {
                continue;
            }
            let (na, nb) = (
                format!("{pa}/properties/{}", escape(name)),
                format!("{pb}/properties/{}", escape(name)),
            );
            match extra_b {
                Some(Value::Bool(false)) => {
                    let message = format!(
                        "property {name:?} is allowed by {} but {} does not declare it and allows no other properties",
                        self.a_name, self.b_name
                    );
                    self.reason(&na, &nb, "", message);
                }
                Some(sb) if sb != &Value::Bool(true) => {
                    let nb = format!("{pb}/additionalProperties");
                    self.sub(sa, sb, &na, &nb, depth + 1);
                }
                _ => {}
            }
        }
        match (extra_a, extra_b) {
            (_, None | Some(Value::Bool(true))) | (Some(Value::Bool(false)), _) => {}
            (None | Some(Value::Bool(true)), Some(_)) => {
                let message = format!(
                    "{} restricts undeclared properties (additionalProperties); {} allows any",
                    self.b_name, self.a_name
                );
                self.reason(pa, pb, "/additionalProperties", message);
            }
            (Some(sa), Some(sb)) => {
                let (na, nb) = (
                    format!("{pa}/additionalProperties"),
                    format!("{pb}/additionalProperties"),
                );
                self.sub(sa, sb, &na, &nb, depth + 1);
            }
        }
    }

    /// `allOf`: B's parts must each hold for A. Parts at the same index are
    /// compared first (the usual shape of an evolved schema), then any part
    /// of A, then A's own keywords.
    fn all_of(
        &mut self,
        a: &Value,
        am: &Map<String, Value>,
        bm: &Map<String, Value>,
        pa: &str,
        pb: &str,
        depth: usize,
    ) {
        let Some(parts_b) = bm.get("allOf").and_then(Value::as_array) else {
            return;
        };
        let parts_a = am
            .get("allOf")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, part_b) in parts_b.iter().enumerate() {
            let nb = format!("{pb}/allOf/{i}");
            let same_index = parts_a.get(i).map(|p| (p, format!("{pa}/allOf/{i}")));
            if let Some((part_a, na)) = &same_index
                && self.holds(part_a, part_b, na, &nb, depth + 1)
            {
                continue;
            }
            let any_part = parts_a.iter().enumerate().any(|(j, part_a)| {
                let na = format!("{pa}/allOf/{j}");
                self.holds(part_a, part_b, &na, &nb, depth + 1)
            });
            if any_part || self.holds(a, part_b, pa, &nb, depth + 1) {
                continue;
            }
            match same_index {
                Some((part_a, na)) => self.sub(part_a, part_b, &na, &nb, depth + 1),
                None => self.sub(a, part_b, pa, &nb, depth + 1),
            }
        }
    }

    /// `anyOf` / `oneOf`: every branch of A (or A itself) must be included
    /// in some branch of B. For `oneOf`, a branch of B that A's document
    /// could also match besides its own would make it fail, so the B
    /// branches must be provably disjoint (different types, or different
    /// `const`/`enum` values of a required property) unless B's list is
    /// unchanged.
    #[allow(clippy::too_many_arguments)]
    fn any_of(
        &mut self,
        a: &Value,
        am: &Map<String, Value>,
        bm: &Map<String, Value>,
        keyword: &str,
        pa: &str,
        pb: &str,
        depth: usize,
    ) {
        let Some(branches_b) = bm.get(keyword).and_then(Value::as_array) else {
            return;
        };
        let branches_a: Vec<(Value, String)> = match am.get(keyword).and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, v)| (v.clone(), format!("{pa}/{keyword}/{i}")))
                .collect(),
            None => vec![(a.clone(), pa.to_owned())],
        };
        for (branch_a, na) in &branches_a {
            let found = branches_b.iter().enumerate().any(|(j, branch_b)| {
                let nb = format!("{pb}/{keyword}/{j}");
                self.holds(branch_a, branch_b, na, &nb, depth + 1)
            });
            if !found {
                let message = format!(
                    "a document matching {} here matches no {keyword} branch of {}",
                    self.a_name, self.b_name
                );
                self.reason(na, pb, &format!("/{keyword}"), message);
            }
        }
        if keyword == "oneOf" && am.get(keyword) != bm.get(keyword) {
            for i in 0..branches_b.len() {
                for j in i + 1..branches_b.len() {
                    if !disjoint(self.b_root, &branches_b[i], &branches_b[j]) {
                        let message = format!(
                            "oneOf branches {i} and {j} of {} may both match one document; Beacon cannot prove that documents of {} match exactly one",
                            self.b_name, self.a_name
                        );
                        self.reason(pa, pb, &format!("/oneOf/{j}"), message);
                    }
                }
            }
        }
    }

    /// Keywords Beacon does not reason about: B may only keep them as A has
    /// them (same value, same `$ref` targets); A may drop them freely.
    fn opaque(
        &mut self,
        am: &Map<String, Value>,
        bm: &Map<String, Value>,
        pa: &str,
        pb: &str,
        depth: usize,
    ) {
        for (keyword, vb) in bm {
            if !OPAQUE.contains(&keyword.as_str()) {
                continue;
            }
            let same = am.get(keyword).is_some_and(|va| {
                let mut seen = HashSet::new();
                same(self.a_root, self.b_root, va, vb, &mut seen, depth)
            });
            if !same {
                let message = format!(
                    "{keyword} differs between {} and {}; Beacon cannot prove this change compatible",
                    self.a_name, self.b_name
                );
                self.reason(pa, pb, &format!("/{keyword}"), message);
            }
        }
    }
}

/// True for the keywords that constrain documents.
fn asserts(keyword: &str) -> bool {
    UNDERSTOOD.contains(&keyword) || OPAQUE.contains(&keyword)
}

/// True for schemas that accept every document (`true`, `{}`, only annotations).
fn accepts_all(schema: &Value) -> bool {
    // Keywords that are neither understood nor opaque are annotations.
    match schema {
        Value::Bool(b) => *b,
        Value::Object(m) => m.keys().all(|k| !asserts(k)),
        _ => false,
    }
}

/// Resolves a local `$ref` (`#` or `#/json/pointer`) in `root`.
pub(crate) fn resolve<'v>(root: &'v Value, reference: &str) -> Option<(String, &'v Value)> {
    let pointer = reference.strip_prefix('#')?;
    let pointer = percent_decode(pointer)?;
    root.pointer(&pointer).map(|v| (pointer, v))
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Escapes a property name for a JSON pointer.
pub(crate) fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn required(m: &Map<String, Value>) -> Vec<&str> {
    m.get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `enum`, or `const` as a one-value enum.
fn values(m: &Map<String, Value>) -> Option<&[Value]> {
    if let Some(list) = m.get("enum").and_then(Value::as_array) {
        return Some(list);
    }
    m.get("const").map(std::slice::from_ref)
}

/// `(bound, exclusive)`: the tighter of `minimum`/`exclusiveMinimum` (or maxima).
fn bound(
    m: &Map<String, Value>,
    inclusive: &str,
    exclusive: &str,
    lower: bool,
) -> Option<(f64, bool)> {
    let inc = m.get(inclusive).and_then(Value::as_f64).map(|v| (v, false));
    let exc = m.get(exclusive).and_then(Value::as_f64).map(|v| (v, true));
    match (inc, exc) {
        (Some(i), Some(e)) => {
            let e_tighter = if lower { e.0 >= i.0 } else { e.0 <= i.0 };
            Some(if e_tighter { e } else { i })
        }
        (i, e) => i.or(e),
    }
}

/// A set of JSON type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kinds(u8);

impl Kinds {
    const ALL: Kinds = Kinds(0x7f);
    fn bit(t: &str) -> u8 {
        TYPES.iter().position(|x| *x == t).map_or(0, |i| 1 << i)
    }
    fn has(self, t: &str) -> bool {
        self.0 & Self::bit(t) != 0
    }
    fn list(self) -> String {
        let names: Vec<_> = TYPES.iter().filter(|t| self.has(t)).copied().collect();
        names.join(", ")
    }
}

fn declared_types(m: &Map<String, Value>) -> Option<Kinds> {
    match m.get("type")? {
        Value::String(t) => Some(Kinds(Kinds::bit(t))),
        Value::Array(list) => Some(Kinds(
            list.iter()
                .filter_map(Value::as_str)
                .map(Kinds::bit)
                .fold(0, |a, b| a | b),
        )),
        _ => None,
    }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Number(n)
            if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) =>
        {
            "integer"
        }
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}

/// The types a schema's documents may have: declared, else those of its
/// enum values, else all.
fn kinds(m: &Map<String, Value>) -> Kinds {
    if let Some(k) = declared_types(m) {
        // An integer is a number: "number" schemas apply integer rules too.
        return if k.has("number") {
            Kinds(k.0 | Kinds::bit("integer"))
        } else {
            k
        };
    }
    match values(m) {
        Some(vs) => Kinds(
            vs.iter()
                .map(|v| Kinds::bit(type_of(v)))
                .fold(0, |a, b| a | b),
        ),
        None => Kinds::ALL,
    }
}

/// Structural equality of two schema fragments, following `$ref`s on both
/// sides and ignoring annotations.
fn same(
    a_root: &Value,
    b_root: &Value,
    a: &Value,
    b: &Value,
    seen: &mut HashSet<(String, String)>,
    depth: usize,
) -> bool {
    if depth > 2 * MAX_SCHEMA_DEPTH {
        return false;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys = |m: &Map<String, Value>| {
                let mut k: Vec<_> = m.keys().filter(|k| asserts(k)).cloned().collect();
                k.sort();
                k
            };
            if keys(x) != keys(y) {
                return false;
            }
            x.iter().filter(|(k, _)| asserts(k)).all(|(k, va)| {
                let vb = &y[k];
                match (k.as_str(), va.as_str(), vb.as_str()) {
                    ("$ref", Some(ra), Some(rb)) => {
                        match (resolve(a_root, ra), resolve(b_root, rb)) {
                            (Some((pa, ta)), Some((pb, tb))) => {
                                !seen.insert((pa, pb))
                                    || same(a_root, b_root, ta, tb, seen, depth + 1)
                            }
                            _ => false,
                        }
                    }
                    _ => same(a_root, b_root, va, vb, seen, depth + 1),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(va, vb)| same(a_root, b_root, va, vb, seen, depth + 1))
        }
        _ => a == b,
    }
}

/// True when no document can match both schemas: their types do not meet,
/// or a property both require has disjoint `const`/`enum` values.
fn disjoint(root: &Value, x: &Value, y: &Value) -> bool {
    let deref = |v: &'_ Value| -> Option<Map<String, Value>> {
        let m = v.as_object()?;
        match m.get("$ref").and_then(Value::as_str) {
            Some(r) => resolve(root, r)?.1.as_object().cloned(),
            None => Some(m.clone()),
        }
    };
    let (Some(x), Some(y)) = (deref(x), deref(y)) else {
        return false;
    };
    if kinds(&x).0 & kinds(&y).0 == 0 {
        return true;
    }
    let empty = Map::new();
    let px = x
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let py = y
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let (rx, ry) = (required(&x), required(&y));
    rx.iter().filter(|name| ry.contains(name)).any(|name| {
        let vx = px.get(*name).and_then(Value::as_object).and_then(values);
        let vy = py.get(*name).and_then(Value::as_object).and_then(values);
        match (vx, vy) {
            (Some(vx), Some(vy)) => vx.iter().all(|v| !vy.contains(v)),
            _ => false,
        }
    })
}

/// A value for a message, cut to a readable length.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 80 {
        return s;
    }
    let mut end = 77;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
