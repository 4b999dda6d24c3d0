//! Compiling contracts and validating event data against them.
//!
//! A schema is accepted when it is a JSON object of at most
//! [`MAX_SCHEMA_BYTES`](super::MAX_SCHEMA_BYTES), nested at most
//! [`MAX_SCHEMA_DEPTH`](super::MAX_SCHEMA_DEPTH), valid against the draft
//! 2020-12 meta-schema, whose `$ref`s are all local (`#/...`: a contract
//! is self-contained, so no node ever fetches anything to compile one, and
//! the compatibility checker can follow every reference), and which the
//! `jsonschema` crate compiles with format assertion on (`"format":
//! "date-time"` is checked, an unknown format is an error).

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::subset::escape;
use super::{DRAFT_2020_12, MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MAX_VIOLATIONS, SchemaError};
use beacon_protocol::envelope::FieldError;

/// Longest message of one violation; longer ones are cut.
const MAX_MESSAGE_LEN: usize = 200;

/// Why an event cannot be accepted under its contract: an expected outcome
/// of publishing, answered with a 4xx, not a failure of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// No contract is registered for the type.
    UnknownType { kind: String },
    /// The type exists but has no such version.
    UnknownVersion { kind: String, version: u32 },
    /// The version asked for is deprecated.
    Deprecated { kind: String, version: u32 },
    /// No version was asked for and every version is deprecated.
    AllDeprecated { kind: String },
    /// The data does not match the contract: every violation (up to
    /// [`MAX_VIOLATIONS`]), each with its pointer, e.g. `/data/total`.
    Violations(Vec<FieldError>),
}

impl Invalid {
    /// A stable machine-readable code for the error body.
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::UnknownType { .. } => "unknown_type",
            Invalid::UnknownVersion { .. } => "unknown_version",
            Invalid::Deprecated { .. } | Invalid::AllDeprecated { .. } => "deprecated_version",
            Invalid::Violations(_) => "invalid_event",
        }
    }

    /// A human-readable message, saying what to do where it can.
    pub fn message(&self) -> String {
        match self {
            Invalid::UnknownType { kind } => format!(
                "no contract is registered for event type {kind:?}; a platform admin registers one \
                 with POST /v1/schemas/{kind}/versions (body: a JSON Schema, draft 2020-12)"
            ),
            Invalid::UnknownVersion { kind, version } => format!(
                "event type {kind:?} has no version {version}; GET /v1/schemas/{kind} lists its versions"
            ),
            Invalid::Deprecated { kind, version } => format!(
                "version {version} of event type {kind:?} is deprecated; publish with a newer version"
            ),
            Invalid::AllDeprecated { kind } => format!(
                "every version of event type {kind:?} is deprecated; register a new one with \
                 POST /v1/schemas/{kind}/versions"
            ),
            Invalid::Violations(v) => format!(
                "the event does not match its contract ({} problem{})",
                v.len(),
                if v.len() == 1 { "" } else { "s" }
            ),
        }
    }

    /// Details for the error body: the violations, or one entry naming the
    /// field at fault (`<at>/type` or `<at>/version`).
    pub fn details(&self, at: &str) -> Vec<FieldError> {
        match self {
            Invalid::Violations(v) => v.clone(),
            Invalid::UnknownType { .. } => {
                vec![FieldError::new(format!("{at}/type"), self.message())]
            }
            _ => vec![FieldError::new(format!("{at}/version"), self.message())],
        }
    }
}

/// Checks a candidate schema and compiles it.
pub fn compile(schema: &Value) -> Result<Validator, SchemaError> {
    if !schema.is_object() {
        return Err(invalid("", "a contract must be a JSON Schema object"));
    }
    let size = serde_json::to_vec(schema)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_SCHEMA_BYTES {
        return Err(SchemaError::Limit(format!(
            "the schema is {size} bytes; at most {MAX_SCHEMA_BYTES} are accepted"
        )));
    }
    if depth(schema) > MAX_SCHEMA_DEPTH {
        return Err(SchemaError::Limit(format!(
            "the schema nests deeper than {MAX_SCHEMA_DEPTH} levels"
        )));
    }
    if let Some(declared) = schema.get("$schema")
        && declared.as_str().map(|s| s.trim_end_matches('#')) != Some(DRAFT_2020_12)
    {
        return Err(invalid(
            "/$schema",
            format!(
                "only JSON Schema draft 2020-12 is accepted (\"$schema\": \"{DRAFT_2020_12}\")"
            ),
        ));
    }
    let meta = jsonschema::draft202012::meta::validator();
    let mut problems: Vec<FieldError> = meta
        .iter_errors(schema)
        .take(MAX_VIOLATIONS)
        .map(|e| FieldError::new(e.instance_path().as_str(), cut(e.to_string())))
        .collect();
    references(schema, "", true, &mut problems);
    if !problems.is_empty() {
        return Err(SchemaError::InvalidSchema(problems));
    }
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(schema)
        .map_err(|e| invalid(e.instance_path().as_str(), cut(e.to_string())))
}

fn invalid(path: &str, message: impl Into<String>) -> SchemaError {
    SchemaError::InvalidSchema(vec![FieldError::new(path, message)])
}

/// Nesting depth of a JSON value (a scalar is 0).
fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Reports every non-local `$ref` and every `$id` below the root (which
/// would change what a local `#/...` reference means).
fn references(v: &Value, at: &str, root: bool, out: &mut Vec<FieldError>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let here = format!("{at}/{}", escape(k));
                match (k.as_str(), child) {
                    ("$ref" | "$dynamicRef", Value::String(r)) if !r.starts_with('#') => out.push(
                        FieldError::new(here, "only local references (\"#/...\") are allowed: a contract is self-contained"),
                    ),
                    ("$id", Value::String(_)) if !root => out.push(FieldError::new(
                        here,
                        "$id is only allowed at the root of a contract",
                    )),
                    // Enum and const values are data, not schemas.
                    ("enum" | "const" | "examples" | "default", _) => {}
                    _ => references(child, &here, false, out),
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                references(child, &format!("{at}/{i}"), false, out);
            }
        }
        _ => {}
    }
}

