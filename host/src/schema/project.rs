//! Version views: an event published under a newer version, shown in the
//! shape of an older one (`types=order.created@1` receiving v2 events).
//!
//! This works when the newer version only *added* to the older one —
//! optional properties, enum values the older one also has, nothing
//! renamed or narrowed. Then dropping what the older version does not
//! declare gives a document valid under it. [`projectable`] tells whether
//! two versions are related that way; [`project`] does the dropping. The
//! registry's [`view`](super::Registry::view) combines both with a final
//! validation against the older version, so a subscriber never receives a
//! document its version does not accept.
//!
//! # What "declares" means
//!
//! - An object schema with `properties` keeps exactly those (recursively);
//!   properties declared by its `allOf`/`anyOf`/`oneOf` parts count too.
//! - An object schema whose `additionalProperties` is a schema (a map) or
//!   that has `patternProperties` keeps its other properties as well.
//! - An object schema declaring no properties at all (a free-form bag, or
//!   `{}`) keeps everything.
//! - Arrays are projected item by item (`prefixItems`, then `items`).
//!
//! Local `$ref`s are followed; recursion is bounded by
//! [`MAX_SCHEMA_DEPTH`](super::MAX_SCHEMA_DEPTH): deeper parts are kept as
//! they are (the final validation still applies).

use serde_json::{Map, Value};

use super::MAX_SCHEMA_DEPTH;
use super::subset::{Inclusion, resolve};
use beacon_protocol::envelope::FieldError;

/// The shape of `value` under the schema `to`: properties `to` does not
/// declare are dropped, recursively. `value` is expected to be valid under
/// a version from which `to` is [`projectable`].
pub fn project(value: &Value, to: &Value) -> Value {
    project_at(to, to, value, 0)
}

/// Every reason a document valid under `from` might not become valid under
/// `to` by projection (empty: the change from `to` to `from` was purely
/// additive, and [`project`] produces `to`'s shape). Pointers are into `to`.
pub fn projectable(from: &Value, to: &Value) -> Vec<FieldError> {
    Inclusion::new(from, to, "the published version", "the requested version")
        .projection()
        .run()
}

/// Follows local `$ref`s (a bounded number of hops).
fn deref<'v>(root: &'v Value, mut schema: &'v Value) -> &'v Value {
    for _ in 0..MAX_SCHEMA_DEPTH {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| resolve(root, r))
        {
            Some((_, target)) => schema = target,
            None => break,
        }
    }
    schema
}

/// What an object schema (with its composition parts) declares.
#[derive(Default)]
struct Declared<'v> {
    properties: Vec<(&'v str, &'v Value)>,
    /// A schema for undeclared properties (`additionalProperties: {...}`).
    extra: Option<&'v Value>,
    /// Undeclared properties are kept as they are (`patternProperties`).
    keep_others: bool,
}

fn declared<'v>(root: &'v Value, schema: &'v Value, into: &mut Declared<'v>, depth: usize) {
    let schema = deref(root, schema);
    let Some(m) = schema.as_object() else { return };
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (name, s) in props {
            if !into.properties.iter().any(|(n, _)| n == name) {
                into.properties.push((name, s));
            }
        }
    }
    if let Some(extra @ Value::Object(_)) = m.get("additionalProperties") {
        into.extra = into.extra.or(Some(extra));
    }
    if m.contains_key("patternProperties") {
        into.keep_others = true;
    }
    if depth < MAX_SCHEMA_DEPTH {
        for keyword in ["allOf", "anyOf", "oneOf"] {
            for part in m
                .get(keyword)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                declared(root, part, into, depth + 1);
            }
        }
    }
}

