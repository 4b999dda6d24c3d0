//! What a subscriber receives: its filters and its audience.

use crate::log::EventMeta;
use beacon_protocol::envelope::{valid_subject, valid_type};

/// Most patterns in one `types` or `subjects` list.
pub const MAX_PATTERNS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Exact(Box<str>),
    Prefix(Box<str>),
}

impl Pattern {
    fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(p) => **p == *value,
            Pattern::Prefix(p) => value.starts_with(&**p),
        }
    }
}

/// A subscriber's view of its tenant's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Empty: every type.
    types: Vec<Pattern>,
    /// Empty: every subject (and events without one).
    subjects: Vec<Pattern>,
    /// Version views asked for with `type@N`: events of that type are
    /// delivered in the shape of version N of its contract.
    views: Vec<(Box<str>, u32)>,
    /// Types the token allows (its `types` claim); empty: no restriction.
    /// Applies on top of `types`, so a query can narrow but never widen it.
    allowed: Vec<Pattern>,
    /// Subjects the token allows (its `subjects` claim); empty: no
    /// restriction. Like `allowed`, a query can narrow it, never widen it.
    allowed_subjects: Vec<Pattern>,
    /// The token's `sub`: events with an audience reach only listed users.
    user: Box<str>,
}

impl Filter {
    /// Parses the comma-separated `types` and `subjects` query values.
    /// Types: `order.created`, `order.*` (any type starting `order.`), `*`,
    /// and `order.created@1`: that type, in the shape of version 1 of its
    /// contract (one version per type; not with wildcards).
    /// Subjects: `order/IE-1`, `order/*` (any subject starting `order/`), `*`.
    pub fn parse(
        types: Option<&str>,
        subjects: Option<&str>,
        user: &str,
    ) -> Result<Filter, String> {
        let mut views = Vec::new();
        Ok(Filter {
            types: parse_list("types", types, |p| {
                if let Some((kind, version)) = p.split_once('@') {
                    let version = version.parse::<u32>().ok().filter(|v| *v >= 1)?;
                    if !valid_type(kind)
                        || views.iter().any(|(k, _): &(Box<str>, u32)| **k == *kind)
                    {
                        return None;
                    }
                    views.push((kind.into(), version));
                    Some(Pattern::Exact(kind.into()))
                } else if let Some(prefix) = p.strip_suffix(".*") {
                    valid_type(prefix).then(|| Pattern::Prefix(format!("{prefix}.").into()))
                } else {
                    valid_type(p).then(|| Pattern::Exact(p.into()))
                }
            })?,
            subjects: parse_list("subjects", subjects, |p| {
                if let Some(prefix) = p.strip_suffix('*') {
                    valid_subject(prefix).then(|| Pattern::Prefix(prefix.into()))
                } else {
                    valid_subject(p).then(|| Pattern::Exact(p.into()))
                }
            })?,
            views,
            allowed: Vec::new(),
            allowed_subjects: Vec::new(),
            user: user.into(),
        })
    }

    /// The contract version this subscriber wants events of `kind` in, if any.
    pub fn view_for(&self, kind: &str) -> Option<u32> {
        self.views
            .iter()
            .find(|(k, _)| **k == *kind)
            .map(|(_, v)| *v)
    }

    /// Limits the filter to the type patterns a token allows.
    pub fn restrict_types(mut self, allowed: &str) -> Result<Filter, String> {
        let parsed = Filter::parse(Some(allowed), None, &self.user)?;
        self.allowed = parsed.types;
        if self.allowed.is_empty() {
            // An empty allow-list allows nothing.
            self.allowed.push(Pattern::Exact("".into()));
        }
        Ok(self)
    }

    /// Limits the filter to the subject patterns a token allows; events
    /// without a subject are then not delivered.
    pub fn restrict_subjects(mut self, allowed: &str) -> Result<Filter, String> {
        let parsed = Filter::parse(None, Some(allowed), &self.user)?;
        self.allowed_subjects = parsed.subjects;
        if self.allowed_subjects.is_empty() {
            // An empty allow-list allows nothing.
            self.allowed_subjects.push(Pattern::Exact("".into()));
        }
        Ok(self)
    }

