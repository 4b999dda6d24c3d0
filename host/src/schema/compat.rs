//! Compatibility modes and the check a new version must pass.
//!
//! Directions follow the usual schema-registry meaning:
//!
//! - **BACKWARD**: readers using the new schema can read every event valid
//!   under the old one (old ⊆ new). Events already in the log stay readable.
//! - **FORWARD**: readers still on the old schema can read every event
//!   valid under the new one (new ⊆ old).
//! - **FULL**: both.
//! - The **_TRANSITIVE** forms check against every existing version, the
//!   plain forms against the newest only. **NONE** checks nothing.
//!
//! "⊆" is decided by [`Inclusion`](super::subset::Inclusion), with one
//! relaxation: an optional property added to (or removed from) an open
//! object is compatible. The rules, one row each, are the table in
//! `docs/contracts.md`; each row has a test below named after it.

use serde_json::Value;

use super::subset::{Inclusion, Side};
pub use beacon_protocol::api::schemas::{CheckResult, Mode};
use beacon_protocol::envelope::FieldError;

/// Whether `mode` checks that readers of the new version can read the old ones.
fn backward(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::Backward | Mode::Full | Mode::BackwardTransitive | Mode::FullTransitive
    )
}

/// Whether `mode` checks that readers of the old versions can read the new one.
fn forward(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::Forward | Mode::Full | Mode::ForwardTransitive | Mode::FullTransitive
    )
}

/// Whether `mode` checks against every existing version, not the newest only.
fn transitive(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::BackwardTransitive | Mode::ForwardTransitive | Mode::FullTransitive
    )
}

/// Checks `candidate` against `existing` (`(version, schema)`, oldest
/// first) under `mode`; returns every reason it is incompatible.
pub fn check(mode: Mode, existing: &[(u32, &Value)], candidate: &Value) -> Vec<FieldError> {
    let against: &[(u32, &Value)] = match (mode, existing.last()) {
        (Mode::None, _) | (_, None) => return Vec::new(),
        (m, Some(_)) if transitive(m) => existing,
        (_, Some(_)) => &existing[existing.len() - 1..],
    };
    let mut reasons = Vec::new();
    for (version, old) in against {
        let old_name = format!("version {version}");
        if backward(mode) {
            let found = Inclusion::new(old, candidate, &old_name, "the new schema").run();
            push(&mut reasons, found, "backward", *version);
        }
        if forward(mode) {
            let found = Inclusion::new(candidate, old, "the new schema", &old_name)
                .pointers_into(Side::A)
                .run();
            push(&mut reasons, found, "forward", *version);
        }
    }
    reasons
}

fn push(into: &mut Vec<FieldError>, found: Vec<FieldError>, direction: &str, version: u32) {
    into.extend(found.into_iter().map(|r| {
        FieldError::new(
            r.path,
            format!(
                "{} ({direction} check against version {version})",
                r.message
            ),
        )
    }));
}

#[cfg(test)]
mod tests {
    //! One test per row of the rules table in `docs/contracts.md`.
    use serde_json::json;

    use super::*;

    /// (backward, forward) verdicts for v1 → v2.
    fn verdicts(v1: Value, v2: Value) -> (Vec<FieldError>, Vec<FieldError>) {
        (
            check(Mode::Backward, &[(1, &v1)], &v2),
            check(Mode::Forward, &[(1, &v1)], &v2),
        )
    }

    fn assert_rows(v1: Value, v2: Value, backward: bool, forward: bool) -> Vec<FieldError> {
        let (b, f) = verdicts(v1, v2);
        assert_eq!(b.is_empty(), backward, "backward: {b:#?}");
        assert_eq!(f.is_empty(), forward, "forward: {f:#?}");
        b.into_iter().chain(f).collect()
    }

    fn paths(reasons: &[FieldError]) -> Vec<&str> {
        reasons.iter().map(|r| r.path.as_str()).collect()
    }

