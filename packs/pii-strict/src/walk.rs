//! Scanning a tool call's arguments: every string value of the JSON
//! document, without allocating until something is found.
//!
//! The arguments are read straight from their JSON text with a streaming
//! serde visitor rather than through [`Action::args`]: building a
//! `serde_json::Value` tree costs several times more than the scan itself,
//! and the visitor can stop reading as soon as the verdict is settled.
//!
//! Object keys are field names, not data, and are not scanned. They do
//! appear in the JSON pointer a reason names; a key that itself looks like
//! PII (a map keyed by e-mail address) is shown as `<redacted>` there.
//! Numbers, booleans and nulls are not scanned: card and phone numbers are
//! written as strings, and numeric ids would make false positives.
//! Arguments that are not valid JSON are scanned as one text.

use crate::detect::{self, Kind, Kinds};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt::{self, Write as _};
use warden_sdk::Action;

/// One kind of PII found in the arguments, described without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// What was found.
    pub kind: Kind,
    /// Where: the JSON pointer of the string (`/contact/email`).
    pub at: String,
    /// A hint that does not disclose the value (`ending 1111`), or empty.
    pub hint: String,
}

impl Hit {
    /// `a payment card number (ending 1111) at /payment/card`.
    pub fn describe(&self) -> String {
        let kind = self.kind.described();
        if self.hint.is_empty() {
            format!("{kind} at {}", self.at)
        } else {
            format!("{kind} ({}) at {}", self.hint, self.at)
        }
    }
}

/// Describes hits for a reason: `an e-mail address at /to, a phone number
/// (ending 67) at /body`.
pub fn describe(hits: &[Hit]) -> String {
    let mut out = String::new();
    for (i, hit) in hits.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&hit.describe());
    }
    out
}