/// Every violation of `data` (at most [`MAX_VIOLATIONS`]), with pointers
/// `<at>/data/...`; empty if it is valid.
pub fn violations(validator: &Validator, data: &Value, at: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    for e in validator.iter_errors(data) {
        if out.len() >= MAX_VIOLATIONS {
            break;
        }
        let base = format!("{at}/data{}", e.instance_path().as_str());
        match e.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                out.push(FieldError::new(
                    format!("{base}/{}", escape(name)),
                    "is required",
                ));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected.iter().take(MAX_VIOLATIONS - out.len()) {
                    out.push(FieldError::new(
                        format!("{base}/{}", escape(name)),
                        "is not allowed: the contract declares no such property",
                    ));
                }
            }
            _ => {
                let message = if matches!(e.instance().as_ref(), Value::Object(_) | Value::Array(_))
                {
                    e.masked().to_string()
                } else {
                    e.to_string()
                };
                out.push(FieldError::new(base, cut(message)));
            }
        }
    }
    out
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_MESSAGE_LEN {
        let mut end = MAX_MESSAGE_LEN - 3;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn order() -> Validator {
        compile(&json!({
            "type": "object",
            "properties": {
                "orderId": {"type": "string"},
                "total": {"type": "integer", "minimum": 0},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "at": {"type": "string", "format": "date-time"},
                "lines": {"type": "array", "items": {"type": "object",
                    "properties": {"sku": {"type": "string"}}, "required": ["sku"], "additionalProperties": false}}
            },
            "required": ["orderId", "total", "currency"]
        }))
        .unwrap()
    }

    #[test]
    fn every_violation_has_its_pointer() {
        let data = json!({"total": -5, "currency": "kes", "at": "yesterday",
                          "lines": [{"sku": "a"}, {"qty": 1}]});
        let mut v = violations(&order(), &data, "");
        v.sort_by(|a, b| a.path.cmp(&b.path));
        let paths: Vec<_> = v.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/data/at",
                "/data/currency",
                "/data/lines/1/qty",
                "/data/lines/1/sku",
                "/data/orderId",
                "/data/total"
            ]
        );
        let total = v.iter().find(|f| f.path == "/data/total").unwrap();
        assert!(total.message.contains("minimum of 0"), "{total:?}");
        assert!(
            violations(
                &order(),
                &json!({"orderId": "1", "total": 1, "currency": "KES"}),
                ""
            )
            .is_empty()
        );
    }

    #[test]
    fn pointers_carry_the_event_position_and_escape_names() {
        let v = compile(&json!({"required": ["a/b"]})).unwrap();
        assert_eq!(violations(&v, &json!({}), "/3")[0].path, "/3/data/a~1b");
    }

    #[test]
    fn violations_are_bounded_and_masked_for_large_values() {
        let v = compile(&json!({"type": "array", "items": {"type": "string"}})).unwrap();
        let data = Value::Array((0..500).map(|i| json!(i)).collect());
        assert_eq!(violations(&v, &data, "").len(), MAX_VIOLATIONS);
        let v = compile(&json!({"type": "string"})).unwrap();
        let big = json!({"x": "y".repeat(10_000)});
        let out = violations(&v, &big, "");
        assert!(
            out[0].message.len() <= MAX_MESSAGE_LEN && !out[0].message.contains("yyyy"),
            "{out:?}"
        );
    }

    #[test]
    fn rejects_bad_schemas_with_pointers() {
        let err = |s: Value| match compile(&s) {
            Err(SchemaError::InvalidSchema(p)) => p,
            other => panic!("{other:?}"),
        };
        let p = err(json!({"type": "object", "properties": {"a": {"type": "strnig"}}}));
        assert_eq!(p[0].path, "/properties/a/type");
        let p = err(json!({"properties": {"a": {"$ref": "https://example.com/s.json"}}}));
        assert_eq!(p[0].path, "/properties/a/$ref");
        let p = err(json!({"$defs": {"x": {"$id": "urn:x"}}}));
        assert_eq!(p[0].path, "/$defs/x/$id");
        let p = err(json!({"$schema": "http://json-schema.org/draft-07/schema#"}));
        assert_eq!(p[0].path, "/$schema");
        err(json!({"type": "string", "format": "date-tme"}));
        err(json!({"$ref": "#/$defs/missing"}));
        err(json!(true));
        err(json!({"type": "string", "pattern": "(unclosed"}));
        assert!(compile(&json!({"$schema": DRAFT_2020_12, "type": "string"})).is_ok());
    }

    #[test]
    fn bounds_schema_size_and_depth() {
        let big = json!({"description": "x".repeat(MAX_SCHEMA_BYTES)});
        assert!(matches!(compile(&big), Err(SchemaError::Limit(_))));
        let mut deep = json!({"type": "string"});
        for _ in 0..MAX_SCHEMA_DEPTH {
            deep = json!({"items": deep});
        }
        assert!(matches!(compile(&deep), Err(SchemaError::Limit(_))));
    }

    #[test]
    fn unknown_type_message_says_how_to_register() {
        let m = Invalid::UnknownType { kind: "x.y".into() }.message();
        assert!(m.contains("POST /v1/schemas/x.y/versions"), "{m}");
        let d = Invalid::UnknownVersion {
            kind: "x.y".into(),
            version: 3,
        }
        .details("/1");
        assert_eq!(d[0].path, "/1/version");
    }
}