    fn obj(props: Value, required: &[&str]) -> Value {
        json!({"type": "object", "properties": props, "required": required})
    }

    fn closed(props: Value, required: &[&str]) -> Value {
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
    }

    #[test]
    fn add_optional_property_to_open_object() {
        let v1 = obj(json!({"id": {"type": "string"}}), &["id"]);
        let v2 = obj(
            json!({"id": {"type": "string"}, "note": {"type": "string"}}),
            &["id"],
        );
        assert_rows(v1, v2, true, true);
    }

    #[test]
    fn add_optional_property_to_closed_object() {
        let v1 = closed(json!({"id": {"type": "string"}}), &["id"]);
        let v2 = closed(
            json!({"id": {"type": "string"}, "note": {"type": "string"}}),
            &["id"],
        );
        let r = assert_rows(v1, v2, true, false);
        assert_eq!(paths(&r), ["/properties/note"]);
    }

    #[test]
    fn add_required_property_to_open_object() {
        let v1 = obj(json!({"id": {"type": "string"}}), &["id"]);
        let v2 = obj(
            json!({"id": {"type": "string"}, "total": {"type": "integer"}}),
            &["id", "total"],
        );
        let r = assert_rows(v1, v2, false, true);
        assert_eq!(paths(&r), ["/properties/total"]);
        assert!(
            r[0].message
                .contains("required by the new schema but not by version 1"),
            "{r:?}"
        );
    }

    #[test]
    fn add_required_property_to_closed_object() {
        let v1 = closed(json!({"id": {"type": "string"}}), &["id"]);
        let v2 = closed(
            json!({"id": {"type": "string"}, "total": {"type": "integer"}}),
            &["id", "total"],
        );
        assert_rows(v1, v2, false, false);
    }

    #[test]
    fn remove_optional_property_from_open_object() {
        let v1 = obj(
            json!({"id": {"type": "string"}, "note": {"type": "string"}}),
            &["id"],
        );
        let v2 = obj(json!({"id": {"type": "string"}}), &["id"]);
        assert_rows(v1, v2, true, true);
    }

    #[test]
    fn remove_optional_property_from_closed_object() {
        let v1 = closed(
            json!({"id": {"type": "string"}, "note": {"type": "string"}}),
            &["id"],
        );
        let v2 = closed(json!({"id": {"type": "string"}}), &["id"]);
        let r = assert_rows(v1, v2, false, true);
        assert_eq!(paths(&r), ["/properties/note"]);
    }

    #[test]
    fn remove_required_property() {
        let v1 = obj(
            json!({"id": {"type": "string"}, "total": {"type": "integer"}}),
            &["id", "total"],
        );
        let v2 = obj(json!({"id": {"type": "string"}}), &["id"]);
        let r = assert_rows(v1, v2, true, false);
        assert_eq!(paths(&r), ["/properties/total"]);
    }

    #[test]
    fn make_optional_property_required() {
        let v1 = obj(
            json!({"id": {"type": "string"}, "total": {"type": "integer"}}),
            &["id"],
        );
        let v2 = obj(
            json!({"id": {"type": "string"}, "total": {"type": "integer"}}),
            &["id", "total"],
        );
        assert_rows(v1, v2, false, true);
    }

    #[test]
    fn make_required_property_optional() {
        let v1 = obj(
            json!({"id": {"type": "string"}, "total": {"type": "integer"}}),
            &["id", "total"],
        );
        let v2 = obj(
            json!({"id": {"type": "string"}, "total": {"type": "integer"}}),
            &["id"],
        );
        assert_rows(v1, v2, true, false);
    }

    #[test]
    fn close_an_open_object() {
        let v1 = obj(json!({"id": {"type": "string"}}), &["id"]);
        let v2 = closed(json!({"id": {"type": "string"}}), &["id"]);
        let r = assert_rows(v1, v2, false, true);
        assert_eq!(paths(&r), ["/additionalProperties"]);
    }

