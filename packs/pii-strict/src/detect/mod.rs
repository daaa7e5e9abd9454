//! PII detectors: pure functions over text, no allocation while scanning.
//!
//! [`scan`] walks a string once, left to right, and tries every enabled
//! detector at the positions where it can start:
//!
//! - at an `@`: an e-mail address around it (`email.rs`);
//! - at the start of a token, on a digit, `+` or `(`: a number run, which is
//!   then classified as a payment card, a US SSN or a phone number
//!   (`number.rs`);
//! - at the start of a token, on an upper case letter: an IBAN (`iban.rs`).
//!
//! A token starts where the previous byte does not glue it to a longer
//! identifier (see `glues_left`): `ord-4111…`, `v1.2.3`, `#1234`,
//! `/users/1234…` and `x4111…` are never looked at as numbers. A candidate
//! must also end at a clean boundary (see `ends_clean`).

mod email;
mod iban;
mod number;

pub use iban::{country_length, iban_valid};
pub use number::{luhn_valid, ssn_parts_valid};

/// A kind of personal data the pack detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `local@domain.tld`.
    Email,
    /// International (`+…`, `00…`) or formatted national phone number.
    Phone,
    /// Luhn-valid payment card number.
    Card,
    /// IBAN with a valid mod-97 checksum and its country's length.
    Iban,
    /// US social security number, `AAA-GG-SSSS` or `AAA GG SSSS`.
    Ssn,
}

impl Kind {
    /// Every kind, in the order reasons list them.
    pub const ALL: [Kind; 5] = [Kind::Email, Kind::Phone, Kind::Card, Kind::Iban, Kind::Ssn];

    /// The kind in words, with its article (`an e-mail address`).
    pub fn described(self) -> &'static str {
        match self {
            Kind::Email => "an e-mail address",
            Kind::Phone => "a phone number",
            Kind::Card => "a payment card number",
            Kind::Iban => "an IBAN",
            Kind::Ssn => "a US social security number",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`Kind`]s: which detectors run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kinds(u8);

impl Kinds {
    /// No detector.
    pub const NONE: Kinds = Kinds(0);
    /// Every detector.
    pub const ALL: Kinds = Kinds(0b1_1111);
    const NUMERIC: Kinds = Kinds(Kind::Phone.bit() | Kind::Card.bit() | Kind::Ssn.bit());

    /// Only `kind`.
    pub const fn only(kind: Kind) -> Kinds {
        Kinds(kind.bit())
    }

    /// This set with `kind` added when `on`.
    #[must_use]
    pub const fn with(self, kind: Kind, on: bool) -> Kinds {
        if on { Kinds(self.0 | kind.bit()) } else { self }
    }

    /// This set without the kinds in `other`.
    #[must_use]
    pub const fn without(self, other: Kinds) -> Kinds {
        Kinds(self.0 & !other.0)
    }

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    const fn intersects(self, other: Kinds) -> bool {
        self.0 & other.0 != 0
    }
}

/// One piece of personal data found in a text: its kind and byte span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// What was found.
    pub kind: Kind,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset just past the last byte.
    pub end: usize,
}

impl Match {
    /// A hint that locates the value for a human without disclosing it:
    /// the last 4 digits of a card, the country and last 4 characters of an
    /// IBAN, the last 2 digits of a phone number; nothing for e-mail
    /// addresses and SSNs. Empty when there is no hint.
    pub fn hint(&self, text: &str) -> String {
        let span = text
            .as_bytes()
            .get(self.start..self.end)
            .unwrap_or_default();
        match self.kind {
            Kind::Email | Kind::Ssn => String::new(),
            Kind::Phone => format!("ending {}", tail(span, 2)),
            Kind::Card => format!("ending {}", tail(span, 4)),
            Kind::Iban => {
                let country = span.get(..2).and_then(|c| std::str::from_utf8(c).ok());
                format!("{}, ending {}", country.unwrap_or("??"), tail(span, 4))
            }
        }
    }
}