    pub fn matches(&self, meta: &EventMeta) -> bool {
        let asked = if beacon_protocol::envelope::reserved_type(&meta.kind) {
            // Presence events only when asked for by name or prefix: a
            // stream of every type (no filter, or `*`) does not get them.
            self.types
                .iter()
                .any(|p| *p != Pattern::Any && p.matches(&meta.kind))
        } else {
            self.types.is_empty() || self.types.iter().any(|p| p.matches(&meta.kind))
        };
        let type_ok = asked
            && (self.allowed.is_empty() || self.allowed.iter().any(|p| p.matches(&meta.kind)));
        let subject_ok = self.subjects.is_empty()
            || meta
                .subject
                .as_deref()
                .is_some_and(|s| self.subjects.iter().any(|p| p.matches(s)));
        let allowed_subject = self.allowed_subjects.is_empty()
            || meta
                .subject
                .as_deref()
                .is_some_and(|s| self.allowed_subjects.iter().any(|p| p.matches(s)));
        let audience_ok =
            meta.audience.is_empty() || meta.audience.iter().any(|u| **u == *self.user);
        type_ok && subject_ok && allowed_subject && audience_ok
    }
}

/// A list of event type patterns (`order.created`, `order.*`, `*`), as a
/// plugin is activated for. Empty matches every type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypePatterns(Vec<Pattern>);

impl TypePatterns {
    /// Parses patterns with the rules of the `types` query, without `@N`.
    pub fn parse(patterns: &[String]) -> Result<TypePatterns, String> {
        if let Some(bad) = patterns.iter().find(|p| p.contains(['@', ','])) {
            return Err(format!("`{bad}` is not a valid type pattern"));
        }
        let filter = Filter::parse(Some(&patterns.join(",")), None, "")?;
        Ok(TypePatterns(filter.types))
    }

    pub fn matches(&self, kind: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| p.matches(kind))
    }
}