fn project_at(root: &Value, schema: &Value, value: &Value, depth: usize) -> Value {
    if depth > MAX_SCHEMA_DEPTH {
        return value.clone();
    }
    let schema = deref(root, schema);
    match value {
        Value::Object(fields) => {
            let mut d = Declared::default();
            declared(root, schema, &mut d, 0);
            if d.properties.is_empty() && d.extra.is_none() {
                return value.clone();
            }
            let mut out = Map::new();
            for (name, v) in fields {
                if let Some((_, s)) = d.properties.iter().find(|(n, _)| n == name) {
                    out.insert(name.clone(), project_at(root, s, v, depth + 1));
                } else if let Some(s) = d.extra {
                    out.insert(name.clone(), project_at(root, s, v, depth + 1));
                } else if d.keep_others {
                    out.insert(name.clone(), v.clone());
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let prefix = schema.get("prefixItems").and_then(Value::as_array);
            let rest = schema.get("items");
            Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match prefix.and_then(|p| p.get(i)).or(rest) {
                        Some(s) => project_at(root, s, v, depth + 1),
                        None => v.clone(),
                    })
                    .collect(),
            )
        }
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v1() -> Value {
        json!({
            "type": "object",
            "properties": {
                "orderId": {"type": "string"},
                "total": {"$ref": "#/$defs/money"},
                "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
                "meta": {"type": "object"}
            },
            "required": ["orderId"],
            "additionalProperties": false,
            "$defs": {"money": {"type": "object", "properties": {
                "amount": {"type": "integer"}, "currency": {"type": "string"}}}}
        })
    }

    fn v2() -> Value {
        json!({
            "type": "object",
            "properties": {
                "orderId": {"type": "string"},
                "total": {"$ref": "#/$defs/money"},
                "lines": {"type": "array", "items": {"type": "object", "properties": {
                    "sku": {"type": "string"}, "qty": {"type": "integer"}}}},
                "meta": {"type": "object"},
                "channel": {"type": "string"}
            },
            "required": ["orderId"],
            "additionalProperties": false,
            "$defs": {"money": {"type": "object", "properties": {
                "amount": {"type": "integer"}, "currency": {"type": "string"}, "display": {"type": "string"}}}}
        })
    }

    #[test]
    fn drops_what_the_older_version_does_not_declare_recursively() {
        let event = json!({
            "orderId": "IE-4486",
            "total": {"amount": 85000, "currency": "KES", "display": "KES 850"},
            "lines": [{"sku": "a", "qty": 2}, {"sku": "b"}],
            "meta": {"anything": {"goes": 1}},
            "channel": "web"
        });
        let projected = project(&event, &v1());
        assert_eq!(
            projected,
            json!({
                "orderId": "IE-4486",
                "total": {"amount": 85000, "currency": "KES"},
                "lines": [{"sku": "a"}, {"sku": "b"}],
                "meta": {"anything": {"goes": 1}}
            })
        );
        assert!(jsonschema::draft202012::is_valid(&v1(), &projected));
    }

    #[test]
    fn additive_versions_are_projectable_and_others_are_not() {
        assert!(projectable(&v2(), &v1()).is_empty());
        assert!(projectable(&v1(), &v1()).is_empty());
        // v1 → v2 the other way: v2 requires nothing new, so v1 events are v2 events.
        assert!(projectable(&v1(), &v2()).is_empty());
        let mut narrowed = v2();
        narrowed["properties"]["orderId"] = json!({"type": "integer"});
        let r = projectable(&narrowed, &v1());
        assert_eq!(r[0].path, "/properties/orderId/type");
        let mut required = v1();
        required["required"] = json!(["orderId", "channel"]);
        required["properties"]["channel"] = json!({"type": "string"});
        let mut v2_optional = v2();
        v2_optional["required"] = json!(["orderId"]);
        assert!(!projectable(&v2_optional, &required).is_empty());
    }

    #[test]
    fn maps_and_pattern_properties_keep_their_entries() {
        let map = json!({"type": "object", "properties": {"a": {"type": "integer"}},
                         "additionalProperties": {"type": "object", "properties": {"x": {}}}});
        let out = project(&json!({"a": 1, "k1": {"x": 1, "y": 2}}), &map);
        assert_eq!(out, json!({"a": 1, "k1": {"x": 1}}));
        let pat =
            json!({"type": "object", "properties": {"a": {}}, "patternProperties": {"^x-": {}}});
        assert_eq!(
            project(&json!({"a": 1, "x-b": 2}), &pat),
            json!({"a": 1, "x-b": 2})
        );
    }

    #[test]
    fn composition_parts_declare_properties() {
        let s = json!({"allOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}], "additionalProperties": false});
        assert_eq!(
            project(&json!({"a": 1, "b": 2, "c": 3}), &s),
            json!({"a": 1, "b": 2})
        );
    }

    #[test]
    fn scalars_and_prefix_items_pass_through() {
        let s = json!({"prefixItems": [{"type": "object", "properties": {"a": {}}}], "items": {"type": "integer"}});
        assert_eq!(
            project(&json!([{"a": 1, "b": 2}, 3]), &s),
            json!([{"a": 1}, 3])
        );
        assert_eq!(project(&json!("x"), &json!({"type": "string"})), json!("x"));
    }
}