/// The last `n` ASCII alphanumeric characters of `span`.
fn tail(span: &[u8], n: usize) -> String {
    let mut out: Vec<u8> = span
        .iter()
        .rev()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(n)
        .copied()
        .collect();
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Shortest text any detector can match (`a@b.co`).
const MIN_LEN: usize = 6;

/// Scans `text` once for the `kinds` enabled, calling `on_match` for every
/// match from left to right. Stops when `on_match` returns `false`; returns
/// `false` then, `true` when the whole text was scanned.
pub fn scan(text: &str, kinds: Kinds, mut on_match: impl FnMut(Match) -> bool) -> bool {
    let b = text.as_bytes();
    if kinds.is_empty() || b.len() < MIN_LEN {
        return true;
    }
    let mut want = 0;
    if kinds.contains(Kind::Email) {
        want |= AT;
    }
    if kinds.intersects(Kinds::NUMERIC) {
        want |= NUM;
    }
    if kinds.contains(Kind::Iban) {
        want |= UPPER;
    }
    let mut i = 0;
    // Jump from one byte that can start a detector to the next: most bytes
    // of ordinary text are lower case letters, spaces and punctuation.
    while let Some(skip) = b[i..]
        .iter()
        .position(|&c| CLASS[usize::from(c)] & want != 0)
    {
        i += skip;
        let class = CLASS[usize::from(b[i])];
        let token_start = i == 0 || !glues_left(b[i - 1]);
        if class == AT {
            if let Some((start, end)) = email::email_around(b, i) {
                let m = Match {
                    kind: Kind::Email,
                    start,
                    end,
                };
                if !on_match(m) {
                    return false;
                }
                i = end;
                continue;
            }
        } else if class == NUM && token_start {
            let (found, run_end) = number::number_at(b, i, kinds);
            if let Some(m) = found
                && !on_match(m)
            {
                return false;
            }
            i = run_end.max(i + 1);
            continue;
        } else if class == UPPER
            && token_start
            && let Some(end) = iban::iban_at(b, i)
        {
            let m = Match {
                kind: Kind::Iban,
                start: i,
                end,
            };
            if !on_match(m) {
                return false;
            }
            i = end;
            continue;
        }
        i += 1;
    }
    true
}

/// Byte classes: what a byte can start.
const AT: u8 = 1;
const NUM: u8 = 2;
const UPPER: u8 = 4;

/// The class of every byte: `@` starts an e-mail address, digits, `+` and
/// `(` a number, upper case letters an IBAN.
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    table[b'@' as usize] = AT;
    table[b'+' as usize] = NUM;
    table[b'(' as usize] = NUM;
    let mut c = b'0';
    while c <= b'9' {
        table[c as usize] = NUM;
        c += 1;
    }
    let mut c = b'A';
    while c <= b'Z' {
        table[c as usize] = UPPER;
        c += 1;
    }
    table
};

/// Every match of the `kinds` in `text`.
pub fn find_all(text: &str, kinds: Kinds) -> Vec<Match> {
    let mut out = Vec::new();
    scan(text, kinds, |m| {
        out.push(m);
        true
    });
    out
}

/// Whether `text` contains any of the `kinds`.
pub fn contains_any(text: &str, kinds: Kinds) -> bool {
    !scan(text, kinds, |_| false)
}

/// Whether a number or IBAN starting right after byte `c` would be part of a
/// longer identifier rather than a value of its own: letters, digits and the
/// punctuation of ids, versions, paths and amounts (`_ - . / \ @ # + $ %`).
fn glues_left(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'_' | b'-' | b'.' | b'/' | b'\\' | b'@' | b'#' | b'+' | b'$' | b'%'
        )
}