fn parse_list(
    name: &str,
    value: Option<&str>,
    mut parse: impl FnMut(&str) -> Option<Pattern>,
) -> Result<Vec<Pattern>, String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut patterns = Vec::new();
    for raw in value.split(',') {
        let raw = raw.trim_matches(' ');
        if patterns.len() == MAX_PATTERNS {
            return Err(format!("at most {MAX_PATTERNS} patterns in `{name}`"));
        }
        let pattern = if raw == "*" {
            Some(Pattern::Any)
        } else {
            parse(raw)
        };
        patterns
            .push(pattern.ok_or_else(|| format!("`{raw}` is not a valid pattern in `{name}`"))?);
    }
    Ok(patterns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: &str, subject: Option<&str>, audience: &[&str]) -> EventMeta {
        EventMeta {
            kind: kind.into(),
            subject: subject.map(Into::into),
            audience: audience.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn type_pattern_lists() {
        let p = TypePatterns::parse(&["order.*".into(), "payment.succeeded".into()]).unwrap();
        assert!(p.matches("order.created"));
        assert!(p.matches("payment.succeeded"));
        assert!(!p.matches("payment.failed"));
        assert!(TypePatterns::parse(&[]).unwrap().matches("anything"));
        assert!(TypePatterns::parse(&["order.created@1".into()]).is_err());
        assert!(TypePatterns::parse(&["a,b".into()]).is_err());
        assert!(TypePatterns::parse(&["bad type".into()]).is_err());
    }

    #[test]
    fn type_patterns() {
        let f = Filter::parse(Some("order.*,payment.succeeded"), None, "1").unwrap();
        assert!(f.matches(&meta("order.created", None, &[])));
        assert!(f.matches(&meta("order.status.changed", None, &[])));
        assert!(f.matches(&meta("payment.succeeded", None, &[])));
        assert!(!f.matches(&meta("payment.failed", None, &[])));
        assert!(!f.matches(&meta("orders.created", None, &[])));
        assert!(!f.matches(&meta("order", None, &[])));
        assert!(
            Filter::parse(Some("*"), None, "1")
                .unwrap()
                .matches(&meta("x", None, &[]))
        );
    }

    #[test]
    fn subject_patterns() {
        let f = Filter::parse(None, Some("order/IE-1,user/*"), "1").unwrap();
        assert!(f.matches(&meta("a", Some("order/IE-1"), &[])));
        assert!(!f.matches(&meta("a", Some("order/IE-10"), &[])));
        assert!(f.matches(&meta("a", Some("user/42"), &[])));
        assert!(!f.matches(&meta("a", None, &[])));
    }

    #[test]
    fn audience_limits_who_sees_an_event() {
        let alice = Filter::parse(None, None, "42").unwrap();
        let bob = Filter::parse(None, None, "7").unwrap();
        let private = meta("a", None, &["42", "43"]);
        assert!(alice.matches(&private) && !bob.matches(&private));
        assert!(bob.matches(&meta("a", None, &[])));
    }

    #[test]
    fn token_allow_lists_narrow_and_cannot_be_widened() {
        let f = Filter::parse(Some("*"), None, "1")
            .unwrap()
            .restrict_types("order.*")
            .unwrap();
        assert!(f.matches(&meta("order.created", None, &[])));
        assert!(!f.matches(&meta("payment.failed", None, &[])));
        let none = Filter::parse(None, None, "1")
            .unwrap()
            .restrict_types("")
            .unwrap();
        assert!(!none.matches(&meta("order.created", None, &[])));
    }

    #[test]
    fn presence_events_come_only_when_asked_for_by_name_or_prefix() {
        let joined = meta("presence.joined", Some("user/a"), &[]);
        for types in [None, Some("*"), Some("order.*")] {
            let f = Filter::parse(types, None, "1").unwrap();
            assert!(!f.matches(&joined), "{types:?}");
        }
        for types in ["presence.*", "presence.joined", "*,presence.*"] {
            let f = Filter::parse(Some(types), None, "1").unwrap();
            assert!(f.matches(&joined), "{types}");
            assert!(f.matches(&meta("order.created", None, &[])) == types.starts_with('*'));
        }
        // The token's allow-list still applies, and subjects filter them.
        let f = Filter::parse(Some("presence.*"), None, "1").unwrap();
        assert!(
            !f.clone()
                .restrict_types("order.*")
                .unwrap()
                .matches(&joined)
        );
        assert!(f.clone().restrict_types("*").unwrap().matches(&joined));
        let own = f.restrict_subjects("user/b").unwrap();
        assert!(!own.matches(&joined));
        assert!(own.matches(&meta("presence.left", Some("user/b"), &[])));
    }

    #[test]
    fn version_views() {
        let f = Filter::parse(Some("order.created@1,payment.*"), None, "1").unwrap();
        assert_eq!(f.view_for("order.created"), Some(1));
        assert_eq!(f.view_for("payment.failed"), None);
        assert!(f.matches(&meta("order.created", None, &[])));
        assert!(!f.matches(&meta("order.paid", None, &[])));
        for bad in [
            "order.*@1",
            "order.created@0",
            "order.created@x",
            "a@1,a@2",
            "@1",
        ] {
            assert!(Filter::parse(Some(bad), None, "1").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subject_allow_lists_narrow_and_cannot_be_widened() {
        let f = Filter::parse(None, Some("*"), "1")
            .unwrap()
            .restrict_subjects("user/1,order/*")
            .unwrap();
        assert!(f.matches(&meta("a", Some("order/7"), &[])));
        assert!(f.matches(&meta("a", Some("user/1"), &[])));
        assert!(!f.matches(&meta("a", Some("user/2"), &[])));
        assert!(
            !f.matches(&meta("a", None, &[])),
            "no subject: not in the allow-list"
        );
        assert!(
            Filter::parse(None, None, "1")
                .unwrap()
                .restrict_subjects("a b")
                .is_err()
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["order.**", "a b", "a\n", ",", "order*", ".*"] {
            assert!(Filter::parse(Some(bad), None, "1").is_err(), "{bad:?}");
        }
        let many = vec!["a"; MAX_PATTERNS + 1].join(",");
        assert!(Filter::parse(Some(&many), None, "1").is_err());
        assert!(Filter::parse(None, Some("a b"), "1").is_err());
    }
}