    #[test]
    fn open_a_closed_object() {
        let v1 = closed(json!({"id": {"type": "string"}}), &["id"]);
        let v2 = obj(json!({"id": {"type": "string"}}), &["id"]);
        assert_rows(v1, v2, true, false);
    }

    #[test]
    fn widen_additional_properties_schema() {
        let v1 = json!({"type": "object", "additionalProperties": {"type": "string"}});
        let v2 = json!({"type": "object", "additionalProperties": {"type": ["string", "null"]}});
        let r = assert_rows(v1, v2, true, false);
        assert_eq!(paths(&r), ["/additionalProperties/type"]);
    }

    #[test]
    fn change_additional_properties_schema() {
        let v1 = json!({"type": "object", "additionalProperties": {"type": "string"}});
        let v2 = json!({"type": "object", "additionalProperties": {"type": "integer"}});
        assert_rows(v1, v2, false, false);
    }

    #[test]
    fn declare_a_property_of_a_map() {
        // A map of strings gains a declared property: old documents could
        // hold it as any string, so narrowing it is caught, not relaxed.
        let v1 = json!({"type": "object", "additionalProperties": {"type": "string"}});
        let v2 = json!({"type": "object", "properties": {"k": {"type": "string", "maxLength": 3}},
                        "additionalProperties": {"type": "string"}});
        let r = assert_rows(v1, v2, false, true);
        assert_eq!(paths(&r), ["/properties/k/maxLength"]);
    }

    #[test]
    fn add_enum_value() {
        let v1 = json!({"enum": ["paid", "shipped"]});
        let v2 = json!({"enum": ["paid", "shipped", "refunded"]});
        let r = assert_rows(v1, v2, true, false);
        assert!(r[0].message.contains("\"refunded\""), "{r:?}");
    }

    #[test]
    fn remove_enum_value() {
        let v1 = json!({"type": "string", "enum": ["paid", "shipped"]});
        let v2 = json!({"type": "string", "enum": ["paid"]});
        let r = assert_rows(v1, v2, false, true);
        assert_eq!(paths(&r), ["/enum"]);
    }

    #[test]
    fn add_enum_to_unrestricted_property() {
        let v1 = json!({"type": "string"});
        let v2 = json!({"type": "string", "enum": ["a"]});
        assert_rows(v1, v2, false, true);
    }

    #[test]
    fn widen_type_integer_to_number() {
        let v1 = obj(json!({"total": {"type": "integer"}}), &[]);
        let v2 = obj(json!({"total": {"type": "number"}}), &[]);
        let r = assert_rows(v1, v2, true, false);
        assert_eq!(paths(&r), ["/properties/total/type"]);
    }

    #[test]
    fn narrow_type_number_to_integer() {
        let v1 = obj(json!({"total": {"type": "number"}}), &[]);
        let v2 = obj(json!({"total": {"type": "integer"}}), &[]);
        let r = assert_rows(v1, v2, false, true);
        assert_eq!(paths(&r), ["/properties/total/type"]);
    }

    #[test]
    fn add_type_to_union() {
        let v1 = json!({"type": "string"});
        let v2 = json!({"type": ["string", "null"]});
        assert_rows(v1, v2, true, false);
    }

    #[test]
    fn change_type() {
        let v1 = obj(json!({"total": {"type": "string"}}), &[]);
        let v2 = obj(json!({"total": {"type": "integer"}}), &[]);
        assert_rows(v1, v2, false, false);
    }

    #[test]
    fn tighten_bounds() {
        let v1 = json!({"type": "object", "properties": {
            "name": {"type": "string", "maxLength": 100},
            "qty": {"type": "integer", "minimum": 0}}});
        let v2 = json!({"type": "object", "properties": {
            "name": {"type": "string", "maxLength": 50},
            "qty": {"type": "integer", "exclusiveMinimum": 0}}});
        let r = assert_rows(v1, v2, false, true);
        let p = paths(&r);
        assert!(
            p.contains(&"/properties/name/maxLength") && p.contains(&"/properties/qty/minimum"),
            "{p:?}"
        );
    }