/// Scans the action's arguments for `kinds`, reporting the first place each
/// kind is found, in document order. Stops as soon as a kind in `stop` is
/// found (pass [`Kinds::ALL`] to stop at the first PII), or when every
/// enabled kind has been found.
pub fn scan_args(action: &Action, kinds: Kinds, stop: Kinds) -> Vec<Hit> {
    let mut scanner = Scanner {
        todo: kinds,
        stop,
        hits: Vec::new(),
        over: false,
    };
    if kinds.is_empty() {
        return scanner.hits;
    }
    let raw = action.args_json();
    let mut de = serde_json::Deserializer::from_str(raw);
    let read = ValueSeed {
        scanner: &mut scanner,
        at: &Where::Root,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if read.is_err() && !scanner.over {
        // Not JSON: forget what the partial read found and scan the text as
        // it came.
        scanner.todo = kinds;
        scanner.hits.clear();
        scanner.text(raw, &Where::Raw);
    }
    scanner.hits
}

/// A position in the document: a chain of segments on the call stack.
enum Where<'a> {
    Root,
    Raw,
    Key(&'a Where<'a>, &'a str),
    Index(&'a Where<'a>, usize),
}

impl Where<'_> {
    /// The JSON pointer (RFC 6901), with PII-looking keys redacted.
    fn pointer(&self) -> String {
        let mut segments = Vec::new();
        let mut cur = self;
        loop {
            match cur {
                Where::Root => break,
                Where::Raw => return "(arguments that are not JSON)".to_owned(),
                Where::Key(parent, key) => {
                    segments.push(Segment::Key(key));
                    cur = parent;
                }
                Where::Index(parent, i) => {
                    segments.push(Segment::Index(*i));
                    cur = parent;
                }
            }
        }
        if segments.is_empty() {
            return "(the arguments themselves)".to_owned();
        }
        let mut out = String::new();
        for segment in segments.iter().rev() {
            out.push('/');
            match segment {
                Segment::Index(i) => {
                    let _ = write!(out, "{i}");
                }
                Segment::Key(key) if detect::contains_any(key, Kinds::ALL) => {
                    out.push_str("<redacted>");
                }
                Segment::Key(key) => {
                    for c in key.chars() {
                        match c {
                            '~' => out.push_str("~0"),
                            '/' => out.push_str("~1"),
                            c => out.push(c),
                        }
                    }
                }
            }
        }
        out
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

struct Scanner {
    /// Kinds still to look for.
    todo: Kinds,
    /// Kinds that end the scan when found.
    stop: Kinds,
    hits: Vec<Hit>,
    /// Whether the scan ended early (the reader is told to stop).
    over: bool,
}

impl Scanner {
    /// Scans one string; `false` when the scan is over.
    fn text(&mut self, text: &str, at: &Where<'_>) -> bool {
        let (hits, stop) = (&mut self.hits, self.stop);
        let todo = &mut self.todo;
        let mut over = false;
        detect::scan(text, *todo, |m| {
            if !todo.contains(m.kind) {
                return true;
            }
            *todo = todo.without(Kinds::only(m.kind));
            hits.push(Hit {
                kind: m.kind,
                at: at.pointer(),
                hint: m.hint(text),
            });
            over = stop.contains(m.kind) || todo.is_empty();
            !over
        });
        self.over = over;
        !over
    }
}

/// Reads one JSON value, scanning its strings; fails with [`STOP`] to end
/// the read early.
struct ValueSeed<'s, 'w> {
    scanner: &'s mut Scanner,
    at: &'w Where<'w>,
}

/// The error that ends a read once the verdict is settled.
const STOP: &str = "scan over";

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        if self.scanner.text(text, self.at) {
            Ok(())
        } else {
            Err(E::custom(STOP))
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let at = Where::Index(self.at, index);
            let seed = ValueSeed {
                scanner: &mut *self.scanner,
                at: &at,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let at = Where::Key(self.at, &key);
            map.next_value_seed(ValueSeed {
                scanner: &mut *self.scanner,
                at: &at,
            })?;
        }
        Ok(())
    }
}

/// Reads an object key, borrowing it from the JSON text unless it has
/// escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use warden_sdk::SafetyClass;

    fn action(args: Value) -> Action {
        Action::new("t", SafetyClass::External, args.to_string())
    }

    fn found(args: Value) -> Vec<(Kind, String)> {
        scan_args(&action(args), Kinds::ALL, Kinds::NONE)
            .into_iter()
            .map(|h| (h.kind, h.at))
            .collect()
    }

    #[test]
    fn finds_values_in_nested_objects_and_arrays() {
        let args = json!({
            "to": ["ops@example.com"],
            "meta": {"lines": [{"text": "ok"}, {"text": "card 4111111111111111"}]},
            "a/b~c": "+44 20 7946 0958",
        });
        let mut hits = found(args);
        hits.sort();
        assert_eq!(
            hits,
            vec![
                (Kind::Email, "/to/0".to_owned()),
                (Kind::Phone, "/a~1b~0c".to_owned()),
                (Kind::Card, "/meta/lines/1/text".to_owned()),
            ]
        );
    }

    #[test]
    fn reports_each_kind_once_and_stops_when_told() {
        let args = json!([
            "a@example.com",
            "b@example.com",
            "4111111111111111",
            "c@example.com"
        ]);
        assert_eq!(found(args.clone()).len(), 2);
        let first = scan_args(&action(args.clone()), Kinds::ALL, Kinds::ALL);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].at, "/0");
        let until_card = scan_args(&action(args), Kinds::ALL, Kinds::only(Kind::Card));
        assert_eq!(until_card.len(), 2);
    }

    #[test]
    fn keys_are_not_scanned_and_redacted_in_pointers() {
        assert!(found(json!({"jane@example.com": "hello", "4111111111111111": 1})).is_empty());
        let hits = found(json!({"jane@example.com": {"card": "4111111111111111"}}));
        assert_eq!(hits, vec![(Kind::Card, "/<redacted>/card".to_owned())]);
    }

    #[test]
    fn numbers_are_not_scanned_but_raw_text_is() {
        assert!(found(json!({"card": 4111111111111111u64})).is_empty());
        let raw = Action::new(
            "t",
            SafetyClass::External,
            "to: jane@example.com".to_owned(),
        );
        let hits = scan_args(&raw, Kinds::ALL, Kinds::ALL);
        assert_eq!(hits[0].at, "(arguments that are not JSON)");
        let null = Action::new("t", SafetyClass::External, " null ".to_owned());
        assert!(scan_args(&null, Kinds::ALL, Kinds::ALL).is_empty());
        assert_eq!(
            found(json!("jane@example.com"))[0].1,
            "(the arguments themselves)"
        );
    }

    #[test]
    fn describes_hits_without_values() {
        let hits = scan_args(
            &action(json!({"card": "4111 1111 1111 1111", "mail": "jane@example.com"})),
            Kinds::ALL,
            Kinds::NONE,
        );
        let text = describe(&hits);
        assert_eq!(
            text,
            "a payment card number (ending 1111) at /card, an e-mail address at /mail"
        );
    }

    fn raw(text: &str, stop: Kinds) -> Vec<(Kind, String)> {
        let action = Action::new("t", SafetyClass::External, text.to_owned());
        scan_args(&action, Kinds::ALL, stop)
            .into_iter()
            .map(|h| (h.kind, h.at))
            .collect()
    }

    #[test]
    fn reads_escapes_in_values_and_keys() {
        let hits = raw(
            r#"{"a\/b": {"m\u00e4il": "jane\u0040example.com"}}"#,
            Kinds::NONE,
        );
        assert_eq!(hits, vec![(Kind::Email, "/a~1b/m\u{e4}il".to_owned())]);
    }

    #[test]
    fn duplicate_keys_are_all_scanned() {
        let hits = raw(r#"{"a": "jane@example.com", "a": "ok"}"#, Kinds::NONE);
        assert_eq!(hits, vec![(Kind::Email, "/a".to_owned())]);
    }

    #[test]
    fn broken_json_falls_back_to_the_raw_text() {
        let text = r#"{"a": "jane@example.com", "b": "#;
        let at = "(arguments that are not JSON)".to_owned();
        assert_eq!(raw(text, Kinds::NONE), vec![(Kind::Email, at.clone())]);
        // A scan that ended before the error keeps its precise pointer.
        assert_eq!(raw(text, Kinds::ALL), vec![(Kind::Email, "/a".to_owned())]);
        assert_eq!(
            raw(r#"{"a": 1} {"b": "jane@example.com"}"#, Kinds::ALL),
            vec![(Kind::Email, at.clone())]
        );
        let deep = format!("{}\"jane@example.com\"{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(raw(&deep, Kinds::ALL), vec![(Kind::Email, at)]);
        assert!(raw("", Kinds::ALL).is_empty());
    }

    #[test]
    fn nothing_enabled_scans_nothing() {
        assert!(
            scan_args(
                &action(json!({"m": "jane@example.com"})),
                Kinds::NONE,
                Kinds::ALL
            )
            .is_empty()
        );
    }
}