/// Whether a candidate ending at byte `end` stands on its own: the text ends,
/// or the next byte is not a letter, digit, `_` or `@`, and is not one of
/// `. - / :` followed by a letter or digit (`….pdf`, `…-abc`, `…:30`).
fn ends_clean(b: &[u8], end: usize) -> bool {
    let Some(&c) = b.get(end) else {
        return true;
    };
    if c.is_ascii_alphanumeric() || c == b'_' || c == b'@' {
        return false;
    }
    let next_alnum = b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric);
    !(matches!(c, b'.' | b'-' | b'/' | b':') && next_alnum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_in(text: &str) -> Vec<Kind> {
        find_all(text, Kinds::ALL).iter().map(|m| m.kind).collect()
    }

    #[test]
    fn finds_every_kind_in_one_pass_with_spans() {
        let text = "Mail jane.doe@example.com, call +44 20 7946 0958, card 4111 1111 1111 1111, \
                    IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789.";
        let found = find_all(text, Kinds::ALL);
        let spans: Vec<(Kind, &str)> = found
            .iter()
            .map(|m| (m.kind, &text[m.start..m.end]))
            .collect();
        assert_eq!(
            spans,
            vec![
                (Kind::Email, "jane.doe@example.com"),
                (Kind::Phone, "+44 20 7946 0958"),
                (Kind::Card, "4111 1111 1111 1111"),
                (Kind::Iban, "DE89 3704 0044 0532 0130 00"),
                (Kind::Ssn, "123-45-6789"),
            ]
        );
    }

    #[test]
    fn runs_only_the_enabled_detectors() {
        let text = "jane@example.com 4111111111111111";
        assert_eq!(find_all(text, Kinds::only(Kind::Card)).len(), 1);
        assert_eq!(find_all(text, Kinds::only(Kind::Email)).len(), 1);
        assert!(find_all(text, Kinds::only(Kind::Phone)).is_empty());
        assert!(find_all(text, Kinds::NONE).is_empty());
        assert!(!contains_any(
            text,
            Kinds::ALL.without(Kinds::only(Kind::Card).with(Kind::Email, true))
        ));
    }

    #[test]
    fn stops_when_told() {
        let text = "a@example.com b@example.com c@example.com";
        let mut seen = 0;
        assert!(!scan(text, Kinds::ALL, |_| {
            seen += 1;
            seen < 2
        }));
        assert_eq!(seen, 2);
        assert!(contains_any(text, Kinds::ALL));
    }

    #[test]
    fn ignores_glued_identifiers() {
        assert!(kinds_in("ord-4111111111111111").is_empty());
        assert!(kinds_in("order #4111111111111111").is_empty());
        assert!(kinds_in("/users/4111111111111111/profile").is_empty());
        assert!(kinds_in("x4111111111111111").is_empty());
        assert!(kinds_in("4111111111111111x").is_empty());
        assert!(kinds_in("4111111111111111.pdf").is_empty());
        assert!(kinds_in("v123-45-6789").is_empty());
        assert!(kinds_in("XDE89370400440532013000").is_empty());
        assert!(kinds_in("DE89370400440532013000X").is_empty());
    }

    #[test]
    fn accepts_values_after_ordinary_punctuation() {
        assert_eq!(kinds_in("card=4111111111111111&x=1"), vec![Kind::Card]);
        assert_eq!(kinds_in("\"4111111111111111\""), vec![Kind::Card]);
        assert_eq!(kinds_in("name,4111111111111111,2030"), vec![Kind::Card]);
        assert_eq!(kinds_in("(tel: +4915112345678)"), vec![Kind::Phone]);
        assert_eq!(kinds_in("iban:DE89370400440532013000."), vec![Kind::Iban]);
    }

    #[test]
    fn ignores_everyday_numbers() {
        for text in [
            "order 1234567890123456789",
            "ts 1700000000000 and 1700000000",
            "2024-01-15T12:30:45Z",
            "2024-01-15 12:30:45",
            "15.01.2024 12:30",
            "15-01-2024 1230",
            "version 10.0.19041.1234",
            "host 192.168.100.200",
            "pi 3.14159265358979",
            "total 12 345 678 901",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "-4111111111111111",
            "4111111111111112",
            "icon@2x.png",
            "user@localhost",
        ] {
            assert!(kinds_in(text).is_empty(), "{text}: {:?}", kinds_in(text));
        }
    }

    #[test]
    fn handles_non_ascii_text_around_values() {
        let text = "Grüße, Jürgen — jürgen.x@example.com · +49 151 1234 5678 ✓";
        let found = find_all(text, Kinds::ALL);
        assert_eq!(found.len(), 2);
        assert_eq!(&text[found[0].start..found[0].end], "jürgen.x@example.com");
        assert_eq!(&text[found[1].start..found[1].end], "+49 151 1234 5678");
    }

    #[test]
    fn hints_never_disclose_the_value() {
        let text = "4111 1111 1111 2234 / +1 555 123 4567 / GB82 WEST 1234 5698 7654 32 / 123-45-6789 / a.b@example.com";
        let hints: Vec<String> = find_all(text, Kinds::ALL)
            .iter()
            .map(|m| m.hint(text))
            .collect();
        assert_eq!(
            hints,
            vec!["ending 2234", "ending 67", "GB, ending 5432", "", ""]
        );
    }

    #[test]
    fn short_and_empty_texts_are_clean() {
        assert!(find_all("", Kinds::ALL).is_empty());
        assert!(find_all("a@b.c", Kinds::ALL).is_empty());
        assert_eq!(kinds_in("a@b.co"), vec![Kind::Email]);
    }
}