    #[test]
    fn relax_bounds() {
        let v1 = json!({"type": "string", "minLength": 3, "maxLength": 10});
        let v2 = json!({"type": "string", "minLength": 1});
        assert_rows(v1, v2, true, false);
    }

    #[test]
    fn add_or_change_pattern_or_format() {
        let v1 = json!({"type": "string", "pattern": "^[A-Z]{3}$"});
        let v2 = json!({"type": "string", "pattern": "^[A-Z]{3,4}$", "format": "email"});
        let r = assert_rows(v1, v2, false, false);
        assert!(paths(&r).contains(&"/format"));
    }

    #[test]
    fn items_type_widened() {
        let v1 = json!({"type": "array", "items": {"type": "integer"}});
        let v2 = json!({"type": "array", "items": {"type": "number"}});
        let r = assert_rows(v1, v2, true, false);
        assert_eq!(paths(&r), ["/items/type"]);
    }

    #[test]
    fn items_type_narrowed() {
        let v1 = json!({"type": "array", "items": {"type": ["integer", "string"]}});
        let v2 = json!({"type": "array", "items": {"type": "integer"}, "maxItems": 10});
        let r = assert_rows(v1, v2, false, true);
        assert_eq!(paths(&r), ["/maxItems", "/items/type"]);
    }

    #[test]
    fn items_added_to_unconstrained_array() {
        let v1 = json!({"type": "array"});
        let v2 = json!({"type": "array", "items": {"type": "string"}});
        assert_rows(v1, v2, false, true);
    }

    #[test]
    fn item_object_gains_optional_property() {
        let v1 =
            json!({"type": "array", "items": obj(json!({"sku": {"type": "string"}}), &["sku"])});
        let v2 = json!({"type": "array", "items": obj(json!({"sku": {"type": "string"}, "qty": {"type": "integer"}}), &["sku"])});
        assert_rows(v1, v2, true, true);
    }

    #[test]
    fn prefix_items_extended() {
        let v1 = json!({"type": "array", "prefixItems": [{"type": "string"}], "items": false});
        let v2 = json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false});
        assert_rows(v1, v2, true, false);
    }

    #[test]
    fn nested_object_gains_optional_property() {
        let v1 = obj(
            json!({"buyer": obj(json!({"id": {"type": "string"}}), &["id"])}),
            &["buyer"],
        );
        let v2 = obj(
            json!({"buyer": obj(json!({"id": {"type": "string"}, "name": {"type": "string"}}), &["id"])}),
            &["buyer"],
        );
        assert_rows(v1, v2, true, true);
    }

    #[test]
    fn nested_object_gains_required_property() {
        let v1 = obj(
            json!({"buyer": obj(json!({"id": {"type": "string"}}), &["id"])}),
            &["buyer"],
        );
        let v2 = obj(
            json!({"buyer": obj(json!({"id": {"type": "string"}, "email": {"type": "string"}}), &["id", "email"])}),
            &["buyer"],
        );
        let r = assert_rows(v1, v2, false, true);
        assert_eq!(paths(&r), ["/properties/buyer/properties/email"]);
    }

    fn money(extra: Value) -> Value {
        let mut m = json!({"type": "object", "properties": {
            "amount": {"type": "integer"}, "currency": {"type": "string"}}, "required": ["amount", "currency"]});
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        m
    }

    fn with_ref(money: Value) -> Value {
        json!({"type": "object", "properties": {"total": {"$ref": "#/$defs/money"}},
               "required": ["total"], "$defs": {"money": money}})
    }

    #[test]
    fn ref_target_gains_optional_property() {
        let v2_money = money(json!({"properties": {
            "amount": {"type": "integer"}, "currency": {"type": "string"}, "display": {"type": "string"}}}));
        assert_rows(with_ref(money(json!({}))), with_ref(v2_money), true, true);
    }

    #[test]
    fn ref_target_narrowed() {
        let v2_money = money(json!({"properties": {
            "amount": {"type": "integer", "minimum": 0}, "currency": {"type": "string"}}}));
        let r = assert_rows(with_ref(money(json!({}))), with_ref(v2_money), false, true);
        assert_eq!(paths(&r), ["/$defs/money/properties/amount/minimum"]);
    }

    #[test]
    fn inline_schema_replaced_by_equal_ref() {
        let inline = json!({"type": "object", "properties": {"total": money(json!({}))}, "required": ["total"]});
        let mut full = check(Mode::Full, &[(1, &inline)], &with_ref(money(json!({}))));
        full.extend(check(
            Mode::Full,
            &[(1, &with_ref(money(json!({}))))],
            &inline,
        ));
        assert!(full.is_empty(), "{full:#?}");
    }

    #[test]
    fn recursive_ref() {
        let tree = |leaf: Value| {
            json!({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "properties": {
                "value": leaf, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}})
        };
        assert_rows(
            tree(json!({"type": "integer"})),
            tree(json!({"type": "integer"})),
            true,
            true,
        );
        let r = assert_rows(
            tree(json!({"type": "number"})),
            tree(json!({"type": "integer"})),
            false,
            true,
        );
        assert_eq!(paths(&r), ["/$defs/node/properties/value/type"]);
    }

    #[test]
    fn unresolvable_ref_is_reported() {
        let v1 = json!({"type": "object"});
        let v2 = json!({"$ref": "#/$defs/missing"});
        let r = check(Mode::Backward, &[(1, &v1)], &v2);
        assert_eq!(paths(&r), ["/$ref"]);
    }

    #[test]
    fn any_of_branch_added() {
        let v1 = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
        let v2 = json!({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]});
        assert_rows(v1, v2, true, false);
    }

    #[test]
    fn one_of_disjoint_branch_added() {
        let card = obj(
            json!({"method": {"const": "card"}, "last4": {"type": "string"}}),
            &["method"],
        );
        let mpesa = obj(
            json!({"method": {"const": "mpesa"}, "phone": {"type": "string"}}),
            &["method"],
        );
        let v1 = json!({"oneOf": [card.clone()]});
        let v2 = json!({"oneOf": [card.clone(), mpesa]});
        assert_rows(v1.clone(), v2, true, false);
        let overlapping = obj(json!({"phone": {"type": "string"}}), &[]);
        let v3 = json!({"oneOf": [card, overlapping]});
        let r = check(Mode::Backward, &[(1, &v1)], &v3);
        assert_eq!(paths(&r), ["/oneOf/1"]);
    }

    #[test]
    fn all_of_part_changed() {
        let v1 = json!({"allOf": [{"$ref": "#/$defs/base"}, obj(json!({"x": {"type": "string"}}), &[])],
                        "$defs": {"base": obj(json!({"id": {"type": "string"}}), &["id"])}});
        let v2 = json!({"allOf": [{"$ref": "#/$defs/base"}, obj(json!({"x": {"type": "string"}, "y": {"type": "string"}}), &[])],
                        "$defs": {"base": obj(json!({"id": {"type": "string"}}), &["id"])}});
        assert_rows(v1.clone(), v2, true, true);
        let v3 = json!({"allOf": [{"$ref": "#/$defs/base"}, obj(json!({"x": {"type": "string"}}), &["x"])],
                        "$defs": {"base": obj(json!({"id": {"type": "string"}}), &["id"])}});
        assert_rows(v1, v3, false, true);
    }

    #[test]
    fn unsupported_keyword_changed() {
        let v1 = json!({"type": "object", "if": {"required": ["a"]}, "then": {"required": ["b"]}});
        let v2 = json!({"type": "object", "if": {"required": ["a"]}, "then": {"required": ["c"]}});
        let r = assert_rows(v1.clone(), v2, false, false);
        assert!(r[0].message.contains("cannot prove"), "{r:?}");
        // Unchanged, it is fine; dropping it is fine backward.
        assert_rows(v1.clone(), v1.clone(), true, true);
        assert_rows(v1, json!({"type": "object"}), true, false);
    }

    #[test]
    fn annotations_only_changed() {
        let v1 = json!({"type": "string", "description": "a", "title": "x", "examples": ["q"]});
        let v2 =
            json!({"type": "string", "description": "b", "$comment": "c", "x-owner": "payments"});
        assert_rows(v1, v2, true, true);
    }

    #[test]
    fn boolean_schemas() {
        assert_rows(json!(true), json!({}), true, true);
        assert_rows(json!({"type": "string"}), json!(true), true, false);
        assert_rows(json!(false), json!({"type": "string"}), true, false);
    }

    #[test]
    fn mode_none_accepts_anything() {
        let v1 = json!({"type": "string"});
        assert!(check(Mode::None, &[(1, &v1)], &json!({"type": "integer"})).is_empty());
    }

    #[test]
    fn full_needs_both_directions() {
        let v1 = json!({"enum": ["a"]});
        let v2 = json!({"enum": ["a", "b"]});
        let r = check(Mode::Full, &[(1, &v1)], &v2);
        assert_eq!(r.len(), 1);
        assert!(
            r[0].message.contains("forward check against version 1"),
            "{r:?}"
        );
    }

    #[test]
    fn transitive_catches_a_reused_property_name() {
        // v2 dropped "note", v3 brings it back with another type: each step
        // passes BACKWARD alone, but old v1 events would fail v3.
        let v1 = obj(
            json!({"id": {"type": "string"}, "note": {"type": "string"}}),
            &["id"],
        );
        let v2 = obj(json!({"id": {"type": "string"}}), &["id"]);
        let v3 = obj(
            json!({"id": {"type": "string"}, "note": {"type": "integer"}}),
            &["id"],
        );
        let existing = [(1, &v1), (2, &v2)];
        assert!(check(Mode::Backward, &existing, &v3).is_empty());
        let r = check(Mode::BackwardTransitive, &existing, &v3);
        assert_eq!(paths(&r), ["/properties/note/type"]);
        assert!(r[0].message.contains("version 1"), "{r:?}");
        assert!(!check(Mode::FullTransitive, &existing, &v3).is_empty());
        assert!(check(Mode::ForwardTransitive, &existing, &v3).len() == 1);
    }

    #[test]
    fn every_reason_is_reported() {
        let v1 = obj(
            json!({"a": {"type": "string"}, "b": {"type": "integer"}}),
            &["a"],
        );
        let v2 = obj(
            json!({"a": {"type": "integer"}, "b": {"type": "integer", "maximum": 5}, "c": {}}),
            &["a", "c"],
        );
        let r = check(Mode::Backward, &[(1, &v1)], &v2);
        let mut p = paths(&r);
        p.sort();
        assert_eq!(
            p,
            [
                "/properties/a/type",
                "/properties/b/maximum",
                "/properties/c"
            ]
        );
    }

    #[test]
    fn a_hostile_schema_is_bounded() {
        // anyOf of anyOf of ... : trial walks multiply; the step budget holds.
        let mut s = json!({"type": "string"});
        for _ in 0..14 {
            s = json!({"anyOf": [s.clone(), s.clone(), {"type": "integer"}]});
        }
        let t = json!({"anyOf": [{"type": "null"}, s.clone()]});
        let started = std::time::Instant::now();
        let _ = check(Mode::Full, &[(1, &s)], &t);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn modes_round_trip_by_name() {
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), json!(m.as_str()));
        }
        assert_eq!(Mode::default(), Mode::Backward);
        assert_eq!(Mode::parse("backward"), None);
    }
}
